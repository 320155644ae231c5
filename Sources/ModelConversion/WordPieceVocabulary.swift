import JSON
import GGUF

/// `BertModel.set_vocab`: a WordPiece tokenizer.json written as llama.cpp's "phantom space"
/// vocabulary (`tokenizer.ggml.model = "bert"`). Word-initial pieces get a leading U+2581,
/// continuation pieces (`##x`) lose their `##`, control tokens ([CLS], [SEP], ...) stay as they are.
enum WordPieceVocabulary {
    static func write(files: TokenizerFiles, hparams: HyperParameters, into m: inout MetadataBuilder) throws(ConversionError) {
        guard let tokenizer = files.tokenizerJSON else {
            try writeFromVocabText(files: files, hparams: hparams, into: &m)
            return
        }
        let jsonPath = files.path + "/tokenizer.json"
        guard tokenizer["model"]?["type"]?.stringValue == "WordPiece" else {
            throw .tokenizer(path: jsonPath, message: "tokenizer model type '\(tokenizer["model"]?["type"]?.stringValue ?? "?")' is not WordPiece",
                             hint: "BERT conversion reads WordPiece tokenizers only; use convert_hf_to_gguf.py")
        }
        let (tokens, types) = try Vocabulary.tokenList(tokenizer, vocabularySize: try hparams.int(["vocab_size"]), path: files.path)
        let pre = try PreTokenizer.identifyWordPiece(tokenizerJSON: tokenizer, path: jsonPath)
        m.set(GGUFKeys.Tokenizer.tokenTypeCount, try hparams.uint32(["type_vocab_size"]) ?? .uint32(1))
        m.set(GGUFKeys.Tokenizer.model, .string("bert"))
        m.set(GGUFKeys.Tokenizer.pre, .string(pre))
        m.set(GGUFKeys.Tokenizer.list, MetadataBuilder.stringArray(zip(tokens, types).map(phantomSpace)))
        m.set(GGUFKeys.Tokenizer.tokenType, .array(.int32, types.map { .int32($0.rawValue) }))
        let special = try SpecialVocabulary(files: files, loadMerges: false, vocabularySize: tokens.count)
        special.write(into: &m)
    }

    /// A folder with vocab.txt but no tokenizer.json: transformers builds the fast tokenizer from
    /// vocab.txt (one piece per line, id = line number, a repeated piece keeps its last line) and
    /// the added tokens of tokenizer_config.json (`added_tokens_decoder`, else the special-token
    /// attributes and their defaults). With no tokenizer.json, gguf-py's SpecialVocab finds no
    /// token ids and no normalizer there, so only config.json's ids (BERT's `pad_token_id`) are
    /// written — as the reference writes them.
    static func writeFromVocabText(files: TokenizerFiles, hparams: HyperParameters, into m: inout MetadataBuilder) throws(ConversionError) {
        guard let text = TokenizerFiles.text(files.path, "vocab.txt") else {
            throw .tokenizer(path: files.path, message: "no tokenizer.json or vocab.txt",
                             hint: "add the WordPiece tokenizer files saved with the model")
        }
        // Python's text mode reads "\r\n" and "\r" as line ends too; the last line may lack one.
        var lines = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var ids: [String: Int] = [:]
        for (id, piece) in lines.enumerated() { ids[piece] = id }

        var added: [JSONValue] = []
        let config = files.tokenizerConfig
        if let decoder = config?["added_tokens_decoder"]?.objectValue {
            for (key, entry) in decoder {
                guard let id = Int(key), let content = entry["content"]?.stringValue else { continue }
                added.append(.object([("id", .number(JSONNumber(id))), ("content", .string(content)),
                                      ("special", .bool(entry["special"]?.boolValue ?? false))]))
            }
        } else {
            let map = try TokenizerFiles.json(files.path, "special_tokens_map.json")
            for (attribute, fallback) in [("unk_token", "[UNK]"), ("sep_token", "[SEP]"), ("pad_token", "[PAD]"),
                                          ("cls_token", "[CLS]"), ("mask_token", "[MASK]")] {
                let value = config?[attribute] ?? map?[attribute]
                let content = value?.stringValue ?? value?["content"]?.stringValue ?? (value == nil ? fallback : nil)
                guard let content, let id = ids[content] else { continue }
                added.append(.object([("id", .number(JSONNumber(id))), ("content", .string(content)), ("special", .bool(true))]))
            }
        }
        let vocab = JSONValue.object(ids.map { ($0.key, .number(JSONNumber($0.value))) })
        let tokenizer = JSONValue.object([("model", .object([("vocab", vocab)])), ("added_tokens", .array(added))])
        let (tokens, types) = try Vocabulary.tokenList(tokenizer, vocabularySize: try hparams.int(["vocab_size"]), path: files.path)
        m.set(GGUFKeys.Tokenizer.tokenTypeCount, try hparams.uint32(["type_vocab_size"]) ?? .uint32(1))
        m.set(GGUFKeys.Tokenizer.model, .string("bert"))
        m.set(GGUFKeys.Tokenizer.pre, .string(PreTokenizer.wordPieceName))
        m.set(GGUFKeys.Tokenizer.list, MetadataBuilder.stringArray(zip(tokens, types).map(phantomSpace)))
        m.set(GGUFKeys.Tokenizer.tokenType, .array(.int32, types.map { .int32($0.rawValue) }))
        let special = try SpecialVocabulary(files: files, loadMerges: false, vocabularySize: tokens.count)
        special.write(into: &m)
    }

    /// `phantom(tok, toktype)` of the reference. Compared by scalars, not Characters: in `##ा` the
    /// combining vowel sign joins the second `#` into one Character, and Python still sees `##`.
    static func phantomSpace(_ token: String, _ type: Vocabulary.TokenType) -> String {
        if type == .control { return token }
        if token.unicodeScalars.starts(with: "##".unicodeScalars) { return String(token.unicodeScalars.dropFirst(2)) }
        return "\u{2581}" + token
    }
}
