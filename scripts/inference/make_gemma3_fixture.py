#!/usr/bin/env python3
"""Builds the Gemma3 fixture of Tests/InferenceTests/Fixtures: a tiny random Gemma3ForCausalLM made with
transformers, converted by the oracle's own convert_hf_to_gguf.py, and llama.cpp's logits for it.

usage (from the worktree root, with the oracle's venv):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/make_gemma3_fixture.py Tests/InferenceTests/Fixtures

Writes
  tiny-gemma3-f16.gguf   Gemma 3's layout scaled down: hidden 64, 6 layers (llama.cpp's default pattern makes
                         layers 0-4 sliding-window and layer 5 global), 4 heads of width 32 over 2 kv heads,
                         ffn 128, sliding window 8 (so it cuts into a 64-token chunk), rope base 1e6 global /
                         1e4 local, final logit softcapping 15, tied embeddings, the 400-piece SentencePiece
                         tokenizer of Tests/ModelConversionTests/Fixtures/models/tiny-gemma3. Weights are drawn
                         wider than transformers' init (std 1/sqrt(fan-in), norms 0.3 before the converter's +1)
                         so every part of the layer moves the logits.
  tokens-gemma3.txt      256 ids: llama.cpp's tokenization of the GPL-3 excerpt (BOS first)
  logits-gemma3.bin      llama.cpp's logits (float32 LE) for the first 2 perplexity chunks of 64 tokens
                         (first token of each replaced by BOS): 2 × 64 × 400
The seed is fixed; the files are the same on every run.
"""
import os, subprocess, sys, tempfile, shutil, json
import numpy as np
import torch
import llama_cpp

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
CONVERT = os.path.join(ORACLE, "build/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py")
HERE = os.path.dirname(os.path.abspath(__file__))
SPM = os.path.join(HERE, "../../Tests/ModelConversionTests/Fixtures/models/tiny-gemma3/tokenizer.model")
CTX, NTOK, CHUNKS, V = 64, 256, 2, 400


def make_hf(d):
    from transformers import Gemma3TextConfig, Gemma3ForCausalLM
    torch.manual_seed(20261124)
    cfg = Gemma3TextConfig(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=6,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=32768,
                           sliding_window=8, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                           query_pre_attn_scalar=32, final_logit_softcapping=15.0, rms_norm_eps=1e-6,
                           bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    model = Gemma3ForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):  # stored as w, used as (1 + w): the converter adds the 1
                p.normal_(0, 0.3)
            elif name.endswith("embed_tokens.weight"):
                p.normal_(0, 0.5)
            else:
                p.normal_(0, 1 / p.shape[1] ** 0.5)
    model.to(torch.float32).save_pretrained(d, safe_serialization=True)
    shutil.copy(SPM, d)
    special = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "pad_token": "<unk>", "tokenizer_class": "GemmaTokenizer",
              "added_tokens_decoder": {"0": {"content": "<unk>", **special}, "1": {"content": "<s>", **special},
                                       "2": {"content": "</s>", **special}}}
    json.dump(config, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)


def main():
    out = sys.argv[1]
    gguf_path = os.path.join(out, "tiny-gemma3-f16.gguf")
    with tempfile.TemporaryDirectory() as d:
        make_hf(d)
        subprocess.run([sys.executable, CONVERT, d, "--outtype", "f16", "--outfile", gguf_path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    llm = llama_cpp.Llama(model_path=gguf_path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, logits_all=True,
                          n_threads=2, n_threads_batch=2, verbose=False)
    text = open(os.path.join(ORACLE, "data/gpl3_excerpt.txt"), "rb").read()
    tokens = llm.tokenize(text, add_bos=True, special=False)[:NTOK]
    open(os.path.join(out, "tokens-gemma3.txt"), "w").write(" ".join(map(str, tokens)) + "\n")
    res = []
    for c in range(CHUNKS):
        ch = [1] + tokens[c * CTX + 1:(c + 1) * CTX]
        llm.reset()
        llm.eval(ch)
        res.append(np.array(llm.scores[:CTX], dtype=np.float32))
    np.stack(res).tofile(os.path.join(out, "logits-gemma3.bin"))
    print(gguf_path, os.path.getsize(gguf_path), "bytes; logits", np.stack(res).shape,
          "range", float(np.stack(res).min()), float(np.stack(res).max()))


if __name__ == "__main__":
    main()
