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

    private static func llamaFamily(names: [String], defaults: [(String, @Sendable (HyperParameters) -> JSONValue?)]) -> Architecture {
        Architecture(
            huggingFaceNames: names,
            ggufName: "llama",
            globalTensors: llamaLikeGlobalTensors,
            layerTensors: llamaLikeLayerTensors,
            configDefaults: defaults,
            permutesQueryKey: true,
            writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
                m.setModel("vocab_size", try h.uint32(["vocab_size"]))
                let ropeDimension: Int
                if let headDim = try h.int(["head_dim"]) {
                    ropeDimension = headDim
                } else {
                    let heads = try h.requiredInt(["num_attention_heads"])
                    guard heads > 0 else { throw .config(path: h.path, key: "num_attention_heads", message: "is 0") }
                    ropeDimension = try h.requiredInt(["hidden_size"]) / heads
                }
                m.setModel("rope.dimension_count", .uint32(UInt32(clamping: ropeDimension)))
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
    static func tensor(_ h: HyperParameters) throws(ConversionError) -> GeneratedTensor? {
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
        let factor = p["factor"]?.doubleValue ?? 8.0
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
