/// Several token sequences evaluated in one forward pass, as llama.cpp's `llama_batch` holds them:
/// each token has a position and the set of sequences it belongs to. A token shared by several
/// sequences (a common prefix) is computed once for all of them; attention lets a token see only
/// the earlier tokens of its own sequences, and RoPE turns each token by its own position. Each
/// sequence's rows are then those of a pass over that sequence alone.
///
/// The layout must make every sequence a complete one: in batch order, the tokens of sequence s sit
/// at positions 0, 1, 2, … and a token shared by several sequences follows a history they all share
/// (the token before it in each of its sequences belongs to all of them). Anything else is refused
/// with `InferenceError.invalidBatch`, which says which token breaks it.
public struct TokenBatch: Sendable, Equatable {
    /// The sequences one token belongs to: ids 0..<128 as bits.
    public struct Sequences: Sendable, Equatable, Hashable {
        public var bits: UInt128

        public init(bits: UInt128) { self.bits = bits }

        /// A set of ids, each in 0..<`TokenBatch.maximumSequences`.
        public init(_ ids: some Sequence<Int>) throws {
            var bits: UInt128 = 0
            for id in ids {
                guard id >= 0, id < TokenBatch.maximumSequences else {
                    throw InferenceError.invalidBatch("sequence id \(id) is outside 0..<\(TokenBatch.maximumSequences)")
                }
                bits |= 1 << UInt128(id)
            }
            self.bits = bits
        }

        /// The first sequence alone.
        public static let first = Sequences(bits: 1)

        /// Whether the two sets share a sequence.
        @inline(__always)
        func meets(_ other: Sequences) -> Bool { bits & other.bits != 0 }
    }

    /// Enough for a multiple-choice item of 100 answers, the most llama-perplexity reads.
    public static let maximumSequences = 128

    public let tokens: [Int32]
    public let positions: [Int]
    public let sequences: [Sequences]
    /// The tokens each token attends to (before a layer's window): its sequences' tokens up to
    /// itself, as runs of batch indices, `historyRuns[historyRunStart[i]..<historyRunStart[i + 1]]`
    /// holding lower and upper bounds in turn, in batch (and so position) order.
    let historyRuns: [Int]
    let historyRunStart: [Int]

    /// Checks the layout (see the type's description) and that ids are in range; positions are
    /// 0-based per sequence.
    public init(tokens: [Int32], positions: [Int], sequences: [Sequences]) throws {
        guard !tokens.isEmpty else { throw InferenceError.emptyInput }
        guard positions.count == tokens.count, sequences.count == tokens.count else {
            throw InferenceError.invalidBatch(
                "\(tokens.count) tokens but \(positions.count) positions and \(sequences.count) sequence sets")
        }
        var length = [Int](repeating: 0, count: Self.maximumSequences)
        var last = [Int](repeating: -1, count: Self.maximumSequences)
        var runs: [Int] = [], runStart: [Int] = []
        runs.reserveCapacity(4 * tokens.count)
        runStart.reserveCapacity(tokens.count + 1)
        for i in tokens.indices {
            let set = sequences[i]
            guard set.bits != 0 else { throw InferenceError.invalidBatch("token \(i) belongs to no sequence") }
            var bits = set.bits
            while bits != 0 {
                let s = bits.trailingZeroBitCount
                bits &= bits - 1
                guard positions[i] == length[s] else {
                    throw InferenceError.invalidBatch(
                        "token \(i) is at position \(positions[i]) of sequence \(s), whose next position is \(length[s])")
                }
                if last[s] >= 0, sequences[last[s]].bits & set.bits != set.bits {
                    throw InferenceError.invalidBatch(
                        "token \(i) is shared by sequences that do not share token \(last[s]) before it")
                }
            }
            // Every sequence of the token has the same token before it (checked above), whose history
            // this one extends by itself.
            let predecessor = last[set.bits.trailingZeroBitCount]
            runStart.append(runs.count)
            if predecessor >= 0 {
                runs.append(contentsOf: runs[runStart[predecessor]..<runStart[predecessor + 1]])
            }
            if runs.count > runStart[i], runs[runs.count - 1] == i {
                runs[runs.count - 1] = i + 1
            } else {
                runs.append(i); runs.append(i + 1)
            }
            bits = set.bits
            while bits != 0 {
                let s = bits.trailingZeroBitCount
                bits &= bits - 1
                length[s] += 1
                last[s] = i
            }
        }
        runStart.append(runs.count)
        self.tokens = tokens
        self.positions = positions
        self.sequences = sequences
        self.historyRuns = runs
        self.historyRunStart = runStart
    }

    public var count: Int { tokens.count }

    /// One sequence, positions 0..<count.
    public init(sequence tokens: [Int32]) throws {
        try self.init(tokens: tokens, positions: Array(tokens.indices),
                      sequences: Array(repeating: .first, count: tokens.count))
    }

    /// The first token that token `i` attends to.
    @inline(__always)
    func firstVisible(_ i: Int) -> Int { historyRuns[historyRunStart[i]] }
}
