import GGUF
import Safetensors

/// Element conversions the converter needs: safetensors F32/F16/BF16 to `Float`, and `Float` rows
/// to the four output types of `convert_hf_to_gguf.py` (F32, F16, BF16, Q8_0), each bit-exact with
/// what gguf-py's numpy code produces.
///
/// They are kept in this one file so they can be swapped for the Quantization target's ggml-exact
/// kernels once that target is merged; nothing else in ModelConversion encodes elements.
public enum ElementConversion {
    /// Source element types the converter reads. Integer and FP8 tensors are handled elsewhere.
    public enum SourceType: Sendable, Equatable {
        case f32, f16, bf16
        /// FP8 weights of block-scaled checkpoints (`quant_method: fp8`), torch's float8_e4m3fn / float8_e5m2.
        case f8E4M3, f8E5M2

        public init?(_ dtype: SafetensorsDType) {
            switch dtype {
            case .f32: self = .f32
            case .f16: self = .f16
            case .bf16: self = .bf16
            case .f8E4M3: self = .f8E4M3
            case .f8E5M2: self = .f8E5M2
            default: return nil
            }
        }

        public var byteSize: Int {
            switch self {
            case .f32: 4
            case .f16, .bf16: 2
            case .f8E4M3, .f8E5M2: 1
            }
        }
    }

    /// Decodes `count` little-endian elements of `type` starting at `source` into `output`.
    /// F16 and BF16 widen exactly to single precision, as torch's `.to(float32)` does.
    public static func decode(_ source: UnsafeRawBufferPointer, type: SourceType, count: Int,
                              into output: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            for i in 0..<count {
                output[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .f16:
            // Baseline x86-64 has no F16C, so Float16 -> Float is a library call; a table is faster.
            f16ToFloat.withUnsafeBufferPointer { table in
                for i in 0..<count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    output[i] = table[Int(bits)]
                }
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                output[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .f8E4M3:
            for i in 0..<count { output[i] = f8E4M3ToFloat[Int(source[i])] }
        case .f8E5M2:
            // E5M2 is the top byte of an F16.
            for i in 0..<count { output[i] = f16ToFloat[Int(source[i]) << 8] }
        }
    }

    /// float8_e4m3fn widened exactly: bias 7, subnormals below exponent 1, no infinities, and
    /// S.1111.111 is NaN (torch's `.float()` of the same bits).
    static let f8E4M3ToFloat: [Float] = (0...255).map { (byte: Int) -> Float in
        let sign: Float = byte & 0x80 != 0 ? -1 : 1
        let exponent = (byte >> 3) & 0xf
        let mantissa = byte & 7
        if exponent == 0xf && mantissa == 7 { return .nan }
        if exponent == 0 { return sign * Float(mantissa) / 8 * Float(sign: .plus, exponent: -6, significand: 1) }
        return sign * (1 + Float(mantissa) / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }

    /// Every half-precision value widened (exactly) to single precision; built once, on first use.
    static let f16ToFloat: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

    /// IEEE half precision, round to nearest even: what numpy's `astype(np.float16)` gives.
    @inline(__always)
    public static func f16Bits(_ value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// Float (given as bits, not NaN) to IEEE half, round to nearest even, overflow to infinity:
    /// the same bits as `Float16(x)` without its library call (baseline x86-64 has no F16C), and
    /// branch-free so a row's loop vectorizes. Normal results round by adding 0xfff plus the
    /// lowest kept bit before dropping 13 bits; subnormal ones let an FP add do the rounding.
    @inline(__always)
    static func halfBitsRoundingToNearestEven(_ bits: UInt32) -> UInt16 {
        let sign = bits & 0x8000_0000
        let x = bits ^ sign
        let normal = (x &+ 0xC800_0FFF &+ ((x >> 13) & 1)) >> 13  // rebias 127 -> 15, round
        let denormMagic: UInt32 = 0x3F00_0000  // 0.5: aligns the subnormal's unit with the float's
        let subnormal = (Float(bitPattern: x) + Float(bitPattern: denormMagic)).bitPattern &- denormMagic
        let magnitude = x >= 0x4780_0000 ? 0x7c00 : (x < 0x3880_0000 ? subnormal : normal)
        return UInt16(truncatingIfNeeded: magnitude | (sign >> 16))
    }

    /// gguf-py `quants.BF16.quantize_blocks` (= ggml_compute_fp32_to_bf16): NaN becomes a quiet
    /// NaN keeping its sign and high payload bits, everything else rounds to nearest even.
    @inline(__always)
    public static func bf16Bits(_ value: Float) -> UInt16 {
        var n = value.bitPattern
        if n & 0x7fff_ffff > 0x7f80_0000 {
            n = (n & 0xffff_0000) | (64 << 16)
        }
        // In 64 bits, as numpy does (uint64), so the carry out of 0xffff7fff+ never wraps.
        let rounded = (UInt64(n) + UInt64(0x7fff + ((n >> 16) & 1))) >> 16
        return UInt16(truncatingIfNeeded: rounded)
    }

    /// Bytes one row of `count` elements takes in `type`; nil when the row does not fill whole blocks.
    public static func rowBytes(_ type: GGMLType, count: Int) -> Int? {
        guard count % type.blockSize == 0 else { return nil }
        return count / type.blockSize * type.bytesPerBlock
    }

    /// Encodes `row` into `type` at `output`, which must have room for `rowBytes(type, row.count)`.
    /// Supported: F32, F16, BF16, Q8_0 (the types `convert_hf_to_gguf.py` writes).
    public static func encode(_ row: UnsafeBufferPointer<Float>, to type: GGMLType, into output: UnsafeMutableRawPointer) {
        switch type {
        case .f32:
            for (i, v) in row.enumerated() { output.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            guard let source = row.baseAddress else { return }
            let out = output.assumingMemoryBound(to: UInt16.self)
            var nan: UInt32 = 0
            for i in 0..<row.count {
                let bits = source[i].bitPattern
                nan |= bits & 0x7fff_ffff > 0x7f80_0000 ? 1 : 0
                out[i] = halfBitsRoundingToNearestEven(bits).littleEndian
            }
            if nan != 0 {  // NaN payloads: whatever Float16's conversion does, as before
                for i in 0..<row.count where source[i].isNaN { out[i] = f16Bits(source[i]).littleEndian }
            }
        case .bf16:
            for (i, v) in row.enumerated() { output.storeBytes(of: bf16Bits(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            var block = 0
            while block * 32 < row.count {
                let start = row.startIndex + block * 32
                encodeQ8_0Block(UnsafeBufferPointer(rebasing: row[start..<(start + 32)]), into: output + 34 * block)
                block += 1
            }
        default:
            preconditionFailure("ElementConversion cannot encode \(type)")
        }
    }

    /// gguf-py `quants.Q8_0.quantize_blocks`, in single precision like its numpy code:
    /// `d = max|x| / 127`, `id = d == 0 ? 0 : 1/d`, `q = np_roundf(x * id)` (round half away
    /// from zero, computed as `sign(v) * (floor|v| + floor(2 * (|v| - floor|v|)))`), then d as F16.
    public static func encodeQ8_0Block(_ block: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawPointer) {
        guard let p = block.baseAddress, block.count == 32 else { return encodeQ8_0BlockGeneral(block, into: output) }
        var amax: Float = 0
        var nan: UInt32 = 0
        for i in 0..<32 {
            let a = abs(p[i])
            nan |= a.bitPattern > 0x7f80_0000 ? 1 : 0
            amax = a > amax ? a : amax
        }
        let d = amax / 127
        let id: Float = d == 0 ? 0 : 1 / d
        guard nan == 0, id.isFinite else { return encodeQ8_0BlockGeneral(block, into: output) }
        output.storeBytes(of: f16Bits(d).littleEndian, as: UInt16.self)
        // Every |x * id| is at most ~127 here, so with 2^23 added the float's unit is 1: adding and
        // subtracting it rounds to the nearest integer, and the low mantissa bits are that integer.
        // Branch-free, so the loop vectorizes; same bytes as numpy's floor-based formula.
        let magic: Float = 8_388_608
        let out = (output + 2).assumingMemoryBound(to: UInt8.self)
        for i in 0..<32 {
            let x = p[i] * id
            let a = abs(x)
            let nearest = (a + magic) - magic
            let floored = nearest > a ? nearest - 1 : nearest
            let rounded = a - floored >= 0.5 ? floored + 1 : floored
            let byte = UInt8(truncatingIfNeeded: (rounded + magic).bitPattern)
            out[i] = x < 0 ? 0 &- byte : byte
        }
    }

    /// The same for any block, NaN and infinite scales included (the numpy formula as written).
    static func encodeQ8_0BlockGeneral(_ block: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for v in block {
            let a = abs(v)
            // np.max propagates NaN; keep it so a NaN block gives the same bytes as numpy.
            if a.isNaN || amax.isNaN { amax = .nan } else if a > amax { amax = a }
        }
        let d = amax / 127
        let id: Float = d == 0 ? 0 : 1 / d
        output.storeBytes(of: f16Bits(d).littleEndian, as: UInt16.self)
        for (i, v) in block.enumerated() {
            let x = v * id
            let a = abs(x)
            let floored = a.rounded(.down)
            let b = floored + (2 * (a - floored)).rounded(.down)
            let q: Float = x > 0 ? b : (x < 0 ? -b : 0)
            // NaN: numpy's astype(int8) on x86 gives 0 (cvttss2si's 0x80000000, truncated to 8 bits).
            let byte: Int8 = q.isFinite && q >= -128 && q <= 127 ? Int8(q) : 0
            output.storeBytes(of: UInt8(bitPattern: byte), toByteOffset: 2 + i, as: UInt8.self)
        }
    }
}
