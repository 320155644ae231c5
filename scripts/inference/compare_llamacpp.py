#!/usr/bin/env python3
"""Compares quantd's forward pass with llama.cpp's on a real model, chunk by chunk.

usage: ~/.cache/gguf-oracle/venv/bin/python scripts/inference/compare_llamacpp.py MODEL.gguf TEXT.txt
           [--ctx 512] [--threads 2] [--bench .build/release/inference-bench]

Tokenizes TEXT with llama.cpp (BOS only if the model adds it), cuts it into llama-perplexity's
chunks (BOS first in each when the model adds it), and for each chunk gets llama.cpp's logits
(llama-cpp-python, logits_all) and ours (`inference-bench logits`). Over the positions
llama-perplexity scores (ctx/2 .. ctx-2) it reports KL(P_llama.cpp || P_quantd) mean/median/p99/max,
top-1 agreement, RMS Δp, max |Δlogit| and both perplexities, as one JSON line.
"""
import argparse, json, math, os, subprocess, tempfile
import numpy as np
import llama_cpp


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model"); ap.add_argument("text")
    ap.add_argument("--ctx", type=int, default=512); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", default=".build/release/inference-bench")
    ap.add_argument("--chunks", type=int, default=0, help="only the first N chunks (0: all)")
    ap.add_argument("--exact-activations", action="store_true", help="ours without ggml's activation rounding")
    ap.add_argument("--flash-attn", action="store_true", help="llama.cpp with flash attention (llama-perplexity's default)")
    a = ap.parse_args()
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=a.ctx, n_batch=a.ctx, n_ubatch=a.ctx, logits_all=True,
                          n_threads=a.threads, n_threads_batch=a.threads, flash_attn=a.flash_attn, verbose=False)
    add_bos = bool(llm._model.add_bos_token())
    toks = llm.tokenize(open(a.text, "rb").read(), add_bos=add_bos, special=False)
    first = a.ctx // 2
    pos = np.arange(first, a.ctx - 1)
    kld, top1, dp2, nll_ref, nll_our, maxdiff, n = [], 0, 0.0, 0.0, 0.0, 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        n_chunks = len(toks) // a.ctx if a.chunks <= 0 else min(a.chunks, len(toks) // a.ctx)
        for c in range(n_chunks):
            ch = toks[c * a.ctx:(c + 1) * a.ctx]
            if add_bos: ch = [llm.token_bos()] + ch[1:]
            llm.reset(); llm.eval(ch)
            ref = np.array(llm.scores[:a.ctx], dtype=np.float32)
            tf, of = os.path.join(tmp, "t.txt"), os.path.join(tmp, "o.f32")
            open(tf, "w").write(" ".join(map(str, ch)))
            subprocess.run([a.bench, "logits", a.model, tf, of, "--threads", str(a.threads)]
                           + (["--exact-activations"] if a.exact_activations else []), check=True,
                           stdout=subprocess.DEVNULL)
            our = np.fromfile(of, dtype=np.float32).reshape(a.ctx, -1)
            maxdiff = max(maxdiff, float(np.abs(ref - our).max()))
            lr, lo = log_softmax(ref[pos]), log_softmax(our[pos])
            nxt = np.array(ch)[pos + 1]
            idx = np.arange(len(pos))
            nll_ref -= lr[idx, nxt].sum(); nll_our -= lo[idx, nxt].sum()
            kld.append((np.exp(lr) * (lr - lo)).sum(-1))
            top1 += int((lr.argmax(-1) == lo.argmax(-1)).sum())
            dp2 += float(((np.exp(lo[idx, nxt]) - np.exp(lr[idx, nxt])) ** 2).sum())
            n += len(pos)
    k = np.concatenate(kld)
    print(json.dumps({"model": a.model, "tokens": len(toks), "chunks": n_chunks, "scored": n,
                      "ppl_llamacpp": math.exp(nll_ref / n), "ppl_quantd": math.exp(nll_our / n),
                      "kld_mean": float(k.mean()), "kld_median": float(np.median(k)),
                      "kld_p99": float(np.percentile(k, 99)), "kld_max": float(k.max()),
                      "top1_agree": top1 / n, "rms_dp": math.sqrt(dp2 / n), "max_abs_dlogit": maxdiff}))


if __name__ == "__main__":
    main()
