/// GPT-2's byte-to-unicode table: every byte becomes a printable code point, so a byte-level BPE
/// vocabulary is a list of ordinary strings. Printable Latin-1 bytes map to themselves; the 68
/// others (control characters, space, 0x7F-0xA0, 0xAD) to U+0100 and up, in byte order.
enum ByteLevel {
    static let scalarOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let value = printable ? UInt32(byte) : next
            if !printable { next += 1 }
            table[byte] = Unicode.Scalar(value) ?? " "
        }
        return table
    }()

    static let byteOfScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarOfByte.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The byte-level spelling of some UTF-8 text.
    static func encode<Bytes: Sequence>(_ utf8: Bytes) -> String where Bytes.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for byte in utf8 { view.append(scalarOfByte[Int(byte)]) }
        return String(view)
    }

    /// The bytes a byte-level token stands for; nil when it holds a code point outside the table
    /// (llama.cpp then writes `[UNK_BYTE_0x..]`, which `decodeLossy` reproduces).
    static func decode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard let byte = byteOfScalar[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// llama.cpp's `llama_decode_text`: bytes of the table's code points, and for any other code
    /// point `[UNK_BYTE_0x<its UTF-8 in hex>` followed by the whole token text and `]`.
    static func decodeLossy(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            if let byte = byteOfScalar[scalar.value] {
                bytes.append(byte)
            } else {
                let hex = String(scalar).utf8.map { byte -> String in
                    let digits = String(byte, radix: 16)
                    return digits.count == 1 ? "0" + digits : digits
                }.joined()
                bytes.append(contentsOf: Array("[UNK_BYTE_0x\(hex)\(text)]".utf8))
            }
        }
        return bytes
    }
}
