#!/usr/bin/env bash
# Whole-job benchmark: quantd convert against llama-quantize, same machine, same run, release
# build, warm page cache; wall time and peak RSS from /usr/bin/time.
#   Benchmarks/pipeline.sh MODEL-F16.gguf [THREADS]
# 1. one artifact (Q4_K_M): quantd convert (including its manifest: hashes of source and
#    artifact)  vs  llama-quantize MODEL OUT Q4_K_M THREADS
# 2. three artifacts (Q4_K_M, Q6_K, Q8_0): quantd in one pass  vs  llama-quantize three times
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1; THREADS=${2:-2}
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
LQ=$ORACLE/build/llama.cpp/bin/llama-quantize
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cat "$MODEL" > /dev/null  # warm the page cache
measure() {  # label, command...: prints "label seconds peakKiB"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time" "$@" > /dev/null 2>&1
  read -r secs kib < "$OUT/time"; echo "$label $secs $kib"
}
printf '{"version":1,"threads":%s,"schemes":[{"mix":"Q4_K_M"},{"mix":"Q6_K"},{"mix":"Q8_0"}]}\n' "$THREADS" > "$OUT/three.json"
{
  measure quantd_q4km "$Q" convert "$MODEL" -o "$OUT/q1" --type Q4_K_M --threads "$THREADS"
  measure llama_q4km "$LQ" "$MODEL" "$OUT/l1.gguf" Q4_K_M "$THREADS"
  measure quantd_three "$Q" convert "$MODEL" -o "$OUT/q3" --pipeline "$OUT/three.json"
  s=0; m=0
  for t in Q4_K_M Q6_K Q8_0; do
    r=$(measure l "$LQ" "$MODEL" "$OUT/l-$t.gguf" "$t" "$THREADS"); set -- $r
    s=$(python3 -c "print($s + $2)"); m=$(( $3 > m ? $3 : m ))
  done
  echo "llama_three $s $m"
} | tee "$OUT/results"
python3 - "$OUT/results" "$THREADS" <<'PY'
import sys
r = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[1])}
t = sys.argv[2]
for a, b, what in (("quantd_q4km", "llama_q4km", "Q4_K_M"), ("quantd_three", "llama_three", "Q4_K_M+Q6_K+Q8_0")):
    (qs, qm), (ls, lm) = r[a], r[b]
    print(f"{what:18s} {t} threads: quantd {qs:6.2f} s {qm/1024:6.0f} MiB | llama.cpp {ls:6.2f} s {lm/1024:6.0f} MiB"
          f" | {ls/qs:4.2f}x faster, {lm/qm:4.2f}x less memory")
PY
