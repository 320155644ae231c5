import ArgumentParser
import BinaryIO
import Daemon
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// `quantd status --root DIR`: what the daemon on ROOT is doing and has done, from ROOT alone.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show jobs in progress (with progress), the last finished jobs and failures of a drop folder.",
        discussion: "Reads ROOT/state (ledger, progress, lock); works whether or not the daemon runs. Exit status 0, or 66 when ROOT has no state/ folder.")

    @Option(name: .long, help: "The drop folder given to `quantd watch`.")
    var root: String

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @Option(name: .long, help: "How many finished jobs and failures to show.")
    var last = 10

    func validate() throws {
        guard last >= 0 else { throw ValidationError("--last must be 0 or more") }
    }

    func run() throws {
        let folder = DropFolder(root: WatchCommand.absolute(root))
        guard FileSystem.info(folder.state)?.isDirectory == true else {
            throw CLIFailure(message: "\(folder.root): no state/ folder", hint: "is this a quantd drop folder? `quantd watch --root \(root)` creates one",
                             exit: QuantdExit.cannotOpen).report()
        }
        let status = DaemonStatus.load(root: folder.root, last: last)
        print(json ? status.json().serialized(pretty: true) : Self.render(status), terminator: json ? "" : "\n")
    }

    static func render(_ status: DaemonStatus) -> String {
        var lines: [String] = []
        let owner = status.ownerPid.map { "daemon running (pid \($0))" } ?? "no daemon running"
        lines.append("\(status.root): \(owner)")
        lines.append("")
        let active = status.inProgress.filter { $0.record.state != .claimed }
        let queued = status.inProgress.filter { $0.record.state == .claimed }
        if status.ownerPid == nil && !status.inProgress.isEmpty {
            lines.append("in work/, to be redone when the daemon starts (\(status.inProgress.count)):")
        } else {
            lines.append("in progress (\(active.count) running or retrying, \(queued.count) queued):")
        }
        for live in active {
            let record = live.record
            var line = "  \(record.id)  \(record.input)  \(record.state.rawValue)"
            if record.state == .running, let stage = live.stage {
                line += ": \(stage)" + (live.fraction.map { " \(Int(($0 * 100).rounded()))%" } ?? "")
                if let detail = live.detail { line += " (\(detail))" }
            }
            if record.state == .retrying, let message = record.error?["message"]?.stringValue {
                line += " after: \(message)"
            }
            lines.append(line + "  attempt \(record.attempts)")
        }
        if !queued.isEmpty {
            let names = queued.prefix(10).map(\.record.input).joined(separator: ", ")
            lines.append("  queued: \(names)\(queued.count > 10 ? " (+\(queued.count - 10) more)" : "")")
        }
        lines.append("")
        lines.append("finished (last \(status.finished.count)):")
        for record in status.finished {
            let seconds = record.elapsed.map { " in \(format($0)) s" } ?? ""
            lines.append("  \(time(record.finishedAt))  \(record.state.rawValue)  \(record.input) → \(record.destination ?? "inbox")\(seconds)")
        }
        lines.append("")
        lines.append("failures (last \(status.failures.count)):")
        for record in status.failures {
            let error = record.error
            let type = error?["type"]?.stringValue ?? "error"
            let message = error?["message"]?.stringValue ?? ""
            let offset = error?["offset"]?.intValue.map { " (byte \($0))" } ?? ""
            lines.append("  \(time(record.finishedAt))  \(record.input) → \(record.destination ?? "?")  \(type): \(message)\(offset)")
        }
        if !status.inbox.isEmpty {
            lines.append("")
            lines.append("inbox, not claimed yet: \(status.inbox.joined(separator: ", "))")
        }
        if !status.stalled.isEmpty {
            lines.append("")
            lines.append("stalled (incomplete and unchanged; never failed for it — finish the copy or remove it):")
            for entry in status.stalled {
                lines.append("  \(entry.name)  unchanged for \(Int(entry.unchangedSeconds)) s: \(entry.reason)")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func time(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        return JobRecord.timestamp(seconds)
    }

    private static func format(_ seconds: Double) -> String {
        let tenths = (seconds * 10).rounded() / 10
        return "\(tenths)"
    }
}
