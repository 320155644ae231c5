#!/usr/bin/env python3
"""An importance matrix computed in float64 by transformers, and how far imatrix files are from it.

usage: ~/.cache/gguf-oracle/venv/bin/python scripts/imatrix/reference_f64.py HF_FOLDER MODEL.gguf TEXT.txt
           IMATRIX.gguf [IMATRIX.gguf ...] [--chunks 16] [--ctx 512] [--save REF.npz]

The referee for "who is right" when quantd's and llama-imatrix's sums differ: the same chunks as
llama-imatrix (TEXT tokenized by MODEL's vocabulary through llama.cpp, one trailing newline
dropped, BOS substituted only when the vocabulary adds it), run through the Hugging Face Llama in
float64 with no F16 rounding anywhere, summing each linear layer's squared inputs. For each file:
max / mean / p99 relative difference from the reference and the count beyond 1e-3, and the worst
entries. HF_FOLDER must hold the model MODEL.gguf was converted from (e.g. the oracle's pad768).
"""
import argparse, os, sys
import numpy as np


def reference(a):
    import torch, llama_cpp
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(2)
    vocab = llama_cpp.Llama(model_path=a.gguf, vocab_only=True, verbose=False)
    raw = open(a.text, "rb").read()
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    add_bos = bool(vocab._model.add_bos_token())
    toks = vocab.tokenize(raw, add_bos=add_bos, special=False)
    model = AutoModelForCausalLM.from_pretrained(a.hf, dtype=torch.float64, attn_implementation="eager").eval()
    sums = {}

    def hook(names):
        def f(_, inp):
            x = inp[0][0]
            s = (x * x).sum(0).numpy()
            for n in names:
                sums[n] = sums.get(n, 0) + s
        return f

    for i, layer in enumerate(model.model.layers):
        b = f"blk.{i}."
        layer.self_attn.q_proj.register_forward_pre_hook(hook([b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"]))
        layer.self_attn.o_proj.register_forward_pre_hook(hook([b + "attn_output.weight"]))
        layer.mlp.gate_proj.register_forward_pre_hook(hook([b + "ffn_gate.weight", b + "ffn_up.weight"]))
        layer.mlp.down_proj.register_forward_pre_hook(hook([b + "ffn_down.weight"]))
    n = min(a.chunks, len(toks) // a.ctx)
    with torch.no_grad():
        for c in range(n):
            chunk = toks[c * a.ctx:(c + 1) * a.ctx]
            if add_bos:
                chunk[0] = vocab.token_bos()
            model(torch.tensor([chunk]))
            print(f"chunk {c + 1}/{n}", file=sys.stderr)
    return sums


def load(path):
    import gguf
    r = gguf.GGUFReader(path)
    return {t.name[:-8]: np.array(t.data, np.float64).reshape(-1) for t in r.tensors if t.name.endswith(".in_sum2")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf"); ap.add_argument("gguf"); ap.add_argument("text"); ap.add_argument("files", nargs="+")
    ap.add_argument("--chunks", type=int, default=16); ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--save", help="cache the reference here (reused when it exists)")
    a = ap.parse_args()
    if a.save and os.path.exists(a.save):
        ref = dict(np.load(a.save))
    else:
        ref = reference(a)
        if a.save:
            np.savez(a.save, **ref)
    for path in a.files:
        f = load(path)
        names = sorted(set(f) & set(ref))
        rel = {n: np.abs(f[n] - ref[n]) / np.maximum(np.abs(ref[n]), 1e-30) for n in names}
        allrel = np.concatenate([rel[n] for n in names])
        worst = sorted(((float(rel[n].max()), n, int(rel[n].argmax())) for n in names), reverse=True)[:3]
        print(f"{os.path.basename(path)}: {len(names)} entries, {allrel.size} sums vs float64: max {allrel.max():.2e} "
              f"mean {allrel.mean():.2e} p99 {np.percentile(allrel, 99):.2e}, {(allrel > 1e-3).sum()} beyond 1e-3; worst "
              + ", ".join(f"{n} column {c} ({r:.1e}, sum {ref[n][c]:.4g} vs the tensor's mean {ref[n].mean():.4g})" for r, n, c in worst))


if __name__ == "__main__":
    main()
