import GGUF
import JSON

extension Architecture {
    /// `Exaone4Model`: post-norms only (like OLMo 2) with q/k norms, `vocab_size`, the sliding-window
    /// keys when config.json has a window, and Llama 3's `rope_freqs` (default factor 16).
    static let exaone4 = Architecture(
        huggingFaceNames: ["Exaone4ForCausalLM"],
        ggufName: "exaone4",
        globalTensors: llamaLikeGlobalTensors,
        layerTensors: postNormLayerTensors,
        configDefaults: [
            // Exaone4Config's defaults (transformers 4.57).
            ("num_key_value_heads", { _ in 32 }),
            ("max_position_embeddings", { _ in 2048 }),
            ("rms_norm_eps", { _ in 1e-5 }),
            ("rope_theta", { _ in 10000.0 }),
            ("vocab_size", { _ in 102400 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            m.setModel(GGUFKeys.LLM.vocabSize, try h.uint32(["vocab_size"]))
            guard let window = try h.uint32(["sliding_window"]) else { return }
            m.setModel(GGUFKeys.Attention.slidingWindow, window)
            let layers = try h.requiredInt(["num_hidden_layers"])
            var pattern: [Bool] = []
            if let types = h["layer_types"]?.arrayValue {
                pattern = types.map { $0.stringValue == "sliding_attention" }
            } else if let letters = h["sliding_window_pattern"]?.stringValue, !letters.isEmpty {
                // "LLLG": L windowed, G global, repeating.
                let chars = Array(letters)
                pattern = (0..<max(0, min(layers, 1 << 16))).map { chars[$0 % chars.count] == "L" }
            } else if let every = h["sliding_window_pattern"]?.intValue {
                pattern = try SlidingWindowPattern.everyNthGlobal(layers: layers, n: every, path: h.path)
            } else {
                return
            }
            // The reference writes a derived pattern only when it covers every layer.
            if h["layer_types"] != nil || pattern.count == layers {
                m.setModel(GGUFKeys.Attention.slidingWindowPattern, .array(.bool, pattern.map { .bool($0) }))
            }
        },
        generatedTensors: { (h: HyperParameters) throws(ConversionError) in
            try LlamaRopeFrequencies.tensor(h, defaultFactor: 16).map { [$0] } ?? []
        },
        vocabulary: .bpe)
}
