import Foundation
import QuantdTestSupport
import Testing

/// Task accuracy through the CLI: `quantd convert`'s task table and manifest, and `quantd eval
/// --ref` with task files giving the same accuracies as the manifest (both score with
/// `EvaluationStage.scoreTasks`). The per-item agreement with llama-perplexity is
/// Tests/PipelineTests/TaskAccuracyTests.swift's.
struct TaskCommandTests {
    static let fixtures = TestSupport.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures").path
    static let model = fixtures + "/tiny-eval-f16.gguf"

    @Test func convertPrintsTaskAccuracyAndEvalAgrees() throws {
        let folder = TemporaryFolder("cli-test")
        let wino = Self.fixtures + "/tasks/winogrande.csv", hs = Self.fixtures + "/tasks/proverbs-hellaswag.txt"
        try #"{"version": 1, "evaluate": {"tokens": 64, "ctx": 64, "tasks": [{"kind": "winogrande", "file": "\#(wino)"}, {"kind": "hellaswag", "file": "\#(hs)", "limit": 10}]}, "schemes": [{"mix": "Q4_0"}]}"#
            .write(toFile: folder.file("p.json"), atomically: true, encoding: .utf8)
        let convert = try TestSupport.quantd("convert", Self.model, "-o", folder.file("out"), "--pipeline", folder.file("p.json"),
                                             "--threads", "2")
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("winogrande: 30 of 30 items of \(wino)"), "\(convert.stdout)")
        #expect(convert.stdout.contains("hellaswag: 10 of 40 items of \(hs)"), "\(convert.stdout)")
        // The source's row and the artifact's, in each task's table.
        let lines = convert.stdout.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("source ") }.count == 3, "perplexity table + two tasks: \(convert.stdout)")
        let manifest = try TestSupport.json(String(contentsOfFile: folder.file("out/manifest.json"), encoding: .utf8))
        let artifact = try #require((manifest["artifacts"] as? [NSDictionary])?.first?["evaluation"] as? NSDictionary)
        let tasks = try #require(artifact["tasks"] as? [NSDictionary])
        #expect(tasks.count == 2)

        let eval = try TestSupport.quantd("eval", folder.file("out/tiny-eval-Q4_0.gguf"), "--ref", Self.model,
                                          "--winogrande", wino, "--json", "--threads", "2")
        #expect(eval.status == 0, "\(eval.stderr)")
        let measured = try #require(try TestSupport.json(eval.stdout)["tasks"] as? [NSDictionary])
        let model = try #require(measured.first?["model"] as? NSDictionary)
        #expect(model["accuracy"] as? Double == tasks[0]["accuracy"] as? Double)
        #expect(model["correct"] as? Int == tasks[0]["correct"] as? Int)
        #expect(measured.first?["change_points"] as? Double == tasks[0]["change_points"] as? Double)
        #expect((model["choices"] as? [Int])?.count == 30)
    }

    @Test func evalNeedsATextOrATask() throws {
        let none = try TestSupport.quantd("eval", Self.model)
        #expect(none.status != 0 && none.stderr.contains("--hellaswag"), "\(none.stderr)")
        let missing = try TestSupport.quantd("eval", Self.model, "--hellaswag", "/nonexistent/hs.txt")
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/hs.txt"), "\(missing.stderr)")
        let table = try TestSupport.quantd("eval", Self.model, "--winogrande", Self.fixtures + "/tasks/winogrande.csv", "--tasks", "20")
        #expect(table.status == 0 && table.stdout.contains("20 of 30 items"), "\(table.stdout) \(table.stderr)")
        // llama-perplexity's own figure for these 20 items: 8 right (Fixtures/tasks/expected.json).
        #expect(table.stdout.contains("40.00 ± 11.24 %"), "\(table.stdout)")
    }
}
