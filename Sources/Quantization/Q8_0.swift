/// Q8_0: blocks of 32 int8 values sharing one fp16 scale (absmax / 127). Importance weights are
/// ignored by ggml for this type, so there is a single path.
enum Q8_0 {
    static let blockBytes = 34

    static func quantize(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        let nb = count / 32
        // Eight blocks at a time: scales and inverse scales as vectors, so the two divisions
        // of each block overlap with the other blocks' (same IEEE operations per lane).
        var d8 = F8(), id8 = F8()
        for ib in 0..<nb {
            let xb = x + ib * 32
            let yb = y + ib * blockBytes
            let lane = ib & 7
            if lane == 0 {
                var amaxes = F8()
                for k in 0..<Swift.min(8, nb - ib) { amaxes[k] = absMax(x + 32 * (ib + k)) }
                d8 = amaxes / F8(repeating: 127)
                id8 = (1 / d8).replacing(with: 0, where: d8 .== 0)
            }
            let d = d8[lane], id = id8[lane]
            yb.storeU16(FP16.fromFloat(d), at: 0)
            // Fast path: |x*id| <= 127 (+rounding) whenever the block is finite and d normal;
            // checked, since a subnormal d makes id infinite.
            let p = UnsafeRawPointer(xb), vid = F8(repeating: id)
            let v0 = p.loadUnaligned(fromByteOffset: 0, as: F8.self) * vid
            let v1 = p.loadUnaligned(fromByteOffset: 32, as: F8.self) * vid
            let v2 = p.loadUnaligned(fromByteOffset: 64, as: F8.self) * vid
            let v3 = p.loadUnaligned(fromByteOffset: 96, as: F8.self) * vid
            let limit = F8(repeating: 128)
            if Lanes.allLanes((Lanes.abs(v0) .< limit) .& (Lanes.abs(v1) .< limit) .& (Lanes.abs(v2) .< limit)
                .& (Lanes.abs(v3) .< limit))
            {
                LegacyLanes.storeLowBytes(LegacyLanes.roundHalfAway(v0), yb, at: 2)
                LegacyLanes.storeLowBytes(LegacyLanes.roundHalfAway(v1), yb, at: 10)
                LegacyLanes.storeLowBytes(LegacyLanes.roundHalfAway(v2), yb, at: 18)
                LegacyLanes.storeLowBytes(LegacyLanes.roundHalfAway(v3), yb, at: 26)
                continue
            }
            for j in 0..<32 {
                yb.storeU8(Numerics.roundToByte(xb[j] * id), at: 2 + j)
            }
        }
    }

    /// ggml's `amax = MAX(amax, fabsf(v))` over a block.
    @inline(__always)
    private static func absMax(_ xb: UnsafePointer<Float>) -> Float {
        var amax = LegacyLanes.absMax32(xb)
        if amax.isNaN || xb[31].isNaN || LegacyLanes.hasNaN32(xb) {
            // C's MAX(amax, fabsf(v)) lets a NaN through only as the last value: scan.
            amax = 0
            for j in 0..<32 {
                let a = abs(xb[j])
                amax = amax > a ? amax : a
            }
        }
        return amax
    }

    static func dequantize(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 32) {
            let yb = y + ib * blockBytes
            let d = yb.half(0)
            for j in 0..<32 {
                x[ib * 32 + j] = Float(yb.i8(2 + j)) * d
            }
        }
    }
}
