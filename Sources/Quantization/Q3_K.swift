/// Q3_K: 256-weight super-blocks of 16 sub-blocks; 3-bit levels (2 low bits in qs, the high bit
/// in hmask), 6-bit signed sub-block scales packed into 12 bytes, one fp16 super-scale.
/// Layout: hmask[32] qs[64] scales[12] d = 110 bytes.
enum Q3_K {
    static let blockBytes = 110

    static func quantize(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        if let qw {
            quantizeWeighted(x, count: count, weights: qw, into: y)
        } else {
            quantizeReference(x, count: count, into: y)
        }
    }

    /// quantize_row_q3_K_ref. The searches of up to three super-blocks (six groups of eight
    /// sub-blocks) run interleaved (see Q3LanesQuad.swift); the searched levels stay in their
    /// transposed lanes, as only sub-blocks whose stored scale is zero keep them.
    private static func quantizeReference(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 6 * 16 + 6) { lanesF in
        withUnsafeTemporaryAllocation(of: I8.self, capacity: 6 * 16) { lanesI in
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { lb in
            let xT = lanesF.baseAddress!, found = xT + 6 * 16, LT = lanesI.baseAddress!, L = lb.baseAddress!
            let blocks = count / 256
            var first = 0
            while first < blocks {
                // Three super-blocks at a time (a 768-wide row is one such chunk), else pairs.
                let remaining = blocks - first
                let chunk = remaining == 4 ? 2 : Swift.min(remaining, 3)
                for g in 0..<(2 * chunk) {
                    Lanes.transpose8x16(x + 256 * first + 128 * g, into: xT + 16 * g)
                }
                Lanes.makeQ3Groups(2 * chunk, n: 16, nmax: 4, x: xT, L: LT, scales: found)
                for k in 0..<chunk {
                    let ib = first + k
                    finishReference(
                        x + 256 * ib, scales: UnsafeRawPointer(found + 2 * k).assumingMemoryBound(to: Float.self),
                        levels: LT + 32 * k, L: L, into: y + ib * blockBytes)
                }
                first += chunk
            }
        }
        }
        }
    }

    /// The rest of quantize_row_q3_K_ref for one super-block once its sixteen sub-block scales are
    /// known: 6-bit scales, the fp16 super-scale, levels against the stored scales, packing.
    @inline(__always)
    private static func finishReference(
        _ xb: UnsafePointer<Float>, scales: UnsafePointer<Float>, levels: UnsafePointer<I8>,
        L: UnsafeMutablePointer<Int8>, into yb: UnsafeMutableRawPointer
    ) {
        let s = yb + 96
        s.zero(0, 12)
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
        let dAll = UnsafeRawPointer(yb).half(108)
        for j in 0..<16 {
            let d = dAll * Float(scale(j, UnsafeRawPointer(s)))
            if d == 0 {
                // ggml keeps the search's levels: lane j % 8 of group j / 8.
                let group = levels + 16 * (j / 8), lane = j % 8
                for i in 0..<16 { L[16 * j + i] = Int8(truncatingIfNeeded: group[i][lane]) }
                continue
            }
            Lanes.requant16(xb + 16 * j, d: d, dm: 0, addMin: false, lo: -4, hi: 3, bias: 4,
                            into: UnsafeMutableRawPointer(L + 16 * j))
        }
        pack(UnsafeRawPointer(L), into: yb)
    }

    /// hmask and qs from the 256 biased levels (0...7). The high bit of level j goes to
    /// hmask[j % 32], bit j / 32; qs holds the low two bits, four levels 32 apart per byte.
    /// Eight bytes at a time in 64-bit words (the masked bits never cross a byte).
    @inline(__always)
    private static func pack(_ lu: UnsafeRawPointer, into yb: UnsafeMutableRawPointer) {
        let bit0: UInt64 = 0x0101_0101_0101_0101, low2: UInt64 = 0x0303_0303_0303_0303
        for m in stride(from: 0, to: 32, by: 8) {
            var h: UInt64 = 0
            for k in 0..<8 {
                h |= ((lu.loadUnaligned(fromByteOffset: 32 * k + m, as: UInt64.self) >> 2) & bit0) << UInt64(k)
            }
            yb.storeBytes(of: h, toByteOffset: m, as: UInt64.self)
        }
        for half in 0..<2 {
            for l in stride(from: 0, to: 32, by: 8) {
                let j = 128 * half + l
                var q: UInt64 = 0
                for k in 0..<4 {
                    q |= (lu.loadUnaligned(fromByteOffset: j + 32 * k, as: UInt64.self) & low2) << UInt64(2 * k)
                }
                yb.storeBytes(of: q, toByteOffset: 32 + 32 * half + l, as: UInt64.self)
            }
        }
    }

    /// quantize_row_q3_K_impl (with importance weights).
    private static func quantizeWeighted(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>, into y: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 32) { lanesF in
        withUnsafeTemporaryAllocation(of: I8.self, capacity: 16) { lanesI in
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256 + 16) { lb in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { fb in
                let L = lb.baseAddress!, Ls = L + 256
                let scales = fb.baseAddress!, sw = scales + 16
                let xT = lanesF.baseAddress!, wT = xT + 16, LT = lanesI.baseAddress!
                for ib in 0..<(count / 256) {
                    let xb = x + ib * 256
                    let yb = y + ib * blockBytes
                    let s = yb + 96
                    s.zero(0, 12)
                    var sumX2: Float = 0
                    for j in 0..<256 { sumX2 += xb[j] * xb[j] }
                    let sigma2 = F8(repeating: 2 * sumX2 / 256)
                    // Sub-blocks 8g...8g+7 run as the eight lanes of one search.
                    for g in 0..<2 {
                        let xg = xb + 128 * g
                        for i in 0..<16 { xT[i] = Lanes.gather(xg, i, stride: 16) }
                        var sumw = F8(repeating: 0)
                        for i in 0..<16 {
                            let q = Lanes.gather(qw + 256 * ib + 128 * g, i, stride: 16)
                            wT[i] = q * Lanes.sqrt(sigma2 + xT[i] * xT[i])
                            sumw += wT[i]
                        }
                        let found = Lanes.makeQX(n: 16, nmax: 4, x: xT, w: wT, L: LT)
                        for j in 0..<8 {
                            sw[8 * g + j] = sumw[j]
                            scales[8 * g + j] = found[j]
                            for i in 0..<16 { L[128 * g + 16 * j + i] = Int8(truncatingIfNeeded: LT[i][j]) }
                        }
                    }
                    let dBlock = ScaleSearch.makeQX(n: 16, nmax: 32, x: scales, L: Ls, weights: sw)
                    for j in 0..<16 { packScale(j, Int32(Ls[j]), s) }
                    yb.storeU16(FP16.fromFloat(dBlock), at: 108)
                    let dAll = UnsafeRawPointer(yb).half(108)
                    for j in 0..<16 {
                        let d = dAll * Float(scale(j, UnsafeRawPointer(s)))
                        if d == 0 { continue }
                        Lanes.requant16(xb + 16 * j, d: d, dm: 0, addMin: false, lo: -4, hi: 3, bias: 4,
                                        into: UnsafeMutableRawPointer(L + 16 * j))
                    }
                    pack(UnsafeRawPointer(L), into: yb)
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
