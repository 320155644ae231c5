import Pipeline

/// The table `quantd convert` prints when done: one row per artifact.
enum ConvertSummary {
    static func render(_ result: JobResult, folder: String) -> String {
        var lines = ["artifact                                   size        bpw    rel. RMSE   cosine      sha256"]
        for a in result.artifacts {
            let elements = a.tensors.reduce(0) { $0 + $1.elements }
            let bytes = a.tensors.reduce(0) { $0 + $1.bytes }
            var reference = 0.0, squaredError = 0.0, dot = 0.0, a2 = 0.0, b2 = 0.0
            for t in a.tensors {
                guard let e = t.error else { continue }
                reference += e.sumSquaredReference
                squaredError += e.sumSquaredError
                dot += e.dot
                a2 += e.sumSquaredReference
                b2 += e.sumSquaredReconstructed
            }
            let relative = reference > 0 ? (squaredError / reference).squareRoot() : 0
            let cosine = a2 > 0 && b2 > 0 ? dot / (a2.squareRoot() * b2.squareRoot()) : 1
            let name = String(a.path.split(separator: "/").last ?? "")
            lines.append(pad(name, 42) + " " + pad(HumanReport.bytes(a.bytes), 11) + " "
                         + pad(String(format2: Double(bytes) * 8 / Double(max(1, elements))), 6) + " "
                         + pad(sci(relative), 11) + " " + pad(String(format: cosine), 11) + " " + a.sha256.prefix(16) + "…")
            if a.files.count > 1 {
                lines.append("  + " + pad("\(a.files.count - 1) more file\(a.files.count == 2 ? "" : "s") of the split set", 38) + " "
                             + String(a.files[a.files.count - 1].path.split(separator: "/").last ?? ""))
            }
            if let z = a.compressedPath, let zb = a.compressedBytes {
                lines.append("  + " + pad(String(z.split(separator: "/").last ?? ""), 38) + " " + HumanReport.bytes(zb)
                             + " (ratio " + String(format2: Double(a.bytes) / Double(max(1, zb))) + ")")
            }
        }
        if let evaluation = result.evaluation {
            lines += quality(evaluation, artifacts: result.artifacts)
            lines += tasks(evaluation, artifacts: result.artifacts.map { String($0.path.split(separator: "/").last ?? "") })
        }
        lines.append("manifest: \(folder)/manifest.json")
        return lines.joined(separator: "\n")
    }

    /// The `evaluate` stage's table: what quantizing cost each artifact, measured against the source.
    static func quality(_ e: EvaluationReport, artifacts: [JobResult.Artifact]) -> [String] {
        if let reason = e.skipped { return ["", "evaluation skipped: \(reason)"] }
        var lines = [
            "",
            "quality against the source: \(e.chunks) chunk\(e.chunks == 1 ? "" : "s") of \(e.ctx) tokens (\(e.scoredTokens) scored) of \(e.text)",
            "artifact                                   size        bpw    PPL        ΔPPL %   KLD mean    KLD p99     top-1 %",
        ]
        if let source = e.reference {
            lines.append(pad("source", 42) + " " + pad("", 11) + " " + pad("", 6) + " " + pad(EvalCommand.fixed(source.perplexity, 4), 10))
        }
        for (i, a) in artifacts.enumerated() {
            let elements = a.tensors.reduce(0) { $0 + $1.elements }
            let bytes = a.tensors.reduce(0) { $0 + $1.bytes }
            var row = pad(String(a.path.split(separator: "/").last ?? ""), 42) + " " + pad(HumanReport.bytes(a.bytes), 11) + " "
                + pad(String(format2: Double(bytes) * 8 / Double(max(1, elements))), 6) + " "
            switch e.outcome(artifact: i) {
            case .measured(let r)?:
                let change = (r.candidate.perplexity / r.reference.perplexity - 1) * 100
                row += pad(EvalCommand.fixed(r.candidate.perplexity, 4), 10) + " "
                    + pad((change >= 0 ? "+" : "") + EvalCommand.fixed(change, 2), 8) + " "
                    + pad(sci(r.kldMean), 11) + " " + pad(sci(r.kldP99), 11) + " " + EvalCommand.fixed(r.top1Agreement * 100, 2)
            case .skipped(let reason)?: row += "skipped: \(reason)"
            case nil: row += "not evaluated"
            }
            lines.append(row)
        }
        return lines
    }

    /// One block per task: the source's accuracy and each artifact's, with the change in points.
    static func tasks(_ e: EvaluationReport, artifacts: [String]) -> [String] {
        var lines: [String] = []
        for task in e.tasks {
            let scored = task.source?.items ?? 0
            lines += ["", "\(task.spec.kind.rawValue): \(scored) of \(task.available) items of \(task.spec.file)"]
            if let reason = task.skipped {
                lines.append("  skipped: \(reason)")
                continue
            }
            lines.append("artifact                                   accuracy %  ± s.e.   Δ points  same choice %")
            func row(_ name: String, _ r: TaskResult) -> String {
                pad(name, 42) + " " + pad(EvalCommand.fixed(r.accuracy * 100, 2), 11) + " " + pad(EvalCommand.fixed(r.standardError * 100, 2), 8)
            }
            if let source = task.source { lines.append(row("source", source)) }
            for (i, name) in artifacts.enumerated() {
                switch task.outcome(artifact: i) {
                case .measured(let r, let same)?:
                    let change = task.changePoints(artifact: i) ?? 0
                    lines.append(row(name, r) + " " + pad((change >= 0 ? "+" : "") + EvalCommand.fixed(change, 2), 9) + " "
                                 + EvalCommand.fixed(same * 100, 1))
                case .skipped(let reason)?: lines.append(pad(name, 42) + " skipped: \(reason)")
                case nil: lines.append(pad(name, 42) + " not scored")
                }
            }
        }
        return lines
    }

    static func pad(_ s: String, _ n: Int) -> String { HumanReport.pad(s, n) }

    /// Three significant digits in scientific notation, without Foundation.
    static func sci(_ x: Double) -> String {
        guard x > 0, x.isFinite else { return "0" }
        var exponent = 0
        var m = x
        while m >= 10 { m /= 10; exponent += 1 }
        while m < 1 { m *= 10; exponent -= 1 }
        return String(format2: m) + "e" + (exponent < 0 ? "-" : "+") + (abs(exponent) < 10 ? "0" : "") + "\(abs(exponent))"
    }
}

extension String {
    /// Six decimals.
    init(format value: Double) {
        let scaled = (value * 1_000_000).rounded()
        let whole = Int(scaled / 1_000_000)
        let frac = Int(abs(scaled).truncatingRemainder(dividingBy: 1_000_000))
        let digits = String(frac)
        self = "\(whole)." + String(repeating: "0", count: 6 - digits.count) + digits
    }
}
