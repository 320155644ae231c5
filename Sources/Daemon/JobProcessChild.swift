import BinaryIO
import Dispatch
import JSON
import Pipeline
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The job process's side (`quantd run-job --request FILE`): runs one job with `PipelineJobExecutor`
/// and reports progress and the outcome as JSON lines on fd 3 (`JobProcessReport`).
///
/// It checks the free space itself (the daemon cannot plan without opening the input, which is
/// what this process exists to do instead of the daemon). Started by the daemon itself, it ends
/// when the daemon is gone (PR_SET_PDEATHSIG); started by Slurm, it
/// runs to the end even when the daemon stops. It stops the pipeline early on SIGTERM, reporting
/// `Cancelled`.
public enum JobProcessChild {
    /// Test hooks, honoured only when the variable is set: an input whose name contains the value
    /// aborts (`QUANTD_TEST_JOB_ABORT`), runs until SIGTERM (`QUANTD_TEST_JOB_HANG`), allocates
    /// more than its memory limit (`QUANTD_TEST_JOB_ALLOCATE`) or waits 5 s before it starts
    /// (`QUANTD_TEST_JOB_PAUSE`), so the daemon's handling of crashes, timeouts, allocation
    /// failures and restarts under a running job can be tested with the real binary.
    static let abortVariable = "QUANTD_TEST_JOB_ABORT"
    static let hangVariable = "QUANTD_TEST_JOB_HANG"
    static let allocateVariable = "QUANTD_TEST_JOB_ALLOCATE"
    static let pauseVariable = "QUANTD_TEST_JOB_PAUSE"

    /// Runs the job and returns the process's exit status.
    public static func run(requestFile: String) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let reporter = Reporter()
        let request: JobProcessRequest
        do {
            guard let bytes = FileSystem.read(requestFile, limit: 64 << 20) else {
                throw JobFailure(kind: .transient, type: "JobProcessError",
                                 message: "cannot read the job request \(requestFile): \(String(cString: strerror(errno)))")
            }
            let document: JSONValue
            do { document = try StrictJSON.parse(bytes) } catch {
                throw JobFailure(kind: .transient, type: "JobProcessError", message: "the job request \(requestFile) is not JSON: \(error)")
            }
            request = try JobProcessRequest(json: document)
        } catch {
            reporter.send(.failed(DefaultJobFailureClassifier().classify(error)))
            return JobProcessReport.failedStatus
        }
        // The daemon may be gone already (killed between spawning and here): then nobody waits.
        if request.parentPid != 0 {
            setParentDeathSignal(SIGKILL)
            if getppid() != request.parentPid { return 70 }
        }
        if let bytes = request.addressSpaceBytes {
            var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
            setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        }

        let cancelled = Atomic<Bool>(false)
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { cancelled.store(true, ordering: .relaxed) }
        source.resume()
        defer { source.cancel() }

        let jobRequest = JobRequest(
            id: request.id, inputName: request.inputName, inputPath: request.inputPath, outputFolder: request.outputFolder,
            scratchFolder: request.scratchFolder, threads: request.threads, attempt: request.attempt,
            progress: { reporter.progress($0) }, isCancelled: { cancelled.load(ordering: .relaxed) })
        do {
            try testHooks(request.inputName, limit: request.addressSpaceBytes, cancelled: { cancelled.load(ordering: .relaxed) })
            var config = PipelineConfig.defaultDaemonPipeline
            if let text = request.pipelineText {
                config = try PipelineConfig.parse(Array(text.utf8), file: request.pipelineFile)
            }
            let executor = PipelineJobExecutor(config: config, version: request.version)
            if let planned = try executor.plannedOutputBytes(for: jobRequest),
               let failure = JobAttempt.freeSpaceFailure(planned: planned, outputFolder: request.outputFolder,
                                                        root: request.root, inputName: request.inputName) {
                throw failure
            }
            let outcome = try executor.run(jobRequest)
            reporter.send(.done(files: outcome.files))
            return 0
        } catch {
            var failure = DefaultJobFailureClassifier().classify(error)
            if cancelled.load(ordering: .relaxed) {
                failure = JobFailure(kind: .transient, type: JobFailure.cancelledType,
                                     message: "the job was stopped (SIGTERM) before it finished; nothing was published")
            }
            reporter.send(.failed(failure))
            return JobProcessReport.failedStatus
        }
    }

    /// prctl(PR_SET_PDEATHSIG): Glibc's module does not import the variadic prctl, so it is
    /// looked up by name.
    private static func setParentDeathSignal(_ signal: Int32) {
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        guard let symbol = dlsym(nil, "prctl") else { return }
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        let setParentDeathSignal: Int32 = 1
        _ = prctl(setParentDeathSignal, UInt(signal), 0, 0, 0)
    }

    private static func testHooks(_ inputName: String, limit: Int?, cancelled: () -> Bool) throws {
        func matches(_ variable: String) -> Bool {
            guard let value = getenv(variable).map({ String(cString: $0) }), !value.isEmpty else { return false }
            return inputName.contains(value)
        }
        if matches(abortVariable) {
            let message = Array("quantd run-job: aborting on purpose (\(abortVariable))\n".utf8)
            _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            abort()
        }
        if matches(hangVariable) {
            // Like a pipeline stage that polls: only SIGTERM ends it.
            while !cancelled() { usleep(20_000) }
            throw PipelineError.cancelled
        }
        if matches(pauseVariable) {
            for _ in 0..<250 where !cancelled() { usleep(20_000) }
        }
        if matches(allocateVariable) {
            let bytes = (limit ?? (1 << 40)).multipliedReportingOverflow(by: 2)
            let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes.overflow ? Int.max / 2 : bytes.partialValue, alignment: 64)
            memory.storeBytes(of: 1, as: UInt8.self)
            memory.deallocate()
        }
    }

    /// Writes report lines to fd 3; progress at most every 0.2 s unless the stage changes.
    private final class Reporter: Sendable {
        private struct State { var stage = ""; var last = 0.0 }
        private let state = Mutex(State())

        func progress(_ progress: JobProgress) {
            let now = Clock.monotonic()
            let due = state.withLock { state -> Bool in
                guard progress.stage != state.stage || now - state.last >= 0.2 else { return false }
                state.stage = progress.stage
                state.last = now
                return true
            }
            if due { send(.progress(progress)) }
        }

        func send(_ report: JobProcessReport) {
            let bytes = Array(report.line().utf8)
            state.withLock { _ in
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBytes { write(JobProcessReport.descriptor, $0.baseAddress, $0.count) }
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}
