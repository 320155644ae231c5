import GGUF
import JSON

extension Architecture {
    /// `GraniteModel`: `LlamaModel` without `head_dim` (the class pops it, so no key/value length is
    /// written and RoPE spans hidden/heads), plus its four multipliers under llama.cpp's names.
    static let granite: Architecture = {
        var granite = llamaFamily(
            names: ["GraniteForCausalLM"], ggufName: "granite",
            defaults: [
                // GraniteConfig's defaults (transformers 4.57); the multipliers default to 1, which the
                // reference writes like any other value.
                ("num_key_value_heads", { $0["num_attention_heads"] }),
                ("max_position_embeddings", { _ in 2048 }),
                ("rms_norm_eps", { _ in 1e-6 }),
                ("rope_theta", { _ in 10000.0 }),
                ("vocab_size", { _ in 32000 }),
                ("attention_multiplier", { _ in 1.0 }),
                ("embedding_multiplier", { _ in 1.0 }),
                ("residual_multiplier", { _ in 1.0 }),
                ("logits_scaling", { _ in 1.0 }),
            ],
            extra: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                // Python truthiness: a multiplier of 0 (or null) is not written.
                for (key, name) in [(GGUFKeys.Attention.scale, "attention_multiplier"),
                                    (GGUFKeys.LLM.embeddingScale, "embedding_multiplier"),
                                    (GGUFKeys.LLM.residualScale, "residual_multiplier"),
                                    (GGUFKeys.LLM.logitScale, "logits_scaling")] {
                    if let value = try h.double([name]), value != 0 { m.setModel(key, .float32(Float(value))) }
                }
            })
        granite.ignoredConfigKeys = ["head_dim"]
        return granite
    }()
}
