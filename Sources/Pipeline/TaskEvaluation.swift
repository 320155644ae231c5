import BinaryIO
import Foundation
import Inference
import JSON
import Tokenizer

/// One model's accuracy on one task.
public struct TaskResult: Sendable {
    public var outcomes: [ChoiceOutcome]
    /// Wall time of the model's forward passes and scoring for this task.
    public var seconds: Double

    public var items: Int { outcomes.count }
    public var correct: Int { outcomes.reduce(0) { $0 + ($1.correct ? 1 : 0) } }
    /// Fraction of items whose chosen answer is correct.
    public var accuracy: Double { items > 0 ? Double(correct) / Double(items) : 0 }
    /// The binomial standard error llama-perplexity prints with its final WinoGrande and
    /// multiple-choice scores: sqrt(p(1 − p)/(n − 1)).
    public var standardError: Double {
        items > 1 ? (accuracy * (1 - accuracy) / Double(items - 1)).squareRoot() : 0
    }
}

/// A task scored for the source and every artifact, on the same items.
public struct TaskReport: Sendable {
    public enum ArtifactOutcome: Sendable {
        /// `sameChoice`: fraction of items where the artifact chose what the source chose.
        case measured(TaskResult, sameChoice: Double)
        case skipped(reason: String)
    }

    public var spec: TaskSpec
    /// Set when the task could not be scored at all (its items cannot be tokenized or scored).
    public var skipped: String?
    /// Items in the file, and those scored (the limit's choice).
    public var available = 0
    public var source: TaskResult?
    public var artifacts: [ArtifactOutcome] = []

    public init(spec: TaskSpec) { self.spec = spec }

    public func outcome(artifact i: Int) -> ArtifactOutcome? {
        if let skipped { return .skipped(reason: skipped) }
        return artifacts.indices.contains(i) ? artifacts[i] : nil
    }

    /// Accuracy change of artifact `i` against the source, in percentage points.
    public func changePoints(artifact i: Int) -> Double? {
        guard let source, case .measured(let r, _)? = outcome(artifact: i) else { return nil }
        return (r.accuracy - source.accuracy) * 100
    }
}

extension EvaluationStage {
    /// Scores every task on the reference once and on each artifact, all on the same chosen items.
    /// Artifacts `problems` names (unopenable, other vocabulary) are skipped with that reason.
    /// `progress` counts items scored over all models and tasks.
    public static func scoreTasks(
        reference: LlamaModel, artifacts: [String], tokenizer: Tokenizer, tasks: [(spec: TaskSpec, contents: [UInt8])],
        threads: Int, progress: ((EvaluationProgress) throws -> Void)? = nil
    ) throws -> [TaskReport] {
        var reports: [TaskReport] = []
        var loaded: [LoadedTask?] = []
        for task in tasks {
            var report = TaskReport(spec: task.spec)
            do {
                let l = try TaskFiles.load(task.spec, contents: task.contents, tokenizer: tokenizer)
                report.available = l.available
                if let bad = l.items.indices.first(where: { l.items[$0].problem != nil }) {
                    report.skipped = "item \(bad + 1) of those chosen cannot be scored: \(l.items[bad].problem!)"
                    loaded.append(nil)
                } else {
                    loaded.append(l)
                }
            } catch let error as TaskFileError {
                report.skipped = error.description
                loaded.append(nil)
            }
            reports.append(report)
        }
        let opened = try ComparableArtifacts(paths: artifacts, reference: reference)
        let models = opened.models, problems = opened.problems
        let runnable = 1 + models.compactMap { $0 }.count
        let total = loaded.reduce(0) { $0 + ($1?.items.count ?? 0) } * runnable
        var done = 0
        for (t, task) in loaded.enumerated() {
            guard let task else { continue }
            let name = task.spec.kind.rawValue
            func run(_ model: LlamaModel) throws -> TaskResult {
                let start = Clock.monotonic()
                let before = done
                let outcomes = try ChoiceScorer.score(model: model, items: task.items, threads: threads) { items in
                    done = before + items
                    try progress?(EvaluationProgress(passesDone: done, passesTotal: total, task: name))
                }
                return TaskResult(outcomes: outcomes, seconds: Clock.monotonic() - start)
            }
            let source = try run(reference)
            reports[t].source = source
            reports[t].artifacts = try artifacts.indices.map { i in
                if let problem = problems[i] { return .skipped(reason: problem) }
                let r = try run(models[i]!)
                let same = zip(r.outcomes, source.outcomes).reduce(0) { $0 + ($1.0.chosen == $1.1.chosen ? 1 : 0) }
                return .measured(r, sameChoice: Double(same) / Double(max(1, r.items)))
            }
        }
        return reports
    }

    /// Each task's data file, read when the job starts.
    public func loadTasks() throws -> [(spec: TaskSpec, contents: [UInt8])] {
        try settings.tasks.map { ($0, try TaskFiles.read($0, baseDirectory: baseDirectory)) }
    }
}
