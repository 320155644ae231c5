/// A JSON document as parsed by `StrictJSON`.
///
/// Objects keep their members in file order (a header's tensor order, a config's key order) and
/// never hold the same key twice: the parser rejects duplicates instead of silently keeping one.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            // Order matters: two headers listing the same tensors differently are different files.
            guard a.count == b.count else { return false }
            return zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }
}

/// A JSON number with its original text, so integers beyond 2^53 (byte offsets of large
/// checkpoints, token ids) stay exact instead of passing through a Double.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// The literal as written in the document, e.g. `9007199254740993` or `-1.5e3`.
    public let text: String
    /// The nearest Double; inexact for large integers, so use the integer accessors for those.
    public let doubleValue: Double
    /// True when the literal has no fraction and no exponent (`1`, `-0`; not `1.0` or `1e2`).
    public let isIntegerLiteral: Bool

    /// Builds a number from an already validated literal; `StrictJSON` is the only caller that
    /// passes file input here.
    init(validatedText text: String, isIntegerLiteral: Bool, doubleValue: Double) {
        self.text = text
        self.isIntegerLiteral = isIntegerLiteral
        self.doubleValue = doubleValue
    }

    public init(_ value: Int64) {
        self.init(validatedText: String(value), isIntegerLiteral: true, doubleValue: Double(value))
    }

    public init(_ value: UInt64) {
        self.init(validatedText: String(value), isIntegerLiteral: true, doubleValue: Double(value))
    }

    public init(_ value: Int) { self.init(Int64(value)) }

    /// A finite Double; non-finite values have no JSON spelling, so they become 0.
    public init(_ value: Double) {
        let finite = value.isFinite ? value : 0
        self.init(validatedText: "\(finite)", isIntegerLiteral: false, doubleValue: finite)
    }

    /// The exact value when the literal is an integer that fits in Int64.
    public var int64Value: Int64? { isIntegerLiteral ? Int64(text) : nil }
    /// The exact value when the literal is a non-negative integer that fits in UInt64.
    /// (`-0` is accepted as 0: it is the same integer.)
    public var uint64Value: UInt64? {
        guard isIntegerLiteral else { return nil }
        if text == "-0" { return 0 }
        return UInt64(text)
    }
    /// The exact value when the literal is an integer that fits in Int.
    public var intValue: Int? { int64Value.flatMap { Int(exactly: $0) } }

    public var description: String { text }

    /// Numeric equality: integers compare exactly, anything else by Double value, so `1` and
    /// `1.0` are equal but 9007199254740993 and 9007199254740992 are not.
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if lhs.isIntegerLiteral && rhs.isIntegerLiteral {
            if let a = lhs.int64Value, let b = rhs.int64Value { return a == b }
            if let a = lhs.uint64Value, let b = rhs.uint64Value { return a == b }
            return lhs.text == rhs.text
        }
        return lhs.doubleValue == rhs.doubleValue
    }
}

// MARK: - Accessors

extension JSONValue {
    /// The member named `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The element at `index` of an array; nil when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        guard case let .array(elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }

    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }

    public var numberValue: JSONNumber? { if case let .number(n) = self { return n } else { return nil } }

    /// An exact integer that fits in Int; nil for fractions, exponents, overflow or non-numbers.
    public var intValue: Int? { numberValue?.intValue }
    public var int64Value: Int64? { numberValue?.int64Value }
    public var uint64Value: UInt64? { numberValue?.uint64Value }
    public var doubleValue: Double? { numberValue?.doubleValue }

    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a } else { return nil } }

    public var objectValue: [(key: String, value: JSONValue)]? {
        if case let .object(members) = self { return members } else { return nil }
    }

    /// A short name of the kind of value, for error messages ("expected an object, found a string").
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - Literals (for building expected documents in code and tests)

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(floatLiteral value: Double) { self = .number(JSONNumber(value)) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Dictionary literals keep their written order, matching how objects are compared.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { (key: $0.0, value: $0.1) })
    }
}

// MARK: - Numbers from typed values (reports written by quantd)

extension JSONValue {
    public static func int(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }
    public static func uint(_ value: UInt64) -> JSONValue { .number(JSONNumber(value)) }

    /// A Double as its shortest decimal, which reads back as the same bits; NaN and the
    /// infinities, which JSON cannot express, become the strings "NaN", "Infinity", "-Infinity"
    /// (a report must still say that a value is not finite).
    public static func double(_ value: Double) -> JSONValue {
        if value.isNaN { return .string("NaN") }
        if value.isInfinite { return .string(value < 0 ? "-Infinity" : "Infinity") }
        return .number(JSONNumber(value))
    }
}
