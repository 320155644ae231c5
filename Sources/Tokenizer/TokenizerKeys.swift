import GGUF

/// Typed reads of the scalar `tokenizer.ggml.*` keys, with llama.cpp's handling of absent and
/// out-of-range values.
struct TokenizerKeys {
    let metadata: GGUFMetadata
    let vocabularySize: Int

    /// A BOOL key; `fallback` when absent. Any other type is malformed (llama.cpp refuses it too).
    func flag(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = metadata[key] else { return fallback }
        guard case .bool(let flag) = value else {
            throw TokenizerError(.malformedMetadata, "\(key) is \(value.type), expected BOOL")
        }
        return flag
    }

    /// A special-token id key. llama.cpp drops a default outside the vocabulary, and ignores (with
    /// a warning) a key outside it, keeping the default.
    func tokenID(_ key: String, default fallback: Int32?) throws -> Int32? {
        var id = fallback.flatMap { $0 >= 0 && Int($0) < vocabularySize ? $0 : nil }
        if let value = metadata[key] {
            guard let number = value.integerValue else {
                throw TokenizerError(.malformedMetadata, "\(key) is \(value.type), expected an integer token id")
            }
            if number >= 0 && number < Int64(vocabularySize) { id = Int32(number) }
        }
        return id
    }
}
