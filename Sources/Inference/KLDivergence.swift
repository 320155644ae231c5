import Foundation

/// How far a candidate model's next-token distributions are from a reference's over the same
/// scored positions: the statistics llama-perplexity's `--kl-divergence` prints.
public struct KLDResult: Equatable, Sendable {
    public var reference: PerplexityResult
    public var candidate: PerplexityResult
    /// KL(P_reference ‖ P_candidate) per scored token, in nats.
    public var kldMean: Double
    public var kldMedian: Double
    public var kldP99: Double
    public var kldMax: Double
    /// Fraction of positions where both models' most likely token is the same.
    public var top1Agreement: Double
    /// RMS over positions of p_candidate(next) − p_reference(next), the "RMS Δp" of llama-perplexity.
    public var rmsDeltaP: Double
    public var maxDeltaP: Double
    public var scoredTokens: Int
}

extension PerplexityEvaluator {
    /// Evaluates both models on the same chunks (the reference's BOS rule) and compares them position
    /// by position. Both must share a vocabulary.
    public static func compare(
        reference: LlamaModel, candidate: LlamaModel, tokens: [Int32], ctx: Int = 512, first: Int? = nil,
        threads: Int = 1
    ) throws -> KLDResult {
        let n = reference.vocabularySize
        guard candidate.vocabularySize == n else {
            throw InferenceError.invalidHyperparameter(key: "vocabulary size", value: candidate.vocabularySize)
        }
        let hp = reference.hyperParameters
        let chunks = try chunks(tokens: tokens, ctx: ctx, addBOS: hp.addsBOS, bos: hp.bosToken)
        let start = min(max(first ?? ctx / 2, 0), ctx - 1)
        var stats = DivergenceAccumulator()
        var refSeconds = 0.0, candSeconds = 0.0
        for chunk in chunks {
            var t0 = Date()
            let lr = try reference.logits(tokens: chunk, threads: threads, from: start)
            refSeconds += Date().timeIntervalSince(t0)
            t0 = Date()
            let lc = try candidate.logits(tokens: chunk, threads: threads, from: start)
            candSeconds += Date().timeIntervalSince(t0)
            lr.withUnsafeBufferPointer { r in
                lc.withUnsafeBufferPointer { c in
                    for i in start..<(ctx - 1) {
                        let o = (i - start) * n
                        stats.add(reference: r.baseAddress! + o, candidate: c.baseAddress! + o, count: n,
                                  next: Int(chunk[i + 1]))
                    }
                }
            }
        }
        let count = stats.kld.count
        func result(_ nll: Double, _ seconds: Double) -> PerplexityResult {
            let mean = nll / Double(max(count, 1))
            return PerplexityResult(perplexity: exp(mean), meanNLL: mean, scoredTokens: count, chunks: chunks.count,
                                    evaluationSeconds: seconds,
                                    tokensPerSecond: Double(chunks.count * ctx) / max(seconds, 1e-9))
        }
        let sorted = stats.kld.sorted()
        return KLDResult(
            reference: result(stats.nllReference, refSeconds), candidate: result(stats.nllCandidate, candSeconds),
            kldMean: sorted.reduce(0, +) / Double(max(count, 1)),
            kldMedian: percentile(sorted, 50), kldP99: percentile(sorted, 99), kldMax: sorted.last ?? 0,
            top1Agreement: Double(stats.sameTop) / Double(max(count, 1)),
            rmsDeltaP: (stats.sumDeltaP2 / Double(max(count, 1))).squareRoot(), maxDeltaP: stats.maxDeltaP,
            scoredTokens: count)
    }

    /// Linear interpolation between closest ranks (numpy's default percentile).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard let last = sorted.last else { return 0 }
        let pos = p / 100 * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let frac = pos - Double(lo)
        return hi == lo ? last : sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    }
}

/// Per-position statistics of two distributions, accumulated in double.
struct DivergenceAccumulator {
    var kld: [Double] = []
    var nllReference = 0.0, nllCandidate = 0.0
    var sameTop = 0
    var sumDeltaP2 = 0.0, maxDeltaP = 0.0

    mutating func add(reference r: UnsafePointer<Float>, candidate c: UnsafePointer<Float>, count n: Int, next: Int) {
        let (mr, ir) = LogSoftmax.maximum(r, count: n)
        let (mc, ic) = LogSoftmax.maximum(c, count: n)
        let lser = Double(mr) + LogSoftmax.logSumExp(r, count: n, max: mr)
        let lsec = Double(mc) + LogSoftmax.logSumExp(c, count: n, max: mc)
        var sum = 0.0
        for i in 0..<n {
            let lpr = Double(r[i]) - lser, lpc = Double(c[i]) - lsec
            sum += exp(lpr) * (lpr - lpc)
        }
        kld.append(sum)
        let nr = lser - Double(r[next]), nc = lsec - Double(c[next])
        nllReference += nr
        nllCandidate += nc
        if ir == ic { sameTop += 1 }
        let dp = exp(-nc) - exp(-nr)
        sumDeltaP2 += dp * dp
        maxDeltaP = max(maxDeltaP, abs(dp))
    }
}
