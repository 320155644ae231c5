#!/usr/bin/env bash
# Cost of a size-target scheme against the plain named mix, same model, same machine, same run:
#   Benchmarks/size_target.sh MODEL-F16.gguf IMATRIX.gguf [MIX] [THREADS]
# 1. quantd convert with {"mix": MIX} and the imatrix (evaluate stage on, its defaults)
# 2. quantd convert with {"target": {"size_of": MIX}} and the same imatrix: the sensitivity passes,
#    the size-target artifact, the named mix beside it for the verification, and the evaluate stage
# Prints both wall times and their ratio (the brief's budget: at most 10×), and the size-target
# line of quantd's table.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1; IMATRIX=$2; MIX=${3:-Q4_K_M}; THREADS=${4:-2}
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cat "$MODEL" > /dev/null  # warm the page cache
cp "$IMATRIX" "$OUT/model.imatrix.gguf"
printf '{"version":1,"threads":%s,"calibration":[{"stage":"imatrix","file":"model.imatrix.gguf"}],"schemes":[{"mix":"%s"}]}\n' \
  "$THREADS" "$MIX" > "$OUT/plain.json"
printf '{"version":1,"threads":%s,"calibration":[{"stage":"imatrix","file":"model.imatrix.gguf"}],"schemes":[{"name":"st","target":{"size_of":"%s"}}]}\n' \
  "$THREADS" "$MIX" > "$OUT/target.json"
t0=$(date +%s.%N); "$Q" convert "$MODEL" -o "$OUT/plain" --pipeline "$OUT/plain.json" > "$OUT/plain.log"; t1=$(date +%s.%N)
"$Q" convert "$MODEL" -o "$OUT/target" --pipeline "$OUT/target.json" > "$OUT/target.log"; t2=$(date +%s.%N)
grep '^size target' "$OUT/target.log" || true
python3 - "$t0" "$t1" "$t2" "$MIX" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:4])
plain, target = t1 - t0, t2 - t1
print(f"plain {sys.argv[4]} job {plain:.1f} s, size_of {sys.argv[4]} job {target:.1f} s: {target / plain:.1f}x")
PY
