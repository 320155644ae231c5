import JSON
import GGUF
import Safetensors

/// GGUF metadata in the order the reference writes it, with gguf-py's value types: Python ints as
/// UINT32, floats as FLOAT32. Setting a key twice keeps its first position, as gguf-py's dict does.
public struct MetadataBuilder: Sendable {
    public private(set) var metadata = GGUFMetadata()
    /// `general.architecture`, the prefix of the model's hyperparameter keys.
    public let architecture: String

    public init(architecture: String) {
        self.architecture = architecture
        metadata[GGUFKeys.General.architecture] = .string(architecture)
    }

    public mutating func set(_ key: String, _ value: GGUFValue?) {
        if let value { metadata[key] = value }
    }

    /// Sets an architecture-relative key (`{arch}.<suffix>`) for this builder's architecture.
    public mutating func setModel(_ key: GGUFKeys.ArchitectureKey, _ value: GGUFValue?) {
        set(key(architecture), value)
    }

    /// Moves an existing key to the end, keeping its value: for writers whose reference sets a key
    /// earlier than this builder can (Phi-3's block_count and file_type sit among its own keys).
    mutating func metadataMove(_ key: String) {
        guard let value = metadata[key] else { return }
        metadata[key] = nil
        metadata[key] = value
    }

    public static func stringArray(_ values: [String]) -> GGUFValue {
        .array(.string, values.map { .string($0) })
    }
}

/// `TextModel.set_gguf_parameters`: the hyperparameters every text model writes, in its order.
enum TextModelParameters {
    static func write(_ h: HyperParameters, blockCount: Int, fileType: UInt32,
                      into m: inout MetadataBuilder) throws(ConversionError) {
        m.setModel(GGUFKeys.LLM.blockCount, .uint32(UInt32(clamping: blockCount)))
        m.setModel(GGUFKeys.LLM.contextLength, try h.uint32(["max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                                   "max_sequence_length", "model_max_length"]))
        m.setModel(GGUFKeys.LLM.embeddingLength, try h.uint32(["hidden_size", "n_embd", "dim"]))
        m.setModel(GGUFKeys.LLM.feedForwardLength, try h.uint32(["prefix_dense_intermediate_size", "dense_intermediate_size",
                                                        "intermediate_size", "n_inner", "hidden_dim"]))
        m.setModel(GGUFKeys.Attention.headCount, try h.uint32(["num_attention_heads", "n_head", "n_heads"]))
        m.setModel(GGUFKeys.Attention.headCountKV, try h.uint32(["num_key_value_heads", "n_kv_heads"]))
        if h["is_causal"]?.boolValue == false {
            m.setModel(GGUFKeys.Attention.causal, .bool(false))
        }

        let rope = RopeParameters(h)
        if let type = rope.type {
            let factor = rope.full["factor"]?.doubleValue
            switch type.lowercased() {
            case "linear" where factor != nil:
                m.setModel(GGUFKeys.Rope.scalingType, .string("linear"))
                m.setModel(GGUFKeys.Rope.scalingFactor, factor.map { .float32(Float($0)) })
            case "yarn" where factor != nil:
                m.setModel(GGUFKeys.Rope.scalingType, .string("yarn"))
                m.setModel(GGUFKeys.Rope.scalingFactor, factor.map { .float32(Float($0)) })
                guard let original = rope.full["original_max_position_embeddings"]?.intValue,
                      let narrow = UInt32(exactly: original) else {
                    throw .config(path: h.path, key: "rope_scaling.original_max_position_embeddings",
                                  message: "is missing or not an integer, and yarn scaling needs it")
                }
                m.setModel(GGUFKeys.Rope.scalingOrigCtxLen, .uint32(narrow))
                for (key, names) in [(GGUFKeys.Rope.scalingYarnExtFactor, ["extrapolation_factor"]),
                                     (GGUFKeys.Rope.scalingYarnAttnFactor, ["attention_factor", "attn_factor"]),
                                     (GGUFKeys.Rope.scalingYarnBetaFast, ["beta_fast"]),
                                     (GGUFKeys.Rope.scalingYarnBetaSlow, ["beta_slow"])] {
                    if let value = names.lazy.compactMap({ rope.full[$0]?.doubleValue }).first {
                        m.setModel(key, .float32(Float(value)))
                    }
                }
            case "su", "longrope":
                m.setModel(GGUFKeys.Rope.scalingType, .string("longrope"))
            default:
                // "llama3" becomes the rope_freqs tensor; "dynamic" and unknown types write nothing.
                break
            }
        }
        if let theta = rope.theta { m.setModel(GGUFKeys.Rope.freqBase, .float32(Float(theta))) }
        if let local = try h.double(["local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta",
                                     "rope_local_base_freq"]) {
            m.setModel(GGUFKeys.Rope.freqBaseSWA, .float32(Float(local)))
        }
        m.setModel(GGUFKeys.Attention.layerNormRMSEps, try h.float32(["rms_norm_eps", "norm_eps"]))
        m.setModel(GGUFKeys.Attention.layerNormEps, try h.float32(["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"]))
        m.setModel(GGUFKeys.LLM.expertCount, try h.uint32(["num_local_experts", "num_experts", "n_routed_experts"]))
        m.setModel(GGUFKeys.LLM.expertUsedCount, try h.uint32(["num_experts_per_tok", "num_experts_per_token", "top_k_experts"]))
        m.setModel(GGUFKeys.LLM.expertGroupCount, try h.uint32(["n_group"]))
        m.setModel(GGUFKeys.LLM.expertGroupUsedCount, try h.uint32(["topk_group"]))
        let scoreKeys = ["score_function", "scoring_func", "score_func", "moe_router_activation", "moe_router_activation_func",
                         "expert_selection_fn"]
        if let score = h.find(scoreKeys), !score.isNull {
            // gguf-py `ExpertGatingFuncType`.
            let gating: [String: UInt32] = ["softmax": 1, "sigmoid": 2, "sqrtsoftplus": 4]
            guard let name = score.stringValue, let id = gating[name] else {
                throw .config(path: h.path, key: scoreKeys.first { h[$0] != nil } ?? scoreKeys[0],
                              message: "is \(score.serialized()); the expert gating functions are softmax, sigmoid and sqrtsoftplus")
            }
            m.setModel(GGUFKeys.LLM.expertGatingFunc, .uint32(id))
        }
        if let headDim = try h.uint32(["head_dim"]) {
            m.setModel(GGUFKeys.Attention.keyLength, headDim)
            m.setModel(GGUFKeys.Attention.valueLength, headDim)
        }
        m.set(GGUFKeys.General.fileType, .uint32(fileType))
    }
}

/// `TextModel.rope_parameters`: `rope_parameters` or `rope_scaling`, with the top-level rope
/// theta, partial rotary factor and original context length mirrored in, and the
/// `full_attention` entry when the model has per-kind parameters.
struct RopeParameters {
    /// The whole dictionary (`self.rope_parameters`).
    let all: JSONValue
    /// Its `full_attention` entry, or the whole dictionary when it has none.
    let full: JSONValue
    let theta: Double?
    let type: String?

    init(_ h: HyperParameters) {
        var members = (h.find(["rope_parameters"]) ?? h["rope_scaling"])?.objectValue ?? []
        let hasKinds = members.contains { $0.key == "full_attention" || $0.key == "sliding_attention" }
        if !hasKinds {
            if !members.contains(where: { $0.key == "rope_theta" }),
               let theta = h.find(["global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta",
                                   "rotary_emb_base"]), !theta.isNull {
                members.append((key: "rope_theta", value: theta))
            }
            if !members.contains(where: { $0.key == "rope_type" }),
               let type = members.first(where: { $0.key == "type" })?.value, !type.isNull {
                members.append((key: "rope_type", value: type))
            }
            for (key, names) in [("partial_rotary_factor", ["partial_rotary_factor", "rope_pct", "rope_percent"]),
                                 ("original_max_position_embeddings", ["original_max_position_embeddings"])]
                where !members.contains(where: { $0.key == key }) {
                if let value = h.find(names), !value.isNull { members.append((key: key, value: value)) }
            }
        }
        let all = JSONValue.object(members)
        self.all = all
        full = all["full_attention"] ?? all
        theta = full["rope_theta"]?.doubleValue
        type = full["rope_type"]?.stringValue
    }
}
