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
import os, subprocess, sys
import gguf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from tiny_llama import write_tiny_llama  # noqa: E402

ORACLE = os.path.expanduser("~/.cache/gguf-oracle")
IMATRIX = os.path.join(ORACLE, "build/llama.cpp/bin/llama-imatrix")


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
    write_tiny_llama(model, "Tests/TokenizerTests/Fixtures/spm-vocab.gguf", name="quantd imatrix fixture",
                     seed=20261124 + 8, output_scale=2)
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
