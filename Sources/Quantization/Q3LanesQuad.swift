/// Q3_K's reference search for two super-blocks at once: four groups of eight sub-blocks whose
/// coordinate descents run interleaved. Each descent is one long chain of dependent operations
/// (an exact division per element), so with two groups the vector units mostly wait; four
/// independent chains keep them busy. Every lane still performs ggml's `make_q3_quants`
/// operations in ggml's order, so the bytes are unchanged.
extension Lanes {
    /// The state of one group's search (float-domain levels, see `makeQ3PairFloat`).
    struct Q3Search {
        var slx: F8
        var sl2: F8
        var active: SIMDMask<I8>
        var changed: SIMDMask<I8>
        let degenerate: SIMDMask<I8>
    }

    /// Absmax start of one group: w = x², w·x and the initial levels into scratch, sums returned.
    @inline(__always)
    static func q3Start(n: Int, nmax: Int32, x: UnsafePointer<F8>, w: UnsafeMutablePointer<F8>,
                        wx: UnsafeMutablePointer<F8>, levels: UnsafeMutablePointer<F8>) -> Q3Search {
        let zero = F8(repeating: 0)
        let magic = F8(repeating: 12582912.0)
        let lo = Float(-nmax), hi = Float(nmax - 1)
        var maxV = zero, amax = zero
        for i in 0..<n {
            let a = abs(x[i])
            let b = a .> amax
            amax.replace(with: a, where: b)
            maxV.replace(with: x[i], where: b)
            w[i] = x[i] * x[i]
            wx[i] = w[i] * x[i]
        }
        let degenerate = amax .< F8(repeating: Numerics.groupMaxEps)
        let iscale = negate(F8(repeating: Float(nmax))) / maxV
        var slx = zero, sl2 = zero
        for i in 0..<n {
            let fl = clampF((iscale * x[i] + magic) - magic, lo, hi)
            levels[i] = fl
            slx += wx[i] * fl
            sl2 += w[i] * fl * fl
        }
        return Q3Search(slx: slx, sl2: sl2, active: .!degenerate, changed: SIMDMask(repeating: false), degenerate: degenerate)
    }

    /// One element of one sweep of the descent (ggml's inner loop body), on eight lanes. The
    /// initial levels are bounded like make_qx_quants'; the candidate x·sl2/slx is not, so each
    /// vector checks |v| < 4e6 on the lanes that can still change and otherwise takes the integer
    /// form. w = x² and w·x are hoisted (ggml's w*x*l is (w*x)*l). Degenerate lanes never update
    /// (their results are discarded).
    @_transparent
    static func q3Step(_ s: inout Q3Search, nmax: Int32, x: F8, w: F8, wx: F8, level: UnsafeMutablePointer<F8>) {
        let zero = F8(repeating: 0)
        let magic = F8(repeating: 12582912.0), limit = F8(repeating: 4_000_000)
        let lo = Float(-nmax), hi = Float(nmax - 1)
        let li = level.pointee
        var slx = s.slx - wx * li
        var sl2 = s.sl2 - w * li * li
        let positive = slx .> zero
        let v = x * sl2 / slx
        let newL: F8
        if allLanes((abs(v) .< limit) .| .!(positive .& s.active)) {
            newL = clampF((v + magic) - magic, lo, hi)
        } else {
            newL = floatSigned(clamp(nearestInt(v), -nmax, nmax - 1))
        }
        let differs = newL .!= li
        slx += wx * newL
        sl2 += w * newL * newL
        let improves = (sl2 .> zero) .& (slx * slx * s.sl2 .> s.slx * s.slx * sl2)
        let update = s.active .& positive .& differs .& improves
        level.pointee.replace(with: newL, where: update)
        s.slx.replace(with: slx, where: update)
        s.sl2.replace(with: sl2, where: update)
        s.changed .|= update
    }

    /// Integer levels (biased by nmax) and the scale of a finished search.
    @inline(__always)
    static func q3Finish(_ s: Q3Search, n: Int, nmax: Int32, levels: UnsafePointer<F8>, L: UnsafeMutablePointer<I8>) -> F8 {
        let fnmax = F8(repeating: Float(nmax))
        for i in 0..<n { L[i] = intLevel(levels[i] + fnmax) }
        var scale = (s.slx / s.sl2).replacing(with: 0, where: .!(s.sl2 .> F8(repeating: 0)))
        if anyLane(s.degenerate) {
            for i in 0..<n { L[i].replace(with: 0, where: s.degenerate) }
            scale.replace(with: F8(repeating: 0), where: s.degenerate)
        }
        return scale
    }

    /// Four `make_q3_quants` searches (x: 4·n vectors, group g at g·n; L likewise) advanced in lockstep.
    /// Falls back to two pairs when a group holds a non-finite value or n > 16.
    @inline(__always)
    static func makeQ3Quad(n: Int, nmax: Int32, x: UnsafePointer<F8>, L: UnsafeMutablePointer<I8>) -> (F8, F8, F8, F8) {
        guard n <= 16, allFinite(x, 4 * n) else {
            let (a, b) = makeQ3Pair(n: n, nmax: nmax, xa: x, La: L, xb: x + n, Lb: L + n)
            let (c, d) = makeQ3Pair(n: n, nmax: nmax, xa: x + 2 * n, La: L + 2 * n, xb: x + 3 * n, Lb: L + 3 * n)
            return (a, b, c, d)
        }
        return withUnsafeTemporaryAllocation(of: F8.self, capacity: 12 * 16) { buffer in
            let scratch = buffer.baseAddress!
            let w = scratch, wx = scratch + 4 * n, lv = scratch + 8 * n
            var s0 = q3Start(n: n, nmax: nmax, x: x, w: w, wx: wx, levels: lv)
            var s1 = q3Start(n: n, nmax: nmax, x: x + n, w: w + n, wx: wx + n, levels: lv + n)
            var s2 = q3Start(n: n, nmax: nmax, x: x + 2 * n, w: w + 2 * n, wx: wx + 2 * n, levels: lv + 2 * n)
            var s3 = q3Start(n: n, nmax: nmax, x: x + 3 * n, w: w + 3 * n, wx: wx + 3 * n, levels: lv + 3 * n)
            for _ in 0..<5 {
                s0.changed = SIMDMask(repeating: false); s1.changed = s0.changed
                s2.changed = s0.changed; s3.changed = s0.changed
                let g0 = anyLane(s0.active), g1 = anyLane(s1.active)
                let g2 = anyLane(s2.active), g3 = anyLane(s3.active)
                for i in 0..<n {  // stopped groups are skipped, as in makeQ3Hex
                    if g0 { q3Step(&s0, nmax: nmax, x: x[i], w: w[i], wx: wx[i], level: lv + i) }
                    if g1 { q3Step(&s1, nmax: nmax, x: x[n + i], w: w[n + i], wx: wx[n + i], level: lv + n + i) }
                    if g2 { q3Step(&s2, nmax: nmax, x: x[2 * n + i], w: w[2 * n + i], wx: wx[2 * n + i], level: lv + 2 * n + i) }
                    if g3 { q3Step(&s3, nmax: nmax, x: x[3 * n + i], w: w[3 * n + i], wx: wx[3 * n + i], level: lv + 3 * n + i) }
                }
                s0.active .&= s0.changed; s1.active .&= s1.changed
                s2.active .&= s2.changed; s3.active .&= s3.changed
                if !anyLane(s0.active .| s1.active .| s2.active .| s3.active) { break }
            }
            return (q3Finish(s0, n: n, nmax: nmax, levels: lv, L: L),
                    q3Finish(s1, n: n, nmax: nmax, levels: lv + n, L: L + n),
                    q3Finish(s2, n: n, nmax: nmax, levels: lv + 2 * n, L: L + 2 * n),
                    q3Finish(s3, n: n, nmax: nmax, levels: lv + 3 * n, L: L + 3 * n))
        }
    }
}

extension Lanes {
    /// Six `make_q3_quants` searches (three super-blocks: a 768-wide row) advanced in lockstep, like
    /// `makeQ3Quad`; with 32 vector registers (AVX-512) six chains still fit in registers.
    /// Falls back to three pairs when a group holds a non-finite value or n > 16.
    @inline(__always)
    static func makeQ3Hex(n: Int, nmax: Int32, x: UnsafePointer<F8>, L: UnsafeMutablePointer<I8>,
                          scales: UnsafeMutablePointer<F8>) {
        guard n <= 16, allFinite(x, 6 * n) else {
            for p in 0..<3 {
                let (a, b) = makeQ3Pair(n: n, nmax: nmax, xa: x + 2 * p * n, La: L + 2 * p * n,
                                        xb: x + (2 * p + 1) * n, Lb: L + (2 * p + 1) * n)
                scales[2 * p] = a
                scales[2 * p + 1] = b
            }
            return
        }
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 18 * 16) { buffer in
            let scratch = buffer.baseAddress!
            let w = scratch, wx = scratch + 6 * n, lv = scratch + 12 * n
            var s0 = q3Start(n: n, nmax: nmax, x: x, w: w, wx: wx, levels: lv)
            var s1 = q3Start(n: n, nmax: nmax, x: x + n, w: w + n, wx: wx + n, levels: lv + n)
            var s2 = q3Start(n: n, nmax: nmax, x: x + 2 * n, w: w + 2 * n, wx: wx + 2 * n, levels: lv + 2 * n)
            var s3 = q3Start(n: n, nmax: nmax, x: x + 3 * n, w: w + 3 * n, wx: wx + 3 * n, levels: lv + 3 * n)
            var s4 = q3Start(n: n, nmax: nmax, x: x + 4 * n, w: w + 4 * n, wx: wx + 4 * n, levels: lv + 4 * n)
            var s5 = q3Start(n: n, nmax: nmax, x: x + 5 * n, w: w + 5 * n, wx: wx + 5 * n, levels: lv + 5 * n)
            for _ in 0..<5 {
                s0.changed = SIMDMask(repeating: false); s1.changed = s0.changed; s2.changed = s0.changed
                s3.changed = s0.changed; s4.changed = s0.changed; s5.changed = s0.changed
                // A group whose lanes have all stopped would change nothing: skip it (most stop
                // after one sweep, while the slowest of 48 lanes needs about three).
                let g0 = anyLane(s0.active), g1 = anyLane(s1.active), g2 = anyLane(s2.active)
                let g3 = anyLane(s3.active), g4 = anyLane(s4.active), g5 = anyLane(s5.active)
                for i in 0..<n {
                    if g0 { q3Step(&s0, nmax: nmax, x: x[i], w: w[i], wx: wx[i], level: lv + i) }
                    if g1 { q3Step(&s1, nmax: nmax, x: x[n + i], w: w[n + i], wx: wx[n + i], level: lv + n + i) }
                    if g2 { q3Step(&s2, nmax: nmax, x: x[2 * n + i], w: w[2 * n + i], wx: wx[2 * n + i], level: lv + 2 * n + i) }
                    if g3 { q3Step(&s3, nmax: nmax, x: x[3 * n + i], w: w[3 * n + i], wx: wx[3 * n + i], level: lv + 3 * n + i) }
                    if g4 { q3Step(&s4, nmax: nmax, x: x[4 * n + i], w: w[4 * n + i], wx: wx[4 * n + i], level: lv + 4 * n + i) }
                    if g5 { q3Step(&s5, nmax: nmax, x: x[5 * n + i], w: w[5 * n + i], wx: wx[5 * n + i], level: lv + 5 * n + i) }
                }
                s0.active .&= s0.changed; s1.active .&= s1.changed; s2.active .&= s2.changed
                s3.active .&= s3.changed; s4.active .&= s4.changed; s5.active .&= s5.changed
                if !anyLane(s0.active .| s1.active .| s2.active .| s3.active .| s4.active .| s5.active) { break }
            }
            scales[0] = q3Finish(s0, n: n, nmax: nmax, levels: lv, L: L)
            scales[1] = q3Finish(s1, n: n, nmax: nmax, levels: lv + n, L: L + n)
            scales[2] = q3Finish(s2, n: n, nmax: nmax, levels: lv + 2 * n, L: L + 2 * n)
            scales[3] = q3Finish(s3, n: n, nmax: nmax, levels: lv + 3 * n, L: L + 3 * n)
            scales[4] = q3Finish(s4, n: n, nmax: nmax, levels: lv + 4 * n, L: L + 4 * n)
            scales[5] = q3Finish(s5, n: n, nmax: nmax, levels: lv + 5 * n, L: L + 5 * n)
        }
    }

    /// `count` (2, 4 or 6) `make_q3_quants` searches of n elements, group g's inputs at x + g·n and
    /// levels at L + g·n, its scales into scales[g].
    @inline(__always)
    static func makeQ3Groups(_ count: Int, n: Int, nmax: Int32, x: UnsafePointer<F8>, L: UnsafeMutablePointer<I8>,
                             scales: UnsafeMutablePointer<F8>) {
        switch count {
        case 6:
            makeQ3Hex(n: n, nmax: nmax, x: x, L: L, scales: scales)
        case 4:
            (scales[0], scales[1], scales[2], scales[3]) = makeQ3Quad(n: n, nmax: nmax, x: x, L: L)
        default:
            (scales[0], scales[1]) = makeQ3Pair(n: n, nmax: nmax, xa: x, La: L, xb: x + n, Lb: L + n)
        }
    }

    /// Transposes eight consecutive sub-blocks of 16 values (src[16j + i]) into 16 vectors
    /// (dst[i] lane j), as two 8x8 transposes of shuffles instead of 128 single-lane inserts.
    @inline(__always)
    static func transpose8x16(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<F8>) {
        let p = UnsafeRawPointer(src)
        for h in 0..<2 {
            let r = (row(p, 0, h), row(p, 1, h), row(p, 2, h), row(p, 3, h),
                     row(p, 4, h), row(p, 5, h), row(p, 6, h), row(p, 7, h))
            // unpcklps / unpckhps of row pairs
            let t0 = unpackLow(r.0, r.1), t1 = unpackHigh(r.0, r.1)
            let t2 = unpackLow(r.2, r.3), t3 = unpackHigh(r.2, r.3)
            let t4 = unpackLow(r.4, r.5), t5 = unpackHigh(r.4, r.5)
            let t6 = unpackLow(r.6, r.7), t7 = unpackHigh(r.6, r.7)
            // shufps: pairs of pairs
            let u0 = pairsLow(t0, t2), u1 = pairsHigh(t0, t2), u2 = pairsLow(t1, t3), u3 = pairsHigh(t1, t3)
            let u4 = pairsLow(t4, t6), u5 = pairsHigh(t4, t6), u6 = pairsLow(t5, t7), u7 = pairsHigh(t5, t7)
            // vperm2f128: 128-bit halves
            let out = dst + 8 * h
            out[0] = F8(lowHalf: u0.lowHalf, highHalf: u4.lowHalf)
            out[1] = F8(lowHalf: u1.lowHalf, highHalf: u5.lowHalf)
            out[2] = F8(lowHalf: u2.lowHalf, highHalf: u6.lowHalf)
            out[3] = F8(lowHalf: u3.lowHalf, highHalf: u7.lowHalf)
            out[4] = F8(lowHalf: u0.highHalf, highHalf: u4.highHalf)
            out[5] = F8(lowHalf: u1.highHalf, highHalf: u5.highHalf)
            out[6] = F8(lowHalf: u2.highHalf, highHalf: u6.highHalf)
            out[7] = F8(lowHalf: u3.highHalf, highHalf: u7.highHalf)
        }
    }

    /// Values 8h...8h+7 of sub-block j.
    @inline(__always)
    private static func row(_ p: UnsafeRawPointer, _ j: Int, _ h: Int) -> F8 {
        p.loadUnaligned(fromByteOffset: 64 * j + 32 * h, as: F8.self)
    }
    @inline(__always)
    private static func unpackLow(_ a: F8, _ b: F8) -> F8 { F8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]) }
    @inline(__always)
    private static func unpackHigh(_ a: F8, _ b: F8) -> F8 { F8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]) }
    @inline(__always)
    private static func pairsLow(_ a: F8, _ b: F8) -> F8 { F8(a[0], a[1], b[0], b[1], a[4], a[5], b[4], b[5]) }
    @inline(__always)
    private static func pairsHigh(_ a: F8, _ b: F8) -> F8 { F8(a[2], a[3], b[2], b[3], a[6], a[7], b[6], b[7]) }
}
