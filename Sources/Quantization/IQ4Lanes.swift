/// The IQ4 scale search (`quantize_row_iq4_nl_impl`'s per-32 loop with ntry = 7) for eight
/// sub-blocks at once, one per SIMD lane, with the same per-lane operation sequence as ggml.
enum IQ4Lanes {
    /// The code point ggml's best_index_int8 would pick for each lane of x (as a Float).
    /// Values are sorted, so the binary search's answer is the largest code point <= x or the
    /// next one, whichever is closer (ties to the upper); a compare chain finds both.
    @inline(__always)
    static func nearestValue(_ x: F8) -> F8 {
        var lo = F8(repeating: Float(IQ4.value(0)))
        var hi = F8(repeating: Float(IQ4.value(1)))
        for k in 1..<16 {
            let v = F8(repeating: Float(IQ4.value(k)))
            let next = F8(repeating: Float(IQ4.value(Swift.min(k + 1, 15))))
            let below = v .<= x
            lo.replace(with: v, where: below)
            hi.replace(with: next, where: below)
        }
        // x at or below the first code point: the scalar code returns index 0 (lo is then
        // still the first code point); otherwise the closer neighbour, ties to the upper one.
        let pickLow = (x - lo .< hi - x) .| (x .<= F8(repeating: Float(IQ4.value(0))))
        return hi.replacing(with: lo, where: pickLow)
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
        let v0 = Float(IQ4.value(0))
        var d = -max / F8(repeating: v0)
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
            if any(better) {
                d.replace(with: sumqx / sumq2, where: better)
                best.replace(with: d * sumqx, where: better)
            }
        }
        return d.replacing(with: 0, where: amax .< F8(repeating: Numerics.groupMaxEps))
    }
}
