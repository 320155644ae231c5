#!/usr/bin/env python3
"""Byte-identity fixture for mixture-of-experts quantization.

Writes a small seeded qwen2moe F16 GGUF (4 layers, 4 experts whose down projections have rows of
160, so K-quants fall back there, a shared expert, biases, norms, an untied output), a synthetic
importance matrix for it in llama-imatrix's GGUF layout (per-expert counts, one expert never
routed to and one fractional count, which llama-quantize rounds), then runs the oracle's
llama-quantize on the model for several mixes, with and without the matrix, and records each
output's SHA-256 and every tensor's type and SHA-256.

The model itself is not committed: Tests/PipelineTests/SyntheticMoEModel.swift writes the same
bytes at test time (the generator below is its twin; the fixture records the file's SHA-256 so
the test can prove that). Run with the oracle's Python (gguf-py, numpy):

    ~/.cache/gguf-oracle/venv/bin/python scripts/pipeline/make_moe_fixture.py ~/.cache/gguf-oracle \
        Tests/PipelineTests/Fixtures

Writes Fixtures/tiny-moe.imatrix.gguf and Fixtures/tiny-moe-expected.json.

The generator: tensors are numbered in the order listed by `tensors()`; element i (flat, ne0
fastest) of tensor t takes h = splitmix64((t << 40) | i) and k = (h >> 53) - 1024. F16 matrices
hold k * 2^-(12 + t % 3), times 16 when h & 255 == 0 (an outlier), times 1/2 in odd experts;
F32 norms hold 1 + k * 2^-12, F32 biases and routers ("f32") k * 2^-12. Every value is exact in its type.
"""
import hashlib
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import gguf

HIDDEN, HEADS, KV_HEADS, LAYERS, EXPERTS, USED, FF_EXP, FF_SHEXP, VOCAB = 256, 4, 1, 4, 4, 2, 160, 256, 300
HEAD_DIM = HIDDEN // HEADS
MIXES = ["Q4_K_M", "Q2_K", "Q3_K_S", "Q6_K", "IQ4_XS", "Q8_0", "Q4_0", "Q5_K_S", "MXFP4_MOE", "Q2_0", "TQ1_0"]
IMATRIX_MIXES = ["Q4_K_M", "IQ4_XS", "Q2_K_S", "Q3_K_M", "Q4_0"]


def tensors():
    """(name, GGUF dims with ne0 first, 'f16' | 'norm' | 'f32'), in the file's order."""
    out = [("token_embd.weight", [HIDDEN, VOCAB], "f16"), ("output_norm.weight", [HIDDEN], "norm"),
           ("output.weight", [HIDDEN, VOCAB], "f16")]
    kv = KV_HEADS * HEAD_DIM
    for i in range(LAYERS):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", [HIDDEN], "norm"),
                (b + "attn_q.weight", [HIDDEN, HIDDEN], "f16"), (b + "attn_q.bias", [HIDDEN], "f32"),
                (b + "attn_k.weight", [HIDDEN, kv], "f16"), (b + "attn_k.bias", [kv], "f32"),
                (b + "attn_v.weight", [HIDDEN, kv], "f16"), (b + "attn_v.bias", [kv], "f32"),
                (b + "attn_output.weight", [HIDDEN, HIDDEN], "f16"),
                (b + "ffn_norm.weight", [HIDDEN], "norm"),
                (b + "ffn_gate_inp.weight", [HIDDEN, EXPERTS], "f32"),
                (b + "ffn_gate_exps.weight", [HIDDEN, FF_EXP, EXPERTS], "f16"),
                (b + "ffn_up_exps.weight", [HIDDEN, FF_EXP, EXPERTS], "f16"),
                (b + "ffn_down_exps.weight", [FF_EXP, HIDDEN, EXPERTS], "f16"),
                (b + "ffn_gate_inp_shexp.weight", [HIDDEN], "f32"),
                (b + "ffn_gate_shexp.weight", [HIDDEN, FF_SHEXP], "f16"),
                (b + "ffn_up_shexp.weight", [HIDDEN, FF_SHEXP], "f16"),
                (b + "ffn_down_shexp.weight", [FF_SHEXP, HIDDEN], "f16")]
    return out


def splitmix64(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def values(t, dims, kind):
    n = int(np.prod(dims))
    i = np.arange(n, dtype=np.uint64)
    h = splitmix64((np.uint64(t) << np.uint64(40)) | i)
    k = (h >> np.uint64(53)).astype(np.int64) - 1024
    if kind == "norm":
        return (1.0 + k * 2.0 ** -12).astype(np.float32)
    if kind == "f32":
        return (k * 2.0 ** -12).astype(np.float32)
    v = k * 2.0 ** -(12 + t % 3)
    v = np.where((h & np.uint64(255)) == 0, v * 16, v)
    if len(dims) == 3:
        expert = np.arange(n) // (dims[0] * dims[1])
        v = np.where(expert % 2 == 1, v / 2, v)
    return v.astype(np.float16)


def write_model(path):
    w = gguf.GGUFWriter(str(path), "qwen2moe")
    a = "qwen2moe."
    for key, value in [("context_length", 256), ("embedding_length", HIDDEN), ("block_count", LAYERS),
                       ("feed_forward_length", FF_SHEXP), ("attention.head_count", HEADS),
                       ("attention.head_count_kv", KV_HEADS)]:
        w.add_uint32(a + key, value)
    w.add_float32(a + "attention.layer_norm_rms_epsilon", 2.0 ** -20)
    for key, value in [("expert_count", EXPERTS), ("expert_used_count", USED),
                       ("expert_feed_forward_length", FF_EXP), ("expert_shared_feed_forward_length", FF_SHEXP)]:
        w.add_uint32(a + key, value)
    w.add_uint32("general.file_type", 1)
    for t, (name, dims, kind) in enumerate(tensors()):
        w.add_tensor(name, values(t, dims, kind).reshape(list(reversed(dims))))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_imatrix(path, drop=None):
    """One entry per matrix llama.cpp multiplies by (output excluded, as llama-imatrix does by
    default): sums [ne0, experts] and counts [1, experts], as llama-imatrix writes them. `drop`:
    leave that entry out (the other entries keep their values)."""
    w = gguf.GGUFWriter(str(path), arch="")
    w.kv_data[0].clear()  # no general.architecture in an imatrix
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["synthetic"])
    w.add_uint32("imatrix.chunk_count", 3)
    w.add_uint32("imatrix.chunk_size", 64)
    entries = []
    for name, dims, kind in tensors():
        if kind != "f16" or name in ("token_embd.weight", "output.weight"):
            continue
        entries.append((name, dims[0], dims[2] if len(dims) == 3 else 1))
    entries.append(("blk.0.ffn_gate_inp.weight", HIDDEN, 1))
    for e, (name, ne0, nmat) in enumerate(sorted(entries)):
        if nmat == 1:
            counts = np.array([192.0], dtype=np.float32)
        else:
            # expert 1 never routed to in layer 1; a fractional count in layer 2 (rounds to 3)
            layer = int(name.split(".")[1])
            counts = np.array([7.0, 0.0 if layer == 1 else 12.0, 2.5 if layer == 2 else 5.0, 9.0][:nmat], dtype=np.float32)
        h = splitmix64((np.uint64(1000 + e) << np.uint64(40)) | np.arange(ne0 * nmat, dtype=np.uint64))
        m = (h >> np.uint64(48)).astype(np.float64)  # 0..65535
        sums = ((1.0 + m / 4096.0) * np.repeat(np.maximum(counts, 1.0), ne0)).astype(np.float32)
        if name == drop:
            continue
        w.add_tensor(name + ".counts", counts.reshape(nmat, 1))
        w.add_tensor(name + ".in_sum2", sums.reshape(nmat, ne0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ggml types the outputs use: id -> (name, elements per block, bytes per block). A table of our
# own because gguf-py 0.19 does not know the newest types (Q1_0, Q2_0).
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
         7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
         12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 20: ("IQ4_NL", 32, 18),
         23: ("IQ4_XS", 256, 136), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
         39: ("MXFP4", 32, 17), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18)}


def describe(path):
    """[name, type, sha256 of its data] per tensor, from the file's own header."""
    return [[name, type_name, digest] for name, _, type_name, digest in read_tensors(path)]


def read_tensors(path):
    """(name, dims, type, sha256 of its data) per tensor, from the file's own header."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return value[0]

    def string():
        nonlocal pos
        n = take("Q")
        pos += n
        return data[pos - n:pos].decode()

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(kind):
        if kind == 8:
            return string()
        if kind == 9:
            inner, n = take("I"), take("Q")
            return [value(inner) for _ in range(n)]
        return take(scalar[kind])

    assert data[:4] == b"GGUF"
    pos = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    alignment = 32
    for _ in range(n_kv):
        key = string()
        v = value(take("I"))
        if key == "general.alignment":
            alignment = v
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        kind, offset = take("I"), take("Q")
        infos.append((name, dims, kind, offset))
    start = (pos + alignment - 1) // alignment * alignment
    out = []
    for name, dims, kind, offset in infos:
        type_name, block, size = TYPES[kind]
        count = int(np.prod(dims))
        nbytes = count // block * size
        out.append((name, dims, type_name, hashlib.sha256(data[start + offset:start + offset + nbytes]).hexdigest()))
    return out


def main():
    oracle = Path(sys.argv[1]).expanduser()
    fixtures = Path(sys.argv[2])
    work = Path("/tmp/quantd-moe-fixture")
    work.mkdir(exist_ok=True)
    model = work / "tiny-moe-f16.gguf"
    write_model(model)
    imatrix = fixtures / "tiny-moe.imatrix.gguf"
    write_imatrix(imatrix)
    quantize = oracle / "build/llama.cpp/bin/llama-quantize"
    result = {"llama_cpp": "0c1e57098", "model_sha256": sha(model), "plain": {}, "imatrix": {},
              "command": f"llama-quantize [--imatrix {imatrix.name}] tiny-moe-f16.gguf OUT.gguf MIX 2"}
    # Run beside the matrix and name it without a folder: quantize.imatrix.file records the name
    # as given, and the tests give the same one.
    for key, mixes, extra in [("plain", MIXES, []), ("imatrix", IMATRIX_MIXES, ["--imatrix", imatrix.name])]:
        for mix in mixes:
            out = work / f"{mix}{'-imatrix' if extra else ''}.gguf"
            run = subprocess.run([str(quantize), *extra, str(model), str(out), mix, "2"], capture_output=True, text=True,
                                 cwd=fixtures)
            if run.returncode != 0:
                raise SystemExit(f"llama-quantize {mix} {extra} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
            result[key][mix] = {"sha256": sha(out), "tensors": describe(out)}
            print(key, mix, result[key][mix]["sha256"])
    # An entry missing for a tensor that needs one: llama-quantize refuses the mix and names it.
    dropped = "blk.2.ffn_up_exps.weight"
    partial = work / "partial.imatrix.gguf"
    write_imatrix(partial, drop=dropped)
    run = subprocess.run([str(quantize), "--imatrix", str(partial), str(model), str(work / "refused.gguf"), "Q2_K_S", "2"],
                         capture_output=True, text=True)
    refused = re.search(r"Missing importance matrix for tensor (\S+)", run.stdout + run.stderr)
    assert run.returncode != 0 and refused, "llama-quantize should refuse Q2_K_S without the entry"
    result["missing_entry"] = {"mix": "Q2_K_S", "dropped": dropped, "refused": refused.group(1)}
    target = fixtures / "tiny-moe-expected.json"
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes), {imatrix} ({imatrix.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
