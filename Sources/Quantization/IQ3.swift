/// IQ3_XXS and IQ3_S: per 32 weights, 8 groups of 4 magnitudes that must form a point of a
/// fixed grid (256 or 512 points of 3-bit levels, value 2l+1), a sign per weight and a 4-bit
/// scale; 256-weight super-blocks share an fp16 scale.
///
/// IQ3_XXS (98 bytes): d, 64 grid indices, then per 32 weights a u32 with four 7-bit sign
///          groups (the 8th sign of each 8 is implied by even parity) and the scale in bits 28-31.
/// IQ3_S (110 bytes): d, qs[64] (low 8 index bits), qh[8] (9th bits), signs[32], scales[4]
///          (two 4-bit scales per byte).
///
/// Byte-identical to ggml's `quantize_row_iq3_xxs_impl` / `quantize_row_iq3_s_impl`, with or
/// without importance weights: the same scale trials (31 for IQ3_XXS, 19 for IQ3_S), the same
/// neighbour searches and the same float operations in the same order. The vector code only
/// computes, lane by lane, values ggml computes one at a time (levels, candidate distances);
/// every sum that decides a choice stays a serial sum in ggml's order.
enum IQ3 {
    static let blockBytesXXS = 98
    static let blockBytesS = 110

    /// Scratch for one 32-weight sub-block, allocated once per row.
    struct Scratch {
        var weight: UnsafeMutablePointer<Float>
        var waux: UnsafeMutablePointer<Float>
        var wx: UnsafeMutablePointer<Float>
        var xval: UnsafeMutablePointer<Float>
        var scales: UnsafeMutablePointer<Float>
        var L: UnsafeMutablePointer<Int32>
        var Laux: UnsafeMutablePointer<Int32>
    }

    @inline(__always)
    static func withScratch(_ body: (Scratch) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * 32 + 8) { f in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { i in
                let fp = f.baseAddress!, ip = i.baseAddress!
                body(Scratch(weight: fp, waux: fp + 32, wx: fp + 64, xval: fp + 96, scales: fp + 128,
                             L: ip, Laux: ip + 32))
            }
        }
    }

    /// ggml's MAX(a, b) macro: `a > b ? a : b` (b when either is NaN).
    @inline(__always)
    private static func cmax(_ a: Float, _ b: Float) -> Float { a > b ? a : b }

    /// The importance weights of one sub-block and their square roots (the neighbour search's weights).
    @inline(__always)
    private static func weights(
        _ xb: UnsafePointer<Float>, qw: UnsafePointer<Float>?, sigma2: Float, _ s: Scratch
    ) {
        if let qw {
            for i in 0..<32 { s.weight[i] = qw[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
        } else {
            for i in 0..<32 { s.weight[i] = xb[i] * xb[i] }
        }
        for i in 0..<32 { s.waux[i] = Numerics.sqrtf(s.weight[i]) }
    }

    /// The scale search of one sub-block (xval holds the magnitudes, `max` their maximum): for
    /// each trial scale, the nearest level of every magnitude, each group of four moved to the
    /// best grid point if off the grid, and the least-squares scale of the result; the best
    /// trial wins. Then the groups left off the grid are re-fitted at the winning scale
    /// (`refitAll`: every group, as IQ3_S does). Leaves the levels in `L` and returns the scale.
    @inline(__always)
    private static func search(
        grid: IQ3Grid, trials: Int, startOnGrid: Bool, refitAll: Bool, max: Float, _ s: Scratch
    ) -> Float {
        let xval = s.xval, weight = s.weight, waux = s.waux, wx = s.wx, L = s.L, Laux = s.Laux
        // ggml computes w * xval * q as (w * xval) * q; the first product does not depend on q.
        for i in 0..<32 { wx[i] = weight[i] * xval[i] }
        let xv = UnsafeRawPointer(xval)
        let x0 = xv.loadUnaligned(as: F8.self), x1 = xv.loadUnaligned(fromByteOffset: 32, as: F8.self)
        let x2 = xv.loadUnaligned(fromByteOffset: 64, as: F8.self), x3 = xv.loadUnaligned(fromByteOffset: 96, as: F8.self)
        let half = F8(repeating: 0.5), one = F8(repeating: 1)
        let la = UnsafeMutableRawPointer(Laux)
        var best: Float = 0
        var scale = max / 15
        var onGrid: UInt32 = startOnGrid ? 0xFF : 0
        for trial in -trials...trials {
            let id = (15 + Float(trial) * 0.2) / max
            let thisScale = 1 / id
            let idv = F8(repeating: id)
            la.storeBytes(of: Lanes.clamp(Lanes.nearestInt(half * (idv * x0 - one)), 0, 7), toByteOffset: 0, as: I8.self)
            la.storeBytes(of: Lanes.clamp(Lanes.nearestInt(half * (idv * x1 - one)), 0, 7), toByteOffset: 32, as: I8.self)
            la.storeBytes(of: Lanes.clamp(Lanes.nearestInt(half * (idv * x2 - one)), 0, 7), toByteOffset: 64, as: I8.self)
            la.storeBytes(of: Lanes.clamp(Lanes.nearestInt(half * (idv * x3 - one)), 0, 7), toByteOffset: 96, as: I8.self)
            var onGridAux: UInt32 = 0
            for k in 0..<8 {
                let key = Int(Laux[4 * k] | Laux[4 * k + 1] << 3 | Laux[4 * k + 2] << 6 | Laux[4 * k + 3] << 9)
                if grid.map[key] >= 0 {
                    onGridAux |= 1 << UInt32(k)
                } else {
                    _ = grid.bestNeighbour(key, x: xval + 4 * k, w: waux + 4 * k, scale: thisScale, L: Laux + 4 * k)
                }
            }
            var sumqx: Float = 0, sumq2: Float = 0
            for i in 0..<32 {
                let q = Float(2 * Laux[i] + 1)
                sumqx += wx[i] * q
                sumq2 += weight[i] * q * q
            }
            if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
                scale = sumqx / sumq2
                best = scale * sumqx
                L.update(from: Laux, count: 32)
                onGrid = onGridAux
            }
        }
        if onGrid != 0xFF && scale > 0 {
            let id = 1 / scale
            for k in 0..<8 where refitAll || onGrid & (1 << UInt32(k)) == 0 {
                var key = 0
                for i in 0..<4 {
                    let l = Swift.max(0, Swift.min(7, Numerics.nearestInt(0.5 * (id * xval[4 * k + i] - 1))))
                    key |= Int(l) << (3 * i)
                }
                let index = grid.map[key]
                if index < 0 {
                    _ = grid.bestNeighbour(key, x: xval + 4 * k, w: waux + 4 * k, scale: scale, L: L + 4 * k)
                } else {
                    for i in 0..<4 { L[4 * k + i] = Int32((key >> (3 * i)) & 7) }
                }
            }
            var sumqx: Float = 0, sumq2: Float = 0
            for i in 0..<32 {
                let q = Float(2 * L[i] + 1)
                sumqx += wx[i] * q
                sumq2 += weight[i] * q * q
            }
            if sumq2 > 0 { scale = sumqx / sumq2 }
        }
        return scale
    }

    /// The grid index of group k of `L` (always on the grid: every path leaves grid points there).
    @inline(__always)
    private static func gridIndex(_ grid: IQ3Grid, _ L: UnsafeMutablePointer<Int32>, _ k: Int) -> Int {
        let key = Int(L[4 * k] | L[4 * k + 1] << 3 | L[4 * k + 2] << 6 | L[4 * k + 3] << 9)
        return Int(Swift.max(0, grid.map[key]))
    }

    static func quantizeXXS(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        let grid = IQ3Grid.xxs
        withScratch { s in
            for ibl in 0..<(count / 256) {
                let xbl = x + 256 * ibl
                let yb = y + blockBytesXXS * ibl
                yb.zero(0, blockBytesXXS)
                var sumx2: Float = 0
                for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
                let sigma2 = 2 * sumx2 / 256
                var maxScale: Float = 0
                for ib in 0..<8 {
                    let xb = xbl + 32 * ib
                    weights(xb, qw: qw.map { $0 + 256 * ibl + 32 * ib }, sigma2: sigma2, s)
                    // Signs: an even number of negatives per 8 (the 8th sign is not stored); for an
                    // odd count, the weight that costs least to flip changes sign instead.
                    var signs: UInt32 = 0
                    for k in 0..<4 {
                        var flips = 0
                        var bits: UInt32 = 0
                        for i in 0..<8 {
                            let v = xb[8 * k + i]
                            if v >= 0 {
                                s.xval[8 * k + i] = v
                            } else {
                                s.xval[8 * k + i] = -v
                                flips += 1
                                bits |= 1 << UInt32(i)
                            }
                        }
                        if flips % 2 != 0 {
                            var imin = 0
                            var minCost = s.weight[8 * k] * xb[8 * k] * xb[8 * k]
                            for i in 1..<8 {
                                let cost = s.weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i]
                                if cost < minCost {
                                    minCost = cost
                                    imin = i
                                }
                            }
                            s.xval[8 * k + imin] = -s.xval[8 * k + imin]
                            bits ^= 1 << UInt32(imin)
                        }
                        signs |= (bits & 127) << UInt32(7 * k)
                    }
                    var max = s.xval[0]
                    for i in 1..<32 { max = cmax(max, s.xval[i]) }
                    s.L.initialize(repeating: 0, count: 32)
                    if max < 1e-8 {  // ggml's GROUP_MAX_EPS_IQ3_XXS
                        s.scales[ib] = 0
                        continue
                    }
                    var scale = search(grid: grid, trials: 15, startOnGrid: true, refitAll: false, max: max, s)
                    if scale < 0 {
                        // Only reachable with negative importance weights; the scale is stored unsigned.
                        scale = -scale
                        signs = ~signs & 0x0FFF_FFFF
                    }
                    for k in 0..<8 { yb.storeU8(UInt8(gridIndex(grid, s.L, k)), at: 2 + 8 * ib + k) }
                    (yb + 66 + 4 * ib).storeBytes(of: signs.littleEndian, as: UInt32.self)
                    s.scales[ib] = scale
                    maxScale = cmax(maxScale, scale)
                }
                if maxScale == 0 {
                    yb.zero(2, blockBytesXXS - 2)
                    continue
                }
                let d = maxScale / 31
                yb.storeU16(FP16.fromFloat(d * 1.0125), at: 0)
                let id = 1 / d
                for ib in 0..<8 {
                    let l = Swift.max(0, Swift.min(15, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1))))
                    let p = yb + 66 + 4 * ib
                    let word = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) | UInt32(l) << 28
                    p.storeBytes(of: word.littleEndian, as: UInt32.self)
                }
            }
        }
    }

    static func quantizeS(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        let grid = IQ3Grid.s
        withScratch { s in
            for ibl in 0..<(count / 256) {
                let xbl = x + 256 * ibl
                let yb = y + blockBytesS * ibl
                yb.zero(0, blockBytesS)
                var sumx2: Float = 0
                for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
                let sigma2 = 2 * sumx2 / 256
                var maxScale: Float = 0
                // ggml advances its index and sign pointers only past sub-blocks it quantizes, so
                // an all-zero sub-block shifts the following ones' indices and signs forward
                // (the high index bits keep their fixed place).
                var packed = 0
                for ib in 0..<8 {
                    let xb = xbl + 32 * ib
                    weights(xb, qw: qw.map { $0 + 256 * ibl + 32 * ib }, sigma2: sigma2, s)
                    var signs: UInt32 = 0
                    for i in 0..<32 {
                        let v = xb[i]
                        if v >= 0 {
                            s.xval[i] = v
                        } else {
                            s.xval[i] = -v
                            signs |= 1 << UInt32(i)
                        }
                    }
                    var max = s.xval[0]
                    for i in 1..<32 { max = cmax(max, s.xval[i]) }
                    s.L.initialize(repeating: 0, count: 32)
                    if max == 0 {
                        s.scales[ib] = 0
                        continue
                    }
                    var scale = search(grid: grid, trials: 9, startOnGrid: false, refitAll: true, max: max, s)
                    if scale < 0 {
                        scale = -scale
                        signs = ~signs
                    }
                    var qh: UInt8 = 0
                    for k in 0..<8 {
                        let index = gridIndex(grid, s.L, k)
                        yb.storeU8(UInt8(truncatingIfNeeded: index), at: 2 + 8 * packed + k)
                        qh |= UInt8(index >> 8) << UInt8(k)
                    }
                    yb.storeU8(qh, at: 66 + ib)
                    (yb + 74 + 4 * packed).storeBytes(of: signs.littleEndian, as: UInt32.self)
                    packed += 1
                    s.scales[ib] = scale
                    maxScale = cmax(maxScale, scale)
                }
                if maxScale == 0 { continue }
                let d = maxScale / 31
                yb.storeU16(FP16.fromFloat(d * 1.033), at: 0)
                let id = 1 / d
                for ib in stride(from: 0, to: 8, by: 2) {
                    let l1 = Swift.max(0, Swift.min(15, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1))))
                    let l2 = Swift.max(0, Swift.min(15, Numerics.nearestInt(0.5 * (id * s.scales[ib + 1] - 1))))
                    yb.storeU8(UInt8(l1 | l2 << 4), at: 106 + ib / 2)
                }
            }
        }
    }
}
