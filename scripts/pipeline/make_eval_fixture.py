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
import hashlib, json, math, os, re, subprocess, sys, tempfile
import numpy as np
import gguf

H, L, NH, NKV, FF, CTX, CHUNKS = 64, 2, 4, 2, 128, 64, 8


def vocabulary(path):
    r = gguf.GGUFReader(path)
    f = r.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode() for i in f["tokenizer.ggml.tokens"].data]
    scores = [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    return tokens, scores, types


def write_model(path, vocab_path):
    tokens, scores, types = vocabulary(vocab_path)
    V = len(tokens)
    rng = np.random.default_rng(20261125)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("quantd evaluate fixture")
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
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def mat(rows, cols, scale=1.0):  # ggml shape [cols, rows]; numpy [rows, cols]
        return (scale * rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float16)

    def norm():
        return (1 + 0.1 * rng.standard_normal(H)).astype(np.float32)

    w.add_tensor("token_embd.weight", rng.standard_normal((V, H)).astype(np.float16))
    w.add_tensor("output_norm.weight", norm())
    w.add_tensor("output.weight", mat(V, H, 1.0))
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
    write_model(f16, os.path.join(repo, "Tests/TokenizerTests/Fixtures/spm-vocab.gguf"))
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
