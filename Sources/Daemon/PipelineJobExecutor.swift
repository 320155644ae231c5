import Pipeline
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs the quantization pipeline for each claimed input: the real executor behind `quantd watch`.
///
/// The pipeline (pipeline.json) is parsed once at start-up and again on SIGHUP; an invalid file
/// at reload keeps the old pipeline. Each job reads the input once and writes every scheme's
/// artifact, the zstd copies and `manifest.json` into the job's output folder, which the daemon
/// publishes as `out/NAME/` in one rename.
public final class PipelineJobExecutor: JobExecutor {
    private let config: Mutex<PipelineConfig>
    private let version: String

    public init(config: PipelineConfig, version: String) {
        self.config = Mutex(config)
        self.version = version
    }

    public func reload(pipelineFile: String) throws {
        let next = try PipelineConfig.load(file: pipelineFile)
        config.withLock { $0 = next }
    }

    public func plannedOutputBytes(for request: JobRequest) throws -> Int? {
        let source = try Self.source(for: request.inputPath)
        let current = config.withLock { $0 }
        return try PlanReport.plannedBytes(config: current, source: source)
            + EvaluationStage.scratchBytes(config: current, source: source)
    }

    public func run(_ request: JobRequest) throws -> JobOutcome {
        let current = config.withLock { $0 }
        let source = try Self.source(for: request.inputPath)
        let job = PipelineJob(config: current, source: source, outputFolder: request.outputFolder,
                              baseName: PipelineJob.baseName(forInput: request.inputName), threads: request.threads)
        job.quantdVersion = version
        job.scratchFolder = request.scratchFolder
        let progress = request.progress
        let cancelled = request.isCancelled
        job.progress = { p in
            progress(JobProgress(stage: "quantize", fraction: p.bytesTotal > 0 ? Double(p.bytesRead) / Double(p.bytesTotal) : nil,
                                 detail: "tensor \(p.tensorIndex + 1)/\(p.tensorCount)"))
        }
        job.imatrixProgress = { done, total in
            progress(JobProgress(stage: "imatrix", fraction: Double(done) / Double(max(1, total)),
                                 detail: "chunk \(done)/\(total)"))
        }
        job.evaluationProgress = { p in
            progress(JobProgress(stage: "evaluate", fraction: Double(p.passesDone) / Double(max(1, p.passesTotal)),
                                 detail: "forward pass \(p.passesDone)/\(p.passesTotal)"))
        }
        job.isCancelled = cancelled
        let result = try job.run()
        var files: [String] = []
        for artifact in result.artifacts {
            if current.zstd?.keepPlain ?? true { files.append(Self.name(artifact.path)) }
            if let compressed = artifact.compressedPath { files.append(Self.name(compressed)) }
        }
        if let imatrix = result.importance?.computation?.writtenFile { files.append(imatrix) }
        if current.manifest { files.append(Manifest.fileName) }
        return JobOutcome(files: files)
    }

    /// The input as a tensor source: a Hugging Face folder through the converter (as
    /// convert_hf_to_gguf.py --outtype f16 would write it), or an F32/F16/BF16 GGUF.
    static func source(for path: String) throws -> TensorSource {
        var info = stat()
        // A lone .safetensors goes to the converter too, whose error says a model folder is needed.
        if path.hasSuffix(".safetensors") || (stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR) {
            return try ConvertedModelSource(folder: path)
        }
        return try GGUFTensorSource(path: path)
    }

    static func name(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }
}
