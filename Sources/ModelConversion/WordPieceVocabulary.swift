import JSON
import GGUF

/// `BertModel.set_vocab`: a WordPiece tokenizer.json written as llama.cpp's "phantom space"
/// vocabulary (`tokenizer.ggml.model = "bert"`). Word-initial pieces get a leading U+2581,
/// continuation pieces (`##x`) lose their `##`, control tokens ([CLS], [SEP], ...) stay as they are.
enum WordPieceVocabulary {
    static func write(files: TokenizerFiles, hparams: HyperParameters, into m: inout MetadataBuilder) throws(ConversionError) {
        guard let tokenizer = files.tokenizerJSON else {
            throw .tokenizer(path: files.path, message: "no tokenizer.json (a BERT folder with only vocab.txt is not read)",
                             hint: "save the tokenizer with transformers (AutoTokenizer.from_pretrained(folder).save_pretrained(folder)) to write tokenizer.json")
        }
        let jsonPath = files.path + "/tokenizer.json"
        guard tokenizer["model"]?["type"]?.stringValue == "WordPiece" else {
            throw .tokenizer(path: jsonPath, message: "tokenizer model type '\(tokenizer["model"]?["type"]?.stringValue ?? "?")' is not WordPiece",
                             hint: "BERT conversion reads WordPiece tokenizers only; use convert_hf_to_gguf.py")
        }
        let (tokens, types) = try Vocabulary.tokenList(tokenizer, vocabularySize: try hparams.int(["vocab_size"]), path: files.path)
        let pre = try PreTokenizer.identifyWordPiece(tokenizerJSON: tokenizer, path: jsonPath)
        m.set("tokenizer.ggml.token_type_count", try hparams.uint32(["type_vocab_size"]) ?? .uint32(1))
        m.set("tokenizer.ggml.model", .string("bert"))
        m.set("tokenizer.ggml.pre", .string(pre))
        m.set("tokenizer.ggml.tokens", MetadataBuilder.stringArray(zip(tokens, types).map(phantomSpace)))
        m.set("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0.rawValue) }))
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
