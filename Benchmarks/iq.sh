#!/usr/bin/env bash
# Whole IQ mixes, quantd against llama-quantize, at 1 and 2 threads, same machine, same run: the
# named mix (not --pure, so every tensor gets the type the mix rules give it) with an importance
# matrix, as people make these mixes. quantd's job includes what it always does: per-tensor error
# metrics and the artifact's SHA-256 (the manifest is turned off, as llama-quantize writes none).
#   Benchmarks/iq.sh MODEL-F16.gguf IMATRIX.gguf ["IQ3_XXS IQ3_XS IQ3_S IQ3_M"] ["1 2"]
# REPEAT=n (default 1) runs each pair n times, alternating the tools, and reports medians: wall
# seconds (the ratio that counts) and CPU seconds (user+sys, steadier when the machine is shared).
# Every quantd artifact is compared with llama-quantize's, byte for byte (whole file).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
IMATRIX=$2
MIXES=${3:-"IQ3_XXS IQ3_XS IQ3_S IQ3_M"}
THREADS=${4:-"1 2"}
REPEAT=${REPEAT:-1}
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
LQ=$ORACLE/build/llama.cpp/bin/llama-quantize
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
cat "$MODEL" > /dev/null
# "wall cpu" seconds of one command.
secs() { /usr/bin/time -f "%e %U %S" -o "$OUT/t" "$@" > /dev/null 2>&1; awk '{printf "%s %.2f", $1, $2 + $3}' "$OUT/t"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(v) for v in sys.argv[1:]))" "$@"; }
printf "mix\tthreads\tquantd_s\tllama_s\tratio\tcpu_ratio\tbytes\n"
for m in $MIXES; do
  for n in $THREADS; do
    printf '{"version":1,"threads":%s,"calibration":[{"stage":"imatrix","file":"%s"}],"schemes":[{"mix":"%s"}],"outputs":[{"stage":"manifest","enabled":false}],"evaluate":false}\n' \
      "$n" "$IMATRIX" "$m" > "$OUT/p.json"
    qw=(); qc=(); lw=(); lc=(); same=identical
    for _ in $(seq "$REPEAT"); do
      rm -rf "$OUT/q"
      read -r w c <<< "$(secs "$Q" convert "$MODEL" -o "$OUT/q" --pipeline "$OUT/p.json")"; qw+=("$w"); qc+=("$c")
      read -r w c <<< "$(secs "$LQ" --imatrix "$IMATRIX" "$MODEL" "$OUT/l.gguf" "$m" "$n")"; lw+=("$w"); lc+=("$c")
      cmp -s "$OUT/l.gguf" "$OUT/q/"*.gguf || same=DIFFERENT
    done
    qs=$(median "${qw[@]}"); ls=$(median "${lw[@]}"); qcs=$(median "${qc[@]}"); lcs=$(median "${lc[@]}")
    printf "%s\t%s\t%.2f\t%.2f\t%.2fx\t%.2fx\t%s\n" "$m" "$n" "$qs" "$ls" "$(python3 -c "print($ls/$qs)")" \
      "$(python3 -c "print($lcs/$qcs)")" "$same"
  done
done
