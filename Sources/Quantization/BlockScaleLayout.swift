import GGUF

/// Where each block type keeps its scales, so a file can be checked for non-finite scales
/// without dequantizing it (`quantd inspect --verify`).
///
/// Offsets are those of the block structs in ggml's `ggml-common.h`. A NaN or infinite scale
/// turns a whole block of weights into NaN at inference time; it is the usual sign of a
/// quantizer fed non-finite input.
public enum BlockScaleLayout {
    public enum Encoding: Sendable {
        /// IEEE half-precision scales at these byte offsets within the block.
        case half([Int])
        /// IEEE single-precision scale (Q8_K).
        case single(Int)
        /// IQ1_M: the half-precision scale is split across the top nibbles of four 16-bit words.
        case splitHalf(Int)
        /// MXFP4: an E8M0 exponent byte; 0xFF decodes to infinity in ggml.
        case e8m0(Int)
        /// Scales that cannot be non-finite (NVFP4's UE4M3 maps every byte to a finite value).
        case alwaysFinite
    }

    public static func encoding(for type: GGMLType) -> Encoding? {
        switch type {
        case .q4_0, .q5_0, .q8_0, .iq4_NL, .iq4_XS, .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS, .iq3_S,
             .iq1_S, .q1_0, .q2_0, .q4_K, .q5_K:
            return type == .q4_K || type == .q5_K ? .half([0, 2]) : .half([0])
        case .q4_1, .q5_1, .q8_1: return .half([0, 2])
        case .q2_K: return .half([80, 82])
        case .q3_K: return .half([108])
        case .q6_K: return .half([208])
        case .tq1_0: return .half([52])
        case .tq2_0: return .half([64])
        case .q8_K: return .single(0)
        case .iq1_M: return .splitHalf(48)
        case .mxfp4: return .e8m0(0)
        case .nvfp4: return .alwaysFinite
        default: return nil  // not a block type
        }
    }

    /// Counts blocks whose scale is NaN or infinite in `data` (whole blocks of `type`).
    public static func countNonFiniteScales(_ type: GGMLType, _ data: UnsafeRawBufferPointer) -> Int {
        guard let encoding = encoding(for: type) else { return 0 }
        let stride = type.bytesPerBlock
        let blocks = data.count / stride
        var bad = 0
        for block in 0..<blocks {
            let base = block * stride
            if !isFinite(encoding, data, base) { bad += 1 }
        }
        return bad
    }

    @inline(__always)
    private static func isFinite(_ encoding: Encoding, _ data: UnsafeRawBufferPointer, _ base: Int) -> Bool {
        switch encoding {
        case .half(let offsets):
            for offset in offsets where !halfIsFinite(data.loadUnaligned(fromByteOffset: base + offset, as: UInt16.self)) {
                return false
            }
            return true
        case .single(let offset):
            return Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: base + offset, as: UInt32.self))).isFinite
        case .splitHalf(let offset):
            var bits: UInt16 = 0
            for word in 0..<4 {
                let w = UInt16(littleEndian: data.loadUnaligned(fromByteOffset: base + offset + 2 * word, as: UInt16.self))
                bits |= (w >> 12) << (4 * word)
            }
            return halfIsFinite(bits)
        case .e8m0(let offset):
            return data[base + offset] != 0xFF
        case .alwaysFinite:
            return true
        }
    }

    /// A half is NaN or infinite exactly when its five exponent bits are all ones.
    @inline(__always)
    public static func halfIsFinite(_ littleEndianBits: UInt16) -> Bool {
        UInt16(littleEndian: littleEndianBits) & 0x7C00 != 0x7C00
    }
}
