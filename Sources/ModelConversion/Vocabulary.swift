import JSON
import BinaryIO
import GGUF
import Safetensors

#if canImport(Glibc)
import Glibc
#endif

/// The tokenizer files of a model folder, parsed once.
struct TokenizerFiles {
    let path: String
    let tokenizerJSON: JSONValue?
    let tokenizerConfig: JSONValue?
    let config: JSONValue?
    /// chat_template.jinja, else `chat_template` of chat_template.json.
    let chatTemplateFile: String?
    let mergesText: String?
    let hasSentencePieceModel: Bool

    init(folder: String, config: JSONValue?) throws(ConversionError) {
        path = folder
        self.config = config
        tokenizerJSON = try Self.json(folder, "tokenizer.json")
        tokenizerConfig = try Self.json(folder, "tokenizer_config.json")
        if let jinja = Self.text(folder, "chat_template.jinja") {
            chatTemplateFile = jinja
        } else {
            chatTemplateFile = try Self.json(folder, "chat_template.json")?["chat_template"]?.stringValue
        }
        mergesText = Self.text(folder, "merges.txt")
        hasSentencePieceModel = FileSystem.exists(folder + "/tokenizer.model")
    }

    static func text(_ folder: String, _ name: String) -> String? {
        guard let file = try? MappedFile(path: folder + "/" + name) else { return nil }
        return String(decoding: file.bytes, as: UTF8.self)
    }

    static func json(_ folder: String, _ name: String) throws(ConversionError) -> JSONValue? {
        let path = folder + "/" + name
        guard FileSystem.exists(path) else { return nil }
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch {
            throw .tokenizer(path: path, message: "cannot be read (\(error))", hint: "check the file's permissions")
        }
        do {
            return try StrictJSON.parse(file.bytes)
        } catch {
            throw .tokenizer(path: path, message: "is not valid JSON: \(error)", hint: "re-download the tokenizer files")
        }
    }
}

/// The vocabulary part of the GGUF (`tokenizer.*` keys) for a GPT-2-style byte-level BPE
/// tokenizer.json: `TextModel.get_vocab_base` + `_set_vocab_gpt2` of the reference.
enum Vocabulary {
    /// gguf-py `TokenType`.
    enum TokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    static func write(style: VocabularyStyle, files: TokenizerFiles, hparams: HyperParameters,
                      into m: inout MetadataBuilder) throws(ConversionError) {
        if style == .llama, let config = files.tokenizerConfig, let prefix = config["add_prefix_space"]?.boolValue {
            m.set(GGUFKeys.Tokenizer.addPrefix, .bool(prefix))
        }
        if style == .bert {
            try WordPieceVocabulary.write(files: files, hparams: hparams, into: &m)
            return
        }
        if style == .phi3 {
            guard files.tokenizerConfig?["tokenizer_class"]?.stringValue == "GPT2Tokenizer" else {
                guard files.hasSentencePieceModel else {
                    throw .tokenizer(path: files.path, message: "no tokenizer.model", hint: "add the SentencePiece model saved with the model")
                }
                try SentencePieceVocabulary.write(files: files, hparams: hparams, phi3: true, into: &m)
                return
            }
        } else if files.hasSentencePieceModel && style != .bpe {
            // Llama, Qwen2 and Gemma 3 try SentencePiece first.
            try SentencePieceVocabulary.write(files: files, hparams: hparams, into: &m)
            if style == .gemma { m.set(GGUFKeys.Tokenizer.addPrefix, .bool(false)) }
            try applyLlamaQuirk(style: style, hparams: hparams, into: &m)
            return
        }
        guard let tokenizer = files.tokenizerJSON else {
            throw .tokenizer(path: files.path, message: "no tokenizer.json",
                             hint: "add the tokenizer files saved with the model (tokenizer.json, tokenizer_config.json)")
        }
        let model = tokenizer["model"]
        if style == .llama, model?["type"]?.stringValue == "BPE", model?["byte_fallback"]?.boolValue == true,
           tokenizer["decoder"]?["type"]?.stringValue == "Sequence" {
            throw .tokenizer(path: files.path + "/tokenizer.json",
                             message: "Llama-style byte-fallback BPE tokenizers are not supported yet",
                             hint: "convert this model with llama.cpp's convert_hf_to_gguf.py")
        }
        guard model?["type"]?.stringValue == "BPE" else {
            throw .tokenizer(path: files.path + "/tokenizer.json",
                             message: "tokenizer model type '\(model?["type"]?.stringValue ?? "?")' is not byte-level BPE",
                             hint: "only GPT-2-style BPE tokenizers are supported; use convert_hf_to_gguf.py")
        }
        let (tokens, types) = try tokenList(tokenizer, vocabularySize: try hparams.int(["vocab_size"]), path: files.path)
        let pre = try PreTokenizer.identify(tokenizerJSON: tokenizer, path: files.path + "/tokenizer.json")
        m.set(GGUFKeys.Tokenizer.model, .string("gpt2"))
        m.set(GGUFKeys.Tokenizer.pre, .string(pre))
        if !tokens.isEmpty {
            m.set(GGUFKeys.Tokenizer.list, MetadataBuilder.stringArray(tokens))
            m.set(GGUFKeys.Tokenizer.tokenType, .array(.int32, types.map { .int32($0.rawValue) }))
        }
        var special = try SpecialVocabulary(files: files, loadMerges: true, vocabularySize: nil)
        let named: [(String, String)]
        switch style {
        case .glm4: named = [("eos", "<|endoftext|>"), ("eot", "<|user|>"), ("unk", "<|endoftext|>"), ("bos", "<|endoftext|>")]
        case .glm: named = [("bos", "[gMASK]"), ("eot", "<|user|>"), ("unk", "<|endoftext|>"), ("eom", "<|observation|>")]
        default: named = []
        }
        for (type, content) in named {
            try special.fill(type, addedToken: content, tokenizer: tokenizer, path: files.path)
        }
        special.write(into: &m)
        try applyLlamaQuirk(style: style, hparams: hparams, into: &m)
    }

    /// LlamaModel.set_vocab: "Apply to granite small models only" — in fact any Llama whose
    /// config says 49152 tokens (SmolLM2 included) gets add_bos_token = false.
    static func applyLlamaQuirk(style: VocabularyStyle, hparams: HyperParameters, into m: inout MetadataBuilder) throws(ConversionError) {
        if style == .llama, (try hparams.int(["vocab_size"])) == 49152 {
            m.set(GGUFKeys.Tokenizer.addBOS, .bool(false))
        }
    }

    /// Tokens by id and their types: the model vocabulary plus added tokens, `[PADn]` for ids
    /// nobody uses, added tokens CONTROL when special (or looking special), else USER_DEFINED.
    static func tokenList(_ tokenizer: JSONValue, vocabularySize: Int?, path: String) throws(ConversionError) -> ([String], [TokenType]) {
        var byID: [Int: String] = [:]
        var maxID = -1
        for (token, idValue) in tokenizer["model"]?["vocab"]?.objectValue ?? [] {
            guard let id = idValue.intValue, id >= 0 else {
                throw .tokenizer(path: path + "/tokenizer.json", message: "vocabulary entry '\(token)' has no valid id",
                                 hint: "re-download the tokenizer files")
            }
            byID[id] = token
            maxID = max(maxID, id)
        }
        var added: [Int: (content: String, special: Bool)] = [:]
        for entry in tokenizer["added_tokens"]?.arrayValue ?? [] {
            guard let id = entry["id"]?.intValue, id >= 0, let content = entry["content"]?.stringValue else { continue }
            added[id] = (content, entry["special"]?.boolValue ?? false)
            byID[id] = content
            maxID = max(maxID, id)
        }
        let addedContents = Set(added.values.map(\.content))
        let count = vocabularySize ?? (maxID + 1)
        guard maxID < count else {
            throw .tokenizer(path: path + "/tokenizer.json", message: "token id \(maxID) is not below vocab_size \(count)",
                             hint: "config.json's vocab_size and the tokenizer disagree; use the matching files")
        }
        var tokens: [String] = []
        var types: [TokenType] = []
        tokens.reserveCapacity(count)
        types.reserveCapacity(count)
        for i in 0..<count {
            guard var token = byID[i] else {
                tokens.append("[PAD\(i)]")
                types.append(.unused)
                continue
            }
            if addedContents.contains(token) {
                let isSpecial = added[i]?.special ?? added.values.first { $0.content == token }?.special ?? false
                if isSpecial || looksSpecial(token) {
                    types.append(.control)
                } else {
                    token = token.replacingOccurrences(of: "\u{2581}", with: " ")
                    types.append(.userDefined)
                }
            } else {
                types.append(.normal)
            }
            tokens.append(token)
        }
        return (tokens, types)
    }

    /// `TextModel.does_token_look_special`.
    static func looksSpecial(_ token: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(token)
            || (token.hasPrefix("<|") && token.hasSuffix("|>"))
            || (token.hasPrefix("<｜") && token.hasSuffix("｜>"))
            || (token.hasPrefix("<unused") && token.hasSuffix(">"))
    }
}
