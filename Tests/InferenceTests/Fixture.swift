import Foundation
import Testing

@testable import Inference

/// The files of `Fixtures/` (made by scripts/inference/make_fixture.py with llama.cpp).
enum Fixture {
    static let ctx = 64
    static let vocabulary = 256

    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "fixture '\(name)' is missing; run scripts/inference/make_fixture.py" }
    }

    static func path(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw Missing(name: name)
        }
        return url.path
    }

    static func model(_ type: String) throws -> LlamaModel {
        try LlamaModel(path: path("tiny-llama-\(type).gguf"))
    }

    static func tokens() throws -> [Int32] {
        let text = try String(contentsOfFile: path("tokens.txt"), encoding: .utf8)
        return text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
    }

    /// Little-endian float32 values, as the fixture scripts write logits and imatrix data.
    static func floats(_ raw: UnsafeRawBufferPointer) -> [Float] {
        (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }

    /// A fixture file of float32 values.
    static func floats(file name: String) throws -> [Float] {
        try Data(contentsOf: URL(fileURLWithPath: path(name))).withUnsafeBytes { floats($0) }
    }

    /// llama.cpp's logits for the perplexity chunks: `[chunk][position * vocabulary + token]`.
    static func referenceLogits(_ type: String) throws -> [[Float]] {
        let floats = try floats(file: "logits-\(type).bin")
        let per = ctx * vocabulary
        return stride(from: 0, to: floats.count, by: per).map { Array(floats[$0..<($0 + per)]) }
    }

    /// Our logits for `chunks` against llama.cpp's (`reference`, the chunks' logits one after the
    /// other): the mean KLD over every position but the last of each chunk, top-1 agreement, the
    /// largest logit difference, and each position's KLD.
    static func compareLogits(_ model: LlamaModel, chunks: [[Int32]], reference: [Float], vocabulary v: Int,
                              sourceLocation: SourceLocation = #_sourceLocation)
        throws -> (kld: Double, top1: Double, maxDiff: Float, positions: [Double])
    {
        let per = ctx * v
        #expect(reference.count == chunks.count * per, sourceLocation: sourceLocation)
        var acc = DivergenceAccumulator()
        var maxDiff: Float = 0
        for (c, chunk) in chunks.enumerated() {
            let ours = try model.logits(tokens: chunk, threads: 2)
            let ref = Array(reference[(c * per)..<((c + 1) * per)])
            maxDiff = max(maxDiff, zip(ours, ref).map { abs($0 - $1) }.max() ?? .infinity)
            ref.withUnsafeBufferPointer { r in
                ours.withUnsafeBufferPointer { o in
                    for i in 0..<(ctx - 1) {
                        acc.add(reference: r.baseAddress! + i * v, candidate: o.baseAddress! + i * v, count: v,
                                next: Int(chunk[i + 1]))
                    }
                }
            }
        }
        let mean = acc.kld.reduce(0, +) / Double(acc.kld.count)
        return (mean, Double(acc.sameTop) / Double(acc.kld.count), maxDiff, acc.kld)
    }

    /// `expected.json`: llama.cpp's perplexity and Q8_0-vs-F32 statistics.
    static func expected() throws -> [String: Double] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}
