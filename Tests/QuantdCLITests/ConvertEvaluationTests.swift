import Foundation
import QuantdTestSupport
import Testing

/// The `evaluate` stage through `quantd convert`, and `quantd eval --ref` giving the same numbers
/// as the manifest (both run `EvaluationStage.measure`), on the tiny model of
/// Tests/PipelineTests/Fixtures (whose llama-perplexity figures EvaluationStageTests checks).
struct ConvertEvaluationTests {
    static let model = TestSupport.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures/tiny-eval-f16.gguf").path

    /// The built-in evaluation text, read from its Swift source.
    static func builtInText() throws -> String {
        let source = try String(contentsOfFile: TestSupport.repositoryRoot
            .appendingPathComponent("Sources/Pipeline/Texts/EvaluationText.swift").path, encoding: .utf8)
        let start = try #require(source.range(of: "#\"\"\"\n")), end = try #require(source.range(of: "\n\"\"\"#"))
        return String(source[start.upperBound..<end.lowerBound])
    }

    @Test func convertPrintsTheQualityTableAndEvalAgreesWithTheManifest() throws {
        let folder = TemporaryFolder("cli-test")
        try #"{"version": 1, "evaluate": {"tokens": 1000000, "ctx": 64}, "schemes": [{"mix": "Q4_0"}]}"#
            .write(toFile: folder.file("p.json"), atomically: true, encoding: .utf8)
        let convert = try TestSupport.quantd("convert", Self.model, "-o", folder.file("out"), "--pipeline", folder.file("p.json"),
                                             "--threads", "2")
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("quality against the source"), "\(convert.stdout)")
        // One row in the size/error table, one in the quality table.
        #expect(convert.stdout.split(separator: "\n").filter { $0.hasPrefix("tiny-eval-Q4_0.gguf") }.count == 2, "\(convert.stdout)")
        let manifest = try TestSupport.json(String(contentsOfFile: folder.file("out/manifest.json"), encoding: .utf8))
        let artifact = try #require((manifest["artifacts"] as? [NSDictionary])?.first?["evaluation"] as? NSDictionary)
        let job = try #require(manifest["evaluation"] as? NSDictionary)
        let chunks = try #require(job["chunks"] as? Int)
        #expect(chunks == (job["text_tokens"] as? Int ?? 0) / 64 && chunks > 100, "the whole text within the budget")

        try Self.builtInText().write(toFile: folder.file("text.txt"), atomically: true, encoding: .utf8)
        let eval = try TestSupport.quantd("eval", folder.file("out/tiny-eval-Q4_0.gguf"), "--ref", Self.model,
                                          "--text", folder.file("text.txt"), "--ctx", "64", "--json", "--threads", "2")
        #expect(eval.status == 0, "\(eval.stderr)")
        let measured = try TestSupport.json(eval.stdout)
        #expect(measured["chunks"] as? Int == chunks)
        for key in ["perplexity", "kld_mean", "kld_median", "kld_p99", "kld_max", "top1_agreement", "rms_delta_p"] {
            let a = try #require(artifact[key] as? Double), b = try #require(measured[key] as? Double)
            #expect(a == b, "\(key): manifest \(a), quantd eval \(b)")
        }
        #expect(measured["ref_perplexity"] as? Double == (job["source"] as? NSDictionary)?["perplexity"] as? Double)
    }

    @Test func noEvalTurnsTheStageOff() throws {
        let folder = TemporaryFolder("cli-test")
        let result = try TestSupport.quantd("convert", Self.model, "-o", folder.path, "--type", "Q8_0", "--no-eval")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("quality"))
        let manifest = try TestSupport.json(String(contentsOfFile: folder.file("manifest.json"), encoding: .utf8))
        #expect(manifest["evaluation"] == nil)
        let config = (manifest["pipeline"] as? NSDictionary)?["config"] as? NSDictionary
        #expect(config?["evaluate"] as? Bool == false, "the manifest's pipeline says the stage was off")
    }

    @Test func anEvalBudgetBelowOneChunkIsRefused() throws {
        let folder = TemporaryFolder("cli-test")
        let result = try TestSupport.quantd("convert", Self.model, "-o", folder.path, "--type", "Q8_0", "--eval-tokens", "100")
        #expect(result.status != 0)
        #expect(result.stderr.contains("less than one chunk of 256"), "\(result.stderr)")
    }
}
