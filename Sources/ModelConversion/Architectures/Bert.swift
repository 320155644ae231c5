import JSON
import GGUF
import Safetensors

extension Architecture {
    /// `BertModel` (BERT encoders and sentence-transformers embedding models such as bge-small):
    /// absolute position and token-type embeddings (kept F32), post-attention and post-FFN
    /// LayerNorms with biases, non-causal attention, the pooling type of the sentence-transformers
    /// config, and a WordPiece vocabulary. The pooler and the masked-LM / next-sentence heads are
    /// dropped, as the reference only converts the encoder; a sequence-classification head (cross-
    /// encoder rerankers) is kept as `cls` / `cls.output` with its labels.
    static let bert = Architecture(
        huggingFaceNames: ["BertModel", "BertForMaskedLM", "BertForSequenceClassification"],
        ggufName: "bert",
        globalTensors: [
            "embeddings.word_embeddings": "token_embd",
            "embeddings.token_type_embeddings": "token_types",
            "embeddings.position_embeddings": "position_embd",
            "embeddings.LayerNorm": "token_embd_norm",
            "classifier": "cls",
            "classifier.out_proj": "cls.output",
        ],
        layerTensors: [
            "attention.self.query": "attn_q",
            "attention.self.key": "attn_k",
            "attention.self.value": "attn_v",
            "attention.output.dense": "attn_output",
            "attention.output.LayerNorm": "attn_output_norm",
            "intermediate.dense": "ffn_up",
            "output.dense": "ffn_down",
            "output.LayerNorm": "layer_output_norm",
        ],
        configDefaults: [
            // BertConfig's defaults (transformers 4.57).
            ("max_position_embeddings", { _ in 512 }),
            ("layer_norm_eps", { _ in 1e-12 }),
            ("type_vocab_size", { _ in 2 }),
            ("vocab_size", { _ in 30522 }),
        ],
        permutesQueryKey: false,
        writeExtraHyperParameters: { (h: HyperParameters, m: inout MetadataBuilder) throws(ConversionError) in
            m.setModel(GGUFKeys.Attention.causal, .bool(false))
            if let pooling = try SentenceTransformersPooling.type(folder: h.path) {
                m.setModel(GGUFKeys.LLM.poolingType, .uint32(pooling.rawValue))
            }
            if let labels = try BertClassifierLabels.labels(h) {
                m.setModel(GGUFKeys.Classifier.outputLabels, MetadataBuilder.stringArray(labels))
            }
        },
        generatedTensors: { (_: HyperParameters) throws(ConversionError) in [] },
        vocabulary: .bert,
        layerPrefix: "encoder.layer.",
        filterTensor: { name, h in
            var name = name
            if name.hasPrefix("bert.") { name.removeFirst(5) }
            if name.hasSuffix(".gamma") { name = name.dropLast(6) + ".weight" }
            if name.hasSuffix(".beta") { name = name.dropLast(5) + ".bias" }
            if ["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"].contains(name)
                || name.hasPrefix("cls.predictions") || name.hasPrefix("cls.seq_relationship") {
                return nil
            }
            // `modify_tensors`: with real labels the classifier is a direct output projection.
            if name == "classifier.weight" || name == "classifier.bias", (try? BertClassifierLabels.labels(h)) != nil {
                name = "classifier.out_proj" + name.dropFirst("classifier".count)
            }
            return name
        })
}

/// `BertModel.__init__`'s `id2label`: classifier labels, unless they are the two dummies
/// (`LABEL_0`, `LABEL_1`) transformers adds to every config.
enum BertClassifierLabels {
    static func labels(_ h: HyperParameters) throws(ConversionError) -> [String]? {
        guard let entries = h["id2label"]?.objectValue, !entries.isEmpty else {
            // transformers fills id2label from num_labels (LABEL_i), and 2 when neither is given.
            guard let count = h["num_labels"]?.intValue, count > 0, count != 2 else { return nil }
            return (0..<count).map { "LABEL_\($0)" }
        }
        if entries.count == 2, h["id2label"]?["0"]?.stringValue == "LABEL_0" { return nil }
        var byID: [(Int, String)] = []
        for (key, value) in entries {
            guard let id = Int(key), let label = value.stringValue else {
                throw .config(path: h.path, key: "id2label", message: "has the entry '\(key)', expected integer keys and string labels")
            }
            byID.append((id, label))
        }
        return byID.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
