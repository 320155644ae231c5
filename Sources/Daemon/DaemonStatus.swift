import BinaryIO
import JSON

/// What `quantd status` shows, read from ROOT alone (it works whether or not a daemon runs):
/// the lock says who owns ROOT, the ledger says what happened, progress.json where running jobs are.
public struct DaemonStatus: Sendable {
    public struct Live: Sendable {
        public var record: JobRecord
        public var stage: String?
        public var fraction: Double?
        public var detail: String?
    }

    public var root: String
    /// The pid of the daemon owning ROOT, nil when none runs.
    public var ownerPid: Int32?
    /// Jobs in work/: running, queued or waiting for a retry.
    public var inProgress: [Live]
    /// The last finished jobs (done or deferred), newest first.
    public var finished: [JobRecord]
    /// The last failures, newest first.
    public var failures: [JobRecord]
    /// Inbox entries not claimed yet (settling, still arriving, or waiting for a daemon).
    public var inbox: [String]
    /// Inbox entries incomplete and unchanged for the daemon's `stalled_seconds`: name, what is
    /// missing, seconds unchanged (as the running daemon last wrote them).
    public var stalled: [(name: String, reason: String, unchangedSeconds: Double)] = []

    public static func load(root: String, last: Int = 10) -> DaemonStatus {
        let folder = DropFolder(root: root)
        let records = JobLedger.read(path: folder.ledgerPath)
        let owner = RootLock.owner(of: folder)
        var progress: [String: JSONValue] = [:]
        var stalled: [(name: String, reason: String, unchangedSeconds: Double)] = []
        // progress.json is only meaningful while its writer runs.
        if owner != nil, let bytes = FileSystem.read(folder.progressPath), let document = try? StrictJSON.parse(bytes) {
            for job in document["jobs"]?.arrayValue ?? [] {
                if let id = job["job"]?.stringValue { progress[id] = job }
            }
            for entry in document["stalled"]?.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue else { continue }
                stalled.append((name, entry["reason"]?.stringValue ?? "incomplete", entry["unchanged_seconds"]?.doubleValue ?? 0))
            }
        }
        let live = records.filter { !$0.state.isFinished }.map { record in
            let entry = progress[record.id]
            return Live(record: record, stage: entry?["stage"]?.stringValue, fraction: entry?["fraction"]?.doubleValue,
                        detail: entry?["detail"]?.stringValue)
        }
        let byEnd = records.filter { $0.state.isFinished }.sorted { ($0.finishedAt ?? 0) > ($1.finishedAt ?? 0) }
        let inbox = ((try? FileSystem.list(folder.inbox)) ?? []).filter { !DropFolder.isIgnored($0) }
        return DaemonStatus(root: folder.root, ownerPid: owner, inProgress: live,
                            finished: Array(byEnd.filter { $0.state != .failed }.prefix(last)),
                            failures: Array(byEnd.filter { $0.state == .failed }.prefix(last)), inbox: inbox,
                            stalled: stalled)
    }

    public func json() -> JSONValue {
        jsonObject([
            ("root", .string(root)),
            ("daemon_pid", ownerPid.map { .number(JSONNumber(Int($0))) } ?? .null),
            ("in_progress", .array(inProgress.map { live in
                var members = live.record.json().objectValue ?? []
                members.append((key: "stage", value: live.stage.map { .string($0) } ?? .null))
                members.append((key: "fraction", value: live.fraction.map { .number(JSONNumber($0)) } ?? .null))
                members.append((key: "detail", value: live.detail.map { .string($0) } ?? .null))
                return .object(members)
            })),
            ("finished", .array(finished.map { $0.json() })),
            ("failures", .array(failures.map { $0.json() })),
            ("inbox", .array(inbox.map { .string($0) })),
            ("stalled", .array(stalled.map { entry in
                jsonObject([("name", .string(entry.name)), ("reason", .string(entry.reason)),
                            ("unchanged_seconds", .number(JSONNumber(entry.unchangedSeconds)))])
            })),
        ])
    }
}
