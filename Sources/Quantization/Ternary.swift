/// TQ1_0 and TQ2_0: ternary weights {-1, 0, 1} times a per-256 fp16 absmax scale.
///
/// TQ1_0 packs 5 trits per byte as a fixed-point fraction of 3^5 (so a trit is read back with a
/// multiply and a shift): qs[48] qh[4] d = 54 bytes. TQ2_0 stores 2 bits per trit: qs[64] d = 66.
enum Ternary {
    @inline(__always)
    private static func trit(_ v: Float) -> Int32 {
        // lroundf(x) + 1 in C's int (the long is truncated to int first). For |v| < 1.5, which
        // holds for all finite input since v = x / absmax, rounding half away from zero is just
        // two comparisons; anything else (inf, NaN) takes the general conversion.
        if abs(v) < 1.5 {
            return v >= 0.5 ? 2 : (v <= -0.5 ? 0 : 1)
        }
        return Int32(truncatingIfNeeded: Numerics.lround(v)) &+ 1
    }

    /// Packs up to five trits (most significant first) into one byte as ceil(q * 256 / 243).
    @inline(__always)
    private static func packTrits(_ q: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (UInt16(q) * 256 + 242) / 243)
    }

    @inline(__always)
    private static func absmaxScale(_ x: UnsafePointer<Float>) -> (d: Float, id: Float) {
        // C's MAX(amax, fabsf(v)) scan; a NaN propagates only if it is the last value, which
        // the per-lane form cannot express, so fall back to the scan when any value is NaN.
        let p = UnsafeRawPointer(x)
        var m = F8(repeating: 0)
        var nan = SIMDMask<I8>(repeating: false)
        for k in 0..<32 {
            let v = p.loadUnaligned(fromByteOffset: 32 * k, as: F8.self)
            let a = Lanes.abs(v)
            m.replace(with: a, where: m .< a)
            nan .|= v .!= v
        }
        var amax = Lanes.hmax(m)
        if Lanes.anyLane(nan) {
            amax = 0
            for j in 0..<256 {
                let a = abs(x[j])
                amax = amax > a ? amax : a
            }
        }
        return (amax, amax != 0 ? 1 / amax : 0)
    }

    static func quantizeTQ1(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 256) {
            var xb = x + 256 * ib
            let yb = y + 54 * ib
            let (d, id) = absmaxScale(xb)
            yb.storeU16(FP16.fromFloat(d), at: 52)
            // 32 bytes of 5 trits, strided by 32 ...
            for m in 0..<32 {
                var q: UInt8 = 0
                for n in 0..<5 { q = q &* 3 &+ UInt8(truncatingIfNeeded: trit(xb[m + n * 32] * id)) }
                yb.storeU8(packTrits(q), at: m)
            }
            xb += 160
            // ... 16 bytes of 5 trits, strided by 16 ...
            for m in 0..<16 {
                var q: UInt8 = 0
                for n in 0..<5 { q = q &* 3 &+ UInt8(truncatingIfNeeded: trit(xb[m + n * 16] * id)) }
                yb.storeU8(packTrits(q), at: 32 + m)
            }
            xb += 80
            // ... and 4 bytes of 4 trits (shifted to the top trit), strided by 4.
            for j in 0..<4 {
                var q: UInt8 = 0
                for m in 0..<4 { q = q &* 3 &+ UInt8(truncatingIfNeeded: trit(xb[j + m * 4] * id)) }
                q = q &* 3
                yb.storeU8(packTrits(q), at: 48 + j)
            }
        }
    }

    static func quantizeTQ2(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 256) {
            let xb = x + 256 * ib
            let yb = y + 66 * ib
            let (d, id) = absmaxScale(xb)
            yb.storeU16(FP16.fromFloat(d), at: 64)
            for j in 0..<2 {
                for m in 0..<32 {
                    var q: UInt8 = 0
                    for n in 0..<4 {
                        let xi = trit(xb[128 * j + m + n * 32] * id)
                        q = q &+ UInt8(truncatingIfNeeded: (xi & 3) << (2 * Int32(n)))
                    }
                    yb.storeU8(q, at: 32 * j + m)
                }
            }
        }
    }

    @inline(__always)
    private static func unpackTrit(_ byte: UInt8, _ pow3: UInt8) -> Float {
        let q = byte &* pow3
        return Float(Int16((UInt16(q) * 3) >> 8) - 1)
    }

    static func dequantizeTQ1(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        let pow3: (UInt8, UInt8, UInt8, UInt8, UInt8) = (1, 3, 9, 27, 81)
        func p(_ n: Int) -> UInt8 { withUnsafeBytes(of: pow3) { $0[n] } }
        for ib in 0..<(count / 256) {
            let yb = y + 54 * ib
            let d = yb.half(52)
            var out = x + 256 * ib
            for n in 0..<5 {
                for m in 0..<32 { out[m] = unpackTrit(yb.u8(m), p(n)) * d }
                out += 32
            }
            for n in 0..<5 {
                for m in 0..<16 { out[m] = unpackTrit(yb.u8(32 + m), p(n)) * d }
                out += 16
            }
            for n in 0..<4 {
                for j in 0..<4 { out[j] = unpackTrit(yb.u8(48 + j), p(n)) * d }
                out += 4
            }
        }
    }

    static func dequantizeTQ2(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 256) {
            let yb = y + 66 * ib
            let d = yb.half(64)
            var out = x + 256 * ib
            for j in 0..<2 {
                for l in 0..<4 {
                    for m in 0..<32 {
                        let q = Int32((yb.u8(32 * j + m) >> UInt8(2 * l)) & 3)
                        out[m] = Float(q - 1) * d
                    }
                    out += 32
                }
            }
        }
    }
}
