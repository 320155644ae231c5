#!/usr/bin/env python3
"""Builds the deepseek2 (DeepSeek-V3 / Kimi-K2 layout, multi-head latent attention) fixture of
Tests/InferenceTests/Fixtures: a tiny F32 GGUF and its Q8_0, llama.cpp's logits with both of its attention
paths, and llama-imatrix's matrix.

usage (from the worktree root, with the oracle's venv):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/make_mla_fixture.py Tests/InferenceTests/Fixtures

The metadata and tensor layout are convert_hf_to_gguf.py's (--outtype f32) for the oracle's tiny random
DeepSeek-V3 folder ~/.cache/gguf-oracle/models/arch/deepseekv3-h64: hidden 64, 4 heads, q_lora_rank 64,
kv_lora_rank 64, qk_nope 16 + qk_rope 8, v_head 16 (attn_k_b / attn_v_b split per head), 8 routed experts
in 2 groups (1 group used, top-2 experts), sigmoid scores with exp_probs_b, weights renormalised and scaled
by 2.5, 1 shared expert, layer 0 dense, YaRN factor 40 (original context 4096, yarn_log_multiplier 0.1).
Changed for size (< 1 MB): the third layer is dropped (block_count 2: one dense, one MoE layer), the experts
and the shared expert are 32 wide instead of 64 (expert_feed_forward_length 32), the
vocabulary is the 600-piece SentencePiece one of Tests/TokenizerTests/Fixtures/spm-vocab.gguf, and every
tensor gets fresh random values (matrices N(0, 1/columns), the router 3x wider, norms 1 ± 0.1,
exp_probs_b N(0, 0.1)) so that logits and routing are far from uniform. The seed is fixed.

Outputs:
  tiny-deepseek2-f32.gguf
  logits-deepseek2.bin          llama.cpp's logits with flash attention (llama-perplexity's default)
  logits-deepseek2-noflash.bin  the same without flash attention
                                (float32 LE, llama-cpp-python logits_all, the first 2 perplexity chunks of 64
                                tokens of tokens-moe.txt, first token of each replaced by BOS): 2 x 64 x 600
  tiny-deepseek2-q8_0.gguf      the model quantized by llama.cpp (quantize_ref.py ... Q8_0): attn_k_b (rows of 16)
                                falls back to F16, attn_v_b and the other matrices are Q8_0
  logits-deepseek2-q8_0.bin     llama.cpp's logits for it, with flash attention
  tiny-deepseek2.imatrix.gguf   llama-imatrix -m tiny-deepseek2-f32.gguf -f imatrix-text.txt -c 64 -b 64 -t 2 --no-ppl
"""
import math, os, re, shutil, subprocess, sys, tempfile
import numpy as np
import gguf
import llama_cpp

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
V_SRC = os.path.join(ORACLE, "build/llama_cpp_python-0.3.36/vendor/llama.cpp")
HF = os.path.join(ORACLE, "models/arch/deepseekv3-h64")
IMATRIX = os.path.join(ORACLE, "build/llama.cpp/bin/llama-imatrix")
VOCAB = "Tests/TokenizerTests/Fixtures/spm-vocab.gguf"
TEXT = "Tests/PipelineTests/Fixtures/imatrix-text.txt"
LAYERS, FFE, CTX, CHUNKS, SEED = 2, 32, 64, 2, 41


def write_model(converted, path):
    src = gguf.GGUFReader(converted)
    arch = src.fields["general.architecture"].contents()
    assert arch == "deepseek2", arch
    vocab = gguf.GGUFReader(VOCAB)
    tokens = vocab.fields["tokenizer.ggml.tokens"].contents()
    nv = len(tokens)
    rng = np.random.default_rng(SEED)
    w = gguf.GGUFWriter(path, arch)
    for name, field in src.fields.items():
        if name.startswith("GGUF.") or name.startswith("tokenizer.") or name == "general.architecture":
            continue
        value = field.contents()
        if name == f"{arch}.block_count":
            value = LAYERS
        if name == f"{arch}.vocab_size":
            value = nv
        if name == f"{arch}.expert_feed_forward_length":
            value = FFE
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, value, vtype, sub)
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
    for t in src.tensors:
        m = re.match(r"blk\.(\d+)\.", t.name)
        if m and int(m.group(1)) >= LAYERS:
            continue
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: [..., rows, cols]
        if t.name in ("token_embd.weight", "output.weight"):
            shape[0] = nv
        if re.search(r"ffn_(gate|up)_(exps|shexp)", t.name):
            shape[-2] = FFE
        if re.search(r"ffn_down_(exps|shexp)", t.name):
            shape[-1] = FFE
        if t.name.endswith("norm.weight"):
            value = 1 + 0.1 * rng.standard_normal(shape)
        elif t.name.endswith("exp_probs_b.bias"):
            value = 0.1 * rng.standard_normal(shape)
        elif t.name == "token_embd.weight":
            value = rng.standard_normal(shape)
        else:
            value = rng.standard_normal(shape) / math.sqrt(shape[-1])
            if t.name.endswith("ffn_gate_inp.weight"):
                value *= 3
            if t.name == "output.weight":
                value *= 2
        w.add_tensor(t.name, value.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def logits(path, tokens, flash):
    llm = llama_cpp.Llama(model_path=path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, logits_all=True, flash_attn=flash,
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
    tokens = [int(x) for x in open(os.path.join(out, "tokens-moe.txt")).read().split()]
    path = os.path.join(out, "tiny-deepseek2-f32.gguf")
    with tempfile.TemporaryDirectory() as d:
        converted = os.path.join(d, "deepseekv3-f32.gguf")
        subprocess.run([sys.executable, os.path.join(V_SRC, "convert_hf_to_gguf.py"), HF, "--outtype", "f32",
                        "--outfile", converted], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        write_model(converted, path)
    flash = logits(path, tokens, True)
    plain = logits(path, tokens, False)
    flash.tofile(os.path.join(out, "logits-deepseek2.bin"))
    plain.tofile(os.path.join(out, "logits-deepseek2-noflash.bin"))
    print("deepseek2", os.path.getsize(path), "bytes; logits", flash.shape, "range", float(flash.min()),
          float(flash.max()), "; flash vs no flash max |diff|", float(np.abs(flash - plain).max()))
    q8 = os.path.join(out, "tiny-deepseek2-q8_0.gguf")
    subprocess.run([sys.executable, os.path.join(ORACLE, "quantize_ref.py"), path, q8, "Q8_0"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    logits(q8, tokens, True).tofile(os.path.join(out, "logits-deepseek2-q8_0.bin"))
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(TEXT, os.path.join(d, "imatrix-text.txt"))
        imatrix = "tiny-deepseek2.imatrix.gguf"
        subprocess.run([IMATRIX, "-m", os.path.abspath(path), "-f", "imatrix-text.txt", "-c", str(CTX), "-b", str(CTX),
                        "-t", "2", "--no-ppl", "-o", imatrix], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.copy(os.path.join(d, imatrix), os.path.join(out, imatrix))
        r = gguf.GGUFReader(os.path.join(out, imatrix))
        print(imatrix, {k: r.fields[k].contents() for k in r.fields if k.startswith("imatrix.")}, len(r.tensors),
              "tensors")


if __name__ == "__main__":
    main()
