import Testing
import GGUF
@testable import Quantization

@Suite struct ParallelAndMetricsTests {
    /// Deterministic pseudo-random rows (xorshift + Box-Muller-free sum of uniforms).
    static func rows(_ nrows: Int, _ n: Int, seed: UInt64 = 42) -> [Float] {
        var s = seed
        return (0..<(nrows * n)).map { _ in
            var acc: Float = 0
            for _ in 0..<4 {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17
                acc += Float(s % 10_000) / 10_000 - 0.5
            }
            return acc * 0.05
        }
    }

    @Test(arguments: ["Q4_0", "Q4_K", "Q6_K", "IQ4_XS", "Q2_K", "F16"])
    func parallelMatchesSerial(_ name: String) throws {
        let type = try #require(GGMLType(name: name))
        let n = 512, nrows = 7
        let x = Self.rows(nrows, n)
        let w = Self.rows(1, n, seed: 7).map { abs($0) + 0.01 }
        let bytes = try Quantizer.byteCount(type, rows: nrows, rowLength: n)
        var serial = [UInt8](repeating: 0, count: bytes)
        try x.withUnsafeBufferPointer { xb in
            try w.withUnsafeBufferPointer { wb in
                try serial.withUnsafeMutableBytes {
                    try Quantizer.quantize(type, rows: xb, rowLength: n, importance: wb, into: $0)
                }
                for threads in [1, 2, 3, 8] {
                    var par = [UInt8](repeating: 0, count: bytes)
                    _ = try par.withUnsafeMutableBytes {
                        try Quantizer.quantize(type, rows: xb, rowLength: n, importance: wb, into: $0, threads: threads)
                    }
                    #expect(par == serial, "threads \(threads)")
                }
            }
        }
    }

    @Test func metricsAreThreadIndependentAndSensible() throws {
        let n = 256, nrows = 9
        let x = Self.rows(nrows, n)
        var results: [ErrorAccumulator] = []
        for threads in [1, 2, 4] {
            var out = [UInt8](repeating: 0, count: try Quantizer.byteCount(.q4_K, rows: nrows, rowLength: n))
            let m = try x.withUnsafeBufferPointer { xb in
                try out.withUnsafeMutableBytes {
                    try Quantizer.quantize(.q4_K, rows: xb, rowLength: n, importance: nil, into: $0,
                                           threads: threads, measure: true)
                }
            }
            results.append(try #require(m))
        }
        #expect(results[0] == results[1] && results[1] == results[2])
        let m = results[0]
        #expect(m.count == n * nrows)
        #expect(m.rmse > 0 && m.relativeRMSE < 0.2)
        #expect(m.snrDB > 15 && m.snrDB < 60)
        #expect(m.cosineSimilarity > 0.99 && m.cosineSimilarity <= 1)
        #expect(m.maxAbsError > 0)
    }

    @Test func exactReconstructionMetrics() throws {
        let x: [Float] = [1, -2, 3, 0.5]
        var acc = ErrorAccumulator()
        x.withUnsafeBufferPointer { acc.add(reference: $0, reconstructed: $0) }
        #expect(acc.rmse == 0 && acc.maxAbsError == 0 && acc.relativeRMSE == 0)
        #expect(acc.snrDB == .infinity)
        #expect(abs(acc.cosineSimilarity - 1) < 1e-15)
        var zero = ErrorAccumulator()
        let z: [Float] = [0, 0]
        z.withUnsafeBufferPointer { zero.add(reference: $0, reconstructed: $0) }
        #expect(zero.cosineSimilarity == 1 && zero.relativeRMSE == 0)
    }

    @Test func argumentErrors() {
        let x = [Float](repeating: 1, count: 100)
        var out = [UInt8](repeating: 0, count: 1000)
        x.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBytes { y in
                #expect(throws: QuantizationError.rowLengthNotMultipleOfBlock(.q4_K, rowLength: 100)) {
                    try Quantizer.quantize(.q4_K, rows: xb, rowLength: 100, importance: nil, into: y)
                }
                #expect(throws: QuantizationError.quantizeUnsupported(.q8_K)) {
                    try Quantizer.quantize(.q8_K, rows: xb, rowLength: 100, importance: nil, into: y)
                }
                #expect(throws: QuantizationError.outputSizeMismatch(expected: 200, actual: 1000)) {
                    try Quantizer.quantize(.f16, rows: xb, rowLength: 100, importance: nil, into: y)
                }
                #expect(throws: QuantizationError.inputNotWholeRows(count: 100, rowLength: 64)) {
                    try Quantizer.quantize(.q8_0, rows: xb, rowLength: 64, importance: nil, into: y)
                }
            }
        }
        let w = [Float](repeating: 1, count: 10)
        let x32 = [Float](repeating: 1, count: 32)
        var o = [UInt8](repeating: 0, count: 18)
        _ = x32.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                o.withUnsafeMutableBytes { y in
                    #expect(throws: QuantizationError.importanceLengthMismatch(expected: 32, actual: 10)) {
                        try Quantizer.quantize(.q4_0, rows: xb, rowLength: 32, importance: wb, into: y)
                    }
                }
            }
        }
        let bad = [UInt8](repeating: 0, count: 17)
        var f = [Float](repeating: 0, count: 32)
        bad.withUnsafeBytes { y in
            f.withUnsafeMutableBufferPointer { xb in
                #expect(throws: QuantizationError.inputSizeMismatch(expected: 18, actual: 17)) {
                    try Quantizer.dequantize(.q4_0, y, count: 32, into: xb)
                }
                #expect(throws: QuantizationError.dequantizeUnsupported(.q8_1)) {
                    try Quantizer.dequantize(.q8_1, y, count: 32, into: xb)
                }
            }
        }
    }

    @Test func halfAndBFloatRounding() {
        // Ties to even, overflow to infinity, NaN becomes the quiet NaN with the input's sign.
        #expect(FP16.fromFloat(1.0) == 0x3C00)
        #expect(FP16.fromFloat(65520) == 0x7C00)
        #expect(FP16.fromFloat(-.nan) == 0xFE00)
        #expect(FP16.fromFloat(Float(bitPattern: 0x7F80_0001)) == 0x7E00)
        #expect(FP16.fromFloat(1 + 1.0 / 2048) == 0x3C00)  // tie -> even
        #expect(FP16.fromFloat(1 + 3.0 / 2048) == 0x3C02)  // tie -> even (up)
        #expect(FP16.toFloat(0x0001) == Float(bitPattern: 0x3380_0000))  // smallest subnormal
        #expect(BF16.fromFloat(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie -> even
        #expect(BF16.fromFloat(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(BF16.fromFloat(Float(bitPattern: 0x7F80_0001)) == 0x7FC0)  // NaN forced quiet
    }
}
