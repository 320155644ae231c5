/// What kind of token an id is: llama.cpp's `llama_token_attr` bits, derived from the GGUF's
/// `tokenizer.ggml.token_type` (gguf-py `TokenType`) and a few name-based fix-ups llama.cpp applies.
public struct TokenAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let unknown = TokenAttributes(rawValue: 1 << 0)
    public static let unused = TokenAttributes(rawValue: 1 << 1)
    public static let normal = TokenAttributes(rawValue: 1 << 2)
    public static let control = TokenAttributes(rawValue: 1 << 3)
    public static let userDefined = TokenAttributes(rawValue: 1 << 4)
    public static let byte = TokenAttributes(rawValue: 1 << 5)

    /// The attributes of a `tokenizer.ggml.token_type` value (0 undefined, 1 normal, 2 unknown,
    /// 3 control, 4 user-defined, 5 unused, 6 byte); llama.cpp treats anything else as undefined.
    init(tokenType: Int64) {
        switch tokenType {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }

    /// Tokens the text is searched for before pre-tokenization (llama.cpp's special-token cache).
    static let matchedInText: TokenAttributes = [.control, .userDefined, .unknown]
}
