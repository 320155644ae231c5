/// Serializes GGUF header fields (little-endian) into a byte array.
struct GGUFEncoder {
    private(set) var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ string: String) {
        append(UInt64(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    mutating func append(_ value: GGUFValue) {
        append(value.type.rawValue)
        appendPayload(value)
    }

    private mutating func appendPayload(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float64(let v): append(v.bitPattern)
        case .array(let elementType, let values):
            append(elementType.rawValue)
            append(UInt64(values.count))
            for element in values { appendPayload(element) }
        }
    }

    mutating func padZeros(to alignment: Int) {
        let padded = GGUFHeaderParser.pad(bytes.count, to: alignment)
        bytes.append(contentsOf: repeatElement(0, count: padded - bytes.count))
    }
}
