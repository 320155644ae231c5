/// The search tables of the 2-bit and 1-bit codebook quantizers (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S,
/// IQ1_M), the ones ggml builds in `iq2xs_init_impl`.
///
/// Every codebook entry is 8 levels of 2 bits (level l stands for the value 2l+1 in the IQ2
/// codebooks, (l - 1) plus or minus the block's shift in IQ1's). A group of 8 weights rounded to
/// levels 0...2 is packed into u = sum(l_i << 2i); `map[u]` says whether that point is in the
/// codebook and, if not, which entries are "neighbours": all entries whose squared distance to
/// the point is among the `nwant` smallest distinct distances, in the order (distance, index). The
/// quantizers only ever look up points with levels 0...2, so only those 3^8 points get neighbour
/// lists.
///
/// The lists are built on first use (Swift's lazy static initialisation is thread-safe); the
/// searches score them through `rows`, their layout for the C scoring loop (CodebookRows).
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
    /// The lists as the neighbour searches read them.
    let rows: CodebookRows
    /// The same storage for the lookups (no bounds checks or reference counting in the hot loop);
    /// the tables are static lets, alive for the whole process, and never written after init.
    private let levelPointer: UnsafeMutableBufferPointer<UInt64>
    private let mapPointer: UnsafeMutableBufferPointer<Int32>
    private let listPointer: UnsafeMutableBufferPointer<SIMD2<Int32>>

    /// `codebook` holds one entry per index, level l of coordinate i in bits 2i..2i+1 (ggml's
    /// kgrid tables); `nwant` is how many distinct distances the neighbour lists span.
    init(codebook: [UInt16], nwant: Int) {
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
        self.levels = levels
        self.map = map
        self.listStart = listStart
        self.listCount = listCount
        self.neighbours = neighbours
        rows = CodebookRows(listStart: listStart, listCount: listCount, neighbours: neighbours, levels: levels)
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

    static let iq2xxs = IQ2Table(codebook: codebook(IQGrids.iq2xxsGrid, values: [8, 25, 43]), nwant: 2)
    static let iq2xs = IQ2Table(codebook: codebook(IQGrids.iq2xsGrid, values: [8, 25, 43]), nwant: 2)
    static let iq2s = IQ2Table(codebook: codebook(IQGrids.iq2sGrid, values: [8, 25, 43]), nwant: 1)
    static let iq1s = IQ2Table(codebook: codebook(IQGrids.iq1sGrid, values: [0xFF, 0, 1]), nwant: 3)

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

    /// Level i of codebook entry j.
    @inline(__always)
    func level(_ j: Int, _ i: Int) -> Int8 {
        Int8(truncatingIfNeeded: levelPointer[j] >> UInt64(8 * i))
    }
}
