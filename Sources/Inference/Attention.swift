import Dispatch
import Foundation

/// Causal multi-head attention over one chunk of tokens, with grouped-query heads.
///
/// `q` is `tokens × heads × d`, `k` and `v` are `tokens × kvHeads × d` (already rotated); query
/// head h reads kv head `h / (heads / kvHeads)`, as ggml broadcasts in `mul_mat`. Token i attends
/// to tokens 0...i (the chunk starts from an empty cache, as llama-perplexity evaluates it).
/// With a `window` w > 0, token i attends to tokens i-w+1...i only (llama.cpp's LLAMA_SWA_TYPE_STANDARD
/// masks key p0 for query p1 when p1 - p0 >= w).
/// The work items are (head, block of queries) — see `AttentionTile` — taken by threads from a
/// `WorkCounter`, the last blocks (the most keys) first; each item owns its output.
enum Attention {
    static func causal(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, tokens: Int, heads: Int,
        kvHeads: Int, headDimension d: Int, scale: Float, window: Int = 0, into out: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let job = Buffers(q: q, k: k, v: v, out: out)
        let blockSize = AttentionTile.queries
        let blocks = (tokens + blockSize - 1) / blockSize
        let items = heads * blocks
        let group = heads / kvHeads
        let workers = max(1, min(threads, items))
        let counter = WorkCounter(count: items)
        let run: @Sendable (Int) -> Void = { _ in
            let scratch = AttentionTile.Scratch(tokens: tokens, headDimension: d)
            defer { scratch.deallocate() }
            while let item = counter.take() {
                let h = item % heads, block = blocks - 1 - item / heads
                let i0 = block * blockSize
                AttentionTile.block(
                    q: job.q, k: job.k, v: job.v, heads: heads, kvHeads: kvHeads, headDimension: d, head: h,
                    kvHead: h / group, firstQuery: i0, count: min(tokens, i0 + blockSize) - i0, scale: scale,
                    window: window, scratch: scratch, into: job.out)
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
