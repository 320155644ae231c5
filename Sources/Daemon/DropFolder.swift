import BinaryIO
#if canImport(Glibc)
import Glibc
#endif

/// The folders of a drop root (docs/design.md, "The drop folder"):
///
///     ROOT/inbox/   users drop inputs here
///     ROOT/work/ID/ a claimed job: input/NAME, out/ (being filled), tmp/, markers
///     ROOT/out/     finished artifacts, one folder per input, renamed in only when complete
///     ROOT/failed/  the untouched input plus error.json, one folder per input
///     ROOT/done/    processed inputs (unless keep_input is false)
///     ROOT/state/   ledger.jsonl, progress.json, lock
public struct DropFolder: Sendable {
    public let root: String

    public init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
    }

    public var inbox: String { root + "/inbox" }
    public var work: String { root + "/work" }
    public var out: String { root + "/out" }
    public var failed: String { root + "/failed" }
    public var done: String { root + "/done" }
    public var state: String { root + "/state" }
    public var ledgerPath: String { state + "/ledger.jsonl" }
    public var progressPath: String { state + "/progress.json" }
    public var lockPath: String { state + "/lock" }

    /// Creates whatever is missing; existing folders and their contents are left alone.
    public func create() throws {
        // Like mkdir -p for ROOT itself: `quantd watch --root ~/drop/models` just works.
        var prefix = root.hasPrefix("/") ? "" : "."
        for component in root.split(separator: "/") {
            prefix += "/" + component
            try FileSystem.makeDirectory(prefix)
        }
        for folder in [inbox, work, out, failed, done, state] { try FileSystem.makeDirectory(folder) }
        try FileSystem.sync(root)
    }

    /// The folder of one claimed job.
    func job(_ id: String) -> JobFolder { JobFolder(path: work + "/" + id) }

    // MARK: Names

    /// Entries the daemon never claims: hidden files (editors, rsync and our own temporaries) and
    /// the names browsers and download tools give a file until it is complete.
    public static func isIgnored(_ name: String) -> Bool {
        name.hasPrefix(".") || partialSuffixes.contains { name.hasSuffix($0) }
    }

    static let partialSuffixes = [".part", ".tmp", ".crdownload"]

    /// The name of an input without its format extension: `llama.gguf` -> `llama`, so the
    /// artifacts of `llama.gguf` land in `out/llama/`.
    public static func stem(_ name: String) -> String {
        for ext in [".gguf.zst", ".gguf", ".safetensors"] where name.hasSuffix(ext) && name.count > ext.count {
            return String(name.dropLast(ext.count))
        }
        return name
    }

    /// `name` for attempt 1, then `name-2`, `name-3`, ... with the suffix before a file's
    /// extension (`model-2.gguf`), so a second drop of the same name never overwrites the first.
    static func suffixed(_ name: String, _ attempt: Int) -> String {
        guard attempt > 1 else { return name }
        let stem = stem(name)
        return stem + "-\(attempt)" + name.dropFirst(stem.count)
    }
}

/// `ROOT/work/ID/`: everything one job owns while it runs.
struct JobFolder {
    let path: String
    var input: String { path + "/input" }
    var out: String { path + "/out" }
    var scratch: String { path + "/tmp" }
    /// Where a failed input is assembled with its error.json before moving to `failed/`.
    var failing: String { path + "/failed" }
    /// Written before `out` is renamed into `ROOT/out/`: the name chosen there. Finding it with
    /// `out` gone after a crash means the artifacts were published and only clean-up remains.
    var publishedMarker: String { path + "/published" }
}

/// One daemon per ROOT: an exclusive `flock` on `state/lock`, which holds the owner's pid.
///
/// flock is released by the kernel when the process dies, so a crashed daemon never leaves a
/// stale lock behind; the pid is only there to name the owner in the refusal message.
public final class RootLock: Sendable {
    private let fd: Int32
    public let path: String

    public struct Held: Error, CustomStringConvertible {
        public let root: String
        public let pid: Int32?
        public var description: String {
            let owner = pid.map { "quantd pid \($0)" } ?? "another quantd"
            return "\(root) is owned by \(owner) (lock \(root)/state/lock) — stop it first, or give another --root"
        }
    }

    public init(folder: DropFolder) throws {
        path = folder.lockPath
        let descriptor = try FileSystem.open(path, O_RDWR | O_CREAT, operation: "open lock")
        guard RootLock.acquire(descriptor) else {
            let pid = RootLock.readPid(descriptor)
            close(descriptor)
            throw Held(root: folder.root, pid: pid)
        }
        fd = descriptor
        let text = Array("\(getpid())\n".utf8)
        // The pid is for `quantd status` and error messages only; the flock is what guards ROOT.
        _ = ftruncate(fd, 0)
        try? text.withUnsafeBytes { bytes throws in try FileSystem.writeAll(fd, bytes, path: path, offset: 0) }
        try? FileSystem.fsync(fd, path: path)
    }

    deinit { close(fd) }

    /// Takes the exclusive lock, waiting up to `dyingHolderWait` seconds when the holder is a
    /// daemon that is already dead (a restart right after `kill -9`, as systemd does): the kernel
    /// drops the lock only once the last of the dead process's threads has exited, which under
    /// load can be a while after its main thread shows as a zombie. A live holder fails at once.
    static let dyingHolderWait = 10.0

    private static func acquire(_ descriptor: Int32) -> Bool {
        let deadline = Clock.monotonic() + dyingHolderWait
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard let pid = readPid(descriptor), isDead(pid), Clock.monotonic() < deadline else { return false }
            usleep(20_000)
        }
        return true
    }

    /// Whether `pid` is gone or a zombie (state Z or X in /proc/PID/stat).
    private static func isDead(_ pid: Int32) -> Bool {
        guard let bytes = FileSystem.read("/proc/\(pid)/stat", limit: 512), !bytes.isEmpty else { return true }
        let stat = String(decoding: bytes, as: UTF8.self)
        // The state follows the parenthesised command name: "pid (comm) S ...".
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state == "Z" || state == "X"
    }

    /// The pid of the daemon holding ROOT's lock, or nil when no daemon runs there.
    public static func owner(of folder: DropFolder) -> Int32? {
        guard let descriptor = try? FileSystem.open(folder.lockPath, O_RDONLY) else { return nil }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return nil
        }
        return readPid(descriptor) ?? -1
    }

    private static func readPid(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).filter { $0.isNumber })
    }
}
