import JSON

/// config.json's sizes checked before anything is sized from them: against fixed bounds no model
/// comes near, and against the weights where the weights say what the size must be. A malformed or
/// hostile config.json gets an error naming the key, never a multi-gigabyte allocation, a loop of
/// billions of steps or an arithmetic trap.
enum ConfigChecks {
    /// Head counts, head widths, layers and experts: far above any model (DeepSeek-V3 has 128 heads,
    /// 61 layers and 256 experts), far below what could overflow a product of two of them.
    static let sizeLimit = 1 << 16

    static func validate(_ h: HyperParameters, stored: [StoredTensor], architecture: Architecture) throws(ConversionError) {
        for keys in [["num_attention_heads", "n_head", "n_heads"], ["num_key_value_heads", "n_kv_heads"], ["head_dim"],
                     ["num_hidden_layers", "n_layers", "n_layer", "num_layers"],
                     ["num_local_experts", "num_experts", "n_routed_experts"], ["num_experts_per_tok"],
                     ["qk_nope_head_dim"], ["qk_rope_head_dim"], ["v_head_dim"], ["kv_lora_rank"], ["q_lora_rank"]] {
            guard let value = try h.int(keys) else { continue }
            let key = keys.first { h[$0] != nil } ?? keys[0]
            guard value >= 0, value <= sizeLimit else {
                throw .config(path: h.path, key: key, message: "is \(value), outside 0...\(sizeLimit)")
            }
        }
        // The vocabulary is padded to vocab_size with [PADn] tokens: it cannot exceed the embedding.
        guard let vocabulary = try h.int(["vocab_size"]) else { return }
        let embedding = stored.first { architecture.ggufTensorName($0.hfName) == "token_embd.weight" }
        if let rows = embedding?.info.shape.first {
            guard vocabulary >= 0, vocabulary <= rows else {
                throw .config(path: h.path, key: "vocab_size",
                              message: "is \(vocabulary), but the token embedding '\(embedding?.info.name ?? "")' has \(rows) rows")
            }
        } else if vocabulary < 0 || vocabulary > 1 << 24 {
            throw .config(path: h.path, key: "vocab_size", message: "is \(vocabulary), outside 0...\(1 << 24)")
        }
    }
}
