#!/usr/bin/env bash
# Quantization throughput of whole jobs, quantd against llama-quantize, one type at a time
# (--pure, so every quantizable tensor gets the type), at 1 and 2 threads, same machine, same run.
# quantd's job includes what it always does: per-tensor error metrics and the artifact's SHA-256
# (the manifest is turned off, as llama-quantize writes none).
#   Benchmarks/kernels_vs_llama.sh MODEL-F16.gguf ["Q4_K_S Q6_K ..."] ["1 2"]
# REPEAT=n (default 3) runs each pair n times, alternating the tools, and reports medians: wall
# seconds (the ratio that counts) and CPU seconds (user+sys, steadier when the machine is shared).
# Every quantd artifact is compared with llama-quantize's, byte for byte.
# IMATRIX=file.gguf gives both tools that importance matrix (the IQ1/IQ2 types need one);
# PURE=0 times the named mixes as they are (their per-tensor type choices) instead of --pure.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
TYPES=${2:-"Q2_K Q3_K_S Q4_K_S Q5_K_S Q6_K IQ4_XS IQ4_NL Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 TQ2_0"}
THREADS=${3:-"1 2"}
REPEAT=${REPEAT:-3}
IMATRIX=${IMATRIX:-}
PURE=${PURE:-1}
pure_json=""; pure_flag=(); [ "$PURE" = 1 ] && { pure_json=',"pure":true'; pure_flag=(--pure); }
calib=""; imat_flag=(); [ -n "$IMATRIX" ] && { calib=",\"calibration\":[{\"stage\":\"imatrix\",\"file\":\"$IMATRIX\"}]"; imat_flag=(--imatrix "$IMATRIX"); }
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
LQ=$ORACLE/build/llama.cpp/bin/llama-quantize
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
cat "$MODEL" > /dev/null
# "wall cpu" seconds of one command.
secs() { /usr/bin/time -f "%e %U %S" -o "$OUT/t" "$@" > /dev/null 2>&1; awk '{printf "%s %.2f", $1, $2 + $3}' "$OUT/t"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(v) for v in sys.argv[1:]))" "$@"; }
printf "type\tthreads\tquantd_s\tllama_s\tratio\tcpu_ratio\tbytes\n"
for t in $TYPES; do
  for n in $THREADS; do
    printf '{"version":1,"threads":%s%s,"schemes":[{"mix":"%s"%s}],"outputs":[{"stage":"manifest","enabled":false}],"evaluate":false}\n' "$n" "$calib" "$t" "$pure_json" > "$OUT/p.json"
    qw=(); qc=(); lw=(); lc=(); same=identical
    for _ in $(seq "$REPEAT"); do
      rm -rf "$OUT/q"
      read -r w c <<< "$(secs "$Q" convert "$MODEL" -o "$OUT/q" --pipeline "$OUT/p.json")"; qw+=("$w"); qc+=("$c")
      read -r w c <<< "$(secs "$LQ" "${pure_flag[@]}" "${imat_flag[@]}" "$MODEL" "$OUT/l.gguf" "$t" "$n")"; lw+=("$w"); lc+=("$c")
      cmp -s "$OUT/l.gguf" "$OUT/q/"*.gguf || same=DIFFERENT
    done
    qs=$(median "${qw[@]}"); ls=$(median "${lw[@]}"); qcs=$(median "${qc[@]}"); lcs=$(median "${lc[@]}")
    printf "%s\t%s\t%.2f\t%.2f\t%.2fx\t%.2fx\t%s\n" "$t" "$n" "$qs" "$ls" "$(python3 -c "print($ls/$qs)")" \
      "$(python3 -c "print($lcs/$qcs)")" "$same"
  done
done
