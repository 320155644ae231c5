import Foundation
import GGUF
import Testing

/// The key table against the reference's spellings: the expected strings are copied from gguf-py's
/// `Keys` (llama.cpp gguf-py/gguf/constants.py) and, for `quantize.imatrix.*`, from llama.cpp's
/// tools/quantize/quantize.cpp (`LLM_KV_QUANTIZE_IMATRIX_*`).
struct GGUFKeysTests {
    @Test func fixedKeysMatchGGUFPy() {
        let expected: [(String, String)] = [
            (GGUFKeys.General.type, "general.type"),
            (GGUFKeys.General.architecture, "general.architecture"),
            (GGUFKeys.General.quantizationVersion, "general.quantization_version"),
            (GGUFKeys.General.alignment, "general.alignment"),
            (GGUFKeys.General.fileType, "general.file_type"),
            (GGUFKeys.General.samplingPenaltyRepeat, "general.sampling.penalty_repeat"),
            (GGUFKeys.General.sizeLabel, "general.size_label"),
            (GGUFKeys.General.licenseLink, "general.license.link"),
            (GGUFKeys.General.sourceRepoURL, "general.source.repo_url"),
            (GGUFKeys.General.baseModelCount, "general.base_model.count"),
            (GGUFKeys.General.datasetCount, "general.dataset.count"),
            (GGUFKeys.General.languages, "general.languages"),
            (GGUFKeys.Split.llmKVSplitNo, "split.no"),
            (GGUFKeys.Split.llmKVSplitCount, "split.count"),
            (GGUFKeys.Split.llmKVSplitTensorsCount, "split.tensors.count"),
            (GGUFKeys.Tokenizer.model, "tokenizer.ggml.model"),
            (GGUFKeys.Tokenizer.pre, "tokenizer.ggml.pre"),
            (GGUFKeys.Tokenizer.list, "tokenizer.ggml.tokens"),
            (GGUFKeys.Tokenizer.tokenTypeCount, "tokenizer.ggml.token_type_count"),
            (GGUFKeys.Tokenizer.sepID, "tokenizer.ggml.seperator_token_id"),
            (GGUFKeys.Tokenizer.unkID, "tokenizer.ggml.unknown_token_id"),
            (GGUFKeys.Tokenizer.addPrefix, "tokenizer.ggml.add_space_prefix"),
            (GGUFKeys.Tokenizer.chatTemplate, "tokenizer.chat_template"),
            (GGUFKeys.Tokenizer.normalizerStripAccents, "tokenizer.ggml.normalizer.strip_accents"),
            (GGUFKeys.Tokenizer.fimRepID, "tokenizer.ggml.fim_rep_token_id"),
            (GGUFKeys.IMatrix.chunkCount, "imatrix.chunk_count"),
            (GGUFKeys.IMatrix.chunkSize, "imatrix.chunk_size"),
            (GGUFKeys.IMatrix.datasets, "imatrix.datasets"),
            (GGUFKeys.Quantize.imatrixFile, "quantize.imatrix.file"),
            (GGUFKeys.Quantize.imatrixDataset, "quantize.imatrix.dataset"),
            (GGUFKeys.Quantize.imatrixEntriesCount, "quantize.imatrix.entries_count"),
            (GGUFKeys.Quantize.imatrixChunksCount, "quantize.imatrix.chunks_count"),
        ]
        for (key, reference) in expected { #expect(key == reference) }
    }

    @Test func architectureKeysFormatAsGGUFPy() {
        let expected: [(GGUFKeys.ArchitectureKey, String)] = [
            (GGUFKeys.LLM.vocabSize, "{arch}.vocab_size"),
            (GGUFKeys.LLM.contextLength, "{arch}.context_length"),
            (GGUFKeys.LLM.blockCount, "{arch}.block_count"),
            (GGUFKeys.LLM.expertCount, "{arch}.expert_count"),
            (GGUFKeys.LLM.expertSharedFeedForwardLength, "{arch}.expert_shared_feed_forward_length"),
            (GGUFKeys.LLM.nextNPredictLayers, "{arch}.nextn_predict_layers"),
            (GGUFKeys.LLM.attnLogitSoftcapping, "{arch}.attn_logit_softcapping"),
            (GGUFKeys.LLM.numLoops, "{arch}.num_loops"),
            (GGUFKeys.Attention.headCount, "{arch}.attention.head_count"),
            (GGUFKeys.Attention.headCountKV, "{arch}.attention.head_count_kv"),
            (GGUFKeys.Attention.layerNormRMSEps, "{arch}.attention.layer_norm_rms_epsilon"),
            (GGUFKeys.Attention.valueLengthMLA, "{arch}.attention.value_length_mla"),
            (GGUFKeys.Attention.slidingWindowPattern, "{arch}.attention.sliding_window_pattern"),
            (GGUFKeys.Rope.freqBaseSWA, "{arch}.rope.freq_base_swa"),
            (GGUFKeys.Rope.scalingOrigCtxLen, "{arch}.rope.scaling.original_context_length"),
            (GGUFKeys.Rope.scalingYarnLogMul, "{arch}.rope.scaling.yarn_log_multiplier"),
            (GGUFKeys.Classifier.outputLabels, "{arch}.classifier.output_labels"),
        ]
        for (key, template) in expected {
            #expect(key.description == template)
            // gguf-py's `template.format(arch="qwen2moe")`.
            #expect(key("qwen2moe") == template.replacingOccurrences(of: "{arch}", with: "qwen2moe"))
        }
        #expect(GGUFKeys.Attention.headCount("llama") == "llama.attention.head_count")
    }

    @Test func numberedEntryKeysFormatAsGGUFPy() {
        #expect(GGUFKeys.General.baseModelName.description == "general.base_model.{id}.name")
        #expect(GGUFKeys.General.baseModelRepoURL(2) == "general.base_model.2.repo_url")
        #expect(GGUFKeys.General.datasetOrganization(0) == "general.dataset.0.organization")
    }
}
