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
        layerTensors: tensorTable(llamaLikeLayerTensors, queryKeyNormTensors),
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

/// Layer tensors of the Qwen MoE classes: the router `mlp.gate`, per-expert weights stacked into
/// `*_exps`, and Qwen2-MoE's shared expert with its sigmoid gate.
let qwenMoELayerTensors = tensorTable(llamaLikeLayerTensors, stackedExpertTensors, [
    "mlp.gate": "ffn_gate_inp",
    "mlp.shared_expert.gate_proj": "ffn_gate_shexp",
    "mlp.shared_expert.up_proj": "ffn_up_shexp",
    "mlp.shared_expert.down_proj": "ffn_down_shexp",
    "mlp.shared_expert_gate": "ffn_gate_inp_shexp",
])

extension Architecture {
    /// `Qwen2MoeModel`: expert and shared-expert feed-forward lengths after TextModel's keys; GPT-2 BPE.
    static let qwen2moe = Architecture(
        huggingFaceNames: ["Qwen2MoeForCausalLM"],
        ggufName: "qwen2moe",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: qwenMoELayerTensors,
        configDefaults: [
            // Qwen2MoeConfig's defaults (transformers 4.57).
            ("num_key_value_heads", { _ in 16 }),
            ("max_position_embeddings", { _ in 32768 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 10000.0 }),
            ("num_experts", { _ in 60 }),
            ("num_experts_per_tok", { _ in 4 }),
            ("moe_intermediate_size", { _ in 1408 }),
            ("shared_expert_intermediate_size", { _ in 5632 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: writeQwenMoEParameters,
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .bpe)

    /// `Qwen3MoeModel`: Qwen2-MoE's layout with per-head q/k norms and no shared expert.
    static let qwen3moe = Architecture(
        huggingFaceNames: ["Qwen3MoeForCausalLM"],
        ggufName: "qwen3moe",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: tensorTable(qwenMoELayerTensors, queryKeyNormTensors),
        configDefaults: [
            // Qwen3MoeConfig's defaults (transformers 4.57); unlike Qwen3Config it has no head_dim.
            ("num_key_value_heads", { _ in 4 }),
            ("max_position_embeddings", { _ in 32768 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 10000.0 }),
            ("num_experts", { _ in 128 }),
            ("num_experts_per_tok", { _ in 8 }),
            ("moe_intermediate_size", { _ in 768 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: writeQwenMoEParameters,
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .bpe)

    @Sendable
    private static func writeQwenMoEParameters(_ h: HyperParameters, _ m: inout MetadataBuilder) throws(ConversionError) {
        m.setModel(GGUFKeys.LLM.expertFeedForwardLength, try h.uint32(["moe_intermediate_size"]))
        m.setModel(GGUFKeys.LLM.expertSharedFeedForwardLength, try h.uint32(["shared_expert_intermediate_size"]))
    }
}
