import GGUF
import ModelConversion
import Testing

@Suite struct TensorRulesTests {
    /// `LlamaModel.permute` written the numpy way: reshape (heads, 2, half, cols), swap axes 1 and 2.
    static func numpyPermute(_ rows: [Int], groups: Int) -> [Int] {
        let half = rows.count / groups / 2
        var out: [Int] = []
        for h in 0..<groups {
            for j in 0..<half {
                for i in 0..<2 { out.append(rows[h * 2 * half + i * half + j]) }
            }
        }
        return out
    }

    @Test(arguments: [(8, 1), (64, 4), (32, 2), (576, 9), (192, 3)])
    func permutationMatchesNumpyReshape(rows: Int, groups: Int) {
        let source = Array(0..<rows)
        let ours = (0..<rows).map { TensorRules.permutedSourceRow($0, rows: rows, groups: groups) }
        #expect(ours == Self.numpyPermute(source, groups: groups))
        #expect(Set(ours).count == rows)
    }

    @Test func permutationOfOneHead() {
        // One head of 8 rows: halves [0 1 2 3 | 4 5 6 7] become pairs 0 4 1 5 2 6 3 7.
        #expect((0..<8).map { TensorRules.permutedSourceRow($0, rows: 8, groups: 1) } == [0, 4, 1, 5, 2, 6, 3, 7])
    }

    @Test func llamaQuantizeOrder() {
        let names = ["blk.10.attn_q.weight", "blk.2.ffn_up.weight", "output_norm.weight", "blk.2.attn_k.weight",
                     "token_embd.weight", "output.weight", "rope_freqs.weight", "blk.0.attn_norm.weight"]
        #expect(names.sorted(by: TensorRules.precedes) == [
            "output.weight", "output_norm.weight", "rope_freqs.weight", "token_embd.weight",
            "blk.0.attn_norm.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight",
        ])
    }

    @Test func typesFollowTheReference() {
        #expect(TensorRules.type(ggufName: "blk.0.attn_norm.weight", numpyShape: [64], outputType: .q8_0) == .f32)
        #expect(TensorRules.type(ggufName: "blk.0.attn_q_norm.weight", numpyShape: [32], outputType: .f16) == .f32)
        #expect(TensorRules.type(ggufName: "blk.0.attn_q.bias", numpyShape: [64], outputType: .bf16) == .f32)
        // A 2-D tensor not named .weight stays F32 too.
        #expect(TensorRules.type(ggufName: "blk.0.attn_q.bias", numpyShape: [2, 64], outputType: .f16) == .f32)
        #expect(TensorRules.type(ggufName: "token_embd.weight", numpyShape: [512, 64], outputType: .q8_0) == .q8_0)
        // Rows that are not whole Q8_0 blocks fall back to F16, as gguf-py's QuantError does.
        #expect(TensorRules.type(ggufName: "blk.0.ffn_down.weight", numpyShape: [64, 48], outputType: .q8_0) == .f16)
        #expect(TensorRules.type(ggufName: "output.weight", numpyShape: [512, 64], outputType: .f32) == .f32)
    }

    @Test func ignoredAndMultimodalNames() {
        #expect(TensorRules.isIgnored("model.layers.0.self_attn.rotary_emb.inv_freq"))
        #expect(!TensorRules.isIgnored("model.layers.0.self_attn.q_proj.weight"))
        #expect(TensorRules.isMultimodal("vision_tower.blocks.0.weight"))
        #expect(TensorRules.isMultimodal("model.visual.patch_embed.proj.weight"))
        #expect(!TensorRules.isMultimodal("model.layers.0.mlp.up_proj.weight"))
    }

    @Test func architectureTables() throws {
        let llama = try #require(Architecture.named("LlamaForCausalLM"))
        #expect(llama.ggufTensorName("model.layers.12.self_attn.q_proj.weight") == "blk.12.attn_q.weight")
        #expect(llama.ggufTensorName("model.embed_tokens.weight") == "token_embd.weight")
        #expect(llama.ggufTensorName("lm_head.weight") == "output.weight")
        #expect(llama.ggufTensorName("model.layers.0.self_attn.q_norm.weight") == nil)
        let qwen3 = try #require(Architecture.named("Qwen3ForCausalLM"))
        #expect(qwen3.ggufTensorName("model.layers.1.self_attn.k_norm.weight") == "blk.1.attn_k_norm.weight")
        #expect(qwen3.ggufTensorName("model.layers.1.self_attn.k_proj.bias") == "blk.1.attn_k.bias")
        let gemma3 = try #require(Architecture.named("Gemma3ForCausalLM"))
        #expect(gemma3.ggufTensorName("model.layers.0.post_attention_layernorm.weight") == "blk.0.post_attention_norm.weight")
        #expect(gemma3.ggufTensorName("model.layers.0.pre_feedforward_layernorm.weight") == "blk.0.ffn_norm.weight")
        #expect(gemma3.ggufTensorName("model.layers.0.post_feedforward_layernorm.weight") == "blk.0.post_ffw_norm.weight")
        let phi3 = try #require(Architecture.named("Phi3ForCausalLM"))
        #expect(phi3.ggufTensorName("model.layers.3.self_attn.qkv_proj.weight") == "blk.3.attn_qkv.weight")
        #expect(phi3.ggufTensorName("model.layers.3.mlp.gate_up_proj.weight") == "blk.3.ffn_up.weight")
        #expect(Architecture.supportedNames.contains("MistralForCausalLM"))
        #expect(Architecture.named("GPT2LMHeadModel") == nil)
    }
}
