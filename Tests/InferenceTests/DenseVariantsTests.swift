import Foundation
import GGUF
import Testing

@testable import Inference

/// The dense variations of the Llama layer (OLMo2, Granite, SmolLM3, EXAONE4, GLM4, Gemma2) (scripts/inference/make_dense_fixture.py: random F32 weights
/// written with gguf-py, the 600-piece SentencePiece vocabulary) against llama.cpp's logits for two
/// 64-token perplexity chunks.
@Suite struct DenseVariantsTests {
    @Test(arguments: ["olmo2", "granite", "smollm3", "exaone4", "glm4", "gemma2"])
    func logitsMatchLlamaCpp(family: String) throws {
        let (kld, top1, maxDiff, _) = try MixtureOfExpertsTests.compare(model: "tiny-\(family)-f32.gguf", reference: family)
        #expect(kld < 1e-4, "KLD against llama.cpp \(kld)")
        #expect(top1 >= 0.99, "top-1 agreement \(top1)")
        #expect(maxDiff < 0.05, "max |Δlogit| \(maxDiff)")
    }

    /// The keys and per-architecture constants as llama.cpp reads and sets them.
    @Test func readsHyperParameters() throws {
        func hp(_ family: String) throws -> LlamaHyperParameters {
            try LlamaModel(path: Fixture.path("tiny-\(family)-f32.gguf")).hyperParameters
        }
        let olmo2 = try hp("olmo2")
        #expect(!olmo2.hasPreNorms && olmo2.hasPostNorms && olmo2.qkNormSpansHeads && olmo2.ropeNeoX)
        let granite = try hp("granite")
        #expect(granite.embeddingScale == 4 && granite.attentionScale == 1.0 / 16 && granite.residualScale == 0.5)
        #expect(granite.logitScale == 2 && !granite.ropeNeoX && granite.hasPreNorms && !granite.hasPostNorms)
        let smollm3 = try hp("smollm3")
        #expect((0..<4).map { smollm3.usesRope(layer: $0) } == [true, true, true, false] && !smollm3.ropeNeoX)
        let exaone4 = try hp("exaone4")
        #expect(!exaone4.hasPreNorms && exaone4.hasPostNorms && !exaone4.qkNormSpansHeads && exaone4.ropeNeoX)
        let glm4 = try hp("glm4")
        #expect(glm4.hasPreNorms && glm4.hasPostNorms && glm4.ropeDimensions == 8 && glm4.headDimension == 16)
        #expect(!glm4.ropeNeoX)
        let gemma2 = try hp("gemma2")
        #expect(gemma2.slidingWindow == 8 && gemma2.slidingLayers == [true, false] && gemma2.ropeNeoX)
        #expect(gemma2.attentionLogitSoftcap == 2 && gemma2.finalLogitSoftcap == 15 && gemma2.embeddingScale == 8)
        #expect(gemma2.attentionScale == 0.25 && gemma2.ropeFrequencyBaseSliding == gemma2.ropeFrequencyBase)
    }

    func metadata(_ arch: String, _ extra: [GGUFKeyValue]) -> GGUFMetadata {
        GGUFMetadata([
            GGUFKeyValue("general.architecture", .string(arch)),
            GGUFKeyValue("\(arch).embedding_length", .uint32(64)),
            GGUFKeyValue("\(arch).block_count", .uint32(2)),
            GGUFKeyValue("\(arch).attention.head_count", .uint32(4)),
            GGUFKeyValue("\(arch).feed_forward_length", .uint32(96)),
        ] + extra)
    }

    /// What this pass does not compute the way llama.cpp would is refused, naming the key.
    @Test func refusesWhatItDoesNotImplement() throws {
        func hp(_ arch: String, _ kv: [GGUFKeyValue]) throws -> LlamaHyperParameters {
            try LlamaHyperParameters(metadata: metadata(arch, kv), vocabularySize: 10)
        }
        #expect(throws: InferenceError.missingKey("granite.logit_scale")) { try hp("granite", []) }
        // OLMo3 is olmo2 with sliding-window layers.
        #expect(throws: InferenceError.invalidHyperparameter(key: "olmo2.attention.sliding_window", value: 4096)) {
            try hp("olmo2", [GGUFKeyValue("olmo2.attention.sliding_window", .uint32(4096))])
        }
        // Gemma2's defaults: window 4096 on every other layer, scores capped at 50, logits at 30.
        let gemma2 = try hp("gemma2", [])
        #expect(gemma2.slidingWindow == 4096 && gemma2.slidingLayers == [true, false])
        #expect(gemma2.attentionLogitSoftcap == 50 && gemma2.finalLogitSoftcap == 30)
        // Partial RoPE is GLM4's only; GLM-4V's sectioned RoPE is not implemented.
        #expect(throws: InferenceError.invalidHyperparameter(key: "olmo2.rope.dimension_count", value: 8)) {
            try hp("olmo2", [GGUFKeyValue("olmo2.rope.dimension_count", .uint32(8))])
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "glm4.rope.dimension_sections", value: 4)) {
            try hp("glm4", [GGUFKeyValue("glm4.rope.dimension_sections", .array(.int32, [.int32(4), .int32(2), .int32(2), .int32(0)]))])
        }
        // MTP layers are counted in block_count but not run.
        let nextN = try hp("exaone4", [GGUFKeyValue("exaone4.nextn_predict_layers", .uint32(1))])
        #expect(nextN.layerCount == 1)
        #expect(throws: InferenceError.invalidHyperparameter(key: "exaone4.nextn_predict_layers", value: 2)) {
            try hp("exaone4", [GGUFKeyValue("exaone4.nextn_predict_layers", .uint32(2))])
        }
    }
}
