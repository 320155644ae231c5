import BinaryIO
import Foundation
import GGUF
import Inference
import JSON
@testable import Pipeline
import Testing
import Tokenizer

/// Task accuracy on slices of the real data sets: the first 100 HellaSwag validation items and the
/// first 100 TruthfulQA questions as multiple-choice (mc1) items. Expected values:
/// Fixtures/tasks/expected-real.json, llama-perplexity's per-item results on tiny-eval-f16.gguf
/// (scripts/tasks/make_real_task_fixture.py, commands recorded in the file).
struct RealTaskDataTests {
    static let folder = TaskAccuracyTests.folder
    static let model = TaskAccuracyTests.model

    @Test func perItemResultsMatchLlamaPerplexity() throws {
        let expected = try StrictJSON.parse(TaskAccuracyTests.contents("expected-real.json"))
        let model = try LlamaModel(path: Self.model)
        let tokenizer = try Tokenizer(metadata: model.metadata)
        let runs = try #require(expected["runs"]?.arrayValue)
        #expect(runs.count == 3)
        for run in runs {
            let kind = try #require(TaskKind(rawValue: run["kind"]?.stringValue ?? ""))
            let file = try #require(run["file"]?.stringValue)
            let spec = TaskSpec(kind: kind, file: file, limit: run["limit"]?.intValue)
            let task = try TaskFiles.load(spec, contents: TaskAccuracyTests.contents(file), tokenizer: tokenizer)
            let outcomes = try ChoiceScorer.score(model: model, items: task.items, threads: 2)
            let correct = try #require(run["correct"]?.arrayValue).map { $0.boolValue }
            #expect(correct.count == (run["limit"]?.intValue ?? 100))
            #expect(outcomes.map(\.correct) == correct, "\(kind.rawValue) limit \(spec.limit ?? 0)")
            TaskAccuracyTests.expectFinal(run["final"]?.arrayValue, outcomes)
        }
    }

    /// How many items share a forward pass changes no score: one item per pass, the default pass
    /// size and one pass for everything give the same scores, bit for bit, on every task format
    /// (WinoGrande's row slip included).
    @Test func packingChangesNoScore() throws {
        let model = try LlamaModel(path: Self.model)
        let tokenizer = try Tokenizer(metadata: model.metadata)
        let specs = [
            (TaskSpec(kind: .hellaswag, file: "hellaswag-val-100.txt", limit: 12), "hellaswag-val-100.txt"),
            (TaskSpec(kind: .multipleChoice, file: "truthfulqa-mc1-100.bin", limit: 10), "truthfulqa-mc1-100.bin"),
            (TaskSpec(kind: .winogrande, file: "winogrande.csv", limit: 12), "winogrande.csv"),
        ]
        for (spec, file) in specs {
            let task = try TaskFiles.load(spec, contents: TaskAccuracyTests.contents(file), tokenizer: tokenizer)
            let alone = try ChoiceScorer.score(model: model, items: task.items, threads: 2, batchTokens: 1)
            let packed = try ChoiceScorer.score(model: model, items: task.items, threads: 2)
            let whole = try ChoiceScorer.score(model: model, items: task.items, threads: 1, batchTokens: 1 << 20)
            #expect(alone.count == task.items.count)
            #expect(packed == alone, "\(file)")
            #expect(whole == alone, "\(file)")
        }
    }
}
