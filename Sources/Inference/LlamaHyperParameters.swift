import Foundation
import GGUF

/// How an MoE router's logits become expert probabilities (llama.cpp's llama_expert_gating_func_type).
public enum ExpertGating: Equatable, Sendable {
    case softmax
    case sigmoid
    /// gpt-oss: the experts are chosen by logit, and their weights are a softmax over the chosen ones.
    case softmaxOfSelected
}

/// YaRN RoPE as llama.cpp sets it up (`llama_context` and ggml's `rope_yarn`): pair i's angle mixes
/// the interpolated (scaled) and the original angle by a ramp over the correction dimensions of
/// beta_fast 32 / beta_slow 1 for the original context; cos and sin are multiplied by
/// `attentionFactor · (1 + 0.1 ln(1 / scale))`.
public struct YarnRope: Equatable, Sendable {
    public var originalContext: Int
    /// llama.cpp's yarn_attn_factor: get_mscale(factor) / (1 + 0.1 ln factor), times `rope.scaling.attn_factor`.
    public var attentionFactor: Float
    public var betaFast: Float = 32
    public var betaSlow: Float = 1

    /// `logMultiplier` is llama.cpp's rope_yarn_log_mul (DeepSeek2's `rope.scaling.yarn_log_multiplier`
    /// / 0.1; 0 = absent): then the factor is get_mscale(factor, m) / get_mscale(factor, logMultiplier)
    /// with m = 1, or m = logMultiplier for DeepSeek2 (`mscaleFollowsLogMultiplier`) when it is not 1.
    init(frequencyScale: Float, originalContext: Int, attentionFactor ropeAttentionFactor: Float,
         logMultiplier: Float = 0, mscaleFollowsLogMultiplier: Bool = false) {
        self.originalContext = originalContext
        let factor = 1 / frequencyScale
        func mscale(_ m: Float) -> Float { factor <= 1 ? 1 : 0.1 * m * logf(factor) + 1 }
        let base: Float
        if logMultiplier != 0 {
            let m: Float = mscaleFollowsLogMultiplier && logMultiplier != 1 ? logMultiplier : 1
            base = mscale(m) / mscale(logMultiplier)
        } else {
            base = mscale(1)
        }
        attentionFactor = base * (1 / (1 + 0.1 * logf(factor))) * ropeAttentionFactor
    }
}

/// The shape of a Llama-family decoder, read from GGUF metadata the way llama.cpp's loader reads it
/// (`llama-model.cpp`: `{arch}.embedding_length`, `{arch}.attention.head_count`, ...).
public struct LlamaHyperParameters: Equatable, Sendable {
    public var architecture: String
    public var embeddingLength: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    /// Per-head width of q and k (`attention.key_length`; default embedding/heads).
    public var headDimension: Int
    public var feedForwardLength: Int
    public var vocabularySize: Int
    /// Dimensions of each head that RoPE rotates (`rope.dimension_count`; default the head width).
    public var ropeDimensions: Int
    public var ropeFrequencyBase: Float
    /// 1 / linear scaling factor (`rope.scaling.type` = linear); 1 otherwise.
    public var ropeFrequencyScale: Float
    public var rmsEpsilon: Float
    /// RoPE pairs i with i + dims/2 (NeoX style) instead of adjacent values.
    public var ropeNeoX: Bool
    /// True when the tokenizer prepends BOS (`tokenizer.ggml.add_bos_token`): perplexity then puts
    /// BOS at the start of every chunk, as llama-perplexity does.
    public var addsBOS: Bool
    public var bosToken: Int32

    // Gemma3 (`src/models/gemma3.cpp`); for the other architectures these keep values that change nothing.
    /// Sliding-window width (`attention.sliding_window`); 0 means every layer attends to the whole chunk.
    public var slidingWindow: Int = 0
    /// Which layers use the sliding window: `attention.sliding_window_pattern` as a per-layer bool
    /// array, or as a period n (layer i slides unless i % n == n - 1); Gemma3's default period is 6.
    public var slidingLayers: [Bool] = []
    /// RoPE base of the sliding layers (`rope.freq_base_swa`, llama.cpp's default 10000); their scale is 1.
    public var ropeFrequencyBaseSliding: Float = 10000
    /// Multiplier of the scaled token embeddings (Gemma: sqrt(embedding_length)); 1 otherwise.
    public var embeddingScale: Float = 1
    /// Query scaling before attention (llama.cpp's f_attention_scale); the default is 1/sqrt(head width).
    public var attentionScale: Float = 1
    /// `final_logit_softcapping` c: logits become c·tanh(logits/c); 0 = none.
    public var finalLogitSoftcap: Float = 0
    /// Gemma2's `attn_logit_softcapping`: each attention score s becomes c·tanh(s/c) before the
    /// softmax; 0 = none.
    public var attentionLogitSoftcap: Float = 0
    /// YaRN's per-pair interpolation (`rope.scaling.type` = yarn: gpt-oss, some Qwen files), nil otherwise.
    public var ropeYarn: YarnRope?
    /// gpt-oss: attention sinks (`attn_sinks`), and the norm before the FFN stored as post_attention_norm
    /// (as GLM4-MoE stores it).
    public var ffnNormIsPostAttentionNorm = false
    /// RoPE scale of the sliding layers: 1 for Gemma3, the global scale for Gemma2.
    public var ropeFrequencyScaleSliding: Float = 1

    // Mixture of experts (`expert_count` > 0): Mixtral (GGUF arch `llama`), Qwen3-MoE, Qwen2-MoE, OLMoE,
    // GLM4-MoE, gpt-oss.
    /// Experts per MoE layer (`expert_count`); 0 means every layer has a dense FFN.
    public var expertCount: Int = 0
    /// Experts each token is routed to (`expert_used_count`).
    public var expertsUsed: Int = 0
    /// Rows of each expert's gate/up matrix: `expert_feed_forward_length` for Qwen2/3-MoE (llama.cpp's
    /// default there is feed_forward_length / expert_used_count), `feed_forward_length` for Mixtral and OLMoE.
    public var expertFeedForwardLength: Int = 0
    /// Qwen2-MoE's shared expert width (`expert_shared_feed_forward_length`, default feed_forward_length).
    public var sharedExpertFeedForwardLength: Int = 0
    /// The selected experts' weights are divided by their sum (llama.cpp passes norm_w = true for
    /// Mixtral and Qwen3-MoE, false for OLMoE and Qwen2-MoE, whatever `expert_weights_norm` says;
    /// GLM4-MoE reads that key).
    public var normalizesExpertWeights = false
    /// GLM4-MoE: the first n layers have a dense FFN (`leading_dense_block_count`).
    public var leadingDenseLayers = 0
    /// How router logits become probabilities: softmax (Mixtral, Qwen-MoE, OLMoE) or sigmoid
    /// (GLM4-MoE, `expert_gating_func` 2, its default).
    public var expertGating: ExpertGating = .softmax
    /// Multiplier of the selected experts' weights (`expert_weights_scale`, GLM4-MoE); 0 or 1 = none.
    public var expertWeightsScale: Float = 0
    /// OLMoE's and OLMo2's q/k RMSNorm runs over the whole q (k) vector of a token, not per head.
    public var qkNormSpansHeads = false
    /// Routing in groups (`expert_group_count` > 1, DeepSeek-V3): each group scored by the sum of its
    /// two best (biased) probabilities, only the `expertGroupsUsed` best groups' experts selectable.
    public var expertGroupCount = 0
    public var expertGroupsUsed = 0
    /// DeepSeek2's multi-head latent attention (`LatentAttention.swift`); nil for the other architectures.
    public var latentAttention: LatentAttentionShape?

    // Dense variations of the Llama layer.
    /// OLMo2 and EXAONE4 have no RMSNorm before attention and FFN, only after them
    /// (`post_attention_norm`, `post_ffw_norm`); Gemma3 and GLM4 have both.
    public var hasPreNorms = true
    public var hasPostNorms = false
    /// SmolLM3 leaves RoPE out of every n-th layer (layer i when (i + 1) % n == 0); 0 = never.
    public var noRopeLayerStep = 0
    /// Granite's multiplier of each attention and FFN output before the residual add (0 = none).
    public var residualScale: Float = 0
    /// Granite divides the logits by this (`logit_scale`); 1 otherwise.
    public var logitScale: Float = 1

    /// The decoders this forward pass implements: Llama (and Mixtral, which is `llama` with expert
    /// tensors), the Qwen2 (q/k/v biases) and Qwen3 (per-head q/k RMSNorm) variations of it, their
    /// mixture-of-experts versions, OLMoE, OLMo2 and EXAONE4 (post-norms only), Granite (scaled
    /// embeddings, attention, residuals and logits), SmolLM3 (no RoPE in every 4th layer), GLM4
    /// (pre- and post-norms, fused gate-up FFN, partial RoPE), GLM4-MoE (sigmoid routing with a
    /// selection bias, a shared expert, dense leading layers), gpt-oss (attention sinks, alternating
    /// sliding window, YaRN, biased experts with a clamped SwiGLU), DeepSeek2 (multi-head latent
    /// attention, expert groups, shared experts, dense leading layers), and the Gemma2 and Gemma3 text
    /// decoders.
    public static let supportedArchitectures: Set<String> = [
        "llama", "qwen2", "qwen3", "gemma3", "qwen3moe", "qwen2moe", "olmoe", "olmo2", "granite", "smollm3", "exaone4",
        "glm4", "gemma2", "glm4moe", "gpt-oss", "deepseek2",
    ]

    /// llama_model_rope_type's LLAMA_ROPE_TYPE_NORM among them (adjacent pairs); the others are NeoX.
    static let adjacentPairRope: Set<String> = ["llama", "granite", "smollm3", "glm4", "deepseek2"]

    /// Architectures whose layers always route through experts (llama.cpp refuses them without).
    static let expertArchitectures: Set<String> = ["qwen3moe", "qwen2moe", "olmoe", "glm4moe", "gpt-oss", "deepseek2"]

    /// llama.cpp's LLAMA_MAX_EXPERTS.
    static let maximumExperts = 512

    public var qDimension: Int { headCount * headDimension }
    public var kvDimension: Int { kvHeadCount * headDimension }

    /// Reads and checks the hyperparameters. `vocabularySize` comes from `token_embd.weight`.
    public init(metadata m: GGUFMetadata, vocabularySize: Int) throws {
        guard let arch = m[GGUFKeys.General.architecture]?.stringValue else {
            throw InferenceError.missingKey(GGUFKeys.General.architecture)
        }
        guard Self.supportedArchitectures.contains(arch) else { throw InferenceError.unsupportedArchitecture(arch) }
        architecture = arch
        // llama.cpp's llama_model_rope_type: LLM_ARCH_LLAMA rotates adjacent pairs (mode 0), Qwen2/3 use NeoX.
        ropeNeoX = !Self.adjacentPairRope.contains(arch)
        func int(_ key: GGUFKeys.ArchitectureKey, default value: Int? = nil, allowsZero: Bool = false) throws -> Int {
            let full = key(arch)
            if let v = m[full]?.integerValue {
                guard v > 0 || (allowsZero && v == 0), v <= 1 << 24 else {
                    throw InferenceError.invalidHyperparameter(key: full, value: Int(v))
                }
                return Int(v)
            }
            // Some writers store head_count_kv as a per-layer array; all equal for the models we run.
            if let first = m[full]?.arrayValue?.first?.integerValue, first > 0, first <= 1 << 24 { return Int(first) }
            guard let value else { throw InferenceError.missingKey(full) }
            return value
        }
        func float(_ key: GGUFKeys.ArchitectureKey, default value: Float) -> Float {
            m[key(arch)]?.doubleValue.map { Float($0) } ?? value
        }
        embeddingLength = try int(GGUFKeys.LLM.embeddingLength)
        layerCount = try int(GGUFKeys.LLM.blockCount)
        // Multi-token-prediction layers are stored after the decoder's and not run (llama.cpp's n_layer).
        let nextN = try int(GGUFKeys.LLM.nextNPredictLayers, default: 0, allowsZero: true)
        guard nextN < layerCount else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.nextNPredictLayers(arch), value: nextN)
        }
        layerCount -= nextN
        headCount = try int(GGUFKeys.Attention.headCount)
        kvHeadCount = try int(GGUFKeys.Attention.headCountKV, default: headCount)
        let experts = try int(GGUFKeys.LLM.expertCount, default: 0, allowsZero: true)
        // MoE layers have no dense FFN, so their files need not say how wide one would be.
        feedForwardLength = try int(GGUFKeys.LLM.feedForwardLength, default: experts > 0 ? 0 : nil, allowsZero: experts > 0)
        // DeepSeek2's key_length / value_length are its latent cache's widths (kv_lora_rank + rope,
        // kv_lora_rank), not a head's; its head widths are read with the latent attention.
        let latent = arch == "deepseek2"
        guard latent || embeddingLength % headCount == 0 else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Attention.headCount(arch), value: headCount)
        }
        headDimension = try int(GGUFKeys.Attention.keyLength, default: embeddingLength / headCount)
        let valueLength = try int(GGUFKeys.Attention.valueLength, default: headDimension)
        guard latent || valueLength == headDimension else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Attention.valueLength(arch), value: valueLength)
        }
        guard headCount % kvHeadCount == 0 else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Attention.headCountKV(arch), value: kvHeadCount)
        }
        ropeDimensions = try int(GGUFKeys.Rope.dimensionCount, default: headDimension)
        // llama.cpp asserts n_rot == head width for these architectures; GLM4 turns only the first
        // rope.dimension_count values of each head.
        let partialRope = (arch == "glm4" || arch == "glm4moe" || latent) && ropeDimensions < headDimension
        guard ropeDimensions == headDimension || partialRope, ropeDimensions % 2 == 0 else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Rope.dimensionCount(arch), value: ropeDimensions)
        }
        ropeFrequencyBase = float(GGUFKeys.Rope.freqBase, default: 10000)
        ropeFrequencyScale = 1
        // llama.cpp: the type defaults to linear; "none" never scales; YaRN also interpolates per pair.
        let scalingType = m[GGUFKeys.Rope.scalingType(arch)]?.stringValue ?? "linear"
        if scalingType == "linear" || scalingType == "yarn" {
            let factor = float(GGUFKeys.Rope.scalingFactor, default: 0)
            if factor > 0, factor.isFinite { ropeFrequencyScale = 1 / factor }
        }
        if scalingType == "yarn" {
            let original = try int(GGUFKeys.Rope.scalingOrigCtxLen, default: int(GGUFKeys.LLM.contextLength, default: 4096))
            ropeYarn = YarnRope(frequencyScale: ropeFrequencyScale, originalContext: original,
                                attentionFactor: float(GGUFKeys.Rope.scalingAttnFactor, default: 1),
                                logMultiplier: latent ? Self.yarnLogMultiplier(m, arch) : 0,
                                mscaleFollowsLogMultiplier: latent)
        }
        rmsEpsilon = float(GGUFKeys.Attention.layerNormRMSEps, default: 1e-5)
        self.vocabularySize = vocabularySize
        addsBOS = m[GGUFKeys.Tokenizer.addBOS].map { $0 == .bool(true) } ?? Self.defaultAddsBOS(m)
        bosToken = Int32(truncatingIfNeeded: m[GGUFKeys.Tokenizer.bosID]?.integerValue ?? 1)
        attentionScale = 1 / Float(headDimension).squareRoot()
        if arch == "gemma3" || arch == "gemma2" || arch == "gpt-oss" { try readGemma(m) }
        ffnNormIsPostAttentionNorm = arch == "glm4moe" || arch == "gpt-oss"
        if experts > 0 || Self.expertArchitectures.contains(arch) {
            try readExperts(count: experts, int: int, metadata: m)
        }
        qkNormSpansHeads = arch == "olmoe" || arch == "olmo2"
        if latent { try readLatentAttention(m, int: int) }
        hasPreNorms = arch != "olmo2" && arch != "exaone4"
        hasPostNorms = ["gemma2", "gemma3", "olmo2", "exaone4", "glm4"].contains(arch)
        if arch == "smollm3" { noRopeLayerStep = 4 }
        if arch == "granite" { try readGranite(m) }
        // OLMo3 (olmo2 with a sliding window) and EXAONE4-32B (64 layers: sliding-window layers and
        // global layers without RoPE) attend differently; this pass does not implement them.
        if arch == "olmo2", let window = m[GGUFKeys.Attention.slidingWindow("olmo2")]?.integerValue, window > 0 {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Attention.slidingWindow("olmo2"), value: Int(window))
        }
        // GLM-4V's multi-section RoPE (rope.dimension_sections) is not implemented.
        if arch == "glm4" || arch == "glm4moe", let sections = m[GGUFKeys.Rope.dimensionSections(arch)]?.arrayValue,
           sections.contains(where: { ($0.integerValue ?? 0) != 0 }) {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.Rope.dimensionSections(arch), value: sections.count)
        }
        if arch == "exaone4", layerCount == 64 {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.blockCount("exaone4"), value: layerCount)
        }
    }

    /// llama.cpp's `llama_model_glm4_moe::load_arch_hparams`: every routing key but the optional
    /// dense lead, weight scale, weight norm and gating function is required.
    private mutating func readGLM4MoE(int: (GGUFKeys.ArchitectureKey, Int?, Bool) throws -> Int, metadata: GGUFMetadata) throws {
        let arch = architecture
        expertFeedForwardLength = try int(GGUFKeys.LLM.expertFeedForwardLength, nil, false)
        let sharedCount = try int(GGUFKeys.LLM.expertSharedCount, nil, true)
        sharedExpertFeedForwardLength = expertFeedForwardLength * sharedCount
        leadingDenseLayers = try int(GGUFKeys.LLM.leadingDenseBlockCount, 0, true)
        guard leadingDenseLayers <= layerCount else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.leadingDenseBlockCount(arch), value: leadingDenseLayers)
        }
        if leadingDenseLayers > 0, feedForwardLength == 0 { throw InferenceError.missingKey(GGUFKeys.LLM.feedForwardLength(arch)) }
        normalizesExpertWeights = metadata[GGUFKeys.LLM.expertWeightsNorm(arch)] == .bool(true)
        if let scale = metadata[GGUFKeys.LLM.expertWeightsScale(arch)]?.doubleValue, scale.isFinite { expertWeightsScale = Float(scale) }
        switch metadata[GGUFKeys.LLM.expertGatingFunc(arch)]?.integerValue ?? 0 {
        case 0, 2: expertGating = .sigmoid
        case 1: expertGating = .softmax
        case let other: throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertGatingFunc(arch), value: Int(other))
        }
    }

    /// True when layer `i`'s FFN is a mixture of experts.
    public func hasExperts(layer i: Int) -> Bool { expertCount > 0 && i >= leadingDenseLayers }

    /// llama.cpp's `llama_model_granite::load_arch_hparams`: `logit_scale` is required, the other
    /// multipliers apply when present and non-zero.
    private mutating func readGranite(_ m: GGUFMetadata) throws {
        func value(_ key: GGUFKeys.ArchitectureKey) -> Float? { m[key("granite")]?.doubleValue.map { Float($0) } }
        guard let logit = value(GGUFKeys.LLM.logitScale) else { throw InferenceError.missingKey(GGUFKeys.LLM.logitScale("granite")) }
        guard logit.isFinite, logit != 0 else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.logitScale("granite"), value: Int(logit))
        }
        logitScale = logit
        if let r = value(GGUFKeys.LLM.residualScale), r.isFinite { residualScale = r }
        if let e = value(GGUFKeys.LLM.embeddingScale), e.isFinite, e != 0 { embeddingScale = e }
        if let a = value(GGUFKeys.Attention.scale), a.isFinite, a != 0 { attentionScale = a }
    }

    /// False for the layers that attend without positions (SmolLM3's every 4th).
    public func usesRope(layer i: Int) -> Bool { noRopeLayerStep == 0 || (i + 1) % noRopeLayerStep != 0 }

    /// The routing keys as llama.cpp's loader reads them (`llama_model::load_hparams` and each
    /// architecture's `load_arch_hparams`), checked as it asserts them.
    private mutating func readExperts(
        count: Int, int: (GGUFKeys.ArchitectureKey, Int?, Bool) throws -> Int, metadata: GGUFMetadata
    ) throws {
        let arch = architecture
        guard count > 0, count <= Self.maximumExperts, arch != "gemma3", arch != "gemma2" else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertCount(arch), value: count)
        }
        expertCount = count
        expertsUsed = try int(GGUFKeys.LLM.expertUsedCount, nil, false)
        guard expertsUsed <= count else {
            throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertUsedCount(arch), value: expertsUsed)
        }
        switch arch {
        case "qwen3moe", "qwen2moe":
            let fallback = feedForwardLength / expertsUsed
            expertFeedForwardLength = try int(GGUFKeys.LLM.expertFeedForwardLength, fallback > 0 ? fallback : nil, false)
            normalizesExpertWeights = arch == "qwen3moe"
        case "glm4moe":
            try readGLM4MoE(int: int, metadata: metadata)
        case "deepseek2":
            try readDeepSeek2Experts(int: int, metadata: metadata)
        case "gpt-oss":
            // llama_model_openai_moe: softmax over the selected experts' logits, no renormalisation.
            expertFeedForwardLength = try int(GGUFKeys.LLM.expertFeedForwardLength, nil, false)
            expertGating = .softmaxOfSelected
        default:
            guard feedForwardLength > 0 else { throw InferenceError.missingKey(GGUFKeys.LLM.feedForwardLength(arch)) }
            expertFeedForwardLength = feedForwardLength
            normalizesExpertWeights = arch == "llama"
        }
        if arch == "qwen2moe" {
            let fallback = feedForwardLength > 0 ? feedForwardLength : nil
            sharedExpertFeedForwardLength = try int(GGUFKeys.LLM.expertSharedFeedForwardLength, fallback, false)
        }
        // llama_model::load_hparams reads the groups for every architecture and build_moe_ffn uses them
        // whenever there is more than one; its asserts, plus two experts per group (each group is
        // scored by its top two).
        expertGroupCount = try int(GGUFKeys.LLM.expertGroupCount, 0, true)
        expertGroupsUsed = try int(GGUFKeys.LLM.expertGroupUsedCount, 0, true)
        if expertGroupCount > 1 {
            guard expertGroupCount < count, count % expertGroupCount == 0, count / expertGroupCount >= 2 else {
                throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertGroupCount(arch), value: expertGroupCount)
            }
            guard expertGroupsUsed > 0, expertGroupsUsed < expertGroupCount,
                  expertsUsed <= expertGroupsUsed * (count / expertGroupCount) else {
                throw InferenceError.invalidHyperparameter(key: GGUFKeys.LLM.expertGroupUsedCount(arch), value: expertGroupsUsed)
            }
        }
    }

    /// llama.cpp's `llama_model_gemma3::load_arch_hparams` / `llama_model_gemma2::load_arch_hparams`
    /// and their graphs' constants. Gemma2 always slides (window 4096 unless the file says, every
    /// other layer), soft-caps attention scores (50) and logits (30) by default, and gives the
    /// sliding layers the global RoPE base and scale unless `rope.freq_base_swa` says.
    private mutating func readGemma(_ m: GGUFMetadata) throws {
        let arch = architecture, gemma2 = arch == "gemma2"
        if arch == "gpt-oss" {
            // llama_model_openai_moe: a required window on every other layer, the global RoPE everywhere.
            guard m[GGUFKeys.Attention.slidingWindow("gpt-oss")]?.integerValue != nil else {
                throw InferenceError.missingKey(GGUFKeys.Attention.slidingWindow("gpt-oss"))
            }
            try readSlidingWindow(m, defaultWindow: 0, defaultPeriod: 2)
            ropeFrequencyBaseSliding = metadataFloat(m, GGUFKeys.Rope.freqBaseSWA) ?? ropeFrequencyBase
            guard ropeFrequencyBaseSliding == ropeFrequencyBase else {
                throw InferenceError.invalidHyperparameter(key: GGUFKeys.Rope.freqBaseSWA("gpt-oss"), value: Int(ropeFrequencyBaseSliding))
            }
            return
        }
        embeddingScale = Float(embeddingLength).squareRoot()
        // gemma_pytorch's config: the 27B (62 layers for Gemma3, 46 for Gemma2) scales queries by
        // 1/sqrt(embedding/heads).
        if layerCount == (gemma2 ? 46 : 62) { attentionScale = 1 / Float(embeddingLength / headCount).squareRoot() }
        func float(_ key: GGUFKeys.ArchitectureKey) -> Float? { m[key(arch)]?.doubleValue.map { Float($0) } }
        finalLogitSoftcap = float(GGUFKeys.LLM.finalLogitSoftcapping) ?? (gemma2 ? 30 : 0)
        if gemma2 {
            attentionLogitSoftcap = float(GGUFKeys.LLM.attnLogitSoftcapping) ?? 50
            ropeFrequencyScaleSliding = ropeFrequencyScale
        }
        try readSlidingWindow(m, defaultWindow: gemma2 ? 4096 : 0, defaultPeriod: gemma2 ? 2 : 6)
        ropeFrequencyBaseSliding = float(GGUFKeys.Rope.freqBaseSWA) ?? (gemma2 ? ropeFrequencyBase : 10000)
    }

    private func metadataFloat(_ m: GGUFMetadata, _ key: GGUFKeys.ArchitectureKey) -> Float? {
        m[key(architecture)]?.doubleValue.map { Float($0) }
    }

    /// `attention.sliding_window` and llama.cpp's `load_swa_pattern`: a per-layer bool array, or a
    /// period n (layer i slides unless i % n == n - 1).
    private mutating func readSlidingWindow(_ m: GGUFMetadata, defaultWindow: Int64, defaultPeriod: Int64) throws {
        let arch = architecture
        let windowKey = GGUFKeys.Attention.slidingWindow(arch)
        let window = m[windowKey]?.integerValue ?? defaultWindow
        guard window > 0 else { return }
        guard window <= 1 << 24 else { throw InferenceError.invalidHyperparameter(key: windowKey, value: Int(window)) }
        slidingWindow = Int(window)
        let patternKey = GGUFKeys.Attention.slidingWindowPattern(arch)
        if let flags = m[patternKey]?.arrayValue {
            guard flags.count >= layerCount else {
                throw InferenceError.invalidHyperparameter(key: patternKey, value: flags.count)
            }
            slidingLayers = flags.prefix(layerCount).map { $0 == .bool(true) }
        } else {
            let period = Int(m[patternKey]?.integerValue ?? defaultPeriod)
            // llama_hparams::set_swa_pattern: period 0 makes every layer slide.
            slidingLayers = (0..<layerCount).map { period == 0 || $0 % period < period - 1 }
        }
    }

    /// True when layer `i` attends only to the last `slidingWindow` positions.
    public func isSliding(layer i: Int) -> Bool { slidingWindow > 0 && i < slidingLayers.count && slidingLayers[i] }

    /// llama.cpp's default when `add_bos_token` is absent (`llama_vocab::impl::load`): true for SPM
    /// ("llama") and WPM ("bert") vocabularies and for BPE ("gpt2") with a Llama-3-style pre-tokenizer.
    static func defaultAddsBOS(_ m: GGUFMetadata) -> Bool {
        switch m[GGUFKeys.Tokenizer.model]?.stringValue {
        case "llama", "bert": return true
        case "gpt2":
            let llama3Style: Set<String> = [
                "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
            ]
            return m[GGUFKeys.Tokenizer.pre]?.stringValue.map(llama3Style.contains) ?? false
        default: return false
        }
    }
}
