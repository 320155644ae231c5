#!/usr/bin/env python3
"""Builds the IQ forward-pass fixtures in Tests/InferenceTests/Fixtures: a tiny random Llama whose
rows are 256 wide (so every IQ type applies), llama-quantize's IQ artifacts of it, and llama.cpp's
KL divergence of each against the F16 model on the perplexity chunks of tokens.txt.

usage (from the worktree root, with the oracle's venv; tokens.txt must exist, see make_fixture.py):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/make_iq_fixture.py Tests/InferenceTests/Fixtures

Writes
  tiny-iq-f16.gguf        hidden 256, 1 layer, 4 heads / 2 kv heads, ffn 256, vocab 256, F16 matrices
  tiny-iq.imatrix.gguf    a seeded random importance matrix for it (llama-imatrix's GGUF layout)
  tiny-iq-IQ3_XXS.gguf    llama-quantize --pure --imatrix ... IQ3_XXS (every matrix IQ3_XXS)
  tiny-iq-IQ3_S.gguf      llama-quantize --pure IQ3_S
  tiny-iq-mixed.gguf      llama-quantize --imatrix ... IQ3_XXS with --tensor-type overrides that give the
                          other IQ types: attn_q IQ2_XXS, attn_k IQ2_XS, attn_v IQ2_S, attn_output IQ1_S,
                          ffn_gate IQ1_M, ffn_up IQ4_XS, ffn_down IQ4_NL, token_embd IQ3_S, output IQ2_S
  iq-expected.json        per artifact: llama.cpp's mean KLD against the F16 model, top-1 agreement and
                          perplexity (positions 32..62 of each 64-token chunk, as llama-perplexity scores),
                          from llama.cpp's logits (llama-cpp-python, logits_all), and the commands
The weights and the matrix come from fixed seeds, so the files are the same on every run.
"""
import json, math, os, subprocess, sys
import numpy as np
import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixture import CTX, chunks, log_softmax, logits  # noqa: E402

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
QUANTIZE = os.path.join(ORACLE, "build/llama.cpp/bin/llama-quantize")
H, NH, NKV, FF, V = 256, 4, 2, 256, 256
MATRICES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
OVERRIDES = ["attn_q=iq2_xxs", "attn_k=iq2_xs", "attn_v=iq2_s", "attn_output=iq1_s", "ffn_gate=iq1_m",
             "ffn_up=iq4_xs", "ffn_down=iq4_nl"]


def write_model(path):
    rng = np.random.default_rng(20261207)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("quantd IQ fixture")
    w.add_context_length(2048)
    w.add_embedding_length(H)
    w.add_block_count(1)
    w.add_feed_forward_length(FF)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_dimension_count(H // NH)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(V)
    w.add_file_type(1)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, V)])
    w.add_token_scores([0.0] * V)
    w.add_token_types([2, 3, 3] + [1] * (V - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def mat(rows, cols, scale=1.0):
        return (scale * rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float16)

    def norm():
        return (1 + 0.1 * rng.standard_normal(H)).astype(np.float32)

    hd = H // NH
    w.add_tensor("token_embd.weight", rng.standard_normal((V, H)).astype(np.float16))
    w.add_tensor("output_norm.weight", norm())
    w.add_tensor("output.weight", mat(V, H, 2.0))
    w.add_tensor("blk.0.attn_norm.weight", norm())
    w.add_tensor("blk.0.attn_q.weight", mat(NH * hd, H))
    w.add_tensor("blk.0.attn_k.weight", mat(NKV * hd, H))
    w.add_tensor("blk.0.attn_v.weight", mat(NKV * hd, H))
    w.add_tensor("blk.0.attn_output.weight", mat(H, NH * hd))
    w.add_tensor("blk.0.ffn_norm.weight", norm())
    w.add_tensor("blk.0.ffn_gate.weight", mat(FF, H))
    w.add_tensor("blk.0.ffn_up.weight", mat(FF, H))
    w.add_tensor("blk.0.ffn_down.weight", mat(H, FF))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_imatrix(path):
    """One entry per matrix, in llama-imatrix's GGUF layout, with counts 1 (so in_sum2 is the weight)."""
    rng = np.random.default_rng(20261208)
    w = gguf.GGUFWriter(path, "imatrix")
    w.add_type("imatrix")
    w.add_array("imatrix.datasets", ["random"])
    w.add_uint32("imatrix.chunk_count", 1)
    w.add_uint32("imatrix.chunk_size", CTX)
    for name in ["output"] + [f"blk.0.{m}" for m in MATRICES]:
        cols = FF if name.endswith("ffn_down") else H
        w.add_tensor(f"{name}.weight.in_sum2", np.exp(rng.standard_normal((1, cols))).astype(np.float32))
        w.add_tensor(f"{name}.weight.counts", np.ones((1, 1), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1]
    f16 = os.path.join(out, "tiny-iq-f16.gguf")
    imatrix = os.path.join(out, "tiny-iq.imatrix.gguf")
    write_model(f16)
    write_imatrix(imatrix)
    artifacts = {
        "IQ3_XXS": ["--pure", "--imatrix", imatrix, "IQ3_XXS"],
        "IQ3_S": ["--pure", "IQ3_S"],
        "mixed": ["--imatrix", imatrix] + [a for o in OVERRIDES for a in ("--tensor-type", o)]
                 + ["--token-embedding-type", "iq3_s", "--output-tensor-type", "iq2_s", "IQ3_XXS"],
    }
    tokens = [int(t) for t in open(os.path.join(out, "tokens.txt")).read().split()]
    chs = chunks(tokens)
    ref = logits(f16, chs)
    expected = {"ctx": CTX, "chunks": len(chs), "artifacts": {}}
    pos = np.arange(CTX // 2, CTX - 1)
    for name, args in artifacts.items():
        path = os.path.join(out, f"tiny-iq-{name}.gguf")
        opts, mix = args[:-1], args[-1]
        subprocess.run([QUANTIZE] + opts + [f16, path, mix, "1"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        lq = logits(path, chs)
        nll, kld, top1 = 0.0, [], 0
        for c, ch in enumerate(chs):
            a, b = log_softmax(ref[c]), log_softmax(lq[c])
            nll -= b[pos, np.array(ch)[pos + 1]].sum()
            kld.append((np.exp(a[pos]) * (a[pos] - b[pos])).sum(-1))
            top1 += int((a[pos].argmax(-1) == b[pos].argmax(-1)).sum())
        n = len(chs) * len(pos)
        cmd = " ".join(["llama-quantize"] + [os.path.basename(o) if o == imatrix else o for o in opts]
                       + ["tiny-iq-f16.gguf", f"tiny-iq-{name}.gguf", mix, "1"])
        expected["artifacts"][name] = {"kld_mean": float(np.concatenate(kld).mean()), "top1": top1 / n,
                                       "ppl": math.exp(nll / n), "command": cmd}
    json.dump(expected, open(os.path.join(out, "iq-expected.json"), "w"), indent=1)
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
