import GGUF
import Quantization
import Testing

@testable import Inference

@Suite struct ActivationRoundingTests {
    @Test func picksGGMLsVecDotType() {
        #expect(ActivationRounding(weightType: .f32) == .none)
        #expect(ActivationRounding(weightType: .f16) == .half)
        #expect(ActivationRounding(weightType: .bf16) == .bfloat16)
        #expect(ActivationRounding(weightType: .q5_0) == .q8_0)
        #expect(ActivationRounding(weightType: .q4_1) == .q8_0)
        #expect(ActivationRounding(weightType: .q4_K) == .q8_K)
        #expect(ActivationRounding(weightType: .q6_K) == .q8_K)
    }

    /// Our Q8_0 rounding is the reference quantizer followed by its dequantizer.
    @Test func q8_0IsAQuantizeDequantizeRoundTrip() throws {
        let x: [Float] = (0..<64).map { Float($0 % 7) * 0.37 - 1.1 + Float($0) * 0.01 }
        var ours = [Float](repeating: 0, count: 64)
        x.withUnsafeBufferPointer { xb in
            ours.withUnsafeMutableBufferPointer { ActivationRounding.q8_0.apply(xb.baseAddress!, count: 64, rowLength: 64, into: $0.baseAddress!) }
        }
        var bytes = [UInt8](repeating: 0, count: 68)
        var back = [Float](repeating: 0, count: 64)
        try x.withUnsafeBufferPointer { xb in
            try bytes.withUnsafeMutableBytes {
                try Quantizer.quantize(.q8_0, rows: xb, rowLength: 64, importance: nil, into: $0)
            }
        }
        try bytes.withUnsafeBytes { b in
            try back.withUnsafeMutableBufferPointer { try Quantizer.dequantize(.q8_0, b, count: 64, into: $0) }
        }
        #expect(ours == back)
    }

    /// Q8_K maps the value of largest magnitude to exactly -127·d; a row that is not whole
    /// 256-blocks passes through unchanged.
    @Test func q8_K() {
        var x = [Float](repeating: 0.25, count: 256)
        x[10] = -3
        var y = [Float](repeating: 0, count: 256)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { ActivationRounding.q8_K.apply(xb.baseAddress!, count: 256, rowLength: 256, into: $0.baseAddress!) }
        }
        #expect(y[10] == -3)
        #expect(abs(y[0] - 0.25) <= 3 / 127 / 2)
        let short: [Float] = [1, 2, 3]
        var out = [Float](repeating: 0, count: 3)
        short.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ActivationRounding.q8_K.apply(xb.baseAddress!, count: 3, rowLength: 3, into: $0.baseAddress!) }
        }
        #expect(out == short)
    }
}
