/// IQ2_XXS, IQ2_XS and IQ2_S: groups of 8 magnitudes snapped to a codebook of points with
/// levels {1, 3, 5} (IQ2Table), signs stored apart, a 4-bit scale per 32 (XXS) or 16 weights.
/// Byte-identical to ggml's quantize_row_iq2_{xxs,xs,s}_impl: the same float operations in the
/// same order, ggml's neighbour lists, and its tie rules.
///
/// IQ2_XXS: d, then per 32 weights two u32: four 8-bit codebook indices; 4x7 sign bits and the
///          4-bit scale (66 bytes per 256).
/// IQ2_XS:  d, qs u16[32] (9-bit index + 7 sign bits), scales[8] (74 bytes).
/// IQ2_S:   d, qs[32] low index bits, signs[32], qh[8] high index bits, scales[8] (82 bytes).
enum IQ2 {
    static let kMaxQ = 3

    /// Scratch for one super-block, allocated once per row run.
    struct Scratch {
        let scales: UnsafeMutablePointer<Float>  // 16
        let weight: UnsafeMutablePointer<Float>  // 32
        let waux: UnsafeMutablePointer<Float>  // 32
        let xval: UnsafeMutablePointer<Float>  // 32
        let L: UnsafeMutablePointer<Int8>  // 32
        let Laux: UnsafeMutablePointer<Int8>  // 32
        let Lu: UnsafeMutablePointer<UInt8>  // 32
    }

    @inline(__always)
    static func withScratch(_ body: (Scratch) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 + 3 * 32) { f in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 3 * 32) { b in
                let fp = f.baseAddress!, bp = b.baseAddress!
                body(Scratch(scales: fp, weight: fp + 16, waux: fp + 48, xval: fp + 80, L: bp, Laux: bp + 32,
                             Lu: UnsafeMutableRawPointer(bp + 64).assumingMemoryBound(to: UInt8.self)))
            }
        }
    }

    /// Rounds 8 magnitudes at inverse scale `id` to levels 0...2 (written to L); returns the
    /// packed point.
    @inline(__always)
    static func round(x: UnsafePointer<Float>, id: Float, L: UnsafeMutablePointer<Int8>) -> Int {
        let xv = UnsafeRawPointer(x).loadUnaligned(as: F8.self)
        var l = Lanes.nearestInt(F8(repeating: 0.5) * (F8(repeating: id) * xv - F8(repeating: 1)))
        // Vector-valued replacements compared vector against vector: the scalar-valued forms, and
        // comparisons with a scalar, compile to a loop over the lanes with a branch per lane.
        let top = I8(repeating: Int32(kMaxQ - 1))
        l = l.replacing(with: I8.zero, where: l .< I8.zero)
        l = l.replacing(with: top, where: l .> top)
        UnsafeMutableRawPointer(L).storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: l), as: SIMD8<Int8>.self)
        return Int((l &<< I8(0, 2, 4, 6, 8, 10, 12, 14)).wrappedSum())
    }

    /// Rounds 8 magnitudes at inverse scale `id` to levels 0...2; a point off the codebook is
    /// replaced by its best neighbour at `scale`. Writes the levels to L; true when the rounded
    /// point was on the codebook.
    @inline(__always)
    static func snapGroup(
        _ t: IQ2Table, x: UnsafePointer<Float>, waux: UnsafePointer<Float>, id: Float, scale: Float,
        L: UnsafeMutablePointer<Int8>
    ) -> Bool {
        guard let e = t.lookup(round(x: x, id: id, L: L)) else { return false }
        if e.index >= 0 { return true }
        _ = t.rows.bestNeighbour(start: e.start, count: e.count, x: x, w: waux, scale: scale, L: L)
        return false
    }

    /// The codebook index of 8 levels. ggml aborts when they are off the codebook (which its
    /// search never produces from finite input); we write entry 0.
    @inline(__always)
    static func index(_ t: IQ2Table, _ L: UnsafePointer<Int8>) -> Int {
        var u = 0
        for i in 0..<8 { u |= Int(UInt8(bitPattern: L[i]) & 3) << (2 * i) }
        return t.onGrid(u) ?? 0
    }

    /// sum w x q and sum w q q with q = 2l+1, in ggml's order.
    @inline(__always)
    static func sums(_ n: Int, w: UnsafePointer<Float>, x: UnsafePointer<Float>, L: UnsafePointer<Int8>) -> (Float, Float) {
        var sumqx: Float = 0, sumq2: Float = 0
        for i in 0..<n {
            let q = Float(2 * Int32(L[i]) + 1)
            sumqx += w[i] * x[i] * q
            sumq2 += w[i] * q * q
        }
        return (sumqx, sumq2)
    }

    /// Magnitudes of 8 weights and their sign bits. With `evenParity` (XXS, XS: 7 stored sign
    /// bits) an odd number of negatives flips the sign of the least important one back.
    @inline(__always)
    static func signs(
        _ xb: UnsafePointer<Float>, weight: UnsafePointer<Float>, xval: UnsafeMutablePointer<Float>, evenParity: Bool
    ) -> UInt8 {
        // ggml's per-weight `if (x >= 0)` as lane selects: the signs of real weights are random,
        // so a branch per weight mispredicts half the time. NaN fails x >= 0, as in ggml.
        let v = UnsafeRawPointer(xb).loadUnaligned(as: F8.self)
        let negative = unsafeBitCast(v .>= F8(repeating: 0), to: I8.self) ^ I8(repeating: -1)
        let flipped = unsafeBitCast(unsafeBitCast(v, to: I8.self) ^ (negative & I8(repeating: Int32(bitPattern: 0x8000_0000))), to: F8.self)
        UnsafeMutableRawPointer(xval).storeBytes(of: flipped, as: F8.self)
        var s = UInt8(truncatingIfNeeded: (negative & I8(1, 2, 4, 8, 16, 32, 64, 128)).wrappedSum())
        let nflip = s.nonzeroBitCount
        if evenParity && nflip % 2 == 1 {
            var imin = 0
            var min = weight[0] * xb[0] * xb[0]
            for i in 1..<8 {
                let ax = weight[i] * xb[i] * xb[i]
                if ax < min {
                    min = ax
                    imin = i
                }
            }
            xval[imin] = -xval[imin]
            s ^= 1 << UInt8(imin)
        }
        return evenParity ? s & 127 : s
    }

    // MARK: IQ2_XXS

    static func quantizeXXS(
        _ x: UnsafePointer<Float>, count n: Int, weights qw: UnsafePointer<Float>, into y: UnsafeMutableRawPointer
    ) {
        let t = IQ2Table.iq2xxs, rows = t.rows
        withScratch { s in
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 16 * 32) { levels in
                for ibl in 0..<(n / 256) {
                    xxsSuperBlock(t, rows, x + 256 * ibl, qw: qw + 256 * ibl, into: y + 66 * ibl, s,
                                  levels: levels.baseAddress!)
                }
            }
        }
    }

    @inline(__always)
    private static func xxsSuperBlock(
        _ t: IQ2Table, _ rows: CodebookRows, _ xbl: UnsafePointer<Float>, qw: UnsafePointer<Float>, into y: UnsafeMutableRawPointer, _ s: Scratch,
        levels: UnsafeMutablePointer<Int8>
    ) {
        let weight = s.weight, waux = s.waux, xval = s.xval, L = s.L
        y.storeU16(FP16.fromFloat(0), at: 0)
        y.zero(2, 64)
        var q2 = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                  UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        var sumx2: Float = 0
        for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
        let sigma2 = sumx2 / 256
        var maxScale: Float = 0
        for ib in 0..<8 {
            let xb = xbl + 32 * ib
            let qwb = qw + 32 * ib
            for i in 0..<32 { weight[i] = qwb[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
            for i in 0..<32 { waux[i] = Numerics.sqrtf(weight[i]) }
            var blockSigns: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &blockSigns) { bs in
                for k in 0..<4 { bs[k] = signs(xb + 8 * k, weight: weight + 8 * k, xval: xval + 8 * k, evenParity: true) }
            }
            var max = xval[0]
            for i in 1..<32 { max = max > xval[i] ? max : xval[i] }
            if max < Numerics.groupMaxEps {
                s.scales[ib] = 0
                continue
            }
            var scale = ScaleSearch.makeQP(n: 32, nmax: Int32(kMaxQ + 1), x: xval, L: s.Lu, weights: weight)
            let effMax = scale * Float(kMaxQ)
            if effMax <= 0 {
                s.scales[ib] = 0
                continue
            }
            xxsBestTrial(t, xval: xval, weight: weight, waux: waux, effMax: effMax, scale: &scale, L: L, levels: levels,
                         rows: rows)
            if scale > 0 {
                let id = 1 / scale
                for k in 0..<4 {
                    _ = snapGroup(t, x: xval + 8 * k, waux: waux + 8 * k, id: id, scale: scale, L: L + 8 * k)
                }
                let (sumqx, sumq2) = sums(32, w: weight, x: xval, L: L)
                if sumq2 > 0 { scale = sumqx / sumq2 }
            }
            if scale < 0 {
                // ggml keeps scales positive by flipping every sign.
                scale = -scale
                blockSigns = (~blockSigns.0 & 127, ~blockSigns.1 & 127, ~blockSigns.2 & 127, ~blockSigns.3 & 127)
            }
            var grid: UInt32 = 0, sg: UInt32 = 0
            withUnsafeBytes(of: blockSigns) { bs in
                for k in 0..<4 {
                    grid |= UInt32(index(t, L + 8 * k)) << UInt32(8 * k)
                    sg |= UInt32(bs[k]) << UInt32(7 * k)
                }
            }
            withUnsafeMutableBytes(of: &q2) { q in
                q.storeBytes(of: grid, toByteOffset: 8 * ib, as: UInt32.self)
                q.storeBytes(of: sg, toByteOffset: 8 * ib + 4, as: UInt32.self)
            }
            s.scales[ib] = scale
            maxScale = maxScale > scale ? maxScale : scale
        }
        if maxScale == 0 { return }
        let d = maxScale / 31
        y.storeU16(FP16.fromFloat(d), at: 0)
        let id = 1 / d
        withUnsafeMutableBytes(of: &q2) { q in
            for ib in 0..<8 {
                let l = Swift.max(0, Swift.min(15, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1))))
                let w = q.load(fromByteOffset: 8 * ib + 4, as: UInt32.self) | (UInt32(l) << 28)
                q.storeBytes(of: w, toByteOffset: 8 * ib + 4, as: UInt32.self)
            }
            (y + 2).copyMemory(from: q.baseAddress!, byteCount: 64)
        }
    }

    // MARK: IQ2_XS and IQ2_S

    /// search16's scratch: the values q = 2l+1 of the 19 trials, trial-major per weight (q of
    /// weight i at trial t at 32 i + t, so one weight's values over all trials are one vector),
    /// then each trial's 16 levels (trial t at 16 t).
    private static let trialStride = 32
    private static let trialCount = 19

    /// The per-16 search both share: 19 trial scales around max/5, then the groups that needed
    /// a neighbour are redone at the best scale. Returns the scale; L holds the 16 levels.
    /// All trials' levels are formed first, then every trial's sums at once (one lane per trial,
    /// each lane adding in ggml's order), then the best trial is picked in ggml's order: the
    /// trials' sums run side by side instead of as one chain of dependent adds per trial.
    @inline(__always)
    private static func search16(
        _ t: IQ2Table, xval: UnsafePointer<Float>, weight: UnsafePointer<Float>, waux: UnsafePointer<Float>,
        max: Float, L: UnsafeMutablePointer<Int8>,
        trials lt: UnsafeMutablePointer<Float>, batch: inout CodebookRows.Batch
    ) -> Float {
        let trialLevels = UnsafeMutableRawPointer(lt + 16 * trialStride).assumingMemoryBound(to: Int8.self)
        typealias F16 = SIMD16<Float>
        // Bit 2t + k: group k was off the codebook at trial t.
        var offGrid: UInt64 = 0
        let rows = t.rows
        for k in 0..<2 {
            // Every trial's rounding of group k first, its off-codebook searches queued and run
            // in one call, their winners written back.
            batch.count = 0
            for step in -9...9 {
                let trial = step + 9
                let id = (Float(2 * kMaxQ - 1) + Float(step) * 0.1) / max
                let g = trialLevels + 16 * trial + 8 * k
                let e = t.lookup(round(x: xval + 8 * k, id: id, L: g))
                if let e, e.index >= 0 { continue }
                offGrid |= 1 << UInt64(2 * trial + k)
                if let e { rows.add(&batch, start: e.start, count: e.count, scale: 1 / id, tag: trial) }
            }
            guard batch.count > 0 else { continue }
            rows.run(batch, x: xval + 8 * k, w: waux + 8 * k)
            for m in 0..<batch.count {
                let found = rows.winnerLevels(batch, m)
                UnsafeMutableRawPointer(trialLevels + 16 * Int(batch.tags[m]) + 8 * k).storeBytes(of: found, as: UInt64.self)
            }
        }
        for trial in 0..<trialCount {
            for i in 0..<16 { lt[trialStride * i + trial] = Float(2 * Int32(trialLevels[16 * trial + i]) + 1) }
        }
        var sumqx = (F16(repeating: 0), F16(repeating: 0)), sumq2 = (F16(repeating: 0), F16(repeating: 0))
        for i in 0..<16 {
            let wx = F16(repeating: weight[i] * xval[i]), w = F16(repeating: weight[i])
            let row = UnsafeRawPointer(lt + trialStride * i)
            let q0 = row.loadUnaligned(as: F16.self)
            let q1 = row.loadUnaligned(fromByteOffset: 64, as: F16.self)
            sumqx.0 += wx * q0
            sumqx.1 += wx * q1
            sumq2.0 += w * q0 * q0
            sumq2.1 += w * q1 * q1
        }
        var best: Float = 0
        var scale = max / Float(2 * kMaxQ - 1)
        var chosen = -1
        withUnsafeTemporaryAllocation(of: F16.self, capacity: 4) { v in
            v[0] = sumqx.0
            v[1] = sumqx.1
            v[2] = sumq2.0
            v[3] = sumq2.1
            let f = UnsafeRawPointer(v.baseAddress!).assumingMemoryBound(to: Float.self)
            for trial in 0..<trialCount {
                let qx = f[trial], q2 = f[32 + trial]
                if q2 > 0 && qx * qx > best * q2 {
                    scale = qx / q2
                    best = scale * qx
                    chosen = trial
                }
            }
        }
        guard chosen >= 0 else { return scale }
        L.update(from: trialLevels + 16 * chosen, count: 16)
        let off0 = offGrid >> UInt64(2 * chosen) & 1 != 0, off1 = offGrid >> UInt64(2 * chosen + 1) & 1 != 0
        if (off0 || off1) && scale > 0 {
            let id = 1 / scale
            if off0 { _ = snapGroup(t, x: xval, waux: waux, id: id, scale: scale, L: L) }
            if off1 { _ = snapGroup(t, x: xval + 8, waux: waux + 8, id: id, scale: scale, L: L + 8) }
            let (sumqx, sumq2) = sums(16, w: weight, x: xval, L: L)
            if sumq2 > 0 { scale = sumqx / sumq2 }
        }
        return scale
    }

    /// Scratch for search16's trials (zeroed: the lanes past the last trial are summed too).
    @inline(__always)
    private static func withTrials(_ body: (UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * trialStride + 4 * trialCount) { b in
            b.initialize(repeating: 0)
            body(b.baseAddress!)
        }
    }

    static func quantizeXS(
        _ x: UnsafePointer<Float>, count n: Int, weights qw: UnsafePointer<Float>, into y: UnsafeMutableRawPointer
    ) {
        let t = IQ2Table.iq2xs
        withTrials { lt in withScratch { s in CodebookRows.Batch.with { batch in
            for ibl in 0..<(n / 256) {
                let xbl = x + 256 * ibl, yb = y + 74 * ibl
                yb.storeU16(FP16.fromFloat(0), at: 0)
                yb.zero(2, 72)
                var sumx2: Float = 0
                for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
                let sigma2 = sumx2 / 256
                var maxScale: Float = 0
                for ib in 0..<16 {
                    let xb = xbl + 16 * ib
                    let qwb = qw + 256 * ibl + 16 * ib
                    for i in 0..<16 { s.weight[i] = qwb[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
                    for i in 0..<16 { s.waux[i] = Numerics.sqrtf(s.weight[i]) }
                    var s0 = signs(xb, weight: s.weight, xval: s.xval, evenParity: true)
                    var s1 = signs(xb + 8, weight: s.weight + 8, xval: s.xval + 8, evenParity: true)
                    var max = s.xval[0]
                    for i in 1..<16 { max = max > s.xval[i] ? max : s.xval[i] }
                    for i in 0..<16 { s.L[i] = 0 }
                    if max < Numerics.groupMaxEps {
                        s.scales[ib] = 0
                        continue
                    }
                    var scale = search16(t, xval: s.xval, weight: s.weight, waux: s.waux, max: max, L: s.L, trials: lt,
                                            batch: &batch)
                    if scale < 0 {
                        scale = -scale
                        s0 = ~s0 & 127
                        s1 = ~s1 & 127
                    }
                    yb.storeU16(UInt16(index(t, s.L)) | UInt16(s0) << 9, at: 2 + 4 * ib)
                    yb.storeU16(UInt16(index(t, s.L + 8)) | UInt16(s1) << 9, at: 2 + 4 * ib + 2)
                    s.scales[ib] = scale
                    maxScale = maxScale > scale ? maxScale : scale
                }
                if maxScale == 0 {
                    yb.zero(2, 64)
                    continue
                }
                let d = maxScale / 31
                yb.storeU16(FP16.fromFloat(d), at: 0)
                let id = 1 / d
                for ib in 0..<16 {
                    let l = UInt8(Swift.max(0, Swift.min(15, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1)))))
                    if ib % 2 == 0 { yb.storeU8(l, at: 66 + ib / 2) } else { yb.orU8(l << 4, at: 66 + ib / 2) }
                }
            }
        } } }
    }

    static let groupMaxEpsS: Float = 1e-8

    static func quantizeS(
        _ x: UnsafePointer<Float>, count n: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        let t = IQ2Table.iq2s
        withTrials { lt in withScratch { s in CodebookRows.Batch.with { batch in
            for ibl in 0..<(n / 256) {
                let xbl = x + 256 * ibl, yb = y + 82 * ibl
                yb.zero(0, 82)
                var sumx2: Float = 0
                for i in 0..<256 { sumx2 += xbl[i] * xbl[i] }
                let sigma2 = 2 * sumx2 / 256
                var maxScale: Float = 0
                for ib in 0..<16 {
                    let xb = xbl + 16 * ib
                    if let qw {
                        let qwb = qw + 256 * ibl + 16 * ib
                        for i in 0..<16 { s.weight[i] = qwb[i] * Numerics.sqrtf(sigma2 + xb[i] * xb[i]) }
                    } else {
                        for i in 0..<16 { s.weight[i] = 0.25 * sigma2 + xb[i] * xb[i] }
                    }
                    for i in 0..<16 { s.waux[i] = Numerics.sqrtf(s.weight[i]) }
                    var s0 = signs(xb, weight: s.weight, xval: s.xval, evenParity: false)
                    var s1 = signs(xb + 8, weight: s.weight + 8, xval: s.xval + 8, evenParity: false)
                    var max = s.xval[0]
                    for i in 1..<16 { max = max > s.xval[i] ? max : s.xval[i] }
                    for i in 0..<16 { s.L[i] = 0 }
                    if max < groupMaxEpsS {
                        s.scales[ib] = 0
                        continue
                    }
                    var scale = search16(t, xval: s.xval, weight: s.weight, waux: s.waux, max: max, L: s.L, trials: lt,
                                            batch: &batch)
                    if scale < 0 {
                        scale = -scale
                        s0 = ~s0
                        s1 = ~s1
                    }
                    for k in 0..<2 {
                        let gi = index(t, s.L + 8 * k)
                        let i8 = 2 * ib + k
                        yb.storeU8(UInt8(truncatingIfNeeded: gi), at: 2 + i8)
                        yb.orU8(UInt8(truncatingIfNeeded: (gi >> 8) << (2 * (i8 % 4))), at: 66 + i8 / 4)
                        yb.storeU8(k == 0 ? s0 : s1, at: 2 + 32 + i8)
                    }
                    s.scales[ib] = scale
                    maxScale = maxScale > scale ? maxScale : scale
                }
                if maxScale == 0 { continue }
                let d = maxScale / 31
                yb.storeU16(FP16.fromFloat(d * 0.9875), at: 0)
                let id = 1 / d
                for ib in 0..<16 {
                    let l = UInt8(Swift.max(0, Swift.min(15, Numerics.nearestInt(0.5 * (id * s.scales[ib] - 1)))))
                    if ib % 2 == 0 { yb.storeU8(l, at: 74 + ib / 2) } else { yb.orU8(l << 4, at: 74 + ib / 2) }
                }
            }
        } } }
    }
}
