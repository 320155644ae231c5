#!/usr/bin/env python3
"""Runs llama.cpp's convert_hf_to_gguf.py, optionally with the BPE pre-tokenizer name fixed.

usage: reference_convert.py CONVERT_HF_TO_GGUF.py [--pre NAME] -- CONVERTER ARGS...

The reference identifies `tokenizer.ggml.pre` by hashing the token ids of a test string, so a
tokenizer cut down to a few hundred tokens (the committed test fixtures) is "not recognized" even
though its pre_tokenizer configuration is SmolLM2's. `--pre smollm` replaces only that lookup
(`TextModel.get_vocab_base_pre`); everything else is the reference's own code.
"""
import os, runpy, sys

def main():
    script = sys.argv[1]
    rest = sys.argv[2:]
    pre = None
    if rest[:1] == ["--pre"]:
        pre, rest = rest[1], rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    if pre is not None:
        import conversion.base as base
        base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
    sys.argv = [script] + rest
    runpy.run_path(script, run_name="__main__")

if __name__ == "__main__":
    main()
