#!/usr/bin/env python3
"""Golden vectors for the Quantization tests, made with llama.cpp's own ggml (ctypes).

Usage (from the worktree root):
    ~/.cache/gguf-oracle/venv/bin/python scripts/quant/make_golden.py \
        --lib ~/.cache/gguf-oracle/venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so \
        --out Tests/QuantizationTests/Fixtures/golden.bin

Quantize cases call ggml_quantize_chunk (the function llama-quantize uses), with and without an
importance matrix; expected dequantized values come from ggml's own to_float for that type.
Dequantize-only types (IQ grids, Q8_K) get random but valid blocks and ggml's to_float output.

--types A,B,... makes a file with only those quantize cases (and no dequantize-only cases): the
codebook types (IQ2_*, IQ1_*) have their own fixture, made with
    --types IQ2_XXS,IQ2_XS,IQ2_S,IQ1_S,IQ1_M --out Tests/QuantizationTests/Fixtures/golden_iq2.bin
ggml aborts on some inputs of these types (inf or NaN inside its search: the "huge" case);
each of their cases runs in a child process and the cases ggml aborts on are left out.

File format (little endian):
  "QGLD" u32 version=1
  u32 n_inputs;  each: str name, u32 nrows, u32 n_per_row, f32[nrows*n] src, f32[n] imatrix
  u32 n_quant;   each: u32 input, u32 type, u32 with_imatrix, u32 nbytes, bytes, u32 ndeq, f32[ndeq]
  u32 n_deq;     each: u32 type, u32 nelem, u32 nbytes, bytes, f32[nelem]
  str = u32 length + utf-8 bytes
"""
import argparse
import ctypes
import os
import struct

import numpy as np

TYPES = {  # name: ggml type id
    "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
    "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "Q8_K": 15,
    "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19, "IQ4_NL": 20, "IQ3_S": 21,
    "IQ2_S": 22, "IQ4_XS": 23, "IQ1_M": 29, "BF16": 30, "TQ1_0": 34, "TQ2_0": 35,
    "MXFP4": 39, "NVFP4": 40, "Q1_0": 41, "Q2_0": 42,
}
QUANTIZE = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K",
            "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0", "Q2_0"]
IMATRIX = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS",
           "IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"}
# Inputs ggml itself cannot quantize to some types: it aborts (GGML_ASSERT) when no grid
# candidate has a finite distance, which 1e30 magnitudes cause in the IQ3 searches.
SKIP = {"IQ3_XXS,IQ3_S": ("huge",)}
# ggml_quantize_requires_imatrix: no case without importance weights.
REQUIRES_IMATRIX = {"IQ2_XXS", "IQ2_XS", "IQ1_S"}
# Quantized in a child process (ggml may abort).
ISOLATED = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"}
DEQUANT_ONLY = ["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "Q8_K"]


class Traits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64)


class GGML:
    def __init__(self, path):
        lib = ctypes.CDLL(path)
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_void_p,
                                            ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                            ctypes.POINTER(ctypes.c_float)]
        lib.ggml_row_size.restype = ctypes.c_size_t
        lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
        lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        lib.ggml_quantize_init.argtypes = [ctypes.c_int]
        self.lib = lib

    def quantize(self, t, src, imatrix):
        nrows, n = src.shape
        src = np.ascontiguousarray(src, dtype=np.float32)
        out = ctypes.create_string_buffer(self.lib.ggml_row_size(t, n) * nrows)
        qw = imatrix.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) if imatrix is not None else None
        self.lib.ggml_quantize_init(t)
        size = self.lib.ggml_quantize_chunk(t, src.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out,
                                            0, nrows, n, qw)
        return out.raw[:size]

    def quantize_isolated(self, t, src, imatrix):
        """quantize() in a forked child; None when ggml aborts."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                data = self.quantize(t, src, imatrix)
                os.write(w, struct.pack("<I", len(data)))
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view):]
            finally:
                os._exit(0)
        os.close(w)
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        data = b"".join(chunks)
        if status != 0 or len(data) < 4:
            return None
        return data[4:4 + struct.unpack("<I", data[:4])[0]]

    def to_float(self, t, data, nelem):
        traits = self.lib.ggml_get_type_traits(t).contents
        if not traits.to_float:
            return q8_k_to_float(data, nelem) if t == TYPES["Q8_K"] else None
        fn = TO_FLOAT(traits.to_float)
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        out = np.zeros(nelem, dtype=np.float32)
        fn(ctypes.cast(buf, ctypes.c_void_p), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), nelem)
        return out


def q8_k_to_float(data, nelem):
    """ggml-base registers no to_float for Q8_K; dequantize_row_q8_K is d * q (one exact product)."""
    out = []
    for b in range(nelem // 256):
        blk = data[b * 292:(b + 1) * 292]
        d = np.frombuffer(blk[:4], dtype="<f4")[0]
        q = np.frombuffer(blk[4:260], dtype=np.int8).astype(np.float32)
        out.append(np.float32(d) * q)
    return np.concatenate(out).astype(np.float32)


def inputs(rng):
    cases = []
    n = 512
    cases.append(("normal", (rng.standard_normal((2, n)) * 0.02)))
    x = rng.standard_normal((1, n)) * 0.02
    spikes = rng.choice(n, 6, replace=False)
    x[0, spikes] *= 60
    cases.append(("outliers", x))
    x = rng.standard_normal((1, n)) * 0.05
    x[0, :64] = 0  # whole zero blocks (and a half-zero 256 super-block)
    x[0, 300:332] = 0
    cases.append(("zero_blocks", x))
    cases.append(("all_zero", np.zeros((1, n))))
    consts = np.repeat(rng.standard_normal(n // 32), 32)
    consts[64:96] = -0.5
    cases.append(("constant_blocks", consts[None, :]))
    cases.append(("tiny", rng.standard_normal((1, n)) * 1e-30))
    cases.append(("huge", rng.standard_normal((1, n)) * 1e30))
    # Ties: half-integers at the scales the legacy/absmax formats pick exactly.
    t = rng.integers(-254, 255, size=(2, n)) * 0.5
    t[0, ::32] = 127.0  # Q8_0 scale 1: roundf ties
    t[1] = rng.integers(-16, 17, size=n) * 0.5
    t[1, ::32] = -8.0  # Q4_0 scale 1: (int)(x + 8.5) ties
    cases.append(("ties", t))
    cases.append(("uniform_positive", rng.uniform(0.0, 1.0, size=(1, n))))
    cases.append(("mixed_scales", rng.standard_normal((1, n)) * np.repeat(10.0 ** rng.uniform(-4, 1, n // 16), 16)))
    # 9 blocks of 32 per row: exercises the non-multiple-of-8 tails of the lane-parallel paths
    # (only the 32-block types apply).
    cases.append(("odd_block_count", rng.standard_normal((2, 288)) * 0.02))
    # 3 super-blocks per row: the unpaired last super-block of the two-at-a-time searches.
    cases.append(("three_superblocks", rng.standard_normal((2, 768)) * 0.02))
    out = []
    for name, src in cases:
        src = np.asarray(src, dtype=np.float32)
        imat = np.exp(rng.standard_normal(src.shape[1])).astype(np.float32)
        imat[rng.choice(src.shape[1], 8, replace=False)] = 0
        out.append((name, src, imat))
    return out


def random_blocks(rng, name, nblocks):
    """Random bytes with every fp16/fp32 scale replaced by a finite, moderate value."""
    sizes = {"IQ1_S": 50, "IQ1_M": 56, "IQ2_XXS": 66, "IQ2_XS": 74, "IQ2_S": 82, "IQ3_XXS": 98,
             "IQ3_S": 110, "Q8_K": 292}
    bs = sizes[name]
    raw = bytearray(rng.integers(0, 256, size=bs * nblocks, dtype=np.uint8).tobytes())
    for b in range(nblocks):
        o = b * bs
        if name == "Q8_K":
            raw[o:o + 4] = struct.pack("<f", float(rng.standard_normal() * 0.01))
        elif name == "IQ1_M":
            # the fp16 scale is spread over the top nibbles of the four u16 scale words
            d = np.float16(abs(rng.standard_normal()) * 0.01 + 1e-4).view(np.uint16)
            for k in range(4):
                w = struct.unpack_from("<H", raw, o + 48 + 2 * k)[0]
                w = (w & 0x0FFF) | (((int(d) >> (4 * k)) & 0xF) << 12)
                struct.pack_into("<H", raw, o + 48 + 2 * k, w)
        else:
            raw[o:o + 2] = np.float16(rng.standard_normal() * 0.01).tobytes()
    return bytes(raw)


def wstr(f, s):
    b = s.encode()
    f.write(struct.pack("<I", len(b)) + b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--scale", type=int, default=1,
                    help="repeat the input cases this many times with fresh random data (local deep checks)")
    ap.add_argument("--types", help="comma-separated quantize types instead of the default list; "
                    "no dequantize-only cases (a separate fixture per group of types)")
    a = ap.parse_args()
    g = GGML(a.lib)
    rng = np.random.default_rng(a.seed)
    ins = [inp for _ in range(a.scale) for inp in inputs(rng)]
    dequant_only = [] if a.types else DEQUANT_ONLY
    quant = []
    skipped = []
    types = a.types.split(",") if a.types else QUANTIZE
    for tn in types:  # once here, so forked children inherit ggml's tables
        g.lib.ggml_quantize_init(TYPES[tn])
    for ii, (name, src, imat) in enumerate(ins):
        if name in SKIP.get(a.types, ()):
            continue
        for tn in types:
            t = TYPES[tn]
            blk = g.lib.ggml_get_type_traits(t).contents.blck_size
            if src.shape[1] % blk:
                continue
            run = g.quantize_isolated if tn in ISOLATED else g.quantize
            if tn not in REQUIRES_IMATRIX:
                q = run(t, src, None)
                if q is None:
                    skipped.append(f"{tn} {name}")
                else:
                    deq = g.to_float(t, q, src.size)
                    quant.append((ii, t, 0, q, deq))
            if tn in IMATRIX:
                qi = run(t, src, imat)
                if qi is None:
                    skipped.append(f"{tn} {name} imatrix")
                else:
                    quant.append((ii, t, 1, qi, np.zeros(0, dtype=np.float32)))
    if skipped:
        print("ggml aborted on (left out):", ", ".join(skipped))
    deqs = []
    for tn in dequant_only:
        t = TYPES[tn]
        raw = random_blocks(rng, tn, 3)
        deqs.append((t, 3 * 256, raw, g.to_float(t, raw, 3 * 256)))
    with open(a.out, "wb") as f:
        f.write(b"QGLD" + struct.pack("<I", 1))
        f.write(struct.pack("<I", len(ins)))
        for name, src, imat in ins:
            wstr(f, name)
            f.write(struct.pack("<II", *src.shape))
            f.write(src.astype("<f4").tobytes())
            f.write(imat.astype("<f4").tobytes())
        f.write(struct.pack("<I", len(quant)))
        for ii, t, wi, q, deq in quant:
            f.write(struct.pack("<IIII", ii, t, wi, len(q)) + q)
            f.write(struct.pack("<I", deq.size) + deq.astype("<f4").tobytes())
        f.write(struct.pack("<I", len(deqs)))
        for t, ne, raw, deq in deqs:
            f.write(struct.pack("<III", t, ne, len(raw)) + raw)
            f.write(deq.astype("<f4").tobytes())
    print(f"{a.out}: {len(ins)} inputs, {len(quant)} quantize cases, {len(deqs)} dequantize-only cases")


if __name__ == "__main__":
    main()
