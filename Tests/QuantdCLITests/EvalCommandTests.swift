import Foundation
import QuantdTestSupport
import Testing
import Tokenizer

/// `quantd eval` on the forward-pass fixture: a tiny random Llama in F32 and Q8_0, whose
/// perplexity and KL divergence llama.cpp computed (Tests/InferenceTests/Fixtures/expected.json,
/// made by scripts/inference/make_fixture.py). The text is the fixture's token ids decoded, so
/// the command's own tokenization is exercised and must give back the same ids.
struct EvalCommandTests {
    static let fixtures = TestSupport.repositoryRoot.appendingPathComponent("Tests/InferenceTests/Fixtures").path

    @Test func perplexityAndKLDivergenceAgreeWithLlamaCpp() throws {
        let expected = try TestSupport.json(String(contentsOfFile: Self.fixtures + "/expected.json", encoding: .utf8))
        let result = try TestSupport.quantd("eval", Self.fixtures + "/tiny-llama-q8_0.gguf", "--ref", Self.fixtures + "/tiny-llama-f32.gguf",
                                            "--tokens", Self.fixtures + "/tokens.txt", "--ctx", "64", "--json", "--threads", "2")
        #expect(result.status == 0, "\(result.stderr)")
        let json = try TestSupport.json(result.stdout)
        let ppl = try #require(json["perplexity"] as? Double), refPPL = try #require(json["ref_perplexity"] as? Double)
        let kld = try #require(json["kld_mean"] as? Double)
        // Within the forward pass's agreement with llama.cpp on this fixture (see InferenceTests).
        #expect(abs(refPPL / (expected["ppl_f32"] as? Double ?? 0) - 1) < 0.001)
        #expect(abs(ppl / (expected["ppl_q8_0"] as? Double ?? 0) - 1) < 0.005)
        #expect(abs(kld / (expected["kld_q8_0_mean"] as? Double ?? 0) - 1) < 0.05)
        #expect(json["scored"] as? Int == expected["scored"] as? Int)
    }

    @Test func aTextShorterThanOneChunkIsAnError() throws {
        let folder = TemporaryFolder("cli-test")
        try "short".write(toFile: folder.file("t.txt"), atomically: true, encoding: .utf8)
        let result = try TestSupport.quantd("eval", Self.fixtures + "/tiny-llama-f32.gguf", "--text", folder.file("t.txt"))
        #expect(result.status == 65)
        #expect(result.stderr.contains("fewer than one chunk"))
    }
}
