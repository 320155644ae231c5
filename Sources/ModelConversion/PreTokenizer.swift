import JSON
import Safetensors

/// `tokenizer.ggml.pre`: which of llama.cpp's pre-tokenizers (`llama-vocab.cpp`) splits text the
/// way tokenizer.json's `pre_tokenizer` (and `normalizer`) does.
///
/// The reference finds this by hashing the token ids of a test string; here the configuration is
/// read and compared to the configurations whose splitting regex llama.cpp implements, so an
/// unknown configuration is refused instead of being guessed.
public enum PreTokenizer {
    /// GPT-2's byte-level regex (`ByteLevel` with `use_regex: true`).
    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Llama 3's `Split` regex (llama.cpp `llama-bpe`).
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's `Split` regex (llama.cpp `qwen2`): Llama 3's with single digits.
    static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// A canonical, comparable description of one pre-tokenizer step.
    enum Step: Equatable {
        case byteLevel(useRegex: Bool, addPrefixSpace: Bool)
        case digits(individual: Bool)
        case split(regex: String, behavior: String, invert: Bool)
        case other(String)
    }

    /// Known configurations and their llama.cpp names.
    static let known: [(steps: [Step], name: String)] = [
        // SmolLM/SmolLM2, StarCoder-style: digits split one by one, then GPT-2 byte level.
        ([.digits(individual: true), .byteLevel(useRegex: true, addPrefixSpace: false)], "smollm"),
        ([.byteLevel(useRegex: true, addPrefixSpace: false)], "gpt-2"),
        ([.split(regex: llama3Regex, behavior: "Isolated", invert: false), .byteLevel(useRegex: false, addPrefixSpace: false)], "llama-bpe"),
        ([.split(regex: qwen2Regex, behavior: "Isolated", invert: false), .byteLevel(useRegex: false, addPrefixSpace: false)], "qwen2"),
    ]

    /// The llama.cpp name for `tokenizer` (tokenizer.json), or an error naming the configuration.
    public static func identify(tokenizerJSON tokenizer: JSONValue, path: String) throws(ConversionError) -> String {
        if let normalizer = tokenizer["normalizer"], !normalizer.isNull {
            throw .tokenizer(path: path, message: "tokenizer.json has a normalizer (\(normalizer["type"]?.stringValue ?? "?")), "
                                 + "which no byte-level BPE pre-tokenizer this converter knows uses",
                             hint: "convert this model with llama.cpp's convert_hf_to_gguf.py")
        }
        let steps = Self.steps(tokenizer["pre_tokenizer"])
        if let match = known.first(where: { $0.steps == steps }) { return match.name }
        throw .tokenizer(path: path, message: "unknown pre-tokenizer configuration \(describe(steps))",
                         hint: "supported: " + known.map(\.name).joined(separator: ", ")
                             + "; convert this model with llama.cpp's convert_hf_to_gguf.py")
    }

    /// For WordPiece (BERT) tokenizers: llama.cpp tokenizes every `bert` vocabulary with its one
    /// WPM splitter and ignores the name, so only BERT's own normalizer and pre-tokenizer are
    /// accepted, and the name is the one the reference writes for them: bge-small-en-v1.5's test
    /// hash is listed twice in `get_vocab_base_pre`, and the later entry, `jina-v2-en`, wins.
    public static func identifyWordPiece(tokenizerJSON tokenizer: JSONValue, path: String) throws(ConversionError) -> String {
        let normalizer = tokenizer["normalizer"]?["type"]?.stringValue
        let steps = Self.steps(tokenizer["pre_tokenizer"])
        guard normalizer == "BertNormalizer", steps == [.other("BertPreTokenizer")] else {
            throw .tokenizer(path: path, message: "WordPiece tokenizer with normalizer \(normalizer ?? "(none)") and pre-tokenizer \(describe(steps)); "
                                 + "only BERT's (BertNormalizer + BertPreTokenizer) is supported",
                             hint: "convert this model with llama.cpp's convert_hf_to_gguf.py")
        }
        return wordPieceName
    }

    /// The name written for BERT WordPiece vocabularies (see `identifyWordPiece`).
    static let wordPieceName = "jina-v2-en"

    static func steps(_ pre: JSONValue?) -> [Step] {
        guard let pre, !pre.isNull else { return [] }
        if pre["type"]?.stringValue == "Sequence" {
            return (pre["pretokenizers"]?.arrayValue ?? []).flatMap { steps($0) }
        }
        switch pre["type"]?.stringValue {
        case "ByteLevel":
            return [.byteLevel(useRegex: pre["use_regex"]?.boolValue ?? true,
                               addPrefixSpace: pre["add_prefix_space"]?.boolValue ?? true)]
        case "Digits":
            return [.digits(individual: pre["individual_digits"]?.boolValue ?? false)]
        case "Split":
            let regex = pre["pattern"]?["Regex"]?.stringValue ?? pre["pattern"]?["String"]?.stringValue ?? ""
            return [.split(regex: regex, behavior: pre["behavior"]?.stringValue ?? "",
                           invert: pre["invert"]?.boolValue ?? false)]
        case let type:
            return [.other(type ?? "?")]
        }
    }

    static func describe(_ steps: [Step]) -> String {
        steps.isEmpty ? "(none)" : steps.map { step -> String in
            switch step {
            case let .byteLevel(useRegex, prefix): "ByteLevel(use_regex: \(useRegex), add_prefix_space: \(prefix))"
            case let .digits(individual): "Digits(individual_digits: \(individual))"
            case let .split(regex, behavior, invert): "Split(\(regex), \(behavior)\(invert ? ", inverted" : ""))"
            case let .other(type): type
            }
        }.joined(separator: " + ")
    }
}
