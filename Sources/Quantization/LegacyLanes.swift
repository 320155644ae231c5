/// Vector fast paths for the reference (no imatrix) Q4_0/Q4_1/Q5_0/Q5_1 rounding.
///
/// ggml converts `x*id + offset` to an integer with C's truncating cast. When every value of
/// a block is known to lie in [0, 64] (finite scale, no NaN), truncation is computed exactly
/// with the round-to-nearest magic constant and a one-step correction; otherwise the block
/// takes the scalar path, which reproduces the CPU's out-of-range behaviour.
enum LegacyLanes {
    /// trunc(v) for 0 <= v < 2^22, exactly.
    @inline(__always)
    static func truncSmall(_ v: F8) -> I8 {
        let n = Lanes.nearestInt(v)
        let f = Lanes.floatSigned(n)
        return n &+ unsafeBitCast(f .> v, to: I8.self)  // mask lanes are -1 where rounding went up
    }

    /// The value ggml's `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` scan leaves in
    /// `max` for 32 values: the first value of largest magnitude (NaN never wins). From the
    /// largest and smallest values: only a tie between +a and -a needs the scan for which came first.
    @inline(__always)
    static func signedAbsMax32(_ x: UnsafePointer<Float>) -> (amax: Float, max: Float) {
        let p = UnsafeRawPointer(x)
        var hi = F8(repeating: 0), lo = F8(repeating: 0)
        for k in 0..<4 {
            let v = p.loadUnaligned(fromByteOffset: 32 * k, as: F8.self)
            hi = Lanes.maxF(v, hi)
            lo = Lanes.minF(v, lo)
        }
        let top = Lanes.hmax(hi), bottom = -Lanes.hmin(lo)  // lanes are never NaN
        if top > bottom { return (top, top) }
        if bottom > top { return (bottom, -bottom) }
        if top == 0 { return (0, 0) }
        for j in 0..<32 where abs(x[j]) == top { return (top, x[j]) }
        return (top, 0)
    }

    /// ggml's `if (v < min) min = v; if (v > max) max = v;` over 32 values from min = FLT_MAX,
    /// max = -FLT_MAX (NaN never replaces). Per lane, then across lanes: the order does not
    /// matter except for the sign of a zero result, which takes the sequential scan.
    @inline(__always)
    static func minMax32(_ x: UnsafePointer<Float>) -> (min: Float, max: Float) {
        let p = UnsafeRawPointer(x)
        var vmin = F8(repeating: Float.greatestFiniteMagnitude)
        var vmax = F8(repeating: -Float.greatestFiniteMagnitude)
        for k in 0..<4 {
            let v = p.loadUnaligned(fromByteOffset: 32 * k, as: F8.self)
            vmin = Lanes.minF(v, vmin)
            vmax = Lanes.maxF(v, vmax)
        }
        var min = Lanes.hmin(vmin)
        var max = Lanes.hmax(vmax)
        if min == 0 || max == 0 {
            // +0 and -0 compare equal but store differently: only the sequential scan
            // knows which one came first.
            min = Float.greatestFiniteMagnitude
            max = -Float.greatestFiniteMagnitude
            for j in 0..<32 {
                if x[j] < min { min = x[j] }
                if x[j] > max { max = x[j] }
            }
        }
        return (min, max)
    }

    /// Largest |x| over 32 values (NaN never wins, like the scalar "if (amax < fabsf(v))").
    @inline(__always)
    static func absMax32(_ x: UnsafePointer<Float>) -> Float {
        let p = UnsafeRawPointer(x)
        var m = F8(repeating: 0)
        for k in 0..<4 {
            m = Lanes.maxF(Lanes.abs(p.loadUnaligned(fromByteOffset: 32 * k, as: F8.self)), m)
        }
        return Lanes.hmax(m)
    }

    @inline(__always)
    static func hasNaN32(_ x: UnsafePointer<Float>) -> Bool {
        let p = UnsafeRawPointer(x)
        var nan = SIMDMask<I8>(repeating: false)
        for k in 0..<4 {
            let v = p.loadUnaligned(fromByteOffset: 32 * k, as: F8.self)
            nan .|= v .!= v
        }
        return Lanes.anyLane(nan)
    }

    /// Whether all lanes are within [0, 64] (false for NaN).
    @inline(__always)
    static func inRange(_ v: F8) -> Bool {
        Lanes.allLanes((v .>= F8(repeating: 0)) .& (v .<= F8(repeating: 64)))
    }

    /// Packs levels a (elements j...j+7) and b (j+16...j+23) into 8 bytes low | high << 4.
    @inline(__always)
    static func storeNibbles(_ a: I8, _ b: I8, _ y: UnsafeMutableRawPointer, at offset: Int) {
        let v = (a & 0xF) | ((b & 0xF) &<< 4)
        storeLowBytes(v, y, at: offset)
    }

    /// Stores the low byte of each lane (8 bytes). Written out because the generic
    /// SIMD8<UInt8>(truncatingIfNeeded:) conversion is an out-of-line call.
    @inline(__always)
    static func storeLowBytes(_ v: I8, _ y: UnsafeMutableRawPointer, at offset: Int) {
        var out: UInt64 = 0
        for j in 0..<8 { out |= UInt64(UInt32(bitPattern: v[j]) & 0xFF) << UInt64(8 * j) }
        y.storeBytes(of: out.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    /// roundf(v) for |v| < 2^22 (half away from zero), exactly: truncate the magnitude, then
    /// add one when the (exactly computed) fraction is at least one half.
    @inline(__always)
    static func roundHalfAway(_ v: F8) -> I8 {
        let a = Lanes.abs(v)
        let t = truncSmall(a)
        let frac = a - Lanes.floatSigned(t)
        let r = t &- unsafeBitCast(frac .>= F8(repeating: 0.5), to: I8.self)
        return r.replacing(with: 0 &- r, where: v .< F8(repeating: 0))
    }

    /// Bits 4 of the levels, as the 32-bit qh word of the 5-bit formats.
    @inline(__always)
    static func highBits(_ l: UnsafePointer<I8>) -> UInt32 {
        var qh: UInt32 = 0
        for k in 0..<4 {
            let h = (l[k] &>> 4) & 1
            for j in 0..<8 { qh |= UInt32(truncatingIfNeeded: h[j]) << UInt32(8 * k + j) }
        }
        return qh
    }
}

extension Lanes {
    /// The k-quants' final requantization of 16 values against the stored scale:
    /// level = clamp(nearest_int((x + dm) / d), lo, hi) + bias, written as 16 bytes. Same IEEE
    /// division and the same nearest_int bit trick per lane, so it is exact for every input.
    @inline(__always)
    static func requant16(
        _ x: UnsafePointer<Float>, d: Float, dm: Float, addMin: Bool, lo: Int32, hi: Int32, bias: Int32,
        into out: UnsafeMutableRawPointer
    ) {
        let p = UnsafeRawPointer(x)
        let vd = F8(repeating: d), vdm = F8(repeating: dm), vb = I8(repeating: bias)
        for h in 0..<2 {
            var v = p.loadUnaligned(fromByteOffset: 32 * h, as: F8.self)
            if addMin { v = v + vdm }
            let l = clamp(nearestInt(v / vd), lo, hi) &+ vb
            LegacyLanes.storeLowBytes(l, out, at: 8 * h)
        }
    }
}
