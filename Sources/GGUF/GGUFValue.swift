/// The value types a GGUF metadata entry can hold, with their on-disk ids.
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value on disk; nil for strings and arrays, whose size is in the data.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// The fewest bytes one value can take on disk (a string is at least its 8-byte length).
    var minimumSize: Int { fixedSize ?? 8 }

    /// The gguf-py name of the type (`GGUFValueType.UINT32` -> "UINT32").
    public var description: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }
}

/// One metadata value. Arrays carry their element type so an empty array round-trips exactly.
/// ggml rejects arrays of arrays, and so do we.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an exact integer, when it is an integer type.
    public var integerValue: Int64? {
        switch self {
        case .uint8(let v): Int64(v)
        case .int8(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint64(let v): Int64(exactly: v)
        case .int64(let v): v
        default: nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }

    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: integerValue.map(Double.init)
        }
    }
}

/// One key and its value, in file order.
public struct GGUFKeyValue: Equatable, Sendable {
    public let key: String
    public let value: GGUFValue
    public init(_ key: String, _ value: GGUFValue) {
        self.key = key
        self.value = value
    }
}

/// The metadata of a GGUF file: entries in file order, looked up by key.
public struct GGUFMetadata: Sendable, Equatable {
    public private(set) var entries: [GGUFKeyValue]
    private var index: [String: Int]

    public init(_ entries: [GGUFKeyValue] = []) {
        self.entries = []
        self.index = [:]
        for entry in entries { self[entry.key] = entry.value }
    }

    public subscript(key: String) -> GGUFValue? {
        get { index[key].map { entries[$0].value } }
        set {
            if let position = index[key] {
                if let newValue {
                    entries[position] = GGUFKeyValue(key, newValue)
                } else {
                    entries.remove(at: position)
                    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
                }
            } else if let newValue {
                index[key] = entries.count
                entries.append(GGUFKeyValue(key, newValue))
            }
        }
    }

    public var count: Int { entries.count }
    public func contains(_ key: String) -> Bool { index[key] != nil }

    public static func == (lhs: GGUFMetadata, rhs: GGUFMetadata) -> Bool { lhs.entries == rhs.entries }
}
