import BinaryIO
import JSON
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs each job as a Slurm job: `quantd run-job` on whichever node Slurm picks.
///
/// The daemon stays on the submit node and keeps everything it owns there (the drop folder, the
/// claim by rename, retries, publishing, the ledger); ROOT is on a file system the nodes mount at
/// the same path. One Slurm job per input: its calibration (imatrix) is computed once and shared
/// by all the schemes of the pipeline, which a job array of one task per scheme could not do
/// without a second round of submissions.
///
/// A job is submitted with `sbatch` (no shell: the script is a file in the job's scratch folder,
/// every path in it quoted), recorded in `work/ID/slurm-job.json`, and followed through the report
/// lines the job process appends to `scratch/.quantd-report.jsonl` (progress, then its outcome)
/// and `scontrol show job` (its state). How it ends:
/// - the job process reported an outcome: taken as it is, as for a local job process;
/// - Slurm ended it without one: `TIMEOUT` fails the job (`--time`), `OUT_OF_MEMORY` too
///   (`--mem`); `NODE_FAIL`, `PREEMPTED`, `BOOT_FAIL`, `DEADLINE` and a cancellation by someone
///   else are transient (retried up to `max_attempts`, then failed with Slurm's reason); `FAILED`
///   or `COMPLETED` without a report is a crash, with the log's last lines.
///
/// When the daemon stops, Slurm jobs are left running: the attempt ends as interrupted, the job
/// stays in work/, and the next daemon adopts the Slurm job (`resumes`) instead of submitting it
/// again, keeping what it wrote.
public final class SlurmJobExecutor: JobExecutor {
    public let settings: SlurmSettings
    private let executable: String
    private let version: String
    private let pipeline: Mutex<(file: String?, text: String?)>
    /// Commands the executor runs (`sbatch`, `scontrol`, `scancel`), looked up in PATH.
    private let commands: SlurmCommands
    /// Extra `NAME=value` environment entries for the job (tests' hooks); the job otherwise gets
    /// the daemon's environment, as sbatch passes it by default.
    private let environment: [String]

    static let stateName = "slurm-job.json"
    static let reportName = ".quantd-report.jsonl"
    static let scriptName = ".quantd-job.sh"

    public init(settings: SlurmSettings, pipelineFile: String?, version: String,
                executable: String = ChildProcessJobExecutor.ownExecutable, commands: SlurmCommands = SlurmCommands(),
                environment: [String] = []) throws {
        self.settings = settings
        self.environment = environment
        self.executable = settings.quantd ?? executable
        self.version = version
        self.commands = commands
        let text = try pipelineFile.map(ChildProcessJobExecutor.readPipeline)
        pipeline = Mutex((pipelineFile, text))
    }

    public func reload(pipelineFile: String) throws {
        let text = try ChildProcessJobExecutor.readPipeline(pipelineFile)
        pipeline.withLock { $0 = (pipelineFile, text) }
    }

    // MARK: Adoption

    /// A Slurm job submitted by an earlier daemon for this job that is still queued or running, or
    /// that finished and reported success: follow it rather than start again.
    public func resumes(_ request: JobRequest) -> Bool {
        guard let state = SlurmJobState.read(Self.statePath(request)) else { return false }
        if let status = try? commands.status(of: state.slurmJob), !status.isFinished { return true }
        if case .done? = Self.finalReport(request) { return true }
        FileSystem.removeFile(Self.statePath(request))
        return false
    }

    /// `work/ID/slurm-job.json`: beside `out/` and `scratch/`, which a new attempt empties.
    static func statePath(_ request: JobRequest) -> String {
        var parts = request.outputFolder.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/" + stateName
    }

    // MARK: Running

    public func run(_ request: JobRequest) throws -> JobOutcome {
        let statePath = Self.statePath(request)
        let slurmJob: String
        if let state = SlurmJobState.read(statePath) {
            slurmJob = state.slurmJob
        } else {
            slurmJob = try submit(request)
            try FileSystem.writeAtomically(statePath, SlurmJobState(slurmJob: slurmJob, attempt: request.attempt).json().serialized() + "\n")
        }
        request.progress(JobProgress(stage: "slurm", detail: "job \(slurmJob) queued"))
        let ending = try follow(slurmJob, request)
        FileSystem.removeFile(statePath)
        return try outcome(ending, slurmJob: slurmJob, request)
    }

    private func submit(_ request: JobRequest) throws -> String {
        let (file, text) = pipeline.withLock { $0 }
        let requestPath = request.scratchFolder + "/" + ChildProcessJobExecutor.requestName
        let reportPath = request.scratchFolder + "/" + Self.reportName
        let scriptPath = request.scratchFolder + "/" + Self.scriptName
        let logPath = request.scratchFolder + "/" + ChildProcessJobExecutor.logName
        let threads = settings.cpusPerTask ?? request.threads
        let document = JobProcessRequest(
            id: request.id, inputName: request.inputName, inputPath: request.inputPath,
            outputFolder: request.outputFolder, scratchFolder: request.scratchFolder,
            root: ChildProcessJobExecutor.root(of: request), threads: threads, attempt: request.attempt,
            pipelineFile: file, pipelineText: text, addressSpaceBytes: nil, parentPid: 0, version: version)
        try FileSystem.writeAtomically(requestPath, document.json().serialized() + "\n")
        // fd 3 is where `quantd run-job` writes its reports; here it appends to a file the daemon reads.
        let script = """
            #!/bin/sh
            exec 3>>\(Self.shellQuoted(reportPath))
            exec \(Self.shellQuoted(executable)) run-job --request \(Self.shellQuoted(requestPath))

            """
        try FileSystem.writeAtomically(scriptPath, script, permissions: 0o700)

        var arguments = ["--parsable", "--job-name=quantd-\(request.id)", "--output=\(logPath)", "--open-mode=append",
                         "--chdir=\(request.scratchFolder)", "--no-requeue", "--cpus-per-task=\(threads)", "--ntasks=1"]
        if let partition = settings.partition { arguments.append("--partition=\(partition)") }
        if let account = settings.account { arguments.append("--account=\(account)") }
        if let memory = settings.memory { arguments.append("--mem=\(memory)") }
        if let time = settings.time ?? request.limits.timeoutSeconds.map(Self.slurmMinutes) { arguments.append("--time=\(time)") }
        if !environment.isEmpty { arguments.append("--export=" + (["ALL"] + environment).joined(separator: ",")) }
        arguments += settings.sbatchArguments
        arguments.append(scriptPath)
        return try commands.submit(arguments, scratch: request.scratchFolder)
    }

    /// Slurm's `--time` in whole minutes, rounded up (Slurm's smallest unit).
    static func slurmMinutes(_ seconds: Double) -> String {
        String(max(1, Int((seconds / 60).rounded(.up))))
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    // MARK: Following

    private enum Ending {
        case reported(JobProcessReport, status: SlurmStatus?)
        case endedWithoutReport(SlurmStatus?)
    }

    private func follow(_ slurmJob: String, _ request: JobRequest) throws -> Ending {
        let reportPath = request.scratchFolder + "/" + Self.reportName
        var reader = ReportReader(path: reportPath)
        var lastState = ""
        var nextPoll = 0.0
        var unknownSince: Double?
        while true {
            for report in reader.readNew() {
                switch report {
                case let .progress(progress): request.progress(progress)
                case .done, .failed:
                    return .reported(report, status: try? commands.status(of: slurmJob))
                }
            }
            if request.isCancelled() {
                // The Slurm job carries on; the next daemon adopts it.
                throw JobFailure(kind: .transient, type: JobFailure.cancelledType,
                                 message: "the daemon is stopping; Slurm job \(slurmJob) keeps running and the next start follows it")
            }
            let now = Clock.monotonic()
            if now >= nextPoll {
                nextPoll = now + settings.pollSeconds
                let status: SlurmStatus?
                do {
                    status = try commands.status(of: slurmJob)
                } catch {
                    // scontrol itself failing (the controller restarting) is not the job's fault.
                    status = nil
                }
                if let status {
                    unknownSince = nil
                    if status.state != lastState {
                        lastState = status.state
                        if !status.isFinished {
                            request.progress(JobProgress(stage: "slurm", detail: "job \(slurmJob) \(status.state.lowercased())"
                                                          + (status.node.map { " on \($0)" } ?? "")))
                        }
                    }
                    if status.isFinished {
                        // The last report lines may land just after Slurm records the end.
                        for report in reader.readNew() where report.isFinal { return .reported(report, status: status) }
                        return .endedWithoutReport(status)
                    }
                } else {
                    // Unknown to Slurm: purged after it ended (MinJobAge), or the controller is away.
                    let since = unknownSince ?? now
                    unknownSince = since
                    if now - since > max(30, settings.pollSeconds * 5) {
                        for report in reader.readNew() where report.isFinal { return .reported(report, status: nil) }
                        return .endedWithoutReport(nil)
                    }
                }
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            nanosleep(&pause, nil)
        }
    }

    /// The outcome the job process reported, if its report file has one.
    static func finalReport(_ request: JobRequest) -> JobProcessReport? {
        var reader = ReportReader(path: request.scratchFolder + "/" + reportName)
        return reader.readNew().last { $0.isFinal }
    }

    private func outcome(_ ending: Ending, slurmJob: String, _ request: JobRequest) throws -> JobOutcome {
        let logPath = request.scratchFolder + "/" + ChildProcessJobExecutor.logName
        switch ending {
        case let .reported(.done(files), _):
            return JobOutcome(files: files)
        case let .reported(.failed(failure), _):
            throw failure
        case .reported(.progress, _):
            throw JobFailure(kind: .transient, type: "SlurmError", message: "Slurm job \(slurmJob) ended without an outcome")
        case let .endedWithoutReport(status):
            let log = JobProcessLog(path: logPath)
            let state = status?.state ?? "UNKNOWN"
            let reason = status.map(\.describe) ?? "Slurm no longer knows it"
            let end = JobProcessEnd(exitStatus: status?.exitStatus, stderrTail: log.tail, stage: nil)
            switch state {
            case "TIMEOUT":
                throw JobFailure(kind: .badInput, type: "JobTimeout", code: "slurm TIMEOUT",
                                 message: "Slurm job \(slurmJob) reached its time limit and was stopped (\(reason))",
                                 hint: "raise \"time\" in the executor settings (or job_timeout_seconds), then drop the input again",
                                 process: end)
            case "OUT_OF_MEMORY":
                throw JobFailure(kind: .badInput, type: "JobOutOfMemory", code: "slurm OUT_OF_MEMORY",
                                 message: "Slurm job \(slurmJob) needed more memory than it was given\(settings.memory.map { " (--mem=\($0))" } ?? "")",
                                 hint: "raise \"mem\" in the executor settings, then drop the input again", process: end)
            case "FAILED", "COMPLETED":
                throw JobFailure(kind: .badInput, type: "JobCrashed", code: "slurm \(state)",
                                 message: "Slurm job \(slurmJob) ended without reporting a result (\(reason))"
                                    + ChildProcessJobExecutor.summary(log.summary),
                                 hint: "only this job failed; the log is in the job's scratch folder while it runs and its last lines are here",
                                 process: end)
            default:
                // NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE, CANCELLED by an operator, or gone.
                throw JobFailure(kind: .transient, type: "SlurmJobLost", code: "slurm \(state)",
                                 message: "Slurm job \(slurmJob) ended \(state) before the job finished (\(reason))",
                                 hint: "retried up to max_attempts; if it keeps happening, check the nodes (`sinfo -R`)",
                                 process: end)
            }
        }
    }

    /// Reads the report file from where it last stopped; only whole lines.
    private struct ReportReader {
        let path: String
        var offset = 0
        var pending: [UInt8] = []

        init(path: String) { self.path = path }

        mutating func readNew() -> [JobProcessReport] {
            var reports: [JobProcessReport] = []
            while let chunk = FileSystem.read(path, from: offset, limit: 64 << 10), !chunk.isEmpty {
                offset += chunk.count
                pending += chunk
                while let newline = pending.firstIndex(of: 10) {
                    if let report = JobProcessReport(line: Array(pending[..<newline])) { reports.append(report) }
                    pending.removeSubrange(...newline)
                }
                // A line longer than any report is not one.
                if pending.count > 1 << 20 { pending.removeAll() }
            }
            return reports
        }
    }
}

extension JobProcessReport {
    var isFinal: Bool {
        if case .progress = self { return false }
        return true
    }
}

/// `work/ID/slurm-job.json`: the Slurm job an attempt submitted.
struct SlurmJobState: Equatable {
    var slurmJob: String
    var attempt: Int

    func json() -> JSONValue {
        jsonObject([("slurm_job", .string(slurmJob)), ("attempt", .number(JSONNumber(attempt)))])
    }

    static func read(_ path: String) -> SlurmJobState? {
        guard let bytes = FileSystem.read(path, limit: 64 << 10), let value = try? StrictJSON.parse(bytes),
              let job = value["slurm_job"]?.stringValue, SlurmCommands.isJobID(job),
              let attempt = value["attempt"]?.intValue else { return nil }
        return SlurmJobState(slurmJob: job, attempt: attempt)
    }
}
