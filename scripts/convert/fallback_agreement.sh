#!/bin/bash
# Checks quantd's converter fallback against the two-tool chain it stands for, with the oracle
# (~/.cache/gguf-oracle; scripts/oracle/README.md): for every tiny model folder
# $ORACLE/models/arch/*-h64 that quantd does not convert natively (`quantd inspect --json` says
# "fallback" or "unknown"), and every mix given,
#     quantd convert FOLDER --type MIX --converter-fallback $V/convert_hf_to_gguf.py
# against
#     convert_hf_to_gguf.py FOLDER --outtype f16  +  llama-quantize F16 OUT MIX
# and prints one line per pair: identical, DIFFERENT (with both SHA-256 prefixes), or which tool failed.
#
#     scripts/convert/fallback_agreement.sh .build/debug/quantd Q8_0 Q4_K_M Q6_K IQ4_XS
set -u
Q=$(realpath "$1"); shift
O=${ORACLE:-~/.cache/gguf-oracle}
V=${V:-$O/build/llama_cpp_python-0.3.36/vendor/llama.cpp}
PY=$O/venv/bin/python; LQ=$O/build/llama.cpp/bin/llama-quantize
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for d in "$O"/models/arch/*-h64; do
  k=$(basename "$d")
  c=$("$Q" inspect --json "$d" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin).get('conversion'))" 2>/dev/null)
  [ "$c" = "native" ] && { echo "$k native (not the fallback's)"; continue; }
  mkdir -p "$work/$k"
  "$PY" "$V/convert_hf_to_gguf.py" "$d" --outtype f16 --outfile "$work/$k/ref-f16.gguf" > "$work/$k/conv.log" 2>&1 \
    || { echo "$k convert_hf_to_gguf.py failed"; continue; }
  for t in "$@"; do
    "$LQ" "$work/$k/ref-f16.gguf" "$work/$k/ref-$t.gguf" "$t" > "$work/$k/lq.log" 2>&1 \
      || { echo "$k $t llama-quantize failed: $(grep -m1 'failed to quantize' "$work/$k/lq.log")"; continue; }
    "$Q" convert "$d" -o "$work/$k/q-$t" --type "$t" --no-eval --converter-fallback "$V/convert_hf_to_gguf.py" \
      --converter-python "$PY" > "$work/$k/q.log" 2>&1 || { echo "$k $t quantd failed: $(tail -1 "$work/$k/q.log")"; continue; }
    a=$(sha256sum < "$work/$k/ref-$t.gguf" | cut -c1-16); b=$(sha256sum < "$work/$k/q-$t/$k-$t.gguf" | cut -c1-16)
    [ "$a" = "$b" ] && echo "$k $t identical" || echo "$k $t DIFFERENT (llama-quantize $a, quantd $b)"
    rm -rf "$work/$k/ref-$t.gguf" "$work/$k/q-$t"
  done
  rm -rf "${work:?}/$k"
done
