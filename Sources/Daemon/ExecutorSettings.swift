import JSON
import Pipeline

/// Where the daemon's jobs run: `"daemon": {"executor": {"kind": "local"}}` (the default: a child
/// process on this machine) or `{"kind": "slurm", ...}` (a Slurm job per input, on whichever node
/// Slurm chooses; ROOT must be on a file system every node mounts at the same path).
public enum ExecutorSettings: Sendable, Equatable {
    case local
    case slurm(SlurmSettings)

    static let kinds = ["local", "slurm"]

    static func parse(_ value: JSONValue, at path: String) throws(ConfigError) -> ExecutorSettings {
        let members = try ConfigReader.object(value, at: path)
        guard let kindValue = members.first(where: { $0.key == "kind" })?.value else {
            throw ConfigError(path: path + ".kind", message: "is missing; say \"local\" or \"slurm\"")
        }
        switch try ConfigReader.string(kindValue, at: path + ".kind") {
        case "local":
            if let extra = members.first(where: { $0.key != "kind" }) {
                throw ConfigError(path: path + "." + extra.key, message: "is a Slurm setting; the local executor has none")
            }
            return .local
        case "slurm":
            return .slurm(try SlurmSettings.parse(members, at: path))
        case let other:
            throw ConfigError(path: path + ".kind", message: "is \"\(other)\"; the executors are \"local\" and \"slurm\"")
        }
    }

    func json() -> JSONValue {
        switch self {
        case .local: jsonObject([("kind", .string("local"))])
        case let .slurm(settings): settings.json()
        }
    }
}

/// How the Slurm executor submits a job. Every value is passed to `sbatch` as its own argument
/// (never through a shell), in Slurm's own syntax, so what works on the command line works here.
public struct SlurmSettings: Sendable, Equatable {
    /// `--partition`; nil for the cluster's default.
    public var partition: String?
    /// `--account`; nil for the user's default.
    public var account: String?
    /// `--cpus-per-task`, also the job's thread count; nil for the daemon's `threads` setting.
    public var cpusPerTask: Int?
    /// `--mem` (`16G`, `12000M`); nil for the partition's default.
    public var memory: String?
    /// `--time` (`2:00:00`, `1-00:00:00`); nil derives it from `job_timeout_seconds`.
    public var time: String?
    /// The quantd binary as the compute nodes see it; nil for this daemon's own executable path.
    public var quantd: String?
    /// How often `scontrol` is asked about a running job.
    public var pollSeconds: Double = 2
    /// Further `sbatch` arguments, each one argument (`["--qos=batch", "--constraint=avx2"]`).
    public var sbatchArguments: [String] = []

    public init() {}

    static let keys = ["kind", "partition", "account", "cpus_per_task", "mem", "time", "quantd", "poll_seconds", "sbatch_args"]

    static func parse(_ members: [(key: String, value: JSONValue)], at path: String) throws(ConfigError) -> SlurmSettings {
        var settings = SlurmSettings()
        for (key, member) in members {
            let at = path + "." + key
            switch key {
            case "kind": break
            case "partition": settings.partition = try word(member, at)
            case "account": settings.account = try word(member, at)
            case "cpus_per_task": settings.cpusPerTask = try ConfigReader.int(member, at: at, in: 1...4096)
            case "mem":
                let text = try word(member, at)
                guard text.first?.isNumber == true, text.allSatisfy({ $0.isNumber || "KMGTkmgt".contains($0) }),
                      text.filter({ !$0.isNumber }).count <= 1, text.last.map({ $0.isNumber || "KMGTkmgt".contains($0) }) == true else {
                    throw ConfigError(path: at, message: "is \"\(text)\"; give Slurm's --mem syntax, a number with an optional K, M, G or T (\"16G\")")
                }
                settings.memory = text
            case "time":
                let text = try word(member, at)
                guard text.first?.isNumber == true, text.allSatisfy({ $0.isNumber || $0 == ":" || $0 == "-" }) else {
                    throw ConfigError(path: at, message: "is \"\(text)\"; give Slurm's --time syntax (\"90\", \"2:00:00\", \"1-00:00:00\")")
                }
                settings.time = text
            case "quantd":
                let text = try ConfigReader.string(member, at: at)
                guard text.hasPrefix("/"), !text.contains("\0"), !text.contains("\n") else {
                    throw ConfigError(path: at, message: "must be an absolute path to the quantd binary on the compute nodes")
                }
                settings.quantd = text
            case "poll_seconds":
                settings.pollSeconds = try ConfigReader.number(member, at: at, in: 0.1...600, unit: "seconds")
            case "sbatch_args":
                guard let items = member.arrayValue else {
                    throw ConfigError(path: at, message: "must be an array of strings, not \(member.kindName)")
                }
                var arguments: [String] = []
                for (index, item) in items.enumerated() {
                    let text = try ConfigReader.string(item, at: at + "[\(index)]")
                    guard text.hasPrefix("-"), !text.contains("\n"), !text.contains("\0") else {
                        throw ConfigError(path: at + "[\(index)]", message: "must be one sbatch option (\"--qos=batch\"), not \"\(text)\"")
                    }
                    arguments.append(text)
                }
                settings.sbatchArguments = arguments
            default:
                throw ConfigReader.unknownKey(at: at, known: keys)
            }
        }
        return settings
    }

    /// A name Slurm accepts as one option value: not empty, no spaces or control characters, and
    /// not starting with `-` (it would read as another option).
    private static func word(_ value: JSONValue, _ path: String) throws(ConfigError) -> String {
        let text = try ConfigReader.string(value, at: path)
        guard !text.isEmpty, !text.hasPrefix("-"), text.count <= 256,
              text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f }) else {
            throw ConfigError(path: path, message: "\"\(text)\" is not a valid Slurm name (no spaces, not starting with '-')")
        }
        return text
    }

    func json() -> JSONValue {
        jsonObject([
            ("kind", .string("slurm")),
            ("partition", partition.map { .string($0) } ?? .null),
            ("account", account.map { .string($0) } ?? .null),
            ("cpus_per_task", cpusPerTask.map { .number(JSONNumber($0)) } ?? .null),
            ("mem", memory.map { .string($0) } ?? .null),
            ("time", time.map { .string($0) } ?? .null),
            ("quantd", quantd.map { .string($0) } ?? .null),
            ("poll_seconds", .number(JSONNumber(pollSeconds))),
            ("sbatch_args", .array(sbatchArguments.map { .string($0) })),
        ])
    }
}
