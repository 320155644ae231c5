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

    /// Four `makeQ3` searches (x: 4·n vectors, group g at g·n; L likewise) advanced in lockstep.
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
                for i in 0..<n {
                    q3Step(&s0, nmax: nmax, x: x[i], w: w[i], wx: wx[i], level: lv + i)
                    q3Step(&s1, nmax: nmax, x: x[n + i], w: w[n + i], wx: wx[n + i], level: lv + n + i)
                    q3Step(&s2, nmax: nmax, x: x[2 * n + i], w: w[2 * n + i], wx: wx[2 * n + i], level: lv + 2 * n + i)
                    q3Step(&s3, nmax: nmax, x: x[3 * n + i], w: w[3 * n + i], wx: wx[3 * n + i], level: lv + 3 * n + i)
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
