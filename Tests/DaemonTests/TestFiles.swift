import Foundation

/// Small valid inputs built in memory.
enum TestFiles {
    /// A safetensors file with one F32 tensor of `floats` elements.
    static func safetensors(floats: Int, name: String = "w") -> Data {
        let header = "{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(floats)],\"data_offsets\":[0,\(floats * 4)]}}"
        var padded = Array(header.utf8)
        while padded.count % 8 != 0 { padded.append(0x20) }
        var data = Data()
        var length = UInt64(padded.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: padded)
        for index in 0..<floats {
            var value = Float(index).bitPattern.littleEndian
            withUnsafeBytes(of: &value) { data.append(contentsOf: $0) }
        }
        return data
    }
}
