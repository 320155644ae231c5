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
    private let fd: Mutex<Int32>

    /// Compacts the ledger, then opens it for appending.
    public init(path: String, keepFinished: Int = 1000) throws {
        self.path = path
        let records = JobLedger.read(path: path)
        let live = records.filter { !$0.state.isFinished }
        let finished = records.filter { $0.state.isFinished }.suffix(keepFinished)
        let kept = (finished + live).sorted { $0.claimedAt < $1.claimedAt }
        let text = kept.map { $0.json().serialized() + "\n" }.joined()
        try FileSystem.writeAtomically(path, text)
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        fd = Mutex(descriptor)
    }

    deinit { fd.withLock { _ = close($0) } }

    /// Appends one record and fsyncs it.
    public func append(_ record: JobRecord) throws {
        let line = Array((record.json().serialized() + "\n").utf8)
        try fd.withLock { descriptor in
            var done = 0
            while done < line.count {
                let n = line.withUnsafeBytes { write(descriptor, $0.baseAddress! + done, $0.count - done) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: path, operation: "append", errno: errno)
                }
                done += n
            }
            guard fsync(descriptor) == 0 else { throw FileError(path: path, operation: "fsync", errno: errno) }
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
