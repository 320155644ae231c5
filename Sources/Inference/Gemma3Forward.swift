/// Gemma3's decoder layers (llama.cpp `src/models/gemma3.cpp`), over the same weights and scratch as
/// the Llama family: embeddings scaled by sqrt(embedding_length); per layer RMSNorm → q/k/v →
/// per-head q/k RMSNorm → NeoX RoPE (the sliding layers with their own base and scale 1) → queries
/// scaled by `attentionScale` → causal attention, windowed on the sliding layers → output projection
/// → RMSNorm (post_attention_norm) → residual; RMSNorm → GeGLU FFN (GELU-tanh gate) → RMSNorm
/// (post_ffw_norm) → residual. The norms' weights are stored with Gemma's "1 +" already added by the
/// converter, so every RMSNorm here is the plain one.
///
/// Gemma2 (`src/models/gemma2.cpp`) is the same layer without the q/k norms, with its attention
/// scores soft-capped (`attentionLogitSoftcap`) and its sliding layers rotated like the global ones.
extension LlamaModel {
    /// Runs embedding and all layers; returns the final normed hidden states (in `scratch.normed`).
    func forwardGemma3Hidden(tokens: [Int32], batch: TokenBatch?, scratch s: inout LlamaScratch, threads: Int) -> UnsafePointer<Float> {
        let hp = hyperParameters, n = tokens.count, e = hp.embeddingLength, d = hp.headDimension
        for (t, token) in tokens.enumerated() {
            tokenEmbedding.dequantize(rows: Int(token)..<Int(token) + 1, into: s.hidden + t * e)
        }
        Kernels.scale(s.hidden, count: n * e, by: hp.embeddingScale)
        let globalTable = Kernels.ropeTable(batch: batch, tokens: n, dimensions: hp.ropeDimensions, base: hp.ropeFrequencyBase,
                                            scale: hp.ropeFrequencyScale, freqFactors: ropeFreqFactors)
        let slidingTable = Kernels.ropeTable(batch: batch, tokens: n, dimensions: hp.ropeDimensions,
                                             base: hp.ropeFrequencyBaseSliding, scale: hp.ropeFrequencyScaleSliding,
                                             freqFactors: nil)
        for (il, layer) in layers.enumerated() {
            let sliding = hp.isSliding(layer: il)
            let attentionInput = normed(s.hidden, tokens: n, by: layer.attentionNorm, scratch: s)
            gemma3Project(attentionInput, tokens: n, by: layer.q, into: s.q, threads: threads)
            gemma3Project(attentionInput, tokens: n, by: layer.k, into: s.k, threads: threads)
            gemma3Project(attentionInput, tokens: n, by: layer.v, into: s.v, threads: threads)
            if let w = layer.qNorm { Kernels.rmsNormInPlace(s.q, rows: n * hp.headCount, count: d, weight: w, epsilon: hp.rmsEpsilon) }
            if let w = layer.kNorm { Kernels.rmsNormInPlace(s.k, rows: n * hp.kvHeadCount, count: d, weight: w, epsilon: hp.rmsEpsilon) }
            (sliding ? slidingTable : globalTable).withUnsafeBufferPointer { tb in
                Kernels.rope(s.q, tokens: n, heads: hp.headCount, headDimension: d, table: tb.baseAddress!, neox: true)
                Kernels.rope(s.k, tokens: n, heads: hp.kvHeadCount, headDimension: d, table: tb.baseAddress!, neox: true)
            }
            // llama.cpp scales Q (ggml_scale) and then attends with kq_scale 1.
            Kernels.scale(s.q, count: n * hp.qDimension, by: hp.attentionScale)
            Attention.causal(q: s.q, k: s.k, v: s.v, tokens: n, heads: hp.headCount, kvHeads: hp.kvHeadCount,
                             headDimension: d, scale: 1, window: sliding ? hp.slidingWindow : 0,
                             softcap: hp.attentionLogitSoftcap, roundsKVToHalf: roundsActivationsLikeGGML, batch: batch,
                             into: s.attention, threads: threads)
            gemma3Project(s.attention, tokens: n, by: layer.o, into: s.projected, threads: threads)
            if let w = layer.postAttentionNorm {
                Kernels.rmsNormInPlace(s.projected, rows: n, count: e, weight: w, epsilon: hp.rmsEpsilon)
            }
            Kernels.add(s.hidden, s.projected, count: n * e)
            let ffnInput = normed(s.hidden, tokens: n, by: layer.ffnNorm, scratch: s)
            switch layer.feedForward {
            case .dense(let f):
                gemma3Project(ffnInput, tokens: n, by: f.gate, into: s.gate, threads: threads)
                gemma3Project(ffnInput, tokens: n, by: f.up, into: s.up, threads: threads)
                GELU.geglu(s.gate, s.up, count: n * hp.feedForwardLength)
                gemma3Project(s.gate, tokens: n, by: f.down, into: s.projected, threads: threads)
            case .experts, .fusedGateUp:
                // The hyperparameters refuse expert_count for gemma3, and only glm4 fuses gate and up.
                preconditionFailure("gemma3 layers have separate gate and up matrices")
            }
            if let w = layer.postFeedForwardNorm {
                Kernels.rmsNormInPlace(s.projected, rows: n, count: e, weight: w, epsilon: hp.rmsEpsilon)
            }
            Kernels.add(s.hidden, s.projected, count: n * e)
        }
        outputNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(s.hidden, tokens: n, count: e, weight: $0.baseAddress!, epsilon: hp.rmsEpsilon, into: s.normed)
        }
        return UnsafePointer(s.normed)
    }

    /// One weight matmul of a Gemma3 layer, with ggml's activation rounding for the weight's type.
    private func gemma3Project(
        _ x: UnsafePointer<Float>, tokens: Int, by w: WeightMatrix, into y: UnsafeMutablePointer<Float>, threads: Int
    ) {
        multiply(x, tokens: tokens, by: w, into: y, threads: threads, rounding: rounding(for: w))
    }
}
