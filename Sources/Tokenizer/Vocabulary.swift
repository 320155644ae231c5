import GGUF

/// The token list of a GGUF (`tokenizer.ggml.tokens`, `.scores`, `.token_type`) with llama.cpp's
/// lookups: text -> id (a later duplicate wins, as in its `token_to_id` map) and id -> text.
/// Texts are looked up by their UTF-8 bytes, not as Swift `String`s: String equality is canonical
/// equivalence ("e\u{301}" == "é"), and llama.cpp compares bytes.
struct Vocabulary: Sendable {
    let texts: [String]
    private(set) var attributes: [TokenAttributes]
    let scores: [Float]
    let idByBytes: [[UInt8]: Int32]

    var count: Int { texts.count }

    init(metadata: GGUFMetadata) throws {
        guard let tokenValue = metadata[GGUFKeys.Tokenizer.list] else {
            throw TokenizerError(.missingMetadata, "\(GGUFKeys.Tokenizer.list) is missing: the GGUF has no vocabulary")
        }
        guard case .array(.string, let tokenValues) = tokenValue else {
            throw TokenizerError(
                .malformedMetadata, "\(GGUFKeys.Tokenizer.list) is \(tokenValue.type), expected an array of strings")
        }
        guard tokenValues.count <= Int(Int32.max) else {
            throw TokenizerError(
                .malformedMetadata, "\(GGUFKeys.Tokenizer.list) has \(tokenValues.count) entries, more than token ids can hold")
        }
        var texts: [String] = []
        texts.reserveCapacity(tokenValues.count)
        var idByBytes: [[UInt8]: Int32] = [:]
        idByBytes.reserveCapacity(tokenValues.count)
        for (index, value) in tokenValues.enumerated() {
            var text = value.stringValue ?? ""
            // llama.cpp renames empty tokens so that every id has a distinct, non-empty text.
            if text.isEmpty { text = "[EMPTY_\(index)]" }
            idByBytes[Array(text.utf8)] = Int32(index)
            texts.append(text)
        }
        self.texts = texts
        self.idByBytes = idByBytes
        scores = try Self.numbers(metadata, GGUFKeys.Tokenizer.scores, count: texts.count, default: 0)
        let types = try Self.numbers(metadata, GGUFKeys.Tokenizer.tokenType, count: texts.count, default: 1.0)
        attributes = types.map { TokenAttributes(tokenType: Int64($0)) }
    }

    /// A per-token array of numbers (float32 or int32 elements), at least one per token.
    private static func numbers(_ metadata: GGUFMetadata, _ key: String, count: Int, default fill: Float) throws -> [Float] {
        guard let value = metadata[key] else { return [Float](repeating: fill, count: count) }
        guard case .array(let elementType, let elements) = value,
              elementType == .float32 || elementType == .int32 else {
            throw TokenizerError(.malformedMetadata, "\(key) is \(value.type), expected an array of FLOAT32 or INT32")
        }
        guard elements.count >= count else {
            throw TokenizerError(.malformedMetadata, "\(key) has \(elements.count) entries but there are \(count) tokens")
        }
        return elements.prefix(count).map { Float($0.doubleValue ?? Double(fill)) }
    }

    func id(of text: String) -> Int32? { idByBytes[Array(text.utf8)] }

    func id(ofBytes bytes: [UInt8]) -> Int32? { idByBytes[bytes] }

    func text(of id: Int32) -> String? {
        id >= 0 && Int(id) < texts.count ? texts[Int(id)] : nil
    }

    func attributes(of id: Int32) -> TokenAttributes {
        id >= 0 && Int(id) < attributes.count ? attributes[Int(id)] : []
    }

    /// llama.cpp marks some tokens by their text when the converter did not type them
    /// (llama-vocab.cpp, "auto-detect special tokens by text"): end-of-turn, end-of-message and
    /// fill-in-the-middle markers become control tokens when no explicit id key names that role,
    /// end-of-generation markers always, and gpt-oss's channel markers become user-defined.
    /// llama.cpp's later exceptions for gpt-oss's `<|end|>` and Gemma 4's `</s>` are not
    /// reproduced. It marks only the first such token per role in hash-map order, which is not
    /// reproducible; this marks every candidate (the difference needs two candidates for one role
    /// that the converter left untyped).
    mutating func applyTextBasedAttributes(metadata: GGUFMetadata) {
        let roles: [(key: String, texts: [String])] = [
            (GGUFKeys.Tokenizer.eotID, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                             "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
                                             "<end_of_utterance>"]),
            (GGUFKeys.Tokenizer.eomID, ["<|eom_id|>"]),
            (GGUFKeys.Tokenizer.fimPreID, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
                                                 "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"]),
            (GGUFKeys.Tokenizer.fimSufID, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>",
                                                 "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"]),
            (GGUFKeys.Tokenizer.fimMidID, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>",
                                                 "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"]),
            (GGUFKeys.Tokenizer.fimPadID, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
            (GGUFKeys.Tokenizer.fimRepID, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
            (GGUFKeys.Tokenizer.fimSepID, ["<|file_sep|>"]),
        ]
        for role in roles where metadata[role.key] == nil {
            for text in role.texts {
                if let id = id(of: text) { attributes[Int(id)].insert(.control) }
            }
        }
        // End-of-generation markers are made control tokens whatever the keys say.
        for text in ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
                     "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
                     "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
                     "<｜end▁of▁sentence｜>", "[e~["] {
            if let id = id(of: text) { attributes[Int(id)].insert(.control) }
        }
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let id = id(of: text) { attributes[Int(id)] = .userDefined }
        }
    }
}
