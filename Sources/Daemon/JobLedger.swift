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
public final class JobLedger: Sendable {
    public let path: String
    /// Finished jobs kept by compaction (jobs still in work/ are always kept).
    public let keepFinished: Int
    /// Appends between compactions while running, so a long-lived daemon's ledger stays small.
    public let compactEvery: Int
    private let handle: Mutex<(fd: Int32, appends: Int)>

    /// Compacts the ledger, then opens it for appending.
    public init(path: String, keepFinished: Int = 1000, compactEvery: Int = 20_000) throws {
        self.path = path
        self.keepFinished = keepFinished
        self.compactEvery = compactEvery
        handle = Mutex((fd: try JobLedger.compact(path: path, keepFinished: keepFinished), appends: 0))
    }

    deinit { handle.withLock { _ = close($0.fd) } }

    /// Rewrites the file with the last record of each job (atomically), and opens it for appending.
    private static func compact(path: String, keepFinished: Int) throws -> Int32 {
        let records = JobLedger.read(path: path)
        let live = records.filter { !$0.state.isFinished }
        let finished = records.filter { $0.state.isFinished }.suffix(keepFinished)
        let kept = (finished + live).sorted { $0.claimedAt < $1.claimedAt }
        try FileSystem.writeAtomically(path, kept.map { $0.json().serialized() + "\n" }.joined())
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        return descriptor
    }

    /// Appends one record and fsyncs it.
    public func append(_ record: JobRecord) throws {
        let line = Array((record.json().serialized() + "\n").utf8)
        try handle.withLock { handle in
            try line.withUnsafeBytes { bytes throws in try FileSystem.writeAll(handle.fd, bytes, path: path) }
            try FileSystem.fsync(handle.fd, path: path)
            handle.appends += 1
            if handle.appends >= compactEvery {
                let fresh = try JobLedger.compact(path: path, keepFinished: keepFinished)
                close(handle.fd)
                handle = (fresh, 0)
            }
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
