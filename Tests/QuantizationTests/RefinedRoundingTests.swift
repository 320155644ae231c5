import GGUF
import Testing
@testable import Quantization

/// `"rounding": "refined"`: every block is standard (dequantizes to finite values), and never has a
/// larger importance-weighted squared error than ggml's block for the same values — the property
/// the option promises — while the total error goes down.
struct RefinedRoundingTests {
    /// Rows of Gaussian-like values with a few outliers, and positive importance weights that vary
    /// by column (as an imatrix does).
    static func rows(count: Int, length: Int, seed: UInt64) -> (x: [Float], w: [Float]) {
        var s = seed
        func next() -> Float {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(s % 1_000_000) / 1_000_000
        }
        var x = [Float](repeating: 0, count: count * length)
        for i in x.indices {
            let g = (next() + next() + next() + next() - 2) * 0.05
            x[i] = next() < 0.01 ? g * 8 : g
        }
        let w = (0..<length).map { _ in 0.05 + next() * next() * 10 }
        return (x, w)
    }

    static func blockErrors(_ type: GGMLType, _ bytes: [UInt8], _ x: [Float], _ w: [Float]?, length: Int) throws -> [Double] {
        var y = [Float](repeating: 0, count: x.count)
        try bytes.withUnsafeBytes { b in try y.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, b, count: x.count, into: $0) } }
        #expect(y.allSatisfy { $0.isFinite })
        return stride(from: 0, to: x.count, by: 256).map { start in
            var e = 0.0
            for i in start..<(start + 256) {
                let d = Double(x[i] - y[i])
                e += Double(w?[i % length] ?? 1) * d * d
            }
            return e
        }
    }

    @Test(arguments: [GGMLType.q4_K, .q5_K], [true, false])
    func neverWorseThanGGMLAndBetterOverall(type: GGMLType, withImportance: Bool) throws {
        let length = 512, count = 48
        let (x, w) = Self.rows(count: count, length: length, seed: withImportance ? 7 : 11)
        let importance: [Float]? = withImportance ? w : nil
        let bytes = try Quantizer.byteCount(type, rows: count, rowLength: length)
        var ggml = [UInt8](repeating: 0, count: bytes)
        try x.withUnsafeBufferPointer { xb in
            try ggml.withUnsafeMutableBytes { out in
                try RefinedRoundingTests.withOptional(importance) { iw in
                    try Quantizer.quantize(type, rows: xb, rowLength: length, importance: iw, into: out)
                }
            }
        }
        var refined = ggml
        try x.withUnsafeBufferPointer { xb in
            try refined.withUnsafeMutableBytes { out in
                try RefinedRoundingTests.withOptional(importance) { iw in
                    try RefinedRounding.refine(type, rows: xb, rowLength: length, importance: iw, blocks: out, threads: 2)
                }
            }
        }
        let before = try Self.blockErrors(type, ggml, x, importance, length: length)
        let after = try Self.blockErrors(type, refined, x, importance, length: length)
        for (b, a) in zip(before, after) { #expect(a <= b, "a block got worse: \(a) > \(b)") }
        let total = (before.reduce(0, +), after.reduce(0, +))
        #expect(total.1 < total.0 * 0.99, "\(type): refined \(total.1), ggml \(total.0)")
        // Unchanged blocks keep ggml's bytes exactly.
        for (k, (b, a)) in zip(before, after).enumerated() where a == b {
            let range = (k * type.bytesPerBlock)..<((k + 1) * type.bytesPerBlock)
            #expect(Array(refined[range]) == Array(ggml[range]))
        }
    }

    /// The result does not depend on the thread count.
    @Test func threadCountDoesNotChangeTheBytes() throws {
        let length = 256, count = 24
        let (x, w) = Self.rows(count: count, length: length, seed: 3)
        var outputs: [[UInt8]] = []
        for threads in [1, 3] {
            var out = [UInt8](repeating: 0, count: try Quantizer.byteCount(.q4_K, rows: count, rowLength: length))
            try x.withUnsafeBufferPointer { xb in
                try out.withUnsafeMutableBytes { o in
                    try w.withUnsafeBufferPointer { wb in
                        try Quantizer.quantize(.q4_K, rows: xb, rowLength: length, importance: wb, into: o)
                        try RefinedRounding.refine(.q4_K, rows: xb, rowLength: length, importance: wb, blocks: o, threads: threads)
                    }
                }
            }
            outputs.append(out)
        }
        #expect(outputs[0] == outputs[1])
    }

    static func withOptional<R>(_ values: [Float]?, _ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        guard let values else { return try body(nil) }
        return try values.withUnsafeBufferPointer { try body($0) }
    }
}
