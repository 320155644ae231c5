import Dispatch

/// `y = x · Wᵀ` for a batch of tokens: `x` is `tokens × columns`, `y` is `tokens × rows`, both row-major.
///
/// Work is split by blocks of rows of W, taken by threads from a `WorkCounter` (as ggml splits
/// `mul_mat` into chunks); every output value is computed by one thread in one fixed order, so the
/// result does not depend on the thread count.
/// Each worker dequantizes a block of rows of W at a time into its own scratch, small enough to stay
/// in L1 (~32 KB: 12 rows of 576, 4 of 1536; 64 rows did not fit and cost ~18 % more CPU time on
/// SmolLM2, measured), and then runs a 4-row × 2-token
/// register tile over all tokens: each loaded weight vector is used twice and each activation vector
/// four times, which keeps the loop bound by multiplies rather than loads.
enum MatMul {
    static let maxRowBlock = 64

    /// Rows dequantized per block: as many as keep the block within ~32 KB (L1), a multiple of 4.
    static func rowBlock(columns: Int) -> Int { max(4, min(maxRowBlock, (8192 / max(1, columns)) & ~3)) }

    static func multiply(
        _ x: UnsafePointer<Float>, tokens: Int, by w: WeightMatrix, into y: UnsafeMutablePointer<Float>, threads: Int,
        rounding: ActivationRounding = .none
    ) {
        let rows = w.rows, columns = w.columns
        var rounded: UnsafeMutablePointer<Float>? = nil
        if rounding != .none {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: tokens * columns)
            roundRows(x, tokens: tokens, columns: columns, rounding: rounding, into: p, threads: threads)
            rounded = p
        }
        defer { rounded?.deallocate() }
        let x = rounded.map { UnsafePointer($0) } ?? x
        let rowBlock = rowBlock(columns: columns)
        let blocks = (rows + rowBlock - 1) / rowBlock
        let workers = max(1, min(threads, blocks))
        let job = Job(x: x, y: y)
        let counter = WorkCounter(count: blocks)
        let run: @Sendable (Int) -> Void = { _ in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rowBlock * columns)
            defer { scratch.deallocate() }
            while let block = counter.take() {
                let r0 = block * rowBlock, r1 = min(rows, r0 + rowBlock)
                w.dequantize(rows: r0..<r1, into: scratch)
                multiplyBlock(job.x, tokens: tokens, columns: columns, weights: scratch, rowCount: r1 - r0,
                              into: job.y + r0, ldy: rows)
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
    }

    /// Rounds the activations token row by token row, split among the threads (rows are independent,
    /// and done serially this would be a serial stretch before every matmul).
    static func roundRows(
        _ x: UnsafePointer<Float>, tokens: Int, columns: Int, rounding: ActivationRounding,
        into y: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let workers = max(1, min(threads, tokens / 16))
        if workers == 1 {
            rounding.apply(x, count: tokens * columns, rowLength: columns, into: y)
            return
        }
        let job = Job(x: x, y: y)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let t0 = tokens * w / workers, t1 = tokens * (w + 1) / workers
            rounding.apply(job.x + t0 * columns, count: (t1 - t0) * columns, rowLength: columns,
                           into: job.y + t0 * columns)
        }
    }

    /// `y[t][r] = dot(x[t], w[r])` for `rowCount` dequantized rows; `y` points at the block's first column.
    @inline(__always)
    static func multiplyBlock(
        _ x: UnsafePointer<Float>, tokens: Int, columns c: Int, weights w: UnsafePointer<Float>, rowCount: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        let rows4 = rowCount & ~3, tokens2 = tokens & ~1
        var t = 0
        while t < tokens2 {
            let x0 = x + t * c, x1 = x0 + c
            var r = 0
            while r < rows4 {
                let s = tile4x2(w + r * c, x0, x1, columns: c)
                let y0 = y + t * ldy + r, y1 = y0 + ldy
                y0[0] = s.0; y0[1] = s.1; y0[2] = s.2; y0[3] = s.3
                y1[0] = s.4; y1[1] = s.5; y1[2] = s.6; y1[3] = s.7
                r += 4
            }
            while r < rowCount {
                y[t * ldy + r] = dot(w + r * c, x0, count: c)
                y[(t + 1) * ldy + r] = dot(w + r * c, x1, count: c)
                r += 1
            }
            t += 2
        }
        if t < tokens {
            let x0 = x + t * c
            for r in 0..<rowCount { y[t * ldy + r] = dot(w + r * c, x0, count: c) }
        }
    }

    /// Dot products of four consecutive weight rows with two activation rows.
    @inline(__always)
    static func tile4x2(
        _ w: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, columns c: Int
    ) -> (Float, Float, Float, Float, Float, Float, Float, Float) {
        typealias V = SIMD8<Float>
        var a00 = V(), a10 = V(), a20 = V(), a30 = V(), a01 = V(), a11 = V(), a21 = V(), a31 = V()
        let w0 = UnsafeRawPointer(w), w1 = UnsafeRawPointer(w + c), w2 = UnsafeRawPointer(w + 2 * c)
        let w3 = UnsafeRawPointer(w + 3 * c), p0 = UnsafeRawPointer(x0), p1 = UnsafeRawPointer(x1)
        let c8 = c & ~7
        var i = 0
        while i < c8 {
            let o = i * 4
            let v0 = p0.loadUnaligned(fromByteOffset: o, as: V.self)
            let v1 = p1.loadUnaligned(fromByteOffset: o, as: V.self)
            let u0 = w0.loadUnaligned(fromByteOffset: o, as: V.self)
            madd(&a00, u0, v0); madd(&a01, u0, v1)
            let u1 = w1.loadUnaligned(fromByteOffset: o, as: V.self)
            madd(&a10, u1, v0); madd(&a11, u1, v1)
            let u2 = w2.loadUnaligned(fromByteOffset: o, as: V.self)
            madd(&a20, u2, v0); madd(&a21, u2, v1)
            let u3 = w3.loadUnaligned(fromByteOffset: o, as: V.self)
            madd(&a30, u3, v0); madd(&a31, u3, v1)
            i += 8
        }
        var s = (a00.sum(), a10.sum(), a20.sum(), a30.sum(), a01.sum(), a11.sum(), a21.sum(), a31.sum())
        while i < c {
            s.0 += w[i] * x0[i]; s.1 += w[c + i] * x0[i]; s.2 += w[2 * c + i] * x0[i]; s.3 += w[3 * c + i] * x0[i]
            s.4 += w[i] * x1[i]; s.5 += w[c + i] * x1[i]; s.6 += w[2 * c + i] * x1[i]; s.7 += w[3 * c + i] * x1[i]
            i += 1
        }
        return s
    }

    /// `acc += a * b`: one fused instruction when built for a CPU with FMA (x86-64-v3, see Package.swift;
    /// every arm64), where the
    /// unfused form would chain two 4-cycle latencies per accumulator; a multiply and an add otherwise,
    /// since without the instruction `fma` is a library call per lane.
    @inline(__always)
    static func madd(_ acc: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        #if INFERENCE_FMA || arch(arm64)
        acc.addProduct(a, b)
        #else
        acc += a * b
        #endif
    }

    /// A plain dot product, 8 lanes at a time.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD8<Float>()
        let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b)
        let n8 = n & ~7
        var i = 0
        while i < n8 {
            madd(&acc, pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self),
                 pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
}

/// Buffers shared by matmul workers, which write disjoint columns of `y`.
private struct Job: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
}
