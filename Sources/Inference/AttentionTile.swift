/// One work item of `Attention.causal`: a block of queries of one head against every key they may
/// see, as three outer-product passes through `MatMul`'s register tile.
///
/// The block is `MatMul.panelRows` queries (32 with AVX-512, 16 otherwise), so the queries,
/// transposed, are one matmul panel: scores `S[j][i] = Σ_c K[j][c] · Q[i][c]` come from
/// `MatMul.multiplyPanel` with the keys as its tokens, one lane per query — no horizontal sums.
/// The softmax then runs down those lanes (a vector max, a vector exp, per-lane sums in Double),
/// and writes the probabilities transposed, a row per query; the output `O[i][c] = Σ_j P[i][j] · V[j][c]`
/// is a second matmul with the queries as tokens and the values, a panel of `panelRows` columns at a
/// time, as the panel. Keys and values are copied into contiguous panels first (1/32 of the
/// multiply-adds they feed). Every score and output is one lane's sum in a fixed order (over c, over
/// j from the block's first key), so the output does not depend on the thread count; masked keys
/// contribute exact zeros.
enum AttentionTile {
    typealias Lane = MatMul.Lane
    #if INFERENCE_AVX512
    typealias IntLane = SIMD16<Int32>
    typealias DoubleHalf = SIMD8<Double>
    typealias FloatHalf = SIMD8<Float>
    #else
    typealias IntLane = SIMD8<Int32>
    typealias DoubleHalf = SIMD4<Double>
    typealias FloatHalf = SIMD4<Float>
    #endif
    static let width = Lane.scalarCount
    /// Queries per block: one matmul panel.
    static let queries = MatMul.panelRows

    /// A worker's buffers, sized for the longest key range (`tokens`).
    struct Scratch {
        let queryPanel: UnsafeMutablePointer<Float>  // d × queries
        let keys: UnsafeMutablePointer<Float>        // tokens × d
        let scores: UnsafeMutablePointer<Float>      // tokens × queries
        let probabilities: UnsafeMutablePointer<Float>  // queries × tokens
        let valuePanel: UnsafeMutablePointer<Float>  // tokens × queries
        let partial: UnsafeMutablePointer<Float>     // queries × MatMul.tileTokens

        init(tokens: Int, headDimension d: Int) {
            func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
                UnsafeMutableRawPointer.allocate(byteCount: max(1, n) * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
            }
            let b = AttentionTile.queries
            queryPanel = floats(d * b); keys = floats(tokens * d); scores = floats(tokens * b)
            probabilities = floats(b * tokens); valuePanel = floats(tokens * b); partial = floats(b * MatMul.tileTokens)
        }

        func deallocate() {
            for p in [queryPanel, keys, scores, probabilities, valuePanel, partial] { p.deallocate() }
        }
    }

    /// Output rows of queries `i0 ..< i0 + count` of head `h` (kv head `kvh`).
    @inline(__always)
    static func block(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, heads: Int, kvHeads: Int,
        headDimension d: Int, head h: Int, kvHead kvh: Int, firstQuery i0: Int, count nq: Int, scale: Float,
        window: Int, scratch: Scratch, into out: UnsafeMutablePointer<Float>
    ) {
        let b = queries
        let last = i0 + nq - 1
        let first = window > 0 ? max(0, i0 - window + 1) : 0
        let n = last - first + 1
        let qStride = heads * d, kvStride = kvHeads * d
        let qt = scratch.queryPanel
        if nq < b { qt.update(repeating: 0, count: d * b) }
        for i in 0..<nq {
            let row = q + (i0 + i) * qStride + h * d
            for c in 0..<d { qt[c * b + i] = row[c] }
        }
        let kc = scratch.keys
        for j in 0..<n { (kc + j * d).update(from: k + (first + j) * kvStride + kvh * d, count: d) }
        MatMul.multiplyPanel(kc, tokens: n, columns: d, panel: qt, rowCount: b, into: scratch.scores, ldy: b,
                             partial: scratch.partial)
        softmax(scratch.scores, keys: n, firstKey: first, firstQuery: i0, queries: nq, window: window, scale: scale,
                into: scratch.probabilities)
        let vp = scratch.valuePanel
        var c0 = 0
        while c0 < d {
            let count = min(b, d - c0)
            if count < b { vp.update(repeating: 0, count: n * b) }
            for j in 0..<n { (vp + j * b).update(from: v + (first + j) * kvStride + kvh * d + c0, count: count) }
            MatMul.multiplyPanel(scratch.probabilities, tokens: nq, columns: n, panel: vp, rowCount: count,
                                 into: out + (i0 * heads + h) * d + c0, ldy: qStride, partial: scratch.partial)
            c0 += b
        }
    }

    /// ggml_soft_max down each query's lane of `s` (`keys × queries`, key j = firstKey + row): scores
    /// times `scale`, masked (key after the query, or `window` or more before it) to -inf, exp(x - max),
    /// summed in Double, scaled by 1/sum; written transposed to `p` (`queries × keys`, valid queries only).
    @inline(__always)
    static func softmax(
        _ s: UnsafeMutablePointer<Float>, keys n: Int, firstKey: Int, firstQuery i0: Int, queries nq: Int,
        window: Int, scale: Float, into p: UnsafeMutablePointer<Float>
    ) {
        let b = queries, raw = UnsafeMutableRawPointer(s)
        var iota = IntLane()
        for l in 0..<width { iota[l] = Int32(l) }
        for half in 0..<2 where half * width < nq {
            let laneQuery = iota &+ Int32(i0 + half * width)
            let offset = half * width * 4
            // Rows that mask some valid query: after the block's first query, or (window) before the
            // last query's window.
            let causalFrom = i0 + 1 - firstKey, windowBefore = window > 0 ? i0 + nq - window - firstKey : 0
            var mx = Lane(repeating: -.infinity)
            for j in 0..<n {
                var x = raw.loadUnaligned(fromByteOffset: j * b * 4 + offset, as: Lane.self) * scale
                if j >= causalFrom || j < windowBefore {
                    let key = IntLane(repeating: Int32(firstKey + j))
                    var masked = key .> laneQuery
                    if window > 0 { masked .|= laneQuery &- key .>= Int32(window) }
                    x.replace(with: -.infinity, where: masked)
                }
                raw.storeBytes(of: x, toByteOffset: j * b * 4 + offset, as: Lane.self)
                mx = pointwiseMax(mx, x)
            }
            var sumLow = DoubleHalf(), sumHigh = DoubleHalf()
            for j in 0..<n {
                let e = exp(raw.loadUnaligned(fromByteOffset: j * b * 4 + offset, as: Lane.self) - mx)
                raw.storeBytes(of: e, toByteOffset: j * b * 4 + offset, as: Lane.self)
                sumLow += DoubleHalf(e.lowHalf)
                sumHigh += DoubleHalf(e.highHalf)
            }
            let inv = Lane(lowHalf: FloatHalf(1 / sumLow), highHalf: FloatHalf(1 / sumHigh))
            let lanes = min(width, nq - half * width)
            let rows = p + half * width * n
            for j in 0..<n {
                let x = raw.loadUnaligned(fromByteOffset: j * b * 4 + offset, as: Lane.self) * inv
                for l in 0..<lanes { rows[l * n + j] = x[l] }
            }
        }
    }

    /// e^x per lane, as expf within a few ulps (Cephes' expf): x = n·ln2 + r with |r| ≤ ln2/2
    /// (ln2 in two parts, so r is exact enough), e^r by a degree-7 polynomial, 2^n put in the exponent
    /// bits. Below -87 (where expf's result leaves the normal range; -inf for masked keys) gives 0.
    @inline(__always)
    static func exp(_ x: Lane) -> Lane {
        let low = x .< -87
        let xc = x.replacing(with: -87, where: low)
        let n = (xc * 1.44269504088896341).rounded(.toNearestOrEven)
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
        let bits = (IntLane(n, rounding: .towardZero) &+ 127) &<< 23
        let result = y * unsafeBitCast(bits, to: Lane.self)
        return result.replacing(with: 0, where: low)
    }

    /// a · b + c.
    @inline(__always)
    private static func fused(_ a: Lane, _ b: Lane, _ c: Float) -> Lane {
        var acc = Lane(repeating: c)
        MatMul.madd(&acc, a, b)
        return acc
    }
}
