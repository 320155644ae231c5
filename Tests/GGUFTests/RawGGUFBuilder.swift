import Foundation
import GGUF

/// Builds GGUF bytes field by field, independently of quantd's writer, so tests can make
/// exactly the malformed files they need.
struct RawGGUFBuilder {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes.append(contentsOf: Array("GGUF".utf8))
        u32(version)
        u64(tensors)
        u64(kvs)
    }

    mutating func kvU32(_ key: String, _ v: UInt32) {
        string(key)
        u32(4)
        u32(v)
    }

    mutating func kvString(_ key: String, _ v: String) {
        string(key)
        u32(8)
        string(v)
    }

    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }

    mutating func padTo(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }

    /// A minimal valid file: one key, two F32 tensors of 8 elements.
    static func valid() -> RawGGUFBuilder {
        var b = RawGGUFBuilder()
        b.header(tensors: 2, kvs: 1)
        b.kvString("general.architecture", "llama")
        b.tensorInfo("a", dims: [8], type: 0, offset: 0)
        b.tensorInfo("b", dims: [8], type: 0, offset: 32)
        b.padTo(32)
        b.zeros(64)
        return b
    }
}

/// Parses a whole in-memory file (Array.withUnsafeBytes loses the typed error, so recover it).
func parseGGUF(_ bytes: [UInt8]) throws(GGUFError) -> GGUFHeader {
    do {
        return try bytes.withUnsafeBytes { try GGUFHeaderParser.parse($0, fileSize: $0.count) }
    } catch let error as GGUFError {
        throw error
    } catch {
        preconditionFailure("GGUFHeaderParser throws only GGUFError")
    }
}
