import Foundation
import Quantization

/// GELU (tanh approximation) as ggml's CPU backend evaluates it: built with GGML_GELU_FP16, it looks
/// the input up, rounded to F16, in a 65536-entry table of F16-rounded results
/// (`ggml_table_gelu_f16`), and skips the table outside (-10, 10). Following it keeps each FFN
/// activation on llama.cpp's F16 grid (exact GELU differs by up to half an F16 step, ~5e-4 relative;
/// on the tiny Gemma3 fixture both stay near KLD 1e-7 against llama.cpp).
enum GELU {
    /// `ggml_gelu_f32`: 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))), in float.
    static func exact(_ x: Float) -> Float {
        let sqrt2OverPi: Float = 0.79788456080286535587989211986876
        return 0.5 * x * (1 + tanhf(sqrt2OverPi * x * (1 + 0.044715 * x * x)))
    }

    /// ggml's table, widened to Float: entry h is F16(gelu(F16 value with bits h)).
    static let table: [Float] = (0..<65536).map { h in
        FP16.toFloat(FP16.fromFloat(exact(FP16.toFloat(UInt16(h)))))
    }

    /// `gate = gelu(gate) * up` (ggml_vec_geglu_f32 with GGML_GELU_FP16).
    static func geglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<count {
                let x = gate[i]
                if x <= -10 {
                    gate[i] = 0
                } else if x >= 10 {
                    gate[i] = x * up[i]
                } else {
                    gate[i] = t[Int(FP16.fromFloat(x))] * up[i]
                }
            }
        }
    }
}
