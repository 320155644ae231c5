/// The seam between the daemon and whatever turns one input into artifacts.
///
/// The daemon owns everything around a job: noticing and settling the input, claiming it into
/// `ROOT/work/ID/`, checking free space, retries, publishing `out/NAME/` atomically, moving the
/// input to `done/` or `failed/`, the ledger and crash recovery. An executor only reads
/// `request.inputPath` and fills `request.outputFolder`.
///
/// `PipelineJobExecutor` (in this target, which imports Pipeline) runs the pipeline on the input
/// with `request.threads` threads, writes each GGUF and `manifest.json` into `request.outputFolder`,
/// and reports stages through `request.progress`. `quantd watch` runs it in a child process per job
/// through `ChildProcessJobExecutor`, so a crash or a hang ends that job only. The daemon's tests
/// plug in their own executors.
///
/// `SlurmJobExecutor` runs the same job process as a Slurm job instead (the `executor` setting).
///
/// Contract:
/// - `run` may be called again for the same input after a crash or a transient error, with an
///   empty `outputFolder` unless `resumes` said otherwise; it must produce the same files (the
///   writer is deterministic).
/// - Write only under `outputFolder` and `scratchFolder`; never modify or move the input.
/// - Files need not be written atomically inside `outputFolder`: the daemon publishes the whole
///   folder with one rename, after `run` returns. They must be fsynced (GGUFWriter and
///   AtomicFileWriter do this), because the rename is only as durable as what it points at.
/// - Throw to fail. `JobFailureClassifier` sorts the error into bad input (to failed/), transient
///   (retried with backoff) or still arriving (back to the inbox). Throw a `JobFailure` to say so
///   explicitly; `GGUFError`, `SafetensorsError`, `ModelFolderError` and `FileError` are
///   understood as they are.
/// - Long stages should poll `request.isCancelled()` and throw when it turns true (the daemon is
///   stopping); an executor that does not is simply abandoned after the grace period and redone.
public protocol JobExecutor: Sendable {
    /// Bytes the job will write, if known before running (sum of planned GGUF sizes). The daemon
    /// checks free space (statvfs) against it before `run` and retries later when short.
    func plannedOutputBytes(for request: JobRequest) throws -> Int?

    /// Runs the job to completion, filling `request.outputFolder`.
    func run(_ request: JobRequest) throws -> JobOutcome

    /// Re-reads the pipeline file (SIGHUP). Throws, changing nothing, when it is invalid; jobs
    /// already running keep the pipeline they started with.
    func reload(pipelineFile: String) throws

    /// The daemon is exiting with jobs still running (grace period over): end them now, so
    /// nothing writes into `work/` once the next daemon redoes them.
    func abandonRunningJobs()

    /// True when work an earlier daemon started for this job is still under way elsewhere (a
    /// Slurm job) and `run` will follow it: the attempt then keeps `outputFolder` and
    /// `scratchFolder` as they are instead of emptying them.
    func resumes(_ request: JobRequest) -> Bool
}

extension JobExecutor {
    public func plannedOutputBytes(for request: JobRequest) throws -> Int? { nil }
    public func reload(pipelineFile: String) throws {}
    public func abandonRunningJobs() {}
    public func resumes(_ request: JobRequest) -> Bool { false }
}

/// Limits on one job, from the daemon settings. Only an executor that runs the job in its own
/// process (`ChildProcessJobExecutor`) can enforce them.
public struct JobLimits: Sendable, Equatable {
    /// Wall-clock seconds before the job is killed, or nil for no limit.
    public var timeoutSeconds: Double?
    /// Memory the job may use beyond mapping its input, or nil for no limit.
    public var memoryBytes: Int?

    public init(timeoutSeconds: Double? = nil, memoryBytes: Int? = nil) {
        self.timeoutSeconds = timeoutSeconds
        self.memoryBytes = memoryBytes
    }
}

/// One job as the executor sees it. All paths are absolute and inside `ROOT/work/ID/`.
public struct JobRequest: Sendable {
    /// The job id (also the name of its folder in `work/`).
    public let id: String
    /// The input's name as dropped into the inbox (`llama-3-8b`, `model.gguf`).
    public let inputName: String
    /// The claimed input: a file or a model folder, at `ROOT/work/ID/input/NAME`.
    public let inputPath: String
    /// An empty folder to fill with artifacts; published as `ROOT/out/NAME/` when `run` returns.
    public let outputFolder: String
    /// An empty folder for intermediate files (imatrix, calibration data); removed after the job.
    public let scratchFolder: String
    /// Threads the job may use (the `threads` setting).
    public let threads: Int
    /// 1 for the first attempt, then 2, 3, ... after transient errors or an interrupted run.
    public let attempt: Int
    /// Reports progress; cheap to call often (the daemon samples it for `quantd status`).
    public let progress: @Sendable (JobProgress) -> Void
    /// True once the daemon is stopping; long stages should give up early.
    public let isCancelled: @Sendable () -> Bool
    public let limits: JobLimits

    public init(id: String, inputName: String, inputPath: String, outputFolder: String, scratchFolder: String,
                threads: Int, attempt: Int, progress: @escaping @Sendable (JobProgress) -> Void = { _ in },
                isCancelled: @escaping @Sendable () -> Bool = { false }, limits: JobLimits = JobLimits()) {
        self.limits = limits
        self.id = id
        self.inputName = inputName
        self.inputPath = inputPath
        self.outputFolder = outputFolder
        self.scratchFolder = scratchFolder
        self.threads = threads
        self.attempt = attempt
        self.progress = progress
        self.isCancelled = isCancelled
    }
}

/// Where a job is. A new `stage` starts a new timing: the daemon measures seconds per stage from
/// the moments the stage name changes, for the ledger and the metrics.
public struct JobProgress: Sendable, Equatable {
    /// A short stage name: `validate`, `imatrix`, `quantize Q4_K_M`, `evaluate`, `compress`.
    public var stage: String
    /// Fraction of the stage done, 0...1, when known.
    public var fraction: Double?
    /// A short human note (`tensor 120/291`).
    public var detail: String?

    public init(stage: String, fraction: Double? = nil, detail: String? = nil) {
        self.stage = stage
        self.fraction = fraction
        self.detail = detail
    }
}

/// What a finished job produced.
public struct JobOutcome: Sendable, Equatable {
    /// The files written, relative to `outputFolder` (`llama-Q4_K_M.gguf`, `manifest.json`).
    /// The daemon checks each exists before publishing.
    public var files: [String]

    public init(files: [String]) {
        self.files = files
    }
}
