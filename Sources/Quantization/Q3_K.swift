/// Q3_K: 256-weight super-blocks of 16 sub-blocks; 3-bit levels (2 low bits in qs, the high bit
/// in hmask), 6-bit signed sub-block scales packed into 12 bytes, one fp16 super-scale.
/// Layout: hmask[32] qs[64] scales[12] d = 110 bytes.
enum Q3_K {
    static let blockBytes = 110

    static func quantize(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256 + 16) { lb in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 3) { fb in
                let L = lb.baseAddress!, Ls = L + 256
                let scales = fb.baseAddress!, weight = scales + 16, sw = weight + 16
                for ib in 0..<(count / 256) {
                    let xb = x + ib * 256
                    let yb = y + ib * blockBytes
                    let s = yb + 96
                    s.zero(0, 12)
                    if let qw {
                        // imatrix path (quantize_row_q3_K_impl)
                        var sumX2: Float = 0
                        for j in 0..<256 { sumX2 += xb[j] * xb[j] }
                        let sigma2 = 2 * sumX2 / 256
                        for j in 0..<16 {
                            let xs = xb + 16 * j, ws = qw + 256 * ib + 16 * j
                            for l in 0..<16 { weight[l] = ws[l] * Numerics.sqrtf(sigma2 + xs[l] * xs[l]) }
                            var sumw: Float = 0
                            for l in 0..<16 { sumw += weight[l] }
                            sw[j] = sumw
                            scales[j] = ScaleSearch.makeQX(n: 16, nmax: 4, x: xs, L: L + 16 * j, weights: weight)
                        }
                        let dBlock = ScaleSearch.makeQX(n: 16, nmax: 32, x: scales, L: Ls, weights: sw)
                        for j in 0..<16 { packScale(j, Int32(Ls[j]), s) }
                        yb.storeU16(FP16.fromFloat(dBlock), at: 108)
                    } else {
                        // reference path (quantize_row_q3_K_ref)
                        var maxScale: Float = 0, amax: Float = 0
                        for j in 0..<16 {
                            scales[j] = ScaleSearch.makeQ3(n: 16, nmax: 4, x: xb + 16 * j, L: L + 16 * j)
                            let a = abs(scales[j])
                            if a > amax { amax = a; maxScale = scales[j] }
                        }
                        if maxScale != 0 {
                            let iscale = -32 / maxScale
                            for j in 0..<16 {
                                // C keeps this in an int8_t before clamping.
                                let l8 = Int32(Int8(truncatingIfNeeded: Numerics.nearestInt(iscale * scales[j])))
                                packScale(j, Swift.max(-32, Swift.min(31, l8)) + 32, s)
                            }
                            yb.storeU16(FP16.fromFloat(1 / iscale), at: 108)
                        } else {
                            yb.storeU16(FP16.fromFloat(0), at: 108)
                        }
                    }
                    let dAll = UnsafeRawPointer(yb).half(108)
                    for j in 0..<16 {
                        let d = dAll * Float(scale(j, UnsafeRawPointer(s)))
                        if d == 0 { continue }
                        for i in 0..<16 {
                            let l = Swift.max(-4, Swift.min(3, Numerics.nearestInt(xb[16 * j + i] / d)))
                            L[16 * j + i] = Int8(truncatingIfNeeded: l + 4)
                        }
                    }
                    // High bit of level j goes to hmask[j % 32], bit j / 32.
                    yb.zero(0, 32)
                    for j in 0..<256 where L[j] > 3 {
                        yb.orU8(UInt8(1) << UInt8(j / 32), at: j % 32)
                        L[j] -= 4
                    }
                    let lu = UnsafeRawPointer(L)
                    for h in 0..<2 {
                        let j = h * 128
                        for l in 0..<32 {
                            let v = lu.u8(j + l) | (lu.u8(j + l + 32) << 2) | (lu.u8(j + l + 64) << 4)
                                | (lu.u8(j + l + 96) << 6)
                            yb.storeU8(v, at: 32 + h * 32 + l)
                        }
                    }
                }
            }
        }
    }

    /// Stores the 6-bit biased scale `l` (0...63) of sub-block j: low nibbles in bytes 0-7,
    /// the two high bits in bytes 8-11.
    @inline(__always)
    private static func packScale(_ j: Int, _ l: Int32, _ s: UnsafeMutableRawPointer) {
        let low = UInt8(truncatingIfNeeded: l & 0xF)
        if j < 8 {
            s.storeU8(low, at: j)
        } else {
            s.orU8(low << 4, at: j - 8)
        }
        s.orU8(UInt8(truncatingIfNeeded: (l >> 4) << (2 * (j / 4))), at: j % 4 + 8)
    }

    /// The signed scale of sub-block j (-32...31).
    @inline(__always)
    static func scale(_ j: Int, _ s: UnsafeRawPointer) -> Int32 {
        let low = j < 8 ? s.u8(j) & 0xF : s.u8(j - 8) >> 4
        let high = (s.u8(8 + j % 4) >> UInt8(2 * (j / 4))) & 3
        return Int32(Int8(bitPattern: low | (high << 4))) - 32
    }

    static func dequantize(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 256) {
            let yb = y + ib * blockBytes
            let dAll = yb.half(108)
            var out = x + ib * 256
            var m: UInt8 = 1
            var isc = 0
            for h in 0..<2 {
                let q = 32 + h * 32
                var shift: UInt8 = 0
                for _ in 0..<4 {
                    for part in 0..<2 {
                        let dl = dAll * Float(scale(isc, yb + 96))
                        isc += 1
                        for l in 0..<16 {
                            let idx = l + 16 * part
                            let lo = Int32((yb.u8(q + idx) >> shift) & 3)
                            let hi: Int32 = yb.u8(idx) & m != 0 ? 0 : 4
                            out[l] = dl * Float(lo - hi)
                        }
                        out += 16
                    }
                    shift += 2
                    m <<= 1
                }
            }
        }
    }
}
