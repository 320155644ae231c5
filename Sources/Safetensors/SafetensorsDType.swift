/// The element types a safetensors header may name, spelled as in the header.
///
/// The list is the huggingface/safetensors reference's (0.8), in its order, including its sub-byte float formats
/// (F4, F6_*), whose tensors must still occupy a whole number of bytes. A name outside this list
/// is an error rather than "unknown, skip": without the element size we cannot check that the
/// tensor's bytes tile the buffer, and then nothing about the file can be trusted.
public enum SafetensorsDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case bool = "BOOL"
    case f4 = "F4"
    case f6E2M3 = "F6_E2M3"
    case f6E3M2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Size of one element in bits (sub-byte types are packed).
    public var bitSize: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Size of one element in bytes, or nil for the packed sub-byte types.
    public var byteSize: Int? { bitSize % 8 == 0 ? bitSize / 8 : nil }

    /// True for the types a checkpoint's weights come in and the converter reads as floats.
    public var isFloatingPoint: Bool {
        switch self {
        case .f4, .f6E2M3, .f6E3M2, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ, .f16, .bf16, .f32, .f64: return true
        case .bool, .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64, .c64: return false
        }
    }

    public var description: String { rawValue }

    /// Bytes taken by `elementCount` elements, or nil when that overflows or does not end on a
    /// byte boundary (an odd number of F4 elements, say).
    public func byteCount(forElements elementCount: Int) -> Int? {
        let (bits, overflow) = elementCount.multipliedReportingOverflow(by: bitSize)
        guard !overflow, elementCount >= 0, bits % 8 == 0 else { return nil }
        return bits / 8
    }
}
