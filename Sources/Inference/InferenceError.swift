import GGUF

/// Why a model cannot be evaluated. Each case names the key or tensor at fault.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case missingKey(String)
    case invalidHyperparameter(key: String, value: Int)
    case missingTensor(String)
    case tensorShape(name: String, expected: [Int], actual: [Int])
    case unsupportedTensorType(name: String, type: String)
    case tokenOutOfRange(token: Int32, vocabularySize: Int)
    case emptyInput
    case outputPosition(from: Int, tokens: Int)
    /// A `TokenBatch` whose layout is not a set of complete sequences; the text names the token.
    case invalidBatch(String)
    /// A file of a supported architecture in a variant this forward pass does not run; `detail`
    /// says which and what to do.
    case unsupportedVariant(architecture: String, detail: String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let arch):
            let supported = LlamaHyperParameters.supportedArchitectures.sorted().joined(separator: ", ")
            return "architecture '\(arch)' is not supported by the forward pass (supported: \(supported))"
        case .missingKey(let key): return "metadata key '\(key)' is missing"
        case .invalidHyperparameter(let key, let value): return "metadata key '\(key)' has an invalid value \(value)"
        case .missingTensor(let name): return "tensor '\(name)' is missing"
        case .tensorShape(let name, let expected, let actual):
            return "tensor '\(name)' has shape \(actual), expected \(expected)"
        case .unsupportedTensorType(let name, let type):
            return "tensor '\(name)' has type \(type), which cannot be dequantized"
        case .tokenOutOfRange(let token, let n):
            return "token id \(token) is outside the vocabulary of \(n) tokens"
        case .emptyInput: return "no tokens to evaluate"
        case .outputPosition(let from, let tokens):
            return "logits asked from position \(from), but the chunk has positions 0..<\(tokens)"
        case .invalidBatch(let reason): return "the token batch is not a set of complete sequences: \(reason)"
        case .unsupportedVariant(let arch, let detail): return "this '\(arch)' file is not supported: \(detail)"
        }
    }
}
