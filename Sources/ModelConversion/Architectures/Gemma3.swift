import GGUF
import Safetensors

extension Architecture {
    /// `Gemma3Model` (text): RMSNorm weights stored as `w - 1` get 1 added, four norms per layer,
    /// q/k norms, sliding-window attention keys, final logit soft-capping, the embedding cut to
    /// the tokenizer's vocabulary, and SentencePiece without a space prefix.
    static let gemma3 = Architecture(
        huggingFaceNames: ["Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"],
        ggufName: "gemma3",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: tensorTable(attentionProjectionTensors, queryKeyNormTensors, sandwichNormTensors, gatedFFNTensors),
        configDefaults: [
            // Gemma3TextConfig's defaults (transformers 4.57), which are also the converter's fallbacks.
            ("max_position_embeddings", { _ in 131072 }),
            ("num_attention_heads", { _ in 8 }),
            ("num_key_value_heads", { _ in 4 }),
            ("head_dim", { _ in 256 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 1_000_000.0 }),
            ("rope_local_base_freq", { _ in 10000.0 }),
            ("sliding_window", { _ in 4096 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            // Gemma3Model.set_gguf_parameters re-sets these after TextModel's, in this order.
            m.setModel(GGUFKeys.LLM.contextLength, try h.uint32(["max_position_embeddings"]))
            m.setModel(GGUFKeys.Attention.headCount, try h.uint32(["num_attention_heads"]))
            m.setModel(GGUFKeys.Attention.layerNormRMSEps, try h.float32(["rms_norm_eps"]))
            m.setModel(GGUFKeys.Attention.keyLength, try h.uint32(["head_dim"]))
            m.setModel(GGUFKeys.Attention.valueLength, try h.uint32(["head_dim"]))
            let theta = RopeParameters(h).theta ?? 1_000_000.0
            m.setModel(GGUFKeys.Rope.freqBase, .float32(Float(theta)))
            if let cap = try h.double(["final_logit_softcapping"]), cap != 0 {
                m.setModel(GGUFKeys.LLM.finalLogitSoftcapping, .float32(Float(cap)))
            }
            if h["sliding_window_pattern"]?.intValue != 1 {
                guard let window = try h.uint32(["sliding_window"]) else {
                    throw .config(path: h.path, key: "sliding_window", message: "is null, but Gemma 3 needs its window size")
                }
                m.setModel(GGUFKeys.Attention.slidingWindow, window)
            }
            m.setModel(GGUFKeys.Attention.headCountKV, try h.uint32(["num_key_value_heads"]))
        },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .gemma,
        normShift: 1,
        truncatesEmbeddingToVocabulary: true)
}
