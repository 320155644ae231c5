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

extension Lanes {
    /// make_qkx2/3_quants (as Lanes.makeQKX) with float-domain levels. Here the scaled values
    /// are not bounded a priori (the min moves when a step wins), so each pass first checks,
    /// per lane, |iscale| * max|x - min| < 4e6 (< 2^22 with margin; degenerate lanes, whose
    /// results are discarded, are exempt); a pass that fails the check uses the integer form.
    @inline(__always)
    static func makeQKXFloat(
        n: Int, nmax: Int32, x: UnsafePointer<F8>, w: UnsafePointer<F8>,
        L: UnsafeMutablePointer<I8>, Laux: UnsafeMutablePointer<F8>,
        rmin: Float, rdelta: Float, nstep: Int, useMad: Bool, variant3: Bool
    ) -> (scale: F8, theMin: F8) {
        var min = x[0], max = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            min.replace(with: x[i], where: x[i] .< min)
            max.replace(with: x[i], where: x[i] .> max)
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        let xmin = min
        let zero = F8(repeating: 0)
        min.replace(with: zero, where: min .> zero)
        let min0 = min
        let degenerate = variant3 ? (max .<= min) : (max .== min)
        if allLanes(degenerate) {
            for i in 0..<n { L[i] = I8(repeating: 0) }
            return (zero, negate(min))
        }
        let magic = F8(repeating: 12582912.0)
        let fnmax = F8(repeating: Float(nmax))
        let hi = Float(nmax)
        let limit = F8(repeating: 4_000_000)
        @inline(__always) func safe(_ iscale: F8, _ min: F8) -> Bool {
            var dev = abs(max - min)
            let d2 = abs(xmin - min)
            dev.replace(with: d2, where: d2 .> dev)
            let b = (abs(iscale) * dev).replacing(with: zero, where: degenerate)
            return allLanes(b .< limit)
        }
        @inline(__always) func level(_ v: F8, _ fast: Bool) -> F8 {
            fast ? clampF((v + magic) - magic, 0, hi) : floatSigned(clamp(nearestInt(v), 0, nmax))
        }
        var iscale = fnmax / (max - min)
        var scale = F8(repeating: 1) / iscale
        var bestError = zero
        var fast = safe(iscale, min)
        for i in 0..<n {
            let fl = level(iscale * (x[i] - min), fast)
            L[i] = intLevel(fl)
            var diff = scale * fl + min - x[i]
            diff = useMad ? abs(diff) : diff * diff
            bestError += w[i] * diff
        }
        for step in 0...nstep {
            iscale = (F8(repeating: rmin + rdelta * Float(step)) + fnmax) / (max - min)
            fast = safe(iscale, min)
            var sumL = zero, sumL2 = zero, sumXL = zero
            for i in 0..<n {
                let fl = level(iscale * (x[i] - min), fast)
                Laux[i] = fl
                let wl = w[i] * fl
                sumL += wl
                sumL2 += wl * fl
                sumXL += wl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            let valid = D .> zero
            if !anyLane(valid) { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            let positive = thisMin .> zero
            thisMin.replace(with: zero, where: positive)
            thisScale.replace(with: sumXL / sumL2, where: positive)
            var err = zero
            for i in 0..<n {
                var diff = thisScale * Laux[i] + thisMin - x[i]
                diff = useMad ? abs(diff) : diff * diff
                err += w[i] * diff
            }
            let better = valid .& (err .< bestError)
            if anyLane(better) {
                for i in 0..<n { L[i].replace(with: intLevel(Laux[i]), where: better) }
                bestError.replace(with: err, where: better)
                scale.replace(with: thisScale, where: better)
                min.replace(with: thisMin, where: better)
            }
        }
        if anyLane(degenerate) {
            for i in 0..<n { L[i].replace(with: 0, where: degenerate) }
            scale.replace(with: zero, where: degenerate)
            min.replace(with: min0, where: degenerate)
        }
        return (scale, negate(min))
    }
}
