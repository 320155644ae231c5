#!/usr/bin/env python3
"""Makes the pipeline tests' fixture: a tiny seeded random Llama in F16 (hidden 256, so every
K-quant applies; one layer; 32-token vocabulary), ~1 MB, and the SHA-256 of what llama.cpp's
llama_model_quantize (the oracle's quantize_ref.py, i.e. llama-quantize) makes of it for several
mixes, with and without an importance matrix that this script also writes (legacy .dat format,
deterministic). Run with the oracle's python:

    ~/.cache/gguf-oracle/venv/bin/python scripts/pipeline/make_tiny_gguf.py ~/.cache/gguf-oracle Tests/PipelineTests/Fixtures
"""
import hashlib, json, os, struct, subprocess, sys
from pathlib import Path
import numpy as np
import gguf

oracle, out = Path(sys.argv[1]).expanduser(), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261124)
H, F, V, HEADS, KV = 256, 512, 32, 4, 2
model = out / "tiny-llama-f16.gguf"
w = gguf.GGUFWriter(str(model), arch="llama")
w.add_name("tiny llama"); w.add_context_length(128); w.add_embedding_length(H); w.add_block_count(1)
w.add_feed_forward_length(F); w.add_head_count(HEADS); w.add_head_count_kv(KV); w.add_rope_dimension_count(H // HEADS)
w.add_layer_norm_rms_eps(1e-5); w.add_file_type(1); w.add_vocab_size(V)
w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre("default")
w.add_token_list([f"t{i}" for i in range(V)]); w.add_token_types([1] * V)
def mat(rows, cols, scale=0.05):
    m = rng.standard_normal((rows, cols)).astype(np.float32) * scale
    m[rng.integers(0, rows), rng.integers(0, cols)] = 1.5   # one outlier per matrix
    return m.astype(np.float16)
w.add_tensor("token_embd.weight", mat(V, H))
w.add_tensor("output_norm.weight", np.ones(H, dtype=np.float32))
w.add_tensor("output.weight", mat(V, H))
w.add_tensor("blk.0.attn_norm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float32))
w.add_tensor("blk.0.attn_q.weight", mat(H, H)); w.add_tensor("blk.0.attn_k.weight", mat(H * KV // HEADS, H))
w.add_tensor("blk.0.attn_v.weight", mat(H * KV // HEADS, H)); w.add_tensor("blk.0.attn_output.weight", mat(H, H))
w.add_tensor("blk.0.ffn_norm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float32))
w.add_tensor("blk.0.ffn_gate.weight", mat(F, H)); w.add_tensor("blk.0.ffn_up.weight", mat(F, H))
w.add_tensor("blk.0.ffn_down.weight", mat(H, F))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

# The same importance matrix in both llama.cpp formats. Mean values are multiples of 1/16 and
# counts are 16, so sums are exact in float and both normalise to exactly the same weights.
entries = {n: c for n, c in [("blk.0.attn_q.weight", H), ("blk.0.attn_k.weight", H), ("blk.0.attn_v.weight", H),
                             ("blk.0.attn_output.weight", H), ("blk.0.ffn_gate.weight", H), ("blk.0.ffn_up.weight", H),
                             ("blk.0.ffn_down.weight", F), ("output.weight", H)]}
means = {n: rng.integers(1, 256, c).astype(np.float32) / 16 for n, c in entries.items()}
imatrix = out / "tiny-llama.imatrix.gguf"
iw = gguf.GGUFWriter(str(imatrix), arch="imatrix")
iw.add_type("imatrix")
iw.add_array("imatrix.datasets", ["tiny-calibration.txt"])
iw.add_uint32("imatrix.chunk_count", 3); iw.add_uint32("imatrix.chunk_size", 512)
for name, m in means.items():
    iw.add_tensor(f"{name}.in_sum2", (m * 16).reshape(1, -1))
    iw.add_tensor(f"{name}.counts", np.array([[16.0]], dtype=np.float32))
iw.write_header_to_file(); iw.write_kv_data_to_file(); iw.write_tensors_to_file(); iw.close()
legacy = out / "tiny-llama.imatrix.dat"
with open(legacy, "wb") as f:
    f.write(struct.pack("<i", len(means)))
    for name, m in means.items():
        f.write(struct.pack("<i", len(name))); f.write(name.encode())
        f.write(struct.pack("<ii", 16, m.size)); f.write((m * 16).tobytes())
    f.write(struct.pack("<i", 3)); ds = b"tiny-calibration.txt"; f.write(struct.pack("<i", len(ds))); f.write(ds)

expected = {"model": model.name, "imatrix": imatrix.name, "imatrix_legacy": legacy.name, "plain": {}, "imatrix_mixes": {}}
for mix in ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "Q3_K_M", "Q2_K", "Q4_0", "Q5_1", "IQ4_XS", "IQ4_NL", "TQ2_0", "BF16", "Q2_K_S",
            "IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"]:
    for key, extra in (("plain", []), ("imatrix_mixes", ["--imatrix", imatrix.name])):
        if key == "imatrix_mixes" and mix in ("Q8_0", "TQ2_0", "BF16"):
            continue
        if key == "plain" and mix in ("Q2_K_S", "IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            continue  # llama-quantize refuses these without an importance matrix
        dest = Path("/tmp") / f"tiny-{mix}-{key}.gguf"
        # Run from the fixture folder so quantize.imatrix.file records the bare file name.
        subprocess.run([str(oracle / "venv/bin/python"), str(oracle / "quantize_ref.py"), model.name, str(dest), mix, "--nthread", "1", *extra],
                       cwd=out, check=True, capture_output=True)
        expected[key][mix] = hashlib.sha256(dest.read_bytes()).hexdigest()
(out / "tiny-llama-expected.json").write_text(json.dumps(expected, indent=1) + "\n")
print(f"wrote {model} ({model.stat().st_size} bytes), {imatrix}, tiny-llama-expected.json")
