/// The broad role of a tensor, from its name, as llama-quantize classifies it
/// (`tensor_get_category`): the mix rules act on these, not on per-architecture names.
public enum TensorCategory: String, Sendable {
    case output, tokenEmbedding, attentionQKV, attentionKVB, attentionV, attentionK, attentionQ
    case attentionOutput, ffnUp, ffnGate, ffnDown, other

    public init(tensorName name: String) {
        if name == "output.weight" { self = .output }
        else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" { self = .tokenEmbedding }
        else if name.contains("attn_qkv.weight") { self = .attentionQKV }
        else if name.contains("attn_kv_b.weight") { self = .attentionKVB }
        else if name.contains("attn_v.weight") { self = .attentionV }
        else if name.contains("attn_k.weight") { self = .attentionK }
        else if name.contains("attn_q.weight") { self = .attentionQ }
        else if name.contains("attn_output.weight") { self = .attentionOutput }
        else if name.contains("ffn_up") { self = .ffnUp }
        else if name.contains("ffn_gate") { self = .ffnGate }
        else if name.contains("ffn_down") { self = .ffnDown }
        else { self = .other }
    }

    /// attn_v-like tensors, which the mixes give more bits (`category_is_attn_v`).
    var isAttentionV: Bool { self == .attentionV || self == .attentionQKV || self == .attentionKVB }
}
