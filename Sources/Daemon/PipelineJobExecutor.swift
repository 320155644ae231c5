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
        let current = config.withLock { $0 }
        // A folder for llama.cpp's converter has no tensors to plan until the converter has run.
        if case .fallbackFolder(let architecture) = ModelInput.kind(of: request.inputPath) {
            guard current.converter != nil else { throw ModelInput.notConfigured(folder: request.inputPath, architecture: architecture) }
            return try ModelInput.plannedFallbackBytes(folder: request.inputPath, config: current)
        }
        let source = try Self.source(for: request.inputPath)
        return try PlanReport.plannedBytes(config: current, source: source)
            + EvaluationStage.scratchBytes(config: current, source: source)
    }

    public func run(_ request: JobRequest) throws -> JobOutcome {
        let current = config.withLock { $0 }
        let cancelled = request.isCancelled
        if case .fallbackFolder = ModelInput.kind(of: request.inputPath) {
            request.progress(JobProgress(stage: "convert", detail: "llama.cpp's convert_hf_to_gguf.py"))
        }
        let source = try ModelInput.open(path: request.inputPath, converter: current.converter,
                                         scratchFolder: request.scratchFolder, isCancelled: { cancelled() })
        let job = PipelineJob(config: current, source: source, outputFolder: request.outputFolder,
                              baseName: PipelineJob.baseName(forInput: request.inputName), threads: request.threads)
        job.quantdVersion = version
        job.scratchFolder = request.scratchFolder
        let claimed = request.inputPath
        let dropped = Self.droppedPath(of: request)
        job.recordedSourcePath = { path in
            path.hasPrefix(claimed) ? dropped + path.dropFirst(claimed.count) : path
        }
        let progress = request.progress
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
                                 detail: p.detail))
        }
        job.isCancelled = cancelled
        let result = try job.run()
        var files: [String] = []
        for artifact in result.artifacts {
            if !artifact.files.isEmpty {
                files += artifact.files.map { Self.name($0.path) }
            } else if current.zstd?.keepPlain ?? true {
                files.append(Self.name(artifact.path))
            }
            if let compressed = artifact.compressedPath { files.append(Self.name(compressed)) }
        }
        if let imatrix = result.importance?.computation?.writtenFile { files.append(imatrix) }
        if current.manifest { files.append(Manifest.fileName) }
        return JobOutcome(files: files)
    }

    /// The input as a tensor source for planning: a Hugging Face folder through quantd's converter
    /// (as convert_hf_to_gguf.py --outtype f16 would write it), or an F32/F16/BF16 GGUF. (A folder
    /// for llama.cpp's converter is opened by `ModelInput.open` when the job runs.)
    static func source(for path: String) throws -> TensorSource {
        ModelInput.kind(of: path) == .gguf ? try GGUFTensorSource(path: path) : try ConvertedModelSource(folder: path)
    }

    static func name(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }
}

extension PipelineJobExecutor {
    /// Where the input was dropped: `ROOT/inbox/NAME` for the claimed `ROOT/work/ID/input/NAME`.
    static func droppedPath(of request: JobRequest) -> String {
        let claimedSuffix = "/work/\(request.id)/input/\(request.inputName)"
        guard request.inputPath.hasSuffix(claimedSuffix) else { return request.inputPath }
        return String(request.inputPath.dropLast(claimedSuffix.count)) + "/inbox/" + request.inputName
    }
}
