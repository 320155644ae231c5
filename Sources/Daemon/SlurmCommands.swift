import BinaryIO
#if canImport(Glibc)
import Glibc
#endif

/// The Slurm client commands the executor runs, without a shell, each with a time limit (a hung
/// controller must not hang a job thread for ever).
public struct SlurmCommands: Sendable {
    /// The programs, by name (looked up in PATH) or path.
    public var sbatch = "sbatch"
    public var scontrol = "scontrol"
    public var scancel = "scancel"
    /// Seconds one command may take.
    public var timeout = 60.0

    public init() {}

    /// Submits and returns the Slurm job id `sbatch --parsable` printed.
    func submit(_ arguments: [String], scratch: String) throws -> String {
        let (termination, output, errors) = try runCapturing(sbatch, arguments)
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        let id = String(output.split(separator: "\n").first?.split(separator: ";").first ?? "")
            .trimmingSpaces()
        guard termination == .exited(0), Self.isJobID(id) else {
            throw JobFailure(kind: .transient, type: "SlurmError", code: "sbatch",
                             message: "sbatch could not submit the job (\(termination)): " + Self.oneLine(errors.isEmpty ? output : errors),
                             hint: "check the executor settings (partition, account, mem, time) with `sbatch --test-only`; the job is retried")
        }
        return id
    }

    /// The job's state, or nil when Slurm does not know the job (any more).
    func status(of job: String) throws -> SlurmStatus? {
        let (termination, output, errors) = try runCapturing(scontrol, ["-o", "show", "job", job])
        if termination != .exited(0) {
            if errors.contains("Invalid job id") { return nil }
            throw JobFailure(kind: .transient, type: "SlurmError", code: "scontrol",
                             message: "scontrol show job \(job) failed (\(termination)): " + Self.oneLine(errors))
        }
        return SlurmStatus(scontrolLine: output)
    }

    func cancel(_ job: String) {
        _ = try? runCapturing(scancel, [job])
    }

    static func isJobID(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 20 && text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "_") }
    }

    private static func oneLine(_ text: String) -> String {
        String(text.split(whereSeparator: { $0 == "\n" }).joined(separator: " ").prefix(400))
    }

    private func runCapturing(_ program: String, _ arguments: [String]) throws -> (ChildProcess.Termination, String, String) {
        var template = Array("/tmp/quantd-slurm-XXXXXX".utf8CString)
        guard let folder = mkdtemp(&template) else {
            throw JobFailure(kind: .transient, type: "SlurmError", message: "cannot make a temporary folder: \(String(cString: strerror(errno)))")
        }
        let path = String(cString: folder)
        defer { try? FileSystem.removeTree(path) }
        let process = ChildProcess(executable: program, arguments: arguments,
                                   standardOutput: path + "/out", standardError: path + "/err")
        let termination: ChildProcess.Termination
        do {
            termination = try process.run(timeout: timeout)
        } catch {
            throw JobFailure(kind: .transient, type: "SlurmError", code: program,
                             message: "\(program) could not be run: \(error)",
                             hint: "the Slurm client commands must be installed and in PATH on the daemon's machine")
        }
        let output = String(decoding: FileSystem.read(path + "/out", limit: 1 << 20) ?? [], as: UTF8.self)
        let errors = String(decoding: FileSystem.read(path + "/err", limit: 1 << 20) ?? [], as: UTF8.self)
        return (termination, output, errors)
    }
}

/// One line of `scontrol -o show job`: the fields the executor uses.
struct SlurmStatus: Equatable {
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `NODE_FAIL`, ...
    var state: String
    var reason: String?
    var node: String?
    /// The job script's exit status, from `ExitCode=STATUS:SIGNAL`.
    var exitStatus: Int32?
    var signal: Int32?

    static let finishedStates: Set<String> = [
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY",
    ]

    var isFinished: Bool { Self.finishedStates.contains(state) }

    /// `state on node (reason), exit code N`, for messages.
    var describe: String {
        var text = state
        if let node, !node.isEmpty, node != "(null)" { text += " on \(node)" }
        if let reason, reason != "None" { text += ", reason \(reason)" }
        if let exitStatus { text += ", exit status \(exitStatus)" }
        if let signal, signal != 0 { text += ", signal \(signal)" }
        return text
    }

    init?(scontrolLine line: String) {
        var fields: [Substring: Substring] = [:]
        for token in line.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            guard let equals = token.firstIndex(of: "=") else { continue }
            let key = token[..<equals]
            if fields[key] == nil { fields[key] = token[token.index(after: equals)...] }
        }
        // `CANCELLED by 0` is written as two tokens; the state is the first word.
        guard let state = fields["JobState"], !state.isEmpty, state.allSatisfy({ $0.isUppercase || $0 == "_" }) else { return nil }
        self.state = String(state)
        reason = fields["Reason"].map(String.init)
        node = fields["NodeList"].map(String.init)
        if let code = fields["ExitCode"] {
            let parts = code.split(separator: ":")
            exitStatus = parts.first.flatMap { Int32($0) }
            signal = parts.count > 1 ? Int32(parts[1]) : nil
        }
    }

    init(state: String, reason: String? = nil, node: String? = nil, exitStatus: Int32? = nil, signal: Int32? = nil) {
        self.state = state
        self.reason = reason
        self.node = node
        self.exitStatus = exitStatus
        self.signal = signal
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\r" }.reversed())
    }
}
