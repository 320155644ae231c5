import Foundation

/// One work item of `Attention.causal`: a block of queries of one head against every key they may
/// see, as two matmuls through `MatMul`'s outer-product register tile and a softmax between them.
///
/// Scores `S[i][j] = Σ_c Q[i][c] · K[j][c]`: the keys, `MatMul.panelRows` at a time (32 with AVX-512,
/// 16 otherwise), transposed into a matmul panel, the block's queries as the matmul's tokens — one
/// lane per key, no horizontal sums. The softmax runs along each query's row of scores (a vector
/// exp, per-lane Double sums, one horizontal reduction per row), leaving probabilities `P[i][j]`,
/// zero outside the query's visible keys. The output `O[i][c] = Σ_j P[i][j] · V[j][c]` is a second
/// matmul: the queries as tokens again, the values, `panelRows` columns at a time, as the panel (a
/// value row is already a panel row). Queries, keys and values are first copied into contiguous
/// scratch (a small fraction of the multiply-adds they feed). Every score and output is one lane's
/// sum in a fixed order (over c; over j from the block's first key, masked keys adding exact zeros),
/// so the output does not depend on the thread count.
enum AttentionTile {
    typealias Lane = MatMul.Lane
    #if INFERENCE_AVX512
    typealias IntLane = SIMD16<Int32>
    typealias DoubleHalf = SIMD8<Double>
    #else
    typealias IntLane = SIMD8<Int32>
    typealias DoubleHalf = SIMD4<Double>
    #endif
    static let width = Lane.scalarCount
    /// Queries per block (and keys per score panel, values' columns per output panel).
    static let queries = MatMul.panelRows

    /// A worker's buffers, sized for the longest key range (`tokens`).
    struct Scratch {
        let queryRows: UnsafeMutablePointer<Float>   // queries × d
        let keys: UnsafeMutablePointer<Float>        // tokens × d
        let keyPanel: UnsafeMutablePointer<Float>    // d × queries
        let scores: UnsafeMutablePointer<Float>      // queries × tokens
        let valuePanel: UnsafeMutablePointer<Float>  // tokens × queries
        let partial: UnsafeMutablePointer<Float>     // queries × MatMul.tileTokens
        let visible: UnsafeMutablePointer<Float>     // tokens: one query's visible scores, gathered

        init(tokens: Int, headDimension d: Int) {
            func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
                UnsafeMutableRawPointer.allocate(byteCount: max(1, n) * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
            }
            let b = AttentionTile.queries
            queryRows = floats(b * d); keys = floats(tokens * d); keyPanel = floats(d * b)
            scores = floats(b * tokens); valuePanel = floats(tokens * b); partial = floats(b * MatMul.tileTokens)
            visible = floats(tokens)
        }

        func deallocate() {
            for p in [queryRows, keys, keyPanel, scores, valuePanel, partial, visible] { p.deallocate() }
        }
    }

    /// Output rows of queries `i0 ..< i0 + count` of head `h` (kv head `kvh`). Values are `dv` wide
    /// (default `d`, the width of queries and keys); the output is `tokens × heads × dv`.
    ///
    /// With a `batch`, a query sees only its own sequences' tokens (`TokenBatch`), the window counted
    /// in positions. Its visible scores are gathered into one contiguous row for the softmax, so the
    /// softmax sums them in the lanes and order of a pass over its sequence alone, and scattered back
    /// with zeros between them; the weighted sum of values then adds the same terms in the same order
    /// plus exact zeros. A sequence's rows come out bit for bit as when it runs alone.
    @inline(__always)
    static func block(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, heads: Int, kvHeads: Int,
        headDimension d: Int, valueDimension dv: Int? = nil, head h: Int, kvHead kvh: Int, firstQuery i0: Int,
        count nq: Int, scale: Float, window: Int, softcap: Float = 0, sink: Float = -.infinity,
        batch: TokenBatch? = nil, scratch: Scratch, into out: UnsafeMutablePointer<Float>
    ) {
        let b = queries
        let dv = dv ?? d
        let first: Int
        if let batch {
            var earliest = i0
            for i in i0..<(i0 + nq) { earliest = min(earliest, batch.firstVisible(i)) }
            first = earliest
        } else {
            first = window > 0 ? max(0, i0 - window + 1) : 0
        }
        let n = i0 + nq - first
        let qStride = heads * d, kvStride = kvHeads * d, vStride = kvHeads * dv, outStride = heads * dv
        let qc = scratch.queryRows, kc = scratch.keys, st = scratch.scores
        for i in 0..<nq { (qc + i * d).update(from: q + (i0 + i) * qStride + h * d, count: d) }
        for j in 0..<n { (kc + j * d).update(from: k + (first + j) * kvStride + kvh * d, count: d) }
        var j0 = 0
        while j0 < n {
            let count = min(b, n - j0)
            MatMul.transpose(kc + j0 * d, rows: count, columns: d, into: scratch.keyPanel)
            MatMul.multiplyPanel(qc, tokens: nq, columns: d, panel: scratch.keyPanel, rowCount: count, into: st + j0,
                                 ldy: n, partial: scratch.partial)
            j0 += b
        }
        if let batch {
            for i in 0..<nq {
                maskedSoftmax(st + i * n, keys: n, firstKey: first, query: i0 + i, batch: batch, window: window,
                              scale: scale, softcap: softcap, sink: sink, gathered: scratch.visible)
            }
        } else {
            for i in 0..<nq {
                let query = i0 + i
                let visible = (window > 0 ? max(0, query - window + 1) : 0) - first
                if softcap > 0 {
                    let row = st + i * n, inverse = 1 / softcap
                    for j in visible...(query - first) { row[j] = tanhf(row[j] * inverse) * softcap }
                }
                softmax(st + i * n, keys: n, visible: visible...(query - first), scale: scale, sink: sink)
            }
        }
        let vp = scratch.valuePanel
        var c0 = 0
        while c0 < dv {
            let count = min(b, dv - c0)
            if count < b { vp.update(repeating: 0, count: n * b) }
            for j in 0..<n { (vp + j * b).update(from: v + (first + j) * vStride + kvh * dv + c0, count: count) }
            MatMul.multiplyPanel(st, tokens: nq, columns: n, panel: vp, rowCount: count,
                                 into: out + (i0 * heads + h) * dv + c0, ldy: outStride, partial: scratch.partial)
            c0 += b
        }
    }

    /// The softmax of one query's row of scores (keys `firstKey ..< firstKey + n`) over the keys it
    /// sees in `batch`: those gathered in order, soft-capped, `softmax`ed as one contiguous row and put
    /// back, every other key 0.
    static func maskedSoftmax(
        _ row: UnsafeMutablePointer<Float>, keys n: Int, firstKey: Int, query: Int, batch: TokenBatch, window: Int,
        scale: Float, softcap: Float, sink: Float, gathered: UnsafeMutablePointer<Float>
    ) {
        var count = 0
        forEachVisibleKey(of: query, in: batch, window: window) { key in
            gathered[count] = row[key - firstKey]
            count += 1
        }
        if softcap > 0 {
            let inverse = 1 / softcap
            for j in 0..<count { gathered[j] = tanhf(gathered[j] * inverse) * softcap }
        }
        softmax(gathered, keys: count, visible: 0...(count - 1), scale: scale, sink: sink)
        row.update(repeating: 0, count: n)
        count = 0
        forEachVisibleKey(of: query, in: batch, window: window) { key in
            row[key - firstKey] = gathered[count]
            count += 1
        }
    }

    /// The batch indices of the keys `query` attends to, in order: its history (`TokenBatch`), of
    /// which a window keeps the last `window` positions (the k-th key of a history is at position k).
    @inline(__always)
    static func forEachVisibleKey(of query: Int, in batch: TokenBatch, window: Int, _ body: (Int) -> Void) {
        let lowest = window > 0 ? batch.positions[query] - window + 1 : 0
        var position = 0
        var r = batch.historyRunStart[query]
        let end = batch.historyRunStart[query + 1]
        while r < end {
            let lower = batch.historyRuns[r], upper = batch.historyRuns[r + 1]
            let skip = min(upper - lower, max(0, lowest - position))
            for key in (lower + skip)..<upper { body(key) }
            position += upper - lower
            r += 2
        }
    }

    /// ggml_soft_max over one query's row of `n` scores, in place: the `visible` ones times `scale`,
    /// exp(x - max) summed in Double, scaled by 1/sum; the others (masked) become 0. A finite `sink`
    /// counts in the max and adds e^(sink - max) to the sum.
    @inline(__always)
    static func softmax(
        _ row: UnsafeMutablePointer<Float>, keys n: Int, visible: ClosedRange<Int>, scale: Float, sink: Float = -.infinity
    ) {
        let raw = UnsafeMutableRawPointer(row)
        let lo = visible.lowerBound, hi = visible.upperBound + 1
        let vectorEnd = lo + (hi - lo) / width * width
        var mxv = Lane(repeating: -.infinity)
        var j = lo
        while j < vectorEnd {
            let x = raw.loadUnaligned(fromByteOffset: j * 4, as: Lane.self) * scale
            raw.storeBytes(of: x, toByteOffset: j * 4, as: Lane.self)
            mxv.replace(with: x, where: x .> mxv)
            j += width
        }
        var mx = largest(mxv)
        // The last partial vector goes through a register padded with -inf (exp gives 0 there).
        var tail = Lane(repeating: -.infinity)
        for t in vectorEnd..<hi {
            tail[t - vectorEnd] = row[t] * scale
            mx = max(mx, tail[t - vectorEnd])
        }
        if sink.isFinite { mx = max(mx, sink) }
        let m = Lane(repeating: mx)
        var sumLow = DoubleHalf(), sumHigh = DoubleHalf()
        j = lo
        while j < vectorEnd {
            let e = exp(raw.loadUnaligned(fromByteOffset: j * 4, as: Lane.self) - m)
            raw.storeBytes(of: e, toByteOffset: j * 4, as: Lane.self)
            sumLow += DoubleHalf(e.lowHalf)
            sumHigh += DoubleHalf(e.highHalf)
            j += width
        }
        let tailExp = exp(tail - m)
        sumLow += DoubleHalf(tailExp.lowHalf)
        sumHigh += DoubleHalf(tailExp.highHalf)
        var total = (sumLow + sumHigh).sum()
        if sink.isFinite { total += Double(expf(sink - mx)) }
        let inv = Float(1 / total)
        row.update(repeating: 0, count: lo)
        j = lo
        while j < vectorEnd {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: j * 4, as: Lane.self) * inv, toByteOffset: j * 4, as: Lane.self)
            j += width
        }
        for t in vectorEnd..<hi { row[t] = tailExp[t - vectorEnd] * inv }
        (row + hi).update(repeating: 0, count: n - hi)
    }

    /// e^x per lane for x ≤ 0 (softmax's x − max; a large positive x would overflow the exponent
    /// bits), Cephes' expf method: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, so r is exact
    /// enough), e^r by a degree-7 polynomial, 2^n put in the exponent bits. Within 1.0 ulp of e^x on
    /// [-87, 0] (checked against Double exp on every 7th float; expf: 0.5). Below -87, where the
    /// result leaves the normal range (and -inf for masked keys), it gives 0.
    @inline(__always)
    static func exp(_ x: Lane) -> Lane {
        let low = x .< -87
        let xc = x.replacing(with: -87, where: low)
        // n = round(x / ln 2) by adding 1.5·2^23: the sum's low mantissa bits are then n itself
        // (a generic Float → Int32 vector conversion is a per-lane library call).
        let magic = Lane(repeating: 12582912)
        var shifted = magic
        MatMul.madd(&shifted, xc, Lane(repeating: 1.44269504088896341))
        let n = shifted - magic
        var r = xc
        MatMul.madd(&r, n, Lane(repeating: -0.693359375))
        MatMul.madd(&r, n, Lane(repeating: 2.12194440e-4))
        var poly = Lane(repeating: 1.9875691500e-4)
        poly = fused(poly, r, 1.3981999507e-3)
        poly = fused(poly, r, 8.3334519073e-3)
        poly = fused(poly, r, 4.1665795894e-2)
        poly = fused(poly, r, 1.6666665459e-1)
        poly = fused(poly, r, 5.0000001201e-1)
        var y = r
        MatMul.madd(&y, poly, r * r)
        y += 1
        let bits = (unsafeBitCast(shifted, to: IntLane.self) &- (0x4B40_0000 - 127)) &<< 23
        let result = y * unsafeBitCast(bits, to: Lane.self)
        return result.replacing(with: 0, where: low)
    }

    /// The largest lane, by halving (the standard library's `max()` and `pointwiseMax`, which order
    /// NaNs as IEEE maximum does, compile to a scalar loop per lane).
    @inline(__always)
    static func largest(_ v: SIMD16<Float>) -> Float {
        let (a, b) = (v.lowHalf, v.highHalf)
        return largest(a.replacing(with: b, where: b .> a))
    }

    @inline(__always)
    static func largest(_ v: SIMD8<Float>) -> Float {
        let (a, b) = (v.lowHalf, v.highHalf), m = a.replacing(with: b, where: b .> a)
        return Swift.max(Swift.max(m[0], m[1]), Swift.max(m[2], m[3]))
    }

    /// a · b + c.
    @inline(__always)
    private static func fused(_ a: Lane, _ b: Lane, _ c: Float) -> Lane {
        var acc = Lane(repeating: c)
        MatMul.madd(&acc, a, b)
        return acc
    }
}
