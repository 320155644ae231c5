#!/usr/bin/env python3
"""Single-thread throughput of ggml's own quantizers (ggml_quantize_chunk via ctypes), in MB/s of
f32 input, for comparison with quantd-bench on the same shape.

    ~/.cache/gguf-oracle/venv/bin/python scripts/quant/bench_ggml.py \
        --lib ~/.cache/gguf-oracle/venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so \
        [--rows 512] [--cols 2048] [--imatrix] [--types Q4_K,Q8_0] [--input rows.f32 [--imatrix-file w.f32]]
"""
import argparse
import time

import numpy as np

from make_golden import GGML, TYPES

DEFAULT = "F16,BF16,Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,IQ4_NL,IQ4_XS,TQ1_0,TQ2_0,MXFP4"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--cols", type=int, default=2048)
    ap.add_argument("--imatrix", action="store_true")
    ap.add_argument("--types", default=DEFAULT)
    ap.add_argument("--min-seconds", type=float, default=0.5)
    ap.add_argument("--input", help="raw little-endian f32 rows of --cols values")
    ap.add_argument("--imatrix-file", help="raw little-endian f32, --cols importance values (implies --imatrix)")
    a = ap.parse_args()
    g = GGML(a.lib)
    rng = np.random.default_rng(1)
    if a.input:
        x = np.fromfile(a.input, dtype="<f4")
        x = x[: x.size // a.cols * a.cols].reshape(-1, a.cols)
    else:
        x = (rng.standard_normal((a.rows, a.cols)) * 0.03).astype(np.float32)
    w = (np.abs(rng.standard_normal(a.cols)) * 4 + 0.01).astype(np.float32)
    if a.imatrix_file:
        w = np.fromfile(a.imatrix_file, dtype="<f4")
        if w.size != a.cols:
            raise SystemExit(f"{a.imatrix_file}: {w.size} values, need --cols {a.cols}")
        a.imatrix = True
    mb = x.nbytes / 1e6
    print(f"ggml: {a.rows} x {a.cols} f32 ({mb:.1f} MB), imatrix: {a.imatrix}")
    for tn in a.types.split(","):
        t = TYPES[tn]
        passes, start, cpu0 = 0, time.perf_counter(), time.process_time()
        while True:
            g.quantize(t, x, w if a.imatrix else None)
            passes += 1
            el = time.perf_counter() - start
            if el >= a.min_seconds:
                break
        cpu = (time.process_time() - cpu0) / passes
        print(f"{tn:8s} {mb / (el / passes):9.1f} MB/s {el / passes * 1000:9.1f} ms/pass {mb / cpu:9.1f} cpu-MB/s")


if __name__ == "__main__":
    main()
