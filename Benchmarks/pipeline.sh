#!/usr/bin/env bash
# Whole-job benchmark: quantd convert against llama.cpp's tools, same machine, same run, release
# build, warm page cache; wall time and peak RSS from /usr/bin/time.
#   Benchmarks/pipeline.sh MODEL [THREADS]
# MODEL is an F16 GGUF, or a Hugging Face folder; for a folder the llama.cpp side is the two-tool
# chain convert_hf_to_gguf.py --outtype f16 followed by llama-quantize (peak RSS: the larger of
# the two; time: their sum).
# 1. one artifact (Q4_K_M): quantd convert (including its manifest: hashes of source and
#    artifact)  vs  the chain
# 2. three artifacts (Q4_K_M, Q6_K, Q8_0): quantd in one pass  vs  the chain with llama-quantize run
#    three times (the conversion once)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1; THREADS=${2:-2}
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
LQ=$ORACLE/build/llama.cpp/bin/llama-quantize
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
if [ -d "$MODEL" ]; then cat "$MODEL"/*.safetensors > /dev/null; else cat "$MODEL" > /dev/null; fi  # warm the page cache
measure() {  # label, command...: prints "label seconds peakKiB"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time" "$@" > /dev/null 2>&1
  read -r secs kib < "$OUT/time"; echo "$label $secs $kib"
}
printf '{"version":1,"threads":%s,"schemes":[{"mix":"Q4_K_M"},{"mix":"Q6_K"},{"mix":"Q8_0"}],"evaluate":false}\n' "$THREADS" > "$OUT/three.json"
CONVERT=$ORACLE/build/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py
{
  measure quantd_q4km "$Q" convert "$MODEL" -o "$OUT/q1" --type Q4_K_M --no-eval --threads "$THREADS"
  s=0; m=0; F16=$MODEL
  if [ -d "$MODEL" ]; then
    F16=$OUT/chain-f16.gguf
    r=$(measure c "$ORACLE/venv/bin/python" "$CONVERT" "$MODEL" --outtype f16 --outfile "$F16"); set -- $r; s=$2; m=$3
  fi
  conv_s=$s; conv_m=$m
  r=$(measure l "$LQ" "$F16" "$OUT/l1.gguf" Q4_K_M "$THREADS"); set -- $r
  echo "llama_q4km $(python3 -c "print($conv_s + $2)") $(( $3 > conv_m ? $3 : conv_m ))"
  measure quantd_three "$Q" convert "$MODEL" -o "$OUT/q3" --pipeline "$OUT/three.json"
  s=$conv_s; m=$conv_m
  for t in Q4_K_M Q6_K Q8_0; do
    r=$(measure l "$LQ" "$F16" "$OUT/l-$t.gguf" "$t" "$THREADS"); set -- $r
    s=$(python3 -c "print($s + $2)"); m=$(( $3 > m ? $3 : m ))
  done
  echo "llama_three $s $m"
  cmp -s "$OUT/l1.gguf" "$OUT/q1/$(ls "$OUT/q1" | grep Q4_K_M)" && echo "identical_q4km 1 0" || echo "identical_q4km 0 0"
} | tee "$OUT/results"
python3 - "$OUT/results" "$THREADS" <<'PY'
import sys
r = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[1])}
t = sys.argv[2]
for a, b, what in (("quantd_q4km", "llama_q4km", "Q4_K_M"), ("quantd_three", "llama_three", "Q4_K_M+Q6_K+Q8_0")):
    (qs, qm), (ls, lm) = r[a], r[b]
    print(f"{what:18s} {t} threads: quantd {qs:6.2f} s {qm/1024:6.0f} MiB | llama.cpp {ls:6.2f} s {lm/1024:6.0f} MiB"
          f" | {ls/qs:4.2f}x faster, {lm/qm:4.2f}x less memory")
print("Q4_K_M artifact byte-identical to llama.cpp's:", "yes" if r["identical_q4km"][0] == 1 else "NO")
PY
