import GGUF

/// Dequantization of the codebook ("i-quant") formats whose quantizers need ggml's grid search
/// (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S). Each group of 8 (or 4) weights is a
/// grid entry of small magnitudes, a sign pattern, and a per-32 scale; arithmetic is ggml's
/// `dequantize_row_iq*` in the same order.
enum IQDequant {
    @inline(__always)
    private static func byte(_ entry: UInt64, _ j: Int) -> Float { Float(UInt8(truncatingIfNeeded: entry >> UInt64(8 * j))) }
    @inline(__always)
    private static func byte32(_ entry: UInt32, _ j: Int) -> Float { Float(UInt8(truncatingIfNeeded: entry >> UInt32(8 * j))) }
    @inline(__always)
    private static func sbyte(_ entry: UInt64, _ j: Int) -> Float { Float(Int8(truncatingIfNeeded: entry >> UInt64(8 * j))) }
    @inline(__always)
    private static func sign(_ signs: UInt8, _ j: Int) -> Float { signs & (1 << UInt8(j)) != 0 ? -1 : 1 }

    static func dequantize(_ type: GGMLType, _ y: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) {
        let nb = count / 256
        let size = type.bytesPerBlock
        for ib in 0..<nb {
            let b = y + ib * size
            let out = x + ib * 256
            switch type.id {
            case GGMLType.iq2_XXS.id: iq2xxs(b, out)
            case GGMLType.iq2_XS.id: iq2xs(b, out)
            case GGMLType.iq2_S.id: iq2s(b, out)
            case GGMLType.iq3_XXS.id: iq3xxs(b, out)
            case GGMLType.iq3_S.id: iq3s(b, out)
            case GGMLType.iq1_S.id: iq1s(b, out)
            case GGMLType.iq1_M.id: iq1m(b, out)
            default: return
            }
        }
    }

    /// d, qs u16[32]: per 32 weights two u32 words: four 8-bit grid indices, then 4x7 sign bits
    /// and a 4-bit scale.
    private static func iq2xxs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        var out = y
        for ib32 in 0..<8 {
            let aux1 = b.u32(2 + 8 * ib32 + 4)
            let db = d * (0.5 + Float(aux1 >> 28)) * 0.25
            for l in 0..<4 {
                let grid = IQGrids.iq2xxsGrid[Int(b.u8(2 + 8 * ib32 + l))]
                let signs = IQGrids.ksignsIQ2XS[Int((aux1 >> UInt32(7 * l)) & 127)]
                for j in 0..<8 { out[j] = db * byte(grid, j) * sign(signs, j) }
                out += 8
            }
        }
    }

    /// d, qs u16[32] (9-bit index + 7 sign bits), scales[8] (two 4-bit scales per 32).
    private static func iq2xs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        var out = y
        for ib32 in 0..<8 {
            let sc = b.u8(66 + ib32)
            let db0 = d * (0.5 + Float(sc & 0xf)) * 0.25
            let db1 = d * (0.5 + Float(sc >> 4)) * 0.25
            for l in 0..<4 {
                let q = b.u16(2 + 2 * (4 * ib32 + l))
                let grid = IQGrids.iq2xsGrid[Int(q & 511)]
                let signs = IQGrids.ksignsIQ2XS[Int(q >> 9)]
                let db = l < 2 ? db0 : db1
                for j in 0..<8 { out[j] = db * byte(grid, j) * sign(signs, j) }
                out += 8
            }
        }
    }

    /// d, qs[64] (low 8 index bits, then 32 bytes of explicit signs), qh[8], scales[8].
    private static func iq2s(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        var out = y
        for ib32 in 0..<8 {
            let sc = b.u8(74 + ib32)
            let db0 = d * (0.5 + Float(sc & 0xf)) * 0.25
            let db1 = d * (0.5 + Float(sc >> 4)) * 0.25
            let qh = Int(b.u8(66 + ib32))
            for l in 0..<4 {
                let dl = l < 2 ? db0 : db1
                let index = Int(b.u8(2 + 4 * ib32 + l)) | ((qh << (8 - 2 * l)) & 0x300)
                let grid = IQGrids.iq2sGrid[index]
                let signs = b.u8(2 + 32 + 4 * ib32 + l)
                for j in 0..<8 { out[j] = dl * byte(grid, j) * sign(signs, j) }
                out += 8
            }
        }
    }

    /// d, qs[96]: 64 bytes of grid indices (4 weights each), then per 32 weights a u32 of
    /// 4x7 sign bits and a 4-bit scale.
    private static func iq3xxs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        var out = y
        for ib32 in 0..<8 {
            let aux = b.u32(2 + 64 + 4 * ib32)
            let db = d * (0.5 + Float(aux >> 28)) * 0.5
            for l in 0..<4 {
                let signs = IQGrids.ksignsIQ2XS[Int((aux >> UInt32(7 * l)) & 127)]
                let g1 = IQGrids.iq3xxsGrid[Int(b.u8(2 + 8 * ib32 + 2 * l))]
                let g2 = IQGrids.iq3xxsGrid[Int(b.u8(2 + 8 * ib32 + 2 * l + 1))]
                for j in 0..<4 {
                    out[j] = db * byte32(g1, j) * sign(signs, j)
                    out[j + 4] = db * byte32(g2, j) * sign(signs, j + 4)
                }
                out += 8
            }
        }
    }

    /// d, qs[64], qh[8], signs[32], scales[4] (4-bit odd scales per 32).
    private static func iq3s(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        var out = y
        for pair in 0..<4 {
            let sc = b.u8(106 + pair)
            for half in 0..<2 {
                let ib32 = 2 * pair + half
                let db = d * Float(1 + 2 * Int32(half == 0 ? sc & 0xf : sc >> 4))
                let qh = Int(b.u8(66 + ib32))
                for l in 0..<4 {
                    let i1 = Int(b.u8(2 + 8 * ib32 + 2 * l)) | ((qh << (8 - 2 * l)) & 256)
                    let i2 = Int(b.u8(2 + 8 * ib32 + 2 * l + 1)) | ((qh << (7 - 2 * l)) & 256)
                    let g1 = IQGrids.iq3sGrid[i1], g2 = IQGrids.iq3sGrid[i2]
                    let signs = b.u8(74 + 4 * ib32 + l)
                    for j in 0..<4 {
                        out[j] = db * byte32(g1, j) * sign(signs, j)
                        out[j + 4] = db * byte32(g2, j) * sign(signs, j + 4)
                    }
                    out += 8
                }
            }
        }
    }

    private static let iq1Delta: Float = 0.125

    /// d, qs[32] (low 8 index bits), qh u16[8] (3x3 high index bits, 3-bit scale, delta sign).
    private static func iq1s(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b.half(0)
        var out = y
        for ib in 0..<8 {
            let qh = b.u16(34 + 2 * ib)
            let dl = d * Float(2 * Int32((qh >> 12) & 7) + 1)
            let delta = qh & 0x8000 != 0 ? -iq1Delta : iq1Delta
            for l in 0..<4 {
                let index = Int(b.u8(2 + 4 * ib + l)) | (Int((qh >> UInt16(3 * l)) & 7) << 8)
                let grid = IQGrids.iq1sGrid[index]
                for j in 0..<8 { out[j] = dl * (sbyte(grid, j) + delta) }
                out += 8
            }
        }
    }

    /// qs[32], qh[16], scales[8]: the fp16 super-scale is spread over the top nibbles of the
    /// four u16 scale words; each 16 weights have a 3-bit scale and a delta sign.
    private static func iq1m(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let sc0 = b.u16(48), sc1 = b.u16(50), sc2 = b.u16(52), sc3 = b.u16(54)
        let bits = (sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000)
        let d = FP16.toFloat(bits)
        var out = y
        for ib in 0..<8 {
            let sc = b.u16(48 + 2 * (ib / 2))
            let shift = UInt16(6 * (ib % 2))
            let dl1 = d * Float(2 * Int32((sc >> shift) & 7) + 1)
            let dl2 = d * Float(2 * Int32((sc >> (shift + 3)) & 7) + 1)
            let qh0 = Int(b.u8(32 + 2 * ib)), qh1 = Int(b.u8(32 + 2 * ib + 1))
            let qs = 4 * ib
            for l in 0..<4 {
                let qh = l < 2 ? qh0 : qh1
                // Even groups take index bits 0-2 and delta bit 3 of qh, odd groups bits 4-6 and 7.
                let index = Int(b.u8(qs + l)) | ((l % 2 == 0 ? qh << 8 : qh << 4) & 0x700)
                let delta = qh & (l % 2 == 0 ? 0x08 : 0x80) != 0 ? -iq1Delta : iq1Delta
                let dl = l < 2 ? dl1 : dl2
                let grid = IQGrids.iq1sGrid[index]
                for j in 0..<8 { out[j] = dl * (sbyte(grid, j) + delta) }
                out += 8
            }
        }
    }
}
