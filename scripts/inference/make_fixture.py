#!/usr/bin/env python3
"""Builds Tests/InferenceTests/Fixtures: a tiny random Llama GGUF and llama.cpp's logits for it.

usage (from the worktree root, with the oracle's venv):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/make_fixture.py Tests/InferenceTests/Fixtures

Writes
  tiny-llama-f32.gguf   hidden 64, 2 layers, 4 heads / 2 kv heads (GQA), ffn 128, vocab 256, untied
                        output, rope base 10000, add_bos_token true (so chunks start with BOS)
  tiny-llama-q8_0.gguf  the same quantized by llama.cpp (quantize_ref.py ... Q8_0)
  tokens.txt            256 token ids: BOS then bytes of the GPL-3 excerpt mapped into the vocabulary
  logits-f32.bin, logits-q8_0.bin
                        llama.cpp's logits (float32, little-endian) for the 4 chunks of 64 tokens that
                        perplexity evaluates (first token of each chunk replaced by BOS): 4 × 64 × 256
  tiny-qwen2-f32.gguf, tiny-qwen3-f32.gguf, logits-qwen2.bin, logits-qwen3.bin
                        one-layer Qwen2 (q/k/v biases, NeoX RoPE) and Qwen3 (per-head q/k norm, head width
                        32 so q is wider than the embedding, NeoX RoPE) and llama.cpp's logits for the first chunk
  expected.json         llama.cpp's perplexity over those chunks (positions 32..62 of each, as
                        llama-perplexity scores with ctx 64) and the KLD/top-1 of Q8_0 against F32
The weights come from a fixed seed, so the files are the same on every run.
"""
import json, math, os, subprocess, sys
import numpy as np
import gguf
import llama_cpp

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
H, L, NH, NKV, FF, V, CTX, NTOK = 64, 2, 4, 2, 128, 256, 64, 256


def write_model(path):
    rng = np.random.default_rng(20261124)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("quantd inference fixture")
    w.add_context_length(2048)
    w.add_embedding_length(H)
    w.add_block_count(L)
    w.add_feed_forward_length(FF)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_dimension_count(H // NH)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(V)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    toks = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, V)]
    w.add_token_list(toks)
    w.add_token_scores([0.0] * V)
    w.add_token_types([2, 3, 3] + [1] * (V - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def mat(rows, cols):  # ggml shape [cols, rows]; numpy [rows, cols]
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def norm():
        return (1 + 0.1 * rng.standard_normal(H)).astype(np.float32)

    w.add_tensor("token_embd.weight", rng.standard_normal((V, H)).astype(np.float32))
    w.add_tensor("output_norm.weight", norm())
    # Untied output (SmolLM2, the real-model check, covers the tied case); scaled so logits are O(1-5).
    w.add_tensor("output.weight", (2 * mat(V, H)))
    hd = H // NH
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", norm())
        w.add_tensor(p + "attn_q.weight", mat(NH * hd, H))
        w.add_tensor(p + "attn_k.weight", mat(NKV * hd, H))
        w.add_tensor(p + "attn_v.weight", mat(NKV * hd, H))
        w.add_tensor(p + "attn_output.weight", mat(H, NH * hd))
        w.add_tensor(p + "ffn_norm.weight", norm())
        w.add_tensor(p + "ffn_gate.weight", mat(FF, H))
        w.add_tensor(p + "ffn_up.weight", mat(FF, H))
        w.add_tensor(p + "ffn_down.weight", mat(H, FF))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_qwen(path, arch):
    rng = np.random.default_rng(7 if arch == "qwen2" else 8)
    hd = 16 if arch == "qwen2" else 32
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"quantd inference fixture {arch}")
    w.add_context_length(2048); w.add_embedding_length(H); w.add_block_count(1)
    w.add_feed_forward_length(FF); w.add_head_count(NH); w.add_head_count_kv(NKV)
    w.add_key_length(hd); w.add_value_length(hd); w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(1000000.0); w.add_layer_norm_rms_eps(1e-6); w.add_vocab_size(V); w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, V)])
    w.add_token_scores([0.0] * V); w.add_token_types([2, 3, 3] + [1] * (V - 3))
    w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
    w.add_add_bos_token(True); w.add_add_eos_token(False)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def vec(n, base=0.0, scale=0.3):
        return (base + scale * rng.standard_normal(n)).astype(np.float32)

    w.add_tensor("token_embd.weight", rng.standard_normal((V, H)).astype(np.float32))
    w.add_tensor("output_norm.weight", vec(H, 1.0, 0.1))
    w.add_tensor("output.weight", 2 * mat(V, H))
    p = "blk.0."
    w.add_tensor(p + "attn_norm.weight", vec(H, 1.0, 0.1))
    w.add_tensor(p + "attn_q.weight", mat(NH * hd, H))
    w.add_tensor(p + "attn_k.weight", mat(NKV * hd, H))
    w.add_tensor(p + "attn_v.weight", mat(NKV * hd, H))
    if arch == "qwen2":
        w.add_tensor(p + "attn_q.bias", vec(NH * hd))
        w.add_tensor(p + "attn_k.bias", vec(NKV * hd))
        w.add_tensor(p + "attn_v.bias", vec(NKV * hd))
    else:
        w.add_tensor(p + "attn_q_norm.weight", vec(hd, 1.0, 0.2))
        w.add_tensor(p + "attn_k_norm.weight", vec(hd, 1.0, 0.2))
    w.add_tensor(p + "attn_output.weight", mat(H, NH * hd))
    w.add_tensor(p + "ffn_norm.weight", vec(H, 1.0, 0.1))
    w.add_tensor(p + "ffn_gate.weight", mat(FF, H))
    w.add_tensor(p + "ffn_up.weight", mat(FF, H))
    w.add_tensor(p + "ffn_down.weight", mat(H, FF))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


def chunks(tokens):
    out = []
    for c in range(len(tokens) // CTX):
        ch = tokens[c * CTX:(c + 1) * CTX]
        out.append([1] + ch[1:])  # add_bos: llama-perplexity puts BOS first in every chunk
    return out


def logits(path, chs):
    llm = llama_cpp.Llama(model_path=path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, logits_all=True,
                          n_threads=2, n_threads_batch=2, verbose=False)
    res = []
    for ch in chs:
        llm.reset()
        llm.eval(ch)
        res.append(np.array(llm.scores[:CTX], dtype=np.float32))
    return np.stack(res)


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    f32 = os.path.join(out, "tiny-llama-f32.gguf")
    q8 = os.path.join(out, "tiny-llama-q8_0.gguf")
    write_model(f32)
    subprocess.run([sys.executable, os.path.join(ORACLE, "quantize_ref.py"), f32, q8, "Q8_0"], check=True,
                   stdout=subprocess.DEVNULL)
    text = open(os.path.join(ORACLE, "data/gpl3_excerpt.txt"), "rb").read()
    tokens = [1] + [3 + (b % (V - 3)) for b in text[:NTOK - 1]]
    open(os.path.join(out, "tokens.txt"), "w").write(" ".join(map(str, tokens)) + "\n")
    chs = chunks(tokens)
    lf, lq = logits(f32, chs), logits(q8, chs)
    lf.tofile(os.path.join(out, "logits-f32.bin"))
    lq.tofile(os.path.join(out, "logits-q8_0.bin"))
    for arch in ("qwen2", "qwen3"):
        path = os.path.join(out, f"tiny-{arch}-f32.gguf")
        write_qwen(path, arch)
        logits(path, chs[:1]).tofile(os.path.join(out, f"logits-{arch}.bin"))
    pos = np.arange(CTX // 2, CTX - 1)
    nll_f, nll_q, kld, top1 = 0.0, 0.0, [], 0
    for c, ch in enumerate(chs):
        a, b = log_softmax(lf[c]), log_softmax(lq[c])
        nxt = np.array(ch)[pos + 1]
        nll_f -= a[pos, nxt].sum()
        nll_q -= b[pos, nxt].sum()
        kld.append((np.exp(a[pos]) * (a[pos] - b[pos])).sum(-1))
        top1 += int((a[pos].argmax(-1) == b[pos].argmax(-1)).sum())
    n = len(chs) * len(pos)
    k = np.concatenate(kld)
    exp = {"ctx": CTX, "chunks": len(chs), "scored": n, "ppl_f32": math.exp(nll_f / n),
           "ppl_q8_0": math.exp(nll_q / n), "kld_q8_0_mean": float(k.mean()), "top1_q8_0": top1 / n}
    json.dump(exp, open(os.path.join(out, "expected.json"), "w"), indent=1)
    print(json.dumps(exp))


if __name__ == "__main__":
    main()
