import BinaryIO
import JSON
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// How the daemon runs, from the `"daemon": {...}` object of a pipeline JSON file.
///
/// The file is read once, by `PipelineConfig`, which leaves this object to the daemon; its values
/// go through the same checks (`ConfigReader`) and fail with the same `ConfigError` (file, JSON
/// path, what is wrong) as every other key of pipeline.json. Parsing is strict (unknown keys and
/// wrong types are errors) because a misspelt `concurency` silently falling back to a default is
/// the kind of mistake nobody notices until a disk fills up.
public struct DaemonSettings: Sendable, Equatable {
    /// A file or folder written in place is claimed once unchanged (size, mtime) this long.
    public var settleSeconds: Double = 5
    /// An inbox entry incomplete and unchanged this long is shown as stalled (never failed for it).
    public var stalledSeconds: Double = 3600
    /// Full listing of the inbox at this interval, whatever inotify said.
    public var rescanSeconds: Double = 60
    /// Jobs running at the same time.
    public var concurrency: Int = 1
    /// Threads each job may use.
    public var threads: Int = DaemonSettings.onlineProcessors
    /// Attempts before a job with transient errors (ENOSPC, EIO) goes to failed/.
    public var maxAttempts: Int = 3
    /// Wait before the second attempt; doubled for each further attempt, capped at 10 minutes.
    public var retryBackoffSeconds: Double = 10
    /// Prometheus textfile to write metrics to (node_exporter's textfile collector), or nil.
    public var metricsFile: String? = nil
    /// Loopback address and port to serve `GET /metrics` on, or nil for no endpoint. Read at
    /// start; a reload does not change it.
    public var metricsListen: LoopbackAddress? = nil
    /// On SIGTERM, how long a running job may take to finish before it is left in work/ to be redone.
    public var graceSeconds: Double = 30
    /// Keep processed inputs in done/ (true) or remove them (false).
    public var keepInput: Bool = true
    /// A job still running after this long is killed and fails; nil for no limit.
    public var jobTimeoutSeconds: Double? = 86_400
    /// Memory a job may use (its process's address space beyond the mapped input); nil for no limit.
    public var jobMemoryBytes: Int? = DaemonSettings.physicalMemory
    /// Each job in its own process (`quantd run-job`), so a crash ends that job only. Read at
    /// start; a reload does not change it.
    public var isolateJobs: Bool = true
    /// Where jobs run: on this machine, or as Slurm jobs. Read at start; a reload does not change it.
    public var executor: ExecutorSettings = .local

    public init() {}

    public static let onlineProcessors = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// The machine's memory (nil when the system does not say).
    public static let physicalMemory: Int? = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return nil }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? nil : bytes
    }()

    /// The JSON keys, in the order they are documented.
    public static let keys = [
        "settle_seconds", "rescan_seconds", "concurrency", "threads", "max_attempts",
        "retry_backoff_seconds", "metrics_file", "metrics_listen", "grace_seconds", "keep_input",
        "job_timeout_seconds", "job_memory_bytes", "isolate_jobs", "stalled_seconds", "executor",
    ]

    /// Backoff before attempt `attempt + 1` (attempt counts from 1).
    public func backoff(afterAttempt attempt: Int) -> Double {
        let factor = Double(1 << min(max(attempt - 1, 0), 16))
        return min(retryBackoffSeconds * factor, 600)
    }

    // MARK: Parsing

    /// Parses a `"daemon"` object; `path` is its JSON path, for errors.
    public static func parse(_ value: JSONValue, path: String = "$.daemon") throws(DaemonSettingsError) -> DaemonSettings {
        let members = try ConfigReader.object(value, at: path)
        var settings = DaemonSettings()
        for (key, member) in members {
            let at = path + "." + key
            switch key {
            case "settle_seconds": settings.settleSeconds = try seconds(member, at, minimum: 0)
            case "stalled_seconds": settings.stalledSeconds = try seconds(member, at, minimum: 1)
            case "rescan_seconds": settings.rescanSeconds = try seconds(member, at, minimum: 0.1)
            case "concurrency": settings.concurrency = try integer(member, at, 1...64)
            case "threads": settings.threads = try integer(member, at, 1...4096)
            case "max_attempts": settings.maxAttempts = try integer(member, at, 1...1000)
            case "retry_backoff_seconds": settings.retryBackoffSeconds = try seconds(member, at, minimum: 0)
            case "grace_seconds": settings.graceSeconds = try seconds(member, at, minimum: 0)
            case "keep_input":
                guard let flag = member.boolValue else {
                    throw DaemonSettingsError(path: at, message: "must be true or false, not \(member.kindName)")
                }
                settings.keepInput = flag
            case "isolate_jobs":
                guard let flag = member.boolValue else {
                    throw DaemonSettingsError(path: at, message: "must be true or false, not \(member.kindName)")
                }
                settings.isolateJobs = flag
            case "job_timeout_seconds":
                settings.jobTimeoutSeconds = member.isNull ? nil : try seconds(member, at, minimum: 1)
            case "job_memory_bytes":
                settings.jobMemoryBytes = member.isNull ? nil : try integer(member, at, (64 << 20)...(1 << 50))
            case "metrics_file":
                if member.isNull {
                    settings.metricsFile = nil
                } else if let file = member.stringValue, file.hasPrefix("/") {
                    settings.metricsFile = file
                } else {
                    throw DaemonSettingsError(path: at, message: "must be an absolute path or null, not \(member.stringValue != nil ? "a relative path" : member.kindName)")
                }
            case "metrics_listen":
                if member.isNull {
                    settings.metricsListen = nil
                } else if let text = member.stringValue {
                    switch LoopbackAddress.parse(text) {
                    case let .success(address): settings.metricsListen = address
                    case let .failure(error): throw DaemonSettingsError(path: at, message: error.description)
                    }
                } else {
                    throw DaemonSettingsError(path: at, message: "must be \"HOST:PORT\" (a loopback address, e.g. \"127.0.0.1:9464\") or null, not \(member.kindName)")
                }
            case "executor":
                settings.executor = try ExecutorSettings.parse(member, at: at)
            default:
                throw ConfigReader.unknownKey(at: at, known: keys)
            }
        }
        if case .slurm = settings.executor, !settings.isolateJobs {
            throw DaemonSettingsError(path: path + ".isolate_jobs",
                                      message: "is false, but Slurm jobs always run in their own process; remove it or use the local executor")
        }
        return settings
    }

    /// The settings of a parsed pipeline: its `"daemon"` object, or the defaults when it has none;
    /// `file` (the pipeline's) locates errors as the pipeline's own errors are located.
    public static func parse(pipeline: PipelineConfig, file: String?) throws(DaemonSettingsError) -> DaemonSettings {
        guard let daemon = pipeline.daemon else { return DaemonSettings() }
        do {
            return try parse(daemon)
        } catch {
            var located = error
            located.file = file
            throw located
        }
    }

    /// The settings of a pipeline file, which must be a valid pipeline as a whole.
    public static func load(pipelineFile: String) throws(DaemonSettingsError) -> DaemonSettings {
        guard let bytes = FileSystem.read(pipelineFile, limit: 16 << 20) else {
            throw DaemonSettingsError(path: "$", message: "cannot be read: \(String(cString: strerror(errno)))", file: pipelineFile)
        }
        return try parse(pipeline: PipelineConfig.parse(bytes, file: pipelineFile), file: pipelineFile)
    }

    /// The settings as a `"daemon"` object (every key, defaults included), for logs and docs.
    public func json() -> JSONValue {
        jsonObject([
            ("settle_seconds", .number(JSONNumber(settleSeconds))),
            ("stalled_seconds", .number(JSONNumber(stalledSeconds))),
            ("rescan_seconds", .number(JSONNumber(rescanSeconds))),
            ("concurrency", .number(JSONNumber(concurrency))),
            ("threads", .number(JSONNumber(threads))),
            ("max_attempts", .number(JSONNumber(maxAttempts))),
            ("retry_backoff_seconds", .number(JSONNumber(retryBackoffSeconds))),
            ("metrics_file", metricsFile.map { .string($0) } ?? .null),
            ("metrics_listen", metricsListen.map { .string($0.description) } ?? .null),
            ("grace_seconds", .number(JSONNumber(graceSeconds))),
            ("keep_input", .bool(keepInput)),
            ("job_timeout_seconds", jobTimeoutSeconds.map { .number(JSONNumber($0)) } ?? .null),
            ("job_memory_bytes", jobMemoryBytes.map { .number(JSONNumber($0)) } ?? .null),
            ("isolate_jobs", .bool(isolateJobs)),
            ("executor", executor.json()),
        ])
    }

    private static func seconds(_ value: JSONValue, _ path: String, minimum: Double) throws(DaemonSettingsError) -> Double {
        try ConfigReader.number(value, at: path, in: minimum...(86_400 * 7), unit: "seconds")
    }

    private static func integer(_ value: JSONValue, _ path: String, _ range: ClosedRange<Int>) throws(DaemonSettingsError) -> Int {
        try ConfigReader.int(value, at: path, in: range)
    }
}

/// A bad daemon setting is a bad key of pipeline.json like any other: file, JSON path of the
/// offending value (`$.daemon.concurrency`) and what is wrong there.
public typealias DaemonSettingsError = ConfigError
