/// MXFP4 and NVFP4: 4-bit E2M1 code points (stored doubled in kvalues_fp4) with a shared
/// power-of-two (E8M0, per 32) or UE4M3 (per 16) scale.
///
/// MXFP4: e qs[16] = 17 bytes per 32. NVFP4: d[4] qs[32] = 36 bytes per 64.
enum FP4 {
    static let values: (Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8) =
        (0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12)

    @inline(__always)
    static func value(_ i: Int) -> Int8 {
        withUnsafeBytes(of: values) { $0.load(fromByteOffset: i, as: Int8.self) }
    }

    /// Linear scan for the code point nearest x/e; the first one wins a tie.
    @inline(__always)
    static func bestIndex(_ x: Float, _ e: Float) -> UInt8 {
        var best = 0
        var bestErr = abs(Float(value(0)) * e - x)
        for i in 1..<16 {
            let err = abs(Float(value(i)) * e - x)
            if err < bestErr {
                best = i
                bestErr = err
            }
        }
        return UInt8(best)
    }

    static func quantizeMXFP4(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 32) {
            let xb = x + 32 * ib
            let yb = y + 17 * ib
            var amax: Float = 0
            for j in 0..<32 where amax < abs(xb[j]) { amax = abs(xb[j]) }
            // floor(log2(amax)) - 2 + 127 in float, then C's (uint8_t) conversion.
            let e: UInt8 = amax > 0 ? Numerics.truncToByte(Numerics.log2f(amax).rounded(.down) - 2 + 127) : 0
            let d = FP8Scales.e8m0ToFloatHalf(e)
            yb.storeU8(e, at: 0)
            for j in 0..<16 {
                yb.storeU8(bestIndex(xb[j], d) | (bestIndex(xb[j + 16], d) << 4), at: 1 + j)
            }
        }
    }

    static func quantizeNVFP4(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 64) {
            let yb = y + 36 * ib
            for s in 0..<4 {
                let xb = x + 64 * ib + 16 * s
                var amax: Float = 0
                for j in 0..<16 where amax < abs(xb[j]) { amax = abs(xb[j]) }
                let ue = FP8Scales.floatToUE4M3(amax / 6)
                yb.storeU8(ue, at: s)
                let d = FP8Scales.ue4m3ToFloat(ue)
                for j in 0..<8 {
                    yb.storeU8(bestIndex(xb[j], d) | (bestIndex(xb[j + 8], d) << 4), at: 4 + 8 * s + j)
                }
            }
        }
    }

    static func dequantizeMXFP4(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 32) {
            let yb = y + 17 * ib
            let d = FP8Scales.e8m0ToFloatHalf(yb.u8(0))
            let out = x + 32 * ib
            for j in 0..<16 {
                let q = yb.u8(1 + j)
                out[j] = Float(value(Int(q & 0xF))) * d
                out[j + 16] = Float(value(Int(q >> 4))) * d
            }
        }
    }

    static func dequantizeNVFP4(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 64) {
            let yb = y + 36 * ib
            for s in 0..<4 {
                let d = FP8Scales.ue4m3ToFloat(yb.u8(s))
                let out = x + 64 * ib + 16 * s
                for j in 0..<8 {
                    let q = yb.u8(4 + 8 * s + j)
                    out[j] = Float(value(Int(q & 0xF))) * d
                    out[j + 8] = Float(value(Int(q >> 4))) * d
                }
            }
        }
    }
}
