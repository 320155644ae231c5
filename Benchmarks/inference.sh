#!/usr/bin/env bash
# Forward-pass throughput: quantd's Inference against llama-perplexity, same machine, same text,
# release build, warm page cache. Tokens evaluated per second over llama-perplexity's chunks
# (ctx 512, batch 512), forward passes only on both sides.
#   Benchmarks/inference.sh [MODEL.gguf ...]      (default: SmolLM2-135M F16 from the oracle and its
#                                                  Q4_K_M made here by llama-quantize)
# Environment: THREADS="1 2", REPEAT=3 (each repeat runs quantd then llama.cpp back to back; the table
# shows the medians of the tokens/s and of the per-repeat ratios), QUANTD_MARCH (unset: the default
# build, for this machine's CPU class; "portable": baseline x86-64; see Package.swift).
# Needs the oracle (scripts/oracle/setup.sh): llama-perplexity, and its venv to tokenize.
set -euo pipefail
cd "$(dirname "$0")/.."
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
TEXT=${TEXT:-$ORACLE/data/gpl3_excerpt.txt}
THREADS=${THREADS:-"1 2"}
REPEAT=${REPEAT:-3}
LP=$ORACLE/build/llama.cpp/bin/llama-perplexity
SCRATCH=.build
# A portable build goes to its own build directory so it does not replace the default one.
[ "${QUANTD_MARCH-}" = portable ] && SCRATCH=.build/portable
swift build -c release --product inference-bench --scratch-path "$SCRATCH" >/dev/null
BENCH=$PWD/$SCRATCH/release/inference-bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ $# -eq 0 ]; then
  F16=$ORACLE/models/gguf/smollm2-135m-f16-convert.gguf
  "$ORACLE/build/llama.cpp/bin/llama-quantize" "$F16" "$TMP/smollm2-135m-Q4_K_M.gguf" Q4_K_M 2 >/dev/null 2>&1
  set -- "$F16" "$TMP/smollm2-135m-Q4_K_M.gguf"
fi

# llama-perplexity's log lines start with a timestamp M.SS.mmm.uuu; the forward passes run between
# "calculating perplexity" and "Final estimate" (that span also holds its log-softmax, which is small).
llama_tps() {  # model threads -> tokens/s
  "$LP" -m "$1" -f "$TEXT" -c 512 -b 512 -t "$2" > "$TMP/lp.log" 2>&1
  python3 - "$TMP/lp.log" <<'PY'
import re, sys
t0 = t1 = chunks = None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"(\d+)\.(\d+)\.(\d+)\.(\d+) ", line)
    if not m: continue
    t = int(m[1]) * 60 + int(m[2]) + int(m[3]) / 1e3 + int(m[4]) / 1e6
    if "calculating perplexity over" in line:
        t0 = t; chunks = int(re.search(r"over (\d+) chunks", line)[1])
    if "Final estimate" in line: t1 = t
print(f"{chunks * 512 / (t1 - t0):.1f}")
PY
}
ours_tps() {  # model tokens threads -> tokens/s
  "$BENCH" ppl "$1" "$2" --ctx 512 --threads "$3" | python3 -c "import json,sys; print('%.1f' % json.load(sys.stdin)['tokens_per_second'])"
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

printf "%-40s %7s %12s %12s %7s\n" model threads "quantd t/s" "llama t/s" ratio
for MODEL in "$@"; do
  cat "$MODEL" > /dev/null
  "$ORACLE/venv/bin/python" - "$MODEL" "$TEXT" > "$TMP/tokens.txt" 2>/dev/null <<'PY'
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
toks = llm.tokenize(open(sys.argv[2], "rb").read(), add_bos=bool(llm._model.add_bos_token()), special=False)
print(" ".join(map(str, toks)))
PY
  for T in $THREADS; do
    : > "$TMP/q"; : > "$TMP/l"; : > "$TMP/r"
    for _ in $(seq "$REPEAT"); do
      q=$(ours_tps "$MODEL" "$TMP/tokens.txt" "$T"); l=$(llama_tps "$MODEL" "$T")
      echo "$q" >> "$TMP/q"; echo "$l" >> "$TMP/l"; python3 -c "print($q/$l)" >> "$TMP/r"
    done
    printf "%-40s %7s %12s %12s %7.2f\n" "$(basename "$MODEL")" "$T" "$(median < "$TMP/q")" "$(median < "$TMP/l")" \
      "$(median < "$TMP/r")"
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share these cores)"
