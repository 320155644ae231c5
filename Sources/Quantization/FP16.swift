/// IEEE half precision and bfloat16 conversions exactly as ggml-base performs them.
///
/// llama-quantize converts with ggml's portable bit-manipulation code (after Maratyszcza/FP16),
/// not with F16C, so that is what we reproduce: round to nearest even, and every NaN becomes the
/// quiet NaN 0x7E00 with the input's sign (F16C would keep payload bits).
public enum FP16 {
    /// fp32 -> fp16 bits (ggml_compute_fp32_to_fp16).
    @inlinable @inline(__always)
    public static func fromFloat(_ f: Float) -> UInt16 {
        let scaleToInf = Float(bitPattern: 0x7780_0000)  // 2^112
        let scaleToZero = Float(bitPattern: 0x0880_0000)  // 2^-110
        // Scaling up then down lets the FPU do the mantissa rounding, including subnormals.
        var base = (abs(f) * scaleToInf) * scaleToZero
        let w = f.bitPattern
        let shl1W = w &+ w
        let sign = w & 0x8000_0000
        var bias = shl1W & 0xFF00_0000
        if bias < 0x7100_0000 { bias = 0x7100_0000 }
        base = Float(bitPattern: (bias >> 1) &+ 0x0780_0000) + base
        let bits = base.bitPattern
        let expBits = (bits >> 13) & 0x0000_7C00
        let mantissaBits = bits & 0x0000_0FFF
        let nonsign = expBits &+ mantissaBits
        return UInt16(truncatingIfNeeded: (sign >> 16) | (shl1W > 0xFF00_0000 ? 0x7E00 : nonsign))
    }

    /// fp16 bits -> fp32 (exact; ggml_compute_fp16_to_fp32).
    @inlinable @inline(__always)
    public static func toFloat(_ h: UInt16) -> Float {
        let w = UInt32(h) << 16
        let sign = w & 0x8000_0000
        let twoW = w &+ w
        let expOffset: UInt32 = 0xE0 << 23
        let expScale = Float(bitPattern: 0x0780_0000)  // 2^-112
        let normalized = Float(bitPattern: (twoW >> 4) &+ expOffset) * expScale
        let magicMask: UInt32 = 126 << 23
        let denormalized = Float(bitPattern: (twoW >> 17) | magicMask) - 0.5
        let cutoff: UInt32 = 1 << 27
        let result = sign | (twoW < cutoff ? denormalized.bitPattern : normalized.bitPattern)
        return Float(bitPattern: result)
    }
}

extension FP16 {
    /// `count` fp16 values to f32, eight at a time: the same bit manipulation as `toFloat` on
    /// SIMD lanes (exact, so identical results). Four 32-bit words hold eight halves; the even
    /// halves are the low 16 bits, the odd ones the high, and the results are interleaved back.
    static func toFloats(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        #if QUANTD_F16C
        // The CPU's conversion (vcvtph2ps) gives the same bits: it is exact, and NaNs keep their
        // payload and come out quiet, as ggml's multiply by 2^-112 leaves them. A plain loop: LLVM
        // vectorizes it at the build's full width (16 lanes with AVX-512; an 8-lane SIMD loop here
        // cost the F16 forward pass ~2 %, measured).
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
        #else
        typealias U4 = SIMD4<UInt32>
        var i = 0
        while i + 8 <= count {
            let v = src.loadUnaligned(fromByteOffset: 2 * i, as: U4.self)
            let even = convert4(v &<< 16), odd = convert4(v & 0xFFFF_0000)
            let out = SIMD8<Float>(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3])
            UnsafeMutableRawPointer(dst + i).storeBytes(of: out, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            dst[i] = toFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            i += 1
        }
        #endif
    }

    /// `toFloat` for four halves already shifted into the top 16 bits of each lane.
    @inline(__always)
    private static func convert4(_ w: SIMD4<UInt32>) -> SIMD4<Float> {
        let sign = w & 0x8000_0000
        let twoW = w &+ w
        let normalized = unsafeBitCast((twoW &>> 4) &+ (0xE0 << 23), to: SIMD4<Float>.self)
            * SIMD4<Float>(repeating: Float(bitPattern: 0x0780_0000))
        let denormalized = unsafeBitCast((twoW &>> 17) | (126 << 23), to: SIMD4<Float>.self) - 0.5
        let tiny = twoW .< SIMD4<UInt32>(repeating: 1 << 27)
        let bits = unsafeBitCast(normalized, to: SIMD4<UInt32>.self)
            .replacing(with: unsafeBitCast(denormalized, to: SIMD4<UInt32>.self), where: tiny)
        return unsafeBitCast(sign | bits, to: SIMD4<Float>.self)
    }
}

/// bfloat16 as ggml_compute_fp32_to_bf16 / ggml_compute_bf16_to_fp32.
public enum BF16 {
    /// Round to nearest even on the upper 16 bits; NaNs are truncated and forced quiet.
    @inlinable @inline(__always)
    public static func fromFloat(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if (u & 0x7fff_ffff) > 0x7f80_0000 {
            return UInt16(truncatingIfNeeded: (u >> 16) | 64)
        }
        return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
    }

    @inlinable @inline(__always)
    public static func toFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }
}

/// The small-float scale encodings of MXFP4 (E8M0) and NVFP4 (UE4M3).
enum FP8Scales {
    /// Half of 2^(e-127): MXFP4 stores its E2M1 code points doubled, so the scale is halved.
    @inline(__always)
    static func e8m0ToFloatHalf(_ e: UInt8) -> Float {
        let bits: UInt32 = e < 2 ? 0x0020_0000 << UInt32(e) : UInt32(e - 1) << 23
        return Float(bitPattern: bits)
    }

    /// UE4M3 (bias 7, 3 mantissa bits) times 0.5, matching the doubled E2M1 code points.
    @inline(__always)
    static func ue4m3ToFloat(_ x: UInt8) -> Float {
        if x == 0 || x == 0x7F { return 0 }
        let exp = Int((x >> 3) & 0xF)
        let man = Int(x & 0x7)
        let raw: Float
        if exp == 0 {
            raw = Numerics.ldexpf(Float(man), -9)
        } else {
            raw = Numerics.ldexpf(1.0 + Float(man) / 8.0, exp - 7)
        }
        return raw * 0.5
    }

    /// fp32 -> UE4M3 with ggml's rounding (round half up on the first dropped mantissa bit).
    @inline(__always)
    static func floatToUE4M3(_ value: Float) -> UInt8 {
        var x = value
        if !(x > 0) { return 0 }
        if x > 448 { x = 448 }
        let bits = x.bitPattern
        let fp32Exp = Int((bits >> 23) & 0xFF) - 127
        let fp32Man = Int((bits >> 20) & 0x7)
        var exp = fp32Exp + 7
        if exp <= 0 {
            var man = Int(Numerics.truncToInt32(x * 512.0 + 0.5))
            if man > 7 { man = 7 }
            if man < 1 { return 0 }
            return UInt8(man)
        }
        if exp >= 15 { return 0x7E }
        var man = fp32Man + Int((bits >> 19) & 1)
        if man > 7 {
            man = 0
            exp += 1
            if exp >= 15 { return 0x7E }
        }
        return UInt8((exp << 3) | man)
    }
}
