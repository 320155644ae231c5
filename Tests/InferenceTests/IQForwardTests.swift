import Foundation
import Testing
import GGUF
import Quantization

@testable import Inference

/// The forward pass on IQ weights: llama-quantize's IQ artifacts of a tiny model whose rows are
/// 256 wide (Fixtures/tiny-iq-*, made by scripts/inference/make_iq_fixture.py) evaluate, and their KL
/// divergence against the F16 model agrees with the one llama.cpp's logits give on the same tokens.
@Suite struct IQForwardTests {
    static func expected(_ artifact: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("iq-expected.json")))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (object?["artifacts"] as? [String: Any])?[artifact] as? [String: Any] ?? [:]
    }

    /// IQ3_XXS (every matrix, with an importance matrix), IQ3_S (every matrix), and an IQ3_XXS
    /// mix whose overrides give the other five IQ types and IQ4_NL (see the script for which tensor
    /// has which). llama.cpp: mean KLD 0.2507, 0.1801 and 0.4130.
    @Test(arguments: ["IQ3_XXS", "IQ3_S", "mixed"])
    func klDivergenceAgreesWithLlamaCpp(_ artifact: String) throws {
        let kld = try #require(try Self.expected(artifact)["kld_mean"] as? Double)
        let r = try PerplexityEvaluator.compare(
            reference: LlamaModel(path: Fixture.path("tiny-iq-f16.gguf")),
            candidate: LlamaModel(path: Fixture.path("tiny-iq-\(artifact).gguf")),
            tokens: Fixture.tokens(), ctx: Fixture.ctx, threads: 2)
        #expect(r.scoredTokens == 124)
        #expect(abs(r.kldMean / kld - 1) < 0.02, "\(artifact): ours \(r.kldMean), llama.cpp \(kld)")
    }

    /// The IQ3 artifacts' tensors are what quantd's quantizer makes of the F16 fixture with the same
    /// importance matrix (llama-quantize divides the matrix's sums by its counts, all 1 here, and
    /// gives token_embd none).
    @Test(arguments: [("IQ3_XXS", true), ("IQ3_S", false)])
    func quantdWritesTheSameTensors(_ artifact: String, _ withImportance: Bool) throws {
        let source = try GGUFFile(path: Fixture.path("tiny-iq-f16.gguf"))
        let target = try GGUFFile(path: Fixture.path("tiny-iq-\(artifact).gguf"))
        let matrix = try GGUFFile(path: Fixture.path("tiny-iq.imatrix.gguf"))
        var compared = 0
        for t in target.tensors where t.type != .f32 {
            let s = try #require(source.tensors.first { $0.name == t.name })
            let sums = matrix.tensors.first { $0.name == t.name + ".in_sum2" }
            let importance: [Float]? = withImportance ? sums.map { info in
                let raw = matrix.data(for: info)
                return (0..<info.elementCount).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            } : nil
            var out = [UInt8](repeating: 0, count: t.byteCount)
            try out.withUnsafeMutableBytes { y in
                if let importance {
                    try importance.withUnsafeBufferPointer { qw in
                        _ = try Quantizer.quantize(t.type, rawRows: source.data(for: s), of: s.type, rowLength: s.rowLength,
                                                   importance: qw, into: y, threads: 2)
                    }
                } else {
                    _ = try Quantizer.quantize(t.type, rawRows: source.data(for: s), of: s.type, rowLength: s.rowLength,
                                               importance: nil, into: y, threads: 2)
                }
            }
            #expect(out == [UInt8](target.data(for: t)), "\(artifact) \(t.name)")
            compared += 1
        }
        #expect(compared == 9)
    }
}
