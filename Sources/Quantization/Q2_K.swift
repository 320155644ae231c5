/// Q2_K: 256-weight super-blocks of 16 sub-blocks; 2-bit levels with a 4-bit scale and a 4-bit
/// min per sub-block, fp16 super-scales d and dmin.
/// Layout: scales[16] qs[64] d dmin = 84 bytes.
enum Q2_K {
    static let blockBytes = 84

    static func quantize(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 32) { lanesF in
        withUnsafeTemporaryAllocation(of: I8.self, capacity: 32) { lanesI in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 16 * 2) { lb in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 3) { fb in
                let L = lb.baseAddress!, Ls = L + 256, Lm = Ls + 16
                let scales = fb.baseAddress!, mins = scales + 16, sw = mins + 16
                let xT = lanesF.baseAddress!, wT = xT + 16
                let LT = lanesI.baseAddress!, LauxT = LT + 16
                for ib in 0..<(count / 256) {
                    let xb = x + ib * 256
                    let yb = y + ib * blockBytes
                    var sigma2 = F8(repeating: 0)
                    if qw != nil {
                        var sumX2: Float = 0
                        for j in 0..<256 { sumX2 += xb[j] * xb[j] }
                        sigma2 = F8(repeating: sumX2 / 256)
                    }
                    // Sub-blocks 8g...8g+7 run as the eight lanes of one search.
                    for g in 0..<2 {
                        let xg = xb + 128 * g
                        var sumw = F8(repeating: 0)
                        for i in 0..<16 {
                            xT[i] = Lanes.gather(xg, i, stride: 16)
                            if let qw {
                                let q = Lanes.gather(qw + 256 * ib + 128 * g, i, stride: 16)
                                wT[i] = q * Lanes.sqrt(sigma2 + xT[i] * xT[i])
                                sumw += wT[i]
                            } else {
                                wT[i] = Lanes.abs(xT[i])
                            }
                        }
                        let found = qw != nil
                            ? Lanes.makeQKX(n: 16, nmax: 3, x: xT, w: wT, L: LT, Laux: LauxT,
                                            rmin: -0.9, rdelta: 0.05, nstep: 36, useMad: false, variant3: true)
                            : Lanes.makeQKX(n: 16, nmax: 3, x: xT, w: wT, L: LT, Laux: LauxT,
                                            rmin: -0.5, rdelta: 0.1, nstep: 15, useMad: true, variant3: false)
                        for j in 0..<8 {
                            scales[8 * g + j] = found.scale[j]
                            mins[8 * g + j] = found.theMin[j]
                            sw[8 * g + j] = sumw[j]
                            for i in 0..<16 { L[128 * g + 16 * j + i] = UInt8(truncatingIfNeeded: LT[i][j]) }
                        }
                    }
                    if qw != nil {
                        // imatrix path (quantize_row_q2_K_impl)
                        let dm = ScaleSearch.makeQP(n: 16, nmax: 15, x: scales, L: Ls, weights: sw)
                        let mm = ScaleSearch.makeQP(n: 16, nmax: 15, x: mins, L: Lm, weights: sw)
                        yb.storeU16(FP16.fromFloat(dm), at: 80)
                        yb.storeU16(FP16.fromFloat(mm), at: 82)
                        for j in 0..<16 { yb.storeU8(Ls[j] | (Lm[j] << 4), at: j) }
                    } else {
                        // reference path (quantize_row_q2_K_ref)
                        var maxScale: Float = 0, maxMin: Float = 0
                        for j in 0..<16 {
                            if scales[j] > maxScale { maxScale = scales[j] }
                            if mins[j] > maxMin { maxMin = mins[j] }
                        }
                        if maxScale > 0 {
                            let iscale = 15 / maxScale
                            for j in 0..<16 {
                                yb.storeU8(UInt8(truncatingIfNeeded: Numerics.nearestInt(iscale * scales[j])), at: j)
                            }
                            yb.storeU16(FP16.fromFloat(maxScale / 15), at: 80)
                        } else {
                            yb.zero(0, 16)
                            yb.storeU16(FP16.fromFloat(0), at: 80)
                        }
                        if maxMin > 0 {
                            let iscale = 15 / maxMin
                            for j in 0..<16 {
                                let l = Numerics.nearestInt(iscale * mins[j])
                                yb.orU8(UInt8(truncatingIfNeeded: l << 4), at: j)
                            }
                            yb.storeU16(FP16.fromFloat(maxMin / 15), at: 82)
                        } else {
                            yb.storeU16(FP16.fromFloat(0), at: 82)
                        }
                    }
                    let dAll = UnsafeRawPointer(yb).half(80), mAll = UnsafeRawPointer(yb).half(82)
                    for j in 0..<16 {
                        let sc = yb.u8(j)
                        let d = dAll * Float(sc & 0xF)
                        if d == 0 { continue }
                        let dm = mAll * Float(sc >> 4)
                        Lanes.requant16(xb + 16 * j, d: d, dm: dm, addMin: true, lo: 0, hi: 3, bias: 0,
                                        into: UnsafeMutableRawPointer(L + 16 * j))
                    }
                    for h in 0..<2 {
                        let j = h * 128
                        for l in 0..<32 {
                            let v = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)
                            yb.storeU8(v, at: 16 + h * 32 + l)
                        }
                    }
                }
            }
        }
        }
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 256) {
            let yb = y + ib * blockBytes
            let d = yb.half(80), dmin = yb.half(82)
            var out = x + ib * 256
            var isc = 0
            for h in 0..<2 {
                let q = 16 + h * 32
                var shift: UInt8 = 0
                for _ in 0..<4 {
                    for part in 0..<2 {
                        let sc = yb.u8(isc)
                        isc += 1
                        let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                        for l in 0..<16 {
                            out[l] = dl * Float((yb.u8(q + l + 16 * part) >> shift) & 3) - ml
                        }
                        out += 16
                    }
                    shift += 2
                }
            }
        }
    }
}
