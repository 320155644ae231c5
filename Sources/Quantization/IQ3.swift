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

    /// Scratch for one super-block, allocated once per row. Per sub-block (32 values each):
    /// the weights, their square roots, the magnitudes and the levels; transposed (element i of
    /// the eight sub-blocks in the lanes of one vector): magnitudes, weights, weight * magnitude,
    /// and the trial's and the best trial's levels.
    struct Scratch {
        var weight: UnsafeMutablePointer<Float>
        var waux: UnsafeMutablePointer<Float>
        var xval: UnsafeMutablePointer<Float>
        var L: UnsafeMutablePointer<Int32>
        var scales: UnsafeMutablePointer<Float>
        var xT: UnsafeMutablePointer<F8>
        var wT: UnsafeMutablePointer<F8>
        var wxT: UnsafeMutablePointer<F8>
        var lT: UnsafeMutablePointer<I8>
        var bestT: UnsafeMutablePointer<I8>
        /// One trial's group keys (8 per group k, one per sub-block), its on-grid bits per
        /// sub-block and its scale per sub-block: plain arrays, so the per-sub-block loop reads
        /// and writes them without inserting into or extracting from vector lanes.
        var keys: UnsafeMutablePointer<Int32>
        var onGridBits: UnsafeMutablePointer<Int32>
        var trialScale: UnsafeMutablePointer<Float>
        /// One trial's off-grid groups (at most 64): their map entries and where they are
        /// (group k, sub-block lane as k << 3 | lane).
        var pendingEntry: UnsafeMutablePointer<Int32>
        var pendingSlot: UnsafeMutablePointer<Int32>
    }

    @inline(__always)
    static func withScratch(_ body: (Scratch) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * 256 + 16) { f in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 256 + 64 + 8 + 2 * 64) { i in
                withUnsafeTemporaryAllocation(of: F8.self, capacity: 3 * 32) { v in
                    withUnsafeTemporaryAllocation(of: I8.self, capacity: 2 * 32) { l in
                        let fp = f.baseAddress!, vp = v.baseAddress!, lp = l.baseAddress!, ip = i.baseAddress!
                        body(Scratch(weight: fp, waux: fp + 256, xval: fp + 512, L: ip, scales: fp + 768,
                                     xT: vp, wT: vp + 32, wxT: vp + 64, lT: lp, bestT: lp + 32,
                                     keys: ip + 256, onGridBits: ip + 320, trialScale: fp + 776,
                                     pendingEntry: ip + 328, pendingSlot: ip + 392))
                    }
                }
            }
        }
    }

    /// ggml's MAX(a, b) macro: `a > b ? a : b` (b when either is NaN).
    @inline(__always)
    private static func cmax(_ a: Float, _ b: Float) -> Float { a > b ? a : b }

    /// The importance weights of sub-block ib and their square roots (the neighbour search's weights).
    @inline(__always)
    private static func weights(
        _ xb: UnsafePointer<Float>, qw: UnsafePointer<Float>?, sigma2: Float, ib: Int, _ s: Scratch
    ) {
        let weight = s.weight + 32 * ib, waux = s.waux + 32 * ib
        if let qw {
            for i in 0..<32 { weight[i] = qw[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
        } else {
            for i in 0..<32 { weight[i] = xb[i] * xb[i] }
        }
        for i in 0..<32 { waux[i] = Numerics.sqrtf(weight[i]) }
    }

    @inline(__always)
    private static func key(_ l0: Int32, _ l1: Int32, _ l2: Int32, _ l3: Int32) -> Int {
        Int(l0 | l1 << 3 | l2 << 6 | l3 << 9)
    }

    /// The neighbour searches of the `count` groups listed in `s.pendingEntry`/`s.pendingSlot`,
    /// each at its sub-block's `s.trialScale`, in one run of independent searches; the
    /// winners' levels go to `levels` (transposed, as `lT`).
    @inline(__always)
    private static func searchPending(
        _ grid: IQ3Grid, _ count: Int, _ levels: UnsafeMutablePointer<Int32>, _ s: Scratch
    ) {
        for p in 0..<count {
            let slot = Int(s.pendingSlot[p])
            let lane = slot & 7, k = slot >> 3
            let at = 32 * lane + 4 * k
            let key = grid.bestNeighbourKey(
                entry: s.pendingEntry[p], x: s.xval + at, w: s.waux + at, scale: s.trialScale[lane])
            let l = levels + 32 * k + lane
            l[0] = Int32(truncatingIfNeeded: key & 7)
            l[8] = Int32(truncatingIfNeeded: (key >> 3) & 7)
            l[16] = Int32(truncatingIfNeeded: (key >> 6) & 7)
            l[24] = Int32(truncatingIfNeeded: key >> 9)
        }
    }

    /// The scale search of the sub-blocks in `active` (one bit per sub-block; each has its
    /// magnitudes in xval, their maximum in `max`), all eight at once, one per lane: for each
    /// trial scale, the nearest level of every magnitude, each group of four moved to the best
    /// grid point if off the grid, and the least-squares scale of the result; the best trial wins.
    /// Then, for the sub-blocks whose best trial left groups off the grid, those groups are
    /// re-fitted at the winning scale (`refitAll`: every group, as IQ3_S does) and the scale
    /// fitted again. Leaves the levels in `L` and returns the scales.
    @inline(__always)
    private static func search(
        grid: IQ3Grid, trials: Int, startOnGrid: Bool, refitAll: Bool, max: F8, active: Int, _ s: Scratch
    ) -> F8 {
        let xT = s.xT, wT = s.wT, wxT = s.wxT, lT = s.lT, bestT = s.bestT
        for i in 0..<32 {
            var x = F8(), w = F8()
            for lane in 0..<8 {
                x[lane] = s.xval[32 * lane + i]
                w[lane] = s.weight[32 * lane + i]
            }
            xT[i] = x
            wT[i] = w
            // ggml computes w * xval * q as (w * xval) * q; the first product does not depend on q.
            wxT[i] = w * x
            bestT[i] = I8(repeating: 0)
        }
        let half = F8(repeating: 0.5), one = F8(repeating: 1), zero = F8(repeating: 0)
        let levels = UnsafeMutableRawPointer(lT).assumingMemoryBound(to: Int32.self)
        var best = zero
        var scale = max / F8(repeating: 15)
        var onGrid = SIMD8<Int32>(repeating: startOnGrid ? 0xFF : 0)
        for trial in -trials...trials {
            let id = F8(repeating: 15 + Float(trial) * 0.2) / max
            let thisScale = one / id
            for i in 0..<32 { lT[i] = Lanes.clamp(Lanes.nearestInt(half * (id * xT[i] - one)), 0, 7) }
            for k in 0..<8 {
                let keys = lT[4 * k] | lT[4 * k + 1] &<< 3 | lT[4 * k + 2] &<< 6 | lT[4 * k + 3] &<< 9
                UnsafeMutableRawPointer(s.keys + 8 * k).storeBytes(of: keys, as: SIMD8<Int32>.self)
            }
            UnsafeMutableRawPointer(s.trialScale).storeBytes(of: thisScale, as: F8.self)
            UnsafeMutableRawPointer(s.onGridBits).storeBytes(of: SIMD8<Int32>(repeating: 0), as: SIMD8<Int32>.self)
            // First list the off-grid groups without a data-dependent branch (the count advances
            // by the entry's sign bit), then search them in one run: the searches are
            // independent and overlap in the pipeline.
            var pending = 0
            var lanes = active
            while lanes != 0 {
                let lane = lanes.trailingZeroBitCount
                lanes &= lanes - 1
                var bits: Int32 = 0
                for k in 0..<8 {
                    let e = grid.entry[Int(s.keys[8 * k + lane])]
                    s.pendingEntry[pending] = e
                    s.pendingSlot[pending] = Int32(truncatingIfNeeded: k << 3 | lane)
                    let off = Int(UInt32(bitPattern: e) >> 31)
                    pending &+= off
                    bits |= Int32(truncatingIfNeeded: (off ^ 1) << k)
                }
                s.onGridBits[lane] = bits
            }
            searchPending(grid, pending, levels, s)
            let onGridAux = UnsafeRawPointer(s.onGridBits).loadUnaligned(as: SIMD8<Int32>.self)
            var sumqx = zero, sumq2 = zero
            for i in 0..<32 {
                let q = Lanes.float(lT[i] &* 2 &+ 1)
                sumqx += wxT[i] * q
                sumq2 += wT[i] * q * q
            }
            let better = (sumq2 .> zero) .& (sumqx * sumqx .> best * sumq2)
            if Lanes.anyLane(better) {
                scale.replace(with: sumqx / sumq2, where: better)
                best.replace(with: scale * sumqx, where: better)
                let take = unsafeBitCast(better, to: SIMD8<Int32>.self)
                for i in 0..<32 { bestT[i] = (lT[i] & take) | (bestT[i] & ~take) }
                onGrid = (onGridAux & take) | (onGrid & ~take)
            }
        }
        // The end of ggml's search, for every sub-block that the best trial left with groups
        // off the grid (and a positive scale), all at once: the groups it moved to a neighbour
        // (every group, for IQ3_S) are rounded again at the best scale and, if off the grid,
        // searched again; then the scale is fitted to the result. The other groups keep the
        // best trial's levels.
        var refitLanes = 0
        let positive = unsafeBitCast(scale .> zero, to: SIMD8<Int32>.self)
        var lanes = active
        while lanes != 0 {
            let lane = lanes.trailingZeroBitCount
            lanes &= lanes - 1
            if onGrid[lane] != 0xFF && positive[lane] != 0 { refitLanes |= 1 << lane }
        }
        var scales = scale
        if refitLanes != 0 {
            let id = one / scale
            for i in 0..<32 { lT[i] = Lanes.clamp(Lanes.nearestInt(half * (id * xT[i] - one)), 0, 7) }
            UnsafeMutableRawPointer(s.trialScale).storeBytes(of: scale, as: F8.self)
            var pending = 0
            lanes = refitLanes
            while lanes != 0 {
                let lane = lanes.trailingZeroBitCount
                lanes &= lanes - 1
                let kept = refitAll ? 0 : Int(onGrid[lane])
                for k in 0..<8 {
                    let l = levels + 32 * k + lane
                    if kept & (1 << k) != 0 {
                        for i in 0..<4 { l[8 * i] = bestT[4 * k + i][lane] }
                        continue
                    }
                    let e = grid.entry[key(l[0], l[8], l[16], l[24])]
                    s.pendingEntry[pending] = e
                    s.pendingSlot[pending] = Int32(truncatingIfNeeded: k << 3 | lane)
                    pending &+= Int(UInt32(bitPattern: e) >> 31)
                }
            }
            searchPending(grid, pending, levels, s)
            var sumqx = zero, sumq2 = zero
            for i in 0..<32 {
                let q = Lanes.float(lT[i] &* 2 &+ 1)
                sumqx += wxT[i] * q
                sumq2 += wT[i] * q * q
            }
            var refit = SIMD8<Int32>(repeating: 0)
            for lane in 0..<8 where refitLanes & (1 << lane) != 0 { refit[lane] = -1 }
            let fitted = unsafeBitCast(sumq2 .> zero, to: SIMD8<Int32>.self) & refit
            scales.replace(with: sumqx / sumq2, where: unsafeBitCast(fitted, to: SIMDMask<SIMD8<Int32>>.self))
            for i in 0..<32 { bestT[i] = (lT[i] & refit) | (bestT[i] & ~refit) }
        }
        lanes = active
        while lanes != 0 {
            let lane = lanes.trailingZeroBitCount
            lanes &= lanes - 1
            let L = s.L + 32 * lane
            for i in 0..<32 { L[i] = bestT[i][lane] }
        }
        return scales
    }

    /// The grid index of group k of `L` (always on the grid: every path leaves grid points there).
    @inline(__always)
    private static func gridIndex(_ grid: IQ3Grid, _ L: UnsafeMutablePointer<Int32>, _ k: Int) -> Int {
        Int(Swift.max(0, grid.map[key(L[4 * k], L[4 * k + 1], L[4 * k + 2], L[4 * k + 3])]))
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
                var maxes = F8(repeating: 0)
                var active = 0
                var blockSigns = SIMD8<UInt32>(repeating: 0)
                for ib in 0..<8 {
                    let xb = xbl + 32 * ib
                    weights(xb, qw: qw.map { $0 + 256 * ibl + 32 * ib }, sigma2: sigma2, ib: ib, s)
                    let weight = s.weight + 32 * ib, xval = s.xval + 32 * ib
                    // Signs: an even number of negatives per 8 (the 8th sign is not stored); for an
                    // odd count, the weight that costs least to flip changes sign instead.
                    var word: UInt32 = 0
                    for k in 0..<4 {
                        var flips = 0
                        var bits: UInt32 = 0
                        for i in 0..<8 {
                            let v = xb[8 * k + i]
                            if v >= 0 {
                                xval[8 * k + i] = v
                            } else {
                                xval[8 * k + i] = -v
                                flips += 1
                                bits |= 1 << UInt32(i)
                            }
                        }
                        if flips % 2 != 0 {
                            var imin = 0
                            var minCost = weight[8 * k] * xb[8 * k] * xb[8 * k]
                            for i in 1..<8 {
                                let cost = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i]
                                if cost < minCost {
                                    minCost = cost
                                    imin = i
                                }
                            }
                            xval[8 * k + imin] = -xval[8 * k + imin]
                            bits ^= 1 << UInt32(imin)
                        }
                        word |= (bits & 127) << UInt32(7 * k)
                    }
                    blockSigns[ib] = word
                    var max = xval[0]
                    for i in 1..<32 { max = cmax(max, xval[i]) }
                    maxes[ib] = max
                    if !(max < 1e-8) { active |= 1 << ib }  // ggml's GROUP_MAX_EPS_IQ3_XXS
                }
                let found = active == 0 ? F8(repeating: 0)
                    : search(grid: grid, trials: 15, startOnGrid: true, refitAll: false, max: maxes, active: active, s)
                var maxScale: Float = 0
                for ib in 0..<8 {
                    guard active & (1 << ib) != 0 else {
                        s.scales[ib] = 0
                        continue
                    }
                    var scale = found[ib]
                    var word = blockSigns[ib]
                    if scale < 0 {
                        // Only reachable with negative importance weights; the scale is stored unsigned.
                        scale = -scale
                        word = ~word & 0x0FFF_FFFF
                    }
                    for k in 0..<8 { yb.storeU8(UInt8(gridIndex(grid, s.L + 32 * ib, k)), at: 2 + 8 * ib + k) }
                    (yb + 66 + 4 * ib).storeBytes(of: word.littleEndian, as: UInt32.self)
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
                var maxes = F8(repeating: 0)
                var active = 0
                var blockSigns = SIMD8<UInt32>(repeating: 0)
                for ib in 0..<8 {
                    let xb = xbl + 32 * ib
                    weights(xb, qw: qw.map { $0 + 256 * ibl + 32 * ib }, sigma2: sigma2, ib: ib, s)
                    let xval = s.xval + 32 * ib
                    var word: UInt32 = 0
                    for i in 0..<32 {
                        let v = xb[i]
                        if v >= 0 {
                            xval[i] = v
                        } else {
                            xval[i] = -v
                            word |= 1 << UInt32(i)
                        }
                    }
                    blockSigns[ib] = word
                    var max = xval[0]
                    for i in 1..<32 { max = cmax(max, xval[i]) }
                    maxes[ib] = max
                    if max != 0 { active |= 1 << ib }
                }
                let found = active == 0 ? F8(repeating: 0)
                    : search(grid: grid, trials: 9, startOnGrid: false, refitAll: true, max: maxes, active: active, s)
                var maxScale: Float = 0
                // ggml advances its index and sign pointers only past sub-blocks it quantizes, so
                // an all-zero sub-block shifts the following ones' indices and signs forward
                // (the high index bits keep their fixed place).
                var packed = 0
                for ib in 0..<8 {
                    guard active & (1 << ib) != 0 else {
                        s.scales[ib] = 0
                        continue
                    }
                    var scale = found[ib]
                    var word = blockSigns[ib]
                    if scale < 0 {
                        scale = -scale
                        word = ~word
                    }
                    var qh: UInt8 = 0
                    for k in 0..<8 {
                        let index = gridIndex(grid, s.L + 32 * ib, k)
                        yb.storeU8(UInt8(truncatingIfNeeded: index), at: 2 + 8 * packed + k)
                        qh |= UInt8(index >> 8) << UInt8(k)
                    }
                    yb.storeU8(qh, at: 66 + ib)
                    (yb + 74 + 4 * packed).storeBytes(of: word.littleEndian, as: UInt32.self)
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
