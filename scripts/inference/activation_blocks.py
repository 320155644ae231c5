#!/usr/bin/env python3
"""How much ggml's activation quantization costs each matmul input of a model, by block width.

usage: ~/.cache/gguf-oracle/venv/bin/python scripts/inference/activation_blocks.py HF_FOLDER TEXT [--tokens 512]

Runs the Hugging Face model (F32) on the first TOKENS tokens of TEXT and, for the input of every linear
layer, reports the relative RMS error ||x - round(x)|| / ||x|| of Q8_0 rounding (32-wide blocks, as ggml
applies for Q4_0/Q5_0/Q8_0 weights) and Q8_K rounding (256-wide blocks, for the K-quants), and the
largest ratio max|x| / rms(x) inside one block (one outlier sets the step of its whole block).
"""
import argparse, collections
import numpy as np, torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def q8(x, width):
    b = x.reshape(-1, width)
    amax = np.abs(b).max(1, keepdims=True)
    d = np.where(amax > 0, amax / 127, 1)
    return (np.round(b / d) * d).reshape(x.shape)


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("model"); ap.add_argument("text")
    ap.add_argument("--tokens", type=int, default=512); a = ap.parse_args()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    ids = tok(open(a.text).read(), return_tensors="pt").input_ids[:, :a.tokens]
    stats = collections.defaultdict(list)

    def hook(name):
        def f(mod, inp, out):
            x = inp[0][0].float().numpy()
            if x.shape[-1] % 256: return
            n = np.linalg.norm(x)
            blocks = x.reshape(-1, 256)
            ratio = (np.abs(blocks).max(1) / np.sqrt((blocks ** 2).mean(1) + 1e-30)).max()
            stats[name.split(".")[-1]].append((np.linalg.norm(x - q8(x, 32)) / n, np.linalg.norm(x - q8(x, 256)) / n, ratio))
        return f

    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear): m.register_forward_hook(hook(name))
    with torch.no_grad(): model(ids)
    print(f"{'input of':<12} {'Q8_0 rel err':>13} {'Q8_K rel err':>13} {'max block peak/rms':>19}")
    for k, v in stats.items():
        v = np.array(v)
        print(f"{k:<12} {v[:, 0].mean():13.2e} {v[:, 1].mean():13.2e} {v[:, 2].max():19.1f}")


if __name__ == "__main__":
    main()
