import Dispatch
import Foundation

/// Causal multi-head attention over one chunk of tokens, with grouped-query heads.
///
/// `q` is `tokens × heads × d`, `k` and `v` are `tokens × kvHeads × d` (already rotated); query
/// head h reads kv head `h / (heads / kvHeads)`, as ggml broadcasts in `mul_mat`. Token i attends
/// to tokens 0...i (the chunk starts from an empty cache, as llama-perplexity evaluates it).
/// With a `window` w > 0, token i attends to tokens i-w+1...i only (llama.cpp's LLAMA_SWA_TYPE_STANDARD
/// masks key p0 for query p1 when p1 - p0 >= w).
/// The work items are (head, block of queries), taken by threads from a `WorkCounter`; each item
/// owns its output.
enum Attention {
    static let queryBlock = 32

    static func causal(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, tokens: Int, heads: Int,
        kvHeads: Int, headDimension d: Int, scale: Float, window: Int = 0, into out: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let blocks = (tokens + queryBlock - 1) / queryBlock
        let items = heads * blocks
        let group = heads / kvHeads
        let job = Buffers(q: q, k: k, v: v, out: out)
        let workers = max(1, min(threads, items))
        let counter = WorkCounter(count: items)
        let run: @Sendable (Int) -> Void = { _ in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: tokens)
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: d)
            defer { scores.deallocate(); acc.deallocate() }
            while let item = counter.take() {
                let h = item % heads, block = item / heads
                let kvh = h / group
                let i0 = block * queryBlock, i1 = min(tokens, i0 + queryBlock)
                for i in i0..<i1 {
                    let qi = job.q + (i * heads + h) * d
                    let first = window > 0 ? max(0, i - window + 1) : 0
                    var maxScore = -Float.infinity
                    for j in first...i {
                        let s = MatMul.dot(qi, job.k + (j * kvHeads + kvh) * d, count: d) * scale
                        scores[j] = s
                        maxScore = max(maxScore, s)
                    }
                    // ggml_soft_max: exp(x - max), summed in double, then scaled by 1/sum.
                    var sum = 0.0
                    for j in first...i {
                        let e = expf(scores[j] - maxScore)
                        scores[j] = e
                        sum += Double(e)
                    }
                    let inv = Float(1 / sum)
                    acc.update(repeating: 0, count: d)
                    for j in first...i {
                        axpy(scores[j] * inv, job.v + (j * kvHeads + kvh) * d, acc, count: d)
                    }
                    (job.out + (i * heads + h) * d).update(from: acc, count: d)
                }
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
    }
}

/// `y += a * x` over `n` values, 8 lanes at a time.
@inline(__always)
private func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    let n8 = n & ~7
    let av = SIMD8<Float>(repeating: a)
    var c = 0
    while c < n8 {
        let xv = UnsafeRawPointer(x + c).loadUnaligned(as: SIMD8<Float>.self)
        var yv = UnsafeRawPointer(y + c).loadUnaligned(as: SIMD8<Float>.self)
        MatMul.madd(&yv, av, xv)
        UnsafeMutableRawPointer(y + c).storeBytes(of: yv, as: SIMD8<Float>.self)
        c += 8
    }
    while c < n { y[c] += a * x[c]; c += 1 }
}

private struct Buffers: @unchecked Sendable {
    let q: UnsafePointer<Float>
    let k: UnsafePointer<Float>
    let v: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
}
