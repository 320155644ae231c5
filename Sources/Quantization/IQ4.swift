/// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear codebook (kvalues_iq4nl).
///
/// IQ4_NL: blocks of 32, one fp16 scale: d qs[16] = 18 bytes.
/// IQ4_XS: 256-weight super-blocks, a 6-bit scale per 32 weights: d scales_h (u16)
///         scales_l[4] qs[128] = 136 bytes.
/// Both go through ggml's `quantize_row_iq4_nl_impl` with ntry = 7 (what ggml_quantize_chunk
/// uses, with or without importance weights).
enum IQ4 {
    static let values: (Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8) =
        (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)

    @inline(__always)
    static func value(_ i: Int) -> Int8 {
        withUnsafeBytes(of: values) { $0.load(fromByteOffset: i, as: Int8.self) }
    }

    /// ggml's best_index_int8 over the 16 code points: binary search, ties to the upper one.
    @inline(__always)
    static func bestIndex(_ x: Float) -> Int {
        if x <= -127 { return 0 }
        if x >= 113 { return 15 }
        var ml = 0, mu = 15
        while mu - ml > 1 {
            let mav = (ml + mu) / 2
            if x < Float(value(mav)) { mu = mav } else { ml = mav }
        }
        return x - Float(value(mu - 1)) < Float(value(mu)) - x ? mu - 1 : mu
    }

    /// One super-block of `superBlock` weights in sub-blocks of 32. Writes d, the nibbles and,
    /// for IQ4_XS, the 6-bit scales. `scales`/`weight`/`L` are scratch.
    @inline(__always)
    static func quantizeSuperBlock(
        superBlock: Int, _ x: UnsafePointer<Float>, qw: UnsafePointer<Float>?,
        d dOffset: Int, qs qsOffset: Int, into y: UnsafeMutableRawPointer,
        scales: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>, L: UnsafeMutablePointer<UInt8>,
        lanes: UnsafeMutablePointer<F8>? = nil
    ) {
        let ntry = 7
        var sigma2: Float = 0
        for j in 0..<superBlock { sigma2 += x[j] * x[j] }
        sigma2 *= 2 / Float(superBlock)
        y.zero(qsOffset, superBlock / 2)
        y.storeU16(FP16.fromFloat(0), at: dOffset)
        let v0 = Float(value(0))
        var maxScale: Float = 0, amaxScale: Float = 0
        let nb = superBlock / 32
        if nb == 8, let lanes {
            // IQ4_XS: the eight sub-blocks are the eight lanes of one search.
            let xT = lanes, wT = lanes + 32
            let s2 = F8(repeating: sigma2)
            for j in 0..<32 {
                xT[j] = Lanes.gather(x, j, stride: 32)
                if let qw {
                    wT[j] = Lanes.gather(qw, j, stride: 32) * Lanes.sqrt(s2 + xT[j] * xT[j])
                } else {
                    wT[j] = xT[j] * xT[j]
                }
            }
            let found = IQ4Lanes.search(x: xT, w: wT)
            for ib in 0..<8 {
                let d = found[ib]
                scales[ib] = d
                if abs(d) > amaxScale {
                    amaxScale = abs(d)
                    maxScale = d
                }
            }
        }
        for ib in 0..<nb where !(nb == 8 && lanes != nil) {
            let xb = x + 32 * ib
            let Lb = L + 32 * ib
            if let qw {
                let wb = qw + 32 * ib
                for j in 0..<32 { weight[j] = wb[j] * Numerics.sqrtf(sigma2 + xb[j] * xb[j]) }
            } else {
                for j in 0..<32 { weight[j] = xb[j] * xb[j] }
            }
            var amax: Float = 0, max: Float = 0
            for j in 0..<32 {
                let ax = abs(xb[j])
                if ax > amax { amax = ax; max = xb[j] }
            }
            if amax < Numerics.groupMaxEps {
                scales[ib] = 0
                continue
            }
            var d = -max / v0  // ntry > 0
            var id = 1 / d
            var sumqx: Float = 0, sumq2: Float = 0
            for j in 0..<32 {
                let l = bestIndex(id * xb[j])
                Lb[j] = UInt8(l)
                let q = Float(value(l))
                let w = weight[j]
                sumqx += w * q * xb[j]
                sumq2 += w * q * q
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0
            var best = d * sumqx
            for itry in -ntry...ntry {
                id = Float(itry + Int(value(0))) / max
                sumqx = 0
                sumq2 = 0
                for j in 0..<32 {
                    let q = Float(value(bestIndex(id * xb[j])))
                    let w = weight[j]
                    sumqx += w * q * xb[j]
                    sumq2 += w * q * q
                }
                if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
                    d = sumqx / sumq2
                    best = d * sumqx
                }
            }
            scales[ib] = d
            if abs(d) > amaxScale {
                amaxScale = abs(d)
                maxScale = d
            }
        }
        if nb > 1 {
            // IQ4_XS: quantize the sub-block scales to 6 bits and re-pick every index.
            y.storeU16(0, at: 2)
            let d = -maxScale / 32
            y.storeU16(FP16.fromFloat(d), at: dOffset)
            let id: Float = d != 0 ? 1 / d : 0
            var scalesH: UInt16 = 0
            var idlT = F8(repeating: 0)
            for ib in 0..<nb {
                var l = Numerics.nearestInt(id * scales[ib])
                l = Swift.max(-32, Swift.min(31, l))
                let dl = d * Float(l)
                let idl: Float = dl != 0 ? 1 / dl : 0
                if lanes != nil {
                    idlT[ib] = idl
                } else {
                    let xb = x + 32 * ib
                    for j in 0..<32 { L[32 * ib + j] = UInt8(bestIndex(idl * xb[j])) }
                }
                l += 32
                let lLow = UInt8(truncatingIfNeeded: l & 0xF)
                let lHigh = UInt16(truncatingIfNeeded: l >> 4)
                if ib % 2 == 0 {
                    y.storeU8(lLow, at: 4 + ib / 2)
                } else {
                    y.orU8(lLow << 4, at: 4 + ib / 2)
                }
                scalesH |= lHigh << UInt16(2 * (ib % 8))
            }
            y.storeU16(scalesH, at: 2)
            if let xT = lanes {
                for j in 0..<32 {
                    let idx = IQ4Lanes.nearest(idlT * xT[j]).index
                    for ib in 0..<8 { L[32 * ib + j] = UInt8(truncatingIfNeeded: idx[ib]) }
                }
            }
        } else {
            y.storeU16(FP16.fromFloat(scales[0]), at: dOffset)
            let id: Float = scales[0] != 0 ? 1 / scales[0] : 0
            for j in 0..<superBlock { L[j] = UInt8(bestIndex(id * x[j])) }
        }
        for i in 0..<(superBlock / 32) {
            for j in 0..<16 {
                y.storeU8(L[32 * i + j] | (L[32 * i + 16 + j] << 4), at: qsOffset + 16 * i + j)
            }
        }
    }

    static func quantizeNL(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        let nb = count / 32
        let grouped = nb / 8 * 8
        // Groups of eight blocks run as the eight lanes of one search; the tail goes one by one.
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 64) { lanes in
            let xT = lanes.baseAddress!, wT = xT + 32
            for g in stride(from: 0, to: grouped, by: 8) {
                let xg = x + 32 * g
                var sigma2 = F8(repeating: 0)
                for j in 0..<32 {
                    xT[j] = Lanes.gather(xg, j, stride: 32)
                    sigma2 += xT[j] * xT[j]
                }
                sigma2 *= F8(repeating: 2 / Float(32))
                for j in 0..<32 {
                    if let qw {
                        wT[j] = Lanes.gather(qw + 32 * g, j, stride: 32) * Lanes.sqrt(sigma2 + xT[j] * xT[j])
                    } else {
                        wT[j] = xT[j] * xT[j]
                    }
                }
                let found = IQ4Lanes.search(x: xT, w: wT)
                var idT = F8(repeating: 0)
                for k in 0..<8 {
                    let d = found[k]
                    (y + 18 * (g + k)).storeU16(FP16.fromFloat(d), at: 0)
                    idT[k] = d != 0 ? 1 / d : 0
                }
                for j in 0..<16 {
                    let l0 = IQ4Lanes.nearest(idT * xT[j]).index
                    let l1 = IQ4Lanes.nearest(idT * xT[j + 16]).index
                    for k in 0..<8 {
                        let q = UInt8(truncatingIfNeeded: l0[k]) | (UInt8(truncatingIfNeeded: l1[k]) << 4)
                        (y + 18 * (g + k)).storeU8(q, at: 2 + j)
                    }
                }
            }
        }
        withScratch { scales, weight, L in
            for ib in grouped..<nb {
                quantizeSuperBlock(
                    superBlock: 32, x + 32 * ib, qw: qw.map { $0 + 32 * ib }, d: 0, qs: 2, into: y + 18 * ib,
                    scales: scales, weight: weight, L: L)
            }
        }
    }

    static func quantizeXS(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        withScratch { scales, weight, L in
            withUnsafeTemporaryAllocation(of: F8.self, capacity: 64) { lanes in
                for ib in 0..<(count / 256) {
                    quantizeSuperBlock(
                        superBlock: 256, x + 256 * ib, qw: qw.map { $0 + 256 * ib }, d: 0, qs: 8, into: y + 136 * ib,
                        scales: scales, weight: weight, L: L, lanes: lanes.baseAddress!)
                }
            }
        }
    }

    @inline(__always)
    private static func withScratch(
        _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<UInt8>) -> Void
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 + 32) { fb in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { lb in
                body(fb.baseAddress!, fb.baseAddress! + 8, lb.baseAddress!)
            }
        }
    }

    static func dequantizeNL(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 32) {
            let yb = y + 18 * ib
            let d = yb.half(0)
            let out = x + 32 * ib
            for j in 0..<16 {
                let q = yb.u8(2 + j)
                out[j] = d * Float(value(Int(q & 0xF)))
                out[j + 16] = d * Float(value(Int(q >> 4)))
            }
        }
    }

    static func dequantizeXS(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 256) {
            let yb = y + 136 * ib
            let d = yb.half(0)
            let scalesH = yb.u16(2)
            for sb in 0..<8 {
                let low = Int32((yb.u8(4 + sb / 2) >> UInt8(4 * (sb % 2))) & 0xF)
                let high = Int32((scalesH >> UInt16(2 * sb)) & 3)
                let dl = d * Float((low | (high << 4)) - 32)
                let out = x + 256 * ib + 32 * sb
                for j in 0..<16 {
                    let q = yb.u8(8 + 16 * sb + j)
                    out[j] = dl * Float(value(Int(q & 0xF)))
                    out[j + 16] = dl * Float(value(Int(q >> 4)))
                }
            }
        }
    }
}
