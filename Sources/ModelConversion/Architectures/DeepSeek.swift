import GGUF
import JSON

extension Architecture {
    /// `DeepseekV2Model` (DeepSeek-V2, V3, Kimi-K2): MLA attention (low-rank q and kv with
    /// `kv_b_proj` split into `attn_k_b`/`attn_v_b`), leading dense layers, routed experts stacked
    /// into `*_exps`, shared experts, sigmoid routing with a score-correction bias and expert
    /// groups. The multi-token-prediction layers past `num_hidden_layers` are dropped, as is a tied
    /// `lm_head`. MLA is written as MQA, so `head_count_kv` is 1.
    static let deepseek2: Architecture = {
        var deepseek = Architecture(
            huggingFaceNames: ["DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"],
            ggufName: "deepseek2",
            globalTensors: llamaLikeGlobalTensors,
            layerTensors: tensorTable(gatedFFNTensors, stackedExpertTensors, sharedExpertsRoutingTensors, [
                "input_layernorm": "attn_norm",
                "self_attn.q_proj": "attn_q",
                "self_attn.q_a_proj": "attn_q_a",
                "self_attn.q_a_layernorm": "attn_q_a_norm",
                "self_attn.q_b_proj": "attn_q_b",
                "self_attn.kv_a_proj_with_mqa": "attn_kv_a_mqa",
                "self_attn.kv_a_layernorm": "attn_kv_a_norm",
                "self_attn.k_b_proj": "attn_k_b",
                "self_attn.v_b_proj": "attn_v_b",
                "self_attn.o_proj": "attn_output",
                "post_attention_layernorm": "ffn_norm",
            ]),
            configDefaults: [
                // DeepseekV3Config's defaults (transformers 4.57) for the keys the converter reads.
                ("num_key_value_heads", { $0["num_attention_heads"] }),
                ("max_position_embeddings", { _ in 4096 }),
                ("rms_norm_eps", { _ in 1e-6 }),
                ("rope_theta", { _ in 10000.0 }),
                ("kv_lora_rank", { _ in 512 }),
                ("qk_rope_head_dim", { _ in 64 }),
                ("qk_nope_head_dim", { _ in 128 }),
                ("v_head_dim", { _ in 128 }),
            ],
            permutesQueryKey: false,
            writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                // MLA as MQA: TextModel's head_count_kv (already written) becomes 1.
                m.setModel(GGUFKeys.Attention.headCountKV, .uint32(1))
                let hasExperts = h["n_routed_experts"].map { !$0.isNull } ?? false
                var leadingDense = try h.int(["first_k_dense_replace"])
                if leadingDense == nil { leadingDense = hasExperts ? 0 : try h.requiredInt(["num_hidden_layers"]) }
                m.setModel(GGUFKeys.LLM.leadingDenseBlockCount, .uint32(UInt32(clamping: leadingDense ?? 0)))
                let kvLora = try h.int(["kv_lora_rank"]) ?? 512
                m.setModel(GGUFKeys.LLM.vocabSize, try h.uint32(["vocab_size"]))
                m.setModel(GGUFKeys.Attention.qLoraRank, try h.uint32(["q_lora_rank"]))
                let rope = try h.requiredInt(["qk_rope_head_dim"])
                let nope = try h.requiredInt(["qk_nope_head_dim"])
                let value = try h.requiredInt(["v_head_dim"])
                for (key, number) in [(GGUFKeys.Attention.kvLoraRank, kvLora), (GGUFKeys.Attention.keyLength, kvLora + rope),
                                      (GGUFKeys.Attention.valueLength, kvLora),
                                      (GGUFKeys.Attention.keyLengthMLA, nope + rope),
                                      (GGUFKeys.Attention.valueLengthMLA, value)] {
                    guard let narrow = UInt32(exactly: number) else {
                        throw .config(path: h.path, key: "kv_lora_rank", message: "gives \(key.suffix) \(number), outside 0...2^32-1")
                    }
                    m.setModel(key, .uint32(narrow))
                }
                m.setModel(GGUFKeys.LLM.expertFeedForwardLength, try h.uint32(["moe_intermediate_size", "intermediate_size"]))
                m.setModel(GGUFKeys.LLM.expertCount, try h.uint32(["n_routed_experts"]))
                let shared = try h.uint32(["n_shared_experts"])
                m.setModel(GGUFKeys.LLM.expertSharedCount, shared ?? .uint32(0))
                m.setModel(GGUFKeys.LLM.expertWeightsScale, try h.float32(["routed_scaling_factor"]))
                if h["norm_topk_prob"]?.boolValue == true { m.setModel(GGUFKeys.LLM.expertWeightsNorm, .bool(true)) }
                m.setModel(GGUFKeys.Rope.dimensionCount, .uint32(UInt32(clamping: rope)))
                if let mscale = RopeParameters(h).full["mscale_all_dim"]?.doubleValue {
                    m.setModel(GGUFKeys.Rope.scalingYarnLogMul, .float32(Float(0.1 * mscale)))
                }
            },
            generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
            vocabulary: .bpe)
        deepseek.splitsKeyValueB = true
        deepseek.filterTensor = { name, h in
            if h["tie_word_embeddings"]?.boolValue == true, name == "lm_head.weight" || name == "model.lm_head.weight" {
                return nil
            }
            // Multi-token-prediction layers follow the decoder's layers in the checkpoint.
            if name.hasPrefix("model.layers."), let layer = Architecture.blockID(of: name),
               let layers = h["num_hidden_layers"]?.intValue, layer >= layers {
                return nil
            }
            return name
        }
        return deepseek
    }()
}
