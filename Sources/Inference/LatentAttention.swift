import Foundation
import GGUF

/// The head widths of DeepSeek2's multi-head latent attention (MLA), as llama.cpp's
/// `llama_model_deepseek2::load_arch_hparams` reads them.
public struct LatentAttentionShape: Equatable, Sendable {
    /// `attention.q_lora_rank`: queries go through a low-rank bottleneck (`attn_q_a`, its RMSNorm,
    /// `attn_q_b`); 0 = one `attn_q` matrix (the "lite" models).
    public var queryRank: Int
    /// `attention.kv_lora_rank`: width of the compressed key/value latent every head attends over.
    public var latentRank: Int
    /// `attention.key_length_mla`: a head's query/key width, the part without position plus `ropeLength`.
    public var keyLength: Int
    /// `attention.value_length_mla`: a head's value width after `attn_v_b`.
    public var valueLength: Int
    /// `rope.dimension_count`: the rotated part of each head's query and of the shared key.
    public var ropeLength: Int

    public var nopeLength: Int { keyLength - ropeLength }
}

extension LlamaHyperParameters {
    /// llama.cpp's rope_yarn_log_mul for DeepSeek2: `rope.scaling.yarn_log_multiplier` / 0.1 (the
    /// converter stores 0.1 · mscale_all_dim), 0 when absent.
    static func yarnLogMultiplier(_ m: GGUFMetadata, _ arch: String) -> Float {
        guard let v = m[GGUFKeys.Rope.scalingYarnLogMul(arch)]?.doubleValue, v.isFinite else { return 0 }
        return Float(v) / Float(0.1)
    }

    /// The MLA widths and the attention scale of `llama_model_deepseek2`'s graph: kq_scale =
    /// mscale² / sqrt(key_length_mla) with mscale = attn_factor_org · (1 + 0.1 · log_mul · ln(1/freq_scale)),
    /// attn_factor_org being the RoPE attention factor with YaRN's (1 + 0.1 ln factor) put back.
    /// Files without `key_length_mla` / `value_length_mla` are the old layout with one `attn_kv_b`,
    /// which this pass does not run (`InferenceError.unsupportedVariant`); temperature-tuned attention
    /// (Mistral-Large) neither.
    mutating func readLatentAttention(_ m: GGUFMetadata, int: (GGUFKeys.ArchitectureKey, Int?, Bool) throws -> Int) throws {
        let arch = architecture
        let vocabulary = m[GGUFKeys.LLM.vocabSize(arch)]?.integerValue.map(Int.init) ?? vocabularySize
        // llama.cpp's "lite" variants (DeepSeek-V2-Lite, GigaChat3, Kanana-2) have no q_lora_rank key.
        let lite = layerCount == 27 || layerCount == 26 || (layerCount == 48 && vocabulary == 128256)
        let queryRank = lite ? 0 : try int(GGUFKeys.Attention.qLoraRank, nil, true)
        let latentRank = try int(GGUFKeys.Attention.kvLoraRank, nil, false)
        let keyLength = try int(GGUFKeys.Attention.keyLengthMLA, 0, true)
        let valueLength = try int(GGUFKeys.Attention.valueLengthMLA, 0, true)
        guard keyLength > 0, valueLength > 0 else {
            throw InferenceError.unsupportedVariant(
                architecture: arch,
                detail: "it has no attention.key_length_mla / value_length_mla, the old layout with one attn_kv_b per "
                    + "layer; convert the checkpoint again with a current convert_hf_to_gguf.py (or quantd convert), "
                    + "which splits it into attn_k_b and attn_v_b")
        }
        guard ropeDimensions < keyLength else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Rope.dimensionCount(arch), value: ropeDimensions)
        }
        if let t = m[GGUFKeys.Attention.temperatureScale(arch)]?.doubleValue, t != 0 {
            throw InferenceError.unsupportedVariant(
                architecture: arch, detail: "\(GGUFKeys.Attention.temperatureScale.suffix) \(t): position-dependent query scaling is not implemented")
        }
        let ropeAttentionFactor = m[GGUFKeys.Rope.scalingAttnFactor(arch)]?.doubleValue.map { Float($0) } ?? 1
        // Without YaRN ggml multiplies the rotation by this factor, which the RoPE table here does not.
        guard ropeYarn != nil || ropeAttentionFactor == 1 else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Rope.scalingAttnFactor(arch), value: Int(ropeAttentionFactor))
        }
        let logMultiplier = Self.yarnLogMultiplier(m, arch)
        let ropeFactor = ropeYarn?.attentionFactor ?? ropeAttentionFactor
        let originalFactor = ropeFactor * (1 + 0.1 * logf(1 / ropeFrequencyScale))
        let mscale = originalFactor * (1 + 0.1 * logMultiplier * logf(1 / ropeFrequencyScale))
        attentionScale = 1 * mscale * mscale / Float(keyLength).squareRoot()
        latentAttention = LatentAttentionShape(queryRank: queryRank, latentRank: latentRank, keyLength: keyLength,
                                               valueLength: valueLength, ropeLength: ropeDimensions)
    }

    /// `llama_model_deepseek2::load_arch_hparams`'s routing keys: dense lead, expert and shared
    /// widths required, weight scale and norm optional, the gating function defaulting to softmax
    /// (sigmoid for GLM-4.7-Lite's 47/48 layers with 154880 tokens) for older V2 files.
    mutating func readDeepSeek2Experts(int: (GGUFKeys.ArchitectureKey, Int?, Bool) throws -> Int, metadata m: GGUFMetadata) throws {
        let arch = architecture
        leadingDenseLayers = try int(GGUFKeys.LLM.leadingDenseBlockCount, 0, true)
        guard leadingDenseLayers <= layerCount else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.leadingDenseBlockCount(arch), value: leadingDenseLayers)
        }
        if leadingDenseLayers > 0, feedForwardLength == 0 { throw InferenceError.missingKey(GGUFKeys.LLM.feedForwardLength(arch)) }
        expertFeedForwardLength = try int(GGUFKeys.LLM.expertFeedForwardLength, nil, false)
        let sharedCount = try int(GGUFKeys.LLM.expertSharedCount, nil, true)
        guard sharedCount <= 64 else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertSharedCount(arch), value: sharedCount)
        }
        sharedExpertFeedForwardLength = expertFeedForwardLength * sharedCount
        normalizesExpertWeights = m[GGUFKeys.LLM.expertWeightsNorm(arch)] == .bool(true)
        if let scale = m[GGUFKeys.LLM.expertWeightsScale(arch)]?.doubleValue, scale.isFinite { expertWeightsScale = Float(scale) }
        switch m[GGUFKeys.LLM.expertGatingFunc(arch)]?.integerValue ?? 0 {
        case 0:
            let vocabulary = m[GGUFKeys.LLM.vocabSize(arch)]?.integerValue.map(Int.init) ?? vocabularySize
            expertGating = (layerCount == 47 || layerCount == 48) && vocabulary == 154880 ? .sigmoid : .softmax
        case 1: expertGating = .softmax
        case 2: expertGating = .sigmoid
        case let other: throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertGatingFunc(arch), value: Int(other))
        }
    }
}

/// One layer's MLA weights (llama.cpp's absorbed form, used when the file has `attn_k_b`/`attn_v_b`).
struct LatentAttention {
    /// `attn_q_a` (queryRank × embedding), its RMSNorm, `attn_q_b` (heads·keyLength × queryRank);
    /// or, without a query rank, `attn_q` (heads·keyLength × embedding).
    let queryA: WeightMatrix?
    let queryANorm: [Float]?
    let queryB: WeightMatrix?
    let query: WeightMatrix?
    /// `attn_kv_a_mqa`: (latentRank + ropeLength) × embedding, the latent first, then the shared rope key.
    let kvA: WeightMatrix
    let kvANorm: [Float]
    /// `attn_k_b`: per head a latentRank × nopeLength matrix taking a query's unrotated part into the latent.
    let keyB: ExpertWeights
    /// `attn_v_b`: per head a valueLength × latentRank matrix taking the attended latent to the head's value.
    let valueB: ExpertWeights
    let output: WeightMatrix

    init(weights: any ModelWeights, prefix p: String, hp: LlamaHyperParameters, shape: LatentAttentionShape) throws {
        let e = hp.embeddingLength, heads = hp.headCount
        func tensor(_ name: String) throws -> WeightTensor {
            guard let t = weights.tensor(named: p + name) else { throw InferenceError.missingTensor(p + name) }
            return t
        }
        func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            try WeightMatrix(tensor: tensor(name), rows: rows, columns: columns)
        }
        let qWidth = heads * shape.keyLength
        if shape.queryRank > 0 {
            queryA = try matrix("attn_q_a.weight", rows: shape.queryRank, columns: e)
            queryANorm = try loadVector(weights: weights, name: p + "attn_q_a_norm.weight", count: shape.queryRank)
            queryB = try matrix("attn_q_b.weight", rows: qWidth, columns: shape.queryRank)
            query = nil
        } else {
            queryA = nil
            queryANorm = nil
            queryB = nil
            query = try matrix("attn_q.weight", rows: qWidth, columns: e)
        }
        kvA = try matrix("attn_kv_a_mqa.weight", rows: shape.latentRank + shape.ropeLength, columns: e)
        kvANorm = try loadVector(weights: weights, name: p + "attn_kv_a_norm.weight", count: shape.latentRank)
        keyB = try ExpertWeights(tensor: tensor("attn_k_b.weight"), experts: heads, rows: shape.latentRank,
                                 columns: shape.nopeLength)
        valueB = try ExpertWeights(tensor: tensor("attn_v_b.weight"), experts: heads, rows: shape.valueLength,
                                   columns: shape.latentRank)
        output = try matrix("attn_output.weight", rows: e, columns: heads * shape.valueLength)
    }

    var tensors: [WeightTensor] {
        [queryA, queryB, query].compactMap { $0?.tensor } + [kvA.tensor, keyB.tensor, valueB.tensor, output.tensor]
    }
}

/// A DeepSeek2 decoder layer: RMSNorm → MLA → residual, RMSNorm → dense SwiGLU (the leading layers) or
/// routed plus shared experts → residual.
struct LatentLayer {
    let attentionNorm: [Float]
    let attention: LatentAttention
    let ffnNorm: [Float]
    let feedForward: FeedForward

    var tensors: [WeightTensor] { attention.tensors + feedForward.tensors }
}

extension LlamaModel {
    /// DeepSeek2's layers (llama.cpp `src/models/deepseek2.cpp`, the MLA branch with absorbed k_b/v_b).
    ///
    /// Per layer: q = attn_q_b(RMSNorm(attn_q_a · x)) (or attn_q · x), `heads × (nope | rope)`;
    /// attn_kv_a_mqa · x splits into the latent c (RMSNormed by attn_kv_a_norm) and one rope key k_pe
    /// shared by all heads; q's rope parts and k_pe are rotated (adjacent pairs, YaRN). Each head's
    /// query becomes `[attn_k_b[h] · q_nope | q_pe]` and attends, as one KV head, to keys `[c | k_pe]`
    /// and values c (the F16 cache's first latentRank values) with kq_scale; each head's result
    /// goes through attn_v_b[h], then attn_output. This is q_nope·k_nope + q_pe·k_pe of the
    /// decompressed heads with k_nope = attn_k_b[h]ᵀ·c, computed in llama.cpp's order.
    func forwardLatentHidden(tokens: [Int32], batch: TokenBatch?, scratch s: inout LlamaScratch, threads: Int) -> UnsafePointer<Float> {
        let hp = hyperParameters, n = tokens.count, e = hp.embeddingLength
        guard let shape = hp.latentAttention else { preconditionFailure("deepseek2 without its latent shape") }
        let heads = hp.headCount, latent = shape.latentRank, r = shape.ropeLength, nope = shape.nopeLength
        let dk = shape.keyLength, dv = shape.valueLength, kw = latent + r
        for (t, token) in tokens.enumerated() {
            tokenEmbedding.dequantize(rows: Int(token)..<Int(token) + 1, into: s.hidden + t * e)
        }
        let table = Kernels.ropeTable(batch: batch, tokens: n, dimensions: r, base: hp.ropeFrequencyBase, scale: hp.ropeFrequencyScale,
                                      freqFactors: ropeFreqFactors, yarn: hp.ropeYarn)
        func buffer(_ width: Int) -> UnsafeMutablePointer<Float> { .allocate(capacity: max(1, n * width)) }
        let qa = buffer(shape.queryRank), q = buffer(heads * dk), kvpe = buffer(kw)
        let qNope = buffer(heads * nope), qPe = buffer(heads * r), kPe = buffer(r)
        let queries = buffer(heads * kw), keys = buffer(kw), values = buffer(latent)
        let headIn = buffer(max(nope, latent)), headOut = buffer(max(latent, dv))
        let attended = buffer(heads * latent), decompressed = buffer(heads * dv)
        defer {
            for p in [qa, q, kvpe, qNope, qPe, kPe, queries, keys, values, headIn, headOut, attended, decompressed] {
                p.deallocate()
            }
        }
        for layer in latentLayers {
            let a = layer.attention
            let x = normed(s.hidden, tokens: n, by: layer.attentionNorm, scratch: s)
            if let queryA = a.queryA, let norm = a.queryANorm, let queryB = a.queryB {
                multiply(x, tokens: n, by: queryA, into: qa, threads: threads, rounding: rounding(for: queryA))
                Kernels.rmsNormInPlace(qa, rows: n, count: shape.queryRank, weight: norm, epsilon: hp.rmsEpsilon)
                multiply(qa, tokens: n, by: queryB, into: q, threads: threads, rounding: rounding(for: queryB))
            } else if let query = a.query {
                multiply(x, tokens: n, by: query, into: q, threads: threads, rounding: rounding(for: query))
            }
            multiply(x, tokens: n, by: a.kvA, into: kvpe, threads: threads, rounding: rounding(for: a.kvA))
            for t in 0..<n {
                (values + t * latent).update(from: kvpe + t * kw, count: latent)
                (kPe + t * r).update(from: kvpe + t * kw + latent, count: r)
                for h in 0..<heads {
                    let src = q + (t * heads + h) * dk
                    (qNope + (t * heads + h) * nope).update(from: src, count: nope)
                    (qPe + (t * heads + h) * r).update(from: src + nope, count: r)
                }
            }
            Kernels.rmsNormInPlace(values, rows: n, count: latent, weight: a.kvANorm, epsilon: hp.rmsEpsilon)
            table.withUnsafeBufferPointer { tb in
                Kernels.rope(kPe, tokens: n, heads: 1, headDimension: r, table: tb.baseAddress!, neox: hp.ropeNeoX)
                Kernels.rope(qPe, tokens: n, heads: heads, headDimension: r, table: tb.baseAddress!, neox: hp.ropeNeoX)
            }
            for t in 0..<n {
                (keys + t * kw).update(from: values + t * latent, count: latent)
                (keys + t * kw + latent).update(from: kPe + t * r, count: r)
            }
            // llama-imatrix sees attn_k_b's input as one row per token of every head's q_nope.
            activationObserver?.observe(weight: a.keyB.name, input: qNope, rows: n, columns: heads * nope)
            for h in 0..<heads {
                for t in 0..<n { (headIn + t * nope).update(from: qNope + (t * heads + h) * nope, count: nope) }
                let kb = a.keyB.experts[h]
                MatMul.multiply(headIn, tokens: n, by: kb, into: headOut, threads: threads, rounding: rounding(for: kb))
                for t in 0..<n {
                    let dst = queries + (t * heads + h) * kw
                    dst.update(from: headOut + t * latent, count: latent)
                    (dst + latent).update(from: qPe + (t * heads + h) * r, count: r)
                }
            }
            Attention.causal(q: queries, k: keys, v: values, tokens: n, heads: heads, kvHeads: 1, headDimension: kw,
                             valueDimension: latent, scale: hp.attentionScale, roundsKVToHalf: roundsActivationsLikeGGML,
                             batch: batch, into: attended, threads: threads)
            activationObserver?.observe(weight: a.valueB.name, input: attended, rows: n, columns: heads * latent)
            for h in 0..<heads {
                for t in 0..<n { (headIn + t * latent).update(from: attended + (t * heads + h) * latent, count: latent) }
                let vb = a.valueB.experts[h]
                MatMul.multiply(headIn, tokens: n, by: vb, into: headOut, threads: threads, rounding: rounding(for: vb))
                for t in 0..<n { (decompressed + (t * heads + h) * dv).update(from: headOut + t * dv, count: dv) }
            }
            multiply(decompressed, tokens: n, by: a.output, into: s.projected, threads: threads,
                     rounding: rounding(for: a.output))
            Kernels.add(s.hidden, s.projected, count: n * e)
            let ffnInput = normed(s.hidden, tokens: n, by: layer.ffnNorm, scratch: s)
            feedForward(layer.feedForward, input: ffnInput, tokens: n, scratch: s, threads: threads)
            Kernels.add(s.hidden, s.projected, count: n * e)
            if !keepsWeightsResident {
                for t in layer.tensors { weights.release(t) }
            }
        }
        outputNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(s.hidden, tokens: n, count: e, weight: $0.baseAddress!, epsilon: hp.rmsEpsilon, into: s.normed)
        }
        return UnsafePointer(s.normed)
    }
}
