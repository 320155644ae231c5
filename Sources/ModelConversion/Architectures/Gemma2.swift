import GGUF
import JSON

extension Architecture {
    /// `Gemma2Model`: writes its own hyperparameters (not TextModel's), norms stored as `w - 1`,
    /// four norms per layer, attention and final logit soft-capping, one sliding window; the tied
    /// `lm_head.weight` some exports carry is dropped; SentencePiece without a space prefix.
    static let gemma2: Architecture = {
        var gemma2 = Architecture(
            huggingFaceNames: ["Gemma2ForCausalLM"],
            ggufName: "gemma2",
            globalTensors: llamaLikeGlobalTensors,
            layerTensors: tensorTable(attentionProjectionTensors, sandwichNormTensors, gatedFFNTensors),
            configDefaults: [
                // Gemma2Config's defaults (transformers 4.57).
                ("max_position_embeddings", { _ in 8192 }),
                ("num_attention_heads", { _ in 8 }),
                ("num_key_value_heads", { _ in 4 }),
                ("head_dim", { _ in 256 }),
                ("rms_norm_eps", { _ in 1e-6 }),
                ("sliding_window", { _ in 4096 }),
                ("attn_logit_softcapping", { _ in 50.0 }),
                ("final_logit_softcapping", { _ in 30.0 }),
            ],
            permutesQueryKey: false,
            writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                m.setModel(GGUFKeys.LLM.contextLength, try h.uint32(["max_position_embeddings"]))
                m.setModel(GGUFKeys.LLM.embeddingLength, try h.uint32(["hidden_size"]))
                // The class writes every key itself: block_count and file_type sit among them.
                m.metadataMove("\(m.architecture).block_count")
                m.setModel(GGUFKeys.LLM.feedForwardLength, try h.uint32(["intermediate_size"]))
                m.setModel(GGUFKeys.Attention.headCount, try h.uint32(["num_attention_heads"]))
                m.setModel(GGUFKeys.Attention.headCountKV, try h.uint32(["num_key_value_heads", "num_attention_heads"]))
                m.setModel(GGUFKeys.Attention.layerNormRMSEps, try h.float32(["rms_norm_eps"]))
                m.setModel(GGUFKeys.Attention.keyLength, try h.uint32(["head_dim"]))
                m.setModel(GGUFKeys.Attention.valueLength, try h.uint32(["head_dim"]))
                m.metadataMove(GGUFKeys.General.fileType)
                m.setModel(GGUFKeys.LLM.attnLogitSoftcapping, try h.float32(["attn_logit_softcapping"]))
                m.setModel(GGUFKeys.LLM.finalLogitSoftcapping, try h.float32(["final_logit_softcapping"]))
                m.setModel(GGUFKeys.Attention.slidingWindow, try h.uint32(["sliding_window"]))
            },
            generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
            vocabulary: .gemma,
            normShift: 1)
        gemma2.writesTextModelParameters = false
        gemma2.filterTensor = { name, _ in name == "lm_head.weight" ? nil : name }
        return gemma2
    }()
}
