import GGUF
import Testing
import Tokenizer

/// Every case compares ids exactly with what llama.cpp produced for the same vocabulary and text.
@Suite struct OracleTests {
    @Test func fixturesArePresent() {
        #expect(OracleFixtures.cases.count >= 2000)
        #expect(OracleFixtures.texts.count >= 9)
        #expect(Set(OracleFixtures.variants).isSuperset(of: [
            "smollm", "llama-bpe", "qwen2", "gpt-2", "default", "missing-pre", "spm-vocab.gguf", "wpm-vocab.gguf",
            "qwen35", "glm4", "chatglm-bpe", "laguna", "bloom", "viking", "tekken", "deepseek-v3",
            "wpm-vocab.gguf tokenizer.ggml.normalizer.lowercase=false",
            "wpm-vocab.gguf tokenizer.ggml.normalizer.strip_accents=false",
        ]))
    }

    @Test(arguments: OracleFixtures.variants)
    func matchesLlamaCpp(variant: String) throws {
        let cases = OracleFixtures.cases.filter { $0.variant == variant }
        let first = try #require(cases.first)
        let tokenizer = try Tokenizer(metadata: OracleFixtures.metadata(for: first))
        for testCase in cases {
            let text = try #require(OracleFixtures.texts[testCase.text])
            let ids = tokenizer.encode(text, addSpecial: testCase.addSpecial, parseSpecial: testCase.parseSpecial)
            let label = "\(variant) '\(testCase.text)' addSpecial \(testCase.addSpecial) parseSpecial \(testCase.parseSpecial)"
            let same = ids == testCase.ids
            #expect(same, "\(label): first difference at \(Self.firstDifference(ids, testCase.ids))")
        }
    }

    /// Decoding llama.cpp's ids gives llama_detokenize's bytes.
    @Test(arguments: OracleFixtures.variants)
    func decodesLikeLlamaCpp(variant: String) throws {
        let cases = OracleFixtures.cases.filter { $0.variant == variant }
        let first = try #require(cases.first)
        let tokenizer = try Tokenizer(metadata: OracleFixtures.metadata(for: first))
        for testCase in cases {
            guard let decoded = testCase.decoded else { continue }
            let plain = tokenizer.decodeBytes(testCase.ids, renderSpecial: false)
            let special = tokenizer.decodeBytes(testCase.ids, renderSpecial: true)
            #expect(plain == decoded.fixtureBytes, "\(variant) '\(testCase.text)' \(testCase.addSpecial)")
            #expect(special == (testCase.decodedSpecial ?? decoded).fixtureBytes, "\(variant) '\(testCase.text)' \(testCase.addSpecial) special")
        }
    }

    static func firstDifference(_ a: [Int32], _ b: [Int32]) -> String {
        let index = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
        let mine = a[index..<min(a.count, index + 8)], theirs = b[index..<min(b.count, index + 8)]
        return "\(index): got \(Array(mine)), llama.cpp \(Array(theirs)) (lengths \(a.count) vs \(b.count))"
    }
}
