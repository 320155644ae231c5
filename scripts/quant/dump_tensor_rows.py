#!/usr/bin/env python3
"""Writes one tensor of a GGUF model as raw little-endian f32 rows, and (with --imatrix) the
importance vector llama-quantize derives for it from an imatrix GGUF (in_sum2 / counts), so that
quantd-bench and bench_ggml.py can time the kernels on real weights with their real matrix:

    ~/.cache/gguf-oracle/venv/bin/python scripts/quant/dump_tensor_rows.py MODEL.gguf blk.3.ffn_gate.weight \\
        rows.f32 [--imatrix IMATRIX.gguf imatrix.f32]
    INPUT=rows.f32 COLS=768 IMATRIX_FILE=imatrix.f32 scripts/quant/compare_speed.sh "IQ3_XXS IQ3_S"
"""
import argparse

import numpy as np
from gguf import GGUFReader


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("tensor")
    ap.add_argument("rows")
    ap.add_argument("--imatrix", nargs=2, metavar=("IMATRIX_GGUF", "OUT"))
    a = ap.parse_args()
    tensors = {t.name: t for t in GGUFReader(a.model).tensors}
    if a.tensor not in tensors:
        raise SystemExit(f"{a.tensor}: not in {a.model}")
    t = tensors[a.tensor]
    cols = int(t.shape[0])
    rows = np.array(t.data, dtype=np.float32).reshape(-1, cols)
    rows.astype("<f4").tofile(a.rows)
    print(f"{a.rows}: {rows.shape[0]} rows of {cols}")
    if a.imatrix:
        m = {x.name: x for x in GGUFReader(a.imatrix[0]).tensors}
        sums, counts = m.get(a.tensor + ".in_sum2"), m.get(a.tensor + ".counts")
        if sums is None or counts is None:
            raise SystemExit(f"{a.tensor}: no in_sum2/counts in {a.imatrix[0]}")
        s = np.array(sums.data, dtype=np.float32).reshape(-1)
        c = float(np.array(counts.data, dtype=np.float32).reshape(-1)[0])
        if s.size != cols or not c > 0:
            raise SystemExit(f"{a.tensor}: imatrix has {s.size} values for {cols} columns, count {c}")
        (s / c).astype("<f4").tofile(a.imatrix[1])
        print(f"{a.imatrix[1]}: {cols} importance values")


if __name__ == "__main__":
    main()
