import Dispatch

/// `y = x · Wᵀ` for a batch of tokens: `x` is `tokens × columns`, `y` is `tokens × rows`, both row-major.
///
/// Work is split by panels of rows of W, taken by threads from a `WorkCounter` (as ggml splits
/// `mul_mat` into chunks). Each worker dequantizes one panel (2 vectors' worth of rows: 32 with
/// AVX-512, 16 otherwise) into its own scratch and stores it transposed, column by column, so that
/// one column of the panel is two vector loads. The register tile is then an outer product: for
/// each column k, the panel's two vectors times `x[t][k]` broadcast for 8 tokens (AVX-512: 16
/// accumulators of its 32 registers) or 4 (AVX2: 8 of 16), 2 loads plus one broadcast per token
/// for 2 fused multiply-adds per token — bound by multiplies, and with no horizontal sums: each
/// output lane is one `y[t][r]`, stored as a row segment of `y`.
/// Every output value is the sum over k in column order, in one lane, whatever the tile, the panel
/// or the thread count, so a row of logits does not depend on which other rows are computed.
/// Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K weights with ggml's activation rounding go to `IntegerMatMul`
/// instead on a VNNI build.
enum MatMul {
    #if INFERENCE_AVX512
    typealias Lane = SIMD16<Float>
    typealias LanePair = SIMD32<Float>
    /// Tokens per register tile.
    static let tileTokens = 8
    #else
    typealias Lane = SIMD8<Float>
    typealias LanePair = SIMD16<Float>
    static let tileTokens = 4
    #endif
    /// Rows per panel: two vectors.
    static let panelRows = 2 * Lane.scalarCount

    static func multiply(
        _ x: UnsafePointer<Float>, tokens: Int, by w: WeightMatrix, into y: UnsafeMutablePointer<Float>, threads: Int,
        rounding: ActivationRounding = .none
    ) {
        if rounding != .none, let layout = IntegerMatMul.layout(for: w, rounding: rounding) {
            IntegerMatMul.multiply(x, tokens: tokens, by: w, layout: layout, into: y, threads: threads)
            return
        }
        let rows = w.rows, columns = w.columns
        var rounded: UnsafeMutablePointer<Float>? = nil
        if rounding != .none {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: tokens * columns)
            roundRows(x, tokens: tokens, columns: columns, rounding: rounding, into: p, threads: threads)
            rounded = p
        }
        defer { rounded?.deallocate() }
        let x = rounded.map { UnsafePointer($0) } ?? x
        let panels = (rows + panelRows - 1) / panelRows
        let workers = max(1, min(threads, panels))
        let job = Job(x: x, y: y)
        let counter = WorkCounter(count: panels)
        let run: @Sendable (Int) -> Void = { _ in
            // Rows as dequantized, the same transposed (64-byte aligned: a vector load per cache
            // line), and a tile's outputs for a panel cut short by the end of W.
            let rowsScratch = UnsafeMutableRawPointer.allocate(byteCount: panelRows * columns * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: panelRows * columns)
            let panel = UnsafeMutableRawPointer.allocate(byteCount: panelRows * columns * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: panelRows * columns)
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: panelRows * tileTokens)
            defer { rowsScratch.deallocate(); panel.deallocate(); partial.deallocate() }
            while let p = counter.take() {
                let r0 = p * panelRows, count = min(rows, r0 + panelRows) - r0
                w.dequantize(rows: r0..<(r0 + count), into: rowsScratch)
                transpose(rowsScratch, rows: count, columns: columns, into: panel)
                multiplyPanel(job.x, tokens: tokens, columns: columns, panel: panel, rowCount: count,
                              into: job.y + r0, ldy: rows, partial: partial)
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
        ContiguousSplit.run(tokens, workers: min(threads, tokens / 16)) { rows in
            rounding.apply(x + rows.lowerBound * columns, count: rows.count * columns, rowLength: columns,
                           into: y + rows.lowerBound * columns)
        }
    }

    /// `panel[k * panelRows + r] = w[r * columns + k]`; rows past `rows` are zero.
    /// A whole panel goes by squares of one vector's width: the square's rows are loaded as vectors
    /// and transposed by log2(width) rounds of even/odd unshuffles of row pairs (which LLVM lowers
    /// to permutes), then stored as the panel's columns. The element-wise loop it replaces became
    /// scatter instructions, ~15 % of the matmul's time (measured).
    @inline(__always)
    static func transpose(_ w: UnsafePointer<Float>, rows: Int, columns c: Int, into panel: UnsafeMutablePointer<Float>) {
        let width = Lane.scalarCount
        let squares = rows == panelRows ? c / width * width : 0
        if rows < panelRows { panel.update(repeating: 0, count: panelRows * c) }
        if squares > 0 {
            withUnsafeTemporaryAllocation(of: Lane.self, capacity: 2 * width) { buffer in
                var source = buffer.baseAddress!, target = source + width
                for half in 0..<2 {
                    var k0 = 0
                    while k0 < squares {
                        for i in 0..<width {
                            source[i] = UnsafeRawPointer(w + (half * width + i) * c + k0).loadUnaligned(as: Lane.self)
                        }
                        var round = 1
                        while round < width {
                            for i in 0..<(width / 2) {
                                let pair = LanePair(lowHalf: source[2 * i], highHalf: source[2 * i + 1])
                                target[i] = pair.evenHalf
                                target[i + width / 2] = pair.oddHalf
                            }
                            swap(&source, &target)
                            round *= 2
                        }
                        for j in 0..<width {
                            UnsafeMutableRawPointer(panel + (k0 + j) * panelRows + half * width)
                                .storeBytes(of: source[j], as: Lane.self)
                        }
                        k0 += width
                    }
                }
            }
        }
        for r in 0..<rows {
            let src = w + r * c
            for k in squares..<c { panel[k * panelRows + r] = src[k] }
        }
    }

    /// `y[t][r] = Σ_k x[t][k] · panel[k][r]` for every token and the panel's `rowCount` rows.
    @inline(__always)
    static func multiplyPanel(
        _ x: UnsafePointer<Float>, tokens: Int, columns c: Int, panel: UnsafePointer<Float>, rowCount: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, partial: UnsafeMutablePointer<Float>
    ) {
        let full = rowCount == panelRows
        var t = 0
        while t + tileTokens <= tokens {
            if full {
                tile(panel, x + t * c, columns: c, into: y + t * ldy, ldy: ldy)
            } else {
                tile(panel, x + t * c, columns: c, into: partial, ldy: panelRows)
                for j in 0..<tileTokens { (y + (t + j) * ldy).update(from: partial + j * panelRows, count: rowCount) }
            }
            t += tileTokens
        }
        while t < tokens {
            if full {
                tile1(panel, x + t * c, columns: c, into: y + t * ldy)
            } else {
                tile1(panel, x + t * c, columns: c, into: partial)
                (y + t * ldy).update(from: partial, count: rowCount)
            }
            t += 1
        }
    }

    #if INFERENCE_AVX512
    /// The panel times 8 consecutive token rows of `x`: 16 accumulators.
    @inline(__always)
    static func tile(
        _ panel: UnsafePointer<Float>, _ x: UnsafePointer<Float>, columns c: Int, into y: UnsafeMutablePointer<Float>,
        ldy: Int
    ) {
        var a0 = Lane(), a1 = Lane(), a2 = Lane(), a3 = Lane(), a4 = Lane(), a5 = Lane(), a6 = Lane(), a7 = Lane()
        var b0 = Lane(), b1 = Lane(), b2 = Lane(), b3 = Lane(), b4 = Lane(), b5 = Lane(), b6 = Lane(), b7 = Lane()
        let raw = UnsafeRawPointer(panel)
        let x0 = x, x1 = x + c, x2 = x + 2 * c, x3 = x + 3 * c, x4 = x + 4 * c, x5 = x + 5 * c, x6 = x + 6 * c
        let x7 = x + 7 * c
        for k in 0..<c {
            let o = k * panelRows * 4
            let u = raw.loadUnaligned(fromByteOffset: o, as: Lane.self)
            let v = raw.loadUnaligned(fromByteOffset: o + 64, as: Lane.self)
            var s = Lane(repeating: x0[k]); madd(&a0, u, s); madd(&b0, v, s)
            s = Lane(repeating: x1[k]); madd(&a1, u, s); madd(&b1, v, s)
            s = Lane(repeating: x2[k]); madd(&a2, u, s); madd(&b2, v, s)
            s = Lane(repeating: x3[k]); madd(&a3, u, s); madd(&b3, v, s)
            s = Lane(repeating: x4[k]); madd(&a4, u, s); madd(&b4, v, s)
            s = Lane(repeating: x5[k]); madd(&a5, u, s); madd(&b5, v, s)
            s = Lane(repeating: x6[k]); madd(&a6, u, s); madd(&b6, v, s)
            s = Lane(repeating: x7[k]); madd(&a7, u, s); madd(&b7, v, s)
        }
        let out = UnsafeMutableRawPointer(y), step = ldy * 4
        out.storeBytes(of: a0, toByteOffset: 0, as: Lane.self); out.storeBytes(of: b0, toByteOffset: 64, as: Lane.self)
        out.storeBytes(of: a1, toByteOffset: step, as: Lane.self); out.storeBytes(of: b1, toByteOffset: step + 64, as: Lane.self)
        out.storeBytes(of: a2, toByteOffset: 2 * step, as: Lane.self); out.storeBytes(of: b2, toByteOffset: 2 * step + 64, as: Lane.self)
        out.storeBytes(of: a3, toByteOffset: 3 * step, as: Lane.self); out.storeBytes(of: b3, toByteOffset: 3 * step + 64, as: Lane.self)
        out.storeBytes(of: a4, toByteOffset: 4 * step, as: Lane.self); out.storeBytes(of: b4, toByteOffset: 4 * step + 64, as: Lane.self)
        out.storeBytes(of: a5, toByteOffset: 5 * step, as: Lane.self); out.storeBytes(of: b5, toByteOffset: 5 * step + 64, as: Lane.self)
        out.storeBytes(of: a6, toByteOffset: 6 * step, as: Lane.self); out.storeBytes(of: b6, toByteOffset: 6 * step + 64, as: Lane.self)
        out.storeBytes(of: a7, toByteOffset: 7 * step, as: Lane.self); out.storeBytes(of: b7, toByteOffset: 7 * step + 64, as: Lane.self)
    }
    #else
    /// The panel times 4 consecutive token rows of `x`: 8 accumulators.
    @inline(__always)
    static func tile(
        _ panel: UnsafePointer<Float>, _ x: UnsafePointer<Float>, columns c: Int, into y: UnsafeMutablePointer<Float>,
        ldy: Int
    ) {
        var a0 = Lane(), a1 = Lane(), a2 = Lane(), a3 = Lane(), b0 = Lane(), b1 = Lane(), b2 = Lane(), b3 = Lane()
        let raw = UnsafeRawPointer(panel)
        let x0 = x, x1 = x + c, x2 = x + 2 * c, x3 = x + 3 * c
        let half = Lane.scalarCount * 4
        for k in 0..<c {
            let o = k * panelRows * 4
            let u = raw.loadUnaligned(fromByteOffset: o, as: Lane.self)
            let v = raw.loadUnaligned(fromByteOffset: o + half, as: Lane.self)
            var s = Lane(repeating: x0[k]); madd(&a0, u, s); madd(&b0, v, s)
            s = Lane(repeating: x1[k]); madd(&a1, u, s); madd(&b1, v, s)
            s = Lane(repeating: x2[k]); madd(&a2, u, s); madd(&b2, v, s)
            s = Lane(repeating: x3[k]); madd(&a3, u, s); madd(&b3, v, s)
        }
        let out = UnsafeMutableRawPointer(y), step = ldy * 4
        out.storeBytes(of: a0, toByteOffset: 0, as: Lane.self); out.storeBytes(of: b0, toByteOffset: half, as: Lane.self)
        out.storeBytes(of: a1, toByteOffset: step, as: Lane.self); out.storeBytes(of: b1, toByteOffset: step + half, as: Lane.self)
        out.storeBytes(of: a2, toByteOffset: 2 * step, as: Lane.self); out.storeBytes(of: b2, toByteOffset: 2 * step + half, as: Lane.self)
        out.storeBytes(of: a3, toByteOffset: 3 * step, as: Lane.self); out.storeBytes(of: b3, toByteOffset: 3 * step + half, as: Lane.self)
    }
    #endif

    /// The panel times one token row (the tokens left after the last whole tile), in the same order.
    @inline(__always)
    static func tile1(_ panel: UnsafePointer<Float>, _ x: UnsafePointer<Float>, columns c: Int,
                      into y: UnsafeMutablePointer<Float>) {
        var a = Lane(), b = Lane()
        let raw = UnsafeRawPointer(panel), half = Lane.scalarCount * 4
        for k in 0..<c {
            let o = k * panelRows * 4
            let s = Lane(repeating: x[k])
            madd(&a, raw.loadUnaligned(fromByteOffset: o, as: Lane.self), s)
            madd(&b, raw.loadUnaligned(fromByteOffset: o + half, as: Lane.self), s)
        }
        UnsafeMutableRawPointer(y).storeBytes(of: a, toByteOffset: 0, as: Lane.self)
        UnsafeMutableRawPointer(y).storeBytes(of: b, toByteOffset: half, as: Lane.self)
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

    @inline(__always)
    static func madd(_ acc: inout SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) {
        #if INFERENCE_FMA || arch(arm64)
        acc.addProduct(a, b)
        #else
        acc += a * b
        #endif
    }
}

/// Buffers shared by matmul workers, which write disjoint columns of `y`.
private struct Job: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
}
