#!/usr/bin/env python3
"""Records which type llama-quantize gives every tensor, for every named mix, so quantd's planner
can be checked against llama.cpp itself. Uses `llama-quantize --dry-run` (types only, nothing is
quantized). Run from anywhere with the oracle set up (scripts/oracle/setup.sh):

    python3 scripts/pipeline/make_mix_fixture.py ~/.cache/gguf-oracle \
        Tests/PipelineTests/Fixtures/llama-quantize-mixes.json [IMATRIX.gguf]

Output: {"llama_cpp": commit, "models": {MODEL: {"tensors": [[name, [ne0, ne1, ...]], ...],
"metadata": {...}, "mixes": {MIX: [type per tensor, in order]}, "mixes_imatrix": {...}}}}"""
import json
import re
import subprocess
import sys
from pathlib import Path

import gguf

oracle = Path(sys.argv[1]).expanduser()
out = Path(sys.argv[2])
imatrix = sys.argv[3] if len(sys.argv) > 3 else None
quantize = oracle / "build/llama.cpp/bin/llama-quantize"
models = {
    "smollm2-135m-f16": oracle / "models/gguf/smollm2-135m-f16-convert.gguf",
    "smollm2-135m-pad768-f16": oracle / "models/gguf/smollm2-135m-pad768-f16-convert.gguf",
    "tiny-llama-h64-f16": oracle / "models/gguf/tiny-llama-h64-f16-convert-f16.gguf",
}
mixes = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M",
         "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"]
line = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[([\d,\s]+)\], type =\s+(\S+),.*?(?:\((\w+)\))?\s*$")


def plan(model, mix, extra):
    run = subprocess.run([str(quantize), "--dry-run", *extra, str(model), "/tmp/quantd-dry-run.gguf", mix],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"llama-quantize {mix} failed: {run.stderr[-2000:]}")
    names, types = [], []
    for text in (run.stdout + run.stderr).splitlines():
        m = line.match(text.strip())
        if m:
            names.append(m.group(1))
            types.append((m.group(4) or m.group(3)).upper())
    return names, types


result = {"models": {}}
for key, path in models.items():
    reader = gguf.GGUFReader(path)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    meta = {}
    for k in ("block_count", "attention.head_count", "attention.head_count_kv", "expert_count"):
        f = reader.fields.get(f"{arch}.{k}")
        if f is not None:
            meta[k] = int(f.parts[-1][0])
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}
    entry = {"architecture": arch, "metadata": meta, "mixes": {}, "mixes_imatrix": {}}
    for mix in mixes:
        names, types = plan(path, mix, [])
        entry.setdefault("tensors", [[n, shapes[n]] for n in names])
        entry["mixes"][mix] = types
        if imatrix and key == "smollm2-135m-pad768-f16":
            _, types = plan(path, mix, ["--imatrix", imatrix])
            entry["mixes_imatrix"][mix] = types
    result["models"][key] = entry
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
print(f"wrote {out} ({out.stat().st_size} bytes)")
