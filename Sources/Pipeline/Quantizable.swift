import GGUF
import Quantization

/// The types quantd can write: those with a quantizer, plus the plain float types.
enum Quantizable {
    static let types: [GGMLType] = GGMLType.all.filter { $0 == .f32 || $0 == .f16 || $0 == .bf16 || Quantizer.supportsQuantize($0) }
}
