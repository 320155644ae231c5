#!/usr/bin/env python3
"""Makes Tests/PipelineTests/Fixtures/tiny-trailing-one-f16.gguf and trailing-one-expected.json: the
evaluate fixture (tiny-eval-f16.gguf) plus one F16 tensor of shape [64, 1] per layer,
`blk.N.ffn_gate_inp_shexp.weight`, as convert_hf_to_gguf.py writes Qwen2-MoE / Qwen3-Next shared-expert
gates (a numpy (1, 64) array); and the SHA-256 of what llama-quantize makes of it for a few mixes.
llama-quantize writes such a tensor with one dimension, [64] (gguf writes ggml_n_dims dimensions).

    ~/.cache/gguf-oracle/venv/bin/python scripts/pipeline/make_trailing_dim_fixture.py ~/.cache/gguf-oracle Tests/PipelineTests/Fixtures

Deterministic: the extra values come from a fixed seed.
"""
import hashlib, json, os, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
import gguf

oracle, out = Path(sys.argv[1]).expanduser(), Path(sys.argv[2])
source = gguf.GGUFReader(str(out / "tiny-eval-f16.gguf"))
model = out / "tiny-trailing-one-f16.gguf"
arch = source.fields["general.architecture"].contents()
w = gguf.GGUFWriter(str(model), arch)
for field in source.fields.values():
    if field.name.startswith("GGUF.") or field.name == "general.architecture":
        continue
    vtype = field.types[0]
    sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
rng = np.random.default_rng(20261207)
layers = source.fields[f"{arch}.block_count"].contents()
extra = {f"blk.{i}.ffn_gate_inp_shexp.weight": (0.1 * rng.standard_normal((1, 64))).astype(np.float16) for i in range(layers)}
for t in source.tensors:
    # the reader's data has numpy's shape (reversed ggml dimensions) already
    w.add_tensor(t.name, np.array(t.data), raw_dtype=t.tensor_type)
for name, values in extra.items():
    w.add_tensor(name, values)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

quantize = oracle / "build/llama.cpp/bin/llama-quantize"
expected = {"source": model.name, "command": "llama-quantize tiny-trailing-one-f16.gguf OUT.gguf MIX", "artifacts": {}}
with tempfile.TemporaryDirectory() as tmp:
    for mix in ("Q8_0", "Q4_K_M", "F16"):
        dest = os.path.join(tmp, mix + ".gguf")
        subprocess.run([str(quantize), str(model), dest, mix], check=True, capture_output=True)
        reader = gguf.GGUFReader(dest)
        shape = [int(d) for d in next(t for t in reader.tensors if t.name == "blk.0.ffn_gate_inp_shexp.weight").shape]
        expected["artifacts"][mix] = {"sha256": hashlib.sha256(open(dest, "rb").read()).hexdigest(),
                                      "ffn_gate_inp_shexp_dimensions": shape}
(out / "trailing-one-expected.json").write_text(json.dumps(expected, indent=1) + "\n")
print(json.dumps(expected, indent=1))
