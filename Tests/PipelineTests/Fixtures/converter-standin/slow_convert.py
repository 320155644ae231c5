#!/usr/bin/env python3
"""A converter that takes long: it starts the output file and sleeps for 60 s. quantd must stop it
when the job is cancelled, and remove what it wrote."""
import sys
import time

with open(sys.argv[sys.argv.index("--outfile") + 1], "wb") as f:
    f.write(b"GGUF partial")
time.sleep(60)
