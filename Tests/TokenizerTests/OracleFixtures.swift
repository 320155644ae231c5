import Foundation
import GGUF
import Tokenizer

/// Fixtures/expected.json and texts.json, written by scripts/tokenizer/make_fixtures.py from
/// llama.cpp (llama-cpp-python's `Llama.tokenize`); see Fixtures/README.md.
struct OracleCase: Decodable, Sendable {
    /// The fixture GGUF the vocabulary comes from.
    let vocab: String
    /// The `tokenizer.ggml.pre` the case was run with; nil means the file's own.
    let pre: String?
    /// Keys removed from the metadata before tokenizing (to exercise llama.cpp's defaults).
    let remove: [String]
    /// Boolean keys set before tokenizing (WordPiece normalizer options).
    let set: [String: Bool]
    /// A key of texts.json.
    let text: String
    let addSpecial: Bool
    let parseSpecial: Bool
    let ids: [Int32]
    /// llama_detokenize of `ids` (specials not rendered / rendered): UTF-8 text, or "hex:" and
    /// the bytes in hex when they are not UTF-8. Absent for the variants that only check ids.
    let decoded: String?
    /// Absent when equal to `decoded`.
    let decodedSpecial: String?

    /// The variant's label: the pre-tokenizer name, "missing-pre" or the vocabulary file.
    var variant: String {
        if let pre { return pre }
        if let key = set.keys.sorted().first { return "\(vocab) \(key)=\(set[key] ?? false)" }
        return remove.contains("tokenizer.ggml.pre") ? "missing-pre" : vocab
    }
}

enum OracleFixtures {
    struct Expected: Decodable {
        let cases: [OracleCase]
    }

    static func url(_ name: String) throws -> URL {
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2,
              let url = Bundle.module.url(forResource: parts[0], withExtension: parts[1], subdirectory: "Fixtures") else {
            throw FixtureError(message: "Fixtures/\(name) is missing from the test bundle")
        }
        return url
    }

    static let cases: [OracleCase] = {
        guard let url = try? url("expected.json"), let data = try? Data(contentsOf: url),
              let expected = try? JSONDecoder().decode(Expected.self, from: data) else { return [] }
        return expected.cases
    }()

    static let texts: [String: String] = {
        guard let url = try? url("texts.json"), let data = try? Data(contentsOf: url),
              let texts = try? JSONDecoder().decode([String: String].self, from: data) else { return [:] }
        return texts
    }()

    /// The fixture's metadata with the case's changes applied, the same changes the generator
    /// made to the GGUF it gave llama.cpp.
    static func metadata(for testCase: OracleCase) throws -> GGUFMetadata {
        var metadata = try GGUFFile(path: url(testCase.vocab).path).metadata
        if let pre = testCase.pre { metadata["tokenizer.ggml.pre"] = .string(pre) }
        for key in testCase.remove { metadata[key] = nil }
        for (key, value) in testCase.set { metadata[key] = .bool(value) }
        return metadata
    }

    static var variants: [String] {
        var seen: [String] = []
        for testCase in cases where !seen.contains(testCase.variant) { seen.append(testCase.variant) }
        return seen
    }
}

extension String {
    /// The bytes an expected `decoded` field stands for.
    var fixtureBytes: [UInt8] {
        guard hasPrefix("hex:") else { return Array(utf8) }
        let digits = Array(dropFirst(4).utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).compactMap {
            UInt8(String(decoding: digits[$0...($0 + 1)], as: UTF8.self), radix: 16)
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
