import BinaryIO
import JSON
import Pipeline
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs each job in its own process (`quantd run-job`), so an input that crashes the pipeline (a
/// trap, an abort, an allocation failure) or hangs it ends that job only, never the daemon.
///
/// The child is started with posix_spawn (no shell) in its own process group, with stdin from
/// /dev/null, stdout and stderr into `scratch/.quantd-job.log`, and a pipe on fd 3 for its reports
/// (`JobProcessReport`). The job thread reads the reports, forwards progress, and waits:
/// - a reported outcome or typed failure is taken as it is (the child classified it with
///   `DefaultJobFailureClassifier`, so bad input / transient / still arriving are decided as in
///   the daemon's own process);
/// - a signal, or an exit without a report, is a crash: bad input, with the signal's name, the
///   exit status and the last lines of stderr in error.json (an allocation failure under the
///   memory limit says how much memory the job was allowed);
/// - `limits.timeoutSeconds` passed: the whole group is killed (SIGKILL) and the job fails;
/// - the daemon stopping: the group gets SIGTERM (the child stops its pipeline and reports
///   `Cancelled`), and SIGKILL when the daemon exits before it is done.
public final class ChildProcessJobExecutor: JobExecutor {
    /// The quantd binary to run (`/proc/self/exe` for `quantd watch`).
    public let executable: String
    private let version: String
    /// Extra `NAME=value` environment entries for the child (tests' hooks).
    private let environment: [String]
    private let pipeline: Mutex<(file: String?, text: String?)>
    /// Process groups of the running children.
    private let groups = Mutex<Set<pid_t>>([])

    private static let spawning = Mutex(())

    /// Lines of the child's stderr kept in error.json.
    static let stderrLines = 12
    static let logName = ".quantd-job.log"
    static let requestName = ".quantd-job.json"

    /// `pipelineFile` nil runs the default pipeline. Throws when the file cannot be read.
    public init(executable: String = ChildProcessJobExecutor.ownExecutable, pipelineFile: String?, version: String,
                environment: [String] = []) throws {
        self.executable = executable
        self.version = version
        self.environment = environment
        let text = try pipelineFile.map(Self.readPipeline)
        pipeline = Mutex((pipelineFile, text))
    }

    /// This process's own executable.
    public static var ownExecutable: String {
        FileSystem.linkTarget("/proc/self/exe") ?? CommandLine.arguments.first ?? "quantd"
    }

    static func readPipeline(_ file: String) throws -> String {
        let bytes = try MappedFile.contents(of: file)
        _ = try PipelineConfig.parse(bytes, file: file)
        return String(decoding: bytes, as: UTF8.self)
    }

    public func reload(pipelineFile: String) throws {
        let text = try Self.readPipeline(pipelineFile)
        pipeline.withLock { $0 = (pipelineFile, text) }
    }

    public func abandonRunningJobs() {
        for group in groups.withLock({ $0 }) { kill(-group, SIGKILL) }
    }

    public func run(_ request: JobRequest) throws -> JobOutcome {
        let (file, text) = pipeline.withLock { $0 }
        let logPath = request.scratchFolder + "/" + Self.logName
        let requestPath = request.scratchFolder + "/" + Self.requestName
        let inputBytes = FileSystem.totalBytes(request.inputPath)
        let document = JobProcessRequest(
            id: request.id, inputName: request.inputName, inputPath: request.inputPath,
            outputFolder: request.outputFolder, scratchFolder: request.scratchFolder, root: Self.root(of: request),
            threads: request.threads, attempt: request.attempt, pipelineFile: file, pipelineText: text,
            addressSpaceBytes: request.limits.memoryBytes.map { Self.addressSpace(memory: $0, inputBytes: inputBytes, threads: request.threads) },
            parentPid: getpid(), version: version)
        try FileSystem.writeAtomically(requestPath, document.json().serialized() + "\n")

        let child = try spawn(requestPath: requestPath, logPath: logPath)
        groups.withLock { _ = $0.insert(child.pid) }
        defer { groups.withLock { _ = $0.remove(child.pid) } }
        let ending = supervise(child, request)
        return try outcome(ending, request, logPath: logPath)
    }

    /// ROOT, for messages: the job's output folder is `ROOT/work/ID/out`.
    static func root(of request: JobRequest) -> String {
        var parts = request.outputFolder.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 3, parts[parts.count - 3] == "work" else { return request.outputFolder }
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }

    /// RLIMIT_AS for a job allowed `memory` bytes: the input is mapped rather than read, and the
    /// runtime, thread stacks and the allocator's per-thread arenas reserve address space they
    /// may never touch, so both come on top.
    static func addressSpace(memory: Int, inputBytes: Int, threads: Int) -> Int {
        let reserve = (1 << 30) + (threads + 4) * (72 << 20)
        let (sum, overflow) = memory.addingReportingOverflow(inputBytes)
        guard !overflow else { return Int.max }
        let (total, overflow2) = sum.addingReportingOverflow(reserve)
        return overflow2 ? Int.max : total
    }

    // MARK: Spawning

    private struct Child {
        let pid: pid_t
        let reports: Int32
    }

    private func spawn(requestPath: String, logPath: String) throws -> Child {
        try Self.spawning.withLock { _ in try spawnLocked(requestPath: requestPath, logPath: logPath) }
    }

    private func spawnLocked(requestPath: String, logPath: String) throws -> Child {
        // Glibc's module has no pipe2: close-on-exec is set right after pipe(), and no other job
        // thread spawns in between (it would inherit the write end and keep it open).
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw Self.startFailure("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var (readEnd, writeEnd) = (fds[0], fds[1])
        // dup2 onto the same number would keep close-on-exec: keep the write end off fd 3.
        if writeEnd == JobProcessReport.descriptor {
            writeEnd = fcntl(writeEnd, F_DUPFD_CLOEXEC, 10)
            close(JobProcessReport.descriptor)
        }
        defer { close(writeEnd) }
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, JobProcessReport.descriptor)

        let arguments: [String] = [executable, "run-job", "--request", requestPath]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var inherited: [String] = []
        var index = 0
        while let entry = environ[index] {
            inherited.append(String(cString: entry))
            index += 1
        }
        let envp: [UnsafeMutablePointer<CChar>?] = (inherited + environment).map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid = pid_t()
        // Its own process group, so a timeout kills whatever the job started too.
        let started = StoppableSpawn.withAttributes(newProcessGroup: true) { attributes in
            posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        guard started == 0 else {
            close(readEnd)
            throw Self.startFailure("cannot start \(executable): \(String(cString: strerror(started)))")
        }
        return Child(pid: pid, reports: readEnd)
    }

    private static func startFailure(_ message: String) -> JobFailure {
        JobFailure(kind: .transient, type: "JobProcessError", message: message,
                   hint: "the daemon could not start the job's process; it is retried")
    }

    // MARK: Supervising

    private enum Ending {
        case exited(Int32, report: JobProcessReport?, stage: String?)
        case signalled(Int32, stage: String?)
        case timedOut(seconds: Double, stage: String?)
    }

    private func supervise(_ child: Child, _ request: JobRequest) -> Ending {
        defer { close(child.reports) }
        let start = Clock.monotonic()
        var buffer: [UInt8] = []
        var final: JobProcessReport?
        var stage: String?
        var open = true
        var lastTerminate: Double?
        func handle(_ line: ArraySlice<UInt8>) {
            guard let report = JobProcessReport(line: Array(line)) else { return }
            switch report {
            case let .progress(progress):
                stage = progress.stage
                request.progress(progress)
            case .done, .failed:
                final = report
            }
        }
        func drain() {
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            while open {
                let count = chunk.withUnsafeMutableBytes { read(child.reports, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 { return }
                if count == 0 { open = false; break }
                buffer += chunk[0..<count]
                while let newline = buffer.firstIndex(of: 10) {
                    handle(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                }
                // A line longer than any report is not one: drop it rather than grow without bound.
                if buffer.count > 1 << 20 { buffer.removeAll() }
            }
        }

        while true {
            if open {
                var poller = pollfd(fd: child.reports, events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, 100)
                drain()
            } else {
                var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
                nanosleep(&pause, nil)
            }
            // Exited? Look without reaping, so the group id stays the child's until its stragglers
            // (a converter it started) are killed too.
            var info = siginfo_t()
            if waitid(P_PID, id_t(child.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, Self.pid(of: info) == child.pid {
                drain()
                kill(-child.pid, SIGKILL)
                let status = Self.reap(child.pid)
                if status & 0x7f == 0 { return .exited((status >> 8) & 0xff, report: final, stage: stage) }
                return .signalled(status & 0x7f, stage: stage)
            }
            if let timeout = request.limits.timeoutSeconds, Clock.monotonic() - start > timeout {
                kill(-child.pid, SIGKILL)
                _ = Self.reap(child.pid)
                return .timedOut(seconds: timeout, stage: stage)
            }
            // Repeated each second: a SIGTERM that lands while the child is still installing its
            // handler (after ignoring the signal, before its dispatch source runs) is lost.
            if request.isCancelled(), lastTerminate.map({ Clock.monotonic() - $0 >= 1 }) ?? true {
                lastTerminate = Clock.monotonic()
                kill(-child.pid, SIGTERM)
            }
        }
    }

    private static func pid(of info: siginfo_t) -> pid_t {
        // si_pid sits in the union after si_signo, si_errno, si_code (and padding on 64-bit).
        withUnsafeBytes(of: info) { raw in
            raw.load(fromByteOffset: MemoryLayout<Int>.size == 8 ? 16 : 12, as: pid_t.self)
        }
    }

    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    // MARK: Outcome

    private func outcome(_ ending: Ending, _ request: JobRequest, logPath: String) throws -> JobOutcome {
        let log = JobProcessLog(path: logPath)
        let (tail, summary, allocationFailed) = (log.tail, log.summary, log.allocationFailed)
        if case let .exited(status, report?, _) = ending, status == 0 || status == JobProcessReport.failedStatus {
            if case let .done(files) = report { return JobOutcome(files: files) }
            if case var .failed(failure) = report {
                if failure.type != JobFailure.cancelledType, let memory = request.limits.memoryBytes,
                   failure.code == String(cString: strerror(ENOMEM)) || failure.message.contains("Cannot allocate memory") {
                    failure = Self.memoryFailure(memory, process: JobProcessEnd(exitStatus: status, stderrTail: tail, stage: nil))
                }
                throw failure
            }
        }
        switch ending {
        case let .exited(status, _, stage):
            let end = JobProcessEnd(exitStatus: status, stderrTail: tail, stage: stage)
            if request.isCancelled() { throw Self.cancelled(end) }
            if let memory = request.limits.memoryBytes, allocationFailed {
                throw Self.memoryFailure(memory, process: end)
            }
            throw JobFailure(kind: .badInput, type: "JobCrashed", code: "exit \(status)",
                             message: "the job's process exited with status \(status) without reporting a result"
                                + (stage.map { " (during \($0))" } ?? "") + Self.summary(summary),
                             hint: "only this job failed; this is a bug in quantd: please report it with error.json and the input",
                             process: end)
        case let .signalled(signal, stage):
            let name = JobProcessEnd.signalName(signal)
            let end = JobProcessEnd(signal: name, signalNumber: signal, stderrTail: tail, stage: stage)
            if request.isCancelled() && (signal == SIGTERM || signal == SIGKILL) { throw Self.cancelled(end) }
            if let memory = request.limits.memoryBytes, allocationFailed {
                throw Self.memoryFailure(memory, process: end)
            }
            throw JobFailure(kind: .badInput, type: "JobCrashed", code: name,
                             message: "the job's process was killed by \(name)" + (stage.map { " during \($0)" } ?? "")
                                + Self.summary(summary),
                             hint: "only this job failed; this is a bug in quantd: please report it with error.json and the input",
                             process: end)
        case let .timedOut(seconds, stage):
            throw JobFailure(kind: .badInput, type: "JobTimeout", code: "job_timeout_seconds",
                             message: "the job took longer than \(Self.duration(seconds))" + (stage.map { " (it was at \($0))" } ?? "")
                                + " and was stopped",
                             hint: "raise job_timeout_seconds in the pipeline's \"daemon\" settings if such inputs need more time, then drop it again",
                             process: JobProcessEnd(signal: "SIGKILL", signalNumber: SIGKILL, stderrTail: tail, stage: stage))
        }
    }

    private static func cancelled(_ end: JobProcessEnd) -> JobFailure {
        JobFailure(kind: .transient, type: JobFailure.cancelledType,
                   message: "the job was stopped before it finished (the daemon is stopping); nothing was published",
                   process: end)
    }

    static func memoryFailure(_ memory: Int, process: JobProcessEnd) -> JobFailure {
        JobFailure(kind: .badInput, type: "JobOutOfMemory", code: "ENOMEM",
                   message: "the job needed more than \(gibibytes(memory)) of memory (job_memory_bytes) and was stopped"
                      + (process.stage.map { " during \($0)" } ?? ""),
                   hint: "raise job_memory_bytes in the pipeline's \"daemon\" settings (the machine must have that much), then drop the input again",
                   process: process)
    }

    static func summary(_ line: String?) -> String {
        guard let line else { return "" }
        return ": " + String(line.prefix(300))
    }

    static func gibibytes(_ bytes: Int) -> String {
        let value = Double(bytes) / Double(1 << 30)
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) GiB" : "\(rounded) GiB"
    }

    /// `2 h`, `90 min`, `45 s`: the timeout as it would be written.
    static func duration(_ seconds: Double) -> String {
        func number(_ value: Double) -> String {
            value == value.rounded() ? "\(Int(value))" : "\((value * 10).rounded() / 10)"
        }
        if seconds >= 3600 && (seconds / 3600).rounded() == seconds / 3600 { return number(seconds / 3600) + " h" }
        if seconds >= 120 && (seconds / 60).rounded() == seconds / 60 { return number(seconds / 60) + " min" }
        return number(seconds) + " s"
    }
}

