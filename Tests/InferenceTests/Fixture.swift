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

    /// llama.cpp's logits for the perplexity chunks: `[chunk][position * vocabulary + token]`.
    static func referenceLogits(_ type: String) throws -> [[Float]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("logits-\(type).bin")))
        let floats = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
        let per = ctx * vocabulary
        return stride(from: 0, to: floats.count, by: per).map { Array(floats[$0..<($0 + per)]) }
    }

    /// `expected.json`: llama.cpp's perplexity and Q8_0-vs-F32 statistics.
    static func expected() throws -> [String: Double] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}
