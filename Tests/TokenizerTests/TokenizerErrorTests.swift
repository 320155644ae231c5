import GGUF
import Testing
import Tokenizer

/// Vocabularies the tokenizer cannot handle are refused at init with a message naming the
/// tokenizer model and pre-tokenizer, never tokenized approximately.
@Suite struct TokenizerErrorTests {
    private static func smolLM2() throws -> GGUFMetadata {
        try GGUFFile(path: OracleFixtures.url("smollm2-digits-vocab.gguf").path).metadata
    }

    @Test(arguments: ["deepseek-llm", "deepseek-coder", "kimi-k2", "no-such-pre"])
    func unsupportedPreTokenizer(pre: String) throws {
        var metadata = try Self.smolLM2()
        metadata["tokenizer.ggml.pre"] = .string(pre)
        let error = try #require(throws: TokenizerError.self) { try Tokenizer(metadata: metadata) }
        #expect(error.code == .unsupportedPreTokenizer)
        #expect(error.message.contains("'gpt2'") && error.message.contains("'\(pre)'"))
    }

    @Test(arguments: ["t5", "rwkv", "plamo2", "no-such-model"])
    func unsupportedModel(model: String) throws {
        var metadata = try Self.smolLM2()
        metadata["tokenizer.ggml.model"] = .string(model)
        let error = try #require(throws: TokenizerError.self) { try Tokenizer(metadata: metadata) }
        #expect(error.code == .unsupportedModel)
        #expect(error.message.contains("'\(model)'") && error.message.contains("'smollm'"))
    }

    @Test func missingModel() throws {
        var metadata = try Self.smolLM2()
        metadata["tokenizer.ggml.model"] = nil
        let error = try #require(throws: TokenizerError.self) { try Tokenizer(metadata: metadata) }
        #expect(error.code == .unsupportedModel)
        #expect(error.message.contains("(missing)"))
    }

    @Test func missingMerges() throws {
        var metadata = try Self.smolLM2()
        metadata["tokenizer.ggml.merges"] = nil
        let error = try #require(throws: TokenizerError.self) { try Tokenizer(metadata: metadata) }
        #expect(error.code == .missingMetadata)
    }

    @Test func malformedTokenTypes() throws {
        var metadata = try Self.smolLM2()
        metadata["tokenizer.ggml.token_type"] = .array(.int32, [.int32(1)])
        let error = try #require(throws: TokenizerError.self) { try Tokenizer(metadata: metadata) }
        #expect(error.code == .malformedMetadata)
        #expect(error.message.contains("tokenizer.ggml.token_type"))
    }

    @Test func vocabularyFacts() throws {
        let tokenizer = try Tokenizer(metadata: Self.smolLM2())
        #expect(tokenizer.kind == .bytePairEncoding)
        #expect(tokenizer.vocabularySize == 49152 + 1210)
        #expect(tokenizer.bosTokenID == 1 && tokenizer.eosTokenID == 2)
        #expect(!tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.encode("") == [])
        #expect(tokenizer.tokenText(1) == "<|im_start|>")
        #expect(tokenizer.tokenAttributes(1).contains(.control))
    }
}
