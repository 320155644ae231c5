#!/usr/bin/env python3
"""Builds the dense-variation fixtures of Tests/InferenceTests/Fixtures: tiny random GGUFs of OLMo2, Granite,
SmolLM3, EXAONE4, GLM4 and Gemma2 written with gguf-py, and llama.cpp's logits for them.

usage (from the worktree root, with the oracle's venv; after make_moe_fixture.py, whose tokens-moe.txt it uses):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/make_dense_fixture.py Tests/InferenceTests/Fixtures

Every model: hidden 64, 4 heads of width 16 over 2 kv heads, FFN 96, F32 weights, the 600-piece SentencePiece
vocabulary of Tests/TokenizerTests/Fixtures/spm-vocab.gguf (add_bos_token true), untied output unless said. Per family:
  tiny-olmo2-f32.gguf      olmo2, 2 layers: no pre-norms, RMSNorm after attention and after the FFN, q/k RMSNorm
                           over the whole q (64) and k (32), NeoX RoPE
  tiny-granite-f32.gguf    granite, 2 layers: embedding_scale 4, attention.scale 1/16, residual_scale 0.5,
                           logit_scale 2, adjacent-pair RoPE
  tiny-smollm3-f32.gguf    smollm3, 4 layers (llama.cpp leaves RoPE out of layer 3), adjacent-pair RoPE
  tiny-exaone4-f32.gguf    exaone4, 2 layers: post-norms only, per-head q/k RMSNorm, NeoX RoPE
  tiny-glm4-f32.gguf       glm4, 2 layers: pre- and post-norms, q/k/v biases, gate and up fused in ffn_up
                           (2 × 96 rows, gate first), RoPE on the first 8 of each head's 16 values (adjacent pairs)
  tiny-gemma2-f32.gguf     gemma2, 2 layers: pre- and post-norms (stored with Gemma's +1), GELU-gated FFN, sliding
                           window 8 on layer 0 (llama.cpp's default period 2), attention scores soft-capped at 2 and
                           logits at 15, embeddings scaled by 8, tied output
  logits-<name>.bin        llama.cpp's logits (float32 LE, llama-cpp-python logits_all) for the first 2
                           perplexity chunks of 64 tokens of tokens-moe.txt (first token replaced by BOS): 2 × 64 × 600
The seed is fixed; the models are the same on every run.
"""
import math, os, sys
import numpy as np
import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_moe_fixture import logits, VOCAB  # noqa: E402

H, NH, NKV, HD, FF = 64, 4, 2, 16, 96
FAMILIES = {  # name: (layers, seed)
    "olmo2": (2, 41),
    "granite": (2, 42),
    "smollm3": (4, 43),
    "exaone4": (2, 44),
    "glm4": (2, 45),
    "gemma2": (2, 46),
}


def write_model(path, arch):
    layers, seed = FAMILIES[arch]
    vocab = gguf.GGUFReader(VOCAB)
    tokens = vocab.fields["tokenizer.ggml.tokens"].contents()
    V = len(tokens)
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"quantd inference fixture {arch}")
    w.add_context_length(2048)
    w.add_embedding_length(H)
    w.add_block_count(layers)
    w.add_feed_forward_length(FF)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_dimension_count(HD // 2 if arch == "glm4" else HD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    if arch == "gemma2":
        w.add_sliding_window(8)
        w.add_attn_logit_softcapping(2.0)
        w.add_final_logit_softcapping(15.0)
    if arch == "granite":
        w.add_embedding_scale(4.0)
        w.add_attention_scale(1.0 / HD)
        w.add_residual_scale(0.5)
        w.add_logit_scale(2.0)
    w.add_vocab_size(V)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(vocab.fields["tokenizer.ggml.scores"].contents())
    w.add_token_types(vocab.fields["tokenizer.ggml.token_type"].contents())
    w.add_bos_token_id(vocab.fields["tokenizer.ggml.bos_token_id"].contents())
    w.add_eos_token_id(vocab.fields["tokenizer.ggml.eos_token_id"].contents())
    w.add_unk_token_id(vocab.fields["tokenizer.ggml.unknown_token_id"].contents())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def vec(n, base=1.0, scale=0.1):
        return (base + scale * rng.standard_normal(n)).astype(np.float32)

    post_only = arch in ("olmo2", "exaone4")
    # Granite and Gemma2 multiply the embeddings (by 4 and sqrt(64) = 8).
    embedding = {"granite": 0.25, "gemma2": 0.125}.get(arch, 1.0)
    w.add_tensor("token_embd.weight", (embedding * rng.standard_normal((V, H))).astype(np.float32))
    w.add_tensor("output_norm.weight", vec(H))
    if arch != "gemma2":
        w.add_tensor("output.weight", 2 * mat(V, H))
    for i in range(layers):
        p = f"blk.{i}."
        if not post_only:
            w.add_tensor(p + "attn_norm.weight", vec(H))
        w.add_tensor(p + "attn_q.weight", mat(NH * HD, H))
        w.add_tensor(p + "attn_k.weight", mat(NKV * HD, H))
        w.add_tensor(p + "attn_v.weight", mat(NKV * HD, H))
        if arch == "glm4":
            w.add_tensor(p + "attn_q.bias", vec(NH * HD, 0.0, 0.3))
            w.add_tensor(p + "attn_k.bias", vec(NKV * HD, 0.0, 0.3))
            w.add_tensor(p + "attn_v.bias", vec(NKV * HD, 0.0, 0.3))
        if arch == "olmo2":
            w.add_tensor(p + "attn_q_norm.weight", vec(NH * HD, 1.0, 0.2))
            w.add_tensor(p + "attn_k_norm.weight", vec(NKV * HD, 1.0, 0.2))
        if arch == "exaone4":
            w.add_tensor(p + "attn_q_norm.weight", vec(HD, 1.0, 0.2))
            w.add_tensor(p + "attn_k_norm.weight", vec(HD, 1.0, 0.2))
        w.add_tensor(p + "attn_output.weight", mat(H, NH * HD))
        if post_only or arch in ("glm4", "gemma2"):
            w.add_tensor(p + "post_attention_norm.weight", vec(H))
        if not post_only:
            w.add_tensor(p + "ffn_norm.weight", vec(H))
        if arch == "glm4":
            w.add_tensor(p + "ffn_up.weight", mat(2 * FF, H))
        else:
            w.add_tensor(p + "ffn_gate.weight", mat(FF, H))
            w.add_tensor(p + "ffn_up.weight", mat(FF, H))
        w.add_tensor(p + "ffn_down.weight", mat(H, FF))
        if post_only or arch in ("glm4", "gemma2"):
            w.add_tensor(p + "post_ffw_norm.weight", vec(H))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1]
    tokens = [int(t) for t in open(os.path.join(out, "tokens-moe.txt")).read().split()]
    for arch in FAMILIES:
        path = os.path.join(out, f"tiny-{arch}-f32.gguf")
        write_model(path, arch)
        lg = logits(path, tokens)
        lg.tofile(os.path.join(out, f"logits-{arch}.bin"))
        print(arch, os.path.getsize(path), "bytes; logits", lg.shape, "range", float(lg.min()), float(lg.max()))


if __name__ == "__main__":
    main()
