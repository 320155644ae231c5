#!/usr/bin/env python3
"""Writes a small GGUF with gguf-py (the reference writer): every metadata value type, arrays of
each element type, and tensors of several ggml types. Used for quantd's interop tests and as the
README's sample file:

    python3 scripts/interop/gguf_write_sample.py examples/sample.gguf

Deterministic: the same gguf-py version writes the same bytes."""
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as T, GGMLQuantizationType as Q

out = sys.argv[1]
w = gguf.GGUFWriter(out, arch="llama")
w.add_name("quantd sample")
w.add_context_length(2048)
w.add_embedding_length(64)
w.add_block_count(1)
w.add_head_count(4)
w.add_layer_norm_rms_eps(1e-5)
w.add_key_value("sample.u8", 200, T.UINT8)
w.add_key_value("sample.i8", -100, T.INT8)
w.add_key_value("sample.u16", 60000, T.UINT16)
w.add_key_value("sample.i16", -30000, T.INT16)
w.add_key_value("sample.u32", 4000000000, T.UINT32)
w.add_key_value("sample.i32", -2000000000, T.INT32)
w.add_key_value("sample.f32", 0.1, T.FLOAT32)
w.add_key_value("sample.u64", 18000000000000000000, T.UINT64)
w.add_key_value("sample.i64", -9000000000000000000, T.INT64)
w.add_key_value("sample.f64", 0.1, T.FLOAT64)
w.add_key_value("sample.bool_true", True, T.BOOL)
w.add_key_value("sample.bool_false", False, T.BOOL)
w.add_key_value("sample.string", "héllo, wörld ✓ \"quoted\"\n\ttab", T.STRING)
w.add_key_value("sample.empty_string", "", T.STRING)
for name, sub, vals in [
    ("u8", T.UINT8, [0, 1, 255]), ("i8", T.INT8, [-128, 0, 127]), ("u16", T.UINT16, [0, 65535]),
    ("i16", T.INT16, [-32768, 32767]), ("u32", T.UINT32, [0, 4294967295]), ("i32", T.INT32, [-5, 7]),
    ("f32", T.FLOAT32, [1.5, -0.25, 3.0e-8]), ("u64", T.UINT64, [0, 2**64 - 1]), ("i64", T.INT64, [-(2**63), 2**63 - 1]),
    ("f64", T.FLOAT64, [1e300, -2.5]), ("bool", T.BOOL, [True, False, True]),
    ("string", T.STRING, ["a", "", "ü", "<|im_start|>"]),
]:
    w.add_key_value(f"sample.array_{name}", vals, T.ARRAY, sub_type=sub)
w.add_tokenizer_model("gpt2")
w.add_token_list(["<unk>", "a", "b", "ab"])

rng = np.random.default_rng(7)
w.add_tensor("token_embd.weight", rng.standard_normal((4, 64)).astype(np.float16))
w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((64, 64)).astype(np.float32))
q8 = gguf.quants.quantize(rng.standard_normal((8, 64)).astype(np.float32), Q.Q8_0)
w.add_tensor("blk.0.ffn_up.weight", q8, raw_dtype=Q.Q8_0)
q4 = gguf.quants.quantize(rng.standard_normal((8, 64)).astype(np.float32), Q.Q4_0)
w.add_tensor("blk.0.ffn_down.weight", q4, raw_dtype=Q.Q4_0)
w.add_tensor("blk.0.attn_k.weight", np.arange(3 * 2 * 32, dtype=np.float32).reshape(3, 2, 32).astype(np.float16))
w.add_tensor("blk.0.ids", np.arange(10, dtype=np.int32))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
