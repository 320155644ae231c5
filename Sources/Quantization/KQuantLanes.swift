/// SIMD versions of the k-quant scale searches that run eight sub-blocks at once, one per lane.
///
/// Bit-identity argument: every lane executes exactly the scalar algorithm's sequence of IEEE
/// single-precision operations on its own sub-block (the same serial sums in the same order,
/// no FMA, no cross-lane reduction); data-dependent branches of the scalar code become per-lane
/// selects, and lanes that would have returned early just have their results overwritten at
/// the end. Data is transposed: `x[i]` holds element i of sub-blocks 0...7.
typealias F8 = SIMD8<Float>
typealias I8 = SIMD8<Int32>

enum Lanes {
    @inline(__always)
    static func nearestInt(_ f: F8) -> I8 {
        let v = f + F8(repeating: 12582912.0)
        let i = unsafeBitCast(v, to: I8.self)
        return (i & 0x007f_ffff) &- 0x0040_0000
    }

    /// Exact Int32 -> Float for 0 <= i < 2^23 (all clamped levels): put i in the mantissa of
    /// 2^23 and subtract 2^23. Vectorizes, unlike a per-lane conversion.
    @inline(__always)
    static func float(_ i: I8) -> F8 {
        unsafeBitCast(i | 0x4B00_0000, to: F8.self) - F8(repeating: 8388608.0)
    }

    @inline(__always)
    static func abs(_ f: F8) -> F8 {
        unsafeBitCast(unsafeBitCast(f, to: SIMD8<UInt32>.self) & 0x7fff_ffff, to: F8.self)
    }

    /// Lane-wise IEEE square root. (SIMD8's squareRoot() compiles to eight calls into libm;
    /// Float.squareRoot() is the sqrtss instruction. Both are correctly rounded.)
    @inline(__always)
    static func sqrt(_ v: F8) -> F8 {
        F8(v[0].squareRoot(), v[1].squareRoot(), v[2].squareRoot(), v[3].squareRoot(),
           v[4].squareRoot(), v[5].squareRoot(), v[6].squareRoot(), v[7].squareRoot())
    }

    /// Whether any lane of the mask is set. (The stdlib's Lanes.anyLane()/Lanes.allLanes() reduce through an
    /// out-of-line SIMD.min() call; this OR/AND-folds the halves inline.)
    @inline(__always)
    static func anyLane(_ m: SIMDMask<I8>) -> Bool {
        let v = unsafeBitCast(m, to: I8.self)
        let a = v.lowHalf | v.highHalf
        let b = a.lowHalf | a.highHalf
        return (b[0] | b[1]) != 0
    }

    @inline(__always)
    static func allLanes(_ m: SIMDMask<I8>) -> Bool {
        let v = unsafeBitCast(m, to: I8.self)
        let a = v.lowHalf & v.highHalf
        let b = a.lowHalf & a.highHalf
        return (b[0] & b[1]) == -1
    }

    /// Per lane `a > b ? a : b` (b when either is NaN): one maxps per half. Written lane by
    /// lane because LLVM matches that to maxps, while `replacing(with:where:)` becomes a
    /// compare and a three-instruction blend (SSE2 has no blendvps) and `pointwiseMax` a call.
    @inline(__always)
    static func maxF(_ a: F8, _ b: F8) -> F8 {
        var r = a
        for k in 0..<8 { r[k] = a[k] > b[k] ? a[k] : b[k] }
        return r
    }

    /// Per lane `a < b ? a : b` (b when either is NaN): minps.
    @inline(__always)
    static func minF(_ a: F8, _ b: F8) -> F8 {
        var r = a
        for k in 0..<8 { r[k] = a[k] < b[k] ? a[k] : b[k] }
        return r
    }

    /// Largest lane (lanes must not be NaN); inlined, unlike SIMD.max().
    @inline(__always)
    static func hmax(_ v: F8) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        return b[1] > b[0] ? b[1] : b[0]
    }

    /// Smallest lane (lanes must not be NaN).
    @inline(__always)
    static func hmin(_ v: F8) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .< v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .< a.lowHalf)
        return b[1] < b[0] ? b[1] : b[0]
    }

    /// IEEE negation (flips the sign bit). The SIMD prefix minus computes 0 - x, which turns
    /// -0 into +0 where C's unary minus gives -0; a stored fp16 zero would then differ.
    @inline(__always)
    static func negate(_ f: F8) -> F8 {
        unsafeBitCast(unsafeBitCast(f, to: SIMD8<UInt32>.self) ^ 0x8000_0000, to: F8.self)
    }

    @inline(__always)
    static func clamp(_ l: I8, _ lo: Int32, _ hi: Int32) -> I8 {
        // (The stdlib's pointwiseMin/Max are not inlined for SIMD8<Int32>; selects are.)
        let top = I8(repeating: hi), bottom = I8(repeating: lo)
        let upper = l.replacing(with: top, where: l .> top)
        return upper.replacing(with: bottom, where: upper .< bottom)
    }

    @inline(__always)
    static func minimum(_ l: I8, _ hi: I8) -> I8 { l.replacing(with: hi, where: l .> hi) }

    /// `make_qkx2_quants` (variant3 false) / `make_qkx3_quants` with weights (variant3 true),
    /// for eight sub-blocks of n elements. Returns the scales and `the_min` values; L receives
    /// the levels (as Int32 lanes).
    @inline(__always)
    static func makeQKX(
        n: Int, nmax: Int32, x: UnsafePointer<F8>, w: UnsafePointer<F8>,
        L: UnsafeMutablePointer<I8>, Laux: UnsafeMutablePointer<I8>,
        rmin: Float, rdelta: Float, nstep: Int, useMad: Bool, variant3: Bool
    ) -> (scale: F8, theMin: F8) {
        if n <= 32, allFinite(x, n), allFinite(w, n) {
            return withUnsafeTemporaryAllocation(of: F8.self, capacity: 32) { aux in
                makeQKXFloat(
                    n: n, nmax: nmax, x: x, w: w, L: L, Laux: aux.baseAddress!, rmin: rmin, rdelta: rdelta,
                    nstep: nstep, useMad: useMad, variant3: variant3)
            }
        }
        var min = x[0], max = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            min.replace(with: x[i], where: x[i] .< min)
            max.replace(with: x[i], where: x[i] .> max)
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        let zero = F8(repeating: 0)
        min.replace(with: zero, where: min .> zero)
        let min0 = min
        let degenerate = variant3 ? (max .<= min) : (max .== min)
        if allLanes(degenerate) {
            // Every sub-block is constant (typically zero padding): ggml returns at once.
            for i in 0..<n { L[i] = I8(repeating: 0) }
            return (zero, negate(min))
        }
        let fnmax = F8(repeating: Float(nmax))
        var iscale = fnmax / (max - min)
        var scale = F8(repeating: 1) / iscale
        var bestError = zero
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * (x[i] - min)), 0, nmax)
            L[i] = l
            var diff = scale * float(l) + min - x[i]
            diff = useMad ? abs(diff) : diff * diff
            bestError += w[i] * diff
        }
        for step in 0...nstep {
            // min moves when a step wins, so the range is recomputed each step (as ggml does).
            iscale = (F8(repeating: rmin + rdelta * Float(step)) + fnmax) / (max - min)
            var sumL = zero, sumL2 = zero, sumXL = zero
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * (x[i] - min)), 0, nmax)
                Laux[i] = l
                let fl = float(l)
                let wl = w[i] * fl
                sumL += wl
                sumL2 += wl * fl
                sumXL += wl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            let valid = D .> zero
            if !Lanes.anyLane(valid) { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            let positive = thisMin .> zero
            thisMin.replace(with: zero, where: positive)
            thisScale.replace(with: sumXL / sumL2, where: positive)
            var err = zero
            for i in 0..<n {
                var diff = thisScale * float(Laux[i]) + thisMin - x[i]
                diff = useMad ? abs(diff) : diff * diff
                err += w[i] * diff
            }
            let better = valid .& (err .< bestError)
            if Lanes.anyLane(better) {
                for i in 0..<n { L[i].replace(with: Laux[i], where: better) }
                bestError.replace(with: err, where: better)
                scale.replace(with: thisScale, where: better)
                min.replace(with: thisMin, where: better)
            }
        }
        if Lanes.anyLane(degenerate) {
            for i in 0..<n { L[i].replace(with: 0, where: degenerate) }
            scale.replace(with: zero, where: degenerate)
            min.replace(with: min0, where: degenerate)
        }
        return (scale, negate(min))
    }
}

extension Lanes {
    /// Exact Int32 -> Float for |i| < 2^22 (the signed levels of make_qx_quants).
    @inline(__always)
    static func floatSigned(_ i: I8) -> F8 {
        unsafeBitCast(I8(repeating: 0x4B40_0000) &+ i, to: F8.self) - F8(repeating: 12582912.0)
    }

    /// `make_qx_quants` (rmse_type 1) for eight sub-blocks of n elements with weights `w`
    /// (pass x^2 for the unweighted variant). L receives the biased levels l + nmax.
    @inline(__always)
    static func makeQX(
        n: Int, nmax: Int32, x: UnsafePointer<F8>, w: UnsafePointer<F8>, L: UnsafeMutablePointer<I8>
    ) -> F8 {
        if n <= 32, allFinite(x, n) {
            return withUnsafeTemporaryAllocation(of: F8.self, capacity: 32) { wx in
                makeQXFloat(n: n, nmax: nmax, x: x, w: w, L: L, wx: wx.baseAddress!)
            }
        }
        let zero = F8(repeating: 0)
        var max = zero, amax = zero
        for i in 0..<n {
            let ax = abs(x[i])
            let bigger = ax .> amax
            amax.replace(with: ax, where: bigger)
            max.replace(with: x[i], where: bigger)
        }
        let degenerate = amax .< F8(repeating: Numerics.groupMaxEps)
        if allLanes(degenerate) {
            for i in 0..<n { L[i] = I8(repeating: 0) }
            return zero
        }
        let fnmax = F8(repeating: Float(nmax))
        let bias = I8(repeating: nmax)
        var iscale = negate(fnmax) / max
        var sumlx = zero, suml2 = zero
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L[i] = l &+ bias
            let fl = floatSigned(l)
            sumlx += w[i] * x[i] * fl
            suml2 += w[i] * fl * fl
        }
        var scale = (sumlx / suml2).replacing(with: 0, where: suml2 .== zero)
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = negate(fnmax + F8(repeating: 0.1 * Float(step))) / max
            sumlx = zero
            suml2 = zero
            for i in 0..<n {
                let fl = floatSigned(clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1))
                sumlx += w[i] * x[i] * fl
                suml2 += w[i] * fl * fl
            }
            let better = (suml2 .> zero) .& (sumlx * sumlx .> best * suml2)
            if Lanes.anyLane(better) {
                for i in 0..<n {
                    L[i].replace(with: clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1) &+ bias, where: better)
                }
                scale.replace(with: sumlx / suml2, where: better)
                best.replace(with: scale * sumlx, where: better)
            }
        }
        if Lanes.anyLane(degenerate) {
            for i in 0..<n { L[i].replace(with: 0, where: degenerate) }
            scale.replace(with: zero, where: degenerate)
        }
        return scale
    }

    /// Gathers element i of eight consecutive sub-blocks of `stride` values.
    @inline(__always)
    static func gather(_ p: UnsafePointer<Float>, _ i: Int, stride: Int) -> F8 {
        F8(p[i], p[stride + i], p[2 * stride + i], p[3 * stride + i],
           p[4 * stride + i], p[5 * stride + i], p[6 * stride + i], p[7 * stride + i])
    }
}
