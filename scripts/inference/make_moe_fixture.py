#!/usr/bin/env python3
"""Builds the mixture-of-experts fixtures of Tests/InferenceTests/Fixtures: tiny random GGUFs of four MoE
families written with gguf-py, llama.cpp's logits for them, and llama-imatrix's matrix for one.

usage (from the worktree root, with the oracle's venv):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/make_moe_fixture.py Tests/InferenceTests/Fixtures

Every model: hidden 64, 2 layers, 4 heads over 2 kv heads, 8 experts of which each token uses 2, expert
FFN width 32, F32 weights, the 600-piece SentencePiece vocabulary of
Tests/TokenizerTests/Fixtures/spm-vocab.gguf (add_bos_token true). Per family:
  tiny-qwen3moe-f32.gguf   qwen3moe: head width 32 (q wider than the embedding), per-head q/k RMSNorm, NeoX
                           RoPE, top-k weights renormalised; feed_forward_length 128 unused, as in real files
  tiny-mixtral-f32.gguf    llama with expert tensors (Mixtral): adjacent-pair RoPE, renormalised
  tiny-olmoe-f32.gguf      olmoe: 4 kv heads (llama.cpp sizes its k norm n_embd), q/k RMSNorm over the whole
                           q and k (64 each), weights not renormalised
  tiny-qwen2moe-f32.gguf   qwen2moe: q/k/v biases, a shared expert of width 64 gated by
                           sigmoid(ffn_gate_inp_shexp · x), weights not renormalised
  tiny-glm4moe-f32.gguf    glm4moe: layer 0 dense (leading_dense_block_count 1, FFN 96), layer 1 routed by sigmoid
                           with a selection bias (exp_probs_b), weights renormalised and scaled by 2.5, one shared
                           expert; q/k/v biases, per-head q/k RMSNorm, NeoX RoPE on 8 of each head's 16 values, and
                           a declared MTP layer (nextn_predict_layers 1, block_count 3) whose tensors are absent
  tiny-gptoss-f32.gguf     gpt-oss: q/k/v/output biases, an attention sink per head, sliding window 8 on layer 0
                           (llama.cpp's default period 2), YaRN RoPE (base 150000, factor 32, original context 4096,
                           NeoX), router and per-expert biases, gpt-oss's clamped SwiGLU, weights = softmax over the
                           chosen experts' logits
  tiny-qwen3moe-q8_0.gguf  the qwen3moe model quantized by llama.cpp (quantize_ref.py ... Q8_0)
  tokens-moe.txt           llama.cpp's tokenization of Tests/PipelineTests/Fixtures/imatrix-text.txt (BOS first)
  logits-<name>.bin        llama.cpp's logits (float32 LE, llama-cpp-python logits_all) for the first 2
                           perplexity chunks of 64 tokens (first token of each replaced by BOS): 2 × 64 × 600
  tiny-qwen3moe.imatrix.gguf, tiny-qwen2moe.imatrix.gguf
                           llama-imatrix -m tiny-<name>-f32.gguf -f imatrix-text.txt -c 64 -b 64 -t 2 --no-ppl
                           (-b 64: one chunk per batch, so its per-expert sums run in the order quantd's do)
The router is drawn 3x wider than the other matrices so that routing is decided, not a near tie.
The seed is fixed; the models are the same on every run.
"""
import math, os, shutil, subprocess, sys, tempfile
import numpy as np
import gguf
import llama_cpp

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
IMATRIX = os.path.join(ORACLE, "build/llama.cpp/bin/llama-imatrix")
VOCAB = "Tests/TokenizerTests/Fixtures/spm-vocab.gguf"
TEXT = "Tests/PipelineTests/Fixtures/imatrix-text.txt"
H, L, NH, NKV, E, K, FFE, CTX, CHUNKS = 64, 2, 4, 2, 8, 2, 32, 64, 2

FAMILIES = {  # name: (GGUF arch, head width, kv heads, seed)
    "qwen3moe": ("qwen3moe", 32, NKV, 31),
    "mixtral": ("llama", 16, NKV, 32),
    "olmoe": ("olmoe", 16, NH, 33),  # llama.cpp sizes OLMoE's k norm n_embd: no GQA
    "qwen2moe": ("qwen2moe", 16, NKV, 34),
    "glm4moe": ("glm4moe", 16, NKV, 35),
    "gptoss": ("gpt-oss", 16, NKV, 36),
}


def write_model(path, name):
    arch, hd, nkv, seed = FAMILIES[name]
    vocab = gguf.GGUFReader(VOCAB)
    tokens = vocab.fields["tokenizer.ggml.tokens"].contents()
    V = len(tokens)
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"quantd inference fixture {name}")
    w.add_context_length(131072 if arch == "gpt-oss" else 2048)
    w.add_embedding_length(H)
    w.add_block_count(L + 1 if arch == "glm4moe" else L)
    w.add_head_count(NH)
    w.add_head_count_kv(nkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd // 2 if arch == "glm4moe" else hd)
    w.add_rope_freq_base(150000.0 if arch == "gpt-oss" else 1000000.0)
    if arch == "gpt-oss":
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(32.0)
        w.add_rope_scaling_orig_ctx_len(4096)
        w.add_sliding_window(8)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_expert_count(E)
    w.add_expert_used_count(K)
    if arch in ("qwen3moe", "qwen2moe"):
        w.add_feed_forward_length(128)
        w.add_expert_feed_forward_length(FFE)
    elif arch == "gpt-oss":
        w.add_feed_forward_length(FFE)
        w.add_expert_feed_forward_length(FFE)
    elif arch == "glm4moe":
        w.add_feed_forward_length(96)
        w.add_expert_feed_forward_length(FFE)
        w.add_expert_shared_count(1)
        w.add_leading_dense_block_count(1)
        w.add_expert_weights_scale(2.5)
        w.add_expert_weights_norm(True)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
        w.add_nextn_predict_layers(1)
    else:
        w.add_feed_forward_length(FFE)
    if arch == "qwen3moe":
        w.add_expert_weights_norm(True)
    if arch == "qwen2moe":
        w.add_expert_shared_feed_forward_length(2 * FFE)
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

    def mat(*shape):  # numpy [..., rows, cols] = ggml [cols, rows, ...]
        return (rng.standard_normal(shape) / math.sqrt(shape[-1])).astype(np.float32)

    def vec(n, base=0.0, scale=0.3):
        return (base + scale * rng.standard_normal(n)).astype(np.float32)

    w.add_tensor("token_embd.weight", rng.standard_normal((V, H)).astype(np.float32))
    w.add_tensor("output_norm.weight", vec(H, 1.0, 0.1))
    w.add_tensor("output.weight", 2 * mat(V, H))
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", vec(H, 1.0, 0.1))
        w.add_tensor(p + "attn_q.weight", mat(NH * hd, H))
        w.add_tensor(p + "attn_k.weight", mat(nkv * hd, H))
        w.add_tensor(p + "attn_v.weight", mat(nkv * hd, H))
        if arch in ("qwen2moe", "glm4moe", "gpt-oss"):
            w.add_tensor(p + "attn_q.bias", vec(NH * hd))
            w.add_tensor(p + "attn_k.bias", vec(nkv * hd))
            w.add_tensor(p + "attn_v.bias", vec(nkv * hd))
        if arch in ("qwen3moe", "glm4moe"):
            w.add_tensor(p + "attn_q_norm.weight", vec(hd, 1.0, 0.2))
            w.add_tensor(p + "attn_k_norm.weight", vec(hd, 1.0, 0.2))
        if arch == "olmoe":
            w.add_tensor(p + "attn_q_norm.weight", vec(NH * hd, 1.0, 0.2))
            w.add_tensor(p + "attn_k_norm.weight", vec(nkv * hd, 1.0, 0.2))
        w.add_tensor(p + "attn_output.weight", mat(H, NH * hd))
        if arch == "gpt-oss":
            w.add_tensor(p + "attn_output.bias", vec(H, 0.0, 0.1))
            w.add_tensor(p + "attn_sinks.weight", vec(NH, 0.0, 1.0))
        # GLM4-MoE names its norm before the FFN post_attention_norm.
        w.add_tensor(p + ("post_attention_norm.weight" if arch in ("glm4moe", "gpt-oss") else "ffn_norm.weight"),
                     vec(H, 1.0, 0.1))
        if arch == "glm4moe" and i == 0:
            w.add_tensor(p + "ffn_gate.weight", mat(96, H))
            w.add_tensor(p + "ffn_up.weight", mat(96, H))
            w.add_tensor(p + "ffn_down.weight", mat(H, 96))
            continue
        w.add_tensor(p + "ffn_gate_inp.weight", 3 * mat(E, H))
        if arch == "glm4moe":
            w.add_tensor(p + "exp_probs_b.bias", vec(E, 0.0, 0.1))
        if arch == "gpt-oss":
            w.add_tensor(p + "ffn_gate_inp.bias", vec(E, 0.0, 0.3))
            w.add_tensor(p + "ffn_gate_exps.bias", vec(E * FFE, 0.0, 0.3).reshape(E, FFE))
            w.add_tensor(p + "ffn_up_exps.bias", vec(E * FFE, 0.0, 0.3).reshape(E, FFE))
            w.add_tensor(p + "ffn_down_exps.bias", vec(E * H, 0.0, 0.1).reshape(E, H))
        w.add_tensor(p + "ffn_gate_exps.weight", mat(E, FFE, H))
        w.add_tensor(p + "ffn_up_exps.weight", mat(E, FFE, H))
        w.add_tensor(p + "ffn_down_exps.weight", mat(E, H, FFE))
        if arch == "glm4moe":
            w.add_tensor(p + "ffn_gate_shexp.weight", mat(FFE, H))
            w.add_tensor(p + "ffn_up_shexp.weight", mat(FFE, H))
            w.add_tensor(p + "ffn_down_shexp.weight", mat(H, FFE))
        if arch == "qwen2moe":
            w.add_tensor(p + "ffn_gate_inp_shexp.weight", 2 * mat(H))
            w.add_tensor(p + "ffn_gate_shexp.weight", mat(2 * FFE, H))
            w.add_tensor(p + "ffn_up_shexp.weight", mat(2 * FFE, H))
            w.add_tensor(p + "ffn_down_shexp.weight", mat(H, 2 * FFE))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def logits(path, tokens):
    llm = llama_cpp.Llama(model_path=path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, logits_all=True,
                          n_threads=2, n_threads_batch=2, verbose=False)
    bos = llm.token_bos()
    res = []
    for c in range(CHUNKS):
        ch = [bos] + tokens[c * CTX + 1:(c + 1) * CTX]
        llm.reset()
        llm.eval(ch)
        res.append(np.array(llm.scores[:CTX], dtype=np.float32))
    return np.stack(res)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tokens = None
    for name in FAMILIES:
        path = os.path.join(out, f"tiny-{name}-f32.gguf")
        write_model(path, name)
        if tokens is None:
            llm = llama_cpp.Llama(model_path=path, n_ctx=CTX, vocab_only=True, verbose=False)
            tokens = llm.tokenize(open(TEXT, "rb").read(), add_bos=True, special=False)
            open(os.path.join(out, "tokens-moe.txt"), "w").write(" ".join(map(str, tokens)) + "\n")
            del llm
        lg = logits(path, tokens)
        lg.tofile(os.path.join(out, f"logits-{name}.bin"))
        print(name, os.path.getsize(path), "bytes; logits", lg.shape, "range", float(lg.min()), float(lg.max()))
    f32 = os.path.join(out, "tiny-qwen3moe-f32.gguf")
    q8 = os.path.join(out, "tiny-qwen3moe-q8_0.gguf")
    subprocess.run([sys.executable, os.path.join(ORACLE, "quantize_ref.py"), f32, q8, "Q8_0"], check=True,
                   stdout=subprocess.DEVNULL)
    logits(q8, tokens).tofile(os.path.join(out, "logits-qwen3moe-q8_0.bin"))
    # Run from a folder holding the text under its bare name, so the recorded dataset is "imatrix-text.txt".
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(TEXT, os.path.join(d, "imatrix-text.txt"))
        for name in ("qwen3moe", "qwen2moe"):
            model = os.path.abspath(os.path.join(out, f"tiny-{name}-f32.gguf"))
            imatrix = f"tiny-{name}.imatrix.gguf"
            subprocess.run([IMATRIX, "-m", model, "-f", "imatrix-text.txt", "-c", str(CTX), "-b", str(CTX), "-t", "2",
                            "--no-ppl", "-o", imatrix], cwd=d, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.copy(os.path.join(d, imatrix), os.path.join(out, imatrix))
            r = gguf.GGUFReader(os.path.join(out, imatrix))
            print(imatrix, {k: r.fields[k].contents() for k in r.fields if k.startswith("imatrix.")}, len(r.tensors),
                  "tensors; text tokens", len(tokens))


if __name__ == "__main__":
    main()
