import Dispatch
import Foundation

/// Causal multi-head attention over one chunk of tokens, with grouped-query heads.
///
/// `q` is `tokens × heads × d`, `k` is `tokens × kvHeads × d` and `v` `tokens × kvHeads × dv` (dv =
/// `valueDimension`, default d; the output is `tokens × heads × dv`), already rotated; query
/// head h reads kv head `h / (heads / kvHeads)`, as ggml broadcasts in `mul_mat`. Token i attends
/// to tokens 0...i (the chunk starts from an empty cache, as llama-perplexity evaluates it).
/// With a `window` w > 0, token i attends to tokens i-w+1...i only (llama.cpp's LLAMA_SWA_TYPE_STANDARD
/// masks key p0 for query p1 when p1 - p0 >= w). A `softcap` c > 0 (Gemma2) replaces each score s
/// by c·tanh(s/c) before the softmax, as llama.cpp's graph does (scale by 1/c, tanh, scale by c).
/// With a `batch` of several sequences, a token attends only to the earlier tokens of its own
/// sequences (see `TokenBatch`; a window then counts positions).
/// `sinks` (gpt-oss, one logit per query head) join each row's softmax as one more score that no
/// value goes with (ggml_soft_max_add_sinks): they raise the max and the sum.
/// The work items are (head, block of queries) — see `AttentionTile` — taken by threads from a
/// `WorkCounter`, the last blocks (the most keys) first; each item owns its output.
///
/// `roundsKVToHalf` (the model's `roundsActivationsLikeGGML`): llama.cpp stores K and V in an F16 KV
/// cache before attending, in both of its CPU attention paths (flash attention, llama-perplexity's and
/// llama-imatrix's default, reads them back as F16 and keeps Q, scores and the weighted sum in F32).
/// Rounding K and V the same way is a systematic part of its numerics: on SmolLM2 pad768 F16 it brings
/// quantd's imatrix closer to llama-imatrix's (32 chunks: p99 relative difference 2.8e-4 -> 2.5e-4,
/// sums beyond 1e-3 9 -> 4; see docs/correctness.md on the importance matrix).
enum Attention {
    static func causal(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, tokens: Int, heads: Int,
        kvHeads: Int, headDimension d: Int, valueDimension: Int? = nil, scale: Float, window: Int = 0,
        softcap: Float = 0, sinks: [Float]? = nil, roundsKVToHalf: Bool = true, batch: TokenBatch? = nil,
        into out: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let dv = valueDimension ?? d
        let blockSize = AttentionTile.queries
        let blocks = (tokens + blockSize - 1) / blockSize
        let items = heads * blocks
        let group = heads / kvHeads
        // The F16 KV cache, held as the F32 values it decodes to (the loops below stay F32).
        let kCount = tokens * kvHeads * d, vCount = tokens * kvHeads * dv
        let cache = UnsafeMutablePointer<Float>.allocate(capacity: roundsKVToHalf ? kCount + vCount : 0)
        defer { cache.deallocate() }
        if roundsKVToHalf {
            ActivationRounding.half.apply(k, count: kCount, rowLength: d, into: cache)
            ActivationRounding.half.apply(v, count: vCount, rowLength: dv, into: cache + kCount)
        }
        let job = roundsKVToHalf
            ? Buffers(q: q, k: cache, v: cache + kCount, out: out) : Buffers(q: q, k: k, v: v, out: out)
        let workers = max(1, min(threads, items))
        let counter = WorkCounter(count: items)
        let run: @Sendable (Int) -> Void = { _ in
            let scratch = AttentionTile.Scratch(tokens: tokens, headDimension: d)
            defer { scratch.deallocate() }
            while let item = counter.take() {
                let h = item % heads, block = blocks - 1 - item / heads
                let i0 = block * blockSize
                AttentionTile.block(
                    q: job.q, k: job.k, v: job.v, heads: heads, kvHeads: kvHeads, headDimension: d,
                    valueDimension: dv, head: h,
                    kvHead: h / group, firstQuery: i0, count: min(tokens, i0 + blockSize) - i0, scale: scale,
                    window: window, softcap: softcap, sink: sinks?[h] ?? -.infinity, batch: batch, scratch: scratch,
                    into: job.out)
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
    }
}

private struct Buffers: @unchecked Sendable {
    let q: UnsafePointer<Float>
    let k: UnsafePointer<Float>
    let v: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
}
