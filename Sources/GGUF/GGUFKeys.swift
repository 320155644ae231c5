/// GGUF metadata key names: the one place quantd spells them. Modelled on gguf-py's `Keys`
/// (gguf/constants.py), with its group and constant names Swift-cased (`Keys.LLM.CONTEXT_LENGTH`
/// is `GGUFKeys.LLM.contextLength`), holding only the keys quantd reads or writes, plus the keys
/// llama-quantize writes for an importance matrix (`quantize.imatrix.*`, llama.cpp's
/// `LLM_KV_QUANTIZE_IMATRIX_*`, which gguf-py does not list).
///
/// Fixed keys are strings. Architecture-relative keys (gguf-py's `"{arch}.context_length"`) are
/// `ArchitectureKey`s, formatted with the architecture name as gguf-py's `.format(arch=...)` does:
/// `GGUFKeys.LLM.contextLength("llama")` is `"llama.context_length"`.
public enum GGUFKeys {
    /// A key under the architecture's prefix, `{arch}.<suffix>`.
    public struct ArchitectureKey: Sendable, Hashable, CustomStringConvertible {
        /// The part after `{arch}.`, e.g. `attention.head_count`.
        public let suffix: String

        public init(_ suffix: String) { self.suffix = suffix }

        /// The key for one architecture: `{arch}.<suffix>` with `{arch}` replaced.
        public func callAsFunction(_ architecture: String) -> String { "\(architecture).\(suffix)" }

        /// gguf-py's template spelling, `{arch}.<suffix>`.
        public var description: String { "{arch}.\(suffix)" }
    }

    /// A key of one numbered entry of a list, gguf-py's `general.base_model.{id}.name`.
    public struct IndexedKey: Sendable, Hashable, CustomStringConvertible {
        public let prefix: String
        public let field: String

        public init(_ prefix: String, _ field: String) {
            self.prefix = prefix
            self.field = field
        }

        /// The key of entry `id`.
        public func callAsFunction(_ id: Int) -> String { "\(prefix).\(id).\(field)" }

        public var description: String { "\(prefix).{id}.\(field)" }
    }

    public enum General {
        public static let type = "general.type"
        public static let architecture = "general.architecture"
        public static let quantizationVersion = "general.quantization_version"
        public static let alignment = "general.alignment"
        public static let fileType = "general.file_type"

        // Recommended sampler parameters.
        public static let samplingSequence = "general.sampling.sequence"
        public static let samplingTopK = "general.sampling.top_k"
        public static let samplingTopP = "general.sampling.top_p"
        public static let samplingMinP = "general.sampling.min_p"
        public static let samplingXTCProbability = "general.sampling.xtc_probability"
        public static let samplingXTCThreshold = "general.sampling.xtc_threshold"
        public static let samplingTemp = "general.sampling.temp"
        public static let samplingPenaltyLastN = "general.sampling.penalty_last_n"
        public static let samplingPenaltyRepeat = "general.sampling.penalty_repeat"
        public static let samplingMirostat = "general.sampling.mirostat"
        public static let samplingMirostatTau = "general.sampling.mirostat_tau"
        public static let samplingMirostatEta = "general.sampling.mirostat_eta"

        // Authorship.
        public static let name = "general.name"
        public static let author = "general.author"
        public static let version = "general.version"
        public static let organization = "general.organization"
        public static let finetune = "general.finetune"
        public static let basename = "general.basename"
        public static let description = "general.description"
        public static let sizeLabel = "general.size_label"

        // Licensing.
        public static let license = "general.license"
        public static let licenseName = "general.license.name"
        public static let licenseLink = "general.license.link"

        // The model's source during conversion.
        public static let sourceURL = "general.source.url"
        public static let sourceDOI = "general.source.doi"
        public static let sourceUUID = "general.source.uuid"
        public static let sourceRepoURL = "general.source.repo_url"

        // Base models and datasets: a count, then numbered entries.
        public static let baseModelCount = "general.base_model.count"
        public static let baseModelName = IndexedKey("general.base_model", "name")
        public static let baseModelAuthor = IndexedKey("general.base_model", "author")
        public static let baseModelVersion = IndexedKey("general.base_model", "version")
        public static let baseModelOrganization = IndexedKey("general.base_model", "organization")
        public static let baseModelDescription = IndexedKey("general.base_model", "description")
        public static let baseModelURL = IndexedKey("general.base_model", "url")
        public static let baseModelDOI = IndexedKey("general.base_model", "doi")
        public static let baseModelUUID = IndexedKey("general.base_model", "uuid")
        public static let baseModelRepoURL = IndexedKey("general.base_model", "repo_url")

        public static let datasetCount = "general.dataset.count"
        public static let datasetName = IndexedKey("general.dataset", "name")
        public static let datasetAuthor = IndexedKey("general.dataset", "author")
        public static let datasetVersion = IndexedKey("general.dataset", "version")
        public static let datasetOrganization = IndexedKey("general.dataset", "organization")
        public static let datasetDescription = IndexedKey("general.dataset", "description")
        public static let datasetURL = IndexedKey("general.dataset", "url")
        public static let datasetDOI = IndexedKey("general.dataset", "doi")
        public static let datasetUUID = IndexedKey("general.dataset", "uuid")
        public static let datasetRepoURL = IndexedKey("general.dataset", "repo_url")

        public static let tags = "general.tags"
        public static let languages = "general.languages"
    }

    public enum LLM {
        public static let vocabSize = ArchitectureKey("vocab_size")
        public static let contextLength = ArchitectureKey("context_length")
        public static let embeddingLength = ArchitectureKey("embedding_length")
        public static let blockCount = ArchitectureKey("block_count")
        public static let leadingDenseBlockCount = ArchitectureKey("leading_dense_block_count")
        public static let feedForwardLength = ArchitectureKey("feed_forward_length")
        public static let expertFeedForwardLength = ArchitectureKey("expert_feed_forward_length")
        public static let expertSharedFeedForwardLength = ArchitectureKey("expert_shared_feed_forward_length")
        public static let expertCount = ArchitectureKey("expert_count")
        public static let expertUsedCount = ArchitectureKey("expert_used_count")
        public static let expertSharedCount = ArchitectureKey("expert_shared_count")
        public static let expertGroupCount = ArchitectureKey("expert_group_count")
        public static let expertGroupUsedCount = ArchitectureKey("expert_group_used_count")
        public static let expertWeightsScale = ArchitectureKey("expert_weights_scale")
        public static let expertWeightsNorm = ArchitectureKey("expert_weights_norm")
        public static let expertGatingFunc = ArchitectureKey("expert_gating_func")
        public static let nextNPredictLayers = ArchitectureKey("nextn_predict_layers")
        public static let poolingType = ArchitectureKey("pooling_type")
        public static let logitScale = ArchitectureKey("logit_scale")
        public static let attnLogitSoftcapping = ArchitectureKey("attn_logit_softcapping")
        public static let finalLogitSoftcapping = ArchitectureKey("final_logit_softcapping")
        public static let residualScale = ArchitectureKey("residual_scale")
        public static let embeddingScale = ArchitectureKey("embedding_scale")
        public static let numLoops = ArchitectureKey("num_loops")
    }

    public enum Attention {
        public static let headCount = ArchitectureKey("attention.head_count")
        public static let headCountKV = ArchitectureKey("attention.head_count_kv")
        public static let keyLength = ArchitectureKey("attention.key_length")
        public static let valueLength = ArchitectureKey("attention.value_length")
        public static let layerNormEps = ArchitectureKey("attention.layer_norm_epsilon")
        public static let layerNormRMSEps = ArchitectureKey("attention.layer_norm_rms_epsilon")
        public static let causal = ArchitectureKey("attention.causal")
        public static let qLoraRank = ArchitectureKey("attention.q_lora_rank")
        public static let kvLoraRank = ArchitectureKey("attention.kv_lora_rank")
        public static let slidingWindow = ArchitectureKey("attention.sliding_window")
        public static let scale = ArchitectureKey("attention.scale")
        public static let keyLengthMLA = ArchitectureKey("attention.key_length_mla")
        public static let valueLengthMLA = ArchitectureKey("attention.value_length_mla")
        public static let slidingWindowPattern = ArchitectureKey("attention.sliding_window_pattern")
        public static let temperatureScale = ArchitectureKey("attention.temperature_scale")
    }

    public enum Rope {
        public static let dimensionCount = ArchitectureKey("rope.dimension_count")
        public static let dimensionSections = ArchitectureKey("rope.dimension_sections")
        public static let freqBase = ArchitectureKey("rope.freq_base")
        public static let freqBaseSWA = ArchitectureKey("rope.freq_base_swa")
        public static let scalingType = ArchitectureKey("rope.scaling.type")
        public static let scalingFactor = ArchitectureKey("rope.scaling.factor")
        public static let scalingAttnFactor = ArchitectureKey("rope.scaling.attn_factor")
        public static let scalingOrigCtxLen = ArchitectureKey("rope.scaling.original_context_length")
        public static let scalingYarnLogMul = ArchitectureKey("rope.scaling.yarn_log_multiplier")
        public static let scalingYarnExtFactor = ArchitectureKey("rope.scaling.yarn_ext_factor")
        public static let scalingYarnAttnFactor = ArchitectureKey("rope.scaling.yarn_attn_factor")
        public static let scalingYarnBetaFast = ArchitectureKey("rope.scaling.yarn_beta_fast")
        public static let scalingYarnBetaSlow = ArchitectureKey("rope.scaling.yarn_beta_slow")
    }

    public enum Split {
        public static let llmKVSplitNo = "split.no"
        public static let llmKVSplitCount = "split.count"
        public static let llmKVSplitTensorsCount = "split.tensors.count"
    }

    public enum Classifier {
        public static let outputLabels = ArchitectureKey("classifier.output_labels")
    }

    public enum Tokenizer {
        public static let model = "tokenizer.ggml.model"
        public static let pre = "tokenizer.ggml.pre"
        public static let list = "tokenizer.ggml.tokens"
        public static let tokenType = "tokenizer.ggml.token_type"
        public static let tokenTypeCount = "tokenizer.ggml.token_type_count"
        public static let scores = "tokenizer.ggml.scores"
        public static let merges = "tokenizer.ggml.merges"
        public static let bosID = "tokenizer.ggml.bos_token_id"
        public static let eosID = "tokenizer.ggml.eos_token_id"
        public static let eotID = "tokenizer.ggml.eot_token_id"
        public static let eomID = "tokenizer.ggml.eom_token_id"
        public static let unkID = "tokenizer.ggml.unknown_token_id"
        public static let sepID = "tokenizer.ggml.seperator_token_id"
        public static let padID = "tokenizer.ggml.padding_token_id"
        public static let maskID = "tokenizer.ggml.mask_token_id"
        public static let addBOS = "tokenizer.ggml.add_bos_token"
        public static let addEOS = "tokenizer.ggml.add_eos_token"
        public static let addSEP = "tokenizer.ggml.add_sep_token"
        public static let addPrefix = "tokenizer.ggml.add_space_prefix"
        public static let chatTemplate = "tokenizer.chat_template"
        public static let normalizerLowercase = "tokenizer.ggml.normalizer.lowercase"
        public static let normalizerStripAccents = "tokenizer.ggml.normalizer.strip_accents"
        public static let fimPreID = "tokenizer.ggml.fim_pre_token_id"
        public static let fimSufID = "tokenizer.ggml.fim_suf_token_id"
        public static let fimMidID = "tokenizer.ggml.fim_mid_token_id"
        public static let fimPadID = "tokenizer.ggml.fim_pad_token_id"
        public static let fimRepID = "tokenizer.ggml.fim_rep_token_id"
        public static let fimSepID = "tokenizer.ggml.fim_sep_token_id"
    }

    /// An importance-matrix file's own keys (llama-imatrix's GGUF output).
    public enum IMatrix {
        public static let chunkCount = "imatrix.chunk_count"
        public static let chunkSize = "imatrix.chunk_size"
        public static let datasets = "imatrix.datasets"
    }

    /// What llama-quantize records about the importance matrix it used (tools/quantize/quantize.cpp).
    public enum Quantize {
        public static let imatrixFile = "quantize.imatrix.file"
        public static let imatrixDataset = "quantize.imatrix.dataset"
        public static let imatrixEntriesCount = "quantize.imatrix.entries_count"
        public static let imatrixChunksCount = "quantize.imatrix.chunks_count"
    }
}
