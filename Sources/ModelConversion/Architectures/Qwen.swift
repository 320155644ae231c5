import GGUF
import Safetensors

extension Architecture {
    /// `Qwen2Model`: Llama's layout without the q/k permutation, with q/k/v biases (which stay F32).
    static let qwen2 = Architecture(
        huggingFaceNames: ["Qwen2ForCausalLM"],
        ggufName: "qwen2",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: llamaLikeLayerTensors,
        configDefaults: [
            // Qwen2Config's defaults (transformers 4.57); it has no head_dim.
            ("num_key_value_heads", { _ in 32 }),
            ("max_position_embeddings", { _ in 32768 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 10000.0 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (_: HyperParameters, _: inout MetadataBuilder) throws(ConversionError) in },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .gpt2)

    /// `Qwen3Model`: Qwen2 plus per-head RMS norms of q and k.
    static let qwen3 = Architecture(
        huggingFaceNames: ["Qwen3ForCausalLM"],
        ggufName: "qwen3",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: llamaLikeLayerTensors.merging([
            "self_attn.q_norm": "attn_q_norm",
            "self_attn.k_norm": "attn_k_norm",
        ]) { a, _ in a },
        configDefaults: [
            // Qwen3Config's defaults (transformers 4.57): head_dim is 128, not hidden/heads.
            ("num_key_value_heads", { _ in 32 }),
            ("head_dim", { _ in 128 }),
            ("max_position_embeddings", { _ in 32768 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 10000.0 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (_: HyperParameters, _: inout MetadataBuilder) throws(ConversionError) in },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .gpt2)
}
