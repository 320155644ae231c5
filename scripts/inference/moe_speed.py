#!/usr/bin/env python3
"""Forward-pass throughput of quantd's MoE layers against llama-perplexity, same machine, same run.

usage (from the worktree root, after `swift build -c release --product inference-bench`):
    ~/.cache/gguf-oracle/venv/bin/python scripts/inference/moe_speed.py [MODEL.gguf ...] [--threads 1 2] [--repeat 3]

Without models it measures
  moe-bench-f32.gguf   written here with make_moe_fixture.write_model: qwen3moe, hidden 256, 4 layers, 64 experts
                       of width 256 of which 8 are used, the 600-piece vocabulary (so the experts, not the output
                       matrix, are most of the work), F32
  qwen3moe-h256        the oracle's tiny Qwen3MoeForCausalLM (models/arch/qwen3moe-h256) converted to F16 by
                       convert_hf_to_gguf.py (vocabulary 49152: the output matrix is ~90 % of its multiply-adds)
Both sides run llama-perplexity's chunks (ctx 512, batch 512) of the oracle's GPL-3 excerpt; tokens/s counts
forward passes only (quantd: `inference-bench ppl`; llama.cpp: the span between "calculating perplexity" and
"Final estimate" in its log). Each repeat runs quantd then llama.cpp back to back; the medians are printed.
llama-perplexity's asynchronous log sometimes loses its last lines on a loaded machine: such a run is repeated.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
LP = os.path.join(ORACLE, "build/llama.cpp/bin/llama-perplexity")
CONVERT = os.path.join(ORACLE, "build/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py")
TEXT = os.path.join(ORACLE, "data/gpl3_excerpt.txt")
BENCH = ".build/release/inference-bench"


def make_models(d):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_moe_fixture as m
    m.H, m.E, m.K, m.FFE, m.L, m.NH = 256, 64, 8, 256, 4, 8
    bench = os.path.join(d, "moe-bench-f32.gguf")
    m.write_model(bench, "qwen3moe")
    h256 = os.path.join(d, "qwen3moe-h256-f16.gguf")
    subprocess.run([sys.executable, CONVERT, os.path.join(ORACLE, "models/arch/qwen3moe-h256"), "--outtype", "f16",
                    "--outfile", h256], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [bench, h256]


def llama_tps(model, threads):
    for _ in range(5):
        with tempfile.TemporaryFile("w+", errors="replace") as f:
            subprocess.run([LP, "-m", model, "-f", TEXT, "-c", "512", "-b", "512", "-t", str(threads)],
                           stdout=f, stderr=subprocess.STDOUT)
            f.seek(0)
            log = f.read()
        t0 = t1 = chunks = None
        for line in log.splitlines():
            m = re.match(r"(\d+)\.(\d+)\.(\d+)\.(\d+) ", line)
            if not m:
                continue
            t = int(m[1]) * 60 + int(m[2]) + int(m[3]) / 1e3 + int(m[4]) / 1e6
            if "calculating perplexity over" in line:
                t0, chunks = t, int(re.search(r"over (\d+) chunks", line)[1])
            if "Final estimate" in line:
                t1 = t
        if t0 is not None and t1 is not None:
            return chunks * 512 / (t1 - t0)
    raise RuntimeError("llama-perplexity never logged its final estimate")


def ours_tps(model, tokens, threads):
    out = subprocess.run([BENCH, "ppl", model, tokens, "--ctx", "512", "--threads", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["tokens_per_second"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import llama_cpp
    with tempfile.TemporaryDirectory() as d:
        models = a.models or make_models(d)
        print(f"{'model':32} {'threads':>7} {'quantd t/s':>11} {'llama t/s':>10} {'ratio':>6}")
        for model in models:
            llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
            toks = llm.tokenize(open(TEXT, "rb").read(), add_bos=bool(llm._model.add_bos_token()), special=False)
            del llm
            tokens = os.path.join(d, "tokens.txt")
            open(tokens, "w").write(" ".join(map(str, toks)))
            for t in a.threads:
                q, l = [], []
                for _ in range(a.repeat):
                    q.append(ours_tps(model, tokens, t))
                    l.append(llama_tps(model, t))
                ratio = statistics.median(x / y for x, y in zip(q, l))
                print(f"{os.path.basename(model):32} {t:7} {statistics.median(q):11.1f} {statistics.median(l):10.1f} "
                      f"{ratio:6.2f}")
        print("load average:", open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
