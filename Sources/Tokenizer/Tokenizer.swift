import GGUF

/// Text to token ids with the vocabulary stored in a GGUF, giving the ids llama.cpp's own
/// tokenizer gives (`llama_tokenize`). Byte-level BPE (`gpt2`) with the pre-tokenizers in
/// `supportedPreTokenizers`, SentencePiece-style BPE (`llama`) and WordPiece (`bert`) are
/// implemented; anything else is refused at `init` with a `TokenizerError` naming the model and
/// pre-tokenizer, never tokenized approximately.
///
/// Thread-safe: encoders are immutable apart from a locked cache of encoded words.
public final class Tokenizer: Sendable {
    public enum Kind: String, Sendable {
        /// GPT-2 byte-level BPE with merges (`tokenizer.ggml.model` = "gpt2").
        case bytePairEncoding = "gpt2"
        /// SentencePiece-style BPE over scores with `<0xNN>` byte fallback ("llama").
        case sentencePiece = "llama"
        /// BERT's WordPiece, greedy longest match ("bert").
        case wordPiece = "bert"
    }

    public let kind: Kind
    /// `tokenizer.ggml.pre` as read ("" when absent); SentencePiece vocabularies ignore it.
    public let preTokenizerName: String
    public let bosTokenID: Int32?
    public let eosTokenID: Int32?
    public let unknownTokenID: Int32?
    /// WordPiece: appended after the text when `addSpecial` (BERT's [SEP]).
    public let separatorTokenID: Int32?
    /// Whether `encode(addSpecial: true)` puts BOS first / EOS last (the GGUF's
    /// `add_bos_token` / `add_eos_token`, else llama.cpp's default for the tokenizer).
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// SentencePiece: a space is put before the text and after every special token (the GGUF's
    /// `add_space_prefix`, default true); decoding drops the first piece's leading space.
    public let addsSpacePrefix: Bool

    let vocabulary: Vocabulary
    private let specials: SpecialTokenSplitter
    private let encoder: Encoder
    /// llama.cpp's `clean_spaces`: decoding removes the space before `?!.,` and some contractions.
    let cleansSpaces: Bool

    private enum Encoder: Sendable {
        case bpe(BytePairEncoder)
        case spm(SentencePieceEncoder)
        case wpm(WordPieceEncoder)
    }

    public static var supportedPreTokenizers: [String] { PreTokenizer.supportedNames }

    public var vocabularySize: Int { vocabulary.count }

    /// Reads the vocabulary of a GGUF file (only its header is read).
    public convenience init(contentsOf path: String) throws {
        try self.init(metadata: GGUFFile(path: path).metadata)
    }

    public init(metadata: GGUFMetadata) throws {
        let model = metadata[GGUFKeys.Tokenizer.model]?.stringValue
        let pre = metadata[GGUFKeys.Tokenizer.pre]?.stringValue ?? ""
        preTokenizerName = pre
        let described = "\(GGUFKeys.Tokenizer.model) '\(model ?? "(missing)")', "
            + "\(GGUFKeys.Tokenizer.pre) '\(pre.isEmpty ? "(missing)" : pre)'"
        guard let model, let kind = Kind(rawValue: model) else {
            throw TokenizerError(
                .unsupportedModel,
                "\(described): this tokenizer model is not supported; supported models are "
                    + "'gpt2' (byte-level BPE), 'llama' (SentencePiece) and 'bert' (WordPiece)")
        }
        self.kind = kind
        var vocabulary = try Vocabulary(metadata: metadata)
        vocabulary.applyTextBasedAttributes(metadata: metadata)
        self.vocabulary = vocabulary
        let keys = TokenizerKeys(metadata: metadata, vocabularySize: vocabulary.count)

        // llama.cpp's defaults per tokenizer model; the GGUF's keys override them below.
        var defaults: (bos: Int32?, eos: Int32?, unk: Int32?, sep: Int32?, addBOS: Bool)
        var spacePrefix = false
        switch kind {
        case .bytePairEncoding:
            guard let preTokenizer = PreTokenizer(name: pre) else {
                throw TokenizerError(
                    .unsupportedPreTokenizer,
                    "\(described): this pre-tokenizer is not supported; supported: "
                        + PreTokenizer.supportedNames.joined(separator: ", "))
            }
            defaults = (preTokenizer.hasNoDefaultBOS ? nil : 11, 11, nil, nil, preTokenizer.addsBOSByDefault)
            encoder = .bpe(try BytePairEncoder(vocabulary: vocabulary, preTokenizer: preTokenizer, metadata: metadata))
            cleansSpaces = !PreTokenizer.namesWithoutSpaceCleaning.contains(pre)
        case .sentencePiece:
            defaults = (1, 2, 0, nil, true)
            spacePrefix = true
            encoder = .spm(SentencePieceEncoder(vocabulary: vocabulary, unknownID: nil))
            cleansSpaces = false
        case .wordPiece:
            defaults = (101, nil, 100, 102, true)
            // BertNormalizer: lower-casing on by default, accent stripping follows it.
            let lowercase = try keys.flag(GGUFKeys.Tokenizer.normalizerLowercase, default: true)
            let stripAccents = try keys.flag(GGUFKeys.Tokenizer.normalizerStripAccents, default: lowercase)
            encoder = .wpm(WordPieceEncoder(
                vocabulary: vocabulary, unknownID: try keys.tokenID(GGUFKeys.Tokenizer.unkID, default: 100),
                lowercase: lowercase, stripAccents: stripAccents))
            cleansSpaces = true
        }
        addsSpacePrefix = try keys.flag(GGUFKeys.Tokenizer.addPrefix, default: spacePrefix)
        bosTokenID = try keys.tokenID(GGUFKeys.Tokenizer.bosID, default: defaults.bos)
        eosTokenID = try keys.tokenID(GGUFKeys.Tokenizer.eosID, default: defaults.eos)
        unknownTokenID = try keys.tokenID(GGUFKeys.Tokenizer.unkID, default: defaults.unk)
        // llama.cpp's key name is spelled "seperator".
        separatorTokenID = try keys.tokenID(GGUFKeys.Tokenizer.sepID, default: defaults.sep)
        addsBOS = try keys.flag(GGUFKeys.Tokenizer.addBOS, default: defaults.addBOS)
        addsEOS = try keys.flag(GGUFKeys.Tokenizer.addEOS, default: false)
        if addsBOS && bosTokenID == nil {
            throw TokenizerError(
                .missingMetadata, "\(described): add_bos_token is set but there is no valid \(GGUFKeys.Tokenizer.bosID)")
        }
        if addsEOS && eosTokenID == nil {
            throw TokenizerError(
                .missingMetadata, "\(described): add_eos_token is set but there is no valid \(GGUFKeys.Tokenizer.eosID)")
        }
        if kind == .wordPiece && (bosTokenID == nil || separatorTokenID == nil) {
            throw TokenizerError(
                .missingMetadata,
                "\(described): a WordPiece vocabulary needs valid \(GGUFKeys.Tokenizer.bosID) ([CLS]) "
                    + "and \(GGUFKeys.Tokenizer.sepID) ([SEP])")
        }
        specials = SpecialTokenSplitter(vocabulary: vocabulary)
    }

    /// The ids of `text`. `addSpecial` adds BOS/EOS as the vocabulary says; `parseSpecial` turns
    /// control-token texts such as `<|im_start|>` into their ids (otherwise they are plain text).
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        let utf8 = Array(text.utf8)
        let fragments = specials.split(utf8, parseSpecial: parseSpecial)
        var output: [Int32] = []
        output.reserveCapacity(utf8.count / 3 + 2)
        // WordPiece always frames the text with [CLS] ... [SEP] (llama.cpp ignores add_bos there).
        if addSpecial && (addsBOS || kind == .wordPiece), let bos = bosTokenID { output.append(bos) }
        switch encoder {
        case .bpe(let bpe):
            for fragment in fragments {
                switch fragment {
                case .token(let id): output.append(id)
                case .text(let range): bpe.encode(Self.substring(utf8, range), into: &output)
                }
            }
        case .wpm(let wpm):
            for fragment in fragments {
                switch fragment {
                case .token(let id): output.append(id)
                case .text(let range): wpm.encode(Self.substring(utf8, range), into: &output)
                }
            }
        case .spm(let spm):
            // A space goes before the text and after every special token ("prefix with space
            // if previous is special"), then spaces are spelled ▁.
            var previousWasSpecial = true
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    output.append(id)
                    previousWasSpecial = true
                case .text(let range):
                    var bytes: [UInt8] = addsSpacePrefix && previousWasSpecial ? [0x20] : []
                    bytes.append(contentsOf: utf8[range])
                    spm.encode(Self.escapeSpaces(bytes), into: &output)
                    previousWasSpecial = false
                }
            }
        }
        if addSpecial && kind == .wordPiece, let separator = separatorTokenID { output.append(separator) }
        if addSpecial && addsEOS, let eos = eosTokenID { output.append(eos) }
        return output
    }

    /// The text of `ids`, as llama.cpp's `llama_detokenize` without removing specials.
    /// `renderSpecial` writes control tokens' texts (llama.cpp's `unparse_special`).
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, renderSpecial: renderSpecial), as: UTF8.self)
    }

    /// The vocabulary's text of one token (byte-level or ▁ spelling), nil outside the vocabulary.
    public func tokenText(_ id: Int32) -> String? { vocabulary.text(of: id) }

    public func tokenAttributes(_ id: Int32) -> TokenAttributes { vocabulary.attributes(of: id) }

    private static func substring(_ utf8: [UInt8], _ range: Range<Int>) -> Substring {
        Substring(String(decoding: utf8[range], as: UTF8.self))
    }

    private static func escapeSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        for byte in bytes {
            if byte == 0x20 { out.append(contentsOf: [0xE2, 0x96, 0x81]) } else { out.append(byte) }
        }
        return out
    }
}
