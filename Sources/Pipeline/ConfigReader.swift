import JSON

/// Reads one JSON object of a configuration file field by field, tracking its JSON path, so every
/// error names exactly where the problem is (`$.schemes[1].mix`) and unknown keys are refused.
struct ConfigReader {
    let path: String
    private let members: [(key: String, value: JSONValue)]
    private var used = Set<String>()

    init(_ value: JSONValue, path: String) throws(ConfigError) {
        guard let members = value.objectValue else {
            throw ConfigError(path: path, message: "must be an object, not \(value.kindName)")
        }
        self.path = path
        self.members = members
    }

    private mutating func value(_ key: String) -> JSONValue? {
        used.insert(key)
        return members.first { $0.key == key }?.value
    }

    func child(_ key: String) -> String { "\(path).\(key)" }

    mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw ConfigError(path: child(key), message: "must be a string, not \(v.kindName)") }
        return s
    }

    mutating func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key) else { throw ConfigError(path: child(key), message: "is required") }
        return s
    }

    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw ConfigError(path: child(key), message: "must be true or false, not \(v.kindName)") }
        return b
    }

    mutating func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else { throw ConfigError(path: child(key), message: "must be a whole number") }
        guard range.contains(i) else {
            throw ConfigError(path: child(key), message: "is \(i); it must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return i
    }

    mutating func array(_ key: String) throws(ConfigError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard let a = v.arrayValue else { throw ConfigError(path: child(key), message: "must be an array, not \(v.kindName)") }
        return a
    }

    /// The raw value, for a sub-object another component parses (e.g. `daemon`).
    mutating func raw(_ key: String) -> JSONValue? { value(key) }

    /// Refuses any key that was never asked for: a typo must not be silently ignored.
    func rejectUnknownKeys() throws(ConfigError) {
        if let unknown = members.first(where: { !used.contains($0.key) }) {
            let known = used.sorted().joined(separator: ", ")
            throw ConfigError(path: child(unknown.key), message: "is not a known key (known here: \(known))")
        }
    }
}

/// A configuration problem: the JSON path and what is wrong there.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    public var file: String?

    public init(path: String, message: String, file: String? = nil) {
        self.path = path
        self.message = message
        self.file = file
    }

    public var description: String { (file.map { "\($0): " } ?? "") + "\(path) \(message)" }
}
