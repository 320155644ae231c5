#!/usr/bin/env python3
"""Tokens per second of llama-cpp-python's tokenize on a text (the reference for bench.swift).
    ~/.cache/gguf-oracle/venv/bin/python scripts/tokenizer/bench_llama.py VOCAB.gguf TEXT.txt [PASSES]"""
import sys, time
import llama_cpp

path, text_path = sys.argv[1], sys.argv[2]
passes = int(sys.argv[3]) if len(sys.argv) > 3 else 20
data = open(text_path, encoding="utf-8").read().encode("utf-8")
llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
ids = llm.tokenize(data, add_bos=False, special=True)
t = time.perf_counter()
for _ in range(passes):
    llm.tokenize(data, add_bos=False, special=True)
dt = (time.perf_counter() - t) / passes
print(f"{len(ids)} tokens; {len(ids) / dt:.0f} tokens/s ({passes} passes)")
