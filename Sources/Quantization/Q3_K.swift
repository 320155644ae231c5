/// Q3_K: 256-weight super-blocks of 16 sub-blocks; 3-bit levels (2 low bits in qs, the high bit
/// in hmask), 6-bit signed sub-block scales packed into 12 bytes, one fp16 super-scale.
/// Layout: hmask[32] qs[64] scales[12] d = 110 bytes.
enum Q3_K {
    static let blockBytes = 110

    static func quantize(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 64) { lanesF in
        withUnsafeTemporaryAllocation(of: I8.self, capacity: 64) { lanesI in
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256 + 16 + 256) { lb in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 3) { fb in
                let L = lb.baseAddress!, Ls = L + 256, nextL = Ls + 16
                let scales = fb.baseAddress!, sw = scales + 16, nextScales = sw + 16
                let xT = lanesF.baseAddress!, wT = xT + 16, LT = lanesI.baseAddress!
                let blocks = count / 256
                for ib in 0..<blocks {
                    let xb = x + ib * 256
                    let yb = y + ib * blockBytes
                    let s = yb + 96
                    s.zero(0, 12)
                    var sigma2 = F8(repeating: 0)
                    if qw != nil {
                        var sumX2: Float = 0
                        for j in 0..<256 { sumX2 += xb[j] * xb[j] }
                        sigma2 = F8(repeating: 2 * sumX2 / 256)
                    }
                    if qw == nil && ib % 2 == 1 {
                        // searched together with the previous super-block
                        for j in 0..<16 { scales[j] = nextScales[j] }
                        for j in 0..<256 { L[j] = nextL[j] }
                    } else if qw == nil && ib + 1 < blocks {
                        // reference search of this super-block and the next: four groups of
                        // eight sub-blocks in lockstep
                        for g in 0..<4 {
                            for i in 0..<16 { xT[16 * g + i] = Lanes.gather(xb + 128 * g, i, stride: 16) }
                        }
                        let (s0, s1, s2, s3) = Lanes.makeQ3Quad(n: 16, nmax: 4, x: xT, L: LT)
                        for j in 0..<8 {
                            scales[j] = s0[j]
                            scales[8 + j] = s1[j]
                            nextScales[j] = s2[j]
                            nextScales[8 + j] = s3[j]
                            for i in 0..<16 {
                                L[16 * j + i] = Int8(truncatingIfNeeded: LT[i][j])
                                L[128 + 16 * j + i] = Int8(truncatingIfNeeded: LT[16 + i][j])
                                nextL[16 * j + i] = Int8(truncatingIfNeeded: LT[32 + i][j])
                                nextL[128 + 16 * j + i] = Int8(truncatingIfNeeded: LT[48 + i][j])
                            }
                        }
                    } else if qw == nil {
                        // reference search: both groups of eight sub-blocks in lockstep
                        let xT2 = xT + 16, LT2 = LT + 16
                        for i in 0..<16 {
                            xT[i] = Lanes.gather(xb, i, stride: 16)
                            xT2[i] = Lanes.gather(xb + 128, i, stride: 16)
                        }
                        let (s0, s1) = Lanes.makeQ3Pair(n: 16, nmax: 4, xa: xT, La: LT, xb: xT2, Lb: LT2)
                        for j in 0..<8 {
                            scales[j] = s0[j]
                            scales[8 + j] = s1[j]
                            for i in 0..<16 {
                                L[16 * j + i] = Int8(truncatingIfNeeded: LT[i][j])
                                L[128 + 16 * j + i] = Int8(truncatingIfNeeded: LT2[i][j])
                            }
                        }
                    }
                    // Sub-blocks 8g...8g+7 run as the eight lanes of one search.
                    for g in 0..<2 where qw != nil {
                        let xg = xb + 128 * g
                        for i in 0..<16 { xT[i] = Lanes.gather(xg, i, stride: 16) }
                        let found: F8
                        if let qw {
                            var sumw = F8(repeating: 0)
                            for i in 0..<16 {
                                let q = Lanes.gather(qw + 256 * ib + 128 * g, i, stride: 16)
                                wT[i] = q * Lanes.sqrt(sigma2 + xT[i] * xT[i])
                                sumw += wT[i]
                            }
                            found = Lanes.makeQX(n: 16, nmax: 4, x: xT, w: wT, L: LT)
                            for j in 0..<8 { sw[8 * g + j] = sumw[j] }
                        } else {
                            found = Lanes.makeQ3(n: 16, nmax: 4, x: xT, L: LT)
                        }
                        for j in 0..<8 {
                            scales[8 * g + j] = found[j]
                            for i in 0..<16 { L[128 * g + 16 * j + i] = Int8(truncatingIfNeeded: LT[i][j]) }
                        }
                    }
                    if qw != nil {
                        // imatrix path (quantize_row_q3_K_impl)
                        let dBlock = ScaleSearch.makeQX(n: 16, nmax: 32, x: scales, L: Ls, weights: sw)
                        for j in 0..<16 { packScale(j, Int32(Ls[j]), s) }
                        yb.storeU16(FP16.fromFloat(dBlock), at: 108)
                    } else {
                        // reference path (quantize_row_q3_K_ref)
                        var maxScale: Float = 0, amax: Float = 0
                        for j in 0..<16 where abs(scales[j]) > amax {
                            amax = abs(scales[j])
                            maxScale = scales[j]
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
                        Lanes.requant16(xb + 16 * j, d: d, dm: 0, addMin: false, lo: -4, hi: 3, bias: 4,
                                        into: UnsafeMutableRawPointer(L + 16 * j))
                    }
                    // High bit of level j goes to hmask[j % 32], bit j / 32.
                    // (Branch-free: levels are 0...7, so "> 3" is bit 2 and "-= 4" is "& 3".)
                    let lu = UnsafeRawPointer(L)
                    for m in 0..<32 {
                        var h: UInt8 = 0
                        for k in 0..<8 { h |= ((lu.u8(32 * k + m) >> 2) & 1) << UInt8(k) }
                        yb.storeU8(h, at: m)
                    }
                    for h in 0..<2 {
                        let j = h * 128
                        for l in 0..<32 {
                            let v = (lu.u8(j + l) & 3) | ((lu.u8(j + l + 32) & 3) << 2)
                                | ((lu.u8(j + l + 64) & 3) << 4) | ((lu.u8(j + l + 96) & 3) << 6)
                            yb.storeU8(v, at: 32 + h * 32 + l)
                        }
                    }
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
