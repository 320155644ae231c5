/// The search tables of the 2-bit and 1-bit codebook quantizers (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S,
/// IQ1_M), the ones ggml builds in `iq2xs_init_impl`.
///
/// Every codebook entry is 8 levels of 2 bits (level l stands for the value 2l+1). A group of 8
/// weights rounded to levels 0...2 is packed into u = sum(l_i << 2i); `map[u]` says whether that
/// point is in the codebook and, if not, which entries are "neighbours": all entries whose squared
/// distance to the point is among the `nwant` smallest distinct distances, in the order
/// (distance, index). The quantizers only ever look up points with levels 0...2, so only those
/// 3^8 points get neighbour lists.
///
/// The lists are built on first use (Swift's lazy static initialisation is thread-safe) and laid
/// out for the lane-parallel searches: padded to a multiple of 8 by repeating the last entry, and
/// transposed so that coordinate i of eight consecutive neighbours is one SIMD8 vector.
final class IQ2Table: @unchecked Sendable {
    /// ggml's kmap size: one past the largest packed point with every level 2 (0xAAAA).
    static let mapSize = 43692
    static let noEntry = Int32.min

    let gridSize: Int
    /// Per entry, the 8 levels as bytes (level l at byte i).
    let levels: [UInt64]
    /// u -> codebook index (>= 0), -(list + 1) for a point off the codebook, or `noEntry`.
    let map: [Int32]
    /// Per list: start (in units of neighbours, a multiple of 8) and neighbour count.
    let listStart: [Int32]
    let listCount: [Int32]
    /// Neighbour codebook indices, each list padded to a multiple of 8.
    let neighbours: [UInt16]
    /// Neighbour values transposed: for the group of 8 neighbours starting at s, coordinate i is
    /// `neighbourValues[s + i]` (lane k = the value of neighbour s + k there): 2l+1 for the IQ2
    /// codebooks, l-1 for IQ1's (whose values are l-1 plus or minus the block's shift).
    let neighbourValues: [SIMD8<Float>]
    /// The same storage for the searches (no bounds checks or reference counting in the hot loop);
    /// the tables are static lets, alive for the whole process, and never written after init.
    private let neighbourPointer: UnsafeMutableBufferPointer<UInt16>
    private let valuePointer: UnsafeMutableBufferPointer<SIMD8<Float>>
    private let levelPointer: UnsafeMutableBufferPointer<UInt64>
    private let mapPointer: UnsafeMutableBufferPointer<Int32>
    private let listPointer: UnsafeMutableBufferPointer<SIMD2<Int32>>
    /// The IQ2 searches' compact copy of the lists (bestNeighbourQ): each list padded to a
    /// multiple of 16 by repeating its last entry; per neighbour one UInt32 holding the value 2l+1
    /// of coordinate i in bits 4i...4i+3, 16 neighbours per vector. An eighth of the bytes of
    /// `neighbourValues`: the long IQ2_XS lists are read from memory far less.
    /// `compactList[list]` = (first vector, vectors). Empty for the IQ1 codebook (other values).
    private let compactValues: UnsafeMutableBufferPointer<SIMD16<UInt32>>
    private let compactList: UnsafeMutableBufferPointer<SIMD2<Int32>>

    /// `codebook` holds one entry per index, level l of coordinate i in bits 2i..2i+1 (ggml's
    /// kgrid tables); `nwant` is how many distinct distances the neighbour lists span.
    init(codebook: [UInt16], nwant: Int, ternary: Bool) {
        let gridSize = codebook.count
        self.gridSize = gridSize
        var levels = [UInt64](repeating: 0, count: gridSize)
        var map = [Int32](repeating: Self.noEntry, count: Self.mapSize)
        // Levels per coordinate, 16 entries per vector, for the distance pass.
        let vectors = (gridSize + 15) / 16
        var column = [SIMD16<Int8>](repeating: .zero, count: 8 * vectors)
        for (j, k) in codebook.enumerated() {
            var packed: UInt64 = 0
            for i in 0..<8 {
                let l = (k >> UInt16(2 * i)) & 3
                packed |= UInt64(l) << UInt64(8 * i)
                column[i * vectors + j / 16][j % 16] = Int8(l)
            }
            levels[j] = packed
            map[Int(k)] = Int32(j)
        }
        var listStart: [Int32] = [], listCount: [Int32] = []
        var neighbours: [UInt16] = []
        var dist = [SIMD16<Int8>](repeating: .zero, count: vectors)
        var histogram = [Int](repeating: 0, count: 73)
        var slot = [Int](repeating: 0, count: 73)
        var found = [UInt16](repeating: 0, count: gridSize)
        for u in 0..<Self.mapSize {
            var point = [Int8](repeating: 0, count: 8)
            var valid = true
            for i in 0..<8 {
                point[i] = Int8((u >> (2 * i)) & 3)
                if point[i] > 2 { valid = false }
            }
            guard valid, map[u] == Self.noEntry else { continue }
            // Squared distances in level units: ggml's (2a+1 - (2b+1))^2 is 4x this, so the order
            // and the distinct values are the same. At most 8 * 3^2 = 72: fits an Int8.
            for h in histogram.indices { histogram[h] = 0 }
            column.withUnsafeBufferPointer { c in
                dist.withUnsafeMutableBufferPointer { d in
                    for v in 0..<vectors { d[v] = .zero }
                    for i in 0..<8 {
                        let p = SIMD16<Int8>(repeating: point[i])
                        for v in 0..<vectors {
                            let diff = c[i * vectors + v] &- p
                            d[v] &+= diff &* diff
                        }
                    }
                }
            }
            let flat = dist.withUnsafeBytes { Array($0.bindMemory(to: UInt8.self).prefix(gridSize)) }
            for j in 0..<gridSize { histogram[Int(flat[j])] += 1 }
            // The nwant smallest distances present; neighbours are everything up to the last.
            var have = 0, limit = 0
            for d in 0..<histogram.count where histogram[d] > 0 {
                have += 1
                limit = d
                if have == nwant { break }
            }
            var n = 0
            for d in 0...limit {
                slot[d] = n
                n += histogram[d]
            }
            for j in 0..<gridSize where Int(flat[j]) <= limit {
                found[slot[Int(flat[j])]] = UInt16(j)
                slot[Int(flat[j])] += 1
            }
            map[u] = -Int32(listStart.count + 1)
            listStart.append(Int32(neighbours.count))
            listCount.append(Int32(n))
            let padded = (n + 7) / 8 * 8
            for k in 0..<padded { neighbours.append(found[Swift.min(k, n - 1)]) }
        }
        var transposed = [SIMD8<Float>](repeating: .zero, count: neighbours.count)
        for s in stride(from: 0, to: neighbours.count, by: 8) {
            for i in 0..<8 {
                var v = SIMD8<Float>()
                for k in 0..<8 {
                    let l = Float(UInt8(truncatingIfNeeded: levels[Int(neighbours[s + k])] >> UInt64(8 * i)))
                    v[k] = ternary ? l - 1 : 2 * l + 1
                }
                transposed[s + i] = v
            }
        }
        self.levels = levels
        self.map = map
        self.listStart = listStart
        self.listCount = listCount
        self.neighbours = neighbours
        self.neighbourValues = transposed
        neighbourPointer = .allocate(capacity: neighbours.count)
        _ = neighbourPointer.initialize(from: neighbours)
        // Eight zero vectors past the end: lists are read sixteen neighbours at a time, so the
        // last read of a list with an odd number of groups of eight runs into the next list, or
        // into these for the last list.
        valuePointer = .allocate(capacity: transposed.count + 8)
        _ = valuePointer.initialize(from: transposed + [SIMD8<Float>](repeating: .zero, count: 8))
        levelPointer = .allocate(capacity: levels.count)
        _ = levelPointer.initialize(from: levels)
        mapPointer = .allocate(capacity: map.count)
        _ = mapPointer.initialize(from: map)
        listPointer = .allocate(capacity: listStart.count)
        _ = listPointer.initialize(from: zip(listStart, listCount).map { SIMD2($0, $1) })
        var compactIndex: [UInt16] = [], compactStart: [SIMD2<Int32>] = []
        for (start, count) in zip(listStart, listCount) where !ternary {
            let n = Int(count), vectors = (n + 15) / 16
            compactStart.append(SIMD2(Int32(compactIndex.count / 16), Int32(vectors)))
            for k in 0..<(16 * vectors) { compactIndex.append(neighbours[Int(start) + Swift.min(k, n - 1)]) }
        }
        var rows = [SIMD16<UInt32>](repeating: .zero, count: compactIndex.count / 16)
        for (k, j) in compactIndex.enumerated() {
            var packed: UInt32 = 0
            for i in 0..<8 { packed |= UInt32(2 * ((levels[Int(j)] >> UInt64(8 * i)) & 3) + 1) << UInt32(4 * i) }
            rows[k / 16][k % 16] = packed
        }
        compactValues = .allocate(capacity: rows.count)
        _ = compactValues.initialize(from: rows)
        compactList = .allocate(capacity: compactStart.count)
        _ = compactList.initialize(from: compactStart)
    }

    /// ggml's kgrid tables are the dequantization grids with their byte values replaced by
    /// level numbers (8, 25, 43 -> 0, 1, 2 for IQ2; -1, 0, 1 -> 0, 1, 2 for IQ1).
    private static func codebook(_ grid: [UInt64], values: [UInt8]) -> [UInt16] {
        grid.map { e in
            var k: UInt16 = 0
            for i in 0..<8 {
                let b = UInt8(truncatingIfNeeded: e >> UInt64(8 * i))
                k |= UInt16(values.firstIndex(of: b) ?? 0) << UInt16(2 * i)
            }
            return k
        }
    }

    static let iq2xxs = IQ2Table(codebook: codebook(IQGrids.iq2xxsGrid, values: [8, 25, 43]), nwant: 2, ternary: false)
    static let iq2xs = IQ2Table(codebook: codebook(IQGrids.iq2xsGrid, values: [8, 25, 43]), nwant: 2, ternary: false)
    static let iq2s = IQ2Table(codebook: codebook(IQGrids.iq2sGrid, values: [8, 25, 43]), nwant: 1, ternary: false)
    static let iq1s = IQ2Table(codebook: codebook(IQGrids.iq1sGrid, values: [0xFF, 0, 1]), nwant: 3, ternary: true)

    /// The codebook index of the point, or nil when it is off the codebook (or not a point the
    /// quantizers can form).
    @inline(__always)
    func onGrid(_ u: Int) -> Int? {
        guard u >= 0 && u < Self.mapSize else { return nil }
        let m = mapPointer[u]
        return m >= 0 ? Int(m) : nil
    }

    /// The neighbour list of an off-codebook point: start and count; nil for points outside
    /// levels 0...2.
    @inline(__always)
    func list(_ u: Int) -> (start: Int, count: Int)? {
        guard u >= 0 && u < Self.mapSize else { return nil }
        let m = mapPointer[u]
        guard m < 0 && m != Self.noEntry else { return nil }
        let l = listPointer[Int(-m - 1)]
        return (Int(l[0]), Int(l[1]))
    }

    /// One map lookup for the quantizers' hot path: the codebook index (>= 0) of a point on the
    /// codebook, or (with `start`, `count` set) the neighbour list of a point off it; nil for
    /// a point outside levels 0...2.
    @inline(__always)
    func lookup(_ u: Int) -> (index: Int, start: Int, count: Int)? {
        guard u >= 0 && u < Self.mapSize else { return nil }
        let m = mapPointer[u]
        if m >= 0 { return (Int(m), 0, 0) }
        guard m != Self.noEntry else { return nil }
        let l = listPointer[Int(-m - 1)]
        return (-1, Int(l[0]), Int(l[1]))
    }

    /// As `lookup`, with the list in the compact layout of `bestNeighbourQ`: (first vector of 16
    /// neighbours, vectors) for a point off the codebook; nil as `lookup`, and for every point off
    /// the IQ1 codebook (which has no compact lists).
    @inline(__always)
    func lookupCompact(_ u: Int) -> (index: Int, group: Int, groups: Int)? {
        guard u >= 0 && u < Self.mapSize else { return nil }
        let m = mapPointer[u]
        if m >= 0 { return (Int(m), 0, 0) }
        guard m != Self.noEntry && Int(-m - 1) < compactList.count else { return nil }
        let l = compactList[Int(-m - 1)]
        return (-1, Int(l[0]), Int(l[1]))
    }

    /// Level i of codebook entry j.
    @inline(__always)
    func level(_ j: Int, _ i: Int) -> Int8 {
        Int8(truncatingIfNeeded: levelPointer[j] >> UInt64(8 * i))
    }
}

extension IQ2Table {
    /// ggml's iq2_find_best_neighbour: the neighbour of the off-codebook point that minimises
    /// sum w_i (scale q_i - x_i)^2 with q = 2l+1, the first in list order on ties. Eight neighbours
    /// (or sixteen) are scored at once, each lane summing its 8 terms in ggml's order, so every distance is
    /// the scalar one bit for bit. Writes the winner's levels to L.
    @inline(__always)
    func bestNeighbour(
        start: Int, count: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float,
        L: UnsafeMutablePointer<Int8>
    ) -> Int {
        finish(start: start, search(start: start, count: count, x: x, w: w, scale: scale, shift: 0), L: L)
    }

    /// ggml's iq1_find_best_neighbour2: as bestNeighbour, with level l standing for
    /// (l - 1) + shift, shift = +-1/8 (exactly the values of ggml's x_p and x_m).
    @inline(__always)
    func bestNeighbour1(
        start: Int, count: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float,
        shift: Float, L: UnsafeMutablePointer<Int8>
    ) -> Int {
        finish(start: start, search(start: start, count: count, x: x, w: w, scale: scale, shift: shift), L: L)
    }

    /// The list position of the best neighbour, sixteen at a time (two stored groups side by
    /// side; an odd last group is paired with the padding past the end of the table and its upper
    /// half ignored). Each lane keeps its own best and the first position reaching it; the lanes
    /// are then merged pairwise (smaller score, earlier position on ties), so the result is
    /// ggml's sequential scan: the smallest score below FLT_MAX, the first in list order.
    @inline(__always)
    private func search(
        start: Int, count: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float, shift: Float
    ) -> Int {
        typealias F16 = SIMD16<Float>
        typealias I16 = SIMD16<Int32>
        let nl = valuePointer.baseAddress!
        var g = start
        var pairs = (count + 15) / 16
        let oddTail = (count + 7) / 8 % 2 == 1
        let s = F16(repeating: scale), sh = F16(repeating: shift)
        var best = F16(repeating: .greatestFiniteMagnitude)
        var pos = I16(repeating: .max)
        var cur = I16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        while pairs > 0 {
            // ggml's d2 = sum over i of w_i * diff * diff, diff = scale * q - x_i, in order i = 0...7
            // (q + 0 is q: the unshifted codebooks add a zero shift).
            var d2 = F16(repeating: 0)
            for i in 0..<8 {
                let q = F16(lowHalf: nl[g + i], highHalf: nl[g + 8 + i]) + sh
                let diff = s * q - F16(repeating: x[i])
                d2 += F16(repeating: w[i]) * diff * diff
            }
            pairs -= 1
            if pairs == 0 && oddTail { d2 = F16(lowHalf: d2.lowHalf, highHalf: F8(repeating: .infinity)) }
            let better = d2 .< best
            best.replace(with: d2, where: better)
            pos.replace(with: cur, where: better)
            cur &+= 16
            g += 16
        }
        let (b8, p8) = Self.merge8(best.lowHalf, pos.lowHalf, best.highHalf, pos.highHalf)
        let (b4, p4) = Self.merge4(b8.lowHalf, p8.lowHalf, b8.highHalf, p8.highHalf)
        let b2a = b4.lowHalf, b2b = b4.highHalf, p2a = p4.lowHalf, p2b = p4.highHalf
        let take2 = (b2b .< b2a) .| ((b2b .== b2a) .& (p2b .< p2a))
        let b2 = b2a.replacing(with: b2b, where: take2), p2 = p2a.replacing(with: p2b, where: take2)
        let first = b2[1] < b2[0] || (b2[1] == b2[0] && p2[1] < p2[0]) ? p2[1] : p2[0]
        // No score below FLT_MAX (all NaN or huge): ggml aborts; we take the first neighbour.
        return first == .max ? 0 : Int(first)
    }

    /// Per lane, the better of two (score, position) candidates: the smaller score, the earlier
    /// position on equal scores. Positions of lanes that never scored are Int32.max.
    @inline(__always)
    private static func merge8(_ av: F8, _ ap: I8, _ bv: F8, _ bp: I8) -> (F8, I8) {
        let takeB = (bv .< av) .| ((bv .== av) .& (bp .< ap))
        return (av.replacing(with: bv, where: takeB), ap.replacing(with: bp, where: takeB))
    }

    @inline(__always)
    private static func merge4(
        _ av: SIMD4<Float>, _ ap: SIMD4<Int32>, _ bv: SIMD4<Float>, _ bp: SIMD4<Int32>
    ) -> (SIMD4<Float>, SIMD4<Int32>) {
        let takeB = (bv .< av) .| ((bv .== av) .& (bp .< ap))
        return (av.replacing(with: bv, where: takeB), ap.replacing(with: bp, where: takeB))
    }

    /// Writes the winner's levels to L and returns its codebook index.
    @inline(__always)
    private func finish(start: Int, _ position: Int, L: UnsafeMutablePointer<Int8>) -> Int {
        let j = Int(neighbourPointer[start + position])
        UnsafeMutableRawPointer(L).storeBytes(of: levelPointer[j], as: UInt64.self)
        return j
    }
}

extension IQ2Table {
    /// ggml's iq2_find_best_neighbour over a list of `lookupCompact` (IQ2 codebooks, q = 2l+1):
    /// the neighbour minimising sum w_i (scale q_i - x_i)^2, summed in ggml's order in every lane,
    /// the first in list order on ties. Writes the winner's levels to L. The weights w are
    /// non-negative or NaN (the quantizers pass sqrt of their weights), so every score is too.
    @inline(__always)
    func bestNeighbourQ(
        group: Int, groups: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float,
        L: UnsafeMutablePointer<Int8>
    ) {
        typealias F16 = SIMD16<Float>
        typealias I16 = SIMD16<Int32>
        let rows = compactValues.baseAddress! + group
        let s = F16(repeating: scale)
        let two23 = F16(repeating: 8_388_608)
        var best = F16(repeating: .greatestFiniteMagnitude)
        var pos = I16(repeating: .max)
        var cur = I16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        for g in 0..<groups {
            // ggml's d2 = sum over i of w_i * diff * diff, diff = scale * q - x_i, in order i = 0...7.
            var d2 = F16(repeating: 0)
            let packed = rows[g]
            for i in 0..<8 {
                // Nibble i of each lane as the float 2^23 + q, minus 2^23: exactly q (the generic
                // SIMD integer-to-float conversions are lane loops).
                let bits = (packed &>> UInt32(4 * i)) & 15 | 0x4B00_0000
                let q = unsafeBitCast(bits, to: F16.self) - two23
                let diff = s * q - F16(repeating: x[i])
                d2 += F16(repeating: w[i]) * diff * diff
            }
            let better = d2 .< best
            best.replace(with: d2, where: better)
            pos.replace(with: cur, where: better)
            cur &+= 16
        }
        // The lanes' bests are +0...FLT_MAX (a sum from 0 of products with w = sqrt(...) >= 0
        // is never -0, and NaN never wins), so their bit patterns order as the floats: the
        // smallest is an integer minimum, and the first position reaching it (each lane holds
        // its first) the minimum of those lanes' positions.
        let bits = unsafeBitCast(best, to: I16.self)
        // Lanes above the least get position Int32.max: d | -d has the sign bit set exactly when
        // d != 0 (arithmetic, not a select, which the reduction would turn into a lane loop).
        let d = bits ^ I16(repeating: bits.min())
        let first = (pos | ((d | (0 &- d)) &>> 31) & Int32.max).min()
        // No score below FLT_MAX (all NaN or huge): ggml aborts; we take the first neighbour.
        let p = first == .max ? 0 : Int(first)
        // The winner's levels from its packed word: nibble i (2l+1) to byte i, halved.
        var v = UInt64(rows[p / 16][p % 16])
        v = (v | v << 16) & 0x0000_FFFF_0000_FFFF
        v = (v | v << 8) & 0x00FF_00FF_00FF_00FF
        v = (v | v << 4) & 0x0F0F_0F0F_0F0F_0F0F
        UnsafeMutableRawPointer(L).storeBytes(of: v >> 1 & 0x0707_0707_0707_0707, as: UInt64.self)
    }
}
