/// Q4_K and Q5_K: 256-weight super-blocks of eight 32-weight sub-blocks, each with a 6-bit scale
/// and a 6-bit min packed into 12 bytes, under fp16 super-scales d and dmin.
///
/// Q4_K layout: d dmin scales[12] qs[128]                  = 144 bytes
/// Q5_K layout: d dmin scales[12] qh[32] qs[128]           = 176 bytes
public enum QK45 {
    static let scalesOffset = 4

    /// Writes sub-block j's 6-bit scale and min the way ggml interleaves them: sub-blocks 0-3
    /// use the low 6 bits of bytes 0-7, sub-blocks 4-7 put their low nibbles in bytes 8-11 and
    /// their top two bits in the spare high bits of bytes 0-7.
    @inline(__always)
    static func packScaleMin(_ j: Int, _ ls: UInt8, _ lm: UInt8, _ s: UnsafeMutableRawPointer) {
        if j < 4 {
            s.storeU8(ls, at: j)
            s.storeU8(lm, at: j + 4)
        } else {
            s.storeU8((ls & 0xF) | ((lm & 0xF) << 4), at: j + 4)
            s.orU8((ls >> 4) << 6, at: j - 4)
            s.orU8((lm >> 4) << 6, at: j)
        }
    }

    /// ggml's get_scale_min_k4 (public for the forward pass's integer matmul, which repacks blocks).
    @inline(__always)
    public static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        if j < 4 {
            return (q.u8(j) & 63, q.u8(j + 4) & 63)
        }
        let d = (q.u8(j + 4) & 0xF) | ((q.u8(j - 4) >> 6) << 4)
        let m = (q.u8(j + 4) >> 4) | ((q.u8(j) >> 6) << 4)
        return (d, m)
    }

    static func quantize(
        bits: Int, _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?,
        into y: UnsafeMutableRawPointer
    ) {
        let blockBytes = bits == 4 ? 144 : 176
        let nmax = Int32((1 << bits) - 1)
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 64) { lanesF in
        withUnsafeTemporaryAllocation(of: I8.self, capacity: 64) { lanesI in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 16) { lb in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * 3) { fb in
                let L = lb.baseAddress!, Ls = L + 256, Lm = L + 264
                let scales = fb.baseAddress!, mins = scales + 8, sw = mins + 8
                // Sub-block j of the super-block is lane j; xT[i] is element i of every sub-block.
                let xT = lanesF.baseAddress!, wT = xT + 32
                let LT = lanesI.baseAddress!, LauxT = LT + 32
                for ib in 0..<(count / 256) {
                    let xb = x + ib * 256
                    let yb = y + ib * blockBytes
                    let s = yb + scalesOffset
                    for i in 0..<32 {
                        xT[i] = F8(xb[i], xb[32 + i], xb[64 + i], xb[96 + i],
                                   xb[128 + i], xb[160 + i], xb[192 + i], xb[224 + i])
                    }
                    let found: (scale: F8, theMin: F8)
                    if let qw {
                        // imatrix path (quantize_row_q{4,5}_K_impl)
                        var sumX2: Float = 0
                        for l in 0..<256 { sumX2 += xb[l] * xb[l] }
                        let sigma2 = F8(repeating: 2 * sumX2 / 256)
                        let q = qw + 256 * ib
                        var sumw = F8(repeating: 0)
                        for i in 0..<32 {
                            let qwT = F8(q[i], q[32 + i], q[64 + i], q[96 + i],
                                         q[128 + i], q[160 + i], q[192 + i], q[224 + i])
                            wT[i] = qwT * Lanes.sqrt(sigma2 + xT[i] * xT[i])
                            sumw += wT[i]
                        }
                        found = Lanes.makeQKX(
                            n: 32, nmax: nmax, x: xT, w: wT, L: LT, Laux: LauxT,
                            rmin: -0.9, rdelta: 0.05, nstep: 36, useMad: false, variant3: true)
                        for j in 0..<8 {
                            scales[j] = found.scale[j]
                            mins[j] = found.theMin[j]
                            sw[j] = sumw[j]
                        }
                        let dBlock = ScaleSearch.makeQP(n: 8, nmax: 63, x: scales, L: Ls, weights: sw)
                        let mBlock = ScaleSearch.makeQP(n: 8, nmax: 63, x: mins, L: Lm, weights: sw)
                        for j in 0..<8 {
                            // Q5_K clamps to 63 here, Q4_K does not (only matters for garbage input).
                            let ls = bits == 5 ? Swift.min(63, Ls[j]) : Ls[j]
                            let lm = bits == 5 ? Swift.min(63, Lm[j]) : Lm[j]
                            packScaleMin(j, ls, lm, s)
                        }
                        yb.storeU16(FP16.fromFloat(dBlock), at: 0)
                        yb.storeU16(FP16.fromFloat(mBlock), at: 2)
                    } else {
                        // reference path (quantize_row_q{4,5}_K_ref)
                        var sumX2 = F8(repeating: 0)
                        for i in 0..<32 { sumX2 += xT[i] * xT[i] }
                        let avX = Lanes.sqrt(sumX2 / F8(repeating: 32))
                        for i in 0..<32 { wT[i] = avX + Lanes.abs(xT[i]) }
                        found = Lanes.makeQKX(
                            n: 32, nmax: nmax, x: xT, w: wT, L: LT, Laux: LauxT,
                            rmin: bits == 4 ? -1 : -0.5, rdelta: 0.1, nstep: bits == 4 ? 20 : 15,
                            useMad: false, variant3: false)
                        var maxScale: Float = 0, maxMin: Float = 0
                        for j in 0..<8 {
                            scales[j] = found.scale[j]
                            mins[j] = found.theMin[j]
                            if scales[j] > maxScale { maxScale = scales[j] }
                            if mins[j] > maxMin { maxMin = mins[j] }
                        }
                        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
                        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
                        for j in 0..<8 {
                            let ls = Swift.min(63, UInt8(truncatingIfNeeded: Numerics.nearestInt(invScale * scales[j])))
                            let lm = Swift.min(63, UInt8(truncatingIfNeeded: Numerics.nearestInt(invMin * mins[j])))
                            packScaleMin(j, ls, lm, s)
                        }
                        yb.storeU16(FP16.fromFloat(maxScale / 63), at: 0)
                        yb.storeU16(FP16.fromFloat(maxMin / 63), at: 2)
                    }
                    for i in 0..<32 {
                        let l = LT[i]
                        for j in 0..<8 { L[32 * j + i] = UInt8(truncatingIfNeeded: l[j]) }
                    }
                    // Requantize every weight against the stored (rounded) scales and mins.
                    let d = UnsafeRawPointer(yb).half(0), dmin = UnsafeRawPointer(yb).half(2)
                    for j in 0..<8 {
                        let (sc, m) = scaleMin(j, UnsafeRawPointer(s))
                        let dj = d * Float(sc)
                        if dj == 0 { continue }
                        let dm = dmin * Float(m)
                        for h in 0..<2 {
                            Lanes.requant16(xb + 32 * j + 16 * h, d: dj, dm: dm, addMin: true, lo: 0, hi: nmax, bias: 0,
                                            into: UnsafeMutableRawPointer(L + 32 * j + 16 * h))
                        }
                    }
                    if bits == 4 {
                        for j in 0..<4 {
                            for l in 0..<32 {
                                yb.storeU8(L[64 * j + l] | (L[64 * j + l + 32] << 4), at: 16 + 32 * j + l)
                            }
                        }
                    } else {
                        yb.zero(16, 32)
                        var m1: UInt8 = 1, m2: UInt8 = 2
                        for j in 0..<4 {
                            for l in 0..<32 {
                                var l1 = L[64 * j + l], l2 = L[64 * j + l + 32]
                                if l1 > 15 { l1 -= 16; yb.orU8(m1, at: 16 + l) }
                                if l2 > 15 { l2 -= 16; yb.orU8(m2, at: 16 + l) }
                                yb.storeU8(l1 | (l2 << 4), at: 48 + 32 * j + l)
                            }
                            m1 <<= 2
                            m2 <<= 2
                        }
                    }
                }
            }
        }
        }
        }
    }

    static func dequantize(bits: Int, _ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        let blockBytes = bits == 4 ? 144 : 176
        for ib in 0..<(count / 256) {
            let yb = y + ib * blockBytes
            let d = yb.half(0), dmin = yb.half(2)
            let s = yb + scalesOffset
            var out = x + ib * 256
            var u1: UInt8 = 1, u2: UInt8 = 2
            for j in 0..<4 {
                let (sc1, m1) = scaleMin(2 * j, s)
                let (sc2, m2) = scaleMin(2 * j + 1, s)
                let d1 = d * Float(sc1), dm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), dm2 = dmin * Float(m2)
                let qs = bits == 4 ? 16 + 32 * j : 48 + 32 * j
                for l in 0..<32 {
                    var q = Int32(yb.u8(qs + l) & 0xF)
                    if bits == 5 && yb.u8(16 + l) & u1 != 0 { q += 16 }
                    out[l] = d1 * Float(q) - dm1
                }
                for l in 0..<32 {
                    var q = Int32(yb.u8(qs + l) >> 4)
                    if bits == 5 && yb.u8(16 + l) & u2 != 0 { q += 16 }
                    out[32 + l] = d2 * Float(q) - dm2
                }
                out += 64
                u1 <<= 2
                u2 <<= 2
            }
        }
    }
}
