/// The search tables of the IQ3 quantizers: the codebook in quantizer form, the map from every
/// 4-tuple of 3-bit levels to its grid index, and for each tuple that is not on the grid the
/// list of grid points to try instead. These are the tables ggml's `iq3xs_init_impl` builds
/// (256 points for IQ3_XXS, 512 for IQ3_S), built the same way: for an off-grid tuple, every grid
/// point whose squared distance is among the `nwant` smallest distinct distances (2 for the
/// 256-point grid, 3 for the 512-point one), ordered by (distance, index). The order matters:
/// the neighbour search keeps the first of equally good candidates.
///
/// Built once, on first use (`static let` initialisation is thread-safe), and never freed.
final class IQ3Grid: @unchecked Sendable {
    /// Number of grid points (256 or 512).
    let size: Int
    /// Four levels (0...7) per grid point, level i in bits 3i..<3i+3: the tuple's map key.
    let keys: UnsafeMutablePointer<UInt16>
    /// 4096 entries: the grid index of a tuple on the grid, else -(offset + 1) where `offset`
    /// locates its neighbour list in `neighbours` (ggml's encoding).
    let map: UnsafeMutablePointer<Int32>
    /// Neighbour lists: at each offset the count n, then n grid indices.
    let neighbours: UnsafeMutablePointer<UInt16>
    let neighbourTotal: Int
    /// The neighbour lists again, for the vectorised search: per off-grid tuple, chunks of eight
    /// candidates, each chunk four vectors (the candidates' grid values 2l+1 for positions 0...3).
    let planes: UnsafeMutablePointer<SIMD8<Float>>
    /// Per tuple, the index of its first chunk in `planes` (in units of four vectors).
    let firstChunk: UnsafeMutablePointer<Int32>
    /// Per chunk of `planes`, the map key (levels) of each of its eight candidates.
    let chunkKeys: UnsafeMutablePointer<UInt16>
    /// What the search needs of a tuple in one load: its grid index when on the grid, else
    /// -(1 + (first chunk << 6 | list length)) (lists are at most 63 long).
    let entry: UnsafeMutablePointer<Int32>

    static let xxs = IQ3Grid(dequantGrid: IQGrids.iq3xxsGrid, nwant: 2, values: [4, 12, 20, 28, 36, 44, 52, 62])
    static let s = IQ3Grid(dequantGrid: IQGrids.iq3sGrid, nwant: 3, values: [1, 3, 5, 7, 9, 11, 13, 15])

    /// `dequantGrid` is the codebook the dequantizer uses (ggml-common.h); `values[l]` is the byte
    /// it stores for level l, which recovers the levels ggml's quantizer tables are made from.
    private init(dequantGrid: [UInt32], nwant: Int, values: [UInt8]) {
        size = dequantGrid.count
        keys = .allocate(capacity: size)
        var level = [Int](repeating: -1, count: 256)
        for (l, v) in values.enumerated() { level[Int(v)] = l }
        for (k, entry) in dequantGrid.enumerated() {
            var key = 0
            for i in 0..<4 { key |= level[Int(UInt8(truncatingIfNeeded: entry >> UInt32(8 * i)))] << (3 * i) }
            keys[k] = UInt16(key)
        }
        map = .allocate(capacity: 4096)
        map.initialize(repeating: -1, count: 4096)
        for k in 0..<size { map[Int(keys[k])] = Int32(k) }

        func levels(_ key: Int) -> (Int, Int, Int, Int) {
            (key & 7, (key >> 3) & 7, (key >> 6) & 7, (key >> 9) & 7)
        }
        // Distances are between grid values 2l+1, so each term is 4 * (l - l')^2.
        var lists: [[UInt16]] = Array(repeating: [], count: 4096)
        var ranked = [(d2: Int, index: Int)](repeating: (0, 0), count: size)
        for key in 0..<4096 where map[key] < 0 {
            let p = levels(key)
            for j in 0..<size {
                let g = levels(Int(keys[j]))
                let d0 = 2 * (g.0 - p.0), d1 = 2 * (g.1 - p.1), d2 = 2 * (g.2 - p.2), d3 = 2 * (g.3 - p.3)
                ranked[j] = (d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3, j)
            }
            ranked.sort { $0.d2 != $1.d2 ? $0.d2 < $1.d2 : $0.index < $1.index }
            var list: [UInt16] = []
            var distance = ranked[0].d2, have = 1
            for r in ranked {
                if r.d2 > distance {
                    if have == nwant { break }
                    distance = r.d2
                    have += 1
                }
                list.append(UInt16(r.index))
            }
            lists[key] = list
        }
        let total = lists.reduce(0) { $0 + ($1.isEmpty ? 0 : 1 + $1.count) }
        neighbourTotal = total
        neighbours = .allocate(capacity: total)
        let chunks = lists.reduce(0) { $0 + ($1.count + 7) / 8 }
        planes = .allocate(capacity: 4 * chunks)
        // Lanes past a list's end hold infinite grid values: their distance is +inf or NaN, never a winner.
        planes.initialize(repeating: SIMD8(repeating: .infinity), count: 4 * chunks)
        firstChunk = .allocate(capacity: 4096)
        firstChunk.initialize(repeating: 0, count: 4096)
        chunkKeys = .allocate(capacity: 8 * chunks)
        chunkKeys.initialize(repeating: 0, count: 8 * chunks)
        entry = .allocate(capacity: 4096)
        for key in 0..<4096 { entry[key] = map[key] }
        var offset = 0, chunk = 0
        for key in 0..<4096 where map[key] < 0 {
            let list = lists[key]
            map[key] = -Int32(offset + 1)
            neighbours[offset] = UInt16(list.count)
            for (j, g) in list.enumerated() { neighbours[offset + 1 + j] = g }
            offset += 1 + list.count
            firstChunk[key] = Int32(chunk)
            precondition(list.count < 64, "IQ3 neighbour list longer than the search's entry encoding allows")
            entry[key] = -Int32(1 + (chunk << 6 | list.count))
            for (j, g) in list.enumerated() {
                chunkKeys[8 * chunk + j] = keys[Int(g)]
                let l = levels(Int(keys[Int(g)]))
                let base = 4 * (chunk + j / 8)
                planes[base + 0][j % 8] = Float(2 * l.0 + 1)
                planes[base + 1][j % 8] = Float(2 * l.1 + 1)
                planes[base + 2][j % 8] = Float(2 * l.2 + 1)
                planes[base + 3][j % 8] = Float(2 * l.3 + 1)
            }
            chunk += (list.count + 7) / 8
        }
    }

    /// Per lane `a < b ? a : b` (b when either is NaN): one minps. Written lane by lane, the
    /// form LLVM matches to minps on whole vectors.
    @inline(__always)
    static func minLanes(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = a
        for k in 0..<8 { r[k] = a[k] < b[k] ? a[k] : b[k] }
        return r
    }

    /// The lexicographic minimum of (distance, candidate index) of each lane and its partner
    /// (`od`, `oc`: the lanes permuted), in every lane. Float compares and bitwise selects on
    /// whole vectors: per-lane selects or integer compares here make LLVM split the vectors,
    /// and the search loop before it with them.
    @inline(__always)
    static func pairMin(_ d: inout SIMD8<Float>, _ c: inout SIMD8<Float>, _ od: SIMD8<Float>, _ oc: SIMD8<Float>) {
        let take = unsafeBitCast(od .< d, to: SIMD8<Int32>.self)
            | (unsafeBitCast(od .== d, to: SIMD8<Int32>.self) & unsafeBitCast(oc .< c, to: SIMD8<Int32>.self))
        let di = unsafeBitCast(d, to: SIMD8<Int32>.self), odi = unsafeBitCast(od, to: SIMD8<Int32>.self)
        let ci = unsafeBitCast(c, to: SIMD8<Int32>.self), oci = unsafeBitCast(oc, to: SIMD8<Int32>.self)
        d = unsafeBitCast((odi & take) | (di & ~take), to: SIMD8<Float>.self)
        c = unsafeBitCast((oci & take) | (ci & ~take), to: SIMD8<Float>.self)
    }

    /// ggml's `iq3_find_best_neighbour` for an off-grid tuple: the candidate with the smallest
    /// weighted squared error sum_i w[i] * (scale * q[i] - x[i])^2, the first one on ties.
    /// `e` is the tuple's `entry`; returns the winner's map key (its levels).
    ///
    /// Each lane computes one candidate's sum in ggml's order, so the distances are ggml's bit
    /// for bit. Lane l keeps the first smallest of candidates l, l + 8, ... (strict <, so NaN
    /// distances and the padding lanes never win, as with ggml's scan from FLT_MAX); the
    /// winner is then the smallest (distance, index) pair over the lanes: the first candidate
    /// with the smallest distance, ggml's choice. No branch depends on the data, so
    /// consecutive searches overlap in the pipeline instead of waiting on mispredicted
    /// compares.
    @inline(__always)
    func bestNeighbourKey(entry e: Int32, x: UnsafePointer<Float>, w: UnsafePointer<Float>, scale: Float) -> Int {
        let code = Int(~e)  // -(e + 1): the chunk << 6 | length the entry encodes
        let n = code & 63, first = code >> 6
        let s = SIMD8<Float>(repeating: scale)
        let x0 = SIMD8<Float>(repeating: x[0]), x1 = SIMD8<Float>(repeating: x[1])
        let x2 = SIMD8<Float>(repeating: x[2]), x3 = SIMD8<Float>(repeating: x[3])
        let w0 = SIMD8<Float>(repeating: w[0]), w1 = SIMD8<Float>(repeating: w[1])
        let w2 = SIMD8<Float>(repeating: w[2]), w3 = SIMD8<Float>(repeating: w[3])
        var bestD2 = SIMD8<Float>(repeating: .greatestFiniteMagnitude)
        var bestJ = SIMD8<Int32>(repeating: 0)
        var j = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        var raw = UnsafeRawPointer(planes + 4 * first)
        var done = 0
        repeat {
            var diff = s * raw.loadUnaligned(as: SIMD8<Float>.self) - x0
            var d2 = w0 * diff * diff
            diff = s * raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) - x1
            d2 += w1 * diff * diff
            diff = s * raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self) - x2
            d2 += w2 * diff * diff
            diff = s * raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self) - x3
            d2 += w3 * diff * diff
            bestJ.replace(with: j, where: d2 .< bestD2)
            bestD2 = Self.minLanes(d2, bestD2)
            j &+= 8
            done += 8
            raw += 128
        } while done < n
        // No lane holds NaN, so the pairs are totally ordered. With no distance below FLT_MAX
        // (NaN or overflowing inputs; ggml asserts) every lane still holds candidate 0, taken
        // then. Indices are compared as the floats 2^23 + index (exact, ordered as the index).
        var d = bestD2
        var c = unsafeBitCast(bestJ | 0x4B00_0000, to: SIMD8<Float>.self)
        Self.pairMin(&d, &c, SIMD8(d[4], d[5], d[6], d[7], d[0], d[1], d[2], d[3]),
                     SIMD8(c[4], c[5], c[6], c[7], c[0], c[1], c[2], c[3]))
        Self.pairMin(&d, &c, SIMD8(d[2], d[3], d[0], d[1], d[6], d[7], d[4], d[5]),
                     SIMD8(c[2], c[3], c[0], c[1], c[6], c[7], c[4], c[5]))
        Self.pairMin(&d, &c, SIMD8(d[1], d[0], d[3], d[2], d[5], d[4], d[7], d[6]),
                     SIMD8(c[1], c[0], c[3], c[2], c[5], c[4], c[7], c[6]))
        return Int(chunkKeys[8 * first + Int(c[0].bitPattern & 0x7F_FFFF)])
    }
}
