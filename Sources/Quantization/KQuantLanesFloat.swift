/// A faster make_qx_quants for finite lane groups: levels are computed as floats.
///
/// Why it is exact: for |v| < 2^22, nearest_int(v) is the integer v + 1.5*2^23 rounds to
/// (ties to even), so (v + 1.5*2^23) - 1.5*2^23 is that same integer as a float (the subtraction
/// is exact); and clamping to integer bounds gives the same result before or after rounding. In
/// make_qx_quants every scaled value of a finite, non-degenerate sub-block satisfies
/// |v| <= nmax + 0.9 (v = x * (nmax + 0.1*k) / max|x| with |k| <= 9); degenerate lanes compute
/// garbage that is discarded at the end, exactly as in the integer version. w*x is hoisted out
/// of the passes: ggml computes (w*x)*l, the same product every pass.
///
/// The clamp is written as a per-lane loop of C-style ternaries, which the backend turns into
/// minps/maxps; the SIMD `replacing(with:where:)` form costs a mask conversion and a 3-op blend.
extension Lanes {
    @inline(__always)
    static func clampF(_ v: F8, _ lo: Float, _ hi: Float) -> F8 {
        var r = v
        for k in 0..<8 {
            let a = r[k] < hi ? r[k] : hi
            r[k] = a > lo ? a : lo
        }
        return r
    }

    /// Exact Float -> Int32 for the small non-negative integers that biased levels are.
    @inline(__always)
    static func intLevel(_ f: F8) -> I8 {
        unsafeBitCast(f + F8(repeating: 8388608.0), to: I8.self) & 0x007f_ffff
    }

    @inline(__always)
    static func allFinite(_ x: UnsafePointer<F8>, _ n: Int) -> Bool {
        var ok = SIMDMask<I8>(repeating: true)
        for i in 0..<n { ok .&= abs(x[i]) .< F8(repeating: .infinity) }
        return allLanes(ok)
    }

    @inline(__always)
    static func makeQXFloat(
        n: Int, nmax: Int32, x: UnsafePointer<F8>, w: UnsafePointer<F8>, L: UnsafeMutablePointer<I8>,
        wx: UnsafeMutablePointer<F8>
    ) -> F8 {
        let zero = F8(repeating: 0)
        var max = zero, amax = zero
        for i in 0..<n {
            let ax = abs(x[i])
            let bigger = ax .> amax
            amax.replace(with: ax, where: bigger)
            max.replace(with: x[i], where: bigger)
            wx[i] = w[i] * x[i]
        }
        let degenerate = amax .< F8(repeating: Numerics.groupMaxEps)
        if allLanes(degenerate) {
            for i in 0..<n { L[i] = I8(repeating: 0) }
            return zero
        }
        let magic = F8(repeating: 12582912.0)
        let fnmax = F8(repeating: Float(nmax))
        let lo = Float(-nmax), hi = Float(nmax - 1)
        var iscale = negate(fnmax) / max
        var sumlx = zero, suml2 = zero
        for i in 0..<n {
            let fl = clampF((iscale * x[i] + magic) - magic, lo, hi)
            L[i] = intLevel(fl + fnmax)
            sumlx += wx[i] * fl
            suml2 += w[i] * fl * fl
        }
        var scale = (sumlx / suml2).replacing(with: 0, where: suml2 .== zero)
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = negate(fnmax + F8(repeating: 0.1 * Float(step))) / max
            sumlx = zero
            suml2 = zero
            for i in 0..<n {
                let fl = clampF((iscale * x[i] + magic) - magic, lo, hi)
                sumlx += wx[i] * fl
                suml2 += w[i] * fl * fl
            }
            let better = (suml2 .> zero) .& (sumlx * sumlx .> best * suml2)
            if anyLane(better) {
                for i in 0..<n {
                    let fl = clampF((iscale * x[i] + magic) - magic, lo, hi)
                    L[i].replace(with: intLevel(fl + fnmax), where: better)
                }
                scale.replace(with: sumlx / suml2, where: better)
                best.replace(with: scale * sumlx, where: better)
            }
        }
        if anyLane(degenerate) {
            for i in 0..<n { L[i].replace(with: 0, where: degenerate) }
            scale.replace(with: zero, where: degenerate)
        }
        return scale
    }
}
