/// Builds a safetensors file by hand: the 8-byte little-endian length, the header, the data.
/// - Parameters:
///   - padToEight: pad the header with spaces to a multiple of 8, as the reference writer does.
///   - declaredLength: a header length to write instead of the real one (for lying files).
public func safetensorsBytes(header: String, data: [UInt8] = [], padToEight: Bool = false,
                             declaredLength: UInt64? = nil) -> [UInt8] {
    var headerBytes = Array(header.utf8)
    if padToEight {
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    }
    let length = declaredLength ?? UInt64(headerBytes.count)
    var bytes = withUnsafeBytes(of: length.littleEndian) { Array($0) }
    bytes += headerBytes
    bytes += data
    return bytes
}

/// A safetensors file with one F32 tensor `name` of `floats` elements valued 0, 1, 2, ...
public func safetensorsBytes(floats: Int, name: String = "w") -> [UInt8] {
    safetensorsBytes(header: "{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(floats)],\"data_offsets\":[0,\(floats * 4)]}}",
                     data: floatBytes((0..<floats).map(Float.init)), padToEight: true)
}

/// Little-endian bytes of Float values, for tensor data.
public func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
}
