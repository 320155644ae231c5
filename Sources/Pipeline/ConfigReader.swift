import JSON

/// Reads one JSON object of a configuration file field by field, tracking its JSON path, so every
/// error names exactly where the problem is (`$.schemes[1].mix`) and unknown keys are refused.
///
/// The static checks take one value at a known path; they are the same for every section of
/// pipeline.json, so the pipeline's stages and the daemon's settings word their errors alike.
public struct ConfigReader {
    public let path: String
    private let members: [(key: String, value: JSONValue)]
    private var used = Set<String>()

    public init(_ value: JSONValue, path: String) throws(ConfigError) {
        self.path = path
        self.members = try Self.object(value, at: path)
    }

    private mutating func value(_ key: String) -> JSONValue? {
        used.insert(key)
        return members.first { $0.key == key }?.value
    }

    public func child(_ key: String) -> String { "\(path).\(key)" }

    public mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        return try Self.string(v, at: child(key))
    }

    public mutating func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key) else { throw ConfigError(path: child(key), message: "is required") }
        return s
    }

    public mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        return try Self.bool(v, at: child(key))
    }

    public mutating func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        return try Self.int(v, at: child(key), in: range)
    }

    public mutating func array(_ key: String) throws(ConfigError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard let a = v.arrayValue else { throw ConfigError(path: child(key), message: "must be an array, not \(v.kindName)") }
        return a
    }

    /// The raw value, for a sub-object another component parses (e.g. `daemon`).
    public mutating func raw(_ key: String) -> JSONValue? { value(key) }

    /// Refuses any key that was never asked for: a typo must not be silently ignored.
    public func rejectUnknownKeys() throws(ConfigError) {
        if let unknown = members.first(where: { !used.contains($0.key) }) {
            throw Self.unknownKey(at: child(unknown.key), known: used.sorted())
        }
    }

    // MARK: One value at a path

    public static func object(_ v: JSONValue, at path: String) throws(ConfigError) -> [(key: String, value: JSONValue)] {
        guard let members = v.objectValue else { throw ConfigError(path: path, message: "must be an object, not \(v.kindName)") }
        return members
    }

    public static func string(_ v: JSONValue, at path: String) throws(ConfigError) -> String {
        guard let s = v.stringValue else { throw ConfigError(path: path, message: "must be a string, not \(v.kindName)") }
        return s
    }

    public static func bool(_ v: JSONValue, at path: String) throws(ConfigError) -> Bool {
        guard let b = v.boolValue else { throw ConfigError(path: path, message: "must be true or false, not \(v.kindName)") }
        return b
    }

    public static func int(_ v: JSONValue, at path: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let i = v.intValue else { throw ConfigError(path: path, message: "must be a whole number") }
        guard range.contains(i) else {
            throw ConfigError(path: path, message: "is \(i); it must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return i
    }

    /// A finite number within `range`; `unit` (e.g. "seconds") is named in the error.
    public static func number(_ v: JSONValue, at path: String, in range: ClosedRange<Double>, unit: String) throws(ConfigError) -> Double {
        guard let x = v.doubleValue, x.isFinite else {
            throw ConfigError(path: path, message: "must be a number of \(unit), not \(v.kindName)")
        }
        guard range.contains(x) else {
            throw ConfigError(path: path, message: "is \(plain(x)); it must be between \(plain(range.lowerBound)) and \(plain(range.upperBound)) \(unit)")
        }
        return x
    }

    public static func unknownKey(at path: String, known: [String]) -> ConfigError {
        ConfigError(path: path, message: "is not a known key (known here: \(known.joined(separator: ", ")))")
    }

    /// `5` rather than `5.0` for whole numbers, as they are usually written in the file.
    private static func plain(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
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
