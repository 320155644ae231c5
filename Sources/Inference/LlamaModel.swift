import GGUF

/// A Llama-family decoder over a GGUF file or any other `ModelWeights` (`llama` and Mixtral, `qwen2`,
/// `qwen3`, `qwen2moe`, `qwen3moe`, `olmoe`, `gemma3`), evaluated on the CPU one chunk at a time.
///
/// It follows llama.cpp's graph for LLM_ARCH_LLAMA (`src/models/llama.cpp`): token embedding,
/// then per layer RMSNorm → q/k/v → RoPE (mode 0) → causal GQA attention → output projection →
/// residual, RMSNorm → SwiGLU FFN → residual; final RMSNorm and the output matrix (or the tied
/// embedding). Qwen2 adds q/k/v biases and NeoX RoPE, Qwen3 per-head q/k RMSNorm and NeoX RoPE
/// (`src/models/qwen2.cpp`, `qwen3.cpp`); their MoE versions and OLMoE (full-width q/k RMSNorm)
/// replace the FFN by a mixture of experts (`MixtureOfExperts.swift`); Gemma3 has its own layer
/// (`Gemma3Forward.swift`), and DeepSeek2 (DeepSeek-V3, Kimi-K2) its multi-head latent attention
/// (`LatentAttention.swift`).
/// Weights stay where their store keeps them (a file's memory map), in whatever type they are
/// stored, and are dequantized a row block at a time inside the matmul.
public final class LlamaModel {
    public let weights: any ModelWeights
    public let hyperParameters: LlamaHyperParameters
    let tokenEmbedding: WeightMatrix
    let output: WeightMatrix
    let outputNorm: [Float]
    let outputBias: [Float]?
    let layers: [LlamaLayer]
    /// DeepSeek2's layers (multi-head latent attention); empty for the other architectures, whose
    /// layers are `layers`.
    let latentLayers: [LatentLayer]
    let ropeFreqFactors: [Float]?
    /// Round each matmul's activations as ggml's CPU backend does for the weight type (see
    /// `ActivationRounding`), so logits are llama.cpp's. False measures the weights' error alone.
    public var roundsActivationsLikeGGML = true
    /// False: each layer's weight pages are handed back to the kernel once the layer is done (and the
    /// output matrix's after the logits), so a pass holds about one layer and the embedding resident
    /// instead of the whole file. A later pass faults them back from the page cache. The evaluate
    /// stage runs several models and sets this (`PerplexityEvaluator.compare`).
    public var keepsWeightsResident = true
    /// Told the input of every weight matmul (llama-imatrix's collection; see `ActivationObserver`).
    public var activationObserver: (any ActivationObserver)?

    /// Opens a GGUF file, or a split set by its first file (every file of the set is checked).
    public convenience init(path: String) throws {
        let file = try GGUFFile(path: path)
        try self.init(weights: GGUFSplitSet.isSplit(file) ? try GGUFSplitSet(first: file) : file)
    }

    public init(weights: any ModelWeights) throws {
        self.weights = weights
        guard let embd = weights.tensor(named: "token_embd.weight"), embd.dimensions.count >= 2 else {
            throw InferenceError.missingTensor("token_embd.weight")
        }
        let hp = try LlamaHyperParameters(metadata: weights.metadata, vocabularySize: embd.dimensions[1])
        hyperParameters = hp
        let e = hp.embeddingLength
        func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            guard let t = weights.tensor(named: name) else { throw InferenceError.missingTensor(name) }
            return try WeightMatrix(tensor: t, rows: rows, columns: columns)
        }
        tokenEmbedding = try matrix("token_embd.weight", rows: hp.vocabularySize, columns: e)
        // No output.weight means the embedding is tied (llama.cpp: TENSOR_DUPLICATED).
        output = weights.tensor(named: "output.weight") == nil
            ? tokenEmbedding : try matrix("output.weight", rows: hp.vocabularySize, columns: e)
        outputNorm = try loadVector(weights: weights, name: "output_norm.weight", count: e)
        outputBias = try loadOptionalVector(weights: weights, name: "output.bias", count: hp.vocabularySize)
        ropeFreqFactors = weights.tensor(named: "rope_freqs.weight") == nil
            ? nil : try loadVector(weights: weights, name: "rope_freqs.weight", count: hp.ropeDimensions / 2)
        // OLMoE normalizes the whole q and k vectors of a token, the others each head.
        let qNormWidth = hp.qkNormSpansHeads ? hp.qDimension : hp.headDimension
        let kNormWidth = hp.qkNormSpansHeads ? hp.kvDimension : hp.headDimension
        // llama.cpp gives every layer experts when expert_count > 0 (GLM4-MoE, DeepSeek2: after their dense lead).
        func feedForward(layer i: Int) throws -> FeedForward {
            let p = "blk.\(i)."
            if hp.hasExperts(layer: i) {
                return .experts(try MixtureOfExperts(weights: weights, prefix: p, hp: hp))
            } else if hp.architecture == "glm4" {
                return .fusedGateUp(
                    up: try matrix(p + "ffn_up.weight", rows: 2 * hp.feedForwardLength, columns: e),
                    down: try matrix(p + "ffn_down.weight", rows: e, columns: hp.feedForwardLength))
            }
            return .dense(DenseFeedForward(
                gate: try matrix(p + "ffn_gate.weight", rows: hp.feedForwardLength, columns: e),
                up: try matrix(p + "ffn_up.weight", rows: hp.feedForwardLength, columns: e),
                down: try matrix(p + "ffn_down.weight", rows: e, columns: hp.feedForwardLength)))
        }
        if let shape = hp.latentAttention {
            latentLayers = try (0..<hp.layerCount).map { i in
                let p = "blk.\(i)."
                return LatentLayer(
                    attentionNorm: try loadVector(weights: weights, name: p + "attn_norm.weight", count: e),
                    attention: try LatentAttention(weights: weights, prefix: p, hp: hp, shape: shape),
                    ffnNorm: try loadVector(weights: weights, name: p + "ffn_norm.weight", count: e),
                    feedForward: try feedForward(layer: i))
            }
            layers = []
            releaseResidentWeights()
            return
        }
        latentLayers = []
        layers = try (0..<hp.layerCount).map { i in
            let p = "blk.\(i)."
            let feedForward = try feedForward(layer: i)
            return LlamaLayer(
                attentionNorm: hp.hasPreNorms
                    ? try loadVector(weights: weights, name: p + "attn_norm.weight", count: e) : nil,
                q: try matrix(p + "attn_q.weight", rows: hp.qDimension, columns: e),
                k: try matrix(p + "attn_k.weight", rows: hp.kvDimension, columns: e),
                v: try matrix(p + "attn_v.weight", rows: hp.kvDimension, columns: e),
                o: try matrix(p + "attn_output.weight", rows: e, columns: hp.qDimension),
                // GLM4-MoE's and gpt-oss's norm before the FFN is stored as post_attention_norm.
                ffnNorm: hp.hasPreNorms
                    ? try loadVector(weights: weights, name: p + (hp.ffnNormIsPostAttentionNorm ? "post_attention_norm.weight"
                                                                    : "ffn_norm.weight"), count: e) : nil,
                feedForward: feedForward,
                qBias: try loadOptionalVector(weights: weights, name: p + "attn_q.bias", count: hp.qDimension),
                kBias: try loadOptionalVector(weights: weights, name: p + "attn_k.bias", count: hp.kvDimension),
                vBias: try loadOptionalVector(weights: weights, name: p + "attn_v.bias", count: hp.kvDimension),
                oBias: try loadOptionalVector(weights: weights, name: p + "attn_output.bias", count: e),
                qNorm: try loadOptionalVector(weights: weights, name: p + "attn_q_norm.weight", count: qNormWidth),
                kNorm: try loadOptionalVector(weights: weights, name: p + "attn_k_norm.weight", count: kNormWidth),
                postAttentionNorm: hp.hasPostNorms
                    ? try loadVector(weights: weights, name: p + "post_attention_norm.weight", count: e) : nil,
                postFeedForwardNorm: hp.hasPostNorms
                    ? try loadVector(weights: weights, name: p + "post_ffw_norm.weight", count: e) : nil,
                sinks: hp.architecture == "gpt-oss"
                    ? try loadVector(weights: weights, name: p + "attn_sinks.weight", count: hp.headCount) : nil)
        }
        // Reading the small vectors above, spread through the file, left much of the file mapped in
        // this process (94 MB of a 138 MB Q8_0 SmolLM2, measured: the kernel maps whole page-cache
        // folios around each fault). A model opened now and run later should not hold them meanwhile.
        releaseResidentWeights()
    }

    public var vocabularySize: Int { hyperParameters.vocabularySize }
    /// The model's GGUF metadata (its vocabulary for the tokenizer).
    public var metadata: GGUFMetadata { weights.metadata }

    /// Logits for positions `from..<tokens.count` of one chunk, `(tokens.count - from) × vocabularySize`,
    /// row-major (every position by default). Position i sees tokens 0...i only; nothing is cached
    /// between calls. Perplexity asks only for the positions it scores, as llama-perplexity requests
    /// outputs only for them: the output matrix is the largest matmul of a small model (SmolLM2: a
    /// fifth of the multiply-adds). Each row is the same whichever rows are asked for.
    public func logits(tokens: [Int32], threads: Int = 1, from: Int = 0) throws -> [Float] {
        var out: [Float] = []
        try logits(tokens: tokens, threads: threads, from: from, into: &out)
        return out
    }

    /// `logits(tokens:threads:from:)` into `out`, resized to the rows asked for. Passes that reuse
    /// one array (the evaluate stage: a chunk of the source, then of each artifact) write into pages
    /// already mapped; a fresh 25–50 MB array per pass was faulted in and zeroed page by page, ~3 %
    /// of an evaluation's CPU time on the 2-core VM (measured).
    public func logits(tokens: [Int32], threads: Int = 1, from: Int = 0, into out: inout [Float]) throws {
        guard !tokens.isEmpty else { throw InferenceError.emptyInput }
        for t in tokens where t < 0 || Int(t) >= vocabularySize {
            throw InferenceError.tokenOutOfRange(token: t, vocabularySize: vocabularySize)
        }
        guard from >= 0, from < tokens.count else {
            throw InferenceError.outputPosition(from: from, tokens: tokens.count)
        }
        let threads = max(1, threads)
        let rows = tokens.count - from
        let n = rows * vocabularySize
        if out.count != n { out = [Float](repeating: 0, count: n) }
        withExtendedLifetime(weights) {
            var scratch = LlamaScratch(tokens: tokens.count, hp: hyperParameters)
            defer { scratch.deallocate() }
            let hidden = finalHidden(tokens: tokens, scratch: &scratch, threads: threads)
            out.withUnsafeMutableBufferPointer { buf in
                guard let base = buf.baseAddress else { return }
                project(hidden + from * hyperParameters.embeddingLength, rows: rows, into: base, threads: threads)
            }
            if !keepsWeightsResident { releaseResidentWeights() }
        }
    }

    /// Logits of the tokens at `outputs` (batch indices, in the order given) of one pass over
    /// `batch`, `outputs.count × vocabularySize`, into the first rows of `out`, which grows when it is
    /// shorter and otherwise keeps its size (passes of varying size reuse one array instead of
    /// faulting in a new one each time). Each sequence of the batch gets the rows it would get alone
    /// (`TokenBatch`); tokens shared by several sequences are computed once.
    public func logits(batch: TokenBatch, outputs: [Int], threads: Int = 1, into out: inout [Float]) throws {
        for t in batch.tokens where t < 0 || Int(t) >= vocabularySize {
            throw InferenceError.tokenOutOfRange(token: t, vocabularySize: vocabularySize)
        }
        guard !outputs.isEmpty else { throw InferenceError.invalidBatch("no token's logits are asked for") }
        for o in outputs where o < 0 || o >= batch.count {
            throw InferenceError.invalidBatch("logits asked for token \(o) of a batch of \(batch.count)")
        }
        let threads = max(1, threads)
        let e = hyperParameters.embeddingLength
        let n = outputs.count * vocabularySize
        if out.count < n { out = [Float](repeating: 0, count: n) }
        withExtendedLifetime(weights) {
            var scratch = LlamaScratch(tokens: batch.count, hp: hyperParameters)
            defer { scratch.deallocate() }
            let hidden = finalHidden(tokens: batch.tokens, batch: batch, scratch: &scratch, threads: threads)
            let picked = UnsafeMutablePointer<Float>.allocate(capacity: outputs.count * e)
            defer { picked.deallocate() }
            for (r, o) in outputs.enumerated() { (picked + r * e).update(from: hidden + o * e, count: e) }
            out.withUnsafeMutableBufferPointer { buf in
                project(picked, rows: outputs.count, into: buf.baseAddress!, threads: threads)
            }
            if !keepsWeightsResident { releaseResidentWeights() }
        }
    }

    /// `rows` final hidden states through the output matrix (and its bias, scale and soft cap).
    private func project(_ hidden: UnsafePointer<Float>, rows: Int, into base: UnsafeMutablePointer<Float>, threads: Int) {
        let n = rows * vocabularySize
        multiply(hidden, tokens: rows, by: output, into: base, threads: threads, rounding: rounding(for: output))
        if let outputBias { Kernels.addBias(base, tokens: rows, bias: outputBias) }
        // Granite: ggml_scale by the float reciprocal.
        if hyperParameters.logitScale != 1 { Kernels.scale(base, count: n, by: 1 / hyperParameters.logitScale) }
        if hyperParameters.finalLogitSoftcap > 0 {
            Kernels.softcap(base, count: n, cap: hyperParameters.finalLogitSoftcap)
        }
    }

    /// Drops the weight file's pages from this process's resident set (the page cache keeps them; the
    /// next pass faults them back in, minor faults). For runs that go through several models in turn,
    /// so the process does not hold all of them at once.
    public func releaseResidentWeights() {
        for tensor in weights.weightTensors { weights.release(tensor) }
    }

    /// The final normed hidden states of a chunk, through the architecture's layers. With a `batch`
    /// (whose tokens are `tokens`), attention and RoPE follow its sequences and positions.
    func finalHidden(tokens: [Int32], batch: TokenBatch? = nil, scratch: inout LlamaScratch, threads: Int) -> UnsafePointer<Float> {
        if hyperParameters.latentAttention != nil {
            return forwardLatentHidden(tokens: tokens, batch: batch, scratch: &scratch, threads: threads)
        }
        return hyperParameters.architecture == "gemma3" || hyperParameters.architecture == "gemma2"
            ? forwardGemma3Hidden(tokens: tokens, batch: batch, scratch: &scratch, threads: threads)
            : forwardHidden(tokens: tokens, batch: batch, scratch: &scratch, threads: threads)
    }

    func rounding(for w: WeightMatrix) -> ActivationRounding {
        roundsActivationsLikeGGML ? ActivationRounding(weightType: w.type) : .none
    }

    /// Runs embedding and all layers; returns the final normed hidden states (in `scratch.normed`).
    func forwardHidden(tokens: [Int32], batch: TokenBatch?, scratch s: inout LlamaScratch, threads: Int) -> UnsafePointer<Float> {
        let hp = hyperParameters, n = tokens.count, e = hp.embeddingLength, d = hp.headDimension
        for (t, token) in tokens.enumerated() {
            tokenEmbedding.dequantize(rows: Int(token)..<Int(token) + 1, into: s.hidden + t * e)
        }
        if hp.embeddingScale != 1 { Kernels.scale(s.hidden, count: n * e, by: hp.embeddingScale) }
        let table = Kernels.ropeTable(batch: batch, tokens: n, dimensions: hp.ropeDimensions, base: hp.ropeFrequencyBase,
                                      scale: hp.ropeFrequencyScale, freqFactors: ropeFreqFactors, yarn: hp.ropeYarn)
        for (il, layer) in layers.enumerated() {
            // Without a pre-norm (OLMo2, EXAONE4) the projections read the residual stream itself.
            let attentionInput = normed(s.hidden, tokens: n, by: layer.attentionNorm, scratch: s)
            multiply(attentionInput, tokens: n, by: layer.q, into: s.q, threads: threads, rounding: rounding(for: layer.q))
            multiply(attentionInput, tokens: n, by: layer.k, into: s.k, threads: threads, rounding: rounding(for: layer.k))
            multiply(attentionInput, tokens: n, by: layer.v, into: s.v, threads: threads, rounding: rounding(for: layer.v))
            if let b = layer.qBias { Kernels.addBias(s.q, tokens: n, bias: b) }
            if let b = layer.kBias { Kernels.addBias(s.k, tokens: n, bias: b) }
            if let b = layer.vBias { Kernels.addBias(s.v, tokens: n, bias: b) }
            // Qwen3: RMSNorm over each head of q and k before RoPE; OLMoE/OLMo2: over each token's whole q and k.
            if let w = layer.qNorm {
                Kernels.rmsNormInPlace(s.q, rows: n * hp.qDimension / w.count, count: w.count, weight: w, epsilon: hp.rmsEpsilon)
            }
            if let w = layer.kNorm {
                Kernels.rmsNormInPlace(s.k, rows: n * hp.kvDimension / w.count, count: w.count, weight: w, epsilon: hp.rmsEpsilon)
            }
            if hp.usesRope(layer: il) {
                table.withUnsafeBufferPointer { tb in
                    Kernels.rope(s.q, tokens: n, heads: hp.headCount, headDimension: d, table: tb.baseAddress!,
                                 neox: hp.ropeNeoX, rotated: hp.ropeDimensions)
                    Kernels.rope(s.k, tokens: n, heads: hp.kvHeadCount, headDimension: d, table: tb.baseAddress!,
                                 neox: hp.ropeNeoX, rotated: hp.ropeDimensions)
                }
            }
            // gpt-oss: every other layer attends through a window (Gemma's are in Gemma3Forward).
            Attention.causal(q: s.q, k: s.k, v: s.v, tokens: n, heads: hp.headCount, kvHeads: hp.kvHeadCount,
                             headDimension: d, scale: hp.attentionScale, window: hp.isSliding(layer: il) ? hp.slidingWindow : 0,
                             sinks: layer.sinks, roundsKVToHalf: roundsActivationsLikeGGML, batch: batch,
                             into: s.attention, threads: threads)
            multiply(s.attention, tokens: n, by: layer.o, into: s.projected, threads: threads, rounding: rounding(for: layer.o))
            if let b = layer.oBias { Kernels.addBias(s.projected, tokens: n, bias: b) }
            finishBranch(s.projected, tokens: n, postNorm: layer.postAttentionNorm)
            Kernels.add(s.hidden, s.projected, count: n * e)
            let ffnInput = normed(s.hidden, tokens: n, by: layer.ffnNorm, scratch: s)
            feedForward(layer.feedForward, input: ffnInput, tokens: n, scratch: s, threads: threads)
            finishBranch(s.projected, tokens: n, postNorm: layer.postFeedForwardNorm)
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

    /// A layer's FFN of the normed states `x` into `scratch.projected`.
    func feedForward(_ ff: FeedForward, input x: UnsafePointer<Float>, tokens n: Int, scratch s: LlamaScratch,
                     threads: Int) {
        let width = hyperParameters.feedForwardLength
        switch ff {
        case .dense(let f):
            multiply(x, tokens: n, by: f.gate, into: s.gate, threads: threads, rounding: rounding(for: f.gate))
            multiply(x, tokens: n, by: f.up, into: s.up, threads: threads, rounding: rounding(for: f.up))
            Kernels.swiglu(s.gate, s.up, count: n * width, threads: threads)
            multiply(s.gate, tokens: n, by: f.down, into: s.projected, threads: threads, rounding: rounding(for: f.down))
        case .fusedGateUp(let up, let down):
            let fused = UnsafeMutablePointer<Float>.allocate(capacity: n * up.rows)
            defer { fused.deallocate() }
            multiply(x, tokens: n, by: up, into: fused, threads: threads, rounding: rounding(for: up))
            Kernels.fusedSwiglu(fused, tokens: n, width: width, into: s.gate)
            multiply(s.gate, tokens: n, by: down, into: s.projected, threads: threads, rounding: rounding(for: down))
        case .experts(let moe):
            mixtureOfExperts(moe, input: x, tokens: n, into: s.projected, threads: threads)
        }
    }

    /// `x` RMSNormed by `weight` into `scratch.normed`, or `x` itself when there is no norm.
    func normed(_ x: UnsafeMutablePointer<Float>, tokens n: Int, by weight: [Float]?,
                        scratch s: LlamaScratch) -> UnsafePointer<Float> {
        guard let weight else { return UnsafePointer(x) }
        weight.withUnsafeBufferPointer {
            Kernels.rmsNorm(x, tokens: n, count: weight.count, weight: $0.baseAddress!, epsilon: hyperParameters.rmsEpsilon,
                            into: s.normed)
        }
        return UnsafePointer(s.normed)
    }

    /// An attention or FFN output before its residual add: the post-norm (OLMo2, EXAONE4), then
    /// Granite's residual multiplier.
    private func finishBranch(_ x: UnsafeMutablePointer<Float>, tokens n: Int, postNorm: [Float]?) {
        let hp = hyperParameters
        if let w = postNorm { Kernels.rmsNormInPlace(x, rows: n, count: hp.embeddingLength, weight: w, epsilon: hp.rmsEpsilon) }
        if hp.residualScale != 0 { Kernels.scale(x, count: n * hp.embeddingLength, by: hp.residualScale) }
    }
}

/// The weights of one decoder layer.
struct LlamaLayer {
    /// RMSNorm weights before attention and FFN; nil for OLMo2 and EXAONE4, which norm after.
    let attentionNorm: [Float]?
    let q, k, v, o: WeightMatrix
    let ffnNorm: [Float]?
    let feedForward: FeedForward
    /// Qwen2's q/k/v biases; an attn_output bias where a file has one.
    let qBias, kBias, vBias, oBias: [Float]?
    /// Qwen3's and Gemma3's per-head q/k RMSNorm weights.
    let qNorm, kNorm: [Float]?
    /// Gemma3's, OLMo2's and EXAONE4's RMSNorms of the attention and FFN outputs, before each is
    /// added to the residual.
    let postAttentionNorm, postFeedForwardNorm: [Float]?
    /// gpt-oss's attention sink logit per query head.
    let sinks: [Float]?

    /// The matrices it reads, to hand their pages back after the layer.
    var tensors: [WeightTensor] { [q.tensor, k.tensor, v.tensor, o.tensor] + feedForward.tensors }
}

/// A layer's FFN: one SwiGLU (GeGLU for Gemma3) for every token, GLM4's SwiGLU whose gate and up
/// rows are one matrix (`ffn_up`, 2 × feed_forward_length rows, gate first), or a mixture of experts.
enum FeedForward {
    case dense(DenseFeedForward)
    case fusedGateUp(up: WeightMatrix, down: WeightMatrix)
    case experts(MixtureOfExperts)

    /// The matrices it reads, to hand their pages back after the layer.
    var tensors: [WeightTensor] {
        switch self {
        case .dense(let f): [f.gate.tensor, f.up.tensor, f.down.tensor]
        case .fusedGateUp(let up, let down): [up.tensor, down.tensor]
        case .experts(let moe): moe.tensors
        }
    }
}

struct DenseFeedForward {
    let gate, up, down: WeightMatrix
}

/// Activations of one chunk: allocated once per `logits` call, reused by every layer.
struct LlamaScratch {
    let hidden, normed, q, k, v, attention, projected, gate, up: UnsafeMutablePointer<Float>

    init(tokens n: Int, hp: LlamaHyperParameters) {
        func buffer(_ width: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n * width)
            p.initialize(repeating: 0, count: n * width)
            return p
        }
        hidden = buffer(hp.embeddingLength); normed = buffer(hp.embeddingLength)
        q = buffer(hp.qDimension); k = buffer(hp.kvDimension); v = buffer(hp.kvDimension)
        attention = buffer(hp.qDimension); projected = buffer(hp.embeddingLength)
        gate = buffer(hp.feedForwardLength); up = buffer(hp.feedForwardLength)
    }

    func deallocate() {
        for p in [hidden, normed, q, k, v, attention, projected, gate, up] { p.deallocate() }
    }
}
