import BinaryIO
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// How a job's process ended when it did not say so itself: recorded in error.json as `process`.
public struct JobProcessEnd: Sendable, Equatable {
    /// The signal that ended it (`SIGABRT`), when one did.
    public var signal: String?
    public var signalNumber: Int32?
    /// Its exit status, when it exited.
    public var exitStatus: Int32?
    /// The last lines it wrote to stderr (the Swift runtime's fatal error, a trap's message).
    public var stderrTail: [String]
    /// The stage it last reported.
    public var stage: String?

    public init(signal: String? = nil, signalNumber: Int32? = nil, exitStatus: Int32? = nil,
                stderrTail: [String] = [], stage: String? = nil) {
        self.signal = signal
        self.signalNumber = signalNumber
        self.exitStatus = exitStatus
        self.stderrTail = stderrTail
        self.stage = stage
    }

    func json() -> JSONValue {
        jsonObject([
            ("signal", signal.map { .string($0) } ?? .null),
            ("signal_number", signalNumber.map { .number(JSONNumber(Int($0))) } ?? .null),
            ("exit_status", exitStatus.map { .number(JSONNumber(Int($0))) } ?? .null),
            ("stage", stage.map { .string($0) } ?? .null),
            ("stderr_tail", .array(stderrTail.map { .string($0) })),
        ])
    }

    /// `SIGSEGV` for 11, ...; `signal N` for one without a usual name.
    public static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
            SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
        ]
        return names[number] ?? "signal \(number)"
    }
}

/// What a job process's stderr log says about how it ended.
struct JobProcessLog {
    /// The last lines worth keeping in error.json.
    let tail: [String]
    /// The one line that says most: the runtime's fatal error, else the last line.
    let summary: String?
    /// The process ran out of memory (a limit or the machine).
    let allocationFailed: Bool

    init(path: String, lines: Int = ChildProcessJobExecutor.stderrLines) {
        let all = ChildProcess.tail(of: path, lines: 2000, bytes: 256 << 10)
        // The Swift runtime prints its fatal error, then a long backtrace (registers, images):
        // the lines worth keeping are those before the backtrace, and its "Program crashed" line.
        let backtrace = all.firstIndex { $0.hasPrefix("*** Signal") || $0.hasPrefix("*** Program crashed") }
        var tail = Array(all[..<(backtrace ?? all.endIndex)].suffix(lines))
        if let crashed = all.first(where: { $0.hasPrefix("*** Program crashed") }) { tail.append(crashed) }
        self.tail = tail
        summary = all.last { $0.contains("Fatal error") || $0.contains("fatal error") } ?? tail.last
        allocationFailed = all.contains { line in
            ["failed to allocate", "Could not allocate memory", "Cannot allocate memory", "out of memory", "std::bad_alloc"].contains { line.contains($0) }
        }
    }
}

extension JobFailure {
    /// The type of the failure of a job stopped because the daemon is stopping.
    public static let cancelledType = "Cancelled"
}

/// What the daemon hands to `quantd run-job`: one JSON file in the job's scratch folder.
public struct JobProcessRequest: Sendable, Equatable {
    public var id: String
    public var inputName: String
    public var inputPath: String
    public var outputFolder: String
    public var scratchFolder: String
    /// ROOT, named in the free-space message.
    public var root: String
    public var threads: Int
    public var attempt: Int
    /// The pipeline file's path (relative paths in it resolve from its folder), or nil for the
    /// default pipeline.
    public var pipelineFile: String?
    /// The pipeline file's text as the daemon last loaded it: a job keeps the pipeline it started
    /// with even when the file changes while it runs.
    public var pipelineText: String?
    /// RLIMIT_AS for the job process, or nil for none.
    public var addressSpaceBytes: Int?
    /// The daemon's pid: the job process ends itself when its parent is gone. 0 when the job runs
    /// elsewhere (a Slurm node), where the daemon is not its parent.
    public var parentPid: Int32
    public var version: String

    public init(id: String, inputName: String, inputPath: String, outputFolder: String, scratchFolder: String,
                root: String, threads: Int, attempt: Int, pipelineFile: String?, pipelineText: String?,
                addressSpaceBytes: Int?, parentPid: Int32, version: String) {
        self.id = id
        self.inputName = inputName
        self.inputPath = inputPath
        self.outputFolder = outputFolder
        self.scratchFolder = scratchFolder
        self.root = root
        self.threads = threads
        self.attempt = attempt
        self.pipelineFile = pipelineFile
        self.pipelineText = pipelineText
        self.addressSpaceBytes = addressSpaceBytes
        self.parentPid = parentPid
        self.version = version
    }

    public func json() -> JSONValue {
        jsonObject([
            ("id", .string(id)), ("input_name", .string(inputName)), ("input_path", .string(inputPath)),
            ("output_folder", .string(outputFolder)), ("scratch_folder", .string(scratchFolder)),
            ("root", .string(root)), ("threads", .number(JSONNumber(threads))), ("attempt", .number(JSONNumber(attempt))),
            ("pipeline_file", pipelineFile.map { .string($0) } ?? .null),
            ("pipeline_text", pipelineText.map { .string($0) } ?? .null),
            ("address_space_bytes", addressSpaceBytes.map { .number(JSONNumber($0)) } ?? .null),
            ("parent_pid", .number(JSONNumber(Int(parentPid)))), ("version", .string(version)),
        ])
    }

    public init(json value: JSONValue) throws(JobFailure) {
        func string(_ key: String) throws(JobFailure) -> String {
            guard let text = value[key]?.stringValue else { throw Self.invalid(key) }
            return text
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(JobFailure) -> Int {
            guard let number = value[key]?.intValue, range.contains(number) else { throw Self.invalid(key) }
            return number
        }
        func optional(_ key: String) throws(JobFailure) -> String? {
            guard let member = value[key], !member.isNull else { return nil }
            guard let text = member.stringValue else { throw Self.invalid(key) }
            return text
        }
        self.init(id: try string("id"), inputName: try string("input_name"), inputPath: try string("input_path"),
                  outputFolder: try string("output_folder"), scratchFolder: try string("scratch_folder"),
                  root: try string("root"), threads: try integer("threads", 1...4096), attempt: try integer("attempt", 1...1_000_000),
                  pipelineFile: try optional("pipeline_file"), pipelineText: try optional("pipeline_text"),
                  addressSpaceBytes: value["address_space_bytes"]?.isNull == false ? try integer("address_space_bytes", 1...Int.max) : nil,
                  parentPid: Int32(try integer("parent_pid", 0...Int(Int32.max))), version: try string("version"))
    }

    private static func invalid(_ key: String) -> JobFailure {
        JobFailure(kind: .badInput, type: "JobProcessError", message: "the job request has no valid '\(key)'",
                   hint: "`quantd run-job` is started by `quantd watch`; it is not meant to be run by hand")
    }
}

/// One line the job process writes to its report descriptor (fd 3), as JSON:
/// `{"progress": {...}}`, `{"done": {"files": [...]}}` or `{"failed": {error object}}`.
public enum JobProcessReport: Sendable, Equatable {
    case progress(JobProgress)
    case done(files: [String])
    case failed(JobFailure)

    /// The descriptor the report lines go to in the job process.
    public static let descriptor: Int32 = 3
    /// Exit status of a job process that reported a typed failure (0 when it reported success).
    public static let failedStatus: Int32 = 3

    public func line() -> String {
        let value: JSONValue
        switch self {
        case let .progress(progress):
            value = jsonObject([("progress", jsonObject([
                ("stage", .string(progress.stage)),
                ("fraction", progress.fraction.map { .number(JSONNumber($0)) } ?? .null),
                ("detail", progress.detail.map { .string($0) } ?? .null),
            ]))])
        case let .done(files):
            value = jsonObject([("done", jsonObject([("files", .array(files.map { .string($0) }))]))])
        case let .failed(failure):
            value = jsonObject([("failed", failure.json())])
        }
        return value.serialized() + "\n"
    }

    /// Reads one line; nil for anything else (a line the report format does not know is ignored).
    public init?(line: [UInt8]) {
        guard let value = try? StrictJSON.parse(line) else { return nil }
        if let progress = value["progress"], let stage = progress["stage"]?.stringValue {
            let fraction = progress["fraction"]?.doubleValue.flatMap { $0.isFinite ? min(max($0, 0), 1) : nil }
            self = .progress(JobProgress(stage: String(stage.prefix(200)), fraction: fraction,
                                         detail: progress["detail"]?.stringValue.map { String($0.prefix(200)) }))
        } else if let files = value["done"]?["files"]?.arrayValue {
            let names = files.compactMap(\.stringValue)
            guard names.count == files.count else { return nil }
            self = .done(files: names)
        } else if let failed = value["failed"], let failure = JobFailure(json: failed) {
            self = .failed(failure)
        } else {
            return nil
        }
    }
}
