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

    /// The manifest's root `evaluation` object: the text, the method's parameters and the source's
    /// own perplexity; `{"skipped": reason}` when the stage could not run.
    public static func job(_ report: EvaluationReport) -> JSONValue {
        if let reason = report.skipped { return .object([("skipped", .string(reason))]) }
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
        return .object(fields)
    }

    static func int(_ x: Int) -> JSONValue { .number(JSONNumber(x)) }
    /// Finite numbers as JSON numbers; NaN and infinities as null.
    static func number(_ x: Double) -> JSONValue { x.isFinite ? .number(JSONNumber(x)) : .null }
}
