#!/bin/sh
# quantd's native imatrix against llama-imatrix on a real model, two checks:
#   1. the files: llama-imatrix and `quantd imatrix` on the same model, text and ctx, back to back
#      (wall times), compared entry by entry (compare_imatrix.py);
#   2. what they do to a quantization: TYPE (default Q4_K_M) made by quantd with each matrix (the
#      same quantizer, byte-identical to llama-quantize; only the matrix differs), and llama.cpp's
#      KL divergence of each against MODEL on an evaluation text (the oracle's ppl.py, --first ctx/2
#      as llama-perplexity scores), with the ratio.
#
# usage: sh scripts/imatrix/agreement.sh MODEL.gguf CALIBRATION.txt EVALUATION.txt [CHUNKS] [TYPE] [OUTDIR]
#   e.g. sh scripts/imatrix/agreement.sh ~/.cache/gguf-oracle/models/gguf/smollm2-135m-pad768-f16-convert.gguf \
#            calib.txt ~/.cache/gguf-oracle/data/gpl3_excerpt.txt
# Needs the oracle (scripts/oracle/setup.sh) and a release build (swift build -c release).
set -eu
model=$1; text=$2; eval_text=$3; chunks=${4:--1}; type=${5:-Q4_K_M}; out=${6:-/tmp/quantd-imatrix-agreement}
oracle=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
py=$oracle/venv/bin/python
quantd=$(pwd)/.build/release/quantd
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
limit=""; [ "$chunks" != "-1" ] && limit="--chunks $chunks"

start=$(date +%s.%N)
"$oracle/build/llama.cpp/bin/llama-imatrix" -m "$model" -f "$text" -c 512 -t 2 --no-ppl $limit -o "$out/llama.imatrix.gguf" \
    > "$out/llama-imatrix.log" 2>&1
mid=$(date +%s.%N)
"$quantd" imatrix "$model" --text "$text" --ctx 512 --threads 2 $limit -o "$out/quantd.imatrix.gguf"
end=$(date +%s.%N)
echo "wall time: llama-imatrix $(echo "$mid - $start" | bc) s, quantd imatrix $(echo "$end - $mid" | bc) s"
"$py" "$here/compare_imatrix.py" "$out/quantd.imatrix.gguf" "$out/llama.imatrix.gguf" || true

for who in llama quantd; do
    "$quantd" convert "$model" -o "$out/$who" --type "$type" --imatrix "$out/$who.imatrix.gguf" --no-eval --threads 2 > /dev/null
done
for who in llama quantd; do
    artifact=$(ls "$out/$who"/*"$type"*.gguf | head -1)
    "$py" "$oracle/ppl.py" "$artifact" "$eval_text" --ref "$model" --ctx 512 --first 256 --threads 2 --json > "$out/$who.kld.json"
    echo "$type with $who's matrix: $(cat "$out/$who.kld.json")"
done
"$py" - "$out/llama.kld.json" "$out/quantd.kld.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = next(k for k in a if k.startswith("kld") and "mean" in k)
print(f"KL divergence ({key}): llama-imatrix's matrix {a[key]:.6g}, quantd's {b[key]:.6g}, ratio {b[key] / a[key]:.4f}")
PY
