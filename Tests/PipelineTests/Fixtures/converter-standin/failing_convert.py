#!/usr/bin/env python3
"""A converter that fails as llama.cpp's does on a model it cannot convert: it starts the output
file, logs to standard error, raises, and exits with status 3. quantd must show the end of standard
error and the status, and leave nothing behind."""
import sys

outfile = sys.argv[sys.argv.index("--outfile") + 1]
with open(outfile, "wb") as f:
    f.write(b"GGUF partial")
print("INFO:hf-to-gguf:Loading model: model", file=sys.stderr)
print("Traceback (most recent call last):", file=sys.stderr)
print("NotImplementedError: Architecture 'OrionForCausalLM' tensor 'model.extra' is not supported", file=sys.stderr)
sys.exit(3)
