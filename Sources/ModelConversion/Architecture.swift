import JSON
import GGUF
import Safetensors

/// One model architecture, as data: which `config.json` architectures it covers, its GGUF name,
/// the tensor-name table, the config defaults the reference sees through transformers, and the
/// few special cases (Q/K row permutation, extra metadata, generated tensors).
///
/// Adding an architecture is one file in `Architectures/` that builds one of these, plus a line in
/// `Architecture.all`.
public struct Architecture: Sendable {
    /// `architectures[0]` values in config.json that select this table.
    public let huggingFaceNames: [String]
    /// `general.architecture` and the prefix of its hyperparameter keys.
    public let ggufName: String
    /// HF tensor names outside the layers (without `.weight`/`.bias`) to GGUF names.
    let globalTensors: [String: String]
    /// Names inside `<layerPrefix>N.` (without the suffix) to names inside `blk.N.`.
    let layerTensors: [String: String]
    /// transformers config-class defaults the reference converter reads (see `HyperParameters`).
    let configDefaults: [(String, @Sendable (HyperParameters) -> JSONValue?)]
    /// Llama's `undo_permute`: q/k rows are reordered from HF's rotate-half layout to GGML's
    /// interleaved one.
    let permutesQueryKey: Bool
    /// Writes the architecture's keys after the common `TextModel` ones.
    let writeExtraHyperParameters: @Sendable (HyperParameters, inout MetadataBuilder) throws(ConversionError) -> Void
    /// Tensors the reference generates from the config (Llama 3's `rope_freqs`).
    let generatedTensors: @Sendable (HyperParameters) throws(ConversionError) -> [GeneratedTensor]
    /// How the vocabulary is read.
    let vocabulary: VocabularyStyle
    /// Added to every `*norm.weight` (Gemma stores RMSNorm weights as `w - 1`).
    var normShift: Float = 0
    /// Gemma 3 drops embedding rows beyond the tokenizer's vocabulary.
    var truncatesEmbeddingToVocabulary = false
    /// False when the architecture writes all its hyperparameters itself (Phi-3 does not call
    /// `TextModel.set_gguf_parameters`).
    var writesTextModelParameters = true
    /// DeepSeek's MLA: `kv_b_proj` is written as `attn_k_b` and `attn_v_b` (see `MLASplit`).
    var splitsKeyValueB = false
    /// GLM-4.5 keeps its NextN (multi-token prediction) layers, which follow the decoder's layers:
    /// `block_count` is `num_hidden_layers + num_nextn_predict_layers`.
    var countsNextNLayers = false
    /// Tensors the class rewrites itself rather than mapping one to one (gpt-oss's fused and MXFP4
    /// experts): planned from, and taken out of, the filtered source tensors before the rest.
    var planOwnTensors: (@Sendable (inout [StoredTensor], TensorPlanContext) throws(ConversionError) -> [PlannedTensor])?
    /// The class reads MXFP4 checkpoints (`quantization_config.quant_method` "mxfp4"): their
    /// experts stay MXFP4 and an F32/F16/BF16 output is file type MOSTLY_MXFP4_MOE.
    var readsMXFP4 = false
    /// config.json keys the class removes before the reference reads them (Granite pops `head_dim`).
    var ignoredConfigKeys: [String] = []
    /// What precedes the layer number in HF names (`encoder.layer.` for BERT).
    var layerPrefix = "model.layers."
    /// The class's `filter_tensors` (and renames of its `modify_tensors`): the HF name the tensor
    /// map sees, or nil to drop the tensor (BERT strips `bert.`, renames `gamma`/`beta`, drops the
    /// pooler and training heads, and names a labelled classifier `classifier.out_proj`).
    var filterTensor: @Sendable (String, HyperParameters) -> String? = { name, _ in name }

    /// The architectures this converter knows, in the order they are listed to users.
    public static let all: [Architecture] = [
        .llama, .mistral, .mixtral, .smollm3, .granite, .qwen2, .qwen3, .qwen2moe, .qwen3moe, .deepseek2, .olmo2, .olmoe, .exaone4,
        .glm4, .glm4moe, .gptoss, .gemma2, .gemma3, .phi3, .bert,
    ]

    /// Every supported `config.json` architecture name.
    public static var supportedNames: [String] { all.flatMap(\.huggingFaceNames) }

    /// The table for `name`, or nil.
    public static func named(_ name: String) -> Architecture? {
        all.first { $0.huggingFaceNames.contains(name) }
    }

    /// The GGUF name of HF tensor `name`, or nil when the table has none. `.weight`/`.bias` carry over.
    public func ggufTensorName(_ name: String) -> String? {
        var base = name
        var suffix = ""
        for candidate in [".weight", ".bias"] where name.hasSuffix(candidate) {
            base = String(name.dropLast(candidate.count))
            suffix = candidate
        }
        if let mapped = globalTensors[base] { return mapped + suffix }
        guard base.hasPrefix(layerPrefix) else { return nil }
        let parts = base.dropFirst(layerPrefix.count).split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0 >= "0" && $0 <= "9" }), let layer = Int(parts[0]),
           let mapped = layerTensors[String(parts[1])] {
            return "blk.\(layer).\(mapped)\(suffix)"
        }
        return nil
    }

    /// The layer the reference attributes to a HF name: the first all-digit dotted part.
    static func blockID(of name: String) -> Int? {
        for part in name.split(separator: ".") where !part.isEmpty && part.allSatisfy({ $0 >= "0" && $0 <= "9" }) {
            return Int(part)
        }
        return nil
    }
}

/// How an architecture reads its tokenizer, following the reference's `set_vocab` of that class.
enum VocabularyStyle: Sendable {
    /// `LlamaModel.set_vocab`: SentencePiece, else Llama-HF BPE, else GPT-2 BPE; plus
    /// `add_space_prefix` from tokenizer_config.json and the `vocab_size == 49152` add_bos quirk.
    case llama
    /// `Qwen2Model.set_vocab`: SentencePiece, else GPT-2 BPE.
    case gpt2
    /// `TextModel.set_vocab` (`_set_vocab_gpt2`): GPT-2 BPE from tokenizer.json only.
    case bpe
    /// `Gemma3Model.set_vocab`: SentencePiece followed by `add_space_prefix = false`, else GPT-2 BPE.
    case gemma
    /// `Phi3MiniModel.set_vocab`: GPT-2 BPE when tokenizer_class says so, else its own SentencePiece
    /// variant (added tokens from tokenizer_config.json and tokenizer.json, none "looking special").
    case phi3
    /// `Glm4Model.set_vocab`: GPT-2 BPE, then eos, eot, unk and bos taken from the added tokens
    /// `<|endoftext|>` and `<|user|>` for each type the tokenizer files leave unset.
    case glm4
    /// `_set_vocab_glm` (GLM-4.5): GPT-2 BPE, then bos, eot, unk and eom from the added tokens
    /// `[gMASK]`, `<|user|>`, `<|endoftext|>` and `<|observation|>`, likewise.
    case glm
    /// `BertModel.set_vocab`: WordPiece from tokenizer.json written as a "phantom space" vocabulary.
    case bert
}

/// What `Architecture.planOwnTensors` needs besides the tensors.
struct TensorPlanContext {
    let architecture: Architecture
    let hparams: HyperParameters
    let outputType: OutputType
}

/// A tensor computed from the config rather than read from the weights.
struct GeneratedTensor: Sendable {
    let name: String
    let values: [Float]
}

/// One layer-tensor table from pieces (gguf-py `TensorNameMap` entries). The pieces never share a
/// name: a name given twice is a mistake in these tables, not a choice.
func tensorTable(_ pieces: [String: String]...) -> [String: String] {
    pieces.reduce(into: [:]) { table, piece in
        table.merge(piece) { _, _ in preconditionFailure("a tensor name appears in two pieces of one table") }
    }
}

/// The attention projections, named alike in every decoder here but DeepSeek's MLA.
let attentionProjectionTensors: [String: String] = [
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
]

/// Per-head (or full-width) q/k norms.
let queryKeyNormTensors: [String: String] = [
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
]

/// The dense gated FFN.
let gatedFFNTensors: [String: String] = [
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
]

/// Per-expert weights once stacked (`ExpertStacks` removes the expert index from their names).
let stackedExpertTensors: [String: String] = [
    "mlp.experts.gate_proj": "ffn_gate_exps",
    "mlp.experts.up_proj": "ffn_up_exps",
    "mlp.experts.down_proj": "ffn_down_exps",
]

/// DeepSeek's routing (also GLM-4.5's): the router with its score-correction bias, and the shared
/// experts.
let sharedExpertsRoutingTensors: [String: String] = [
    "mlp.gate": "ffn_gate_inp",
    "mlp.gate.e_score_correction": "exp_probs_b",
    "mlp.shared_experts.gate_proj": "ffn_gate_shexp",
    "mlp.shared_experts.up_proj": "ffn_up_shexp",
    "mlp.shared_experts.down_proj": "ffn_down_shexp",
]

/// Layer tensor names shared by Llama-like decoders: a norm before attention and one before the FFN.
let llamaLikeLayerTensors = tensorTable(attentionProjectionTensors, gatedFFNTensors, [
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
])

/// Gemma's four norms per layer: before and after attention, before and after the FFN.
let sandwichNormTensors: [String: String] = [
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
]

let llamaLikeGlobalTensors: [String: String] = [
    "model.embed_tokens": "token_embd",
    "model.norm": "output_norm",
    "lm_head": "output",
]
