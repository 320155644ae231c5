/// The IQ4 scale search (`quantize_row_iq4_nl_impl`'s per-32 loop with ntry = 7) for eight
/// sub-blocks at once, one per SIMD lane, with the same per-lane operation sequence as ggml.
enum IQ4Lanes {
    /// The code point (and its index) that ggml's best_index_int8 picks for each lane of x.
    /// Code points are sorted, so the binary search's answer is the largest one <= x or the
    /// next one, whichever is closer (ties to the upper). An unrolled compare chain with
    /// literal code points finds both neighbours and counts the index.
    @inline(__always)
    static func nearest(_ x: F8) -> (value: F8, index: I8) {
        var lo = F8(repeating: -127), hi = F8(repeating: -104)
        var count = I8(repeating: 0)
        var b: SIMDMask<I8>
        b = F8(repeating: -104) .<= x; lo.replace(with: -104, where: b); hi.replace(with: -83, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: -83) .<= x; lo.replace(with: -83, where: b); hi.replace(with: -65, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: -65) .<= x; lo.replace(with: -65, where: b); hi.replace(with: -49, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: -49) .<= x; lo.replace(with: -49, where: b); hi.replace(with: -35, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: -35) .<= x; lo.replace(with: -35, where: b); hi.replace(with: -22, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: -22) .<= x; lo.replace(with: -22, where: b); hi.replace(with: -10, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: -10) .<= x; lo.replace(with: -10, where: b); hi.replace(with: 1, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 1) .<= x; lo.replace(with: 1, where: b); hi.replace(with: 13, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 13) .<= x; lo.replace(with: 13, where: b); hi.replace(with: 25, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 25) .<= x; lo.replace(with: 25, where: b); hi.replace(with: 38, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 38) .<= x; lo.replace(with: 38, where: b); hi.replace(with: 53, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 53) .<= x; lo.replace(with: 53, where: b); hi.replace(with: 69, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 69) .<= x; lo.replace(with: 69, where: b); hi.replace(with: 89, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 89) .<= x; lo.replace(with: 89, where: b); hi.replace(with: 113, where: b); count.replace(with: count &+ 1, where: b)
        b = F8(repeating: 113) .<= x; lo.replace(with: 113, where: b); hi.replace(with: 113, where: b); count.replace(with: count &+ 1, where: b)
        // At or below the first code point the scalar code returns index 0 (lo is still it).
        let pickLow = (x - lo .< hi - x) .| (x .<= F8(repeating: -127))
        var value = hi.replacing(with: lo, where: pickLow)
        var index = Lanes.minimum(count &+ I8(repeating: 1).replacing(with: 0, where: pickLow), I8(repeating: 15))
        // A NaN falls through every comparison of the binary search to the last index.
        let nan = x .!= x
        value.replace(with: 113, where: nan)
        index.replace(with: 15, where: nan)
        return (value, index)
    }

    /// The code point best_index_int8 picks, without the index (the hot loop of the search).
    /// The "v <= x" masks are monotone in the code point, so the lower neighbour is the first
    /// code point plus the masked gaps (small integers: every sum is exact) and likewise the
    /// upper one; then the same closer-neighbour test as ggml.
    @inline(__always)
    static func nearestValue(_ x: F8) -> F8 {
        var b: SIMD8<UInt32>
        var dlo = F8(repeating: 0), dhi = F8(repeating: 0)
        b = unsafeBitCast(F8(repeating: -104) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41b80000, to: F8.self)  // +23
        dhi += unsafeBitCast(b & 0x41a80000, to: F8.self)  // +21
        b = unsafeBitCast(F8(repeating: -83) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41a80000, to: F8.self)  // +21
        dhi += unsafeBitCast(b & 0x41900000, to: F8.self)  // +18
        b = unsafeBitCast(F8(repeating: -65) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41900000, to: F8.self)  // +18
        dhi += unsafeBitCast(b & 0x41800000, to: F8.self)  // +16
        b = unsafeBitCast(F8(repeating: -49) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41800000, to: F8.self)  // +16
        dhi += unsafeBitCast(b & 0x41600000, to: F8.self)  // +14
        b = unsafeBitCast(F8(repeating: -35) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41600000, to: F8.self)  // +14
        dhi += unsafeBitCast(b & 0x41500000, to: F8.self)  // +13
        b = unsafeBitCast(F8(repeating: -22) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41500000, to: F8.self)  // +13
        dhi += unsafeBitCast(b & 0x41400000, to: F8.self)  // +12
        b = unsafeBitCast(F8(repeating: -10) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41400000, to: F8.self)  // +12
        dhi += unsafeBitCast(b & 0x41300000, to: F8.self)  // +11
        b = unsafeBitCast(F8(repeating: 1) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41300000, to: F8.self)  // +11
        dhi += unsafeBitCast(b & 0x41400000, to: F8.self)  // +12
        b = unsafeBitCast(F8(repeating: 13) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41400000, to: F8.self)  // +12
        dhi += unsafeBitCast(b & 0x41400000, to: F8.self)  // +12
        b = unsafeBitCast(F8(repeating: 25) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41400000, to: F8.self)  // +12
        dhi += unsafeBitCast(b & 0x41500000, to: F8.self)  // +13
        b = unsafeBitCast(F8(repeating: 38) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41500000, to: F8.self)  // +13
        dhi += unsafeBitCast(b & 0x41700000, to: F8.self)  // +15
        b = unsafeBitCast(F8(repeating: 53) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41700000, to: F8.self)  // +15
        dhi += unsafeBitCast(b & 0x41800000, to: F8.self)  // +16
        b = unsafeBitCast(F8(repeating: 69) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41800000, to: F8.self)  // +16
        dhi += unsafeBitCast(b & 0x41a00000, to: F8.self)  // +20
        b = unsafeBitCast(F8(repeating: 89) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41a00000, to: F8.self)  // +20
        dhi += unsafeBitCast(b & 0x41c00000, to: F8.self)  // +24
        b = unsafeBitCast(F8(repeating: 113) .<= x, to: SIMD8<UInt32>.self)
        dlo += unsafeBitCast(b & 0x41c00000, to: F8.self)  // +24
        let lo = F8(repeating: -127) + dlo, hi = F8(repeating: -104) + dhi
        let pickLow = (x - lo .< hi - x) .| (x .<= F8(repeating: -127))
        var value = hi.replacing(with: lo, where: pickLow)
        value.replace(with: 113, where: x .!= x)
        return value
    }

    /// Per-lane scale d of `values` fitted to x with weights w (32 elements per lane);
    /// lanes whose absmax is below GROUP_MAX_EPS get 0.
    @inline(__always)
    static func search(x: UnsafePointer<F8>, w: UnsafePointer<F8>) -> F8 {
        let zero = F8(repeating: 0)
        var amax = zero, max = zero
        for j in 0..<32 {
            let ax = Lanes.abs(x[j])
            let bigger = ax .> amax
            amax.replace(with: ax, where: bigger)
            max.replace(with: x[j], where: bigger)
        }
        if Lanes.allLanes(amax .< F8(repeating: Numerics.groupMaxEps)) { return zero }
        let v0 = Float(IQ4.value(0))
        var d = Lanes.negate(max) / F8(repeating: v0)
        var id = F8(repeating: 1) / d
        var sumqx = zero, sumq2 = zero
        for j in 0..<32 {
            let q = nearestValue(id * x[j])
            let wq = w[j] * q
            sumqx += wq * x[j]
            sumq2 += wq * q
        }
        d = (sumqx / sumq2).replacing(with: 0, where: .!(sumq2 .> zero))
        var best = d * sumqx
        for itry in -7...7 {
            id = F8(repeating: Float(itry + Int(IQ4.value(0)))) / max
            sumqx = zero
            sumq2 = zero
            for j in 0..<32 {
                let q = nearestValue(id * x[j])
                let wq = w[j] * q
                sumqx += wq * x[j]
                sumq2 += wq * q
            }
            let better = (sumq2 .> zero) .& (sumqx * sumqx .> best * sumq2)
            if Lanes.anyLane(better) {
                d.replace(with: sumqx / sumq2, where: better)
                best.replace(with: d * sumqx, where: better)
            }
        }
        return d.replacing(with: 0, where: amax .< F8(repeating: Numerics.groupMaxEps))
    }
}
