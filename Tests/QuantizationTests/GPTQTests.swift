#if canImport(Glibc)
import Glibc
#endif
import GGUF
import Testing

@testable import Quantization

/// GPTQ's update rule against numpy (scripts/gptq/gptq_reference.py), and GPTQ into ggml blocks
/// against plain rounding on synthetic correlated activations.
@Suite struct GPTQTests {
    // scripts/gptq/gptq_reference.py's example: W (2 × 4), X (5 × 4), H = XᵀX, damp 0.01.
    static let w: [Float] = [0.31, -0.22, 0.87, 0.78, -0.22, 0.47, -0.12, 0.68]
    static let x: [[Double]] = [[1.0, 0.8, 0.1, -0.3], [0.2, 1.1, 0.9, 0.4], [-0.5, 0.3, 1.2, 0.7],
                                [0.9, -0.2, 0.4, 1.3], [0.3, 0.6, -0.8, 0.5]]
    // What the script prints (numpy: inv, cholesky; the paper's loop).
    static let u: [Double] = [0.8151159415094289, -0.3439160203375311, 0.2751980857830467, -0.29995482740547663,
                              0, 0.6872984713967365, -0.18233796060079124, -0.02737518103745301,
                              0, 0, 0.6362030675241398, -0.30332614120548124,
                              0, 0, 0, 0.6079420527525048]
    static let rtn: [Float] = [0.5, 0, 1, 1, 0, 0.5, 0, 0.5]
    static let block1: [Float] = [0.5, -0.5, 1, 0.5, 0, 0.5, 0, 0.5]
    static let block2: [Float] = [0.5, 0, 1, 0.5, 0, 0.5, 0, 0.5]
    static let errors = (rtn: 0.792603, block1: 0.3816030000000001, block2: 0.4638030000000001)

    static var hessian: [Float] {
        var h = [Float](repeating: 0, count: 16)
        for row in x { for i in 0..<4 { for j in 0..<4 { h[i * 4 + j] += Float(row[i] * row[j]) } } }
        return h
    }

    static func sweep(blockWidth: Int) throws -> [Float] {
        let u = try hessian.withUnsafeBufferPointer { try GPTQ.inverseFactor(hessian: $0.baseAddress!, columns: 4, damp: 0.01) }
        var weights = w
        weights.withUnsafeMutableBufferPointer { wb in
            u.withUnsafeBufferPointer { ub in
                GPTQ.sweep(weights: wb.baseAddress!, rows: 2, columns: 4, factor: ub.baseAddress!, blockWidth: blockWidth,
                           threads: 1) { _, _, values, rounded in
                    for k in 0..<blockWidth { rounded[k] = (values[k] * 2).rounded(.toNearestOrEven) / 2 }
                }
            }
        }
        return weights
    }

    @Test func factorMatchesNumpy() throws {
        let u = try Self.hessian.withUnsafeBufferPointer { try GPTQ.inverseFactor(hessian: $0.baseAddress!, columns: 4, damp: 0.01) }
        for k in 0..<16 { #expect(abs(Double(u[k]) - Self.u[k]) < 1e-6, "U[\(k / 4)][\(k % 4)]") }
    }

    @Test func updateRuleMatchesNumpy() throws {
        #expect(try Self.sweep(blockWidth: 1) == Self.block1)
        #expect(try Self.sweep(blockWidth: 2) == Self.block2)
        let h = Self.hessian
        func error(_ q: [Float]) -> Double {
            GPTQ.outputError(Self.w, q, rows: 2, columns: 4, hessian: h, threads: 1)
        }
        #expect(abs(error(Self.rtn) - Self.errors.rtn) < 1e-5)
        #expect(abs(error(try Self.sweep(blockWidth: 1)) - Self.errors.block1) < 1e-5)
        #expect(abs(error(try Self.sweep(blockWidth: 2)) - Self.errors.block2) < 1e-5)
    }

    /// Activations with correlated channels and a few loud ones, as in a transformer: GPTQ's output
    /// error must be below half of plain (importance-weighted) rounding's, for k-quant, legacy and
    /// IQ4 blocks; and its bytes must decode to the values it reports.
    struct Synthetic {
        let n = 512, rows = 32, tokens = 1024
        var h: [Float] = [], importance: [Float] = [], w: [Float] = []
    }

    /// Activations x = z · M + noise with 32 latent factors (z, noise ~ N(0, 1), noise scaled by 0.1),
    /// channels 0..<8 ten times louder: over `tokens` tokens, H = tokens · D (MᵀM + 0.01 I) D.
    static let synthetic: Synthetic = {
        var c = Synthetic()
        let (n, latent) = (c.n, 32)
        var rng = SplitMix(seed: 7)
        let m = (0..<(latent * n)).map { _ in rng.normal() }
        let loud = (0..<n).map { $0 < 8 ? Float(10) : 1 }
        c.h = [Float](repeating: 0, count: n * n)
        m.withUnsafeBufferPointer { m in
            c.h.withUnsafeMutableBufferPointer { h in
                for k in 0..<latent {
                    for i in 0..<n {
                        let a = m[k * n + i]
                        for j in 0..<n { h[i * n + j] += a * m[k * n + j] }
                    }
                }
                for i in 0..<n {
                    h[i * n + i] += 0.01
                    for j in 0..<n { h[i * n + j] *= Float(c.tokens) * loud[i] * loud[j] }
                }
            }
        }
        c.importance = (0..<n).map { c.h[$0 * n + $0] / Float(c.tokens) }
        c.w = (0..<(c.rows * n)).map { _ in 0.02 * rng.normal() }
        return c
    }()

    @Test(arguments: [GGMLType.q4_K, .q3_K, .q2_K, .q6_K, .q4_0, .q5_1, .iq4_XS, .q8_0])
    func beatsPlainRounding(type: GGMLType) throws {
        let c = Self.synthetic
        let (n, rows, h, importance, w) = (c.n, c.rows, c.h, c.importance, c.w)
        let bytes = try Quantizer.byteCount(type, rows: rows, rowLength: n)
        var plainBytes = [UInt8](repeating: 0, count: bytes)
        var plain = [Float](repeating: 0, count: rows * n)
        try plainBytes.withUnsafeMutableBytes { out in
            try w.withUnsafeBufferPointer { wb in
                try importance.withUnsafeBufferPointer { try Quantizer.quantize(type, rows: wb, rowLength: n, importance: $0, into: out) }
            }
            try plain.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, UnsafeRawBufferPointer(out), count: rows * n, into: $0) }
        }

        let u = try h.withUnsafeBufferPointer { try GPTQ.inverseFactor(hessian: $0.baseAddress!, columns: n, damp: 0.01) }
        var corrected = w
        var gptqBytes = [UInt8](repeating: 0, count: bytes)
        try gptqBytes.withUnsafeMutableBytes { out in
            try corrected.withUnsafeMutableBufferPointer { cb in
                try u.withUnsafeBufferPointer { ub in
                    try importance.withUnsafeBufferPointer { ib in
                        try GPTQ.quantize(type, weights: cb.baseAddress!, rows: rows, columns: n, factor: ub.baseAddress!,
                                          importance: ib.baseAddress, into: out, threads: 2)
                    }
                }
            }
        }
        var decoded = [Float](repeating: 0, count: rows * n)
        try gptqBytes.withUnsafeBytes { raw in
            try decoded.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, raw, count: rows * n, into: $0) }
        }
        #expect(decoded == corrected, "the bytes decode to the values GPTQ measured")

        let plainError = GPTQ.outputError(w, plain, rows: rows, columns: n, hessian: h, threads: 2)
        let gptqError = GPTQ.outputError(w, decoded, rows: rows, columns: n, hessian: h, threads: 2)
        #expect(gptqError < 0.5 * plainError, "\(type.name): GPTQ \(gptqError) against plain \(plainError)")
    }
}

/// A seeded generator, so the synthetic case is the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let a = max(uniform(), 1e-7), b = uniform()
        return (-2 * log(a)).squareRoot() * cos(2 * .pi * b)
    }
}

/// The code layout probed from each type's dequantizer: setting a code and decoding gives
/// a·code + b, as ggml's dequantize formulas say for each type.
@Suite struct BlockCodeLayoutTests {
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K, .q3_K, .q2_K, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func affineTypesHaveALayout(type: GGMLType) throws {
        let layout = try #require(BlockCodeLayout.of(type))
        // Code ranges from the formats: Q2_K 0…3, Q3_K −4…3 (stored 0…7), Q4_K/Q4_0/Q4_1 0…15,
        // Q5_K/Q5_0/Q5_1 0…31, Q6_K 0…63, Q8_0 −128…127.
        let range: ClosedRange<Int> = switch type {
        case .q2_K: 0...3
        case .q3_K: 0...7
        case .q4_K, .q4_0, .q4_1: 0...15
        case .q5_K, .q5_0, .q5_1: 0...31
        case .q6_K: 0...63
        default: -128...127
        }
        #expect(layout.lowest.allSatisfy { $0 == range.lowerBound } && layout.highest.allSatisfy { $0 == range.upperBound })
    }

    @Test(arguments: [GGMLType.iq4_NL, .iq4_XS])
    func lookupTableTypesHaveNone(type: GGMLType) {
        #expect(BlockCodeLayout.of(type) == nil)
    }

    /// Block width 2 with in-block re-rounding on the step-0.5 grid is the per-column rule of the
    /// numpy reference (the grid does not depend on the block's values).
    @Test func reroundingInsideABlockIsThePerColumnRule() throws {
        let u = try GPTQTests.hessian.withUnsafeBufferPointer { try GPTQ.inverseFactor(hessian: $0.baseAddress!, columns: 4, damp: 0.01) }
        var weights = GPTQTests.w
        weights.withUnsafeMutableBufferPointer { wb in
            u.withUnsafeBufferPointer { ub in
                GPTQ.sweep(weights: wb.baseAddress!, rows: 2, columns: 4, factor: ub.baseAddress!, blockWidth: 2, threads: 1,
                           round: { _, _, values, rounded in for k in 0..<2 { rounded[k] = (values[k] * 2).rounded(.toNearestOrEven) / 2 } },
                           reround: { _, _, value in (value * 2).rounded(.toNearestOrEven) / 2 })
            }
        }
        #expect(weights == GPTQTests.block1)
    }
}
