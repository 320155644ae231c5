import GGUF
import Testing
@testable import ModelConversion

/// Expected bytes are gguf-py 0.19's (`quants.quantize`, numpy `astype(float16)`) for the same input.
@Suite struct ElementConversionTests {
    static func encode(_ values: [Float], _ type: GGMLType) -> [UInt8] {
        let count = ElementConversion.rowBytes(type, count: values.count) ?? 0
        var out = [UInt8](repeating: 0xAA, count: count)
        values.withUnsafeBufferPointer { row in
            out.withUnsafeMutableBytes { ElementConversion.encode(row, to: type, into: $0.baseAddress!) }
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func bf16RoundsToNearestEven() {
        #expect(ElementConversion.bf16Bits(1.0) == 0x3f80)
        // 0x3f808000 is exactly halfway: ties to even keeps 0x3f80; 0x3f818000 rounds up to 0x3f82.
        #expect(ElementConversion.bf16Bits(Float(bitPattern: 0x3f80_8000)) == 0x3f80)
        #expect(ElementConversion.bf16Bits(Float(bitPattern: 0x3f81_8000)) == 0x3f82)
        #expect(ElementConversion.bf16Bits(Float(bitPattern: 0x7f80_0001)) == 0x7fc0)
        let values: [Float] = [1e30, -1.5, 3.0, 1.00390625, 1.01171875]
        #expect(values.map(ElementConversion.bf16Bits) == [29002, 49088, 16448, 16256, 16258])
    }

    @Test func f16MatchesNumpy() {
        let values: [Float] = [1.0, 65520.0, 1e-8, 0.1, -2.5e-6]
        #expect(values.map(ElementConversion.f16Bits) == [15360, 31744, 0, 11878, 32810])
    }

    @Test func q8_0Ramp() {
        let ramp = (0..<32).map { (Float($0) - 15.5) * Float(0.37) }
        #expect(Self.hex(Self.encode(ramp, .q8_0)) == "c8298189919aa2aab2bac3cbd3dbe3ecf4fc040c141d252d353d464e565e666f777f")
    }

    @Test func q8_0RoundsHalfAwayFromZero() {
        let ties: [Float] = [127] + (-15...15).map { Float($0) + 0.5 }
        #expect(Self.hex(Self.encode(ties, .q8_0)) == "003c7ff1f2f3f4f5f6f7f8f9fafbfcfdfeff0102030405060708090a0b0c0d0e0f10")
        #expect(Self.encode([Float](repeating: 0, count: 32), .q8_0) == [UInt8](repeating: 0, count: 34))
    }

    /// The Q8_0 rounding shortcut against numpy's formula (`floor|v| + floor(2 * frac)`) written out,
    /// on values around every half step (both signs, next-up/next-down), with a scale of 1 (amax 127).
    @Test func q8_0ShortcutMatchesNumpysFormula() {
        var values: [Float] = []
        for k in -254...254 {
            let h = Float(k) / 2
            values += [h, h.nextUp, h.nextDown]
        }
        values = values.filter { abs($0) <= 127 }
        for start in stride(from: 0, to: values.count - 31, by: 31) {
            let block = [Float(127)] + values[start..<(start + 31)]
            let bytes = Self.encode(block, .q8_0)
            for (i, v) in block.enumerated() {
                let a = abs(v)
                let b = a.rounded(.down) + (2 * (a - a.rounded(.down))).rounded(.down)
                let q = v > 0 ? b : (v < 0 ? -b : 0)
                #expect(Int8(bitPattern: bytes[2 + i]) == Int8(q), "value \(v)")
            }
        }
        // Random blocks at many scales: the fast path and the general one give the same bytes.
        var state: UInt64 = 42
        for trial in 0..<2000 {
            let scale = Float(sign: .plus, exponent: trial % 60 - 30, significand: 1)
            let block = (0..<32).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * scale
            }
            var fast = [UInt8](repeating: 0, count: 34), general = [UInt8](repeating: 0, count: 34)
            block.withUnsafeBufferPointer { b in
                fast.withUnsafeMutableBytes { ElementConversion.encodeQ8_0Block(b, into: $0.baseAddress!) }
                general.withUnsafeMutableBytes { ElementConversion.encodeQ8_0BlockGeneral(b, into: $0.baseAddress!) }
            }
            #expect(fast == general, "trial \(trial)")
        }
    }

    /// The branch-free F16 encoder against Float16's conversion: a stride through every float bit
    /// pattern (NaNs excluded) plus the rounding and range edges.
    @Test func halfEncodingMatchesFloat16() {
        var edges: [Float] = [0, 65504, 65519.996, 65520, 65536, .infinity, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08,
                              2.9802326e-08, 1e-10, 1.0009766, 1.00048828125, 1.000732421875, 2049, 2051, 3.4e38]
        edges += edges.map { -$0 } + edges.map(\.nextUp) + edges.map(\.nextDown)
        var mismatches = 0
        func check(_ v: Float) {
            guard !v.isNaN else { return }
            if ElementConversion.halfBitsRoundingToNearestEven(v.bitPattern) != Float16(v).bitPattern { mismatches += 1 }
        }
        edges.forEach(check)
        var bits: UInt32 = 0
        while true {
            check(Float(bitPattern: bits))
            let (next, overflow) = bits.addingReportingOverflow(4099)
            if overflow { break }
            bits = next
        }
        #expect(mismatches == 0)
        // NaN still goes through Float16 (the row encoder's second pass).
        let row: [Float] = [1, .nan, -2]
        #expect(Self.encode(row, .f16) == [0x00, 0x3c] + withUnsafeBytes(of: Float16(Float.nan).bitPattern.littleEndian, Array.init) + [0x00, 0xc0])
    }

    @Test func decodeWidensExactly() {
        let f16: [UInt8] = [0x00, 0x3c, 0x66, 0x2e]  // 1.0, 0.0999755859375
        let bf16: [UInt8] = [0x80, 0x3f, 0xc0, 0xbf]  // 1.0, -1.5
        var out = [Float](repeating: 0, count: 2)
        f16.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { ElementConversion.decode(src, type: .f16, count: 2, into: $0.baseAddress!) } }
        #expect(out == [1.0, 0.0999755859375])
        bf16.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { ElementConversion.decode(src, type: .bf16, count: 2, into: $0.baseAddress!) } }
        #expect(out == [1.0, -1.5])
    }

    @Test func fp8WidensLikeTorch() {
        // torch.tensor([...], dtype=torch.uint8).view(torch.float8_e4m3fn).float()
        let e4m3: [UInt8] = [0x7e, 0x01, 0xb8, 0x38, 0x08, 0x00, 0x80]
        var out = [Float](repeating: 0, count: e4m3.count)
        e4m3.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { ElementConversion.decode(src, type: .f8E4M3, count: e4m3.count, into: $0.baseAddress!) } }
        #expect(out == [448, 0.001953125, -1, 1, 0.015625, 0, -0.0])
        let nan: [UInt8] = [0x7f, 0xff]
        var nans = [Float](repeating: 0, count: 2)
        nan.withUnsafeBytes { src in nans.withUnsafeMutableBufferPointer { ElementConversion.decode(src, type: .f8E4M3, count: 2, into: $0.baseAddress!) } }
        #expect(nans.allSatisfy { $0.isNaN })
        let e5m2: [UInt8] = [0x3c, 0x7b, 0x7c]  // 1.0, 57344, inf
        var wide = [Float](repeating: 0, count: 3)
        e5m2.withUnsafeBytes { src in wide.withUnsafeMutableBufferPointer { ElementConversion.decode(src, type: .f8E5M2, count: 3, into: $0.baseAddress!) } }
        #expect(wide == [1, 57344, .infinity])
    }

    @Test func rowBytesNeedWholeBlocks() {
        #expect(ElementConversion.rowBytes(.q8_0, count: 64) == 68)
        #expect(ElementConversion.rowBytes(.q8_0, count: 48) == nil)
        #expect(ElementConversion.rowBytes(.bf16, count: 3) == 6)
    }
}
