import BinaryIO
import JSON

/// One job as the ledger keeps it. Each ledger line is a whole record (not a delta), so the last
/// line of a job is its current state and a torn line costs only that one update.
public struct JobRecord: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        /// Renamed into work/, not started (or waiting to be redone after a restart).
        case claimed
        case running
        /// A transient error; waiting for the backoff before the next attempt.
        case retrying
        /// Artifacts published in out/.
        case done
        /// Input moved to failed/ with error.json.
        case failed
        /// Found still arriving after the claim: moved back to the inbox (a later claim is a new job).
        case deferred

        public var isFinished: Bool { self == .done || self == .failed || self == .deferred }
    }

    public var id: String
    /// The input's name in the inbox.
    public var input: String
    public var state: State
    /// Attempts started so far.
    public var attempts: Int = 0
    /// Wall-clock seconds since the epoch.
    public var claimedAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var inputBytes: Int = 0
    public var outputBytes: Int?
    /// `out/NAME` or `failed/NAME`, relative to ROOT.
    public var destination: String?
    /// Seconds per stage, summed over attempts, in the order the stages first ran.
    public var stageSeconds: [(stage: String, seconds: Double)] = []
    /// The last error (of any kind), as in error.json.
    public var error: JSONValue?

    public init(id: String, input: String, state: State, claimedAt: Double) {
        self.id = id
        self.input = input
        self.state = state
        self.claimedAt = claimedAt
    }

    public static func == (a: JobRecord, b: JobRecord) -> Bool {
        a.json() == b.json()
    }

    mutating func add(stage: String, seconds: Double) {
        if let index = stageSeconds.firstIndex(where: { $0.stage == stage }) {
            stageSeconds[index].seconds += seconds
        } else {
            stageSeconds.append((stage, seconds))
        }
    }

    /// Seconds from the first start to the end (nil while unfinished).
    public var elapsed: Double? {
        guard let startedAt, let finishedAt else { return nil }
        return finishedAt - startedAt
    }

    public func json() -> JSONValue {
        func time(_ value: Double?) -> JSONValue { value.map { .string(Clock.iso8601($0)) } ?? .null }
        return jsonObject([
            ("job", .string(id)),
            ("input", .string(input)),
            ("state", .string(state.rawValue)),
            ("attempts", .number(JSONNumber(attempts))),
            ("claimed_at", time(claimedAt)),
            ("started_at", time(startedAt)),
            ("finished_at", time(finishedAt)),
            ("input_bytes", .number(JSONNumber(inputBytes))),
            ("output_bytes", outputBytes.map { .number(JSONNumber($0)) } ?? .null),
            ("destination", destination.map { .string($0) } ?? .null),
            ("stage_seconds", .object(stageSeconds.map { (key: $0.stage, value: .number(JSONNumber(Self.rounded($0.seconds)))) })),
            ("error", error ?? .null),
        ])
    }

    /// Reads a ledger line back; nil for anything that is not a record we wrote.
    public init?(json: JSONValue) {
        guard let id = json["job"]?.stringValue, let input = json["input"]?.stringValue,
              let state = json["state"]?.stringValue.flatMap(State.init(rawValue:)),
              let claimed = json["claimed_at"]?.stringValue.flatMap(Self.parseTime)
        else { return nil }
        self.init(id: id, input: input, state: state, claimedAt: claimed)
        attempts = json["attempts"]?.intValue ?? 0
        startedAt = json["started_at"]?.stringValue.flatMap(Self.parseTime)
        finishedAt = json["finished_at"]?.stringValue.flatMap(Self.parseTime)
        inputBytes = json["input_bytes"]?.intValue ?? 0
        outputBytes = json["output_bytes"]?.intValue
        destination = json["destination"]?.stringValue
        stageSeconds = (json["stage_seconds"]?.objectValue ?? []).compactMap { member in
            member.value.doubleValue.map { (member.key, $0) }
        }
        if let error = json["error"], !error.isNull { self.error = error }
    }

    /// The ledger's time format (`2026-11-24T15:20:00.123Z`, UTC).
    public static func timestamp(_ seconds: Double) -> String { Clock.iso8601(seconds) }

    /// Millisecond precision is plenty for timings and keeps lines short and stable.
    static func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }

    /// Parses the `Clock.iso8601` format back to seconds since the epoch.
    static func parseTime(_ text: String) -> Double? {
        let digits = text.split(whereSeparator: { "-T:.Z".contains($0) }).map(String.init)
        guard digits.count == 7, let year = Int(digits[0]), let month = Int(digits[1]), let day = Int(digits[2]),
              let hour = Int(digits[3]), let minute = Int(digits[4]), let second = Int(digits[5]),
              let millis = Int(digits[6]), (1...12).contains(month)
        else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm): no timegm/TZ dependence.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second) + Double(millis) / 1000
    }
}

/// A JSON object from key-value pairs, in the order given (output must be deterministic).
func jsonObject(_ pairs: [(String, JSONValue)]) -> JSONValue {
    .object(pairs.map { (key: $0.0, value: $0.1) })
}
