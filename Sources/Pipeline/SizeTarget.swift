import GGUF
import JSON

/// A scheme's size target: `"target": {"size_of": "Q4_K_M"} | {"bpw": 3.9} | {"bytes": N}`.
/// The whole file must fit it; `size_of` means never larger than llama-quantize's file of that mix
/// (with the same importance matrix, i.e. the same plan).
public enum SizeTarget: Sendable, Equatable {
    case sizeOf(QuantMix)
    /// Bits per weight over every tensor's elements (the manifest's `bits_per_weight`).
    case bitsPerWeight(Double)
    /// The whole GGUF file, header included.
    case bytes(Int)

    public var json: JSONValue {
        switch self {
        case .sizeOf(let mix): .object([("size_of", .string(mix.rawValue))])
        case .bitsPerWeight(let bpw): .object([("bpw", .number(JSONNumber(bpw)))])
        case .bytes(let n): .object([("bytes", .number(JSONNumber(n)))])
        }
    }

    public var label: String {
        switch self {
        case .sizeOf(let mix): "size of \(mix.rawValue)"
        case .bitsPerWeight(let bpw): "\(bpw) bpw"
        case .bytes(let n): "\(n) bytes"
        }
    }

    /// The types a size-target scheme chooses from when it lists none: the k-quants and Q8_0,
    /// all of which stock llama.cpp runs on every backend.
    public static let defaultTypes: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_0]

    /// Types a size target may choose: ones quantd writes, the forward pass reads (to measure them),
    /// and llama.cpp runs; the 1–3 bit IQ grids are left out (they need an imatrix for every tensor
    /// and are slow to search).
    public static let allowedTypes: [GGMLType] = [
        .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_NL, .iq4_XS, .f16, .bf16,
    ]
}

/// What a size-target scheme asks for, beside its target.
public struct SizeTargetSettings: Sendable, Equatable {
    public var target: SizeTarget
    public var types: [GGMLType]
    /// The text the sensitivity passes run on, as written in the pipeline (nil: the computed
    /// imatrix stage's text, else the bundled calibration text).
    public var text: String?
    /// Tokens of that text per sensitivity pass (one chunk).
    public var tokens: Int

    public static let defaultTokens = 96

    public init(target: SizeTarget, types: [GGMLType] = SizeTarget.defaultTypes, text: String? = nil,
                tokens: Int = defaultTokens) {
        self.target = target
        self.types = types
        self.text = text
        self.tokens = tokens
    }
}

/// How blocks are rounded after ggml's scale search.
public enum Rounding: String, Sendable, Equatable {
    /// ggml's bytes, identical to llama-quantize.
    case ggml
    /// `RefinedRounding`: never worse under the importance-weighted error; departs from llama.cpp's bytes.
    case refined
}

extension PipelineConfig {
    /// `"target"`, `"types"`, `"text"`, `"tokens"` of a scheme (the size-target keys).
    static func parseSizeTarget(_ reader: inout ConfigReader, path: String) throws(ConfigError) -> SizeTargetSettings? {
        guard let raw = reader.raw("target") else {
            for key in ["types", "sensitivity_text", "sensitivity_tokens"] where reader.raw(key) != nil {
                throw ConfigError(path: "\(path).\(key)", message: "belongs to a size target; add \"target\": {\"size_of\": \"Q4_K_M\"} (or bpw, bytes) or remove it")
            }
            return nil
        }
        var t = try ConfigReader(raw, path: "\(path).target")
        let sizeOf = try t.string("size_of")
        let bpw = try t.raw("bpw").map { v throws(ConfigError) in
            try ConfigReader.number(v, at: "\(path).target.bpw", in: 0.5...32, unit: "bits per weight")
        }
        let bytes = try t.int("bytes", in: 1...Int.max)
        try t.rejectUnknownKeys()
        let given = [sizeOf != nil, bpw != nil, bytes != nil].filter { $0 }.count
        guard given == 1 else {
            throw ConfigError(path: "\(path).target", message: "must name exactly one of size_of (a mix, e.g. \"Q4_K_M\"), bpw (bits per weight) or bytes (the whole file)")
        }
        let target: SizeTarget
        if let sizeOf {
            guard let mix = QuantMix(name: sizeOf), mix.defaultType.isQuantized else {
                throw ConfigError(path: "\(path).target.size_of", message: "'\(sizeOf)' is not a quantized mix llama-quantize knows (e.g. Q4_K_M, Q3_K_M, Q2_K)")
            }
            target = .sizeOf(mix)
        } else if let bpw {
            target = .bitsPerWeight(bpw)
        } else {
            target = .bytes(bytes ?? 0)
        }
        var settings = SizeTargetSettings(target: target)
        if let list = try reader.array("types") {
            guard !list.isEmpty else { throw ConfigError(path: "\(path).types", message: "is empty; list the types to choose from, e.g. [\"Q3_K\", \"Q4_K\", \"Q5_K\", \"Q6_K\"]") }
            var types: [GGMLType] = []
            for (i, item) in list.enumerated() {
                guard let name = item.stringValue, let type = GGMLType(name: name), SizeTarget.allowedTypes.contains(type) else {
                    throw ConfigError(path: "\(path).types[\(i)]", message: "is not a type a size target can choose (\(SizeTarget.allowedTypes.map(\.name).joined(separator: ", ")))")
                }
                if !types.contains(type) { types.append(type) }
            }
            settings.types = types
        }
        if let text = try reader.string("sensitivity_text") {
            guard !text.isEmpty else { throw ConfigError(path: "\(path).sensitivity_text", message: "is empty; name a UTF-8 text file or leave the key out") }
            settings.text = text
        }
        settings.tokens = try reader.int("sensitivity_tokens", in: 16...8192) ?? SizeTargetSettings.defaultTokens
        return settings
    }
}
