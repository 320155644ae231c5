#!/usr/bin/env python3
"""KL divergence of several GGUF models against one reference, with the oracle's ppl.py (llama.cpp
through llama-cpp-python): the same tokens, chunks and formulas as `ppl.py MODEL TEXT --ref REF`,
but the reference's log-probabilities are computed once for all models.

usage: ORACLE=~/.cache/gguf-oracle $ORACLE/venv/bin/python scripts/gptq/kld_table.py REF TEXT MODEL...
Prints one JSON line per model (kld_mean, kld_median, kld_p99, ppl, ref_ppl, top1_agree).
"""
import json, math, os, sys
import numpy as np

sys.path.insert(0, os.path.expanduser(os.environ.get("ORACLE", "~/.cache/gguf-oracle")))
from ppl import load, chunk_logprobs  # noqa: E402

ref_path, text, models = sys.argv[1], sys.argv[2], sys.argv[3:]
ctx, threads = 512, 2
ref = load(ref_path, ctx, threads)
add_bos = bool(ref._model.add_bos_token())
toks = ref.tokenize(open(text, "rb").read(), add_bos=add_bos, special=False)
chunks = []
for c in range(max(1, len(toks) // ctx)):
    ch = toks[c * ctx:(c + 1) * ctx]
    if add_bos and c > 0: ch = [ref.token_bos()] + ch[1:]
    chunks.append((ch, chunk_logprobs(ref, ch).astype(np.float32)))
del ref
for path in models:
    llm = load(path, ctx, threads)
    nll, nll_ref, kld, top1, n = 0.0, 0.0, [], 0, 0
    for ch, lr in chunks:
        lp = chunk_logprobs(llm, ch)
        pos = np.arange(0, len(ch) - 1)
        nxt = np.array(ch, dtype=np.int64)[pos + 1]
        nll -= lp[pos, nxt].sum(); nll_ref -= lr[pos, nxt].sum(); n += len(pos)
        lr64 = lr[pos].astype(np.float64)
        kld.append((np.exp(lr64) * (lr64 - lp[pos])).sum(axis=-1))
        top1 += int((lr64.argmax(-1) == lp[pos].argmax(-1)).sum())
    k = np.concatenate(kld)
    print(json.dumps({"model": path, "bytes": os.path.getsize(path), "scored": n, "ppl": math.exp(nll / n),
                      "ref_ppl": math.exp(nll_ref / n), "kld_mean": float(k.mean()), "kld_median": float(np.median(k)),
                      "kld_p99": float(np.percentile(k, 99)), "top1_agree": top1 / n}), flush=True)
    del llm
