#if canImport(Glibc)
import JSON
import Glibc
#endif
import GGUF
import Safetensors

extension Architecture {
    /// `LlamaModel` of convert_hf_to_gguf.py (Llama 1-3, SmolLM): permuted q/k rows,
    /// `vocab_size` and `rope.dimension_count`, and the Llama 3 `rope_freqs` tensor.
    static let llama = llamaFamily(
        names: ["LlamaForCausalLM", "LLaMAForCausalLM"],
        defaults: [
            // LlamaConfig's defaults as `to_dict()` reports them (transformers 4.57).
            ("num_key_value_heads", { $0["num_attention_heads"] }),
            ("head_dim", { h in
                guard let hidden = h["hidden_size"]?.intValue, let heads = h["num_attention_heads"]?.intValue,
                      heads > 0 else { return nil }
                return .number(JSONNumber(hidden / heads))
            }),
            ("max_position_embeddings", { _ in 2048 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 10000.0 }),
            ("vocab_size", { _ in 32000 }),
        ])

    /// Mistral goes through the same `LlamaModel`; only transformers' MistralConfig defaults differ
    /// (no derived head_dim, 8 KV heads, 128K context).
    static let mistral = llamaFamily(
        names: ["MistralForCausalLM"],
        defaults: [
            ("num_key_value_heads", { _ in 8 }),
            ("max_position_embeddings", { _ in 131072 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 10000.0 }),
            ("vocab_size", { _ in 32000 }),
        ])

    /// Mixtral is `LlamaModel` with experts: `block_sparse_moe.experts.N.w1/w2/w3` stacked into
    /// `ffn_{gate,down,up}_exps`, the router `block_sparse_moe.gate` kept F32.
    static let mixtral = llamaFamily(
        names: ["MixtralForCausalLM"],
        defaults: [
            // MixtralConfig's defaults (transformers 4.57).
            ("num_key_value_heads", { _ in 8 }),
            ("max_position_embeddings", { _ in 131072 }),
            ("rms_norm_eps", { _ in 1e-5 }),
            ("rope_theta", { _ in 1_000_000.0 }),
            ("vocab_size", { _ in 32000 }),
            ("num_local_experts", { _ in 8 }),
            ("num_experts_per_tok", { _ in 2 }),
        ])

    /// `SmolLM3Model`: `LlamaModel` under its own GGUF name (llama.cpp skips RoPE on every fourth
    /// layer itself; nothing about it is written).
    static let smollm3 = llamaFamily(
        names: ["SmolLM3ForCausalLM"], ggufName: "smollm3",
        defaults: [
            // SmolLM3Config's defaults (transformers 4.57).
            ("num_key_value_heads", { _ in 4 }),
            ("max_position_embeddings", { _ in 32768 }),
            ("rms_norm_eps", { _ in 1e-6 }),
            ("rope_theta", { _ in 2_000_000.0 }),
            ("vocab_size", { _ in 128256 }),
        ])

    /// `LlamaModel`: the tensor table (plus Mixtral's expert names), q/k permutation, `vocab_size` and
    /// `rope.dimension_count`, Llama 3's `rope_freqs`; `extra` writes a subclass's own keys after them.
    static func llamaFamily(
        names: [String], ggufName: String = "llama", defaults: [(String, @Sendable (HyperParameters) -> JSONValue?)],
        extra: @escaping @Sendable (HyperParameters, inout MetadataBuilder) throws(ConversionError) -> Void = { _, _ in }
    ) -> Architecture {
        Architecture(
            huggingFaceNames: names,
            ggufName: ggufName,
            globalTensors: llamaLikeGlobalTensors,
            layerTensors: tensorTable(llamaLikeLayerTensors, [
                "block_sparse_moe.gate": "ffn_gate_inp",
                "block_sparse_moe.experts.w1": "ffn_gate_exps",
                "block_sparse_moe.experts.w2": "ffn_down_exps",
                "block_sparse_moe.experts.w3": "ffn_up_exps",
            ]),
            configDefaults: defaults,
            permutesQueryKey: true,
            writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                m.setModel(GGUFKeys.LLM.vocabSize, try h.uint32(["vocab_size"]))
                let ropeDimension: Int
                if let headDim = try h.int(["head_dim"]) {
                    ropeDimension = headDim
                } else {
                    let heads = try h.requiredInt(["num_attention_heads"])
                    guard heads > 0 else { throw .config(path: h.path, key: "num_attention_heads", message: "is 0") }
                    ropeDimension = try h.requiredInt(["hidden_size"]) / heads
                }
                m.setModel(GGUFKeys.Rope.dimensionCount, .uint32(UInt32(clamping: ropeDimension)))
                try extra(h, &m)
            },
            generatedTensors: { (h: HyperParameters) throws(ConversionError) in
                try LlamaRopeFrequencies.tensor(h).map { [$0] } ?? []
            },
            vocabulary: .llama)
    }
}

/// Llama 3's long-context RoPE scaling, which the reference stores as a `rope_freqs.weight`
/// tensor of per-dimension factors (`LlamaModel.generate_extra_tensors`).
enum LlamaRopeFrequencies {
    /// `defaultFactor` is the class's fallback for a missing `factor` (Llama 8, EXAONE 4 16).
    static func tensor(_ h: HyperParameters, defaultFactor: Double = 8.0) throws(ConversionError) -> GeneratedTensor? {
        let rope = RopeParameters(h)
        guard rope.type?.lowercased() == "llama3" else { return nil }
        let p = rope.full
        let base = p["rope_theta"]?.doubleValue ?? 10000.0
        let dim: Int
        if let headDim = try h.int(["head_dim"]) {
            dim = headDim
        } else {
            let heads = try h.requiredInt(["num_attention_heads"])
            guard heads > 0 else { throw .config(path: h.path, key: "num_attention_heads", message: "is 0") }
            dim = try h.requiredInt(["hidden_size"]) / heads
        }
        guard dim > 0 else { throw .config(path: h.path, key: "head_dim", message: "is 0") }
        let factor = p["factor"]?.doubleValue ?? defaultFactor
        let lowFreqFactor = p["low_freq_factor"]?.doubleValue ?? 1.0
        let highFreqFactor = p["high_freq_factor"]?.doubleValue ?? 4.0
        let oldContext = p["original_max_position_embeddings"]?.doubleValue ?? 8192
        let lowFreqWavelen = oldContext / lowFreqFactor
        let highFreqWavelen = oldContext / highFreqFactor

        // The reference computes in float32 torch tensors throughout: `freqs` is a float32 tensor,
        // so `2 * math.pi / freq` and everything after it are float32 operations with the Python
        // scalars rounded to float32 first. Reproduced here with Float and powf.
        var factors: [Float] = []
        for i in stride(from: 0, to: dim, by: 2) {
            let exponent = Float(i) / Float(dim)
            let freq = Float(1) / powf(Float(base), exponent)
            let wavelen = Float(2 * Double.pi) / freq
            if wavelen < Float(highFreqWavelen) {
                factors.append(1)
            } else if wavelen > Float(lowFreqWavelen) {
                factors.append(Float(factor))
            } else {
                let smooth = (Float(oldContext) / wavelen - Float(lowFreqFactor)) / Float(highFreqFactor - lowFreqFactor)
                factors.append(1 / ((1 - smooth) / Float(factor) + smooth))
            }
        }
        return GeneratedTensor(name: "rope_freqs.weight", values: factors)
    }
}
