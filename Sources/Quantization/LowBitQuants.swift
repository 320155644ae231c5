/// The newest and simplest ggml formats: Q1_0 (sign bits, scale = mean |x|, 128 per block),
/// Q2_0 (levels {-1, 0, 1, 2} of the absmax, 64 per block), and Q8_K (the fp32-scaled int8
/// intermediate format of the k-quant dot products; ggml never writes it to files, so only
/// dequantization is offered).
enum LowBitQuants {
    static func quantizeQ1_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 128) {
            let xb = x + 128 * ib
            let yb = y + 18 * ib
            var sumAbs: Float = 0
            for j in 0..<128 { sumAbs += abs(xb[j]) }
            yb.storeU16(FP16.fromFloat(sumAbs / 128), at: 0)
            for byte in 0..<16 {
                var bits: UInt8 = 0
                for bit in 0..<8 where xb[8 * byte + bit] >= 0 { bits |= 1 << UInt8(bit) }
                yb.storeU8(bits, at: 2 + byte)
            }
        }
    }

    static func dequantizeQ1_0(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 128) {
            let yb = y + 18 * ib
            let d = yb.half(0)
            for j in 0..<128 {
                x[128 * ib + j] = (yb.u8(2 + j / 8) >> UInt8(j % 8)) & 1 != 0 ? d : -d
            }
        }
    }

    static func quantizeQ2_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 64) {
            let xb = x + 64 * ib
            let yb = y + 18 * ib
            var amax: Float = 0
            for j in 0..<64 where abs(xb[j]) > amax { amax = abs(xb[j]) }
            let id: Float = amax > 0 ? 1 / amax : 0
            yb.storeU16(FP16.fromFloat(amax), at: 0)
            for byte in 0..<16 {
                var bits: UInt8 = 0
                for k in 0..<4 {
                    let r = Numerics.truncToInt32((xb[4 * byte + k] * id).rounded(.toNearestOrAwayFromZero))
                    let q = Swift.max(0, Swift.min(3, r &+ 1))
                    bits |= UInt8(q) << UInt8(2 * k)
                }
                yb.storeU8(bits, at: 2 + byte)
            }
        }
    }

    static func dequantizeQ2_0(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 64) {
            let yb = y + 18 * ib
            let d = yb.half(0)
            for j in 0..<64 {
                let q = Int32((yb.u8(2 + j / 4) >> UInt8(2 * (j % 4))) & 3)
                x[64 * ib + j] = Float(q - 1) * d
            }
        }
    }

    /// Q8_K: d (fp32) qs[256] (int8) bsums[16] (int16) = 292 bytes.
    static func dequantizeQ8_K(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 256) {
            let yb = y + 292 * ib
            let d = Float(bitPattern: yb.u32(0))
            for j in 0..<256 { x[256 * ib + j] = d * Float(yb.i8(4 + j)) }
        }
    }
}
