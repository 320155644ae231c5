import GGUF
import Quantization
import Testing

@testable import Inference

/// The integer matmul (VNNI builds) against a double-precision reference: the weights as ggml
/// dequantizes them times the activations as ggml rounds them (`ActivationRounding`), summed in
/// Double. The integer sums are exact, so what is left is float rounding of the per-sub-block
/// scaling and of the f32 sum over sub-blocks: a few ulps of Σ|w·x|.
@Suite(.enabled(if: IntegerMatMul.isAvailable, "needs a VNNI build (INFERENCE_VNNI)"))
struct IntegerMatMulTests {
    /// 45 rows: a whole panel and one cut short; 11 tokens: not a multiple of the tile.
    static let rows = 45, tokens = 11

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000 - 1_000_000) / 1_000_000
        }
    }

    /// Activations whose magnitude changes from block to block (so block scales differ), with one
    /// all-zero 256-column block in the second token.
    static func activations(columns: Int) -> [Float] {
        var x = values(tokens * columns, seed: 7)
        for t in 0..<tokens {
            for k in 0..<columns { x[t * columns + k] *= Float(1 + (k / 32 + t) % 5) * 0.7 }
        }
        for k in 0..<256 { x[columns + k] = 0 }
        return x
    }

    struct Case {
        let type: GGMLType
        let columns: Int
        let weights: [UInt8]
        let rowBytes: Int
        let x: [Float]

        init(_ type: GGMLType, columns: Int) throws {
            self.type = type
            self.columns = columns
            // Per-row and per-column magnitudes, so scales and mins vary.
            var w = IntegerMatMulTests.values(IntegerMatMulTests.rows * columns, seed: 3)
            for r in 0..<IntegerMatMulTests.rows {
                for k in 0..<columns { w[r * columns + k] = w[r * columns + k] * Float(1 + r % 3) + Float(k % 64) / 100 }
            }
            rowBytes = try Quantizer.byteCount(type, rows: 1, rowLength: columns)
            var bytes = [UInt8](repeating: 0, count: rowBytes * IntegerMatMulTests.rows)
            try w.withUnsafeBufferPointer { wb in
                try bytes.withUnsafeMutableBytes {
                    try Quantizer.quantize(type, rows: wb, rowLength: columns, importance: nil, into: $0)
                }
            }
            weights = bytes
            x = IntegerMatMulTests.activations(columns: columns)
        }

        var layout: IntegerWeightLayout { IntegerWeightLayout(type: type)! }

        /// The integer matmul over rows `rows` and tokens `tokens` (row-major tokens × rows).
        func integer(rows: Range<Int> = 0..<IntegerMatMulTests.rows, tokens: Range<Int> = 0..<IntegerMatMulTests.tokens,
                     threads: Int = 2) -> [Float] {
            var y = [Float](repeating: .nan, count: tokens.count * rows.count)
            weights.withUnsafeBytes { wb in
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        IntegerMatMul.multiply(
                            xb.baseAddress! + tokens.lowerBound * columns, tokens: tokens.count,
                            weights: wb.baseAddress! + rows.lowerBound * rowBytes, rowBytes: rowBytes,
                            rows: rows.count, columns: columns, layout: layout, into: yb.baseAddress!, threads: threads)
                    }
                }
            }
            return y
        }

        /// (Σ w·x, Σ |w·x|) in Double over ggml's dequantized weights and rounded activations.
        func reference() throws -> [(Double, Double)] {
            let n = IntegerMatMulTests.rows * columns
            var w = [Float](repeating: 0, count: n)
            try weights.withUnsafeBytes { b in
                try w.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, b, count: n, into: $0) }
            }
            var xr = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xb in
                xr.withUnsafeMutableBufferPointer {
                    layout.rounding.apply(xb.baseAddress!, count: x.count, rowLength: columns, into: $0.baseAddress!)
                }
            }
            var out: [(Double, Double)] = []
            for t in 0..<IntegerMatMulTests.tokens {
                for r in 0..<IntegerMatMulTests.rows {
                    var sum = 0.0, magnitude = 0.0
                    for k in 0..<columns {
                        let p = Double(w[r * columns + k]) * Double(xr[t * columns + k])
                        sum += p
                        magnitude += abs(p)
                    }
                    out.append((sum, magnitude))
                }
            }
            return out
        }
    }

    static let cases: [(GGMLType, Int)] = [(.q8_0, 544), (.q4_0, 544), (.q5_0, 96), (.q4_1, 64), (.q5_1, 544), (.q4_K, 512), (.q5_K, 512), (.q6_K, 768)]

    @Test(arguments: cases)
    func matchesDoublePrecisionReference(type: GGMLType, columns: Int) throws {
        let c = try Case(type, columns: columns)
        let ours = c.integer()
        let reference = try c.reference()
        var worst = 0.0
        for (o, (sum, magnitude)) in zip(ours, reference) {
            worst = max(worst, abs(Double(o) - sum) / magnitude)
        }
        // Observed: a few 1e-8. A misplaced code, scale or min moves a sum by ~1e-3 of Σ|w·x| or more.
        #expect(worst < 1e-6, "\(type.name): worst |Δ| / Σ|w·x| \(worst)")
    }

    /// An output does not depend on the thread count, nor on which other rows and tokens are
    /// computed (a panel starting elsewhere, a tile made of other tokens).
    @Test(arguments: cases)
    func outputsDoNotDependOnWhatElseIsComputed(type: GGMLType, columns: Int) throws {
        let c = try Case(type, columns: columns)
        let full = c.integer(threads: 1)
        #expect(c.integer(threads: 3) == full)
        let rows = 7..<40, tokens = 3..<10
        let part = c.integer(rows: rows, tokens: tokens)
        let expected = tokens.flatMap { t in rows.map { r in full[t * Self.rows + r] } }
        #expect(part == expected)
    }
}
