#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF

/// One whole job: quantize every scheme in one pass, then the output stages (zstd), then hash
/// the sources and write the manifest last. What `quantd convert` runs, and what the daemon runs
/// for each input it claims.
public final class PipelineJob {
    public let config: PipelineConfig
    public let source: TensorSource
    public let outputFolder: String
    public let baseName: String
    public let threads: Int
    public var progress: (@Sendable (PipelineProgress) -> Void)?
    /// Polled between tensors; when it turns true the job stops with `PipelineError.cancelled`.
    public var isCancelled: (@Sendable () -> Bool)?
    /// Progress of the `evaluate` stage (after the quantizing progress above has finished).
    public var evaluationProgress: (@Sendable (EvaluationProgress) -> Void)?
    /// Progress of a computed `imatrix` stage (before quantizing): chunks done of all.
    public var imatrixProgress: (@Sendable (_ chunksDone: Int, _ chunksTotal: Int) -> Void)?
    public var quantdVersion = "0.1.0"
    /// Where intermediate files go (the F16 reference of a folder source too large to convert in
    /// memory); nil: the output folder (hidden names, removed when the stage ends).
    public var scratchFolder: String?
    /// How the manifest names a source file, when it is not where the user put it (the daemon reads a
    /// claimed copy under `work/`, and records the path the model was dropped at).
    public var recordedSourcePath: (@Sendable (String) -> String)?
    /// Converted bytes of a folder source the forward-pass stages may hold in memory (`ReferenceModel`).
    public var referenceMemoryLimit = ReferenceModel.defaultInMemoryLimit

    public init(config: PipelineConfig, source: TensorSource, outputFolder: String, baseName: String, threads: Int) {
        self.config = config
        self.source = source
        self.outputFolder = outputFolder
        self.baseName = baseName
        self.threads = threads
    }

    /// The artifacts' base name: the input file's name without `.gguf`, a split set's
    /// `-00001-of-0000N` and a trailing 16/32-bit type tag (`SmolLM2-135M-F16.gguf` -> `SmolLM2-135M`).
    public static func baseName(forInput path: String) -> String {
        var name = String(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".gguf.zst", ".gguf", ".safetensors"] where name.hasSuffix(suffix) {
            name = String(name.dropLast(suffix.count))
            break
        }
        // A split set's first file, `NAME-00001-of-00003`: the model is NAME.
        let utf8 = Array(name.utf8)
        let n = utf8.count
        if n > 15, utf8[n - 15] == UInt8(ascii: "-"), String(decoding: utf8[(n - 9)..<(n - 5)], as: UTF8.self) == "-of-",
           (utf8[(n - 14)..<(n - 9)] + utf8[(n - 5)...]).allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            name = String(decoding: utf8[..<(n - 15)], as: UTF8.self)
        }
        for tag in ["-f16", "-bf16", "-f32", "-F16", "-BF16", "-F32", ".f16", ".bf16", ".f32"] where name.hasSuffix(tag) {
            return String(name.dropLast(tag.count))
        }
        return name.isEmpty ? "model" : name
    }

    /// The source as a model for the forward pass, made on first use and shared by the imatrix and
    /// evaluate stages, so a folder source is converted once per job.
    private var reference: ReferenceModel?

    /// Threads for the forward-pass stages: `threads`, or every online core when it is 0.
    var workerCount: Int { threads > 0 ? threads : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    func referenceModel() throws -> ReferenceModel {
        if let reference { return reference }
        let made = try ReferenceModel(source: source, scratchFolder: scratchFolder ?? outputFolder, threads: workerCount,
                                      inMemoryLimit: referenceMemoryLimit)
        reference = made
        return made
    }

    /// Which converter made the F16 the artifacts come from; nil for a GGUF input.
    public var converterRecord: ConverterRecord? {
        switch source {
        case let fallback as FallbackConvertedSource: fallback.record
        case is ConvertedModelSource: .native
        default: nil
        }
    }

    public func run() throws -> JobResult {
        // The reference conversion (memory or a temporary file) goes when the job ends, however it ends.
        defer { reference = nil }
        let started = Stopwatch.now()
        let wallClock = Clock.wall().rounded(.down)
        let evaluationText = try config.evaluation.map { try EvaluationStage(settings: $0, baseDirectory: config.baseDirectory).loadText() }
        let evaluationTasks = try config.evaluation.map { try EvaluationStage(settings: $0, baseDirectory: config.baseDirectory).loadTasks() } ?? []
        let (reduced, imatrixSkipped) = schemesConfig()
        var importance = imatrixSkipped == nil ? try computeImportanceMatrix() : nil
        var sizeTargetClock = Stopwatch()
        var schemes = reduced
        var sizeTargets: [SizeTargetRecord] = []
        if reduced.schemes.contains(where: { $0.options.sizeTarget != nil }) {
            if importance == nil { importance = try reduced.loadImportanceMatrix() }
            (schemes, sizeTargets) = try planSizeTargets(reduced, importance: importance)
        }
        let sizeTargetSeconds = sizeTargets.isEmpty ? nil : sizeTargetClock.lap()
        let runner = PipelineRunner(config: schemes, source: source, outputFolder: outputFolder, baseName: baseName, threads: threads)
        runner.importance = importance
        let calibrated = try computeWeightCalibration(config: schemes, importance: try importance ?? schemes.loadImportanceMatrix())
        runner.calibrated = calibrated
        runner.progress = progress
        runner.isCancelled = isCancelled
        var result: JobResult
        do {
            result = try runner.run()
        } catch PipelineError.importanceMatrixRequired(let tensor, let type) where imatrixSkipped != nil {
            throw ImatrixStageError.requiredButSkipped(tensor: tensor, type: type, reason: imatrixSkipped ?? "")
        }
        result.imatrixSkipped = imatrixSkipped
        if let sizeTargetSeconds { result.timings.insert(("size_target", sizeTargetSeconds), at: min(1, result.timings.count)) }
        runner.calibrated = nil
        if var calibrated {
            calibrated.bytes = [:]
            result.weightCalibration = calibrated
            let quantize = result.timings.firstIndex { $0.stage == "quantize" } ?? result.timings.count
            result.timings.insert(("gptq_awq", calibrated.seconds), at: quantize)
        }
        // The fallback converter ran before the job (its F16 is the source): its time comes first.
        if let fallback = source as? FallbackConvertedSource { result.timings.insert(("convert", fallback.conversionSeconds), at: 0) }
        var clock = Stopwatch()
        if let settings = config.evaluation, let evaluationText {
            result.evaluation = try evaluate(settings: settings, text: evaluationText, tasks: evaluationTasks,
                                            artifacts: result.artifacts.map(\.path))
            result.timings.append(("evaluate", clock.lap()))
        }
        if !sizeTargets.isEmpty {
            verifySizeTargets(&sizeTargets, result: &result)
            result.sizeTargets = sizeTargets
        }

        if let zstd = config.zstd {
            for i in result.artifacts.indices {
                let plain = result.artifacts[i].path
                let compressed = try ZstdFileCompressor.compress(source: plain, destination: plain + ".zst",
                                                                 level: zstd.level, workers: zstd.workers)
                result.artifacts[i].compressedPath = plain + ".zst"
                result.artifacts[i].compressedBytes = compressed.bytes
                result.artifacts[i].compressedSHA256 = compressed.sha256
                if !zstd.keepPlain { FileSystem.removeFile(plain) }
            }
            result.timings.append(("zstd", clock.lap()))
        }
        if config.manifest {
            let sources = try source.files.map { file -> (String, Int, String) in
                guard let info = FileSystem.info(file) else { throw FileError(path: file, operation: "stat", errno: errno) }
                return (recordedSourcePath?(file) ?? file, info.size, try SHA256Digest.hex(ofFile: file))
            }
            result.timings.append(("hash_sources", clock.lap()))
            result.timings.append(("total", Stopwatch.now() - started))
            let manifest = Manifest.build(result: result, config: config, sources: sources, importance: result.importance,
                                          quantdVersion: quantdVersion, createdAt: wallClock,
                                          converter: converterRecord)
            // The chart goes beside the manifest, before it: the manifest is the job's commit record.
            let points = QualityChart.points(result)
            if !points.isEmpty {
                let chart = QualityChart.svg(points, title: "\(baseName): size against KL divergence")
                let writer = try AtomicFileWriter(destination: "\(outputFolder)/\(QualityChart.fileName)")
                try writer.write(Array(chart.utf8))
                try writer.commit()
            }
            try Manifest.write(manifest, folder: outputFolder)
        }
        return result
    }
}
