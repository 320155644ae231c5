import Testing
import GGUF
@testable import Quantization

/// Byte-for-byte agreement with llama.cpp's ggml_quantize_chunk and dequantize_row_* on every
/// fixture case (see Fixtures/README.md for how they were made).
@Suite struct GoldenTests {
    static let quantizeTypes: [String] = [
        "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
        "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0", "Q2_0",
    ]
    static let dequantizeOnlyTypes: [String] = ["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "Q8_K"]

    @Test func fixturesLoaded() {
        let g = Golden.shared
        #expect(g.inputs.count >= 8)
        #expect(g.quantCases.count >= 200)
        #expect(g.dequantCases.count == GoldenTests.dequantizeOnlyTypes.count)
    }

    @Test(arguments: quantizeTypes)
    func quantizeMatchesGGML(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        let g = Golden.shared
        let cases = g.quantCases.filter { $0.type == type }
        #expect(!cases.isEmpty)
        try expectQuantizeCasesMatchGGML(cases, of: g, type: type)
    }

    @Test(arguments: dequantizeOnlyTypes)
    func dequantizeMatchesGGML(_ typeName: String) throws {
        let type = try #require(GGMLType(name: typeName))
        for c in Golden.shared.dequantCases where c.type == type {
            var deq = [Float](repeating: .nan, count: c.count)
            try c.bytes.withUnsafeBytes { y in
                try deq.withUnsafeMutableBufferPointer { x in
                    try Quantizer.dequantize(type, y, count: c.count, into: x)
                }
            }
            let dm = bitsEqual(deq, c.expected)
            #expect(dm == nil, "\(typeName): first differing value \(dm ?? -1)")
        }
    }
}
