import Dispatch
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
        try compare(reference: reference, candidates: [candidate], tokens: tokens, ctx: ctx, first: first,
                    threads: threads).candidates[0]
    }

    /// Compares several candidates (e.g. every artifact of a job) with one reference. The text is
    /// walked chunk by chunk: the reference's logits for a chunk are computed once and every
    /// candidate's logits for the same chunk are compared with them before the next chunk, so memory
    /// stays at a few chunks of scored logits (the reference's and one per thread, at most one per
    /// model) whatever the text's length, and the reference is evaluated once, not once per
    /// candidate. With several threads the models' passes run side by side (`SideBySidePasses`);
    /// a result's `evaluationSeconds` is then the wall time of its own passes.
    ///
    /// `progress(done, total)` is called after each forward pass (total = chunks × (1 + candidates));
    /// it may throw to stop the evaluation (cancellation).
    public static func compare(
        reference: LlamaModel, candidates: [LlamaModel], tokens: [Int32], ctx: Int = 512, first: Int? = nil,
        threads: Int = 1, progress: ((_ done: Int, _ total: Int) throws -> Void)? = nil
    ) throws -> (reference: PerplexityResult, candidates: [KLDResult]) {
        let n = reference.vocabularySize
        for candidate in candidates where candidate.vocabularySize != n {
            throw InferenceError.invalidHyperparameter(key: "vocabulary size", value: candidate.vocabularySize)
        }
        let hp = reference.hyperParameters
        let chunks = try chunks(tokens: tokens, ctx: ctx, addBOS: hp.addsBOS, bos: hp.bosToken)
        let start = min(max(first ?? ctx / 2, 0), ctx - 1)
        let positions = ctx - 1 - start
        var referenceStats = ReferenceAccumulator()
        var stats = [DivergenceAccumulator](repeating: DivergenceAccumulator(), count: candidates.count)
        var candidateSeconds = [Double](repeating: 0, count: candidates.count)
        var referenceSeconds = 0.0
        let total = chunks.count * (1 + candidates.count)
        var done = 0
        var rows = ReferenceRows(count: positions)
        // About one layer per running pass resident, instead of every model whole: a job's source
        // and three artifacts were 670 MB of mapped pages (SmolLM2, measured).
        let models = [reference] + candidates
        let resident = models.map(\.keepsWeightsResident)
        for model in models { model.keepsWeightsResident = false }
        defer { for (model, keeps) in zip(models, resident) { model.keepsWeightsResident = keeps } }
        // Passes run side by side, `lanes` at a time (`SideBySidePasses`): the reference with the
        // first candidates, then the rest. Memory: the reference's logits and one chunk per lane.
        let lanes = max(1, min(threads, models.count))
        let outputs = (0..<lanes).map { _ in PassOutput() }
        var lr: [Float] = []
        for chunk in chunks {
            let next = chunk[(start + 1)...]
            var waiting = candidates.indices[...]
            var referenceDone = false
            while !referenceDone || !waiting.isEmpty {
                let wave = Array(waiting.prefix(lanes - (referenceDone ? 0 : 1)))
                waiting = waiting.dropFirst(wave.count)
                let waveModels = (referenceDone ? [] : [reference]) + wave.map { candidates[$0] }
                try SideBySidePasses.run(waveModels, tokens: chunk, from: start, threads: threads, into: outputs)
                var slot = 0
                if !referenceDone {
                    swap(&lr, &outputs[0].logits)
                    referenceSeconds += outputs[0].seconds
                    done += 1
                    try progress?(done, total)
                    lr.withUnsafeBufferPointer { r in
                        rows.measure(r.baseAddress!, vocabulary: n, next: next, threads: threads)
                    }
                    referenceStats.add(rows)
                    referenceDone = true
                    slot = 1
                }
                for k in wave {
                    let out = outputs[slot]
                    slot += 1
                    candidateSeconds[k] += out.seconds
                    lr.withUnsafeBufferPointer { r in
                        out.logits.withUnsafeBufferPointer { c in
                            stats[k].add(reference: r.baseAddress!, rows: rows, candidate: c.baseAddress!,
                                         vocabulary: n, next: next, threads: threads)
                        }
                    }
                    done += 1
                    try progress?(done, total)
                }
            }
        }
        let count = chunks.count * positions
        func result(_ nll: Double, _ seconds: Double) -> PerplexityResult {
            let mean = nll / Double(max(count, 1))
            return PerplexityResult(perplexity: exp(mean), meanNLL: mean, scoredTokens: count, chunks: chunks.count,
                                    evaluationSeconds: seconds,
                                    tokensPerSecond: Double(chunks.count * ctx) / max(seconds, 1e-9))
        }
        let referenceResult = result(referenceStats.nll, referenceSeconds)
        let results = stats.enumerated().map { k, s in
            let sorted = s.kld.sorted()
            return KLDResult(
                reference: referenceResult, candidate: result(s.nllCandidate, candidateSeconds[k]),
                kldMean: sorted.reduce(0, +) / Double(max(count, 1)),
                kldMedian: percentile(sorted, 50), kldP99: percentile(sorted, 99), kldMax: sorted.last ?? 0,
                top1Agreement: Double(s.sameTop) / Double(max(count, 1)),
                rmsDeltaP: (s.sumDeltaP2 / Double(max(count, 1))).squareRoot(), maxDeltaP: s.maxDeltaP,
                scoredTokens: count)
        }
        return (referenceResult, results)
    }

    /// Linear interpolation between closest ranks (numpy's default percentile).
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard let last = sorted.last else { return 0 }
        let pos = p / 100 * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let frac = pos - Double(lo)
        return hi == lo ? last : sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    }

    /// Runs `body(i)` for `0..<count`, split over `threads` in contiguous ranges (`ContiguousSplit`).
    /// Each index is handled by one thread and writes only its own slot, so results do not depend on
    /// the split.
    static func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        ContiguousSplit.run(count, workers: threads) { range in
            for i in range { body(i) }
        }
    }
}


/// The reference's log-normalizer, argmax and next-token log-probability at each scored position of
/// one chunk, computed once and shared by every candidate's comparison.
struct ReferenceRows {
    var logSumExp: [Double]
    var argmax: [Int]
    var nextLogProbability: [Double]

    init(count: Int) {
        logSumExp = .init(repeating: 0, count: count)
        argmax = .init(repeating: 0, count: count)
        nextLogProbability = .init(repeating: 0, count: count)
    }

    mutating func measure(_ rows: UnsafePointer<Float>, vocabulary n: Int, next: ArraySlice<Int32>, threads: Int) {
        let next = Array(next)
        logSumExp.withUnsafeMutableBufferPointer { lse in
            argmax.withUnsafeMutableBufferPointer { am in
                nextLogProbability.withUnsafeMutableBufferPointer { lp in
                    let (lse, am, lp) = (lse, am, lp)
                    PerplexityEvaluator.parallelFor(lse.count, threads: threads) { i in
                        let r = rows + i * n
                        let (m, im) = LogSoftmax.maximum(r, count: n)
                        let z = Double(m) + LogSoftmax.logSumExp(r, count: n, max: m)
                        lse[i] = z
                        am[i] = im
                        lp[i] = Double(r[Int(next[i])]) - z
                    }
                }
            }
        }
    }
}

/// The reference's own negative log-likelihood over all chunks.
struct ReferenceAccumulator {
    var nll = 0.0

    mutating func add(_ rows: ReferenceRows) {
        for lp in rows.nextLogProbability { nll -= lp }
    }
}

/// Per-position statistics of a candidate against the reference, accumulated in double.
struct DivergenceAccumulator {
    var kld: [Double] = []
    var nllCandidate = 0.0
    var sameTop = 0
    var sumDeltaP2 = 0.0, maxDeltaP = 0.0

    /// Adds one position (both rows of logits raw), for comparisons outside `compare`.
    mutating func add(reference r: UnsafePointer<Float>, candidate c: UnsafePointer<Float>, count n: Int, next: Int) {
        var rows = ReferenceRows(count: 1)
        rows.measure(r, vocabulary: n, next: [Int32(next)], threads: 1)
        add(reference: r, rows: rows, candidate: c, vocabulary: n, next: [Int32(next)], threads: 1)
    }

    /// Adds one chunk's scored positions: `reference` and `candidate` point at the first scored row.
    /// Positions are measured in parallel into per-position slots, then summed in position order,
    /// so the totals do not depend on the thread count.
    mutating func add(reference r: UnsafePointer<Float>, rows: ReferenceRows, candidate c: UnsafePointer<Float>,
                      vocabulary n: Int, next: ArraySlice<Int32>, threads: Int) {
        let count = rows.logSumExp.count
        let next = Array(next)
        var divergence = [Double](repeating: 0, count: count)
        var candidateLogProbability = [Double](repeating: 0, count: count)
        var top = [Int](repeating: 0, count: count)
        divergence.withUnsafeMutableBufferPointer { kl in
            candidateLogProbability.withUnsafeMutableBufferPointer { lpc in
                top.withUnsafeMutableBufferPointer { tp in
                    let (kl, lpc, tp) = (kl, lpc, tp)
                    PerplexityEvaluator.parallelFor(count, threads: threads) { i in
                        let ri = r + i * n, ci = c + i * n
                        let (mc, ic) = LogSoftmax.maximum(ci, count: n)
                        let lser = rows.logSumExp[i]
                        let lsec = Double(mc) + LogSoftmax.logSumExp(ci, count: n, max: mc)
                        kl[i] = LogSoftmax.divergence(reference: ri, candidate: ci, count: n,
                                                      referenceNormalizer: lser, candidateNormalizer: lsec)
                        lpc[i] = Double(ci[Int(next[i])]) - lsec
                        tp[i] = ic
                    }
                }
            }
        }
        for i in 0..<count {
            kld.append(divergence[i])
            nllCandidate -= candidateLogProbability[i]
            if top[i] == rows.argmax[i] { sameTop += 1 }
            let dp = exp(candidateLogProbability[i]) - exp(rows.nextLogProbability[i])
            sumDeltaP2 += dp * dp
            maxDeltaP = max(maxDeltaP, abs(dp))
        }
    }
}
