import GGUF
import JSON

extension Architecture {
    /// `Olmo2Model`: norms after attention and after the MLP only (no pre-norms), full-width q/k
    /// norms, and OLMo 3's sliding-window keys when config.json has a window.
    static let olmo2 = Architecture(
        huggingFaceNames: ["Olmo2ForCausalLM", "Olmo3ForCausalLM"],
        ggufName: "olmo2",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: postNormLayerTensors,
        configDefaults: [
            // Olmo2Config's defaults (transformers 4.57).
            ("num_key_value_heads", { $0["num_attention_heads"] }),
            ("max_position_embeddings", { _ in 2048 }),
            ("rms_norm_eps", { _ in 1e-5 }),
            ("rope_theta", { _ in 10000.0 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            guard h["sliding_window"] != nil else { return }
            m.setModel(GGUFKeys.Attention.slidingWindow, try h.uint32(["sliding_window"]))
            let layers = try h.requiredInt(["num_hidden_layers"])
            let pattern: [Bool]
            if let types = h["layer_types"]?.arrayValue {
                pattern = types.map { $0.stringValue == "sliding_attention" }
            } else {
                // OLMo 3: every fourth layer attends globally.
                pattern = try SlidingWindowPattern.everyNthGlobal(layers: layers, n: 4, path: h.path)
            }
            m.setModel(GGUFKeys.Attention.slidingWindowPattern, .array(.bool, pattern.map { .bool($0) }))
        },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .bpe)

    /// `OlmoeModel`: Llama's norms with full-width q/k norms and stacked experts; the class writes
    /// the RMS epsilon as 1e-5 whatever config.json says.
    static let olmoe = Architecture(
        huggingFaceNames: ["OlmoeForCausalLM"],
        ggufName: "olmoe",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: tensorTable(llamaLikeLayerTensors, queryKeyNormTensors, stackedExpertTensors,
                                  ["mlp.gate": "ffn_gate_inp"]),
        configDefaults: [
            // OlmoeConfig's defaults (transformers 4.57).
            ("num_key_value_heads", { $0["num_attention_heads"] }),
            ("max_position_embeddings", { _ in 4096 }),
            ("rms_norm_eps", { _ in 1e-5 }),
            ("rope_theta", { _ in 10000.0 }),
            ("num_experts", { _ in 64 }),
            ("num_experts_per_tok", { _ in 8 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (_: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            m.setModel(GGUFKeys.Attention.layerNormRMSEps, .float32(1e-5))
        },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .bpe)
}

/// Layer tensors of decoders with norms after attention and after the MLP instead of before
/// (OLMo 2, EXAONE 4): `post_attention_layernorm` is `post_attention_norm` here, not `ffn_norm`.
let postNormLayerTensors = tensorTable(attentionProjectionTensors, queryKeyNormTensors, gatedFFNTensors, [
    "post_attention_layernorm": "post_attention_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
])

/// `attention.sliding_window_pattern`: one bool per layer, true where the layer uses the window.
enum SlidingWindowPattern {
    /// Every `n`-th layer (1-based) global, the others windowed.
    static func everyNthGlobal(layers: Int, n: Int, path: String) throws(ConversionError) -> [Bool] {
        guard layers >= 0, layers <= 1 << 16 else {
            throw .config(path: path, key: "num_hidden_layers", message: "is \(layers), outside 0...65536")
        }
        guard n > 0 else { return Array(repeating: true, count: layers) }
        return (0..<layers).map { ($0 + 1) % n != 0 }
    }
}
