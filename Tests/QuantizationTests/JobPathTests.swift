import GGUF
import Testing
@testable import Quantization

/// The pieces of the job path that are not kernels: the SIMD fp16 conversion, quantizing from
/// F16 rows converted inside the workers, and the float-lane error statistics.
@Suite struct JobPathTests {
    @Test func simdHalfConversionMatchesScalarForEveryBitPattern() {
        let halves = (0...0xFFFF).map { UInt16($0) }
        var out = [Float](repeating: 0, count: halves.count + 3)
        halves.withUnsafeBytes { h in
            out.withUnsafeMutableBufferPointer { o in
                // An odd count and an odd offset exercise the tail and unaligned loads.
                FP16.toFloats(h.baseAddress!, count: 7, into: o.baseAddress!)
                FP16.toFloats(h.baseAddress! + 14, count: halves.count - 7, into: o.baseAddress! + 7)
            }
        }
        var mismatches = 0
        for (i, h) in halves.enumerated() where out[i].bitPattern != FP16.toFloat(h).bitPattern { mismatches += 1 }
        #expect(mismatches == 0)
    }

    @Test(arguments: ["Q4_0", "Q5_1", "Q8_0", "Q3_K", "Q6_K", "IQ4_XS"])
    func quantizingF16RowsEqualsConvertingFirst(_ name: String) throws {
        let type = try #require(GGMLType(name: name))
        let n = 512, nrows = 11
        let halves = ParallelAndMetricsTests.rows(nrows, n, seed: 3).map { FP16.fromFloat($0 * 7) }
        let floats = halves.map { FP16.toFloat($0) }
        let bytes = try Quantizer.byteCount(type, rows: nrows, rowLength: n)
        var expected = [UInt8](repeating: 0, count: bytes)
        let expectedError = try floats.withUnsafeBufferPointer { x in
            try expected.withUnsafeMutableBytes {
                try Quantizer.quantize(type, rows: x, rowLength: n, importance: nil, into: $0, threads: 1, measure: true)
            }
        }
        for threads in [1, 2, 3] {
            var out = [UInt8](repeating: 0, count: bytes)
            let error = try halves.withUnsafeBytes { raw in
                try out.withUnsafeMutableBytes {
                    try Quantizer.quantize(type, rawRows: raw, of: .f16, rowLength: n, importance: nil, into: $0,
                                           threads: threads, measure: true)
                }
            }
            #expect(out == expected, "threads \(threads)")
            #expect(error == expectedError, "threads \(threads)")
        }
    }

    @Test func rawRowsThatAreNotWholeRowsAreRefused() {
        let raw = [UInt8](repeating: 0, count: 2 * 32 + 2)
        var out = [UInt8](repeating: 0, count: 18)
        #expect(throws: QuantizationError.inputSizeMismatch(expected: 64, actual: 66)) {
            try raw.withUnsafeBytes { r in
                try out.withUnsafeMutableBytes {
                    try Quantizer.quantize(.q4_0, rawRows: r, of: .f16, rowLength: 32, importance: nil, into: $0, threads: 1)
                }
            }
        }
    }

    /// The float-lane sums agree with sums in double to far better than any printed digit, and the
    /// largest error is exact.
    @Test func floatLaneStatisticsAgreeWithDoubleSums() {
        let n = 4096 + 5
        let a = ParallelAndMetricsTests.rows(1, n, seed: 11)
        let b = a.enumerated().map { $0.element + (ParallelAndMetricsTests.rows(1, 1, seed: UInt64($0.offset + 1))[0]) * 0.01 }
        var acc = ErrorAccumulator()
        a.withUnsafeBufferPointer { r in b.withUnsafeBufferPointer { q in acc.add(reference: r, reconstructed: q) } }
        var se = 0.0, sr = 0.0, sq = 0.0, d = 0.0, mx = 0.0
        for i in 0..<n {
            let x = Double(a[i]), y = Double(b[i])
            se += (y - x) * (y - x); sr += x * x; sq += y * y; d += x * y
            mx = max(mx, abs(y - x))
        }
        #expect(acc.count == n)
        #expect(abs(acc.sumSquaredError / se - 1) < 1e-6)
        #expect(abs(acc.sumSquaredReference / sr - 1) < 1e-6)
        #expect(abs(acc.sumSquaredReconstructed / sq - 1) < 1e-6)
        #expect(abs(acc.dot / d - 1) < 1e-6)
        #expect(acc.maxAbsError == mx)
    }

    /// Values whose squares overflow or underflow float take the double path: exact sums.
    @Test func hugeAndTinyValuesAreSummedInDouble() {
        let huge = [Float](repeating: 3e20, count: 16), tiny = [Float](repeating: 1e-25, count: 16)
        var h = ErrorAccumulator()
        huge.withUnsafeBufferPointer { r in h.add(reference: r, reconstructed: UnsafeBufferPointer(rebasing: r[0..<16])) }
        #expect(h.sumSquaredReference == 16 * Double(Float(3e20)) * Double(Float(3e20)))
        #expect(h.sumSquaredError == 0 && h.maxAbsError == 0)
        var t = ErrorAccumulator()
        let zeros = [Float](repeating: 0, count: 16)
        tiny.withUnsafeBufferPointer { r in zeros.withUnsafeBufferPointer { q in t.add(reference: r, reconstructed: q) } }
        #expect(t.sumSquaredReference == 16 * Double(Float(1e-25)) * Double(Float(1e-25)))
        #expect(t.sumSquaredError == t.sumSquaredReference)
        #expect(t.maxAbsError == Double(Float(1e-25)))
        var nan = ErrorAccumulator()
        var withNaN = [Float](repeating: 1, count: 16)
        withNaN[9] = .nan
        withNaN.withUnsafeBufferPointer { r in zeros.withUnsafeBufferPointer { q in nan.add(reference: r, reconstructed: q) } }
        #expect(nan.maxAbsError.isNaN)
    }

    /// ggml's Q4_0 scale comes from the FIRST value of largest magnitude: with +2 and -2 both
    /// present, the order decides d's sign (d = max / -8).
    @Test func signedMaximumTieGoesToTheFirstValue() throws {
        for (first, d) in [(Float(-2), Float(0.25)), (Float(2), Float(-0.25))] {
            var x = [Float](repeating: 0.5, count: 32)
            x[3] = first
            x[20] = -first
            var out = [UInt8](repeating: 0, count: 18)
            try x.withUnsafeBufferPointer { xb in
                try out.withUnsafeMutableBytes { try Quantizer.quantize(.q4_0, rows: xb, rowLength: 32, importance: nil, into: $0) }
            }
            #expect(UInt16(out[0]) | UInt16(out[1]) << 8 == FP16.fromFloat(d), "first \(first)")
        }
    }
}
