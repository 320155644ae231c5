import Inference
import JSON

/// The evaluation's JSON, as the manifest records it (schema in docs/manifest.md) and `quantd eval --json`
/// prints it: the same names for the same numbers.
public enum EvaluationJSON {
    /// One model against the reference: perplexity and the divergence statistics. Fractions
    /// (top-1 agreement, Δp) are 0...1; KL divergences in nats per scored token.
    public static func divergence(_ r: KLDResult) -> [(key: String, value: JSONValue)] {
        [
            ("perplexity", number(r.candidate.perplexity)),
            ("perplexity_change_percent", number((r.candidate.perplexity / r.reference.perplexity - 1) * 100)),
            ("kld_mean", number(r.kldMean)), ("kld_median", number(r.kldMedian)), ("kld_p99", number(r.kldP99)),
            ("kld_max", number(r.kldMax)), ("top1_agreement", number(r.top1Agreement)),
            ("rms_delta_p", number(r.rmsDeltaP)), ("max_delta_p", number(r.maxDeltaP)),
            ("seconds", number(r.candidate.evaluationSeconds)),
        ]
    }

    /// The manifest's per-artifact `evaluation` object.
    public static func artifact(_ outcome: EvaluationReport.ArtifactOutcome) -> JSONValue {
        switch outcome {
        case .measured(let r): .object(divergence(r))
        case .skipped(let reason): .object([("skipped", .string(reason))])
        }
    }

    /// The manifest's per-artifact `evaluation` object with the artifact's task accuracies (`tasks`)
    /// when tasks were scored.
    public static func artifact(_ report: EvaluationReport, index i: Int) -> JSONValue? {
        guard let outcome = report.outcome(artifact: i) else { return nil }
        guard !report.tasks.isEmpty, case .object(var fields) = artifact(outcome) else { return artifact(outcome) }
        fields.append(("tasks", .array(report.tasks.map { task in
            var entry: [(key: String, value: JSONValue)] = [("kind", .string(task.spec.kind.rawValue)), ("file", .string(task.spec.file))]
            switch task.outcome(artifact: i) {
            case .measured(let r, let same)?:
                entry += accuracy(r)
                entry += [("change_points", number(task.changePoints(artifact: i) ?? .nan)), ("same_choice", number(same))]
            case .skipped(let reason)?: entry.append(("skipped", .string(reason)))
            case nil: entry.append(("skipped", .string("not scored")))
            }
            return .object(entry)
        })))
        return .object(fields)
    }

    /// A model's accuracy on a task: fractions 0...1, the standard error binomial.
    static func accuracy(_ r: TaskResult) -> [(key: String, value: JSONValue)] {
        [
            ("items", int(r.items)), ("correct", int(r.correct)), ("accuracy", number(r.accuracy)),
            ("standard_error", number(r.standardError)), ("seconds", number(r.seconds)),
        ]
    }

    /// The root `evaluation` object's `tasks`: each task's file, items and the source's accuracy.
    static func tasks(_ report: EvaluationReport) -> JSONValue {
        .array(report.tasks.map { task in
            var entry: [(key: String, value: JSONValue)] = [
                ("kind", .string(task.spec.kind.rawValue)), ("file", .string(task.spec.file)),
                ("limit", task.spec.limit.map(int) ?? .null), ("items_available", int(task.available)),
            ]
            if let reason = task.skipped {
                entry.append(("skipped", .string(reason)))
            } else if let source = task.source {
                entry.append(("source", .object(accuracy(source))))
            }
            return .object(entry)
        })
    }

    /// The manifest's root `evaluation` object: the text, the method's parameters and the source's
    /// own perplexity, and the tasks with the source's accuracy; `{"skipped": reason}` when the
    /// perplexity part could not run.
    public static func job(_ report: EvaluationReport) -> JSONValue {
        if let reason = report.skipped {
            var fields: [(key: String, value: JSONValue)] = [("skipped", .string(reason))]
            if !report.tasks.isEmpty { fields.append(("tasks", tasks(report))) }
            return .object(fields)
        }
        var fields: [(key: String, value: JSONValue)] = [
            ("text", .string(report.text)), ("text_tokens", int(report.textTokens)), ("tokens", int(report.tokens)),
            ("ctx", int(report.ctx)), ("chunks", int(report.chunks)), ("scored_tokens", int(report.scoredTokens)),
        ]
        if let reference = report.reference {
            fields.append(("source", .object([
                ("perplexity", number(reference.perplexity)), ("seconds", number(reference.evaluationSeconds)),
                ("tokens_per_second", number(reference.tokensPerSecond)),
            ])))
        }
        if !report.tasks.isEmpty { fields.append(("tasks", tasks(report))) }
        return .object(fields)
    }

    static func int(_ x: Int) -> JSONValue { .number(JSONNumber(x)) }
    /// Finite numbers as JSON numbers; NaN and infinities as null.
    static func number(_ x: Double) -> JSONValue { x.isFinite ? .number(JSONNumber(x)) : .null }
}
