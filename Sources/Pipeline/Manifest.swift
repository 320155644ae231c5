#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import JSON
import Quantization

/// `manifest.json`: what a job did and what it cost, written last and atomically — the job's
/// commit record. Schema version 1 (documented in docs/manifest.md). It is the only output that holds
/// a timestamp, so artifacts stay byte-identical across runs.
public enum Manifest {
    public static let schemaVersion = 1
    public static let fileName = "manifest.json"

    public static func build(result: JobResult, config: PipelineConfig, sources: [(file: String, bytes: Int, sha256: String)],
                             importance: ImportanceMatrix?, quantdVersion: String, createdAt: Double,
                             converter: ConverterRecord? = nil) -> JSONValue {
        var root: [(key: String, value: JSONValue)] = [
            ("manifest_version", .number(JSONNumber(schemaVersion))),
            ("quantd_version", .string(quantdVersion)),
            ("created", .string(Clock.iso8601(createdAt, milliseconds: false))),
        ]
        let pipelineJSON = config.sourceJSON ?? config.synthesizedJSON
        root.append(("pipeline", .object([
            ("sha256", .string(config.sourceSHA256 ?? Array(pipelineJSON.serialized().utf8).withUnsafeBytes { SHA256Digest.hex(of: $0) })),
            ("config", pipelineJSON),
        ])))
        root.append(("sources", .array(sources.map { s in
            .object([("file", .string(s.file)), ("bytes", .number(JSONNumber(s.bytes))), ("sha256", .string(s.sha256))])
        })))
        // Which converter made the F16 the artifacts come from (absent for a GGUF input).
        if let converter { root.append(("converter", converter.json)) }
        var calibration: [(key: String, value: JSONValue)] = []
        if let importance {
            var fields: [(key: String, value: JSONValue)] = [
                ("file", .string(importance.file)),
                ("entries", .number(JSONNumber(importance.entries.count))),
                ("chunks", .number(JSONNumber(importance.chunkCount))),
                ("datasets", .array(importance.datasets.map { .string($0) })),
            ]
            if let c = importance.computation {
                fields += [
                    ("computed", .bool(true)), ("text", .string(c.text)), ("text_sha256", .string(c.textSHA256)),
                    ("text_tokens", .number(JSONNumber(c.textTokens))), ("ctx", .number(JSONNumber(c.ctx))),
                    ("process_output", .bool(c.processOutput)), ("seconds", number(c.seconds)),
                ]
            }
            calibration.append(("imatrix", .object(fields)))
        } else if let reason = result.imatrixSkipped {
            calibration.append(("imatrix", .object([("skipped", .string(reason))])))
        }
        if !result.weightStats.isEmpty {
            calibration.append(("weight_stats", .object(result.weightStats.map { entry in
                (entry.name, .object([
                    ("absmax", number(entry.stats.absMax)), ("std", number(entry.stats.standardDeviation)),
                    ("kurtosis", number(entry.stats.excessKurtosis)),
                    ("outlier_fraction", number(Double(entry.outliers) / Double(max(1, entry.stats.count)))),
                ]))
            })))
        }
        if let weights = result.weightCalibration { calibration += weightCalibrationFields(weights, config: config) }
        root.append(("calibration", .object(calibration)))
        root.append(("artifacts", .array(result.artifacts.indices.map { i in
            artifact(result.artifacts[i], evaluation: result.evaluation.flatMap { EvaluationJSON.artifact($0, index: i) },
                     sizeTarget: result.sizeTargets.first { $0.scheme == result.artifacts[i].scheme })
        })))
        if let evaluation = result.evaluation { root.append(("evaluation", EvaluationJSON.job(evaluation))) }
        root.append(("timings", .object(result.timings.map { ($0.stage, number($0.seconds)) })))
        return .object(root)
    }

    static func artifact(_ a: JobResult.Artifact, evaluation: JSONValue?, sizeTarget: SizeTargetRecord? = nil) -> JSONValue {
        let weights = a.tensors.reduce(0) { $0 + $1.bytes }
        var histogram: [(key: String, value: JSONValue)] = []
        for record in a.tensors {
            if let i = histogram.firstIndex(where: { $0.key == record.type.name }) {
                histogram[i].value = .number(JSONNumber((histogram[i].value.intValue ?? 0) + 1))
            } else {
                histogram.append((record.type.name, .number(JSONNumber(1))))
            }
        }
        let elements = a.tensors.reduce(0) { $0 + $1.elements }
        var fields: [(key: String, value: JSONValue)] = [
            ("scheme", .string(a.scheme)), ("mix", .string(a.mix.rawValue)),
            ("file", .string(lastComponent(a.path))), ("bytes", .number(JSONNumber(a.bytes))), ("sha256", .string(a.sha256)),
            ("bits_per_weight", number(elements > 0 ? Double(weights) * 8 / Double(elements) : 0)),
            ("types", .object(histogram)),
            ("method", .string(a.method)),
            // False: the bytes are llama-quantize's for this mix; true: a file of standard blocks that
            // llama.cpp runs, but not the one llama-quantize would write.
            ("departs_from_llama_cpp", .bool(a.method != "llama.cpp")),
        ]
        if !a.files.isEmpty {
            fields.append(("split", .object([
                ("count", .number(JSONNumber(a.files.count))),
                ("files", .array(a.files.map { f in
                    .object([("file", .string(lastComponent(f.path))), ("bytes", .number(JSONNumber(f.bytes))), ("sha256", .string(f.sha256))])
                })),
            ])))
        }
        if let sizeTarget { fields.append(("plan", plan(sizeTarget))) }
        if let zpath = a.compressedPath, let zbytes = a.compressedBytes {
            fields.append(("zstd", .object([
                ("file", .string(lastComponent(zpath))), ("bytes", .number(JSONNumber(zbytes))),
                ("sha256", .string(a.compressedSHA256 ?? "")),
                ("ratio", number(Double(a.bytes) / Double(max(1, zbytes)))),
            ])))
        }
        if let evaluation { fields.append(("evaluation", evaluation)) }
        if !a.calibrated.isEmpty { fields.append(("calibrated", calibratedJSON(a.calibrated))) }
        fields.append(("tensors", .array(a.tensors.map { t in
            var entry: [(key: String, value: JSONValue)] = [
                ("name", .string(t.name)), ("type", .string(t.type.name)), ("bytes", .number(JSONNumber(t.bytes))),
            ]
            if let e = t.error {
                entry += [("rmse", number(e.rmse)), ("relative_rmse", number(e.relativeRMSE)), ("cosine", number(e.cosineSimilarity)),
                          ("max_abs_error", number(e.maxAbsError)), ("snr_db", number(e.snrDB))]
            }
            return .object(entry)
        })))
        return .object(fields)
    }

    /// A size target's plan and verification (the tensors' types are in the artifact's `tensors`).
    static func plan(_ r: SizeTargetRecord) -> JSONValue {
        let p = r.plan
        var fields: [(key: String, value: JSONValue)] = [
            ("target", p.target.json), ("budget_bytes", .number(JSONNumber(p.budgetBytes))),
            ("planned_bytes", .number(JSONNumber(p.plannedBytes))), ("predicted_kld", number(p.predictedKLD)),
            ("sensitivity", .object([
                ("text", .string(p.calibrationText)), ("tokens", .number(JSONNumber(p.calibrationTokens))),
                ("forward_passes", .number(JSONNumber(p.probes))), ("seconds", number(p.seconds)),
            ])),
        ]
        if let mix = p.namedMix {
            var named: [(key: String, value: JSONValue)] = [("mix", .string(mix.rawValue))]
            if let bytes = p.namedMixBytes { named.append(("bytes", .number(JSONNumber(bytes)))) }
            if let k = p.predictedNamedMixKLD { named.append(("predicted_kld", number(k))) }
            if let k = r.measuredNamedMixKLD { named.append(("measured_kld", number(k))) }
            if let scheme = r.comparedWith { named.append(("scheme", .string(scheme))) }
            fields.append(("named_mix", .object(named)))
        }
        if let k = r.measuredKLD { fields.append(("measured_kld", number(k))) }
        let verdict: String
        switch r.beatsNamedMix {
        case true?: verdict = "below the named mix"
        case false?: verdict = "not below the named mix; the named mix is written too"
        case nil: verdict = p.namedMix == nil ? "measured (no named mix to compare with)" : "not verified (no evaluate stage)"
        }
        fields.append(("verification", .string(verdict)))
        return .object(fields)
    }

    /// Finite numbers as JSON numbers; NaN and infinities (e.g. the SNR of an exact copy) as null.
    static func number(_ x: Double) -> JSONValue { x.isFinite ? .number(JSONNumber(x)) : .null }

    static func lastComponent(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    public static func write(_ manifest: JSONValue, folder: String) throws {
        let writer = try AtomicFileWriter(destination: "\(folder)/\(fileName)")
        try writer.write(Array(manifest.serialized(pretty: true).utf8))
        try writer.commit()
    }
}
