/// MXFP4 and NVFP4: 4-bit E2M1 code points (stored doubled in kvalues_fp4) with a shared
/// power-of-two (E8M0, per 32) or UE4M3 (per 16) scale.
///
/// MXFP4: e qs[16] = 17 bytes per 32. NVFP4: d[4] qs[32] = 36 bytes per 64.
enum FP4 {
    static let values: (Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8) =
        (0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12)

    @inline(__always)
    static func value(_ i: Int) -> Int8 {
        withUnsafeBytes(of: values) { $0.load(fromByteOffset: i, as: Int8.self) }
    }

    /// Linear scan for the code point nearest x/e; the first one wins a tie.
    @inline(__always)
    static func bestIndex(_ x: Float, _ e: Float) -> UInt8 {
        var best = 0
        var bestErr = abs(Float(value(0)) * e - x)
        for i in 1..<16 {
            let err = abs(Float(value(i)) * e - x)
            if err < bestErr {
                best = i
                bestErr = err
            }
        }
        return UInt8(best)
    }

    static func quantizeMXFP4(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 32) {
            let xb = x + 32 * ib
            let yb = y + 17 * ib
            // Largest |x| (a NaN never wins, as in the scalar "if (amax < fabsf(v))" scan).
            let amax = LegacyLanes.absMax32(xb)
            // floor(log2(amax)) - 2 + 127 in float, then C's (uint8_t) conversion.
            let e: UInt8 = amax > 0 ? Numerics.truncToByte(Numerics.log2f(amax).rounded(.down) - 2 + 127) : 0
            let d = FP8Scales.e8m0ToFloatHalf(e)
            yb.storeU8(e, at: 0)
            if amax == 0 {
                // All values are zero (or NaN): every code-point search ends at index 0. Skipping
                // it also avoids arithmetic on the subnormal scale 2^-128.
                yb.zero(1, 16)
                continue
            }
            let p = UnsafeRawPointer(xb), vd = F8(repeating: d)
            let l0 = bestIndex8(p.loadUnaligned(fromByteOffset: 0, as: F8.self), vd)
            let l1 = bestIndex8(p.loadUnaligned(fromByteOffset: 32, as: F8.self), vd)
            let l2 = bestIndex8(p.loadUnaligned(fromByteOffset: 64, as: F8.self), vd)
            let l3 = bestIndex8(p.loadUnaligned(fromByteOffset: 96, as: F8.self), vd)
            LegacyLanes.storeNibbles(l0, l2, yb, at: 1)
            LegacyLanes.storeNibbles(l1, l3, yb, at: 9)
        }
    }

    static func quantizeNVFP4(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutableRawPointer) {
        for ib in 0..<(count / 64) {
            let yb = y + 36 * ib
            for s in 0..<4 {
                let xb = x + 64 * ib + 16 * s
                var amax: Float = 0
                for j in 0..<16 where amax < abs(xb[j]) { amax = abs(xb[j]) }
                let ue = FP8Scales.floatToUE4M3(amax / 6)
                yb.storeU8(ue, at: s)
                let d = FP8Scales.ue4m3ToFloat(ue)
                if amax == 0 {
                    yb.zero(4 + 8 * s, 8)  // all searches end at index 0
                    continue
                }
                let p = UnsafeRawPointer(xb), e = F8(repeating: d)
                let l0 = bestIndex8(p.loadUnaligned(fromByteOffset: 0, as: F8.self), e)
                let l1 = bestIndex8(p.loadUnaligned(fromByteOffset: 32, as: F8.self), e)
                LegacyLanes.storeNibbles(l0, l1, yb, at: 4 + 8 * s)
            }
        }
    }

    static func dequantizeMXFP4(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 32) {
            let yb = y + 17 * ib
            let d = FP8Scales.e8m0ToFloatHalf(yb.u8(0))
            let out = x + 32 * ib
            for j in 0..<16 {
                let q = yb.u8(1 + j)
                out[j] = Float(value(Int(q & 0xF))) * d
                out[j + 16] = Float(value(Int(q >> 4))) * d
            }
        }
    }

    static func dequantizeNVFP4(_ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        for ib in 0..<(count / 64) {
            let yb = y + 36 * ib
            for s in 0..<4 {
                let d = FP8Scales.ue4m3ToFloat(yb.u8(s))
                let out = x + 64 * ib + 16 * s
                for j in 0..<8 {
                    let q = yb.u8(4 + 8 * s + j)
                    out[j] = Float(value(Int(q & 0xF))) * d
                    out[j + 8] = Float(value(Int(q >> 4))) * d
                }
            }
        }
    }
}

extension FP4 {
    /// `best_index_mxfp4` for eight values at once: the same linear scan in the same order
    /// per lane (strict "<", so the first of equal errors wins); code points are literals.
    @inline(__always)
    static func bestIndex8(_ x: F8, _ e: F8) -> I8 {
        var bestErr = Lanes.abs(F8(repeating: 0) * e - x)
        var best = I8(repeating: 0)
        var err: F8
        var b: SIMDMask<I8>
        err = Lanes.abs(F8(repeating: 1) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 1, where: b)
        err = Lanes.abs(F8(repeating: 2) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 2, where: b)
        err = Lanes.abs(F8(repeating: 3) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 3, where: b)
        err = Lanes.abs(F8(repeating: 4) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 4, where: b)
        err = Lanes.abs(F8(repeating: 6) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 5, where: b)
        err = Lanes.abs(F8(repeating: 8) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 6, where: b)
        err = Lanes.abs(F8(repeating: 12) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 7, where: b)
        err = Lanes.abs(F8(repeating: 0) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 8, where: b)
        err = Lanes.abs(F8(repeating: -1) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 9, where: b)
        err = Lanes.abs(F8(repeating: -2) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 10, where: b)
        err = Lanes.abs(F8(repeating: -3) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 11, where: b)
        err = Lanes.abs(F8(repeating: -4) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 12, where: b)
        err = Lanes.abs(F8(repeating: -6) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 13, where: b)
        err = Lanes.abs(F8(repeating: -8) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 14, where: b)
        err = Lanes.abs(F8(repeating: -12) * e - x); b = err .< bestErr; bestErr.replace(with: err, where: b); best.replace(with: 15, where: b)
        return best
    }
}
