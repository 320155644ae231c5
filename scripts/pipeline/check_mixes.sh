#!/usr/bin/env bash
# Byte-identity of quantd against llama.cpp for every named mix: quantd writes all mixes of a
# model in ONE pass (one pipeline with a scheme per mix); the oracle's quantize_ref.py
# (llama_model_quantize, i.e. llama-quantize) writes each separately; every pair is compared
# with cmp (whole file) and, on a difference, compare_tensors.py (per tensor; then compare_gguf.py
# for the metadata when every tensor agrees).
#   scripts/pipeline/check_mixes.sh MODEL OUTDIR [IMATRIX.gguf]
# MODEL is an F16 GGUF, or a Hugging Face folder: then quantd reads the folder (its one-pass
# convert + quantize) and llama-quantize reads what convert_hf_to_gguf.py --outtype f16 makes of it.
# Environment: QUANTD (default: this checkout's release build), MIXES (space-separated; default:
# the 22 mixes below). Paths must be absolute.
set -euo pipefail
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
MODEL=$1; OUT=$2; IMATRIX=${3:-}
# Q2_K_S needs an importance matrix (llama-quantize refuses without one, and so does quantd).
MIXES=${MIXES:-"F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K ${3:+Q2_K_S }Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS TQ1_0 TQ2_0"}
QUANTD=${QUANTD:-$(cd "$(dirname "$0")/../.." && pwd)/.build/release/quantd}
mkdir -p "$OUT/quantd" "$OUT/ref"
{
  echo '{"version": 1,'
  [ -n "$IMATRIX" ] && echo "\"calibration\": [{\"stage\": \"imatrix\", \"file\": \"$IMATRIX\"}],"
  echo '"schemes": ['
  first=1; for m in $MIXES; do [ $first = 1 ] || echo ','; first=0; echo "{\"mix\": \"$m\"}"; done
  echo '], "outputs": [{"stage": "manifest"}], "evaluate": false}'
} > "$OUT/pipeline.json"
/usr/bin/time -f "quantd: all mixes in one pass: %e s, peak RSS %M KiB" "$QUANTD" convert "$MODEL" -o "$OUT/quantd" --pipeline "$OUT/pipeline.json" > /dev/null
base=$(basename "$MODEL" .gguf); base=${base%-f16}; base=${base%-F16}
SOURCE=$MODEL
if [ -d "$MODEL" ]; then
  SOURCE="$OUT/ref/source-f16.gguf"
  [ -f "$SOURCE" ] || "$ORACLE/venv/bin/python" "$ORACLE/build/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py" \
      "$MODEL" --outtype f16 --outfile "$SOURCE" > "$OUT/ref/convert.log" 2>&1
fi
same=0; diff=0
for m in $MIXES; do
  ref="$OUT/ref/$m.gguf"
  (cd "$ORACLE" && venv/bin/python quantize_ref.py "$SOURCE" "$ref" "$m" --nthread 2 ${IMATRIX:+--imatrix "$IMATRIX"} > /dev/null 2>&1)
  if cmp -s "$ref" "$OUT/quantd/$base-$m.gguf"; then
    same=$((same+1)); echo "IDENTICAL $m"
  else
    diff=$((diff+1)); echo "DIFFERENT $m"
    # tensors by name, shape, type and bytes (any ggml type); when they all agree, the metadata
    if "$ORACLE/venv/bin/python" "$(dirname "$0")/compare_tensors.py" "$ref" "$OUT/quantd/$base-$m.gguf" | tail -4; then
      "$ORACLE/venv/bin/python" "$ORACLE/compare_gguf.py" "$ref" "$OUT/quantd/$base-$m.gguf" --quiet --kv | tail -4 || true
    fi
  fi
done
echo "$same identical, $diff different"
[ "$diff" = 0 ]
