/// The pre-tokenizer of a byte-level BPE vocabulary: the regexes llama.cpp applies, one after
/// another, for the GGUF's `tokenizer.ggml.pre` (llama-vocab.cpp, `llm_tokenizer_bpe`), and the
/// per-type switches set next to them in `llama_vocab::impl::load`.
struct PreTokenizer: Sendable {
    enum Step: Sendable {
        case gpt2
        case llama3
        case qwen2
        case qwen35
        case newlineRuns  // [^\n]+|[\n]+
        case bloom  //  ?[^(\s|.,!?…。，、।۔،)]+
        case tekken
        case numberGroups  // \p{N}{1,3}
        case deepSeekCJK  // [一-龥぀-ゟ゠-ヿ]+
        case deepSeek3
        case eachNumber  // \p{N}
        case numberRuns  // \p{N}+
        case asciiDigitTriples  // [0-9][0-9][0-9]
        case punctuationRuns  // [\p{P}\$\+<=>\^~\|]+
    }

    /// llama.cpp's pre-tokenizer family (LLAMA_VOCAB_PRE_TYPE_*), for messages and tests.
    let family: String
    let steps: [Step]
    /// A word that is itself a token is emitted whole, before any merge (`ignore_merges`).
    let ignoreMerges: Bool
    /// llama.cpp's default for `add_bos` when the GGUF does not say.
    let addsBOSByDefault: Bool
    /// Whether llama.cpp's default BOS id (11 for gpt2 vocabularies) is cleared.
    let hasNoDefaultBOS: Bool

    private struct Family {
        let family: String
        let names: [String]
        let steps: [Step]
        var ignoreMerges = false
        var addsBOS = false
        /// llama.cpp clears the default BOS id for these (ChatGLM/GLM); a GGUF key still sets it.
        var noDefaultBOS = false
    }

    /// The names llama.cpp maps onto each family this package implements. Other names are
    /// refused rather than guessed: a wrong regex gives plausible but different ids.
    private static let families: [Family] = [
        Family(family: "llama3", names: ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                                         "midm-2.0", "lfm2"], steps: [.llama3], ignoreMerges: true, addsBOS: true),
        Family(family: "dbrx", names: ["dbrx", "smaug-bpe"], steps: [.llama3]),
        Family(family: "chatglm4", names: ["chatglm-bpe"], steps: [.llama3], noDefaultBOS: true),
        Family(family: "glm4", names: ["glm4", "glm5"], steps: [.llama3], ignoreMerges: true, noDefaultBOS: true),
        Family(family: "smollm", names: ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone"],
               steps: [.eachNumber, .gpt2]),
        Family(family: "gpt2", names: ["gpt-2", "phi-2", "gigachat", "a.x-4.0", "mellum", "mpt", "olmo", "jais",
                                       "trillion"], steps: [.gpt2]),
        Family(family: "qwen2", names: ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan",
                                        "solar-open"], steps: [.qwen2]),
        Family(family: "qwen35", names: ["qwen35"], steps: [.qwen35]),
        Family(family: "laguna", names: ["laguna"], steps: [.newlineRuns, .qwen2]),
        Family(family: "bloom", names: ["bloom", "gpt3-finnish", "poro-chat"], steps: [.bloom]),
        Family(family: "viking", names: ["viking"], steps: [.bloom, .eachNumber]),
        Family(family: "deepseek3", names: ["deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"],
               steps: [.numberGroups, .deepSeekCJK, .deepSeek3]),
        Family(family: "tekken", names: ["tekken"], steps: [.tekken], ignoreMerges: true, addsBOS: true),
        Family(family: "default", names: ["default"], steps: [.punctuationRuns, .gpt2, .numberRuns, .asciiDigitTriples]),
    ]

    static let supportedNames: [String] = families.flatMap(\.names)

    /// Names for which llama.cpp turns `clean_spaces` (a decoding step) off.
    static let namesWithoutSpaceCleaning: Set<String> = [
        "command-r", "smollm", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open",
        "qwen35", "laguna", "poro-chat", "viking", "tekken", "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4",
    ]

    /// nil for a name llama.cpp knows but this package does not implement (or llama.cpp rejects).
    init?(name: String) {
        // llama.cpp warns and uses the default pre-tokenizer when the key is missing or empty.
        let key = name.isEmpty ? "default" : name
        guard let entry = Self.families.first(where: { $0.names.contains(key) }) else { return nil }
        family = entry.family
        steps = entry.steps
        ignoreMerges = entry.ignoreMerges
        addsBOSByDefault = entry.addsBOS
        hasNoDefaultBOS = entry.noDefaultBOS
    }

    /// Splits `cpts` into words; returns their lengths in code points.
    func split(_ cpts: [UInt32]) -> [Int] {
        guard !cpts.isEmpty else { return [] }
        var pieces = [cpts.count]
        for step in steps {
            switch step {
            case .gpt2:
                pieces = WordSplitters.gpt2(cpts, pieces)
            case .llama3:
                pieces = WordSplitters.llama3(cpts, pieces, maxDigits: 3)
            case .qwen2:
                pieces = WordSplitters.llama3(cpts, pieces, maxDigits: 1)
            case .qwen35:
                pieces = WordSplitters.llama3(cpts, pieces, maxDigits: 1, marks: true)
            case .newlineRuns:
                pieces = WordSplitters.newlineRuns(cpts, pieces)
            case .bloom:
                pieces = WordSplitters.bloom(cpts, pieces)
            case .tekken:
                pieces = WordSplitters.tekken(cpts, pieces)
            case .numberGroups:
                pieces = WordSplitters.characterClass(cpts, pieces, .upTo(3), Self.isNumber)
            case .deepSeekCJK:
                // No \p{...} in this regex: llama.cpp matches the code points themselves.
                pieces = WordSplitters.characterClass(cpts, pieces, .run) {
                    (0x4E00...0x9FA5).contains($0) || (0x3040...0x30FF).contains($0)
                }
            case .deepSeek3:
                pieces = WordSplitters.deepSeek3(cpts, pieces)
            case .eachNumber:
                pieces = WordSplitters.characterClass(cpts, pieces, .one, Self.isNumber)
            case .numberRuns:
                pieces = WordSplitters.characterClass(cpts, pieces, .run, Self.isNumber)
            case .asciiDigitTriples:
                pieces = WordSplitters.characterClass(cpts, pieces, .exactly(3)) { (0x30...0x39).contains($0) }
            case .punctuationRuns:
                pieces = WordSplitters.characterClass(cpts, pieces, .run, Self.isDefaultPunctuation)
            }
        }
        return pieces
    }

    // llama.cpp runs the regexes it has no hand-written matcher for on a "collapsed" text where
    // each non-ASCII code point becomes one byte naming its category (whitespace first); ASCII
    // stays itself. These predicates are the classes as they read on that text.

    private static func isNumber(_ c: UInt32) -> Bool {
        if c < 128 { return (0x30...0x39).contains(c) }
        let flags = CodepointFlags.of(c)
        return !flags.isWhitespace && flags.category == .number
    }

    private static let asciiDefaultPunctuation: [Bool] = {
        var table = [Bool](repeating: false, count: 128)
        for scalar in "!\"#%&'()*,-./:;?@[\\]_{}$+<=>^~|".unicodeScalars { table[Int(scalar.value)] = true }
        return table
    }()

    /// `[\p{P}\$\+<=>\^~\|]`: ASCII punctuation per llama.cpp's table, those six symbols, and
    /// non-ASCII code points of category P.
    private static func isDefaultPunctuation(_ c: UInt32) -> Bool {
        if c < 128 { return asciiDefaultPunctuation[Int(c)] }
        let flags = CodepointFlags.of(c)
        return !flags.isWhitespace && flags.category == .punctuation
    }
}
