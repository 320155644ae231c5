#!/usr/bin/env python3
"""Stand-in for llama.cpp's convert_hf_to_gguf.py in quantd's tests (CI has no llama.cpp).

Checks that it is called exactly as quantd calls the real converter,

    convert_hf_to_gguf.py FOLDER --outtype f16 --outfile PATH

with FOLDER an absolute path to a model folder (it has config.json) and PATH an absolute path in an
existing folder, not yet there; then writes a valid F16 GGUF at PATH: a copy of ../tiny-eval-f16.gguf
(a two-layer Llama with a SentencePiece vocabulary, so the evaluate stage can run on it). Any other
call exits with status 2 and says why on standard error.
"""
import os
import shutil
import sys


def fail(message):
    print(f"stand-in converter: {message}", file=sys.stderr)
    sys.exit(2)


args = sys.argv[1:]
if len(args) != 5 or args[1:4] != ["--outtype", "f16", "--outfile"]:
    fail(f"unexpected arguments {args}")
folder, outfile = args[0], args[4]
if not os.path.isabs(folder) or not os.path.isabs(outfile):
    fail(f"expected absolute paths, got {folder} and {outfile}")
if not os.path.isfile(os.path.join(folder, "config.json")):
    fail(f"{folder} has no config.json")
if not os.path.isdir(os.path.dirname(outfile)):
    fail(f"the folder of {outfile} does not exist")
if os.path.exists(outfile):
    fail(f"{outfile} exists already")
# The real converter logs to standard error, and prints nothing else.
print(f"INFO:hf-to-gguf:Loading model: {os.path.basename(folder)}", file=sys.stderr)
here = os.path.dirname(os.path.abspath(__file__))
shutil.copyfile(os.path.join(here, "..", "tiny-eval-f16.gguf"), outfile)
print(f"INFO:hf-to-gguf:Model successfully exported to {outfile}", file=sys.stderr)
