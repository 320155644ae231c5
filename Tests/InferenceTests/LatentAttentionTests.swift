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
}
