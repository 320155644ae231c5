/// Q6_K: 256-weight super-blocks of 16 sub-blocks; 6-bit levels, an int8 scale per sub-block
/// and one fp16 super-scale. Layout: ql[128] qh[64] scales[16] (int8) d (fp16) = 210 bytes.
enum Q6_K {
    static let blockBytes = 210

    /// Reference and imatrix paths differ only in the weights passed to the sub-block search
    /// (x^2, or the raw importance weights — ggml does not mix in sigma2 for Q6_K).
    static func quantize(
        _ x: UnsafePointer<Float>, count: Int, weights qw: UnsafePointer<Float>?, into y: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 32) { lanesF in
        withUnsafeTemporaryAllocation(of: I8.self, capacity: 16) { lanesI in
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { Lbuf in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scales in
                let L = Lbuf.baseAddress!
                let xT = lanesF.baseAddress!, wT = xT + 16, LT = lanesI.baseAddress!
                for ib in 0..<(count / 256) {
                    let xb = x + ib * 256
                    let yb = y + ib * blockBytes
                    // Sub-blocks 8g...8g+7 run as the eight lanes of one search.
                    for g in 0..<2 {
                        let xg = xb + 128 * g
                        for i in 0..<16 {
                            xT[i] = Lanes.gather(xg, i, stride: 16)
                            if let qw {
                                wT[i] = Lanes.gather(qw + 256 * ib + 128 * g, i, stride: 16)
                            } else {
                                wT[i] = xT[i] * xT[i]
                            }
                        }
                        let found = Lanes.makeQX(n: 16, nmax: 32, x: xT, w: wT, L: LT)
                        for j in 0..<8 {
                            scales[8 * g + j] = found[j]
                            for i in 0..<16 { L[128 * g + 16 * j + i] = Int8(truncatingIfNeeded: LT[i][j]) }
                        }
                    }
                    var maxScale: Float = 0, maxAbsScale: Float = 0
                    for j in 0..<16 where abs(scales[j]) > maxAbsScale {
                        maxAbsScale = abs(scales[j])
                        maxScale = scales[j]
                    }
                    if maxAbsScale < Numerics.groupMaxEps {
                        yb.zero(0, blockBytes)
                        continue
                    }
                    let iscale = -128 / maxScale
                    yb.storeU16(FP16.fromFloat(1 / iscale), at: 208)
                    for j in 0..<16 {
                        let s = Swift.min(127, Numerics.nearestInt(iscale * scales[j]))
                        yb.storeU8(UInt8(truncatingIfNeeded: s), at: 192 + j)
                    }
                    let dAll = UnsafeRawPointer(yb).half(208)
                    for j in 0..<16 {
                        let d = dAll * Float(UnsafeRawPointer(yb).i8(192 + j))
                        if d == 0 { continue }
                        Lanes.requant16(xb + 16 * j, d: d, dm: 0, addMin: false, lo: -32, hi: 31, bias: 32,
                                        into: UnsafeMutableRawPointer(L + 16 * j))
                    }
                    pack(L, yb)
                }
            }
        }
        }
        }
    }

    @inline(__always)
    private static func pack(_ L: UnsafePointer<Int8>, _ yb: UnsafeMutableRawPointer) {
        let l = UnsafeRawPointer(L)
        for half in 0..<2 {
            let j = half * 128
            let ql = half * 64
            let qh = 128 + half * 32
            for i in 0..<32 {
                let a = l.u8(j + i), b = l.u8(j + i + 32), c = l.u8(j + i + 64), e = l.u8(j + i + 96)
                yb.storeU8((a & 0xF) | ((c & 0xF) << 4), at: ql + i)
                yb.storeU8((b & 0xF) | ((e & 0xF) << 4), at: ql + 32 + i)
                yb.storeU8((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6), at: qh + i)
            }
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 256) {
            let yb = y + ib * blockBytes
            let d = yb.half(208)
            for half in 0..<2 {
                let out = x + ib * 256 + half * 128
                let ql = yb + half * 64, qh = yb + 128 + half * 32, sc = 192 + half * 8
                // ggml's d * sc * q is (d * sc) * q: the sub-block factor is hoisted, and each run
                // of 16 values has a fixed one, so LLVM vectorizes the loop.
                for isc in 0..<2 {
                    let d1 = d * Float(yb.i8(sc + isc)), d2 = d * Float(yb.i8(sc + isc + 2))
                    let d3 = d * Float(yb.i8(sc + isc + 4)), d4 = d * Float(yb.i8(sc + isc + 6))
                    for l in (16 * isc)..<(16 * isc + 16) {
                        let h = Int32(qh.load(fromByteOffset: l, as: UInt8.self))
                        let a = Int32(ql.load(fromByteOffset: l, as: UInt8.self))
                        let b = Int32(ql.load(fromByteOffset: l + 32, as: UInt8.self))
                        out[l] = d1 * Float(((a & 0xF) | ((h & 3) << 4)) - 32)
                        out[l + 32] = d2 * Float(((b & 0xF) | (((h >> 2) & 3) << 4)) - 32)
                        out[l + 64] = d3 * Float(((a >> 4) | (((h >> 4) & 3) << 4)) - 32)
                        out[l + 96] = d4 * Float(((b >> 4) | (((h >> 6) & 3) << 4)) - 32)
                    }
                }
            }
        }
    }
}
