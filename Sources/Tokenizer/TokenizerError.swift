/// A vocabulary this package cannot tokenize with, or tokenizer metadata that is malformed.
/// The message names the GGUF key and what was found, and says what to do.
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// `tokenizer.ggml.model` is missing or names a tokenizer this package does not implement.
        case unsupportedModel
        /// `tokenizer.ggml.pre` names a pre-tokenizer this package does not implement.
        case unsupportedPreTokenizer
        /// A tokenizer key has the wrong type or length.
        case malformedMetadata
        /// A key llama.cpp requires for this tokenizer (tokens, merges, a BOS id) is missing.
        case missingMetadata
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
