import BinaryIO
import JSON
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `state/ledger.jsonl`: an append-only journal of job records, one JSON object per line.
///
/// Each append is written with O_APPEND and fsynced before the daemon acts on it, so the ledger
/// never claims more than happened. It is not the source of truth for where inputs are (the
/// folders are); it is the history: attempts, timings, errors. A crash can tear the last line;
/// reading skips lines that do not parse. On start-up the file is compacted to the last record
/// of each job (keeping the newest `keepFinished` finished jobs) by an atomic rewrite.
///
/// An append that cannot be written or fsynced (full disk, I/O error) throws, and its line is
/// kept and written first by the next append or by `retry()`, so a passing fault leaves the
/// history complete. A write that failed may have left part of a line: the next write starts
/// with a newline, so that fragment stays a line of its own, which reading skips.
public final class JobLedger: Sendable {
    public let path: String
    /// Finished jobs kept by compaction (jobs still in work/ are always kept).
    public let keepFinished: Int
    /// Appends between compactions while running, so a long-lived daemon's ledger stays small.
    public let compactEvery: Int
    private let handle: Mutex<Handle>

    private struct Handle {
        var fd: Int32
        var appends = 0
        /// Lines not written yet, oldest first.
        var unwritten: [String] = []
        /// A write failed: the file may end in part of a line.
        var torn = false
        /// Written but not fsynced yet.
        var unsynced = false
    }

    /// Lines kept for a later write at most: a disk that never recovers must not fill memory.
    static let unwrittenLimit = 10_000

    /// Compacts the ledger, then opens it for appending.
    public init(path: String, keepFinished: Int = 1000, compactEvery: Int = 20_000) throws {
        self.path = path
        self.keepFinished = keepFinished
        self.compactEvery = compactEvery
        handle = Mutex(Handle(fd: try JobLedger.compact(path: path, keepFinished: keepFinished)))
    }

    deinit { handle.withLock { _ = close($0.fd) } }

    /// Rewrites the file with the last record of each job (atomically), and opens it for appending.
    private static func compact(path: String, keepFinished: Int) throws -> Int32 {
        let records = JobLedger.read(path: path)
        let live = records.filter { !$0.state.isFinished }
        let finished = records.filter { $0.state.isFinished }.suffix(keepFinished)
        let kept = (finished + live).sorted { $0.claimedAt < $1.claimedAt }
        try FileSystem.writeAtomically(path, kept.map { $0.json().serialized() + "\n" }.joined())
        return try FileSystem.open(path, O_WRONLY | O_APPEND | O_CREAT)
    }

    /// Appends one record (after any an earlier append could not write) and fsyncs it.
    public func append(_ record: JobRecord) throws {
        let line = record.json().serialized() + "\n"
        try handle.withLock { handle in
            handle.unwritten.append(line)
            if handle.unwritten.count > Self.unwrittenLimit {
                handle.unwritten.removeFirst(handle.unwritten.count - Self.unwrittenLimit)
            }
            try flush(&handle)
        }
    }

    /// Writes and fsyncs what earlier appends could not; does nothing when nothing is left.
    /// Returns the number of records written.
    @discardableResult
    public func retry() throws -> Int {
        try handle.withLock { handle in
            let count = handle.unwritten.count
            try flush(&handle)
            return count
        }
    }

    private func flush(_ handle: inout Handle) throws {
        if !handle.unwritten.isEmpty {
            let text = Array(((handle.torn ? "\n" : "") + handle.unwritten.joined()).utf8)
            do {
                try text.withUnsafeBytes { try FileSystem.writeAll(handle.fd, $0, path: path) }
            } catch {
                handle.torn = true
                throw error
            }
            handle.torn = false
            handle.appends += handle.unwritten.count
            handle.unwritten = []
            handle.unsynced = true
        }
        if handle.unsynced {
            try FileSystem.fsync(handle.fd, path: path)
            handle.unsynced = false
        }
        if handle.appends >= compactEvery {
            let fresh = try JobLedger.compact(path: path, keepFinished: keepFinished)
            close(handle.fd)
            handle = Handle(fd: fresh)
        }
    }

    /// The current record of every job (last line per job wins), in order of first appearance.
    public static func read(path: String) -> [JobRecord] {
        guard let bytes = FileSystem.read(path) else { return [] }
        var order: [String] = []
        var latest: [String: JobRecord] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let value = try? StrictJSON.parse(Array(line)), let record = JobRecord(json: value) else { continue }
            if latest[record.id] == nil { order.append(record.id) }
            latest[record.id] = record
        }
        return order.compactMap { latest[$0] }
    }
}
