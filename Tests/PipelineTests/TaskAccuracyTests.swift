import BinaryIO
import Foundation
import GGUF
import Inference
import JSON
@testable import Pipeline
import Testing
import Tokenizer

/// Task accuracy (HellaSwag, WinoGrande, multiple choice) scored as llama-perplexity scores it.
/// Expected values: Fixtures/tasks/expected.json, llama-perplexity's per-item results on
/// tiny-eval-f16.gguf for the task files beside it (scripts/tasks/make_task_fixture.py, commands
/// recorded in the file); the random draws: libstdc++'s (scripts/tasks/uniform_draws.cpp, g++ 12).
struct TaskAccuracyTests {
    static let folder = TestPaths.fixtures + "/tasks"
    static let model = TestPaths.fixtures + "/tiny-eval-f16.gguf"

    static func contents(_ name: String) throws -> [UInt8] { try MappedFile.contents(of: folder + "/" + name) }

    /// Our accuracy and its standard error against llama-perplexity's final line (both in percent),
    /// when the expected run recorded one.
    static func expectFinal(_ final: [JSONValue]?, _ outcomes: [ChoiceOutcome]) {
        guard let final else { return }
        let result = TaskResult(outcomes: outcomes, seconds: 0)
        #expect(abs(result.accuracy * 100 - (final[0].doubleValue ?? 0)) < 1e-3)
        #expect(abs(result.standardError * 100 - (final[1].doubleValue ?? 0)) < 1e-3)
    }

    // MARK: Item selection

    /// The C++ standard fixes std::mt19937's 10000th output for the default seed 5489; the first
    /// outputs for seed 1 and libstdc++'s uniform_int_distribution draws are g++'s
    /// (`g++ -O2 -std=c++17 scripts/tasks/uniform_draws.cpp -o /tmp/uniform_draws && /tmp/uniform_draws`).
    @Test func mersenneTwisterAndUniformDrawsMatchTheCppLibrary() {
        var standard = MersenneTwister(seed: 5489)
        for _ in 1..<10000 { _ = standard.next() }
        #expect(standard.next() == 4_123_659_995)
        var raw = MersenneTwister(seed: 1)
        #expect([raw.next(), raw.next(), raw.next()] == [1_791_095_845, 4_282_876_139, 3_093_770_124])
        var rng = MersenneTwister(seed: 1)
        let draws = (0..<20).map { rng.uniform(below: UInt32(10042 - $0)) }
        #expect(draws == [4187, 10012, 7232, 9361, 1, 1285, 3034, 10025, 1472, 2368, 926, 3978, 1868, 3890, 3465, 6715, 3977, 9378, 5401, 8482])
        var small = MersenneTwister(seed: 1)
        #expect([1, 2, 3, 5, 7, 1000, 4_000_000_000].map { small.uniform(below: UInt32($0)) } == [0, 1, 2, 4, 0, 128, 1_209_330_270])
    }

    // MARK: Agreement with llama-perplexity

    /// Every run in expected.json: the same items chosen for the limit, and for each item the same
    /// answer right or wrong (WinoGrande: the same choice, and its two scores to the printed
    /// precision's order). The model is random, so some choices are near-ties; a differing item
    /// would show as a failure here.
    @Test func perItemResultsMatchLlamaPerplexity() throws {
        let expected = try StrictJSON.parse(Self.contents("expected.json"))
        let model = try LlamaModel(path: Self.model)
        let tokenizer = try Tokenizer(metadata: model.metadata)
        let runs = try #require(expected["runs"]?.arrayValue)
        #expect(runs.count == 8)
        // The artifact runs score llama-quantize's Q4_0 of the model; quantd's Q4_0 is the same file.
        let out = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        var config = PipelineConfig()
        config.schemes = [PipelineConfig.Scheme(name: "Q4_0", options: SchemeOptions(mix: .q4_0))]
        config.evaluation = nil
        let quantized = try PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: out,
                                        baseName: "tiny", threads: 2).run().artifacts[0]
        let artifact = try LlamaModel(path: quantized.path)
        for run in runs {
            if let sha = run["artifact_sha256"]?.stringValue { #expect(quantized.sha256 == sha) }
            let model = run["artifact"] == nil ? model : artifact
            let kind = try #require(TaskKind(rawValue: run["kind"]?.stringValue ?? ""))
            let file = try #require(run["file"]?.stringValue)
            let spec = TaskSpec(kind: kind, file: file, limit: run["limit"]?.intValue ?? (kind == .hellaswag ? 400 : nil))
            let task = try TaskFiles.load(spec, contents: Self.contents(file), tokenizer: tokenizer)
            let outcomes = try ChoiceScorer.score(model: model, items: task.items, threads: 2)
            let correct = try #require(run["correct"]?.arrayValue).map { $0.boolValue }
            #expect(outcomes.map(\.correct) == correct, "\(kind.rawValue) limit \(spec.limit ?? 0) \(run["artifact"]?.stringValue ?? "")")
            if kind == .winogrande {
                let chosen = try #require(run["chosen"]?.arrayValue).map { $0.intValue }
                #expect(outcomes.map(\.chosen) == chosen)
                let scores = try #require(run["scores"]?.arrayValue)
                for (i, (ours, theirs)) in zip(outcomes, scores).enumerated() {
                    for s in 0..<2 {
                        let llama = try #require(theirs[s]?.doubleValue)
                        // Q4_0's matmuls round their inputs to Q8_0 blocks in both tools, where a last-bit
                        // difference upstream flips a rounding: scores then agree to ~1e-3, not 1e-4.
                        #expect(abs(ours.scores[s] - llama) < (run["artifact"] == nil ? 2e-4 : 3e-3), "item \(i + 1) choice \(s + 1): ours \(ours.scores[s]), llama-perplexity \(llama)")
                    }
                }
            }
            TaskAccuracyTests.expectFinal(run["final"]?.arrayValue, outcomes)
        }
    }

    /// Items llama-perplexity cannot score (it reads out of bounds) or that are too long are refused
    /// with the reason, never scored from memory that is not theirs.
    @Test func unscorableItemsAreRefused() throws {
        let model = try LlamaModel(path: Self.model)
        let cases: [(ChoiceItem, String)] = [
            (ChoiceItem(sequences: [[1, 5], [2, 6]], rule: .hellaswag, correct: [true, false]), "share no first token"),
            (ChoiceItem(sequences: [[1, 5], [1, 5, 6]], rule: .multipleChoice, correct: [true, false]), "adds no token"),
            (ChoiceItem(sequences: [[1, 5, 7]], rule: .multipleChoice, correct: [true]), "fewer than two"),
            (ChoiceItem(sequences: [[1, 5, 7], [1, 6, 7]], rule: .winogrande(bases: [4, 2]), correct: [true, false]), "tokenizes to 3"),
            (ChoiceItem(sequences: [[1] + Array(repeating: 5, count: 3000), [1] + Array(repeating: 6, count: 3000)],
                        rule: .hellaswag, correct: [true, false]), "needs 6001 tokens"),
        ]
        for (item, reason) in cases {
            #expect(item.problem?.contains(reason) == true, "\(item.problem ?? "accepted")")
            #expect(throws: ChoiceItemError.self) { try ChoiceScorer.score(model: model, items: [item], threads: 1) }
        }
    }

    // MARK: File formats

    @Test func hellaswagFileIsReadInSixLineItems() throws {
        let items = try TaskFiles.hellaswag(Self.contents("proverbs-hellaswag.txt"), file: "f", limit: 1000)
        #expect(items.available == 40 && items.items.count == 40)
        // 40 items drawn from 40: every one once, in the draw order.
        #expect(Set(items.items.map(\.context)).count == 40)
        #expect(items.items.allSatisfy { $0.endings.count == 4 && (0...3).contains($0.gold) })
        let bad = Array("ctx\n0\na\nb\nc\n".utf8)
        #expect(throws: TaskFileError.self) { try TaskFiles.hellaswag(bad, file: "f", limit: 4) }
        let badGold = Array("ctx\nx\na\nb\nc\nd\n".utf8)
        #expect(throws: TaskFileError.self) { try TaskFiles.hellaswag(badGold, file: "f", limit: 4) }
    }

    /// The header and a line whose quotes hide the blank are passed over; so is the last line, which
    /// llama-perplexity's reader ends on before using.
    @Test func winograndeLinesAreReadAsLlamaPerplexityReadsThem() throws {
        let parsed = TaskFiles.winogrande(try Self.contents("winogrande.csv"), limit: nil)
        #expect(parsed.available == 30)
        let first = try #require(parsed.items.first)
        #expect(String(decoding: first.first, as: UTF8.self) == "The trophy would not fit in the suitcase because ")
        #expect(String(decoding: first.second, as: UTF8.self) == " was too big.")
        #expect(first.choices.map { String(decoding: $0, as: UTF8.self) } == ["the trophy", "the suitcase"] && first.answer == 1)
        let quoted = try #require(TaskFiles.winograndeLine(Array(#"7,"A, _ b",x,y,2"#.utf8)))
        #expect(String(decoding: quoted.first + [0x5F] + quoted.second, as: UTF8.self) == "A, _ b" && quoted.answer == 2)
        #expect(TaskFiles.winograndeLine(Array("1,no blank,x,y,1".utf8)) == nil)
        #expect(TaskFiles.winograndeLine(Array("1,a _,x,y,3".utf8)) == nil)
        #expect(TaskFiles.winogrande(Array("0,a _ b,x,y,1\n1,c _ d,x,y,2".utf8), limit: nil).available == 1)
        #expect(TaskFiles.winogrande(Array("0,a _ b,x,y,1\n1,c _ d,x,y,2\n".utf8), limit: nil).available == 1)
        #expect(TaskFiles.winogrande(Array("0,a _ b,x,y,1\n1,c _ d,x,y,2\n\n".utf8), limit: nil).available == 2)
    }

    @Test func multipleChoiceBinaryIsCheckedBeforeUse() throws {
        let data = try Self.contents("proverbs-mc.bin")
        let all = try TaskFiles.multipleChoice(data, file: "f", limit: nil)
        #expect(all.available == 32 && all.items.count == 32)
        #expect(all.items.map(\.answers.count).prefix(4) == [2, 3, 4, 5])
        #expect(all.items.allSatisfy { $0.labels.filter { $0 == 1 }.count == 1 })
        // Cut anywhere, the file is refused with an error, never read past its end.
        for cut in [0, 3, 4, 100, 135, data.count / 2, data.count - 1] {
            #expect(throws: TaskFileError.self) { try TaskFiles.multipleChoice(Array(data.prefix(cut)), file: "f", limit: nil) }
        }
        var huge = data
        huge.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: TaskFileError.self) { try TaskFiles.multipleChoice(huge, file: "f", limit: nil) }
        var badOffset = data
        badOffset.replaceSubrange(4..<8, with: [0xFF, 0xFF, 0xFF, 0xFF])
        // Offsets are read only for drawn items; item 1's is bad, so draw them all.
        #expect(throws: TaskFileError.self) { try TaskFiles.multipleChoice(badOffset, file: "f", limit: 31) }
    }

    /// Damaged files of every kind (bytes flipped, cut short, random) give items or a TaskFileError,
    /// never a crash: every count and offset is checked before use.
    @Test func damagedFilesNeverCrashTheReader() throws {
        let model = try LlamaModel(path: Self.model)
        let tokenizer = try Tokenizer(metadata: model.metadata)
        var rng = SystemRandomNumberGenerator()
        let files: [(TaskKind, [UInt8])] = [
            (.hellaswag, try Self.contents("proverbs-hellaswag.txt")), (.winogrande, try Self.contents("winogrande.csv")),
            (.multipleChoice, try Self.contents("proverbs-mc.bin")),
        ]
        for (kind, original) in files {
            for round in 0..<60 {
                var bytes = original
                switch round % 3 {
                case 0: for _ in 0..<8 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                case 1: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                default: bytes = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                }
                for limit in [nil, 3] as [Int?] {
                    do {
                        let task = try TaskFiles.load(TaskSpec(kind: kind, file: "f", limit: limit), contents: bytes, tokenizer: tokenizer)
                        #expect(task.items.count <= task.available)
                    } catch is TaskFileError {}
                }
            }
        }
    }

    // MARK: Pipeline

    @Test func tasksAreAPipelineOption() throws {
        let config = try PipelineConfig.parse(Array(#"""
            {"version": 1, "schemes": [{"mix": "Q8_0"}], "evaluate": {"tasks": [
              {"kind": "hellaswag", "file": "hs.txt", "limit": 400}, {"kind": "multiple-choice", "file": "mmlu.bin"}]}}
            """#.utf8), file: "p.json")
        #expect(config.evaluation?.tasks == [TaskSpec(kind: .hellaswag, file: "hs.txt", limit: 400),
                                             TaskSpec(kind: .multipleChoice, file: "mmlu.bin")])
        let cases: [(String, String, String)] = [
            (#"{"kind": "arc", "file": "a"}"#, "$.evaluate.tasks[0].kind", "is \"arc\""),
            (#"{"file": "a"}"#, "$.evaluate.tasks[0].kind", "is missing"),
            (#"{"kind": "winogrande"}"#, "$.evaluate.tasks[0].file", "is missing"),
            (#"{"kind": "winogrande", "file": "a", "limit": 0}"#, "$.evaluate.tasks[0].limit", "between 1"),
            (#"{"kind": "winogrande", "file": "a", "n": 3}"#, "$.evaluate.tasks[0].n", "not a known key"),
            (#""hellaswag""#, "$.evaluate.tasks[0]", "must be an object"),
        ]
        for (task, path, message) in cases {
            do {
                _ = try PipelineConfig.parse(Array(#"{"version": 1, "schemes": [{"mix": "Q8_0"}], "evaluate": {"tasks": [\#(task)]}}"#.utf8), file: "p.json")
                Issue.record("accepted: \(task)")
            } catch {
                #expect(error.path == path, "\(error)")
                #expect(error.message.contains(message), "\(error)")
            }
        }
    }

    /// A whole job: the source scored once, each artifact on the same items, the manifest's numbers
    /// consistent with the per-item outcomes; the F16 artifact (the same weights) chooses as the source.
    @Test func jobScoresTasksForSourceAndArtifacts() throws {
        let out = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        var config = PipelineConfig()
        config.schemes = [QuantMix.f16, .q4_0].map { PipelineConfig.Scheme(name: $0.rawValue, options: SchemeOptions(mix: $0)) }
        config.evaluation = EvaluationSettings(tokens: 64, ctx: 64, tasks: [
            TaskSpec(kind: .winogrande, file: Self.folder + "/winogrande.csv", limit: 20),
            TaskSpec(kind: .hellaswag, file: Self.folder + "/proverbs-hellaswag.txt", limit: 8),
            TaskSpec(kind: .multipleChoice, file: Self.folder + "/winogrande.csv"),
        ])
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: out, baseName: "tiny", threads: 2)
        let steps = LockedList()
        job.evaluationProgress = { p in if let task = p.task { steps.append("\(task) \(p.passesDone)/\(p.passesTotal)") } }
        let result = try job.run()
        #expect(steps.items.first == "winogrande 1/84" && steps.items.last == "hellaswag 84/84")

        let reports = try #require(result.evaluation?.tasks)
        #expect(reports.count == 3)
        #expect(reports[2].skipped?.contains("cannot be read") != true && reports[2].skipped != nil, "a CSV is no multiple-choice file")
        let manifest = try StrictJSON.parse(MappedFile.contents(of: out + "/manifest.json"))
        let root = try #require(manifest["evaluation"]?["tasks"]?.arrayValue)
        #expect(root[0]["items_available"]?.intValue == 30 && root[0]["source"]?["items"]?.intValue == 20)
        #expect(root[2]["skipped"]?.stringValue != nil)
        let artifacts = try #require(manifest["artifacts"]?.arrayValue)
        for (a, artifact) in artifacts.enumerated() {
            let tasks = try #require(artifact["evaluation"]?["tasks"]?.arrayValue)
            for t in 0..<2 {
                guard case .measured(let r, let same)? = reports[t].outcome(artifact: a), let source = reports[t].source else {
                    Issue.record("task \(t) artifact \(a) not measured")
                    continue
                }
                #expect(tasks[t]["accuracy"]?.doubleValue == r.accuracy)
                #expect(tasks[t]["correct"]?.intValue == r.correct)
                let change = try #require(tasks[t]["change_points"]?.doubleValue)
                #expect(abs(change - (r.accuracy - source.accuracy) * 100) < 1e-9)
                if a == 0 {
                    #expect(r.outcomes.map(\.chosen) == source.outcomes.map(\.chosen) && same == 1, "F16 holds the source's weights")
                }
            }
            #expect(tasks[2]["skipped"]?.stringValue != nil)
        }
        // quality.svg labels each point with its accuracy per scored task and the change in points.
        let points = QualityChart.points(result)
        #expect(points.count == 2 && points.allSatisfy { $0.tasks.map(\.kind) == ["winogrande", "hellaswag"] })
        if case .measured(let r, _)? = reports[1].outcome(artifact: 1) {
            #expect(points[1].tasks[1].accuracy == r.accuracy * 100 && points[1].tasks[1].change == reports[1].changePoints(artifact: 1))
        }
        let svg = try String(contentsOfFile: out + "/" + QualityChart.fileName, encoding: .utf8)
        #expect(svg.contains(">winogrande ") && svg.contains(">hellaswag "), "task accuracy in the chart")
    }

    /// A missing task file fails the job before anything is quantized.
    @Test func missingTaskFileFailsTheJobFirst() throws {
        let out = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        var config = PipelineConfig()
        config.schemes = [PipelineConfig.Scheme(name: "Q8_0", options: SchemeOptions(mix: .q8_0))]
        config.evaluation = EvaluationSettings(tasks: [TaskSpec(kind: .hellaswag, file: out + "/none.txt")])
        let job = PipelineJob(config: config, source: try GGUFTensorSource(path: Self.model), outputFolder: out, baseName: "tiny", threads: 1)
        #expect(throws: TaskFileError.self) { try job.run() }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out))?.isEmpty == true)
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
