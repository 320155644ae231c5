#!/usr/bin/env python3
"""A converter that exits with status 0 but writes something that is not a GGUF file."""
import sys

with open(sys.argv[sys.argv.index("--outfile") + 1], "wb") as f:
    f.write(b"this is not a GGUF file\n")
