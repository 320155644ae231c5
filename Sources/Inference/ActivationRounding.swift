import GGUF
import Quantization

/// The rounding ggml applies to a matmul's activations before multiplying them with weights of a
/// given type: its CPU backend converts the F32 activations to the weight type's `vec_dot_type`
/// (F16 for F16 weights, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for the K-quants, ...) and multiplies in
/// that form. Rounding our activations the same way puts the same error into our logits, so a
/// quantized artifact's KLD reads the same as llama-perplexity's; without it we would measure the
/// weights' error alone (Q4_K_M SmolLM2 against its F16: 0.0509 instead of llama.cpp's 0.0554;
/// rounded: 0.0554).
enum ActivationRounding: Sendable, Equatable {
    case none, half, bfloat16, q8_0, q8_K

    /// ggml-cpu's `type_traits_cpu[type].vec_dot_type`, grouped by the rounding it implies.
    init(weightType t: GGMLType) {
        switch t.id {
        case GGMLType.f16.id: self = .half
        case GGMLType.bf16.id: self = .bfloat16
        // Q8_1 (for Q4_1/Q5_1) quantizes values exactly as Q8_0 does; it only adds a block sum.
        case GGMLType.q4_0.id, GGMLType.q4_1.id, GGMLType.q5_0.id, GGMLType.q5_1.id, GGMLType.q8_0.id,
             GGMLType.iq4_NL.id, GGMLType.mxfp4.id:
            self = .q8_0
        case GGMLType.q2_K.id, GGMLType.q3_K.id, GGMLType.q4_K.id, GGMLType.q5_K.id, GGMLType.q6_K.id,
             GGMLType.iq4_XS.id, GGMLType.iq2_XXS.id, GGMLType.iq2_XS.id, GGMLType.iq2_S.id,
             GGMLType.iq3_XXS.id, GGMLType.iq3_S.id, GGMLType.iq1_S.id, GGMLType.iq1_M.id,
             GGMLType.tq1_0.id, GGMLType.tq2_0.id:
            self = .q8_K
        default: self = .none
        }
    }

    /// Rounds `count` values (whole rows of `rowLength`) from `x` into `y`.
    func apply(_ x: UnsafePointer<Float>, count: Int, rowLength: Int, into y: UnsafeMutablePointer<Float>) {
        switch self {
        case .none: y.update(from: x, count: count)
        case .half:
            #if INFERENCE_FMA && arch(x86_64)
            // F16C's conversions round to nearest even as FP16.fromFloat does: same values, vectorized.
            for i in 0..<count { y[i] = Float(Float16(x[i])) }
            #else
            for i in 0..<count { y[i] = FP16.toFloat(FP16.fromFloat(x[i])) }
            #endif
        case .bfloat16: for i in 0..<count { y[i] = BF16.toFloat(BF16.fromFloat(x[i])) }
        case .q8_0: Self.roundQ8_0(x, count: count, into: y)
        case .q8_K:
            // Q8_K blocks are 256 wide; a row that is not a whole number of them cannot have K-quant weights.
            guard rowLength % 256 == 0 else { y.update(from: x, count: count); return }
            Self.roundQ8_K(x, count: count, into: y)
        }
    }

    /// ggml's `quantize_row_q8_0`: per 32 values, d = amax/127 stored as F16, q = round(x/d).
    /// A block is four 8-lane vectors (the scalar loop was ~3 % of an evaluation, measured).
    static func roundQ8_0(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(y)
        var b = 0
        while b + 32 <= count {
            let o = b * 4
            let v0 = src.loadUnaligned(fromByteOffset: o, as: V.self)
            let v1 = src.loadUnaligned(fromByteOffset: o + 32, as: V.self)
            let v2 = src.loadUnaligned(fromByteOffset: o + 64, as: V.self)
            let v3 = src.loadUnaligned(fromByteOffset: o + 96, as: V.self)
            let (id, dh) = q8_0Scales(x + b)
            dst.storeBytes(of: q8_0Codes(v0, inverse: id) * dh, toByteOffset: o, as: V.self)
            dst.storeBytes(of: q8_0Codes(v1, inverse: id) * dh, toByteOffset: o + 32, as: V.self)
            dst.storeBytes(of: q8_0Codes(v2, inverse: id) * dh, toByteOffset: o + 64, as: V.self)
            dst.storeBytes(of: q8_0Codes(v3, inverse: id) * dh, toByteOffset: o + 96, as: V.self)
            b += 32
        }
        for i in b..<count { y[i] = x[i] }
    }

    /// `quantize_row_q8_0`'s scales for the 32 values at `x`: the inverse scale they are multiplied
    /// by before rounding (1/d, 0 for an all-zero block) and d as stored (rounded to F16).
    @inline(__always)
    static func q8_0Scales(_ x: UnsafePointer<Float>) -> (inverse: Float, stored: Float) {
        // |x| as bits without the sign orders as the floats do, and an integer max reduction
        // vectorizes (a float max does not, for its NaN rule; the generic SIMD pointwiseMax was
        // not inlined and cost more than the whole rounding).
        let src = UnsafeRawPointer(x)
        var bits: UInt32 = 0
        for i in 0..<32 { bits = max(bits, src.load(fromByteOffset: 4 * i, as: UInt32.self) & 0x7FFF_FFFF) }
        var amax = Float(bitPattern: bits)
        if bits > 0x7F80_0000 {  // a NaN: the scalar max skips it
            amax = 0
            for i in 0..<32 { amax = max(amax, abs(x[i])) }
        }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        return (id, FP16.toFloat(FP16.fromFloat(d)))
    }

    /// Q8_0 codes (integers in -127...127, as floats) of 8 values: nearest, ties away from zero.
    @inline(__always)
    static func q8_0Codes(_ v: SIMD8<Float>, inverse id: Float) -> SIMD8<Float> {
        (v * id).rounded(.toNearestOrAwayFromZero)
    }

    /// Q8_K codes (integers in -128...127, as floats) of 8 values: nearest even, capped at 127
    /// (-128 cannot occur: the largest magnitude maps to -127).
    @inline(__always)
    static func q8_KCodes(_ v: SIMD8<Float>, inverse iscale: Float) -> SIMD8<Float> {
        let q = (v * iscale).rounded(.toNearestOrEven)
        return q.replacing(with: 127, where: q .> 127)
    }

    /// `quantize_row_q8_K`'s scale for the 256 values at `x`: iscale = -127 / (the first value of
    /// largest magnitude), nil for an all-zero block (its codes are 0). Codes are
    /// min(127, nearest-even(iscale · x)), values d · code with d = 1 / iscale.
    @inline(__always)
    static func q8_KInverseScale(_ x: UnsafePointer<Float>) -> Float? {
        // The largest |x| as sign-less bits (an integer max reduction, which vectorizes), then
        // the first value of that magnitude: the value ggml's strict `>` scan keeps.
        let raw = UnsafeRawPointer(x)
        var bits: UInt32 = 0
        for i in 0..<256 { bits = max(bits, raw.load(fromByteOffset: 4 * i, as: UInt32.self) & 0x7FFF_FFFF) }
        var amax = Float(bitPattern: bits), maxValue: Float = 0
        if bits > 0x7F80_0000 {  // a NaN: the scan skips it, as ggml's does
            amax = 0
            for i in 0..<256 where abs(x[i]) > amax { amax = abs(x[i]); maxValue = x[i] }
        } else if amax > 0 {
            for i in 0..<256 where abs(x[i]) == amax { maxValue = x[i]; break }
        }
        return amax == 0 ? nil : -127 / maxValue
    }

    /// ggml's `quantize_row_q8_K`: per 256 values, the value of largest magnitude maps to -127
    /// (iscale = -127/max), q = nearest(iscale·x) capped at 127, d = 1/iscale kept in F32.
    static func roundQ8_K(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        var b = 0
        while b + 256 <= count {
            if let iscale = q8_KInverseScale(x + b) {
                let d = 1 / iscale
                let src = UnsafeRawPointer(x + b), dst = UnsafeMutableRawPointer(y + b)
                for o in stride(from: 0, to: 1024, by: 32) {
                    let codes = q8_KCodes(src.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self), inverse: iscale)
                    dst.storeBytes(of: codes * d, toByteOffset: o, as: SIMD8<Float>.self)
                }
            } else {
                for i in b..<(b + 256) { y[i] = 0 }
            }
            b += 256
        }
        for i in b..<count { y[i] = x[i] }
    }
}
