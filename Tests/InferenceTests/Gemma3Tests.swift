import Foundation
import GGUF
import Testing

@testable import Inference

/// The tiny Gemma3 of `Fixtures/` (scripts/inference/make_gemma3_fixture.py: transformers'
/// Gemma3ForCausalLM with random weights, converted by llama.cpp's convert_hf_to_gguf.py to F16) against
/// llama.cpp's logits for two 64-token perplexity chunks.
@Suite struct Gemma3Tests {
    static let vocabulary = 400

    func model() throws -> LlamaModel { try LlamaModel(path: Fixture.path("tiny-gemma3-f16.gguf")) }

    func chunks() throws -> [[Int32]] {
        let text = try String(contentsOfFile: Fixture.path("tokens-gemma3.txt"), encoding: .utf8)
        let tokens = text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        return Array(try PerplexityEvaluator.chunks(tokens: tokens, ctx: Fixture.ctx, addBOS: true, bos: 1).prefix(2))
    }

    /// The keys as llama.cpp reads them: window 8 on layers 0-4 (default period 6), layer 5 global with
    /// the file's rope base, the sliding layers with `rope.freq_base_swa`; queries scaled by 1/sqrt(32).
    @Test func readsHyperParameters() throws {
        let hp = try model().hyperParameters
        #expect(hp.architecture == "gemma3" && hp.layerCount == 6 && hp.headDimension == 32 && hp.kvHeadCount == 2)
        #expect(hp.slidingWindow == 8 && hp.slidingLayers == [true, true, true, true, true, false])
        #expect(hp.ropeFrequencyBase == 1_000_000 && hp.ropeFrequencyBaseSliding == 10000 && hp.ropeNeoX)
        #expect(hp.embeddingScale == 8 && hp.attentionScale == 1 / Float(32).squareRoot())
        #expect(hp.finalLogitSoftcap == 15 && hp.vocabularySize == Self.vocabulary)
    }

    /// The forward pass's bar: KLD against llama.cpp < 1e-4 mean, top-1 ≥ 99.5%. Both sides round activations
    /// to F16 for the F16 weights; llama.cpp also keeps K/V in an F16 cache, which we do not.
    /// Measured when written: KLD 9.8e-8, max |Δlogit| 0.0098; attending to the whole chunk on the
    /// sliding layers instead gives KLD 0.072 and max |Δlogit| 10 (the window of 8 cuts every chunk).
    @Test func logitsMatchLlamaCpp() throws {
        let model = try model()
        let (mean, top1, maxDiff, _) = try Fixture.compareLogits(model, chunks: chunks(), reference: Fixture.floats(file: "logits-gemma3.bin"),
                                                                 vocabulary: Self.vocabulary)
        #expect(mean < 1e-4, "KLD against llama.cpp \(mean)")
        #expect(top1 >= 0.995, "top-1 agreement \(top1)")
        #expect(maxDiff < 0.05, "max |Δlogit| \(maxDiff)")
        print("gemma3 vs llama.cpp: KLD mean \(mean), top-1 \(top1), max |Δlogit| \(maxDiff)")
    }

    func metadata(_ extra: [GGUFKeyValue]) -> GGUFMetadata {
        GGUFMetadata([
            GGUFKeyValue("general.architecture", .string("gemma3")),
            GGUFKeyValue("gemma3.embedding_length", .uint32(64)),
            GGUFKeyValue("gemma3.block_count", .uint32(4)),
            GGUFKeyValue("gemma3.attention.head_count", .uint32(4)),
            GGUFKeyValue("gemma3.feed_forward_length", .uint32(128)),
        ] + extra)
    }

    /// llama_hparams::set_swa_pattern and the keys' absence, as llama.cpp reads them.
    @Test func slidingWindowPatterns() throws {
        func hp(_ kv: [GGUFKeyValue]) throws -> LlamaHyperParameters {
            try LlamaHyperParameters(metadata: metadata(kv), vocabularySize: 10)
        }
        let none = try hp([])
        #expect(none.slidingWindow == 0 && !(0..<4).contains { none.isSliding(layer: $0) })
        #expect(none.finalLogitSoftcap == 0 && none.embeddingScale == 8)
        let window = GGUFKeyValue("gemma3.attention.sliding_window", .uint32(16))
        #expect(try hp([window]).slidingLayers == [true, true, true, true])  // period 6: layer 5 would be global
        let period2 = try hp([window, GGUFKeyValue("gemma3.attention.sliding_window_pattern", .uint32(2))])
        #expect(period2.slidingLayers == [true, false, true, false])
        let flags = try hp([window, GGUFKeyValue("gemma3.attention.sliding_window_pattern",
                                                 .array(.bool, [.bool(false), .bool(true), .bool(true), .bool(false)]))])
        #expect(flags.slidingLayers == [false, true, true, false] && flags.isSliding(layer: 1) && !flags.isSliding(layer: 3))
        #expect(throws: InferenceError.invalidHyperparameter(key: "gemma3.attention.sliding_window_pattern", value: 2)) {
            try hp([window, GGUFKeyValue("gemma3.attention.sliding_window_pattern", .array(.bool, [.bool(true), .bool(true)]))])
        }
    }
}
