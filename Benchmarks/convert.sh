#!/bin/bash
# Converter benchmark: `quantd convert --type TYPE` against llama.cpp's convert_hf_to_gguf.py
# --outtype type on the same Hugging Face folder, back to back in one run, RUNS times each
# (alternating), wall time and peak RSS from /usr/bin/time -v. Prints every run, the medians and
# the ratios, and checks the two outputs hold identical tensors and metadata (compare_gguf.py).
#
# usage: Benchmarks/convert.sh [MODEL_FOLDER] [RUNS] [TYPE]
#   MODEL_FOLDER  default ~/.cache/gguf-oracle/models/hf/smollm2-135m-pad768-f16
#   RUNS          default 5
#   TYPE          F16 (default), F32, BF16 or Q8_0
# Needs a release build (swift build -c release --product quantd) and the GGUF oracle.
# The page cache is warmed once before measuring; both tools write to the same file system.
set -euo pipefail
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
MODEL=${1:-$ORACLE/models/hf/smollm2-135m-pad768-f16}
RUNS=${2:-5}
TYPE=${3:-F16}
QUANTD=${QUANTD:-.build/release/quantd}
PY=$ORACLE/venv/bin/python
CONVERT=$ORACLE/build/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py
COMPARE=${COMPARE:-$(dirname "$0")/../scripts/oracle/compare_gguf.py}
OUT=${BENCH_OUT:-$(mktemp -d)}
trap 'rm -rf "$OUT"' EXIT
[ -x "$QUANTD" ] || { echo "no release build at $QUANTD: run swift build -c release --product quantd" >&2; exit 1; }

cat "$MODEL"/*.safetensors > /dev/null  # warm the page cache for both

# measure NAME CMD...: appends "wall_seconds peak_kib" to $OUT/NAME.times
measure() {
    local name=$1; shift
    /usr/bin/time -v "$@" > "$OUT/$name.log" 2> "$OUT/$name.time" || { tail -20 "$OUT/$name.time" >&2; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$OUT/$name.time")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/$name.time")
    local user sys
    user=$(awk -F': ' '/User time/ { print $2 }' "$OUT/$name.time")
    sys=$(awk -F': ' '/System time/ { print $2 }' "$OUT/$name.time")
    echo "$wall $rss" >> "$OUT/$name.times"
    printf '%-10s wall %6.2f s  user %6.2f s  sys %5.2f s  peak RSS %5d MiB\n' "$name" "$wall" "$user" "$sys" $((rss / 1024))
}

for i in $(seq 1 "$RUNS"); do
    measure quantd "$QUANTD" convert "$MODEL" -o "$OUT/quantd.gguf" --type "$TYPE"
    measure reference "$PY" "$CONVERT" "$MODEL" --outtype "$(echo "$TYPE" | tr 'A-Z' 'a-z')" --outfile "$OUT/reference.gguf"
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
qw=$(cut -d' ' -f1 "$OUT/quantd.times" | median); rw=$(cut -d' ' -f1 "$OUT/reference.times" | median)
qm=$(cut -d' ' -f2 "$OUT/quantd.times" | median); rm_=$(cut -d' ' -f2 "$OUT/reference.times" | median)
echo "model: $MODEL -> $TYPE ($RUNS runs each, load average $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v qw="$qw" -v rw="$rw" -v qm="$qm" -v rm="$rm_" 'BEGIN {
    printf "median wall: quantd %.2f s, reference %.2f s -> %.1fx faster\n", qw, rw, rw / qw
    printf "median peak RSS: quantd %d MiB, reference %d MiB -> %.1fx less\n", qm / 1024, rm / 1024, rm / qm
}'
"$PY" "$COMPARE" "$OUT/quantd.gguf" "$OUT/reference.gguf" --kv --quiet --no-dequant | tail -1
