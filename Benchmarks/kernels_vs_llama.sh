#!/usr/bin/env bash
# Quantization throughput of whole jobs, quantd against llama-quantize, one type at a time
# (--pure, so every quantizable tensor gets the type), at 1 and 2 threads, same machine, same run.
# quantd's job includes what it always does: per-tensor error metrics and the artifact's SHA-256
# (the manifest is turned off, as llama-quantize writes none).
#   Benchmarks/kernels_vs_llama.sh MODEL-F16.gguf ["Q4_K_S Q6_K ..."] ["1 2"]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
TYPES=${2:-"Q2_K Q3_K_S Q4_K_S Q5_K_S Q6_K IQ4_XS IQ4_NL Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 TQ2_0"}
THREADS=${3:-"1 2"}
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
LQ=$ORACLE/build/llama.cpp/bin/llama-quantize
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
cat "$MODEL" > /dev/null
secs() { /usr/bin/time -f "%e" -o "$OUT/t" "$@" > /dev/null 2>&1; cat "$OUT/t"; }
printf "type\tthreads\tquantd_s\tllama_s\tratio\n"
for t in $TYPES; do
  for n in $THREADS; do
    printf '{"version":1,"threads":%s,"schemes":[{"mix":"%s","pure":true}],"outputs":[{"stage":"manifest","enabled":false}]}\n' "$n" "$t" > "$OUT/p.json"
    rm -rf "$OUT/q"
    qs=$(secs "$Q" convert "$MODEL" -o "$OUT/q" --pipeline "$OUT/p.json")
    ls=$(secs "$LQ" --pure "$MODEL" "$OUT/l.gguf" "$t" "$n")
    same=$(cmp -s "$OUT/l.gguf" "$OUT/q/"*.gguf && echo identical || echo DIFFERENT)
    printf "%s\t%s\t%s\t%s\t%.2fx\t%s\n" "$t" "$n" "$qs" "$ls" "$(python3 -c "print($ls/$qs)")" "$same"
  done
done
