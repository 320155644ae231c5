#if canImport(Glibc)
import Glibc
#endif

/// Runs another program as a child process, without a shell: the arguments go to it as they are,
/// so no path or name can be read as shell syntax. Standard input is /dev/null; standard output and
/// error go to files the caller names (files, not pipes: a chatty child can never block on a full
/// pipe while the parent waits).
public struct ChildProcess {
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signalled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// The program: a path, or a name looked up in PATH (posix_spawnp).
    public var executable: String
    public var arguments: [String]
    public var standardOutput: String
    public var standardError: String

    public init(executable: String, arguments: [String], standardOutput: String, standardError: String) {
        self.executable = executable
        self.arguments = arguments
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// Starts the child and waits for it. `isCancelled` is polled while it runs; when it turns
    /// true, or `timeout` seconds pass, the child is sent SIGTERM, then SIGKILL if it lingers, and
    /// `cancelled`/`timedOut` is thrown.
    public func run(timeout: Double? = nil, isCancelled: (() -> Bool)? = nil) throws(ChildProcessError) -> Termination {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)


        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let started = StoppableSpawn.withAttributes(newProcessGroup: false) { attributes in
            posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard started == 0 else { throw .cannotStart(executable: executable, reason: String(cString: strerror(started))) }

        let start = Self.now()
        var status: Int32 = 0
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR {
                throw .cannotStart(executable: executable, reason: "waitpid: \(String(cString: strerror(errno)))")
            }
            if isCancelled?() == true {
                Self.stop(pid)
                throw .cancelled
            }
            if let timeout, Self.now() - start > timeout {
                Self.stop(pid)
                throw .timedOut(executable: executable, seconds: timeout)
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
        if status & 0x7f == 0 { return .exited((status >> 8) & 0xff) }
        return .signalled(status & 0x7f)
    }

    /// SIGTERM, up to 5 s to go, then SIGKILL; reaped either way.
    private static func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<250 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    private static func now() -> Double { Clock.monotonic() }

    /// The last `lines` non-empty lines of a text file (each cut to 500 characters), reading at
    /// most its last `limit` bytes: a child's log can be any size.
    public static func tail(of path: String, lines: Int, bytes limit: Int = 16 << 10) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return [] }
        let count = Int(min(size, off_t(limit)))
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, size - off_t(count)) }
        guard read > 0 else { return [] }
        let text = String(decoding: bytes[0..<read], as: UTF8.self)
        let all = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { String($0.prefix(500)) }
            .filter { !$0.allSatisfy { $0 == " " || $0 == "\t" } }
        return Array(all.suffix(lines))
    }
}

public enum ChildProcessError: Error, Equatable {
    case cannotStart(executable: String, reason: String)
    case timedOut(executable: String, seconds: Double)
    case cancelled
}
