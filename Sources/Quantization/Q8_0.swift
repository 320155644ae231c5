/// Q8_0: blocks of 32 int8 values sharing one fp16 scale (absmax / 127). Importance weights are
/// ignored by ggml for this type, so there is a single path.
enum Q8_0 {
    static let blockBytes = 34

    static func quantize(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 32) {
            let xb = x + ib * 32
            let yb = y + ib * blockBytes
            var amax: Float = 0
            for j in 0..<32 {
                let a = abs(xb[j])
                amax = amax > a ? amax : a  // C's MAX(amax, fabsf(v)), NaN behaviour included
            }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeU16(FP16.fromFloat(d), at: 0)
            for j in 0..<32 {
                yb.storeU8(Numerics.roundToByte(xb[j] * id), at: 2 + j)
            }
        }
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
