/// The scale searches shared by the k-quants and the imatrix paths of the legacy types.
///
/// Each one is ggml's algorithm (`make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`,
/// `make_qkx3_quants`, `make_qp_quants`) with the same operation order: the sums are long
/// serial float reductions, and any reordering would change the chosen scale on some inputs.
/// Products are written left to right as in C (`w*x*l` is `(w*x)*l`).
enum ScaleSearch {
    /// Symmetric scale search (`make_qx_quants` with rmse_type 1, the only mode ggml uses):
    /// levels L in [0, 2*nmax), weighted least squares scale, trying 18 nudged inverse scales.
    /// `weights` nil means w = x^2.
    @inline(__always)
    static func makeQX(
        n: Int, nmax: Int32, x: UnsafePointer<Float>, L: UnsafeMutablePointer<Int8>,
        weights: UnsafePointer<Float>?
    ) -> Float {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; max = x[i] }
        }
        if amax < Numerics.groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fnmax = Float(nmax)
        var iscale = -fnmax / max
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = Swift.max(-nmax, Swift.min(nmax - 1, Numerics.nearestInt(iscale * x[i])))
            L[i] = Int8(truncatingIfNeeded: l + nmax)
            let w = weights?[i] ?? x[i] * x[i]
            let fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = -(fnmax + 0.1 * Float(step)) / max
            sumlx = 0
            suml2 = 0
            for i in 0..<n {
                let l = Swift.max(-nmax, Swift.min(nmax - 1, Numerics.nearestInt(iscale * x[i])))
                let w = weights?[i] ?? x[i] * x[i]
                let fl = Float(l)
                sumlx += w * x[i] * fl
                suml2 += w * fl * fl
            }
            if suml2 > 0 && sumlx * sumlx > best * suml2 {
                for i in 0..<n {
                    let l = Swift.max(-nmax, Swift.min(nmax - 1, Numerics.nearestInt(iscale * x[i])))
                    L[i] = Int8(truncatingIfNeeded: nmax + l)
                }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// Q3_K's reference search (`make_q3_quants` with do_rmse): start from the absmax scale,
    /// then coordinate descent on single levels for up to 5 sweeps, weights x^2.
    @inline(__always)
    static func makeQ3(n: Int, nmax: Int32, x: UnsafePointer<Float>, L: UnsafeMutablePointer<Int8>) -> Float {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; max = x[i] }
        }
        if amax < Numerics.groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let iscale = -Float(nmax) / max
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = Swift.max(-nmax, Swift.min(nmax - 1, Numerics.nearestInt(iscale * x[i])))
            L[i] = Int8(truncatingIfNeeded: l)
            let w = x[i] * x[i]
            let fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i]
                let li = Float(L[i])
                var slx = sumlx - w * x[i] * li
                if slx > 0 {
                    var sl2 = suml2 - w * li * li
                    var newL = Numerics.nearestInt(x[i] * sl2 / slx)
                    newL = Swift.max(-nmax, Swift.min(nmax - 1, newL))
                    if newL != Int32(L[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            L[i] = Int8(truncatingIfNeeded: newL)
                            sumlx = slx
                            suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[i] = L[i] &+ Int8(truncatingIfNeeded: nmax) }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// Asymmetric (scale + min) search used by the reference Q2_K/Q4_K/Q5_K
    /// (`make_qkx2_quants`, weights required) and by every imatrix path (`make_qkx3_quants`,
    /// weights nil meaning x^2). The two differ only in the degenerate-range test.
    @inline(__always)
    static func makeQKX(
        n: Int, nmax: Int32, x: UnsafePointer<Float>, weights: UnsafePointer<Float>?,
        L: UnsafeMutablePointer<UInt8>, theMin: inout Float, Laux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int, useMad: Bool, variant3: Bool
    ) -> Float {
        var min = x[0], max = x[0]
        var sumW = weights?[0] ?? x[0] * x[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < min { min = x[i] }
            if x[i] > max { max = x[i] }
            let w = weights?[i] ?? x[i] * x[i]
            sumW += w
            sumX += w * x[i]
        }
        if min > 0 { min = 0 }
        if variant3 ? max <= min : max == min {
            for i in 0..<n { L[i] = 0 }
            theMin = -min
            return 0
        }
        let fnmax = Float(nmax)
        var iscale = fnmax / (max - min)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = Numerics.nearestInt(iscale * (x[i] - min))
            L[i] = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(nmax, l)))
            var diff = scale * Float(L[i]) + min - x[i]
            diff = useMad ? abs(diff) : diff * diff
            let w = weights?[i] ?? x[i] * x[i]
            bestError += w * diff
        }
        if nstep < 1 {
            theMin = -min
            return scale
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + fnmax) / (max - min)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = Swift.max(0, Swift.min(nmax, Numerics.nearestInt(iscale * (x[i] - min))))
                Laux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights?[i] ?? x[i] * x[i]
                let fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var err: Float = 0
                for i in 0..<n {
                    var diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                    diff = useMad ? abs(diff) : diff * diff
                    let w = weights?[i] ?? x[i] * x[i]
                    err += w * diff
                }
                if err < bestError {
                    for i in 0..<n { L[i] = Laux[i] }
                    bestError = err
                    scale = thisScale
                    min = thisMin
                }
            }
        }
        theMin = -min
        return scale
    }

    @inline(__always)
    static func makeQKX3(
        n: Int, nmax: Int32, x: UnsafePointer<Float>, weights: UnsafePointer<Float>?,
        L: UnsafeMutablePointer<UInt8>, theMin: inout Float, Laux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int, useMad: Bool
    ) -> Float {
        makeQKX(
            n: n, nmax: nmax, x: x, weights: weights, L: L, theMin: &theMin, Laux: Laux,
            rmin: rmin, rdelta: rdelta, nstep: nstep, useMad: useMad, variant3: true)
    }

    @inline(__always)
    static func makeQKX2(
        n: Int, nmax: Int32, x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        L: UnsafeMutablePointer<UInt8>, theMin: inout Float, Laux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int, useMad: Bool
    ) -> Float {
        makeQKX(
            n: n, nmax: nmax, x: x, weights: weights, L: L, theMin: &theMin, Laux: Laux,
            rmin: rmin, rdelta: rdelta, nstep: nstep, useMad: useMad, variant3: false)
    }

    /// Quantizes a vector of non-negative sub-block scales (or mins) to [0, nmax] with weights
    /// (`make_qp_quants`, used by the imatrix k-quant paths). L holds C's uint8_t truncation.
    @inline(__always)
    static func makeQP(
        n: Int, nmax: Int32, x: UnsafePointer<Float>, L: UnsafeMutablePointer<UInt8>,
        weights qw: UnsafePointer<Float>
    ) -> Float {
        var max: Float = 0
        for i in 0..<n { max = max > x[i] ? max : x[i] }
        if max < Numerics.groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fnmax = Float(nmax)
        var iscale = fnmax / max
        for i in 0..<n { L[i] = UInt8(truncatingIfNeeded: Numerics.nearestInt(iscale * x[i])) }
        let scale = 1 / iscale
        var bestMSE: Float = 0
        for i in 0..<n {
            let diff = x[i] - scale * Float(L[i])
            bestMSE += qw[i] * diff * diff
        }
        // The eight trial scales (steps -4...4 without 0) side by side, one lane each: every lane
        // computes its trial's error with the scalar operations in the scalar order, so the errors
        // are the scalar ones bit for bit; the best is then taken in step order, first on ties.
        let steps = F8(-4, -3, -2, -1, 1, 2, 3, 4)
        let iscales = (F8(repeating: 0.1) * steps + F8(repeating: fnmax)) / F8(repeating: max)
        let scales = F8(repeating: 1) / iscales
        let top = I8(repeating: nmax)
        var mses = F8(repeating: 0)
        for i in 0..<n {
            let xi = F8(repeating: x[i])
            var l = Lanes.nearestInt(iscales * xi)
            l = l.replacing(with: top, where: l .> top)
            let diff = xi - scales * Lanes.floatSigned(l)
            mses += F8(repeating: qw[i]) * diff * diff
        }
        for lane in 0..<8 where mses[lane] < bestMSE {
            bestMSE = mses[lane]
            iscale = iscales[lane]
        }
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0..<n {
            let l = Swift.min(nmax, Numerics.nearestInt(iscale * x[i]))
            L[i] = UInt8(truncatingIfNeeded: l)
            let fl = Float(l)
            sumlx += qw[i] * x[i] * fl
            suml2 += qw[i] * fl * fl
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = qw[i]
                let li = Float(L[i])
                var slx = sumlx - w * x[i] * li
                var sl2 = suml2 - w * li * li
                if slx > 0 && sl2 > 0 {
                    let newL = Swift.min(nmax, Numerics.nearestInt(x[i] * sl2 / slx))
                    if newL != Int32(L[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if slx * slx * suml2 > sumlx * sumlx * sl2 {
                            L[i] = UInt8(truncatingIfNeeded: newL)
                            sumlx = slx
                            suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        return suml2 > 0 ? sumlx / suml2 : 0
    }
}
