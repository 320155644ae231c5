import Testing

@testable import Inference

/// llama.cpp attends over an F16 KV cache; `roundsKVToHalf` must round exactly K and V (not Q) to
/// F16 as ggml does (round to nearest even) and change nothing else.
@Suite struct AttentionTests {
    static let tokens = 40, heads = 4, kvHeads = 2, d = 16

    /// Deterministic values spread over several binades, so F16 rounding changes most of them.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 250_000
        }
    }

    static func attend(q: [Float], k: [Float], v: [Float], roundsKVToHalf: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: tokens * heads * d)
        out.withUnsafeMutableBufferPointer { o in
            Attention.causal(q: q, k: k, v: v, tokens: tokens, heads: heads, kvHeads: kvHeads, headDimension: d,
                             scale: 0.25, roundsKVToHalf: roundsKVToHalf, into: o.baseAddress!, threads: 2)
        }
        return out
    }

    @Test func roundsKeysAndValuesToHalfAndNothingElse() {
        let q = Self.values(Self.tokens * Self.heads * Self.d, seed: 1)
        let k = Self.values(Self.tokens * Self.kvHeads * Self.d, seed: 2)
        let v = Self.values(Self.tokens * Self.kvHeads * Self.d, seed: 3)
        let half = { (x: [Float]) in x.map { Float(Float16($0)) } }
        let cached = Self.attend(q: q, k: k, v: v, roundsKVToHalf: true)
        #expect(cached == Self.attend(q: q, k: half(k), v: half(v), roundsKVToHalf: false))
        #expect(cached != Self.attend(q: q, k: k, v: v, roundsKVToHalf: false))
        #expect(cached != Self.attend(q: half(q), k: half(k), v: half(v), roundsKVToHalf: false))
    }
}
