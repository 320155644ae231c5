#if canImport(Glibc)
import Glibc
#endif
import GGUF
import Safetensors

extension Architecture {
    /// `Phi3MiniModel`: fused `qkv_proj` and `gate_up_proj` kept fused, its own hyperparameter list
    /// (not TextModel's), a sliding window (0 when none), and LongRoPE factor tensors.
    static let phi3 = Architecture(
        huggingFaceNames: ["Phi3ForCausalLM"],
        ggufName: "phi3",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: [
            "input_layernorm": "attn_norm",
            "self_attn.qkv_proj": "attn_qkv",
            "self_attn.o_proj": "attn_output",
            "post_attention_layernorm": "ffn_norm",
            "mlp.gate_up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down",
        ],
        configDefaults: [
            // Phi3Config's defaults (transformers 4.57).
            ("num_key_value_heads", { $0["num_attention_heads"] }),
            ("max_position_embeddings", { _ in 4096 }),
            ("original_max_position_embeddings", { _ in 4096 }),
            ("rms_norm_eps", { _ in 1e-5 }),
            ("rope_theta", { _ in 10000.0 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            let rope = RopeParameters(h)
            let embedding = try h.requiredInt(["hidden_size", "n_embd"])
            let heads = try h.requiredInt(["num_attention_heads", "n_head"])
            let topLevelOriginal = try h.int(["original_max_position_embeddings"])
            guard let original = rope.full["original_max_position_embeddings"]?.intValue ?? topLevelOriginal else {
                throw .config(path: h.path, key: "original_max_position_embeddings", message: "is missing")
            }
            guard let theta = rope.theta else { throw .config(path: h.path, key: "rope_theta", message: "is missing") }
            m.setModel(GGUFKeys.LLM.contextLength, try h.uint32(["n_positions", "max_position_embeddings"]))
            m.setModel(GGUFKeys.Rope.scalingOrigCtxLen, .uint32(UInt32(clamping: original)))
            m.setModel(GGUFKeys.LLM.embeddingLength, .uint32(UInt32(clamping: embedding)))
            m.setModel(GGUFKeys.LLM.feedForwardLength, try h.uint32(["intermediate_size"]))
            m.metadataMove("\(m.architecture).block_count")
            m.setModel(GGUFKeys.Attention.headCount, .uint32(UInt32(clamping: heads)))
            m.setModel(GGUFKeys.Attention.headCountKV, try h.uint32(["num_key_value_heads", "n_head_kv"]))
            m.setModel(GGUFKeys.Attention.layerNormRMSEps, try h.float32(["rms_norm_eps"]))
            m.setModel(GGUFKeys.Rope.dimensionCount, .uint32(UInt32(clamping: Phi3Rope.dimensions(h, embedding: embedding, heads: heads))))
            m.setModel(GGUFKeys.Rope.freqBase, .float32(Float(theta)))
            m.metadataMove(GGUFKeys.General.fileType)
            m.setModel(GGUFKeys.Attention.slidingWindow, try h.uint32(["sliding_window"]) ?? .uint32(0))
            if let factor = try Phi3Rope.attentionFactor(h, original: original) {
                m.setModel(GGUFKeys.Rope.scalingAttnFactor, .float32(Float(factor)))
            }
        },
        generatedTensors: { (h: HyperParameters) throws(ConversionError) in try Phi3Rope.factorTensors(h) },
        vocabulary: .phi3,
        writesTextModelParameters: false)
}

/// Phi-3's partial rotary dimensions and LongRoPE (`Phi3MiniModel.generate_extra_tensors`).
enum Phi3Rope {
    static func dimensions(_ h: HyperParameters, embedding: Int, heads: Int) -> Int {
        let fraction = RopeParameters(h).full["partial_rotary_factor"]?.doubleValue ?? 1.0
        return heads > 0 ? Int(fraction * Double(embedding)) / heads : 0
    }

    /// nil without `long_factor`; else the attention factor of the scaling type.
    static func attentionFactor(_ h: HyperParameters, original: Int) throws(ConversionError) -> Double? {
        let rope = RopeParameters(h)
        guard let long = rope.full["long_factor"]?.arrayValue, !long.isEmpty else { return nil }
        let context = try h.int(["n_positions", "max_position_embeddings"]) ?? original
        let scale = Double(context) / Double(original)
        switch rope.type?.lowercased() {
        case "su", "longrope": return scale > 1 ? (1 + log(scale) / log(Double(original))).squareRoot() : 1
        case "yarn": return scale > 1 ? 0.1 * log(scale) + 1 : 1
        default:
            throw .config(path: h.path, key: "rope_scaling.rope_type",
                          message: "is '\(rope.type ?? "")', which Phi-3 LongRoPE conversion does not support")
        }
    }

    static func factorTensors(_ h: HyperParameters) throws(ConversionError) -> [GeneratedTensor] {
        let rope = RopeParameters(h)
        guard let long = rope.full["long_factor"]?.arrayValue, !long.isEmpty else { return [] }
        guard let short = rope.full["short_factor"]?.arrayValue else {
            throw .config(path: h.path, key: "rope_scaling.short_factor", message: "is missing")
        }
        let embedding = try h.requiredInt(["hidden_size", "n_embd"])
        let heads = try h.requiredInt(["num_attention_heads", "n_head"])
        let half = dimensions(h, embedding: embedding, heads: heads) / 2
        let longValues = long.compactMap(\.doubleValue).map(Float.init)
        let shortValues = short.compactMap(\.doubleValue).map(Float.init)
        guard longValues.count == long.count, shortValues.count == short.count,
              longValues.count == half, shortValues.count == half else {
            throw .config(path: h.path, key: "rope_scaling.long_factor", message: "and short_factor must each hold \(half) numbers")
        }
        return [GeneratedTensor(name: "rope_factors_long.weight", values: longValues),
                GeneratedTensor(name: "rope_factors_short.weight", values: shortValues)]
    }
}
