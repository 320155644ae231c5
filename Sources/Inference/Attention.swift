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
///
/// `roundsKVToHalf` (the model's `roundsActivationsLikeGGML`): llama.cpp stores K and V in an F16 KV
/// cache before attending, in both of its CPU attention paths (flash attention, llama-perplexity's and
/// llama-imatrix's default, reads them back as F16 and keeps Q, scores and the weighted sum in F32).
/// Rounding K and V the same way is a systematic part of its numerics: on SmolLM2 pad768 F16 it brings
/// quantd's imatrix closer to llama-imatrix's (32 chunks: p99 relative difference 2.8e-4 -> 2.5e-4,
/// sums beyond 1e-3 9 -> 4; see README, "Agreement with llama-imatrix").
enum Attention {
    static let queryBlock = 32

    static func causal(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, tokens: Int, heads: Int,
        kvHeads: Int, headDimension d: Int, scale: Float, window: Int = 0, roundsKVToHalf: Bool = true,
        into out: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let blocks = (tokens + queryBlock - 1) / queryBlock
        let items = heads * blocks
        let group = heads / kvHeads
        // The F16 KV cache, held as the F32 values it decodes to (the loops below stay F32).
        let kvCount = tokens * kvHeads * d
        let cache = UnsafeMutablePointer<Float>.allocate(capacity: roundsKVToHalf ? 2 * kvCount : 0)
        defer { cache.deallocate() }
        if roundsKVToHalf {
            ActivationRounding.half.apply(k, count: kvCount, rowLength: d, into: cache)
            ActivationRounding.half.apply(v, count: kvCount, rowLength: d, into: cache + kvCount)
        }
        let job = roundsKVToHalf
            ? Buffers(q: q, k: cache, v: cache + kvCount, out: out) : Buffers(q: q, k: k, v: v, out: out)
        let workers = max(1, min(threads, items))
        let counter = WorkCounter(count: items)
        let run: @Sendable (Int) -> Void = { _ in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: tokens)
            defer { scores.deallocate() }
            while let item = counter.take() {
                let h = item % heads, block = item / heads
                let kvh = h / group
                let i0 = block * queryBlock, i1 = min(tokens, i0 + queryBlock)
                for i in i0..<i1 {
                    let qi = job.q + (i * heads + h) * d
                    let first = window > 0 ? max(0, i - window + 1) : 0
                    let kh = job.k + kvh * d, vh = job.v + kvh * d, stride = kvHeads * d
                    var maxScore = -Float.infinity
                    var j = first
                    // Four keys at a time: four independent accumulator chains instead of one.
                    while j + 3 <= i {
                        let s = dot4(qi, kh + j * stride, stride: stride, count: d) * scale
                        scores[j] = s[0]; scores[j + 1] = s[1]; scores[j + 2] = s[2]; scores[j + 3] = s[3]
                        maxScore = max(maxScore, s.max())
                        j += 4
                    }
                    while j <= i {
                        let s = MatMul.dot(qi, kh + j * stride, count: d) * scale
                        scores[j] = s
                        maxScore = max(maxScore, s)
                        j += 1
                    }
                    // ggml_soft_max: exp(x - max), summed in double, then scaled by 1/sum.
                    var sum = 0.0
                    for j in first...i {
                        let e = expf(scores[j] - maxScore)
                        scores[j] = e
                        sum += Double(e)
                    }
                    let inv = Float(1 / sum)
                    for j in first...i { scores[j] *= inv }
                    weightedSum(scores, range: first...i, values: vh, stride: stride, count: d,
                                into: job.out + (i * heads + h) * d)
                }
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
    }
}

/// Dot products of `q` with four keys `stride` floats apart.
@inline(__always)
private func dot4(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, stride: Int, count n: Int) -> SIMD4<Float> {
    typealias V = SIMD8<Float>
    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
    let pq = UnsafeRawPointer(q), p0 = UnsafeRawPointer(k), p1 = UnsafeRawPointer(k + stride)
    let p2 = UnsafeRawPointer(k + 2 * stride), p3 = UnsafeRawPointer(k + 3 * stride)
    let n8 = n & ~7
    var c = 0
    while c < n8 {
        let o = c * 4
        let qv = pq.loadUnaligned(fromByteOffset: o, as: V.self)
        MatMul.madd(&a0, qv, p0.loadUnaligned(fromByteOffset: o, as: V.self))
        MatMul.madd(&a1, qv, p1.loadUnaligned(fromByteOffset: o, as: V.self))
        MatMul.madd(&a2, qv, p2.loadUnaligned(fromByteOffset: o, as: V.self))
        MatMul.madd(&a3, qv, p3.loadUnaligned(fromByteOffset: o, as: V.self))
        c += 8
    }
    var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    while c < n {
        s += SIMD4(k[c], k[stride + c], k[2 * stride + c], k[3 * stride + c]) * q[c]
        c += 1
    }
    return s
}

/// `out = Σ_j p[j] · v_j` over `range`, value rows `stride` floats apart. The output is built 32
/// values at a time in registers (four 8-lane accumulators), so each key costs loads and fused
/// multiply-adds only, no stores.
@inline(__always)
private func weightedSum(
    _ p: UnsafePointer<Float>, range: ClosedRange<Int>, values v: UnsafePointer<Float>, stride: Int, count n: Int,
    into out: UnsafeMutablePointer<Float>
) {
    typealias V = SIMD8<Float>
    let raw = UnsafeRawPointer(v)
    var c = 0
    while c + 32 <= n {
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        for j in range {
            let pj = V(repeating: p[j]), o = (j * stride + c) * 4
            MatMul.madd(&a0, pj, raw.loadUnaligned(fromByteOffset: o, as: V.self))
            MatMul.madd(&a1, pj, raw.loadUnaligned(fromByteOffset: o + 32, as: V.self))
            MatMul.madd(&a2, pj, raw.loadUnaligned(fromByteOffset: o + 64, as: V.self))
            MatMul.madd(&a3, pj, raw.loadUnaligned(fromByteOffset: o + 96, as: V.self))
        }
        let po = UnsafeMutableRawPointer(out + c)
        po.storeBytes(of: a0, as: V.self); po.storeBytes(of: a1, toByteOffset: 32, as: V.self)
        po.storeBytes(of: a2, toByteOffset: 64, as: V.self); po.storeBytes(of: a3, toByteOffset: 96, as: V.self)
        c += 32
    }
    while c + 8 <= n {
        var a = V()
        for j in range { MatMul.madd(&a, V(repeating: p[j]), raw.loadUnaligned(fromByteOffset: (j * stride + c) * 4, as: V.self)) }
        UnsafeMutableRawPointer(out + c).storeBytes(of: a, as: V.self)
        c += 8
    }
    while c < n {
        var a: Float = 0
        for j in range { a += p[j] * v[j * stride + c] }
        out[c] = a
        c += 1
    }
}

private struct Buffers: @unchecked Sendable {
    let q: UnsafePointer<Float>
    let k: UnsafePointer<Float>
    let v: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
}
