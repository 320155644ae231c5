#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BinaryIO
import Inference
import JSON
import Pipeline
import Tokenizer

/// `quantd eval MODEL.gguf --text FILE [--ref SOURCE.gguf]`: what quantizing cost, measured as
/// llama-perplexity measures it — perplexity on a text and, against the source model, the KL
/// divergence of the two models' next-token distributions.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Perplexity of a GGUF on a text; with --ref, KL divergence and top-1 agreement against the source model.",
        discussion: """
            The method is llama-perplexity's: the text is tokenized with the model's vocabulary, cut \\
            into non-overlapping chunks of --ctx tokens (BOS first when the vocabulary adds it), and \\
            the second half of each chunk is scored. GGUF architectures: \(LlamaHyperParameters.supportedArchitectures.sorted().joined(separator: ", ")).
            """)

    @Argument(help: "The GGUF to evaluate (e.g. a quantized artifact).")
    var model: String

    @Option(name: .long, help: "The source model (F16/BF16/F32 GGUF) to compare against.")
    var ref: String?

    @Option(name: .long, help: "A UTF-8 text file to evaluate on.")
    var text: String?

    @Option(name: .long, help: "Token ids (whitespace-separated) instead of --text, e.g. from another tokenizer.")
    var tokens: String?

    @Option(name: .long, help: "A HellaSwag file in llama-perplexity's format (6 lines per item) to score.")
    var hellaswag: String?

    @Option(name: .long, help: "A WinoGrande CSV in llama-perplexity's format to score.")
    var winogrande: String?

    @Option(name: .customLong("multiple-choice"), help: "A multiple-choice binary file in llama-perplexity's format (MMLU, ARC, TruthfulQA) to score.")
    var multipleChoice: String?

    @Option(name: .long, help: "Items of each task, chosen as llama-perplexity chooses them (default: its own, 400 for HellaSwag, all for the others).")
    var tasks: Int?

    @OptionGroup var chunking: ChunkOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var output: TableJSONOption

    private var ctx: Int { chunking.ctx }
    private var json: Bool { output.json }

    func validate() throws {
        guard ctx >= 8 else { throw ValidationError("--ctx must be at least 8") }
        guard !(text != nil && tokens != nil) else { throw ValidationError("give either --text FILE or --tokens FILE, not both") }
        guard text != nil || tokens != nil || !taskSpecs.isEmpty else {
            throw ValidationError("give --text FILE or --tokens FILE, or a task (--hellaswag, --winogrande, --multiple-choice FILE)")
        }
        if let tasks, tasks < 1 { throw ValidationError("--tasks must be at least 1") }
    }

    /// The tasks asked for, in a fixed order.
    var taskSpecs: [TaskSpec] {
        [(TaskKind.hellaswag, hellaswag), (.winogrande, winogrande), (.multipleChoice, multipleChoice)].compactMap { kind, file in
            file.map { TaskSpec(kind: kind, file: $0, limit: tasks) }
        }
    }

    /// Scores the tasks: on `model` alone, or with --ref on the source and on `model` as its artifact.
    private func scoreTasks(workers: Int) throws -> [TaskReport] {
        let inputs = try taskSpecs.map { ($0, try TaskFiles.read($0, baseDirectory: nil)) }
        let reference = try LlamaModel(path: ref ?? model)
        let tokenizer = try Tokenizer(metadata: reference.metadata)
        let line = ProgressLine(enabled: isatty(2) != 0)
        defer { line.finish() }
        return try EvaluationStage.scoreTasks(reference: reference, artifacts: ref == nil ? [] : [model], tokenizer: tokenizer,
                                              tasks: inputs, threads: workers, progress: { line.update($0) })
    }

    /// The ids to evaluate: the text tokenized with the model's vocabulary (BOS as it says), or
    /// the ids given.
    private func loadTokens() throws -> (ids: [Int32], source: String) {
        if let tokens {
            let content = String(decoding: try MappedFile.contents(of: tokens), as: UTF8.self)
            var ids: [Int32] = []
            for word in content.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "," }) {
                guard let id = Int32(word) else {
                    throw CLIFailure(message: "\(tokens): '\(word.prefix(20))' is not a token id", hint: "give whitespace-separated integers",
                                     exit: QuantdExit.badInput)
                }
                ids.append(id)
            }
            return (ids, tokens)
        }
        let path = text ?? ""
        let tokenizer = try Tokenizer(contentsOf: model)
        return (tokenizer.encode(String(decoding: try MappedFile.contents(of: path), as: UTF8.self), addSpecial: true, parseSpecial: false), path)
    }

    func run() throws {
        do {
            var taskReports: [TaskReport] = []
            if !taskSpecs.isEmpty { taskReports = try scoreTasks(workers: threading.workers) }
            guard text != nil || tokens != nil else {
                print(json ? JSONValue.object([("model", .string(model)), ("ref", ref.map { .string($0) } ?? .null),
                                               ("tasks", Self.tasksJSON(taskReports, hasRef: ref != nil))]).serialized(pretty: true)
                           : Self.tasksTable(taskReports, model: model, ref: ref))
                return
            }
            try runPerplexity(taskReports: taskReports)
        } catch let failure as CLIFailure {
            throw failure.report()
        } catch {
            throw CLIFailure.from(error)
        }
    }

    private func runPerplexity(taskReports: [TaskReport]) throws {
        func emit(_ table: String, _ object: JSONValue) {
            guard !taskReports.isEmpty else { return print(json ? object.serialized(pretty: true) : table) }
            if json, case .object(let fields) = object {
                print(JSONValue.object(fields + [("tasks", Self.tasksJSON(taskReports, hasRef: ref != nil))]).serialized(pretty: true))
            } else {
                print(table + "\n" + Self.tasksTable(taskReports, model: model, ref: ref))
            }
        }
        do {
            let (tokens, source) = try loadTokens()
            guard tokens.count >= ctx else {
                throw CLIFailure(message: "\(source): \(tokens.count) tokens, fewer than one chunk of --ctx \(ctx)",
                                 hint: "use a longer text or a smaller --ctx", exit: QuantdExit.badInput)
            }
            let workers = threading.workers
            if let ref {
                // The pipeline's evaluate stage, on one artifact: the same numbers a job's manifest records.
                let reference = try LlamaModel(path: ref)
                let report = try EvaluationStage.measure(
                    reference: reference, artifacts: [model], tokens: tokens,
                    settings: EvaluationSettings(tokens: tokens.count, ctx: ctx), threads: workers)
                switch report.outcome(artifact: 0) {
                case .measured(let result)?:
                    emit(Self.table(result, model: model, ref: ref, tokens: tokens.count, ctx: ctx),
                         Self.json(result, model: model, ref: ref, tokens: tokens.count, ctx: ctx))
                case .skipped(let reason)?:
                    throw CLIFailure(message: "\(model): \(reason)", hint: "compare models made from the same source", exit: QuantdExit.badInput)
                case nil:
                    throw CLIFailure(message: "\(model) was not evaluated", hint: nil, exit: QuantdExit.badInput)
                }
            } else {
                let result = try PerplexityEvaluator.run(model: LlamaModel(path: model), tokens: tokens, ctx: ctx, threads: workers)
                emit("\(model): perplexity \(Self.fixed(result.perplexity, 4)) over \(result.scoredTokens) scored tokens "
                     + "(\(tokens.count) tokens, \(result.chunks) chunks of \(ctx)), \(Self.fixed(result.tokensPerSecond, 1)) tokens/s",
                     Self.json(result, model: model, tokens: tokens.count, ctx: ctx))
            }
        }
    }

    /// Each task's accuracy: the model's, or with --ref the source's, the model's and the change.
    static func tasksTable(_ reports: [TaskReport], model: String, ref: String?) -> String {
        var lines: [String] = []
        for task in reports {
            let head = "\(task.spec.kind.rawValue) (\(task.spec.file)): "
            if let reason = task.skipped {
                lines.append(head + "skipped: \(reason)")
                continue
            }
            guard let source = task.source else { continue }
            func acc(_ r: TaskResult) -> String { "\(fixed(r.accuracy * 100, 2)) ± \(fixed(r.standardError * 100, 2)) %" }
            lines.append(head + "\(source.items) of \(task.available) items")
            if let ref {
                lines.append("  reference  \(ref)  \(acc(source))")
                switch task.outcome(artifact: 0) {
                case .measured(let r, let same)?:
                    let change = task.changePoints(artifact: 0) ?? 0
                    lines.append("  model      \(model)  \(acc(r))  (\(change >= 0 ? "+" : "")\(fixed(change, 2)) points, "
                                 + "same choice on \(fixed(same * 100, 1)) % of items)")
                case .skipped(let reason)?: lines.append("  model      \(model)  skipped: \(reason)")
                case nil: break
                }
            } else {
                lines.append("  \(model)  \(acc(source))")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func tasksJSON(_ reports: [TaskReport], hasRef: Bool) -> JSONValue {
        .array(reports.map { task in
            var fields: [(key: String, value: JSONValue)] = [
                ("kind", .string(task.spec.kind.rawValue)), ("file", .string(task.spec.file)), ("items_available", num(task.available)),
            ]
            if let reason = task.skipped { return .object(fields + [("skipped", .string(reason))]) }
            func result(_ r: TaskResult) -> JSONValue {
                .object([("items", num(r.items)), ("correct", num(r.correct)), ("accuracy", num(r.accuracy)),
                         ("standard_error", num(r.standardError)), ("choices", .array(r.outcomes.map { num($0.chosen) })),
                         ("correct_items", .array(r.outcomes.map { .bool($0.correct) }))])
            }
            if let source = task.source { fields.append((hasRef ? "ref" : "model", result(source))) }
            if hasRef {
                switch task.outcome(artifact: 0) {
                case .measured(let r, let same)?:
                    fields += [("model", result(r)), ("change_points", num(task.changePoints(artifact: 0) ?? .nan)), ("same_choice", num(same))]
                case .skipped(let reason)?: fields.append(("model", .object([("skipped", .string(reason))])))
                case nil: break
                }
            }
            return .object(fields)
        })
    }

    static func table(_ r: KLDResult, model: String, ref: String, tokens: Int, ctx: Int) -> String {
        [
            "\(tokens) tokens, \(r.candidate.chunks) chunks of \(ctx), \(r.scoredTokens) scored",
            "  reference  \(ref)  perplexity \(fixed(r.reference.perplexity, 4))",
            "  model      \(model)  perplexity \(fixed(r.candidate.perplexity, 4))"
                + " (\(r.candidate.perplexity >= r.reference.perplexity ? "+" : "")\(fixed((r.candidate.perplexity / r.reference.perplexity - 1) * 100, 2)) %)",
            "  KL divergence  mean \(sci(r.kldMean))  median \(sci(r.kldMedian))  p99 \(sci(r.kldP99))  max \(sci(r.kldMax))",
            "  top-1 agreement \(fixed(r.top1Agreement * 100, 2)) %   RMS Δp \(fixed(r.rmsDeltaP * 100, 3)) %",
        ].joined(separator: "\n")
    }

    static func json(_ r: KLDResult, model: String, ref: String, tokens: Int, ctx: Int) -> JSONValue {
        .object([
            ("model", .string(model)), ("ref", .string(ref)), ("tokens", num(tokens)), ("ctx", num(ctx)),
            ("chunks", num(r.candidate.chunks)), ("scored", num(r.scoredTokens)), ("ref_perplexity", num(r.reference.perplexity)),
        ] + EvaluationJSON.divergence(r))
    }

    static func json(_ r: PerplexityResult, model: String, tokens: Int, ctx: Int) -> JSONValue {
        .object([
            ("model", .string(model)), ("tokens", num(tokens)), ("ctx", num(ctx)), ("chunks", num(r.chunks)),
            ("scored", num(r.scoredTokens)), ("perplexity", num(r.perplexity)), ("tokens_per_second", num(r.tokensPerSecond)),
        ])
    }

    static func num(_ x: Int) -> JSONValue { .number(JSONNumber(x)) }
    static func num(_ x: Double) -> JSONValue { x.isFinite ? .number(JSONNumber(x)) : .null }
    static func fixed(_ x: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (x * scale).rounded() / scale
        var s = "\(r)"
        let decimals = s.split(separator: ".").last?.count ?? 0
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        return s
    }
    static func sci(_ x: Double) -> String { ConvertSummary.sci(x) }
}
