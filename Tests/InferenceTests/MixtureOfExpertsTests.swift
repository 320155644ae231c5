import Foundation
import GGUF
import Testing

@testable import Inference

/// The tiny MoE models of `Fixtures/` (scripts/inference/make_moe_fixture.py: qwen3moe, Mixtral, OLMoE,
/// Qwen2-MoE, GLM4-MoE and gpt-oss, random F32 weights written with gguf-py, 8 experts of which 2 are used, the 600-piece SentencePiece vocabulary) against
/// llama.cpp's logits for two 64-token perplexity chunks, and the qwen3moe and qwen2moe models'
/// importance matrices against llama-imatrix's.
@Suite struct MixtureOfExpertsTests {
    static let vocabulary = 600

    static func tokens() throws -> [Int32] {
        let text = try String(contentsOfFile: Fixture.path("tokens-moe.txt"), encoding: .utf8)
        return text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
    }

    static func reference(_ name: String) throws -> [Float] { try Fixture.floats(file: "logits-\(name).bin") }

    /// Mean KLD of our logits against llama.cpp's over every position but the last of each chunk,
    /// top-1 agreement, the largest logit difference, and each position's KLD.
    static func compare(model file: String, reference name: String)
        throws -> (kld: Double, top1: Double, maxDiff: Float, positions: [Double])
    {
        let model = try LlamaModel(path: Fixture.path(file))
        let hp = model.hyperParameters
        let chunks = Array(try PerplexityEvaluator.chunks(tokens: tokens(), ctx: Fixture.ctx, addBOS: hp.addsBOS,
                                                          bos: hp.bosToken).prefix(2))
        let result = try Fixture.compareLogits(model, chunks: chunks, reference: reference(name), vocabulary: vocabulary)
        let median = result.positions.sorted()[result.positions.count / 2]
        print("\(file) vs llama.cpp: KLD mean \(result.kld), median \(median), top-1 \(result.top1), max |Δlogit| \(result.maxDiff)")
        return result
    }

    @Test(arguments: ["qwen3moe", "mixtral", "olmoe", "qwen2moe", "glm4moe", "gptoss"])
    func logitsMatchLlamaCpp(family: String) throws {
        let (kld, top1, maxDiff, _) = try Self.compare(model: "tiny-\(family)-f32.gguf", reference: family)
        #expect(kld < 1e-4, "KLD against llama.cpp \(kld)")
        #expect(top1 >= 0.99, "top-1 agreement \(top1)")
        #expect(maxDiff < 0.05, "max |Δlogit| \(maxDiff)")
    }

    /// llama-quantize's Q8_0 of the qwen3moe model: the experts' 3-D tensors are Q8_0, each expert's
    /// slice multiplied with activations rounded to Q8_0 as ggml's mul_mat_id does. As for dense Q8_0
    /// (LlamaModelTests), our rounding and ggml's SIMD quantizer can put a value one step apart, so
    /// the typical position differs by ~2e-4, not 1e-7; and where two experts' probabilities nearly
    /// tie, such a step can change the choice: at one of these 126 positions llama.cpp's own Q8_0
    /// and F32 runs pick different experts (KLD 0.1 between them), and ours lands on the F32 side
    /// (KLD 0.097). A mis-read expert slice would raise every position's KLD, so the median is held
    /// to 5e-4 and at most 2 positions may differ by more than 0.01.
    @Test func quantizedExpertsMatchLlamaCpp() throws {
        let model = try LlamaModel(path: Fixture.path("tiny-qwen3moe-q8_0.gguf"))
        #expect(model.weights.tensor(named: "blk.0.ffn_up_exps.weight")?.type == .q8_0)
        #expect(model.weights.tensor(named: "blk.0.ffn_down_exps.weight")?.type == .q8_0)
        let (kld, top1, _, positions) = try Self.compare(model: "tiny-qwen3moe-q8_0.gguf", reference: "qwen3moe-q8_0")
        let median = positions.sorted()[positions.count / 2]
        #expect(median < 5e-4, "median KLD against llama.cpp \(median)")
        #expect(positions.filter { $0 > 0.01 }.count <= 2, "positions routed differently")
        #expect(kld < 2e-3, "KLD against llama.cpp \(kld)")
        #expect(top1 >= 0.95, "top-1 agreement \(top1)")
    }

    /// One expert per thread (many experts with tokens) or each matmul split (few): every output row
    /// is computed the same way, so the logits are bit-identical for any thread count.
    @Test func logitsDoNotDependOnTheThreadCount() throws {
        let model = try LlamaModel(path: Fixture.path("tiny-qwen2moe-f32.gguf"))
        let chunk = Array(try Self.tokens().prefix(Fixture.ctx))
        let one = try model.logits(tokens: chunk, threads: 1)
        #expect(try model.logits(tokens: chunk, threads: 2) == one)
        #expect(try model.logits(tokens: chunk, threads: 3) == one)
        // Two tokens route to at most 4 experts: fewer than 2 × 3 threads, so the matmuls are split.
        let short = Array(chunk.prefix(2))
        #expect(try model.logits(tokens: short, threads: 3) == model.logits(tokens: short, threads: 1))
    }

    /// The keys as llama.cpp reads them for each family.
    @Test func readsHyperParameters() throws {
        let qwen3 = try LlamaModel(path: Fixture.path("tiny-qwen3moe-f32.gguf")).hyperParameters
        #expect(qwen3.expertCount == 8 && qwen3.expertsUsed == 2 && qwen3.expertFeedForwardLength == 32)
        #expect(qwen3.normalizesExpertWeights && !qwen3.qkNormSpansHeads && qwen3.ropeNeoX && qwen3.headDimension == 32)
        #expect(qwen3.sharedExpertFeedForwardLength == 0)
        let mixtral = try LlamaModel(path: Fixture.path("tiny-mixtral-f32.gguf")).hyperParameters
        #expect(mixtral.architecture == "llama" && mixtral.expertFeedForwardLength == 32)
        #expect(mixtral.normalizesExpertWeights && !mixtral.ropeNeoX)
        let olmoe = try LlamaModel(path: Fixture.path("tiny-olmoe-f32.gguf")).hyperParameters
        #expect(!olmoe.normalizesExpertWeights && olmoe.qkNormSpansHeads && olmoe.ropeNeoX)
        let qwen2 = try LlamaModel(path: Fixture.path("tiny-qwen2moe-f32.gguf")).hyperParameters
        #expect(!qwen2.normalizesExpertWeights && qwen2.sharedExpertFeedForwardLength == 64)
        let glm = try LlamaModel(path: Fixture.path("tiny-glm4moe-f32.gguf")).hyperParameters
        #expect(glm.layerCount == 2 && glm.leadingDenseLayers == 1 && !glm.hasExperts(layer: 0) && glm.hasExperts(layer: 1))
        #expect(glm.expertGating == .sigmoid && glm.normalizesExpertWeights && glm.expertWeightsScale == 2.5)
        #expect(glm.sharedExpertFeedForwardLength == 32 && glm.ropeDimensions == 8 && glm.ropeNeoX)
        let oss = try LlamaModel(path: Fixture.path("tiny-gptoss-f32.gguf")).hyperParameters
        #expect(oss.expertGating == .softmaxOfSelected && !oss.normalizesExpertWeights && oss.ffnNormIsPostAttentionNorm)
        #expect(oss.slidingWindow == 8 && oss.slidingLayers == [true, false] && oss.ropeFrequencyScale == 1.0 / 32)
        // llama.cpp's yarn_attn_factor: (0.1 ln 32 + 1) / (1 + 0.1 ln 32), 1 up to rounding.
        #expect(oss.ropeYarn?.originalContext == 4096 && abs((oss.ropeYarn?.attentionFactor ?? 0) - 1) < 1e-6)
    }

    /// Softmax, top-k and renormalisation on logits whose probabilities are known exactly:
    /// e^[0, ln 2, ln 4, 0, ln 3] ∝ [1, 2, 4, 1, 3] / 11.
    @Test func routingPicksTheLargestProbabilities() {
        var logits: [Float] = [0, logf(2), logf(4), 0, logf(3)]
        let plain = logits.withUnsafeMutableBufferPointer {
            ExpertRouting(logits: $0.baseAddress!, tokens: 1, experts: 5, used: 2, normalize: false)
        }
        #expect(plain.selected == [2, 4])
        #expect(abs(plain.weights[0] - 4 / 11) < 1e-6 && abs(plain.weights[1] - 3 / 11) < 1e-6)
        #expect(plain.members.map(\.count) == [0, 0, 1, 0, 1] && plain.members[2] == [0] && plain.members[4] == [1])
        logits = [0, logf(2), logf(4), 0, logf(3)]
        let normed = logits.withUnsafeMutableBufferPointer {
            ExpertRouting(logits: $0.baseAddress!, tokens: 1, experts: 5, used: 2, normalize: true)
        }
        #expect(abs(normed.weights[0] - 4 / 7) < 1e-6 && abs(normed.weights[1] - 3 / 7) < 1e-6)
        // Sigmoid gating with a selection bias (GLM4-MoE): σ([0, 0, ln 3, -ln 3]) = [1/2, 1/2, 3/4, 1/4];
        // the bias 0.3 on expert 0 makes it first (0.8), expert 2 second; the weights are the unbiased
        // 1/2 and 3/4, renormalised to 2/5 and 3/5, times 2.5.
        var sigmoidLogits: [Float] = [0, 0, logf(3), -logf(3)]
        let biased = sigmoidLogits.withUnsafeMutableBufferPointer {
            ExpertRouting(logits: $0.baseAddress!, tokens: 1, experts: 4, used: 2, normalize: true, gating: .sigmoid,
                          bias: [0.3, 0, 0, 0], scale: 2.5)
        }
        #expect(biased.selected == [0, 2])
        #expect(abs(biased.weights[0] - 1.0) < 1e-6 && abs(biased.weights[1] - 1.5) < 1e-6)
        // Equal probabilities: the lower expert first, as a stable descending sort gives.
        var ties: [Float] = [1, 1, 1, 1]
        let tied = ties.withUnsafeMutableBufferPointer {
            ExpertRouting(logits: $0.baseAddress!, tokens: 1, experts: 4, used: 3, normalize: false)
        }
        #expect(tied.selected == [0, 1, 2])
        // gpt-oss: chosen by logit, weighted by a softmax over the chosen: [ln 1, ln 3] -> 1/4, 3/4.
        var oss: [Float] = [0, -1, logf(3), -2]
        let selectedSoftmax = oss.withUnsafeMutableBufferPointer {
            ExpertRouting(logits: $0.baseAddress!, tokens: 1, experts: 4, used: 2, normalize: false,
                          gating: .softmaxOfSelected)
        }
        #expect(selectedSoftmax.selected == [2, 0])
        #expect(abs(selectedSoftmax.weights[0] - 0.75) < 1e-6 && abs(selectedSoftmax.weights[1] - 0.25) < 1e-6)
    }

    func metadata(_ arch: String, _ extra: [GGUFKeyValue]) -> GGUFMetadata {
        GGUFMetadata([
            GGUFKeyValue("general.architecture", .string(arch)),
            GGUFKeyValue("\(arch).embedding_length", .uint32(64)),
            GGUFKeyValue("\(arch).block_count", .uint32(2)),
            GGUFKeyValue("\(arch).attention.head_count", .uint32(4)),
        ] + extra)
    }

    /// Routing keys that llama.cpp refuses are refused, naming the key.
    @Test func invalidRoutingKeysAreRefused() throws {
        func hp(_ arch: String, _ kv: [GGUFKeyValue]) throws -> LlamaHyperParameters {
            try LlamaHyperParameters(metadata: metadata(arch, kv), vocabularySize: 10)
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "qwen3moe.expert_used_count", value: 9)) {
            try hp("qwen3moe", [GGUFKeyValue("qwen3moe.expert_count", .uint32(8)),
                                GGUFKeyValue("qwen3moe.expert_used_count", .uint32(9)),
                                GGUFKeyValue("qwen3moe.expert_feed_forward_length", .uint32(32))])
        }
        #expect(throws: InferenceError.missingKey("qwen3moe.expert_used_count")) {
            try hp("qwen3moe", [GGUFKeyValue("qwen3moe.expert_count", .uint32(8))])
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "olmoe.expert_count", value: 0)) {
            try hp("olmoe", [GGUFKeyValue("olmoe.feed_forward_length", .uint32(32))])
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "llama.expert_count", value: 513)) {
            try hp("llama", [GGUFKeyValue("llama.feed_forward_length", .uint32(32)),
                             GGUFKeyValue("llama.expert_count", .uint32(513)),
                             GGUFKeyValue("llama.expert_used_count", .uint32(2))])
        }
        // No expert_feed_forward_length: llama.cpp's default feed_forward_length / expert_used_count.
        let qwen2 = try hp("qwen2moe", [GGUFKeyValue("qwen2moe.feed_forward_length", .uint32(128)),
                                        GGUFKeyValue("qwen2moe.expert_count", .uint32(8)),
                                        GGUFKeyValue("qwen2moe.expert_used_count", .uint32(4))])
        #expect(qwen2.expertFeedForwardLength == 32 && qwen2.sharedExpertFeedForwardLength == 128)
        // A dense Llama keeps its dense FFN.
        let llama = try hp("llama", [GGUFKeyValue("llama.feed_forward_length", .uint32(128))])
        #expect(llama.expertCount == 0)
    }

    /// llama-imatrix's statistics (`-c 64 -b 64`, the whole text): for every `*_exps` tensor a row of
    /// sums and a count per expert, for the dense ones (attention, router, Qwen2-MoE's shared expert
    /// and its one-row gate) one of each. Counts equal; sums within 1e-4 relative (both passes compute
    /// the same activations up to float rounding in a different order).
    @Test(arguments: [("qwen3moe", 0), ("qwen2moe", 4)])
    func expertImatrixMatchesLlamaImatrix(family: String, sharedTensorsPerLayer: Int) throws {
        let model = try LlamaModel(path: Fixture.path("tiny-\(family)-f32.gguf"))
        let run = try ImatrixRun.collect(model: model, tokens: Self.tokens(), ctx: Fixture.ctx, threads: 2)
        let reference = try GGUFFile(path: Fixture.path("tiny-\(family).imatrix.gguf"))
        #expect(reference.metadata["imatrix.chunk_count"] == .uint32(UInt32(run.chunks)))
        let floats = Fixture.floats(_:)
        var names: [String] = []
        var worst = 0.0
        var expertTensors = 0, sharedTensors = 0
        for tensor in reference.tensors where tensor.name.hasSuffix(".in_sum2") {
            let name = String(tensor.name.dropLast(8))
            names.append(name)
            guard let entry = run.entries.first(where: { $0.name == name }),
                  let countInfo = reference.header.tensor(named: name + ".counts")
            else {
                Issue.record("\(name): missing")
                continue
            }
            let sums = floats(reference.data(for: tensor)), counts = floats(reference.data(for: countInfo))
            if name.hasSuffix("_exps.weight") {
                expertTensors += 1
                #expect(tensor.dimensions.count == 2 && tensor.dimensions[1] == 8, "\(name) \(tensor.dimensions)")
                #expect(counts.count == 8 && counts.reduce(0, +) == Float(2 * run.chunks * Fixture.ctx))
            }
            if name.contains("_shexp.") { sharedTensors += 1 }
            #expect(entry.counts.map { Float($0) } == counts, "\(name) counts")
            #expect(entry.sums.count == sums.count, "\(name) size")
            for (a, b) in zip(entry.sums, sums) {
                worst = max(worst, Double(abs(a - b)) / max(Double(abs(b)), 1e-30))
            }
        }
        #expect(expertTensors == 6, "gate/up/down experts × 2 layers")
        #expect(sharedTensors == 2 * sharedTensorsPerLayer, "shared-expert matrices and gate × 2 layers")
        #expect(run.entries.map(\.name) == names, "the same tensors in the same order")
        #expect(worst < 1e-4, "largest relative difference \(worst)")
        print("\(family) imatrix vs llama-imatrix: largest relative difference \(worst), \(run.chunks) chunks")
    }
}
