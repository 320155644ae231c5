import Foundation

/// The element-wise operations of a Llama layer, written to follow ggml's CPU ops
/// (`ggml/src/ggml-cpu/ops.cpp`) closely enough that differences stay at rounding level.
enum Kernels {
    /// RMSNorm of each of `tokens` rows of `n` values, times `weight` (ggml_rms_norm then ggml_mul).
    /// ggml sums the squares in double (`ggml_float`) and scales in float; so do we.
    static func rmsNorm(
        _ x: UnsafePointer<Float>, tokens: Int, count n: Int, weight: UnsafePointer<Float>, epsilon: Float,
        into y: UnsafeMutablePointer<Float>
    ) {
        for t in 0..<tokens {
            let xr = x + t * n, yr = y + t * n
            var sum = 0.0
            for i in 0..<n { sum += Double(xr[i] * xr[i]) }
            let mean = Float(sum / Double(n))
            let scale = 1 / (mean + epsilon).squareRoot()
            for i in 0..<n { yr[i] = (xr[i] * scale) * weight[i] }
        }
    }

    /// cos/sin of RoPE angles for positions `0..<tokens`: `table[(p * half + i) * 2 + {0,1}]`.
    ///
    /// As `ggml_rope_cache_init`: theta starts at the position and is multiplied by
    /// `base^(-2/dims)` in float once per pair, so the angles carry the same rounding as ggml's;
    /// `freqFactors` (llama3's `rope_freqs.weight`) divide theta per pair. With `yarn`, ggml's
    /// `rope_yarn`: pair i's angle is the scaled one mixed with the unscaled one by the ramp over the
    /// correction dimensions (`ggml_rope_yarn_corr_dims`), and cos/sin are multiplied by mscale.
    static func ropeTable(
        tokens: Int, dimensions: Int, base: Float, scale: Float, freqFactors: [Float]?, yarn: YarnRope? = nil
    ) -> [Float] {
        let half = dimensions / 2
        let thetaScale = powf(base, -2 / Float(dimensions))
        var low: Float = 0, high: Float = 0, mscale: Float = 1
        if let yarn {
            func correctionDimension(_ rotations: Float) -> Float {
                Float(dimensions) * logf(Float(yarn.originalContext) / (rotations * 2 * Float.pi)) / (2 * logf(base))
            }
            low = max(0, floorf(correctionDimension(yarn.betaFast)))
            high = min(Float(dimensions - 1), ceilf(correctionDimension(yarn.betaSlow)))
            mscale = yarn.attentionFactor * (1 + 0.1 * logf(1 / scale))
        }
        var table = [Float](repeating: 0, count: tokens * half * 2)
        for p in 0..<tokens {
            var theta = Float(p)
            for i in 0..<half {
                let ff = freqFactors.map { $0[i] } ?? 1
                var angle = scale * (theta / ff)
                if yarn != nil {
                    let ramp = 1 - min(1, max(0, (Float(i) - low) / max(0.001, high - low)))
                    angle = angle * (1 - ramp) + (theta / ff) * ramp
                    table[(p * half + i) * 2] = cosf(angle) * mscale
                    table[(p * half + i) * 2 + 1] = sinf(angle) * mscale
                } else {
                    table[(p * half + i) * 2] = cosf(angle)
                    table[(p * half + i) * 2 + 1] = sinf(angle)
                }
                theta *= thetaScale
            }
        }
        return table
    }

    /// `ropeTable` for the tokens of one pass: row t for token t's position, from `batch` when the
    /// pass holds several sequences, t itself otherwise. A position's row does not depend on the others.
    static func ropeTable(
        batch: TokenBatch?, tokens: Int, dimensions: Int, base: Float, scale: Float, freqFactors: [Float]?,
        yarn: YarnRope? = nil
    ) -> [Float] {
        guard let batch else {
            return ropeTable(tokens: tokens, dimensions: dimensions, base: base, scale: scale, freqFactors: freqFactors,
                             yarn: yarn)
        }
        let span = (batch.positions.max() ?? 0) + 1
        let byPosition = ropeTable(tokens: span, dimensions: dimensions, base: base, scale: scale,
                                   freqFactors: freqFactors, yarn: yarn)
        let width = dimensions / 2 * 2
        var table = [Float](repeating: 0, count: tokens * width)
        for (t, p) in batch.positions.enumerated() {
            table[(t * width)..<((t + 1) * width)] = byPosition[(p * width)..<((p + 1) * width)]
        }
        return table
    }

    /// gpt-oss's SwiGLU (ggml_swiglu_oai, alpha 1.702, limit 7): gate clamped above at 7, up to
    /// [-7, 7], `gate · σ(1.702 · gate) · (up + 1)` into `gate`.
    static func swigluOAI(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        let alpha: Float = 1.702, limit: Float = 7
        for i in 0..<count {
            let x = min(gate[i], limit)
            let y = min(max(up[i], -limit), limit)
            gate[i] = x / (1 + expf(alpha * (-x))) * (y + 1)
        }
    }

    /// Rotates each head of each token in place. `neox == false` is ggml's mode 0 (LLM_ARCH_LLAMA):
    /// the pairs are adjacent values (2i, 2i+1) — the converter permuted q/k rows for exactly this.
    /// `neox == true` pairs i with i + dims/2 (Qwen2 and most later models). `rotated` (default the
    /// head width) is how many leading values of each head turn (GLM4's partial RoPE); the rest stay,
    /// as in ggml's rope with n_dims < ne0. The table is `ropeTable(dimensions: rotated)`.
    static func rope(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDimension d: Int, table: UnsafePointer<Float>,
        neox: Bool = false, rotated: Int? = nil
    ) {
        let half = (rotated ?? d) / 2
        for t in 0..<tokens {
            let cs = table + t * half * 2
            for h in 0..<heads {
                let v = x + (t * heads + h) * d
                for i in 0..<half {
                    let c = cs[2 * i], s = cs[2 * i + 1]
                    let a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1
                    let x0 = v[a], x1 = v[b]
                    v[a] = x0 * c - x1 * s
                    v[b] = x0 * s + x1 * c
                }
            }
        }
    }

    /// `gate = silu(gate) * up`, SwiGLU as ggml's swiglu (silu(x) = x / (1 + e^-x)). Split among
    /// `threads` in contiguous ranges (an expf per value: done serially it was a serial ~2.5 % of a
    /// pass). Each value is computed alone, so the split changes nothing.
    static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        ContiguousSplit.run(count, workers: count < (1 << 16) ? 1 : threads) { range in
            for i in range {
                let g = gate[i]
                gate[i] = g / (1 + expf(-g)) * up[i]
            }
        }
    }

    /// `out[t][i] = silu(x[t][i]) · x[t][ff + i]` for rows of `2·ff` values: ggml_swiglu on a fused
    /// gate-up projection (GLM4's `ffn_up`, gate half first), the same expression as `swiglu`.
    static func fusedSwiglu(_ x: UnsafePointer<Float>, tokens: Int, width ff: Int, into out: UnsafeMutablePointer<Float>) {
        for t in 0..<tokens {
            let row = x + t * 2 * ff, o = out + t * ff
            for i in 0..<ff {
                let g = row[i]
                o[i] = g / (1 + expf(-g)) * row[ff + i]
            }
        }
    }

    /// RMSNorm of `rows` rows of `count` values in place, times `weight` (Qwen3's q/k norm per head).
    static func rmsNormInPlace(
        _ x: UnsafeMutablePointer<Float>, rows: Int, count n: Int, weight: [Float], epsilon: Float
    ) {
        weight.withUnsafeBufferPointer { w in
            guard let wp = w.baseAddress else { return }
            rmsNorm(x, tokens: rows, count: n, weight: wp, epsilon: epsilon, into: x)
        }
    }

    /// Adds `bias` to each of `tokens` rows of `bias.count` values.
    static func addBias(_ x: UnsafeMutablePointer<Float>, tokens: Int, bias: [Float]) {
        let n = bias.count
        for t in 0..<tokens {
            let row = x + t * n
            for i in 0..<n { row[i] += bias[i] }
        }
    }

    /// `x += y` over `count` values (residual connections).
    static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }
}

extension Kernels {
    /// `x *= factor` over `count` values (ggml_scale).
    static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        for i in 0..<count { x[i] *= factor }
    }

    /// `x = cap · tanh(x / cap)`, as llama.cpp builds final logit softcapping: scale, tanh, scale.
    static func softcap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        let inverse = 1 / cap
        for i in 0..<count { x[i] = tanhf(x[i] * inverse) * cap }
    }
}
