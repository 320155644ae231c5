#!/usr/bin/env python3
"""Builds the imatrix fixtures in Tests/PipelineTests/Fixtures: a tiny random Llama with a real
vocabulary, a short calibration text, and what llama-imatrix makes of them.

usage (from the worktree root, with the oracle's venv):
    ~/.cache/gguf-oracle/venv/bin/python scripts/imatrix/make_fixture.py Tests/PipelineTests/Fixtures

Writes
  tiny-spm-f16.gguf           hidden 64, 2 layers, 4 heads / 2 kv heads (GQA), ffn 128, untied output,
                              F16 matrices and F32 norms from a fixed seed; the vocabulary of
                              Tests/TokenizerTests/Fixtures/spm-vocab.gguf (a 600-piece SentencePiece
                              model with byte fallback), add_bos_token true
  imatrix-text.txt            the first 2000 bytes of quantd's bundled calibration text (KJV Genesis,
                              public domain), cut at a line end
  tiny-spm.imatrix.gguf       llama-imatrix -m tiny-spm-f16.gguf -f imatrix-text.txt -c 64 -o ...
  tiny-spm-output.imatrix.gguf  the same with --process-output --chunks 5
The model comes from a fixed seed, so the files are the same on every run (llama-imatrix's sums
depend on its build's float rounding in the last bits).
"""
import math, os, subprocess, sys
import numpy as np
import gguf

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
IMATRIX = os.path.join(ORACLE, "build/llama.cpp/bin/llama-imatrix")
H, L, NH, NKV, FF = 64, 2, 4, 2, 128


def write_model(path, vocab_path):
    vocab = gguf.GGUFReader(vocab_path)
    tokens = vocab.fields["tokenizer.ggml.tokens"].contents()
    scores = vocab.fields["tokenizer.ggml.scores"].contents()
    types = vocab.fields["tokenizer.ggml.token_type"].contents()
    V = len(tokens)
    rng = np.random.default_rng(20261124 + 8)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("quantd imatrix fixture")
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
    w.add_file_type(1)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(vocab.fields["tokenizer.ggml.bos_token_id"].contents())
    w.add_eos_token_id(vocab.fields["tokenizer.ggml.eos_token_id"].contents())
    w.add_unk_token_id(vocab.fields["tokenizer.ggml.unknown_token_id"].contents())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def mat(rows, cols):  # ggml shape [cols, rows]; numpy [rows, cols]
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float16)

    def norm():
        return (1 + 0.1 * rng.standard_normal(H)).astype(np.float32)

    w.add_tensor("token_embd.weight", rng.standard_normal((V, H)).astype(np.float16))
    w.add_tensor("output_norm.weight", norm())
    w.add_tensor("output.weight", (2 * mat(V, H)).astype(np.float16))
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


def write_text(path):
    swift = open("Sources/Pipeline/Texts/CalibrationText.swift").read()
    text = swift[swift.index('#"""\n') + 5:swift.rindex('\n"""#')]
    cut = text[:2000]
    cut = cut[:cut.rindex(" ")] + "\n"
    open(path, "w").write(cut)


def main():
    out = sys.argv[1]
    model = os.path.join(out, "tiny-spm-f16.gguf")
    text = os.path.join(out, "imatrix-text.txt")
    write_model(model, "Tests/TokenizerTests/Fixtures/spm-vocab.gguf")
    write_text(text)
    # Run from the fixture folder so the recorded dataset is the bare file name.
    for name, extra in [("tiny-spm.imatrix.gguf", []), ("tiny-spm-output.imatrix.gguf", ["--process-output", "--chunks", "5"])]:
        subprocess.run([IMATRIX, "-m", "tiny-spm-f16.gguf", "-f", "imatrix-text.txt", "-c", "64", "-t", "2",
                        "-o", name, "--no-ppl"] + extra, cwd=out, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Gemma3 (scaled embeddings, sliding-window layers): the forward pass's own Gemma3 fixture.
    gemma = os.path.abspath("Tests/InferenceTests/Fixtures/tiny-gemma3-f16.gguf")
    subprocess.run([IMATRIX, "-m", gemma, "-f", "imatrix-text.txt", "-c", "64", "-t", "2",
                    "-o", "tiny-gemma3.imatrix.gguf", "--no-ppl"], cwd=out, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in ["tiny-spm.imatrix.gguf", "tiny-spm-output.imatrix.gguf", "tiny-gemma3.imatrix.gguf"]:
        r = gguf.GGUFReader(os.path.join(out, name))
        print(name, {k: r.fields[k].contents() for k in r.fields if k.startswith("imatrix.")}, len(r.tensors), "tensors")


if __name__ == "__main__":
    main()
