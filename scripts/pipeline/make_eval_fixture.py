#!/usr/bin/env python3
"""Builds the evaluate stage's fixtures in Tests/PipelineTests/Fixtures: a tiny random Llama with a
real (SentencePiece) vocabulary, and llama-perplexity's numbers for it on quantd's built-in
evaluation text.

usage (from the worktree root, with the oracle's venv):
    ~/.cache/gguf-oracle/venv/bin/python scripts/pipeline/make_eval_fixture.py ~/.cache/gguf-oracle Tests/PipelineTests/Fixtures

Writes
  tiny-eval-f16.gguf   hidden 64, 2 layers, 4 heads / 2 kv heads, ffn 128, untied output, F16 matrices;
                       the vocabulary is Tests/TokenizerTests/Fixtures/spm-vocab.gguf's (600-piece
                       SentencePiece BPE with byte fallback), add_bos_token true
  eval-expected.json   for the first CHUNKS chunks of CTX tokens of the built-in text
                       (Sources/Pipeline/Texts/EvaluationText.swift, extracted verbatim): the F16
                       model's perplexity, and for Q8_0 and Q4_0 made by llama-quantize
                       (quantize_ref.py) their SHA-256 and llama-perplexity --kl-divergence's
                       statistics against the F16 model, with the commands that made them
The weights come from a fixed seed, so the files are the same on every run.
"""
import hashlib, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from tiny_llama import write_tiny_llama  # noqa: E402

CTX, CHUNKS = 64, 8


def builtin_text(repo):
    src = open(os.path.join(repo, "Sources/Pipeline/Texts/EvaluationText.swift"), encoding="utf-8").read()
    return re.search(r'#"""\n(.*)\n"""#', src, re.S).group(1)


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout + out.stderr


def number(log, label):
    m = re.search(re.escape(label) + r"\s*:\s*(-?[0-9.]+)", log)
    return float(m.group(1))


def main():
    oracle, out = os.path.expanduser(sys.argv[1]), sys.argv[2]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    perplexity = os.path.join(oracle, "build/llama.cpp/bin/llama-perplexity")
    f16 = os.path.join(out, "tiny-eval-f16.gguf")
    write_tiny_llama(f16, os.path.join(repo, "Tests/TokenizerTests/Fixtures/spm-vocab.gguf"),
                     name="quantd evaluate fixture", seed=20261125)
    tmp = tempfile.mkdtemp()
    text = os.path.join(tmp, "text.txt")
    open(text, "w", encoding="utf-8").write(builtin_text(repo))
    common = ["-f", text, "-c", str(CTX), "--chunks", str(CHUNKS), "-t", "2", "-b", str(CTX)]
    base = os.path.join(tmp, "base.kld")
    cmd = [perplexity, "-m", "tiny-eval-f16.gguf"] + common + ["--kl-divergence-base", "base.kld"]
    log = run([perplexity, "-m", f16] + common + ["--kl-divergence-base", base])
    ppl = float(re.search(r"Final estimate: PPL = ([0-9.]+)", log).group(1))
    expected = {"ctx": CTX, "chunks": CHUNKS, "tokens": CTX * CHUNKS, "source_perplexity": ppl,
                "commands": [" ".join(cmd).replace(text, "TEXT").replace(perplexity, "llama-perplexity")], "artifacts": {}}
    for mix in ("Q8_0", "Q4_0"):
        q = os.path.join(tmp, f"{mix}.gguf")
        subprocess.run([sys.executable, os.path.join(oracle, "quantize_ref.py"), f16, q, mix], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = run([perplexity, "-m", q] + common + ["--kl-divergence-base", base, "--kl-divergence"])
        expected["commands"].append(f"quantize_ref.py tiny-eval-f16.gguf {mix}.gguf {mix}; llama-perplexity -m {mix}.gguf "
                                    + " ".join(common).replace(text, "TEXT") + " --kl-divergence-base base.kld --kl-divergence")
        expected["artifacts"][mix] = {
            "sha256": hashlib.sha256(open(q, "rb").read()).hexdigest(),
            "perplexity": number(log, "Mean PPL(Q)"), "source_perplexity": number(log, "Mean PPL(base)"),
            "kld_mean": number(log, "Mean    KLD"), "kld_median": number(log, "Median  KLD"),
            "kld_p99": number(log, "99.0%   KLD"), "kld_max": number(log, "Maximum KLD"),
            "rms_delta_p": number(log, "RMS Δp") / 100, "top1_agreement": number(log, "Same top p") / 100,
        }
    json.dump(expected, open(os.path.join(out, "eval-expected.json"), "w"), indent=1)
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
