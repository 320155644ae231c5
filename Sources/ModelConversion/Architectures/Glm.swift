import GGUF
import JSON

extension Architecture {
    /// `Glm4Model` (GLM-4-0414): the MLP's `gate_up_proj` is written fused as `ffn_up`; norms after
    /// attention and after the MLP besides the usual two; q/k/v biases; RoPE on part of each head.
    /// Its vocabulary takes eos/eot/unk/bos from GLM's added tokens where the files set none.
    static let glm4 = Architecture(
        huggingFaceNames: ["Glm4ForCausalLM"],
        ggufName: "glm4",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: tensorTable(attentionProjectionTensors, [
            "input_layernorm": "attn_norm",
            "post_self_attn_layernorm": "post_attention_norm",
            "post_attention_layernorm": "ffn_norm",
            "post_mlp_layernorm": "post_ffw_norm",
            "mlp.gate_up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down",
        ]),
        configDefaults: [
            // Glm4Config's defaults (transformers 4.57).
            ("num_key_value_heads", { _ in 2 }),
            ("head_dim", { _ in 128 }),
            ("partial_rotary_factor", { _ in 0.5 }),
            ("max_position_embeddings", { _ in 131072 }),
            ("rms_norm_eps", { _ in 0.00000015625 }),
            ("rope_theta", { _ in 10000.0 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            if RopeParameters(h).all["mrope_section"] != nil {
                // GLM-4V's M-RoPE needs the q/k rows reordered (`normal_to_neox`), which this
                // converter does not do.
                throw .config(path: h.path, key: "rope_parameters.mrope_section",
                              message: "is set (multimodal RoPE of GLM-4V), which this converter does not support"
                                  + " — use convert_hf_to_gguf.py")
            }
            m.setModel(GGUFKeys.Rope.dimensionCount, try glmRopeDimensionCount(h))
        },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .glm4)

    /// `Glm4MoeModel` (GLM-4.5, 4.6): leading dense layers, then routed experts stacked into
    /// `*_exps` with a shared expert and sigmoid routing corrected by `e_score_correction_bias`;
    /// per-head q/k norms, q/k/v biases, partial RoPE. The NextN (multi-token prediction) layers
    /// that follow the decoder's layers in the checkpoint (`model.layers.<num_hidden_layers>.*`)
    /// are kept: `block_count` includes them and `nextn_predict_layers` says how many.
    static let glm4moe: Architecture = {
        var glm4moe = Architecture(
            huggingFaceNames: ["Glm4MoeForCausalLM"],
            ggufName: "glm4moe",
            globalTensors: llamaLikeGlobalTensors,
            layerTensors: tensorTable(attentionProjectionTensors, queryKeyNormTensors, gatedFFNTensors,
                                      stackedExpertTensors, sharedExpertsRoutingTensors, [
                "input_layernorm": "attn_norm",
                "post_attention_layernorm": "post_attention_norm",
                // The NextN layer's own tensors (besides a full decoder layer).
                "eh_proj": "nextn.eh_proj",
                "embed_tokens": "nextn.embed_tokens",
                "enorm": "nextn.enorm",
                "hnorm": "nextn.hnorm",
                "shared_head.head": "nextn.shared_head_head",
                "shared_head.norm": "nextn.shared_head_norm",
            ]),
            configDefaults: [
                // Glm4MoeConfig's defaults (transformers 4.57); it has no head_dim.
                ("num_key_value_heads", { _ in 8 }),
                ("partial_rotary_factor", { _ in 0.5 }),
                ("max_position_embeddings", { _ in 131072 }),
                ("rms_norm_eps", { _ in 1e-5 }),
                ("rope_theta", { _ in 10000.0 }),
                ("moe_intermediate_size", { _ in 1408 }),
                ("num_experts_per_tok", { _ in 8 }),
                ("n_shared_experts", { _ in 1 }),
                ("n_routed_experts", { _ in 128 }),
                ("routed_scaling_factor", { _ in 1.0 }),
                ("n_group", { _ in 1 }),
                ("topk_group", { _ in 1 }),
                ("first_k_dense_replace", { _ in 1 }),
                ("norm_topk_prob", { _ in true }),
            ],
            permutesQueryKey: false,
            writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                m.setModel(GGUFKeys.Rope.dimensionCount, try glmRopeDimensionCount(h))
                // Routed experts only (the shared one is counted apart).
                m.setModel(GGUFKeys.LLM.expertCount, try h.uint32(["n_routed_experts"]))
                m.setModel(GGUFKeys.LLM.expertFeedForwardLength, try h.uint32(["moe_intermediate_size"]))
                m.setModel(GGUFKeys.LLM.expertSharedCount, try h.uint32(["n_shared_experts"]))
                m.setModel(GGUFKeys.LLM.leadingDenseBlockCount, try h.uint32(["first_k_dense_replace"]))
                m.setModel(GGUFKeys.LLM.expertGatingFunc, .uint32(2))  // gguf-py ExpertGatingFuncType.SIGMOID
                m.setModel(GGUFKeys.LLM.expertWeightsScale, try h.float32(["routed_scaling_factor"]))
                if let norm = h["norm_topk_prob"], !norm.isNull {
                    guard let flag = norm.boolValue else {
                        throw .config(path: h.path, key: "norm_topk_prob", message: "is \(norm.kindName), expected true or false")
                    }
                    m.setModel(GGUFKeys.LLM.expertWeightsNorm, .bool(flag))
                }
                m.setModel(GGUFKeys.LLM.nextNPredictLayers, try h.uint32(["num_nextn_predict_layers"]))
            },
            generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
            vocabulary: .glm)
        glm4moe.countsNextNLayers = true
        return glm4moe
    }()

    /// `int(head_dim * partial_rotary_factor)`: the rotated part of each head (`head_dim` defaults to
    /// hidden_size / num_attention_heads, the factor to 0.5).
    @Sendable
    static func glmRopeDimensionCount(_ h: HyperParameters) throws(ConversionError) -> GGUFValue {
        var headDim = try h.int(["head_dim"])
        if headDim == nil {
            let hidden = try h.requiredInt(["hidden_size"])
            let heads = try h.requiredInt(["num_attention_heads"])
            guard heads > 0 else { throw .config(path: h.path, key: "num_attention_heads", message: "is \(heads), expected at least 1") }
            headDim = hidden / heads
        }
        let factorValue = RopeParameters(h).all["partial_rotary_factor"]
        var factor = 0.5
        if let factorValue, !factorValue.isNull {
            guard let number = factorValue.doubleValue else {
                throw .config(path: h.path, key: "partial_rotary_factor", message: "is \(factorValue.kindName), expected a number")
            }
            factor = number
        }
        let product = Double(headDim ?? 0) * factor
        guard product.isFinite, product >= 0, product < 4_294_967_296 else {
            throw .config(path: h.path, key: "partial_rotary_factor",
                          message: "is \(factor), which with head_dim \(headDim ?? 0) gives no valid rotary dimension count")
        }
        return .uint32(UInt32(product.rounded(.towardZero)))
    }
}
