/// IQ2_XXS's 13 trial scales per 32 weights, with one vector lane per trial.
///
/// ggml tries each scale in turn: round the 32 magnitudes, move off-codebook groups of 8 to their
/// best neighbour, then fit the scale with two serial sums over the 32 values. Those sums are a
/// chain of 32 dependent additions per trial; here every trial's levels are formed first and the
/// sums of all 13 trials run side by side, lane t doing exactly trial t's additions in ggml's
/// order, so every sum is ggml's bit for bit. Rounding runs the same way (lane t computes
/// ggml's `0.5f*(id*x - 1)` with trial t's id), which also leaves the levels where the sums want
/// them: `levels[16 * i + t]` is level i of trial t. Only the neighbour searches stay per trial
/// and group. The best trial is then chosen one trial after the other with ggml's comparison.
extension IQ2 {
    typealias F16 = SIMD16<Float>
    typealias I16 = SIMD16<Int32>
    static let xxsTrials = 13
    /// 2 kMaxQ - 1 + step 0.1 for the trials' steps -6...6 (lanes 13...15 repeat step 6).
    static let xxsNumerators: F16 = {
        var v = F16()
        for lane in 0..<16 { v[lane] = Float(2 * kMaxQ - 1) + Float(Swift.min(lane, xxsTrials - 1) - 6) * 0.1 }
        return v
    }()

    /// Trial scales `step = -6...6` of one 32-weight block whose largest magnitude is scaled to
    /// `effMax`. `scale` is the block's scale so far (make_qp_quants's) and is replaced by the
    /// best trial's fit when one beats none; L (32 levels) then holds that trial's levels, and
    /// is left as it was otherwise, as ggml leaves it.
    @inline(__always)
    static func xxsBestTrial(
        _ t: IQ2Table, xval: UnsafePointer<Float>, weight: UnsafePointer<Float>, waux: UnsafePointer<Float>,
        effMax: Float, scale: inout Float, L: UnsafeMutablePointer<Int8>, levels: UnsafeMutablePointer<Int8>,
        rows: CodebookRows
    ) {
        // ggml's id = (2 kMaxQ - 1 + step 0.1) / effMax per lane; lanes past the 13 trials repeat
        // the last one, and their results are never read.
        let id = xxsNumerators / F16(repeating: effMax)
        let trialScale = F16(repeating: 1) / id
        // Levels of every trial, and the packed point of each group of 8 per trial.
        let half = F16(repeating: 0.5), one = F16(repeating: 1)
        let top = I16(repeating: Int32(kMaxQ - 1))
        var points = (I16.zero, I16.zero, I16.zero, I16.zero)
        withUnsafeMutableBytes(of: &points) { p in
            let point = p.baseAddress!.assumingMemoryBound(to: I16.self)
            for i in 0..<32 {
                let v = half * (id * F16(repeating: xval[i]) - one)
                var l = unsafeBitCast(v + F16(repeating: 12582912.0), to: I16.self) & 0x007f_ffff &- 0x0040_0000
                // Clamped to 0...2 with shifts and masks: the mask-select forms of 16-lane vectors
                // compile to conversions between mask and vector registers.
                l &= ~(l &>> 31)
                let over = l &- top
                l &-= over & ~(over &>> 31)
                UnsafeMutableRawPointer(levels + 16 * i).storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: l), as: SIMD16<Int8>.self)
                point[i / 8] |= l &<< Int32(2 * (i % 8))
            }
        }
        // Off-codebook groups move to their best neighbour at their trial's scale.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 1) { found in
            let foundLevels = UnsafeMutableRawPointer(found.baseAddress!).assumingMemoryBound(to: Int8.self)
            withUnsafeBytes(of: points) { p in
                let point = p.baseAddress!.assumingMemoryBound(to: Int32.self)
                for k in 0..<4 {
                    for trial in 0..<xxsTrials {
                        guard let e = t.lookup(Int(point[16 * k + trial])), e.index < 0 else { continue }
                        _ = rows.bestNeighbour(
                            start: e.start, count: e.count, x: xval + 8 * k, w: waux + 8 * k, scale: trialScale[trial],
                            L: foundLevels)
                        for c in 0..<8 { levels[16 * (8 * k + c) + trial] = foundLevels[c] }
                    }
                }
            }
        }
        // Both sums of every trial; ggml's w * xval * q is (w * xval) * q, and w * q * q is (w * q) * q.
        var sumqx = F16.zero, sumq2 = F16.zero
        for i in 0..<32 {
            let l = I16(truncatingIfNeeded: UnsafeRawPointer(levels + 16 * i).load(as: SIMD16<Int8>.self))
            // 2l + 1 (0...5) to float through the mantissa of 2^23: exact, and one vector operation.
            let q = unsafeBitCast((l &* 2 &+ 1) | 0x4B00_0000, to: F16.self) - F16(repeating: 8388608.0)
            sumqx += F16(repeating: weight[i] * xval[i]) * q
            sumq2 += F16(repeating: weight[i]) * q * q
        }
        var best: Float = 0
        var winner = -1
        for trial in 0..<xxsTrials {
            let qx = sumqx[trial], q2 = sumq2[trial]
            if q2 > 0 && qx * qx > best * q2 {
                scale = qx / q2
                best = scale * qx
                winner = trial
            }
        }
        if winner >= 0 {
            for i in 0..<32 { L[i] = levels[16 * i + winner] }
        }
    }
}
