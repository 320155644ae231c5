import Foundation
import GGUF
import Testing

@testable import Inference

@Suite struct LlamaModelTests {
    @Test func readsHyperParameters() throws {
        let hp = try Fixture.model("f32").hyperParameters
        #expect(hp.embeddingLength == 64 && hp.layerCount == 2 && hp.headCount == 4 && hp.kvHeadCount == 2)
        #expect(hp.headDimension == 16 && hp.feedForwardLength == 128 && hp.vocabularySize == 256)
        #expect(hp.ropeFrequencyBase == 10000 && hp.addsBOS && hp.bosToken == 1)
    }

    /// F32 weights: llama.cpp multiplies in F32 too, but keeps K and V in an F16 cache and sums in
    /// another order (its SIMD tiles against our 8-lane sums): observed max |Δ| 2.9e-3 on logits of
    /// magnitude ≤ 8. 1e-2 leaves room for other SIMD widths and is still 400 times smaller than the
    /// error of a wrong RoPE pairing (NeoX instead of mode 0 moves these logits by 4.0, measured).
    @Test func f32LogitsMatchLlamaCpp() throws {
        let model = try Fixture.model("f32")
        let reference = try Fixture.referenceLogits("f32")
        let chunks = try PerplexityEvaluator.chunks(tokens: Fixture.tokens(), ctx: Fixture.ctx, addBOS: true, bos: 1)
        #expect(chunks.count == reference.count)
        for (chunk, ref) in zip(chunks, reference) {
            let ours = try model.logits(tokens: chunk, threads: 2)
            #expect(ours.count == ref.count)
            let maxDiff = zip(ours, ref).map { abs($0 - $1) }.max() ?? .infinity
            #expect(maxDiff < 1e-2, "max |Δlogit| \(maxDiff)")
        }
    }

    /// Q8_0 weights: llama.cpp quantizes the activations to Q8_0 before each dot product; we round
    /// them the same way (`ActivationRounding`) but not always to the same integers (its SIMD
    /// quantizer and ours can round a tie or a last-bit difference apart), and one flipped step moves
    /// the next layer's input. Observed max |Δlogit| 0.13 on logits of magnitude ≤ 8; a mis-decoded
    /// weight block would show in the KLD, which must stay below 1e-3 (observed ~4e-4).
    @Test func q8_0LogitsMatchLlamaCppWithinActivationRounding() throws {
        let model = try Fixture.model("q8_0")
        let reference = try Fixture.referenceLogits("q8_0")
        let chunks = try PerplexityEvaluator.chunks(tokens: Fixture.tokens(), ctx: Fixture.ctx, addBOS: true, bos: 1)
        var acc = DivergenceAccumulator()
        for (chunk, ref) in zip(chunks, reference) {
            let ours = try model.logits(tokens: chunk, threads: 2)
            let maxDiff = zip(ours, ref).map { abs($0 - $1) }.max() ?? .infinity
            #expect(maxDiff < 0.4, "max |Δlogit| \(maxDiff)")
            ref.withUnsafeBufferPointer { r in
                ours.withUnsafeBufferPointer { o in
                    for i in 0..<(Fixture.ctx - 1) {
                        acc.add(reference: r.baseAddress! + i * 256, candidate: o.baseAddress! + i * 256, count: 256,
                                next: Int(chunk[i + 1]))
                    }
                }
            }
        }
        let mean = acc.kld.reduce(0, +) / Double(acc.kld.count)
        #expect(mean < 1e-3, "KLD against llama.cpp \(mean)")
    }

    /// Every output value is computed by one worker in a fixed order, so threads change nothing.
    @Test func logitsDoNotDependOnThreadCount() throws {
        let model = try Fixture.model("q8_0")
        let tokens = Array(try Fixture.tokens().prefix(37))
        let one = try model.logits(tokens: tokens, threads: 1)
        let three = try model.logits(tokens: tokens, threads: 3)
        #expect(one == three)
    }

    /// Causality: a position's logits do not depend on the tokens after it.
    @Test func positionsSeeOnlyThePast() throws {
        let model = try Fixture.model("f32")
        let tokens = Array(try Fixture.tokens().prefix(20))
        let full = try model.logits(tokens: tokens, threads: 2)
        let prefix = try model.logits(tokens: Array(tokens.prefix(10)), threads: 2)
        #expect(Array(full.prefix(10 * 256)) == prefix)
    }

    /// Logits from a later position are the same rows as those of the whole chunk.
    @Test func logitsFromAPositionAreTheTailRows() throws {
        let model = try Fixture.model("q8_0")
        let tokens = Array(try Fixture.tokens().prefix(21))
        let full = try model.logits(tokens: tokens, threads: 2)
        let tail = try model.logits(tokens: tokens, threads: 2, from: 13)
        #expect(tail == Array(full[(13 * 256)...]))
        #expect(throws: InferenceError.outputPosition(from: 21, tokens: 21)) {
            try model.logits(tokens: tokens, from: 21)
        }
    }

    @Test func rejectsBadInput() throws {
        let model = try Fixture.model("f32")
        #expect(throws: InferenceError.tokenOutOfRange(token: 256, vocabularySize: 256)) {
            try model.logits(tokens: [1, 256])
        }
        #expect(throws: InferenceError.tokenOutOfRange(token: -1, vocabularySize: 256)) {
            try model.logits(tokens: [-1])
        }
        #expect(throws: InferenceError.emptyInput) { try model.logits(tokens: []) }
    }
}

@Suite struct HyperParameterTests {
    func metadata(_ extra: [GGUFKeyValue]) -> GGUFMetadata {
        GGUFMetadata([
            GGUFKeyValue("general.architecture", .string("llama")),
            GGUFKeyValue("llama.embedding_length", .uint32(64)),
            GGUFKeyValue("llama.block_count", .uint32(1)),
            GGUFKeyValue("llama.attention.head_count", .uint32(4)),
            GGUFKeyValue("llama.feed_forward_length", .uint32(128)),
        ] + extra)
    }

    /// Without `add_bos_token`, BOS follows llama.cpp's per-vocabulary default.
    @Test func bosDefaultsFollowLlamaCpp() throws {
        func adds(_ kv: [GGUFKeyValue]) throws -> Bool {
            try LlamaHyperParameters(metadata: metadata(kv), vocabularySize: 10).addsBOS
        }
        #expect(try adds([GGUFKeyValue("tokenizer.ggml.model", .string("llama"))]))
        #expect(try !adds([GGUFKeyValue("tokenizer.ggml.model", .string("gpt2")),
                           GGUFKeyValue("tokenizer.ggml.pre", .string("smollm"))]))
        #expect(try adds([GGUFKeyValue("tokenizer.ggml.model", .string("gpt2")),
                          GGUFKeyValue("tokenizer.ggml.pre", .string("llama-bpe"))]))
        #expect(try !adds([GGUFKeyValue("tokenizer.ggml.model", .string("llama")),
                           GGUFKeyValue("tokenizer.ggml.add_bos_token", .bool(false))]))
    }

    @Test func defaultsAndRefusals() throws {
        let hp = try LlamaHyperParameters(metadata: metadata([]), vocabularySize: 10)
        #expect(hp.kvHeadCount == 4 && hp.headDimension == 16 && hp.ropeDimensions == 16)
        #expect(hp.ropeFrequencyBase == 10000 && hp.rmsEpsilon == 1e-5)
        #expect(throws: InferenceError.unsupportedArchitecture("gptneox")) {
            try LlamaHyperParameters(
                metadata: GGUFMetadata([GGUFKeyValue("general.architecture", .string("gptneox"))]), vocabularySize: 10)
        }
        #expect(throws: InferenceError.missingKey("llama.feed_forward_length")) {
            try LlamaHyperParameters(
                metadata: GGUFMetadata(metadata([]).entries.filter { $0.key != "llama.feed_forward_length" }),
                vocabularySize: 10)
        }
    }
}

@Suite struct QwenTests {
    /// One-layer Qwen2 (q/k/v biases, NeoX RoPE) and Qwen3 (per-head q/k RMSNorm, q wider than the
    /// embedding, NeoX RoPE), F32, against llama.cpp's logits for the first chunk. Same tolerance
    /// and reasoning as `f32LogitsMatchLlamaCpp`.
    @Test(arguments: ["qwen2", "qwen3"])
    func logitsMatchLlamaCpp(arch: String) throws {
        let model = try LlamaModel(path: Fixture.path("tiny-\(arch)-f32.gguf"))
        #expect(model.hyperParameters.ropeNeoX)
        let reference = try Fixture.floats(file: "logits-\(arch).bin")
        let chunk = try PerplexityEvaluator.chunks(tokens: Fixture.tokens(), ctx: Fixture.ctx, addBOS: true, bos: 1)[0]
        let ours = try model.logits(tokens: chunk, threads: 2)
        #expect(ours.count == reference.count)
        let maxDiff = zip(ours, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(maxDiff < 1e-2, "max |Δlogit| \(maxDiff)")
    }
}
