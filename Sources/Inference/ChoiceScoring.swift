import Dispatch
import Foundation

/// One tokenized item of a choice task (HellaSwag, WinoGrande, multiple choice): a sequence per
/// choice, each the item's shared text followed by that choice, BOS first when the vocabulary adds
/// it. Which tokens of a sequence are scored, and how, is `rule`'s (llama-perplexity's
/// `hellaswag_score`, `winogrande_score`, `multiple_choice_score` in tools/perplexity/perplexity.cpp).
public struct ChoiceItem: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        /// HellaSwag: every token after the sequences' common prefix, the first from the softmax of
        /// the prefix's last row, summed in double, divided by their count.
        case hellaswag
        /// Multiple choice: as HellaSwag, summed in float.
        case multipleChoice
        /// WinoGrande: `bases[s]` is the token count of "sentence start + choice s". When both
        /// sequences run more than 3 tokens past their common prefix, only the tokens after the
        /// choice word are scored (the sentence's ending, less its last token when that leaves at
        /// least one); otherwise everything after the common prefix is.
        case winogrande(bases: [Int])
    }

    public var sequences: [[Int32]]
    public var rule: Rule
    /// For each choice, whether it counts as correct.
    public var correct: [Bool]

    public init(sequences: [[Int32]], rule: Rule, correct: [Bool]) {
        self.sequences = sequences
        self.rule = rule
        self.correct = correct
    }

    /// Tokens all sequences begin with (bounded by the shortest).
    public var commonPrefix: Int {
        guard let first = sequences.first else { return 0 }
        let shortest = sequences.map(\.count).min() ?? 0
        var k = 0
        while k < shortest, sequences.allSatisfy({ $0[k] == first[k] }) { k += 1 }
        return k
    }

    /// Tokens an item may need: its shared text once and every choice's own tokens, as
    /// llama-perplexity counts an item against its context (4 sequences × its default ctx of 4096
    /// holds four times more; items of the usual files need a few hundred). It bounds the logits
    /// held for one item: about this many rows of the vocabulary (800 MB for a 49,152-token vocabulary).
    public static let maximumTokens = 4096

    /// Tokens the item takes in a forward pass: its shared text once and every choice's own tokens.
    public var requiredTokens: Int {
        let cp = commonPrefix
        return cp + sequences.reduce(0) { $0 + $1.count - cp }
    }

    /// Why this item cannot be scored as llama-perplexity scores it, if it cannot (llama-perplexity
    /// itself reads out of bounds on such items), or is too long (`maximumTokens`).
    public var problem: String? {
        guard sequences.count >= 2, correct.count == sequences.count else { return "it has fewer than two choices" }
        guard sequences.count <= TokenBatch.maximumSequences else {
            return "it has \(sequences.count) choices, more than \(TokenBatch.maximumSequences)"
        }
        let cp = commonPrefix
        guard cp >= 1 else { return "its choices share no first token (the vocabulary adds no BOS and the text is empty)" }
        let required = requiredTokens
        guard required <= Self.maximumTokens else {
            return "it needs \(required) tokens (its shared text once and every choice), more than \(Self.maximumTokens)"
        }
        switch rule {
        case .hellaswag, .multipleChoice:
            if sequences.contains(where: { $0.count <= cp }) { return "one choice adds no token to the shared text" }
        case .winogrande(let bases):
            guard bases.count == 2, sequences.count == 2 else { return "WinoGrande items have two choices" }
            for s in 0..<2 where bases[s] < cp || bases[s] > sequences[s].count {
                return "its sentence with choice \(s + 1) tokenizes to \(sequences[s].count) tokens but its start to \(bases[s])"
            }
        }
        return nil
    }
}

/// What a model chose for one item.
public struct ChoiceOutcome: Sendable, Equatable {
    /// The choice with the highest score (the first of equal ones).
    public var chosen: Int
    public var correct: Bool
    /// Each choice's score: its mean log-probability per scored token.
    public var scores: [Double]
}

public enum ChoiceScorer {
    /// Tokens per forward pass that items are packed into (llama-perplexity packs into its context,
    /// `-c`; 512 is the size its task runs are usually given).
    public static let defaultBatchTokens = 512

    /// Scores `items` on `model`, several items per forward pass as llama-perplexity packs them: each
    /// item's shared text once for all its choices, then each choice's own tokens as a sequence of
    /// its own (`TokenBatch`), items added while the pass stays within `batchTokens` tokens (an item
    /// that needs more runs alone). Each sequence's rows are those of a pass over it alone, which are
    /// those llama-perplexity reads from its batch. `progress(done)` is called for each item once its
    /// pass is scored (so in bursts, a pass's items at once) and may throw to stop. An item that
    /// cannot be scored (`ChoiceItem.problem`) throws `ChoiceItemError` once the items before it are.
    public static func score(
        model: LlamaModel, items: [ChoiceItem], threads: Int, batchTokens: Int = defaultBatchTokens,
        progress: ((_ itemsDone: Int) throws -> Void)? = nil
    ) throws -> [ChoiceOutcome] {
        let n = model.vocabularySize
        let threads = max(1, threads)
        var outcomes: [ChoiceOutcome] = []
        outcomes.reserveCapacity(items.count)
        var logits: [Float] = []
        var i0 = 0
        while i0 < items.count {
            if let problem = items[i0].problem { throw ChoiceItemError(index: i0, reason: problem) }
            var pack = Pack()
            var i1 = i0
            while i1 < items.count, items[i1].problem == nil {
                let item = items[i1]
                if i1 > i0, pack.tokens.count + item.requiredTokens > batchTokens
                    || pack.sequenceCount + item.sequences.count > TokenBatch.maximumSequences {
                    break
                }
                try pack.add(item)
                i1 += 1
            }
            let batch = try TokenBatch(tokens: pack.tokens, positions: pack.positions, sequences: pack.sets)
            try model.logits(batch: batch, outputs: pack.outputs, threads: threads, into: &logits)
            let scored = (i0..<i1).map { _ in ScoredItem() }
            let places = pack.places
            let job = UncheckedSendable(items), rows = logits, start = i0
            let work: @Sendable (Int) -> Void = { k in
                let item = job.value[start + k], place = places[k], cp = item.commonPrefix
                rows.withUnsafeBufferPointer { buffer in
                    let base = buffer.baseAddress!
                    scored[k].scores = Self.scores(item: item, commonPrefix: cp, rows: { s, p in
                        base + (p < cp ? place.prefixRow : place.endingRows[s] + (p - cp)) * n
                    }, vocabulary: n)
                }
            }
            // The log-softmaxes of the rows are a serial stretch otherwise (a vocabulary's worth
            // of exps per scored token).
            if threads == 1 || scored.count == 1 {
                for k in scored.indices { work(k) }
            } else {
                DispatchQueue.concurrentPerform(iterations: scored.count, execute: work)
            }
            for (k, result) in scored.enumerated() {
                outcomes.append(outcome(scores: result.scores, item: items[i0 + k]))
                try progress?(i0 + k + 1)
            }
            i0 = i1
        }
        return outcomes
    }

    /// Where an item's rows are in a pass's logits: the last token of its shared text, and each
    /// choice's first own token (the choice's later tokens follow it).
    struct Place: Sendable {
        var prefixRow: Int
        var endingRows: [Int]
    }

    /// The tokens of one forward pass, item after item, as llama-perplexity lays them out: an
    /// item's shared text with all its sequence ids, then each choice's own tokens with its own.
    /// Logits are asked for the shared text's last token and every choice token that a score reads
    /// (all but a choice's last; WinoGrande reads its first choice's last, see `winogrande`).
    struct Pack {
        var tokens: [Int32] = []
        var positions: [Int] = []
        var sets: [TokenBatch.Sequences] = []
        var outputs: [Int] = []
        var places: [Place] = []
        var sequenceCount = 0

        mutating func add(_ item: ChoiceItem) throws {
            let cp = item.commonPrefix
            let shared = try TokenBatch.Sequences(sequenceCount..<(sequenceCount + item.sequences.count))
            for p in 0..<cp {
                tokens.append(item.sequences[0][p]); positions.append(p); sets.append(shared)
            }
            var place = Place(prefixRow: outputs.count, endingRows: [])
            outputs.append(tokens.count - 1)
            let readsLast: Bool
            if case .winogrande = item.rule { readsLast = true } else { readsLast = false }
            for (s, sequence) in item.sequences.enumerated() {
                let own = try TokenBatch.Sequences([sequenceCount + s])
                place.endingRows.append(outputs.count)
                for p in cp..<sequence.count {
                    tokens.append(sequence[p]); positions.append(p); sets.append(own)
                    if p < sequence.count - 1 || readsLast { outputs.append(tokens.count - 1) }
                }
            }
            places.append(place)
            sequenceCount += item.sequences.count
        }
    }

    /// The choice llama-perplexity takes: the highest score, the first of equal ones; for WinoGrande
    /// the first only when it scores strictly higher (`score_1st > score_2nd ? 1 : 2`: a tie, or a
    /// NaN from a choice with no scored token, goes to the second).
    static func outcome(scores: [Double], item: ChoiceItem) -> ChoiceOutcome {
        var best = 0
        if case .winogrande = item.rule {
            best = scores[0] > scores[1] ? 0 : 1
        } else {
            for s in 1..<scores.count where scores[s] > scores[best] { best = s }
        }
        return ChoiceOutcome(chosen: best, correct: item.correct[best], scores: scores)
    }

    /// Each choice's score from its rows of logits. `rows(s, p)` is sequence s's row at position p
    /// (p ≥ cp - 1).
    static func scores(item: ChoiceItem, commonPrefix cp: Int, rows: (Int, Int) -> UnsafePointer<Float>,
                       vocabulary n: Int) -> [Double] {
        let seqs = item.sequences
        switch item.rule {
        case .hellaswag:
            let first = rows(0, cp - 1)
            return seqs.indices.map { s in
                var sum = Double(firstTokenLogProbability(first, vocabulary: n, token: Int(seqs[s][cp])))
                var count = 1.0
                for j in cp..<(seqs[s].count - 1) {
                    sum += Double(logProbability(rows(s, j), vocabulary: n, token: Int(seqs[s][j + 1])))
                    count += 1
                }
                return sum / count
            }
        case .multipleChoice:
            let first = rows(0, cp - 1)
            return seqs.indices.map { s in
                var sum = firstTokenLogProbability(first, vocabulary: n, token: Int(seqs[s][cp]))
                var count = 1
                for j in cp..<(seqs[s].count - 1) {
                    sum += logProbability(rows(s, j), vocabulary: n, token: Int(seqs[s][j + 1]))
                    count += 1
                }
                return Double(sum / Float(count))
            }
        case .winogrande(let bases):
            let skipChoice = seqs[0].count - cp > 3 && seqs[1].count - cp > 3
            return (0..<2).map { s in
                let base = skipChoice ? bases[s] : cp
                let last = seqs[s].count - base > 1 ? 1 : 0
                var sum: Float = 0
                var j = base - 1
                while j < seqs[s].count - 1 - last {
                    sum += logProbability(winograndeRow(s, position: j, item: item, commonPrefix: cp, rows: rows),
                                          vocabulary: n, token: Int(seqs[s][j + 1]))
                    j += 1
                }
                return Double(sum / Float(seqs[s].count - base - last))
            }
        }
    }

    /// The row llama-perplexity reads for WinoGrande's sequence `s` at `position`. Its batch holds the
    /// common prefix once, then sequence 0's tokens after it, then sequence 1's; for sequence 1 at the
    /// prefix's last position its index lands on sequence 0's last row instead of the prefix's (its
    /// own source marks this as a known slip), which happens when the choice words are not skipped.
    static func winogrande(_ s: Int, position j: Int, item: ChoiceItem, commonPrefix cp: Int) -> (sequence: Int, position: Int) {
        if s == 0 || j >= cp { return (s, j) }
        let size0 = item.sequences[0].count
        return size0 > cp ? (0, size0 - 1) : (0, cp - 1)
    }

    static func winograndeRow(_ s: Int, position j: Int, item: ChoiceItem, commonPrefix cp: Int,
                              rows: (Int, Int) -> UnsafePointer<Float>) -> UnsafePointer<Float> {
        let (sequence, position) = winogrande(s, position: j, item: item, commonPrefix: cp)
        return rows(sequence, position)
    }

    /// log p(token) from one row, all in float, as llama-perplexity's `compute_logprobs`: the max,
    /// a float sum of exp(logit − max) in vocabulary order, logit − max − log(sum).
    static func logProbability(_ row: UnsafePointer<Float>, vocabulary n: Int, token: Int) -> Float {
        var m = row[0]
        for j in 1..<n { m = max(m, row[j]) }
        var sum: Float = 0
        for j in 0..<n { sum += expf(row[j] - m) }
        return row[token] - m - logf(sum)
    }

    /// log p(token) as llama-perplexity takes the first token of each choice: its `softmax` (float
    /// exps summed in double, each probability rounded to float), then the float log.
    static func firstTokenLogProbability(_ row: UnsafePointer<Float>, vocabulary n: Int, token: Int) -> Float {
        var m = row[0]
        for j in 0..<n { m = max(m, row[j]) }
        var sum = 0.0
        for j in 0..<n { sum += Double(expf(row[j] - m)) }
        let p = Float(Double(expf(row[token] - m)) / sum)
        return logf(p)
    }
}

/// An item that cannot be scored as llama-perplexity scores it (`ChoiceItem.problem`).
public struct ChoiceItemError: Error, CustomStringConvertible {
    /// The item's place among the items scored (0-based).
    public var index: Int
    public var reason: String

    public var description: String { "item \(index + 1) cannot be scored: \(reason)" }
}

/// One item's scores, written by the worker that scores it.
private final class ScoredItem: @unchecked Sendable {
    var scores: [Double] = []
}
