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
        try checkAttention(h, stored: stored, architecture: architecture)
        try checkExperts(h, stored: stored, architecture: architecture)
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

    static let headKeys = ["num_attention_heads", "n_head", "n_heads"]
    static let kvHeadKeys = ["num_key_value_heads", "n_kv_heads"]
    static let expertKeys = ["num_local_experts", "num_experts", "n_routed_experts"]
    static let expertUsedKeys = ["num_experts_per_tok", "num_experts_per_token", "top_k_experts"]

    /// Head counts against each other and against the attention projections.
    ///
    /// transformers sizes the query projection `heads × head_dim` rows, `head_dim` defaulting to
    /// `hidden_size / heads` (integer division), and the key and value projections `kv_heads ×
    /// head_dim`; llama.cpp's loader derives the same head width from the GGUF and refuses a tensor of
    /// any other shape, and its grouped-query attention needs `heads` to be a multiple of `kv_heads`.
    /// An explicit `head_dim` that makes `heads × head_dim` differ from `hidden_size` is valid (Gemma,
    /// Qwen3, gpt-oss), so hidden_size itself is compared only through that default. Latent attention
    /// (DeepSeek's `kv_lora_rank`) and fused QKV projections have other shapes and are not compared.
    static func checkAttention(_ h: HyperParameters, stored: [StoredTensor], architecture: Architecture) throws(ConversionError) {
        guard let heads = try h.int(headKeys) else { return }
        let headKey = key(h, headKeys)
        let kvHeads = try h.int(kvHeadKeys) ?? heads
        let kvKey = h.find(kvHeadKeys).map { _ in key(h, kvHeadKeys) }
        if heads > 0, let kvKey {
            guard kvHeads > 0 else {
                throw .config(path: h.path, key: kvKey, message: "is 0, but \(headKey) is \(heads): every attention layer needs "
                    + "at least one key/value head")
            }
            guard heads % kvHeads == 0 else {
                throw .config(path: h.path, key: kvKey,
                              message: "is \(kvHeads), which does not divide \(headKey) (\(heads)): grouped-query attention "
                                  + "shares each key/value head among a whole number of query heads")
            }
        }
        if h.find(["kv_lora_rank"]).map({ !$0.isNull }) ?? false { return }

        // The projections to compare, by GGUF name: (suffix, heads they are sized by, the key naming them).
        let projections: [(suffix: String, count: Int, key: String)] = [
            (".attn_q.weight", heads, headKey), (".attn_k.weight", kvHeads, kvKey ?? headKey),
            (".attn_v.weight", kvHeads, kvKey ?? headKey),
        ]
        var headDim: (value: Int, origin: String)?
        // Queries first, so a wrong head count or width is reported against q_proj when it is wrong there.
        for projection in projections {
            for tensor in stored {
                guard let name = architecture.ggufTensorName(tensor.hfName), name.hasPrefix("blk."),
                      name.hasSuffix(projection.suffix), let rows = tensor.info.shape.first else { continue }
                if headDim == nil {
                    if let explicit = try h.int(["head_dim"]) {
                        headDim = (explicit, "head_dim \(explicit)")
                    } else {
                        guard heads > 0 else {
                            throw .config(path: h.path, key: headKey,
                                          message: "is 0, but the weights have attention projections ('\(tensor.info.name)')")
                        }
                        guard let hidden = try h.int(["hidden_size"]) else { return }
                        headDim = (hidden / heads, "head_dim \(hidden / heads) (hidden_size \(hidden) / \(heads) heads, "
                            + "as config.json gives no head_dim)")
                    }
                }
                guard let headDim else { return }
                // No overflow: either both factors are at most sizeLimit (checked above), or the head
                // count is at most `heads` and the width is hidden_size / heads.
                let expected = projection.count * headDim.value
                guard rows == expected else {
                    throw .config(path: h.path, key: projection.key,
                                  message: "is \(projection.count) with \(headDim.origin), which makes \(expected) rows, but "
                                      + "'\(tensor.info.name)' in \(lastComponent(tensor.file.path)) has \(rows), "
                                      + "so config.json does not describe these weights")
                }
            }
        }
    }

    /// Expert counts against each other and against the tensors sized by them: the router has one row
    /// per expert, and tensors stored already stacked (gpt-oss's `mlp.experts.gate_up_proj`) have one
    /// slice per expert. Per-expert tensors are counted where they are stacked (`ExpertStacks`).
    /// llama.cpp's loader refuses a model routing more experts per token than it has, or none.
    static func checkExperts(_ h: HyperParameters, stored: [StoredTensor], architecture: Architecture) throws(ConversionError) {
        guard let experts = try h.int(expertKeys), experts > 0 else { return }
        let expertKey = key(h, expertKeys)
        if let used = try h.int(expertUsedKeys) {
            guard used >= 1, used <= experts else {
                throw .config(path: h.path, key: key(h, expertUsedKeys),
                              message: "is \(used), but a token must be routed to 1...\(experts) experts (\(expertKey) is \(experts))")
            }
        }
        // Per-expert tensors whose indices disagree with the count: ExpertStacks names the expert
        // missing or extra, which says more than a router of the wrong height.
        if let highest = stored.compactMap({ ExpertStacks.expertName($0.hfName)?.1 }).max(), highest + 1 != experts {
            return
        }
        for tensor in stored {
            let isRouter = architecture.ggufTensorName(tensor.hfName).map {
                $0.hasPrefix("blk.") && ($0.hasSuffix(".ffn_gate_inp.weight") || $0.hasSuffix(".ffn_gate_inp.bias"))
            } ?? false
            let isStacked = tensor.hfName.contains(".experts.") && ExpertStacks.expertName(tensor.hfName) == nil
                && tensor.info.shape.count >= 2
            guard isRouter || isStacked, let first = tensor.info.shape.first, first != experts else { continue }
            throw .config(path: h.path, key: expertKey,
                          message: "is \(experts), but '\(tensor.info.name)' in \(lastComponent(tensor.file.path)) has \(first) "
                              + (isRouter ? "router rows" : "experts stacked")
                              + ", so config.json does not describe these weights")
        }
    }

    /// The first of `keys` config.json has, for messages.
    private static func key(_ h: HyperParameters, _ keys: [String]) -> String {
        keys.first { h[$0] != nil } ?? keys[0]
    }

    private static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
