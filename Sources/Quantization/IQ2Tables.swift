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
        valuePointer = .allocate(capacity: transposed.count)
        _ = valuePointer.initialize(from: transposed)
        levelPointer = .allocate(capacity: levels.count)
        _ = levelPointer.initialize(from: levels)
        mapPointer = .allocate(capacity: map.count)
        _ = mapPointer.initialize(from: map)
        listPointer = .allocate(capacity: listStart.count)
        _ = listPointer.initialize(from: zip(listStart, listCount).map { SIMD2($0, $1) })
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
        finish(start: start, search(start: start, count: count, x: x, w: w, scale: scale, shift: 0, shifted: false), L: L)
    }

    /// ggml's iq1_find_best_neighbour2: as bestNeighbour, with level l standing for
    /// (l - 1) + shift, shift = +-1/8 (exactly the values of ggml's x_p and x_m).
    @inline(__always)
    func bestNeighbour1(
        start: Int, count: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float,
        shift: Float, L: UnsafeMutablePointer<Int8>
    ) -> Int {
        finish(start: start, search(start: start, count: count, x: x, w: w, scale: scale, shift: shift, shifted: true), L: L)
    }

    /// The list position of the best neighbour: sixteen at a time (two stored groups side by
    /// side) while at least two groups remain, then the last group of eight.
    @inline(__always)
    private func search(
        start: Int, count: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float, shift: Float,
        shifted: Bool
    ) -> Int {
        typealias F16 = SIMD16<Float>
        typealias I16 = SIMD16<Int32>
        let nl = valuePointer.baseAddress!
        let end = start + (count + 7) / 8 * 8
        var g = start
        var best16 = F16(repeating: .greatestFiniteMagnitude)
        var pos16 = I16(repeating: -1)
        if end - g >= 16 {
            let s = F16(repeating: scale), sh = F16(repeating: shift)
            var pos = I16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            repeat {
                var d2 = F16(repeating: 0)
                for i in 0..<8 {
                    var q = F16(lowHalf: nl[g + i], highHalf: nl[g + 8 + i])
                    if shifted { q = q + sh }
                    let diff = s * q - F16(repeating: x[i])
                    d2 += F16(repeating: w[i]) * diff * diff
                }
                let better = d2 .< best16
                best16.replace(with: d2, where: better)
                pos16.replace(with: pos, where: better)
                pos &+= 16
                g += 16
            } while end - g >= 16
        }
        var best8 = F8(repeating: .greatestFiniteMagnitude)
        var pos8 = I8(repeating: -1)
        if g < end {
            let s = F8(repeating: scale), sh = F8(repeating: shift)
            var d2 = F8(repeating: 0)
            for i in 0..<8 {
                var q = nl[g + i]
                if shifted { q = q + sh }
                let diff = s * q - F8(repeating: x[i])
                d2 += F8(repeating: w[i]) * diff * diff
            }
            let better = d2 .< best8
            best8.replace(with: d2, where: better)
            pos8.replace(with: I8(0, 1, 2, 3, 4, 5, 6, 7) &+ Int32(g - start), where: better)
        }
        // The smallest score, the earliest position on ties. When no score was below FLT_MAX
        // (all NaN or huge) ggml aborts; we take the first neighbour instead.
        let f16 = pos16 .>= 0, f8 = pos8 .>= 0
        guard any(f16) || any(f8) else { return 0 }
        let m = Swift.min(best16.replacing(with: .infinity, where: .!f16).min(),
                          best8.replacing(with: .infinity, where: .!f8).min())
        return Int(Swift.min(pos16.replacing(with: .max, where: .!(f16 .& (best16 .== m))).min(),
                             pos8.replacing(with: .max, where: .!(f8 .& (best8 .== m))).min()))
    }

    /// Writes the winner's levels to L and returns its codebook index.
    @inline(__always)
    private func finish(start: Int, _ position: Int, L: UnsafeMutablePointer<Int8>) -> Int {
        let j = Int(neighbourPointer[start + position])
        UnsafeMutableRawPointer(L).storeBytes(of: levelPointer[j], as: UInt64.self)
        return j
    }
}
