#!/usr/bin/env bash
# Makes the seed corpora Fuzz/corpus/<target>/ from the repository's own small inputs (committed
# examples and test fixtures, large ones cut to their headers). Run from anywhere; replaces the
# corpora it makes. Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=Fuzz/corpus
rm -rf "$out"
mkdir -p "$out"/{gguf-header,safetensors-header,model-folder,pipeline-json,imatrix}
models=Tests/ModelConversionTests/Fixtures/models

python3 - "$out" "$models" <<'PY'
import glob, os, struct, sys
out, models = sys.argv[1], sys.argv[2]

def put(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

# GGUF: whole small files, and the first 16 KiB (the header and some data) of larger ones.
for path in ["examples/sample.gguf", "Tests/TokenizerTests/Fixtures/spm-vocab.gguf",
             "Tests/TokenizerTests/Fixtures/wpm-vocab.gguf", "Tests/PipelineTests/Fixtures/tiny-llama.imatrix.gguf",
             "Tests/InferenceTests/Fixtures/tiny-llama-q8_0.gguf", "Tests/InferenceTests/Fixtures/tiny-qwen3moe-f32.gguf",
             "Tests/InferenceTests/Fixtures/tiny-gemma3-f16.gguf", "Tests/PipelineTests/Fixtures/tiny-spm-f16.gguf"]:
    data = open(path, "rb").read()
    put("gguf-header", os.path.basename(path), data[:16384] if len(data) > 49152 else data)

# safetensors: the 8-byte length, the JSON header and up to 1 KiB of data.
for path in sorted(glob.glob(models + "/*/*.safetensors")):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    name = path.split("/")[-2] + "-" + os.path.basename(path)
    put("safetensors-header", name, data[:8 + n + 1024])

# model folder: first byte 0 = config.json, 1 = tokenizer.json, 2 = tokenizer_config.json.
for path in sorted(glob.glob(models + "/*/config.json")):
    put("model-folder", path.split("/")[-2] + "-config.json", b"\x00" + open(path, "rb").read())
for model in ["tiny-llama3", "tiny-bert", "tiny-llama2-spm"]:
    for byte, name in [(1, "tokenizer.json"), (2, "tokenizer_config.json")]:
        path = f"{models}/{model}/{name}"
        if os.path.exists(path) and os.path.getsize(path) < 49152:
            put("model-folder", f"{model}-{name}", bytes([byte]) + open(path, "rb").read())

# pipeline.json: the repository's and the examples'.
for path in ["pipeline.json"] + sorted(glob.glob("examples/*.json")):
    put("pipeline-json", os.path.basename(path), open(path, "rb").read())

# imatrix: GGUF and legacy .dat files from the fixtures.
for path in sorted(glob.glob("Tests/*/Fixtures/*.imatrix.*")):
    if os.path.getsize(path) < 49152:
        put("imatrix", os.path.basename(path), open(path, "rb").read())
PY
du -sh "$out"/*
