import Foundation
import ModelConversion
import QuantdTestSupport
import Testing

/// config.json's head and expert counts checked against each other and against the weights, with
/// the rules the reference applies: transformers sizes the projections (`q_proj` has `heads ×
/// head_dim` rows, `head_dim` defaulting to `hidden_size / heads`; `k_proj`/`v_proj` `kv_heads ×
/// head_dim`), and llama.cpp's loader refuses what it cannot run (`n_expert_used <= n_expert`, at
/// least one expert used, tensors of any other shape). Each damaged copy of a fixture is refused
/// naming config.json and the key; the fixtures themselves, which the reference converted, pass.
@Suite struct ConfigCrossCheckTests {
    /// The `.config` error for `fixture` with `key` set to `value` (nil removes it), or a recorded issue.
    static func configError(_ fixture: String, _ changes: [(key: String, value: String?)],
                            sourceLocation: SourceLocation = #_sourceLocation) throws
        -> (key: String, description: String)? {
        let temp = TemporaryFolder("convert-test")
        let folder = try temp.copy(fixture: fixture)
        for change in changes { try ExpertStackTests.setting(change.key, to: change.value, in: folder) }
        guard let error = ExpertStackTests.error(folder) else {
            Issue.record("\(fixture) with \(changes) was accepted", sourceLocation: sourceLocation)
            return nil
        }
        guard case let .config(_, key, _) = error else {
            Issue.record("expected a config.json error, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
        #expect(error.description.contains("config.json"), sourceLocation: sourceLocation)
        return (key, error.description)
    }

    // A head_dim that makes heads × head_dim differ from hidden_size is valid: tiny-llama3 has 4 heads
    // of 64 with hidden_size 64, tiny-gemma3 4 of 32, tiny-gptoss 4 of 16 (as the reference converted them).
    @Test(arguments: ["tiny-bert", "tiny-deepseekv3", "tiny-exaone4", "tiny-gemma2", "tiny-gemma3", "tiny-glm4",
                      "tiny-glm4moe", "tiny-gptoss", "tiny-gptoss-mxfp4", "tiny-granite", "tiny-llama-fp8",
                      "tiny-llama2-spm", "tiny-llama3", "tiny-mixtral", "tiny-olmo2", "tiny-olmoe", "tiny-phi3",
                      "tiny-qwen2", "tiny-qwen2moe", "tiny-qwen3", "tiny-qwen3moe", "tiny-smollm3"])
    func everyFixturePasses(fixture: String) throws {
        _ = try ConversionPlan(input: try Fixtures.path("models/\(fixture)"), outputType: .fixed(.f16))
    }

    @Test func keyValueHeadsMustDivideHeads() throws {
        // 4 query heads cannot share 3 key/value heads evenly.
        let found = try #require(try Self.configError("tiny-llama3", [("num_key_value_heads", "3")]))
        #expect(found.key == "num_key_value_heads")
        #expect(found.description.contains("does not divide"))
    }

    @Test func zeroKeyValueHeads() throws {
        let found = try #require(try Self.configError("tiny-llama3", [("num_key_value_heads", "0")]))
        #expect(found.key == "num_key_value_heads")
    }

    @Test func zeroHeadsWithAttentionWeights() throws {
        // Without head_dim the width would be hidden_size / 0: refused, not a division trap.
        let found = try #require(try Self.configError("tiny-mixtral", [("num_attention_heads", "0")]))
        #expect(found.key == "num_attention_heads")
        #expect(found.description.contains("is 0"))
    }

    @Test func explicitHeadDimAgainstTheQueryProjection() throws {
        // q_proj has 4 × 64 = 256 rows; head_dim 32 says 128.
        let found = try #require(try Self.configError("tiny-llama3", [("head_dim", "32")]))
        #expect(found.key == "num_attention_heads")
        #expect(found.description.contains("head_dim 32"))
        #expect(found.description.contains("128 rows"))
        #expect(found.description.contains("has 256"))
    }

    @Test func derivedHeadDimAgainstTheKeyProjection() throws {
        // tiny-mixtral has head_dim null: 8 heads make it 64 / 8 = 8, so k_proj would have 2 × 8 = 16
        // rows, but it has 2 × 16 = 32 (q_proj's 64 rows happen to fit 8 × 8).
        let found = try #require(try Self.configError("tiny-mixtral", [("num_attention_heads", "8")]))
        #expect(found.key == "num_key_value_heads")
        #expect(found.description.contains("hidden_size 64 / 8 heads"))
        #expect(found.description.contains("has 32"))
    }

    @Test func moreKeyValueHeadsThanTheKeyProjectionHolds() throws {
        // 4 key/value heads of 16 divide the 4 query heads, but k_proj has 2 × 16 rows.
        let found = try #require(try Self.configError("tiny-qwen3moe", [("num_key_value_heads", "4")]))
        #expect(found.key == "num_key_value_heads")
        #expect(found.description.contains("64 rows"))
    }

    @Test(arguments: [("tiny-qwen3moe", "9"), ("tiny-mixtral", "0"), ("tiny-gptoss", "12")])
    func expertsPerTokenWithinTheExperts(fixture: String, used: String) throws {
        let found = try #require(try Self.configError(fixture, [("num_experts_per_tok", used)]))
        #expect(found.key == "num_experts_per_tok")
        #expect(found.description.contains("is \(used)"))
    }

    @Test(arguments: ["tiny-gptoss", "tiny-gptoss-mxfp4"])
    func expertCountAgainstStackedExperts(fixture: String) throws {
        // gpt-oss stores its 8 experts stacked and an 8-row router; config.json says 4.
        let found = try #require(try Self.configError(fixture, [("num_local_experts", "4")]))
        #expect(found.key == "num_local_experts")
        #expect(found.description.contains("has 8"))
    }
}
