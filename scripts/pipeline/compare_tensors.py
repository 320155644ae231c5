#!/usr/bin/env python3
"""Tensor-by-tensor comparison of two GGUF files by name, shape, type and data SHA-256, for any
ggml type (gguf-py 0.19, and so compare_gguf.py, cannot read Q1_0/Q2_0 files). Exit 0 iff every
tensor is identical.

    python3 scripts/pipeline/compare_tensors.py A.gguf B.gguf
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_moe_fixture import read_tensors  # noqa: E402

a, b = (read_tensors(p) for p in sys.argv[1:3])
if [t[0] for t in a] != [t[0] for t in b]:
    print("tensor lists differ")
    sys.exit(1)
differ = [(x, y) for x, y in zip(a, b) if x != y]
for x, y in differ:
    print(f"{x[0]:40} A {x[2]} {x[1]}  B {y[2]} {y[1]}{'  data differs' if x[3] != y[3] else ''}")
print(f"{len(a) - len(differ)} identical, {len(differ)} different")
sys.exit(1 if differ else 0)
