#!/usr/bin/env python3
"""quantd's perplexity against llama-perplexity's on one model and text, chunk by chunk, with the
noise of the gap: is a PPL difference a bias or chance?

usage: ~/.cache/gguf-oracle/venv/bin/python scripts/inference/ppl_gap.py MODEL.gguf TEXT.txt
           [--chunks 32] [--ctx 512] [--threads 2] [--quantd .build/release/quantd] [--out DIR]
           [--label NAME] [--quantd-env K=V ...]

Runs `llama-perplexity -c CTX -b CTX -t THREADS --chunks N` twice (default flags: flash attention
on; and `-fa off`), reading each chunk's mean NLL from its running estimates ([i]PPL, 4 decimals),
and quantd on the same chunks (the text tokenized once by llama.cpp's vocabulary, each chunk given
to `quantd eval --tokens`). Prints each PPL and, for every pair, the PPL gap with its standard
error over chunks (the per-chunk mean-NLL differences are paired, so the chunk-to-chunk spread of
the text itself cancels). llama.cpp's results are cached in --out (delete them to rerun);
--label/--quantd-env run a quantd variant (e.g. a different build or setting) beside them.
"""
import argparse, json, math, os, re, subprocess, sys
import numpy as np

ORACLE = os.environ.get("ORACLE_DIR", os.path.expanduser("~/.cache/gguf-oracle"))


def llama_chunks(model, text, a, flags, cache):
    if os.path.exists(cache):
        return json.load(open(cache))
    cmd = [f"{ORACLE}/build/llama.cpp/bin/llama-perplexity", "-m", model, "-f", text, "-c", str(a.ctx),
           "-b", str(a.ctx), "-t", str(a.threads), "--chunks", str(a.chunks)] + flags
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    running = [float(x) for x in re.findall(r"\[\d+\](\d+\.\d+),", out.stdout + out.stderr)]
    # running[i] = exp(mean NLL over chunks 0...i); every chunk scores the same number of tokens.
    cum = [math.log(p) * (i + 1) for i, p in enumerate(running)]
    per = [cum[0]] + [cum[i] - cum[i - 1] for i in range(1, len(cum))]
    json.dump(per, open(cache, "w"))
    return per


def quantd_chunks(model, tokens, a, env):
    per = []
    for c in range(a.chunks):
        path = os.path.join(a.out, "chunk.txt")
        open(path, "w").write(" ".join(map(str, tokens[c * a.ctx:(c + 1) * a.ctx])))
        out = subprocess.run([a.quantd, "eval", model, "--tokens", path, "--ctx", str(a.ctx),
                              "--threads", str(a.threads), "--json"],
                             capture_output=True, text=True, check=True, env=env)
        per.append(math.log(json.loads(out.stdout)["perplexity"]))
    return per


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model"); ap.add_argument("text")
    ap.add_argument("--chunks", type=int, default=32); ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quantd", default=".build/release/quantd")
    ap.add_argument("--out", default="/tmp/quantd-ppl-gap")
    ap.add_argument("--label", default="quantd")
    ap.add_argument("--quantd-env", nargs="*", default=[])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    import llama_cpp
    vocab = llama_cpp.Llama(model_path=a.model, vocab_only=True, verbose=False)
    raw = open(a.text, "rb").read()
    if raw.endswith(b"\n"):
        raw = raw[:-1]  # llama-perplexity's -f drops one trailing newline
    tokens = vocab.tokenize(raw, add_bos=bool(vocab._model.add_bos_token()), special=False)
    a.chunks = min(a.chunks, len(tokens) // a.ctx)
    tag = f"{os.path.basename(a.model)}.{os.path.basename(a.text)}.{a.chunks}x{a.ctx}"
    runs = {
        "llama default": llama_chunks(a.model, a.text, a, [], os.path.join(a.out, tag + ".default.json")),
        "llama -fa off": llama_chunks(a.model, a.text, a, ["-fa", "off"], os.path.join(a.out, tag + ".fa-off.json")),
    }
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in a.quantd_env))
    runs[a.label] = quantd_chunks(a.model, tokens, a, env)
    json.dump(runs[a.label], open(os.path.join(a.out, f"{tag}.{a.label}.json"), "w"))
    print(f"{os.path.basename(a.model)} on {os.path.basename(a.text)}: {len(tokens)} tokens, {a.chunks} chunks of {a.ctx}, "
          f"{a.chunks * (a.ctx - 1 - a.ctx // 2)} scored")
    for name, per in runs.items():
        print(f"  {name:16s} PPL {math.exp(np.mean(per)):.4f}")
    names = list(runs)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            d = np.array(runs[names[j]]) - np.array(runs[names[i]])
            se = d.std(ddof=1) / math.sqrt(len(d))
            print(f"  {names[j]} vs {names[i]}: {100 * math.expm1(d.mean()):+.3f} % "
                  f"(± {100 * se:.3f} % standard error over chunks, t = {d.mean() / se:+.1f})")


if __name__ == "__main__":
    main()
