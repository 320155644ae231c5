import BinaryIO
import GGUF
import Inference
import Tokenizer

/// Progress of the `evaluate` stage: one step per forward pass over a chunk (the reference's, then
/// each artifact's); while tasks are scored (`task` set), one step per item and model.
public struct EvaluationProgress: Sendable {
    public var passesDone: Int
    public var passesTotal: Int
    /// The task being scored (its kind), nil during the perplexity passes.
    public var task: String?

    public init(passesDone: Int, passesTotal: Int, task: String? = nil) {
        self.passesDone = passesDone
        self.passesTotal = passesTotal
        self.task = task
    }

    /// "forward pass 3/8" or "hellaswag item 120/1600".
    public var detail: String {
        task.map { "\($0) item \(passesDone)/\(passesTotal)" } ?? "forward pass \(passesDone)/\(passesTotal)"
    }
}

/// What the `evaluate` stage measured: the source's perplexity, and each artifact's perplexity and
/// divergence from the source, all on the same chunks of the same text (llama-perplexity's method:
/// non-overlapping chunks of `ctx` tokens, BOS first when the vocabulary adds it, the second half
/// of each chunk scored).
public struct EvaluationReport: Sendable {
    public enum ArtifactOutcome: Sendable {
        case measured(KLDResult)
        /// This artifact could not be run (e.g. a tensor type the forward pass cannot dequantize).
        case skipped(reason: String)
    }

    /// Set when the whole stage was skipped (an architecture the forward pass does not run, a
    /// vocabulary the tokenizer cannot read, a text shorter than one chunk); nothing else is then set.
    public var skipped: String?
    /// The text's name: its path as written in the pipeline, or the built-in text's name.
    public var text = ""
    /// Tokens in the whole text, and tokens evaluated (whole chunks within the budget).
    public var textTokens = 0
    public var tokens = 0
    public var ctx = 0
    public var chunks = 0
    public var scoredTokens = 0
    /// The source model's own perplexity on the same chunks.
    public var reference: PerplexityResult?
    /// One entry per artifact, in the job's artifact order.
    public var artifacts: [ArtifactOutcome] = []
    /// The settings' tasks, in their order, scored whether or not the perplexity part ran.
    public var tasks: [TaskReport] = []

    /// Artifact `i`'s outcome; every artifact is skipped, with the stage's reason, when the stage was.
    public func outcome(artifact i: Int) -> ArtifactOutcome? {
        if let skipped { return .skipped(reason: skipped) }
        return artifacts.indices.contains(i) ? artifacts[i] : nil
    }

    static func skipped(_ reason: String) -> EvaluationReport {
        var report = EvaluationReport()
        report.skipped = reason
        return report
    }
}

/// The `evaluate` stage: runs after the artifacts are written. The source is run once per chunk
/// and every artifact is compared with it before the next chunk (`PerplexityEvaluator.compare`), so
/// the reference is evaluated once per job and memory stays at two chunks of logits. A model the
/// forward pass cannot run is reported as skipped with the reason, never a failed job.
public struct EvaluationStage {
    public let settings: EvaluationSettings
    /// Where a relative `text` path resolves (the pipeline file's folder).
    public let baseDirectory: String?

    public init(settings: EvaluationSettings, baseDirectory: String?) {
        self.settings = settings
        self.baseDirectory = baseDirectory
    }

    /// The text's name and contents. A missing or unreadable file is an error (the job fails
    /// before quantizing, not after).
    public func loadText() throws -> (name: String, text: String) {
        guard let file = settings.text else { return (EvaluationText.name, EvaluationText.text) }
        let path = file.hasPrefix("/") || baseDirectory == nil ? file : "\(baseDirectory!)/\(file)"
        do {
            return (file, String(decoding: try MappedFile.contents(of: path), as: UTF8.self))
        } catch {
            throw EvaluationError.unreadableText(path: path, reason: "\(error)")
        }
    }

    /// Why the forward pass cannot run `source`, judged from its metadata before any work is done:
    /// `no forward pass for ARCH`, the reason the evaluate and imatrix stages record when they skip.
    public static func unsupportedReason(source: TensorSource) -> String? {
        let arch = source.metadata[GGUFKeys.General.architecture]?.stringValue ?? "(none)"
        guard LlamaHyperParameters.supportedArchitectures.contains(arch) else { return "no forward pass for \(arch)" }
        return nil
    }

    /// Disk the job needs besides the artifacts for its forward passes (this stage, a computed imatrix
    /// and the gptq/awq stages share one reference): the F16 file of a folder source too large to convert in memory
    /// (`ReferenceModel`), while they run; nothing for a GGUF source, read in place. For the daemon's
    /// free-space check.
    public static func scratchBytes(config: PipelineConfig, source: TensorSource) -> Int {
        guard unsupportedReason(source: source) == nil,
              config.evaluation != nil || config.computedImatrix != nil || config.gptq != nil || config.awq != nil else { return 0 }
        return ReferenceModel.scratchFileBytes(source: source)
    }

    /// Measures every artifact against the reference. Errors other than "this model cannot be run"
    /// (cancellation, I/O) are thrown.
    public func run(
        reference makeReference: () throws -> ReferenceModel, text: (name: String, text: String), artifacts: [String],
        tasks: [(spec: TaskSpec, contents: [UInt8])] = [], threads: Int, progress: ((EvaluationProgress) throws -> Void)? = nil
    ) throws -> EvaluationReport {
        let holder: ReferenceModel, reference: LlamaModel
        do {
            holder = try makeReference()
            reference = try holder.open()
        } catch let error as InferenceError {
            return .skipped("the source cannot be evaluated: \(error)")
        } catch let error as ReferenceModelError {
            return .skipped("\(error)")
        }
        return try withExtendedLifetime(holder) {
            let tokenizer: Tokenizer
            do {
                tokenizer = try Tokenizer(metadata: reference.metadata)
            } catch {
                return .skipped("the source's vocabulary cannot be tokenized: \(error)")
            }
            // As llama-perplexity tokenizes its file: BOS as the vocabulary says, special-token text
            // (e.g. "<|im_start|>") read as plain text.
            let ids = tokenizer.encode(text.text, addSpecial: true, parseSpecial: false)
            var report = try Self.measure(reference: reference, artifacts: artifacts, tokens: ids, settings: settings,
                                          threads: threads, progress: progress)
            report.text = text.name
            report.tasks = try Self.scoreTasks(reference: reference, artifacts: artifacts, tokenizer: tokenizer, tasks: tasks,
                                               threads: threads, progress: progress)
            return report
        }
    }

    /// The measurement itself, on token ids: shared with `quantd eval`, so both report the same numbers.
    public static func measure(
        reference: LlamaModel, artifacts: [String], tokens ids: [Int32], settings: EvaluationSettings, threads: Int,
        progress: ((EvaluationProgress) throws -> Void)? = nil
    ) throws -> EvaluationReport {
        let ctx = settings.ctx
        let chunks = min(ids.count, settings.tokens) / ctx
        guard chunks > 0 else {
            var report = EvaluationReport.skipped(
                "the evaluation text has \(ids.count) tokens, fewer than one chunk of ctx \(ctx); use a longer text or a smaller ctx")
            report.textTokens = ids.count
            return report
        }
        var report = EvaluationReport()
        report.textTokens = ids.count
        report.ctx = ctx
        report.chunks = chunks
        report.tokens = chunks * ctx
        // Artifacts that cannot be run are skipped one by one; the others are measured together.
        let opened = try ComparableArtifacts(paths: artifacts, reference: reference)
        let models = opened.models.compactMap { $0 }, problems = opened.problems
        let (referenceResult, results) = try PerplexityEvaluator.compare(
            reference: reference, candidates: models, tokens: Array(ids.prefix(chunks * ctx)), ctx: ctx, threads: threads,
            progress: { done, total in try progress?(EvaluationProgress(passesDone: done, passesTotal: total)) })
        report.reference = referenceResult
        report.scoredTokens = referenceResult.scoredTokens
        var measured = results.makeIterator()
        report.artifacts = artifacts.indices.map { i in
            if let problem = problems[i] { return .skipped(reason: problem) }
            return .measured(measured.next()!)
        }
        return report
    }
}

public enum EvaluationError: Error, CustomStringConvertible {
    case unreadableText(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableText(let path, let reason):
            "the evaluation text \(path) cannot be read (\(reason)); fix \"evaluate\".\"text\" in the pipeline or leave it out for the built-in text"
        }
    }
}
