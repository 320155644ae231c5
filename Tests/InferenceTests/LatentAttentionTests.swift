import Foundation
import GGUF
import Testing

@testable import Inference

/// The tiny DeepSeek2 model of `Fixtures/` (scripts/inference/make_mla_fixture.py: convert_hf_to_gguf.py's
/// layout of a DeepSeek-V3 folder — q_lora, multi-head latent attention with attn_k_b / attn_v_b, YaRN
/// with yarn_log_multiplier, 8 experts in 2 groups of which 1 is used, sigmoid routing with a selection
/// bias, weights renormalised and scaled by 2.5, a shared expert, a dense first layer — with random
/// weights) against llama.cpp's logits from both of its attention paths, and its importance matrix
/// against llama-imatrix's.
@Suite struct LatentAttentionTests {
    @Test(arguments: ["deepseek2", "deepseek2-noflash"])
    func logitsMatchLlamaCpp(reference: String) throws {
        let (kld, top1, maxDiff, _) = try MixtureOfExpertsTests.compare(model: "tiny-deepseek2-f32.gguf",
                                                                        reference: reference)
        print("deepseek2 vs logits-\(reference).bin: KLD \(kld)")
        #expect(kld < 1e-4, "KLD against llama.cpp \(kld)")
        #expect(top1 >= 0.99, "top-1 agreement \(top1)")
        #expect(maxDiff < 0.05, "max |Δlogit| \(maxDiff)")
    }

    /// llama-quantize's Q8_0 of the model: attn_v_b's per-head slices are Q8_0 and attn_k_b's F16 (its
    /// 16-wide rows cannot be Q8_0), each multiplied with the activations rounded to its type.
    @Test func quantizedMatchesLlamaCpp() throws {
        let model = try LlamaModel(path: Fixture.path("tiny-deepseek2-q8_0.gguf"))
        #expect(model.weights.tensor(named: "blk.1.attn_v_b.weight")?.type == .q8_0)
        #expect(model.weights.tensor(named: "blk.1.attn_k_b.weight")?.type == .f16)
        let (kld, top1, maxDiff, positions) = try MixtureOfExpertsTests.compare(model: "tiny-deepseek2-q8_0.gguf",
                                                                                reference: "deepseek2-q8_0")
        let median = positions.sorted()[positions.count / 2]
        print("deepseek2 Q8_0 vs logits-deepseek2-q8_0.bin: KLD mean \(kld), median \(median), max \(positions.max() ?? 0)")
        #expect(kld < 1e-4 && median < 1e-6, "KLD mean \(kld), median \(median)")
        #expect(top1 >= 0.99, "top-1 agreement \(top1)")
        #expect(maxDiff < 0.5, "max |Δlogit| \(maxDiff)")
    }

    /// llama-imatrix's statistics (`-c 64 -b 64`, the whole text, 17 chunks): the routed experts' tensors
    /// with a row of sums and a count per expert, attn_k_b and attn_v_b (one matrix per head,
    /// multiplied by ggml_mul_mat) with one row of `heads × input width` sums and one count, every other
    /// matrix one row and one count. The same tensors; counts equal; sums within 1e-4 relative.
    @Test func imatrixMatchesLlamaImatrix() throws {
        let model = try LlamaModel(path: Fixture.path("tiny-deepseek2-f32.gguf"))
        let run = try ImatrixRun.collect(model: model, tokens: MixtureOfExpertsTests.tokens(), ctx: Fixture.ctx, threads: 2)
        let reference = try GGUFFile(path: Fixture.path("tiny-deepseek2.imatrix.gguf"))
        #expect(reference.metadata["imatrix.chunk_count"] == .uint32(UInt32(run.chunks)))
        let floats = Fixture.floats(_:)
        var names: [String] = []
        var worst = 0.0
        var worstName = ""
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
                #expect(counts.count == 8 && counts.reduce(0, +) == Float(2 * run.chunks * Fixture.ctx))
            }
            #expect(entry.counts.map { Float($0) } == counts, "\(name) counts")
            #expect(entry.sums.count == sums.count, "\(name) size")
            for (a, b) in zip(entry.sums, sums) {
                let d = Double(abs(a - b)) / max(Double(abs(b)), 1e-30)
                if d > worst { (worst, worstName) = (d, name) }
            }
        }
        #expect(names.contains("blk.1.attn_k_b.weight") && names.contains("blk.1.attn_v_b.weight"))
        #expect(run.entries.map(\.name) == names, "the same tensors in the same order")
        #expect(worst < 1e-4, "largest relative difference \(worst) (\(worstName))")
        print("deepseek2 imatrix vs llama-imatrix: largest relative difference \(worst) (\(worstName)), \(run.chunks) chunks")
    }

    /// The fixture's keys as llama.cpp's deepseek2 loader reads them, and the files it refuses.
    @Test func hyperParametersAsLlamaCppReadsThem() throws {
        let file = try GGUFFile(path: Fixture.path("tiny-deepseek2-f32.gguf"))
        func hp(_ edit: (inout GGUFMetadata) -> Void = { _ in }) throws -> LlamaHyperParameters {
            var m = file.metadata
            edit(&m)
            return try LlamaHyperParameters(metadata: m, vocabularySize: 600)
        }
        let base = try hp()
        #expect(base.latentAttention == LatentAttentionShape(queryRank: 64, latentRank: 64, keyLength: 24, valueLength: 16,
                                                             ropeLength: 8))
        #expect(base.expertGroupCount == 2 && base.expertGroupsUsed == 1 && base.expertGating == .sigmoid)
        #expect(base.normalizesExpertWeights && base.expertWeightsScale == 2.5 && base.leadingDenseLayers == 1)
        #expect(base.sharedExpertFeedForwardLength == 32 && base.expertFeedForwardLength == 32 && !base.ropeNeoX)
        // Old files with one attn_kv_b (no *_mla widths) are not run.
        do {
            _ = try hp { $0["deepseek2.attention.key_length_mla"] = nil; $0["deepseek2.attention.value_length_mla"] = nil }
            Issue.record("an attn_kv_b file was accepted")
        } catch let error as InferenceError {
            guard case .unsupportedVariant(let arch, let detail) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(arch == "deepseek2" && detail.contains("attn_kv_b") && detail.contains("convert"))
        }
        #expect(throws: InferenceError.missingKey("deepseek2.attention.q_lora_rank")) {
            try hp { $0["deepseek2.attention.q_lora_rank"] = nil }
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "deepseek2.expert_group_count", value: 3)) {
            try hp { $0["deepseek2.expert_group_count"] = .uint32(3) }
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "deepseek2.expert_group_used_count", value: 2)) {
            try hp { $0["deepseek2.expert_group_used_count"] = .uint32(2) }
        }
        #expect(throws: InferenceError.invalidHyperparameter(key: "deepseek2.rope.dimension_count", value: 24)) {
            try hp { $0["deepseek2.rope.dimension_count"] = .uint32(24) }
        }
        #expect(throws: InferenceError.self) { try hp { $0["deepseek2.attention.temperature_scale"] = .float32(1) } }
        // DeepSeek-V2 files have no gating key: softmax.
        #expect(try hp { $0["deepseek2.expert_gating_func"] = nil }.expertGating == .softmax)
    }

    /// DeepSeek-V3's group-limited routing (modeling_deepseek.py's MoEGate, noaux_tc): groups scored by
    /// the sum of their two best sigmoid scores, the best `topk_group` kept, top-k among their experts.
    /// Expert 0 scores highest, but its group's second best is poor: group 1 (experts 4...7) wins.
    @Test func groupLimitedRouting() {
        let raw: [Float] = [3, -3, -3, -3, 1, 1.5, -3, -3]
        func route(groups: Int) -> ExpertRouting {
            var logits = raw
            return logits.withUnsafeMutableBufferPointer {
                ExpertRouting(logits: $0.baseAddress!, tokens: 1, experts: 8, used: 2, normalize: true, gating: .sigmoid,
                              scale: 2.5, groups: groups, groupsUsed: 1)
            }
        }
        let grouped = route(groups: 2)
        #expect(grouped.selected == [5, 4])
        let s5 = 1 / (1 + exp(-1.5)), s4 = 1 / (1 + exp(-1.0))
        #expect(abs(Double(grouped.weights[0]) - 2.5 * s5 / (s4 + s5)) < 1e-6)
        #expect(abs(Double(grouped.weights[1]) - 2.5 * s4 / (s4 + s5)) < 1e-6)
        #expect(route(groups: 0).selected == [0, 5])
    }
}
