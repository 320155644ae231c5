import Foundation
import Testing

@testable import Inference

/// Several sequences in one forward pass (`TokenBatch`): every sequence's rows must be those of a
/// pass over it alone, bit for bit (attention sums the same terms in the same order; every other
/// step works row by row), on each attention variant: plain causal GQA, a sliding window counted in
/// positions (Gemma3: window 8, shorter than the sequences), attention sinks with a window
/// (gpt-oss), multi-head latent attention (DeepSeek2), and Q8_0 weights with ggml's activation
/// rounding.
@Suite struct TokenBatchTests {
    /// Two items as llama-perplexity packs them: the first a shared prefix and three endings (ids 0-2),
    /// the second a shared prefix of its own and two endings (ids 3-4). Long enough that attention's
    /// query blocks (16 or 32 tokens) straddle items and endings.
    struct Packed {
        var batch: TokenBatch
        /// Each sequence alone, and the batch index of each of its tokens.
        var sequences: [[Int32]]
        var indices: [[Int]]
    }

    static func packed(_ source: [Int32]) throws -> Packed {
        func take(_ from: Int, _ count: Int) -> [Int32] { (0..<count).map { source[(from + $0) % source.count] } }
        let items: [(prefix: [Int32], endings: [[Int32]])] = [
            (take(0, 19), [take(30, 7), take(40, 13), take(60, 9)]),
            (take(80, 11), [take(100, 15), take(120, 4)]),
        ]
        var tokens: [Int32] = [], positions: [Int] = [], sets: [TokenBatch.Sequences] = []
        var sequences: [[Int32]] = [], indices: [[Int]] = []
        var id = 0
        for item in items {
            let shared = try TokenBatch.Sequences(id..<(id + item.endings.count))
            let prefixIndices = Array(tokens.count..<(tokens.count + item.prefix.count))
            for (p, t) in item.prefix.enumerated() { tokens.append(t); positions.append(p); sets.append(shared) }
            for ending in item.endings {
                var own = prefixIndices
                for (k, t) in ending.enumerated() {
                    own.append(tokens.count)
                    tokens.append(t); positions.append(item.prefix.count + k); sets.append(try .init([id]))
                }
                sequences.append(item.prefix + ending)
                indices.append(own)
                id += 1
            }
        }
        return Packed(batch: try TokenBatch(tokens: tokens, positions: positions, sequences: sets),
                      sequences: sequences, indices: indices)
    }

    func expectPackedRowsMatchAlone(_ file: String, tokens source: [Int32], threads: Int = 2) throws {
        let model = try LlamaModel(path: Fixture.path(file))
        let n = model.vocabularySize
        let packed = try Self.packed(source.map { $0 % Int32(n) })
        var all: [Float] = []
        try model.logits(batch: packed.batch, outputs: Array(0..<packed.batch.count), threads: threads, into: &all)
        #expect(all.count == packed.batch.count * n)
        for (s, sequence) in packed.sequences.enumerated() {
            let alone = try model.logits(tokens: sequence, threads: threads)
            for (p, index) in packed.indices[s].enumerated() {
                let batched = Array(all[(index * n)..<((index + 1) * n)])
                let own = Array(alone[(p * n)..<((p + 1) * n)])
                let same = batched == own
                let largest = zip(batched, own).map { abs($0 - $1) }.max() ?? 0
                #expect(same, "\(file): sequence \(s) position \(p) (batch token \(index)): max |Δlogit| \(largest)")
                if !same { return }
            }
        }
        // Rows asked for in any order are the same rows.
        let picked = [packed.batch.count - 1, 3, 40]
        var some = [Float](repeating: .nan, count: (picked.count + 2) * n)
        try model.logits(batch: packed.batch, outputs: picked, threads: threads, into: &some)
        #expect(some.count == (picked.count + 2) * n && some[picked.count * n].isNaN, "a longer array keeps its size and its rows past the outputs")
        for (r, index) in picked.enumerated() {
            #expect(Array(some[(r * n)..<((r + 1) * n)]) == Array(all[(index * n)..<((index + 1) * n)]))
        }
    }

    @Test func llamaF32() throws { try expectPackedRowsMatchAlone("tiny-llama-f32.gguf", tokens: Fixture.tokens()) }
    @Test func llamaQ8WithActivationRounding() throws {
        try expectPackedRowsMatchAlone("tiny-llama-q8_0.gguf", tokens: Fixture.tokens(), threads: 3)
    }
    @Test func gemma3SlidingWindowInPositions() throws {
        try expectPackedRowsMatchAlone("tiny-gemma3-f16.gguf", tokens: Fixture.tokens())
    }
    @Test func gptOssSinksAndWindow() throws { try expectPackedRowsMatchAlone("tiny-gptoss-f32.gguf", tokens: Fixture.tokens()) }
    @Test func deepseek2LatentAttention() throws {
        try expectPackedRowsMatchAlone("tiny-deepseek2-f32.gguf", tokens: Fixture.tokens())
    }
    @Test func qwen3MoE() throws { try expectPackedRowsMatchAlone("tiny-qwen3moe-q8_0.gguf", tokens: Fixture.tokens()) }

    /// One token of one sequence is a plain pass.
    @Test func singleSequenceIsAPlainPass() throws {
        let model = try Fixture.model("f32")
        let tokens = Array(try Fixture.tokens().prefix(45))
        var out: [Float] = []
        try model.logits(batch: TokenBatch(sequence: tokens), outputs: Array(tokens.indices), threads: 2, into: &out)
        #expect(out == (try model.logits(tokens: tokens, threads: 2)))
    }

    /// Layouts that are not complete sequences, and bad outputs, are refused with the token at fault.
    @Test func refusesInvalidLayouts() throws {
        func reason(_ positions: [Int], _ sets: [[Int]]) -> String? {
            do {
                _ = try TokenBatch(tokens: positions.map { _ in 1 }, positions: positions,
                                   sequences: sets.map { try TokenBatch.Sequences($0) })
                return nil
            } catch let InferenceError.invalidBatch(reason) {
                return reason
            } catch {
                return "\(error)"
            }
        }
        #expect(reason([0, 1, 1, 2], [[0, 1], [0, 1], [0], [1]]) != nil)  // sequence 1 skips position 1
        #expect(reason([0, 1, 1], [[0, 1], [0], [1]]) == nil)
        #expect(reason([1], [[0]])?.contains("token 0 is at position 1") == true)
        #expect(reason([0, 1, 2], [[0, 1], [0], [0, 1]])?.contains("token 2") == true)  // diverged, then shared
        #expect(reason([0, 1, 1, 2], [[0, 1], [0], [1], [0, 1]])?.contains("do not share token 1") == true)
        #expect(reason([0], [[]])?.contains("no sequence") == true)
        #expect(reason([0], [[128]])?.contains("128") == true)
        #expect(reason([0, 1], [[0, 127], [127]]) == nil)
        #expect(reason([0, 1], [[0]]) != nil)  // counts differ
        #expect(throws: InferenceError.emptyInput) { try TokenBatch(sequence: []) }
        let model = try Fixture.model("f32")
        let batch = try TokenBatch(sequence: [1, 2, 3])
        var out: [Float] = []
        #expect(throws: InferenceError.self) { try model.logits(batch: batch, outputs: [3], into: &out) }
        #expect(throws: InferenceError.self) { try model.logits(batch: batch, outputs: [], into: &out) }
        #expect(throws: InferenceError.tokenOutOfRange(token: 256, vocabularySize: 256)) {
            try model.logits(batch: TokenBatch(sequence: [1, 256]), outputs: [0], into: &out)
        }
    }
}
