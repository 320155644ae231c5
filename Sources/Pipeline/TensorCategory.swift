/// The broad role of a tensor, from its name, as llama-quantize classifies it
/// (`tensor_get_category`): the mix rules act on these, not on per-architecture names.
///
/// Names are matched as bytes, as llama.cpp's `std::string::find` does: Swift's `String`
/// comparisons follow Unicode canonical equivalence and could disagree on unusual names.
public enum TensorCategory: String, Sendable {
    case output, tokenEmbedding, attentionQKV, attentionKVB, attentionV, attentionK, attentionQ
    case attentionOutput, ffnUp, ffnGate, ffnDown, other

    public init(tensorName name: String) {
        let bytes = Array(name.utf8)
        if bytes.elementsEqual("output.weight".utf8) { self = .output }
        else if TensorName.isTokenEmbedding(bytes) { self = .tokenEmbedding }
        else if TensorName.contains(bytes, "attn_qkv.weight") { self = .attentionQKV }
        else if TensorName.contains(bytes, "attn_kv_b.weight") { self = .attentionKVB }
        else if TensorName.contains(bytes, "attn_v.weight") { self = .attentionV }
        else if TensorName.contains(bytes, "attn_k.weight") { self = .attentionK }
        else if TensorName.contains(bytes, "attn_q.weight") { self = .attentionQ }
        else if TensorName.contains(bytes, "attn_output.weight") { self = .attentionOutput }
        // Expert (`_exps`) and shared-expert (`_shexp`) tensors fall in the same categories, and
        // a fused `ffn_gate_up` counts as a gate.
        else if TensorName.contains(bytes, "ffn_up") { self = .ffnUp }
        else if TensorName.contains(bytes, "ffn_gate") { self = .ffnGate }
        else if TensorName.contains(bytes, "ffn_down") { self = .ffnDown }
        else { self = .other }
    }

    /// attn_v-like tensors, which the mixes give more bits (`category_is_attn_v`). A fused
    /// attn_qkv is one of them, so llama.cpp's separate attn_qkv rule never applies.
    var isAttentionV: Bool { self == .attentionV || self == .attentionQKV || self == .attentionKVB }
}

/// Byte-wise name tests shared by the planner's rules.
enum TensorName {
    static func contains(_ name: [UInt8], _ needle: StaticString) -> Bool {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard pattern.count <= name.count else { return false }
        if pattern.isEmpty { return true }
        var start = 0
        while start + pattern.count <= name.count {
            if name[start] == pattern[0] {
                var offset = 1
                while offset < pattern.count && name[start + offset] == pattern[offset] { offset += 1 }
                if offset == pattern.count { return true }
            }
            start += 1
        }
        return false
    }

    static func equals(_ name: [UInt8], _ other: StaticString) -> Bool {
        name.elementsEqual(UnsafeBufferPointer(start: other.utf8Start, count: other.utf8CodeUnitCount))
    }

    static func isTokenEmbedding(_ name: [UInt8]) -> Bool {
        equals(name, "token_embd.weight") || equals(name, "per_layer_token_embd.weight")
    }

    /// The layer number of a `blk.N.` name as C's `sscanf(name, "blk.%d.", &n)` reads it:
    /// whitespace and a sign may precede the digits. nil when there are no digits or the number
    /// does not fit an `int` (where sscanf's result is undefined).
    static func blockNumber(_ name: [UInt8]) -> Int? {
        let prefix: [UInt8] = Array("blk.".utf8)
        guard name.count > prefix.count, name.starts(with: prefix) else { return nil }
        var i = prefix.count
        while i < name.count, [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains(name[i]) { i += 1 }
        var negative = false
        if i < name.count, name[i] == UInt8(ascii: "-") || name[i] == UInt8(ascii: "+") {
            negative = name[i] == UInt8(ascii: "-")
            i += 1
        }
        var value = 0
        var digits = 0
        while i < name.count, name[i] >= 0x30, name[i] <= 0x39 {
            value = value * 10 + Int(name[i] - 0x30)
            digits += 1
            if value > Int(Int32.max) + 1 { return nil }
            i += 1
        }
        guard digits > 0 else { return nil }
        let result = negative ? -value : value
        return result > Int(Int32.max) ? nil : result
    }
}
