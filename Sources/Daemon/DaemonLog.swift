import BinaryIO
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// One line per event on stderr: human-readable by default, JSON lines with `--log-format json`.
///
/// Under systemd stderr goes to the journal, which adds its own timestamp; the time is still
/// printed so the same lines make sense in a terminal or a file. Each line is one write(2), so
/// lines from several threads never interleave.
public final class DaemonLog: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case human, json
    }

    public enum Level: String, Sendable {
        case info, warning, error
    }

    public let format: Format
    private let sink: @Sendable (String) -> Void

    /// `sink` receives each line including its newline; the default writes to fd 2.
    public init(format: Format = .human, sink: (@Sendable (String) -> Void)? = nil) {
        self.format = format
        self.sink = sink ?? { line in
            var text = line
            text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
        }
    }

    /// A log that drops everything (tests that do not look at the log).
    public static let silent = DaemonLog(sink: { _ in })

    public func info(_ event: String, _ message: String, _ fields: [(String, JSONValue)] = []) {
        emit(.info, event, message, fields)
    }

    public func warning(_ event: String, _ message: String, _ fields: [(String, JSONValue)] = []) {
        emit(.warning, event, message, fields)
    }

    public func error(_ event: String, _ message: String, _ fields: [(String, JSONValue)] = []) {
        emit(.error, event, message, fields)
    }

    private func emit(_ level: Level, _ event: String, _ message: String, _ fields: [(String, JSONValue)]) {
        let time = Clock.iso8601(Clock.wall())
        switch format {
        case .json:
            let head: [(key: String, value: JSONValue)] = [
                (key: "time", value: .string(time)), (key: "level", value: .string(level.rawValue)),
                (key: "event", value: .string(event)), (key: "message", value: .string(message)),
            ]
            let members = head + fields.map { (key: $0.0, value: $0.1) }
            sink(JSONValue.object(members).serialized() + "\n")
        case .human:
            var line = "\(time) \(level == .info ? "" : level.rawValue.uppercased() + " ")\(event): \(message)"
            for (key, value) in fields {
                line += " \(key)=\(value.stringValue ?? value.serialized())"
            }
            // One event, one line: a newline inside a message (an error's text) must not split it.
            sink(line.replacingAll("\n", with: " ") + "\n")
        }
    }
}
