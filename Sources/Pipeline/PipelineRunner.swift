#if canImport(Glibc)
import BinaryIO
import Glibc
#endif
import GGUF
import Quantization

/// Progress of a job, reported after each slab of rows.
public struct PipelineProgress: Sendable {
    public var tensorIndex: Int
    public var tensorCount: Int
    public var tensorName: String
    public var bytesRead: Int
    public var bytesTotal: Int
}

/// The result of one job: the artifacts written and what was measured on the way.
public struct JobResult: Sendable {
    public struct Artifact: Sendable {
        public var scheme: String
        public var mix: QuantMix
        public var path: String
        public var bytes: Int
        public var sha256: String
        public var tensors: [TensorRecord]
        public var seconds: Double
        /// How the artifact was made: "llama.cpp" (llama-quantize's bytes), or what departs from them
        /// ("size target", "refined rounding").
        public var method = "llama.cpp"
        /// Set by the zstd stage.
        public var compressedPath: String?
        public var compressedBytes: Int?
        public var compressedSHA256: String?
        /// The files of a split artifact, in order (`path` is the first); empty for a single file.
        public var files: [ArtifactFile] = []
        /// What the `gptq`/`awq` stages did to this artifact's matrices (empty without them).
        public var calibrated: [CalibratedTensors.Record] = []
    }

    public var artifacts: [Artifact]
    public var weightStats: [(name: String, stats: WeightStatistics, outliers: Int)]
    public var timings: [(stage: String, seconds: Double)]
    /// The importance matrix the schemes used, for the manifest.
    public var importance: ImportanceMatrix?
    /// Why the computed `imatrix` stage did not run (no forward pass for the architecture).
    public var imatrixSkipped: String? = nil
    /// Set by the `evaluate` stage (PipelineJob).
    public var evaluation: EvaluationReport? = nil
    /// The plans and verification of size-target schemes.
    public var sizeTargets: [SizeTargetRecord] = []
    /// The `gptq`/`awq` stages' figures (its tensor bytes dropped once written).
    public var weightCalibration: CalibratedTensors? = nil
}

/// Runs a pipeline's schemes over a tensor source in one pass: each tensor is read once, a slab
/// of rows at a time, converted to f32 once (inside the quantizing workers when only one artifact
/// converts it), and quantized for every artifact, which are all written side by side, each slab
/// behind the quantization of the next. Memory stays at a few slabs whatever the model's size.
public final class PipelineRunner {
    public let config: PipelineConfig
    public let source: TensorSource
    public let outputFolder: String
    public let baseName: String
    public var threads: Int
    public var progress: (@Sendable (PipelineProgress) -> Void)?
    public var isCancelled: (@Sendable () -> Bool)?
    /// The importance matrix when the job already has it (computed by the `imatrix` stage);
    /// nil: the runner loads the config's imatrix file, if any.
    public var importance: ImportanceMatrix?
    /// Tensors the `gptq`/`awq` stages rounded themselves, written instead of quantizing.
    public var calibrated: CalibratedTensors?
    /// Floats per slab: 4 Mi values (16 MiB) keeps every buffer small and every thread busy.
    public var slabElements = 1 << 22

    public init(config: PipelineConfig, source: TensorSource, outputFolder: String, baseName: String, threads: Int) {
        self.config = config
        self.source = source
        self.outputFolder = outputFolder
        self.baseName = baseName
        self.threads = threads
    }

    public func artifactPath(for scheme: PipelineConfig.Scheme) -> String {
        "\(outputFolder)/\(baseName)-\(scheme.name).gguf"
    }

    public func run() throws -> JobResult {
        var clock = Stopwatch()
        var timings: [(String, Double)] = []
        let importance: ImportanceMatrix?
        if let given = self.importance {
            importance = given
            timings.append(("imatrix", given.computation?.seconds ?? 0))
        } else {
            importance = try config.loadImportanceMatrix()
            if importance != nil { timings.append(("imatrix", clock.lap())) }
        }
        let model = try ModelHyperparameters(metadata: source.metadata)
        let artifacts = try config.schemes.map {
            try ArtifactWriter(scheme: $0, path: artifactPath(for: $0), split: config.splitRule(for: $0), source: source, model: model,
                               importance: importance)
        }
        var stats: [(String, WeightStatistics, Int)] = []
        do {
            try streamTensors(into: artifacts, model: model, importance: importance, stats: &stats)
            for artifact in artifacts { try artifact.finish() }
        } catch {
            for artifact in artifacts { artifact.abort() }
            throw error
        }
        let quantizeSeconds = clock.lap()
        timings.append(("quantize", quantizeSeconds))
        let results = artifacts.map { a in
            var artifact = JobResult.Artifact(scheme: a.scheme.name, mix: a.scheme.options.mix, path: a.path, bytes: a.bytesWritten,
                                              sha256: a.sha256, tensors: a.records, seconds: quantizeSeconds, files: a.files,
                                              calibrated: calibrated?.records[a.scheme.name] ?? [])
            artifact.method = Self.method(a.scheme.options, calibrated: artifact.calibrated)
            return artifact
        }
        return JobResult(artifacts: results, weightStats: stats.map { ($0.0, $0.1, $0.2) }, timings: timings, importance: importance)
    }

    /// The error statistics of `blocks` against the rows they were made from.
    static func measure(_ type: GGMLType, _ blocks: UnsafeRawBufferPointer, against rows: UnsafeBufferPointer<Float>) throws -> ErrorAccumulator {
        var values = [Float](repeating: 0, count: rows.count)
        try values.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, blocks, count: rows.count, into: $0) }
        var error = ErrorAccumulator()
        values.withUnsafeBufferPointer { error.add(reference: rows, reconstructed: $0) }
        return error
    }

    /// What made the artifact's bytes: "llama.cpp" when they are llama-quantize's, otherwise each
    /// departure (a size target, refined rounding, and GPTQ or AWQ where a matrix kept either).
    static func method(_ options: SchemeOptions, calibrated: [CalibratedTensors.Record] = []) -> String {
        var parts: [String] = []
        if options.sizeTarget != nil { parts.append("size target") }
        if options.rounding == .refined { parts.append("refined rounding") }
        if calibrated.contains(where: { $0.method.contains("gptq") }) { parts.append("gptq") }
        if calibrated.contains(where: { $0.method.contains("awq") }) { parts.append("awq") }
        return parts.isEmpty ? "llama.cpp" : parts.joined(separator: " + ")
    }

    private func streamTensors(into artifacts: [ArtifactWriter], model: ModelHyperparameters, importance: ImportanceMatrix?,
                               stats: inout [(String, WeightStatistics, Int)]) throws {
        let tensors = source.tensors
        let maxRowLength = tensors.map(\.rowLength).max() ?? 1
        let slabCapacity = max(slabElements, maxRowLength)
        let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: slabCapacity)
        defer { floats.deallocate() }
        // The widest type is F32 at 4 bytes a value; any quantized slab fits in the same size.
        // Slabs are written behind the quantizer (drained before returning, error or not).
        let writes = WriteBehind(bufferBytes: slabCapacity * 4)
        defer { try? writes.drain() }
        let totalBytes = tensors.reduce(0) { $0 + $1.rowCount * $1.rowBytes($1.type) }
        var bytesRead = 0

        for (index, tensor) in tensors.enumerated() {
            if isCancelled?() == true { throw PipelineError.cancelled }
            let targets = artifacts.map { $0.types[index] }
            let conversions = targets.filter { $0 != tensor.type }.count
            let converts = conversions > 0
            if converts && tensor.type.isQuantized && !config.allowRequantize {
                throw PipelineError.requantizeRefused(tensor: tensor.name, type: tensor.type.name)
            }
            let weights = try Self.importanceWeights(for: tensor, importance: importance, targets: targets,
                                                mixes: artifacts.map(\.scheme.options.mix))
            for artifact in artifacts { writes.later(artifact) { $0.beginTensor(index, tensor: tensor) } }
            // Refined rounding improves blocks against the f32 rows, so they are converted first.
            let refines = zip(artifacts, targets).contains {
                $0.scheme.options.rounding == .refined && $1 != tensor.type && RefinedRounding.supports($1)
            }
            let rowsPerSlab = max(1, slabCapacity / max(1, tensor.rowLength))
            var statistics = config.collectsWeightStats && tensor.rowCount > 1 ? WeightStatistics() : nil
            // Expert tensors (3-D) are quantized expert by expert, each with its own slice of the
            // importance matrix, so a slab never crosses from one expert into the next.
            let rowsPerExpert = tensor.dimensions.count > 1 ? max(1, tensor.dimensions[1]) : 1
            var row = 0
            while row < tensor.rowCount {
                let expertEnd = (row / rowsPerExpert + 1) * rowsPerExpert
                let rows = row..<min(tensor.rowCount, row + rowsPerSlab, expertEnd)
                let expert = row / rowsPerExpert
                let count = rows.count * tensor.rowLength
                let slab = UnsafeMutableBufferPointer(rebasing: floats[0..<count])
                // With a single artifact to quantize and no statistics wanted, each worker converts
                // its own rows to f32 as it quantizes them (no f32 slab through memory); otherwise
                // the slab is converted once for all artifacts.
                let fused = statistics == nil && conversions == 1 && !refines
                if (converts && !fused) || statistics != nil {
                    // rawRows + dequantize is what both sources' floatRows do; split across the
                    // threads so the conversion does not run alone while the workers wait.
                    try Quantizer.dequantize(tensor.type, try source.rawRows(index, rows: rows), count: count,
                                             into: slab, threads: threads)
                    statistics?.add(UnsafeBufferPointer(slab))
                }
                for (artifact, target) in zip(artifacts, targets) {
                    if let replacement = calibrated?.replacement(scheme: artifact.scheme.name, tensor: tensor.name) {
                        let rowBytes = tensor.rowBytes(target)
                        // Made by the stage from this tensor's own shape and plan: a mismatch is a quantd bug.
                        precondition(replacement.count == tensor.rowCount * rowBytes, "\(tensor.name): calibrated bytes of the wrong size")
                        let out = writes.takeBuffer(bytes: rows.count * rowBytes)
                        replacement.withUnsafeBytes {
                            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)]))
                        }
                        writes.append(out, to: artifact, error: nil)
                    } else if target == tensor.type {
                        // The source's bytes are valid only until it is read again: written now.
                        let raw = try source.rawRows(index, rows: rows)
                        try writes.now { try artifact.append(raw, error: nil) }
                    } else {
                        let out = writes.takeBuffer(bytes: rows.count * tensor.rowBytes(target))
                        let error: ErrorAccumulator?
                        do {
                            error = try weights.withOptionalBuffer(for: target, expert: expert, rowLength: tensor.rowLength) { importanceBuffer in
                            if fused {
                                return try Quantizer.quantize(target, rawRows: try source.rawRows(index, rows: rows), of: tensor.type,
                                                              rowLength: tensor.rowLength, importance: importanceBuffer, into: out,
                                                              threads: threads, measure: true)
                            }
                            let refined = artifact.scheme.options.rounding == .refined && RefinedRounding.supports(target)
                            let measured = try Quantizer.quantize(target, rows: UnsafeBufferPointer(slab), rowLength: tensor.rowLength,
                                                                  importance: importanceBuffer, into: out, threads: threads, measure: !refined)
                            guard refined else { return measured }
                            try RefinedRounding.refine(target, rows: UnsafeBufferPointer(slab), rowLength: tensor.rowLength,
                                                       importance: importanceBuffer, blocks: out, threads: threads)
                            return try Self.measure(target, UnsafeRawBufferPointer(out), against: UnsafeBufferPointer(slab))
                            }
                        } catch {
                            writes.release()
                            throw error
                        }
                        writes.append(out, to: artifact, error: error)
                    }
                }
                try writes.check()
                bytesRead += rows.count * tensor.rowBytes(tensor.type)
                row = rows.upperBound
                progress?(PipelineProgress(tensorIndex: index, tensorCount: tensors.count, tensorName: tensor.name,
                                      bytesRead: bytesRead, bytesTotal: totalBytes))
            }
            for artifact in artifacts { writes.later(artifact) { $0.endTensor() } }
            if let statistics {
                var counter = OutlierCounter(statistics: statistics)
                try countOutliers(index, tensor, into: &counter, buffer: floats)
                stats.append((tensor.name, statistics, counter.outliers))
            }
            source.finished(index)
        }
        try writes.drain()
    }

    private func countOutliers(_ index: Int, _ tensor: PlannedTensorSource, into counter: inout OutlierCounter,
                               buffer: UnsafeMutableBufferPointer<Float>) throws {
        let rowsPerSlab = max(1, buffer.count / max(1, tensor.rowLength))
        var row = 0
        while row < tensor.rowCount {
            let rows = row..<min(tensor.rowCount, row + rowsPerSlab)
            let slab = UnsafeMutableBufferPointer(rebasing: buffer[0..<(rows.count * tensor.rowLength)])
            try source.floatRows(index, rows: rows, into: slab)
            counter.add(UnsafeBufferPointer(slab))
            row = rows.upperBound
        }
    }

    /// The imatrix row for a tensor, checked against its size; an error when a scheme asks for
    /// a type that cannot do without one (`tensor_requires_imatrix`: the 1-2 bit IQ types, and
    /// Q2_K inside a Q2_K_S mix), as llama-quantize refuses to make garbage.
    static func importanceWeights(for tensor: PlannedTensorSource, importance: ImportanceMatrix?,
                                   targets: [GGMLType], mixes: [QuantMix]) throws -> ImportanceWeights {
        let experts = tensor.dimensions.count > 2 ? tensor.dimensions[2] : 1
        let weights = try importance?.weights(for: tensor.name, rowLength: tensor.rowLength, experts: experts)
        let exempt = ["token_embd.weight", "per_layer_token_embd.weight", "output.weight"].contains(tensor.name)
        if weights == nil && !exempt {
            for (target, mix) in zip(targets, mixes) where target != tensor.type {
                let needs = [.iq1_S, .iq1_M, .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS].contains(target) || (target == .q2_K && mix == .q2_K_S)
                if needs { throw PipelineError.importanceMatrixRequired(tensor: tensor.name, type: target.name) }
            }
        }
        return ImportanceWeights(values: weights, experts: experts)
    }
}

/// Importance weights for one tensor (one row of `rowLength` per expert).
struct ImportanceWeights {
    var values: [Float]?
    var experts: Int

    /// Runs `body` with the weights of one expert, or nil for types that take none.
    func withOptionalBuffer<R>(for type: GGMLType, expert: Int, rowLength: Int,
                               _ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        guard let values, Quantizer.usesImportanceWeights(type) else { return try body(nil) }
        return try values.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[(expert * rowLength)..<((expert + 1) * rowLength)]))
        }
    }
}

public enum PipelineError: Error, CustomStringConvertible, Equatable {
    case requantizeRefused(tensor: String, type: String)
    case importanceMatrixRequired(tensor: String, type: String)
    case cancelled
    case sourceSlabTooLarge(tensor: String)

    public var description: String {
        switch self {
        case .requantizeRefused(let tensor, let type):
            "tensor '\(tensor)' is already quantized (\(type)); requantizing loses quality — set \"allow_requantize\": true (or --allow-requantize) if you mean it"
        case .importanceMatrixRequired(let tensor, let type):
            "tensor '\(tensor)' would be \(type), which needs an importance matrix — add an imatrix calibration stage"
        case .sourceSlabTooLarge(let tensor):
            "tensor '\(tensor)' has rows too long for the converter's slab; this is a quantd bug, please report it"
        case .cancelled:
            "the job was stopped before it finished; nothing was written"
        }
    }
}

/// Wall-clock laps for stage timings.
struct Stopwatch {
    private var last = Stopwatch.now()
    static func now() -> Double { Clock.monotonic() }
    mutating func lap() -> Double {
        let t = Stopwatch.now()
        defer { last = t }
        return t - last
    }
}
