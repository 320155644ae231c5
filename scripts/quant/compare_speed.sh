#!/usr/bin/env bash
# Kernel throughput of quantd vs ggml (same shape, one thread), type by type, interleaved so
# that load from other processes affects both sides alike; MB/s per CPU-second (process time),
# which is steadier than wall time on a shared machine. Needs the oracle and a release build:
#   swift build -c release --product quantd-bench
#   scripts/quant/compare_speed.sh "Q4_K Q6_K" [--imatrix]
set -euo pipefail
cd "$(dirname "$0")/../.."
LIB=${GGML_LIB:-$HOME/.cache/gguf-oracle/venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so}
PY=${ORACLE_PY:-$HOME/.cache/gguf-oracle/venv/bin/python}
TYPES=${1:-"F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS TQ1_0 TQ2_0 MXFP4"}
EXTRA=${2:-}
# INPUT=rows.f32 COLS=768 to time real weights instead of synthetic rows, IMATRIX_FILE=w.f32 (COLS
# values) for their real importance vector (scripts/quant/dump_tensor_rows.py writes both).
SHAPE="--rows 512"
if [ -n "${INPUT:-}" ]; then SHAPE="--input $INPUT --cols ${COLS:-768}"; fi
if [ -n "${IMATRIX_FILE:-}" ]; then SHAPE="$SHAPE --imatrix-file $IMATRIX_FILE"; fi
printf "type\tggml_MBps\tquantd_MBps\tratio\n"
for t in $TYPES; do
  g=$(cd scripts/quant && $PY bench_ggml.py --lib "$LIB" --types "$t" $SHAPE --min-seconds 0.6 $EXTRA | awk 'NR==2{print $6}')
  q=$(.build/release/quantd-bench --types "$t" --threads 1 $SHAPE --min-seconds 0.6 $EXTRA | awk 'NR==3{print $5}')
  printf "%s\t%s\t%s\t%.2f\n" "$t" "$g" "$q" "$(echo "$q / $g" | bc -l)"
done
