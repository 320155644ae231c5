#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scalar helpers that reproduce, bit for bit, what ggml's C reference code does on x86-64.
///
/// ggml is compiled without FMA and without -ffast-math, so every expression here is a plain
/// IEEE single-precision operation in source order. Where C converts a float to an integer we
/// must also reproduce what the CPU does with values that do not fit (cvttss2si returns the
/// "integer indefinite" 0x80000000), because Swift's `Int32(_:)` would trap instead.
@usableFromInline
enum Numerics {
    /// Groups whose largest magnitude is below this are treated as all zero (ggml's GROUP_MAX_EPS).
    @usableFromInline static let groupMaxEps: Float = 1e-15

    /// ggml's `nearest_int`: adding 1.5 * 2^23 makes the FPU round to an integer (ties to even)
    /// and leaves it in the low mantissa bits. Only exact for |f| <= 2^22, as in ggml; outside
    /// that range we return the same garbage ggml does, which keeps outputs byte-identical.
    @inlinable @inline(__always)
    static func nearestInt(_ f: Float) -> Int32 {
        let v = f + 12582912.0
        let i = Int32(bitPattern: v.bitPattern)
        return (i & 0x007f_ffff) &- 0x0040_0000
    }

    /// C's `(int)f` as compiled for x86-64 (cvttss2si): truncation toward zero, and
    /// 0x80000000 for NaN or values outside the Int32 range.
    @inlinable @inline(__always)
    static func truncToInt32(_ f: Float) -> Int32 {
        if !(f > -2147483904.0 && f < 2147483648.0) { return Int32.min }
        return Int32(f)
    }

    /// C's `(int8_t)f` / `(uint8_t)f`: truncate to int32 as the CPU does, then keep the low byte.
    @inlinable @inline(__always)
    static func truncToByte(_ f: Float) -> UInt8 {
        UInt8(truncatingIfNeeded: truncToInt32(f))
    }

    /// glibc's `lroundf`: round half away from zero to a 64-bit long; NaN and out-of-range
    /// values give LONG_MIN, as the x86-64 conversion does.
    @inlinable @inline(__always)
    static func lround(_ f: Float) -> Int64 {
        let r = f.rounded(.toNearestOrAwayFromZero)
        if !(r > -9.223372e18 && r < 9.223372e18) { return Int64.min }
        return Int64(r)
    }

    /// C's `roundf` followed by conversion to int8 (used by Q8_0): half away from zero, low byte.
    @inlinable @inline(__always)
    static func roundToByte(_ f: Float) -> UInt8 {
        truncToByte(f.rounded(.toNearestOrAwayFromZero))
    }

    /// glibc's `log2f`, so MXFP4 exponents agree with the reference on every input.
    @inlinable @inline(__always)
    static func log2f(_ f: Float) -> Float {
        #if canImport(Glibc)
        return Glibc.log2f(f)
        #else
        return Darwin.log2f(f)
        #endif
    }

    /// glibc's `sqrtf` (IEEE correctly rounded, identical to `Float.squareRoot`).
    @inlinable @inline(__always)
    static func sqrtf(_ f: Float) -> Float { f.squareRoot() }

    /// `ldexpf(x, e)` for the small exponents the FP4 scale formats use.
    @inlinable @inline(__always)
    static func ldexpf(_ x: Float, _ e: Int) -> Float {
        #if canImport(Glibc)
        return Glibc.ldexpf(x, Int32(e))
        #else
        return Darwin.ldexpf(x, Int32(e))
        #endif
    }
}

/// Unaligned little-endian loads and stores into block memory.
extension UnsafeMutableRawPointer {
    @inlinable @inline(__always)
    func storeU16(_ v: UInt16, at offset: Int) {
        storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt16.self)
    }
    @inlinable @inline(__always)
    func storeU8(_ v: UInt8, at offset: Int) {
        storeBytes(of: v, toByteOffset: offset, as: UInt8.self)
    }
    @inlinable @inline(__always)
    func orU8(_ v: UInt8, at offset: Int) {
        let old = load(fromByteOffset: offset, as: UInt8.self)
        storeBytes(of: old | v, toByteOffset: offset, as: UInt8.self)
    }
    @inlinable @inline(__always)
    func u8(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
    @inlinable @inline(__always)
    func zero(_ offset: Int, _ count: Int) {
        (self + offset).initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }
}

extension UnsafeRawPointer {
    @inlinable @inline(__always)
    func u8(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
    @inlinable @inline(__always)
    func i8(_ offset: Int) -> Int8 { load(fromByteOffset: offset, as: Int8.self) }
    @inlinable @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inlinable @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inlinable @inline(__always)
    func u64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    /// The fp16 stored at `offset`, widened to Float.
    @inlinable @inline(__always)
    func half(_ offset: Int) -> Float { FP16.toFloat(u16(offset)) }
}
