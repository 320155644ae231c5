#!/usr/bin/env bash
# HellaSwag-format items on a model: quantd against llama-perplexity, one after the other on the same
# machine: wall and CPU time of each, and whether every item came out the same (right or wrong).
# usage: scripts/tasks/bench_hellaswag.sh MODEL.gguf [ITEMS=400] [THREADS=2] [FILE]
# FILE: a HellaSwag-format file (default: scripts/tasks/make_task_fixture.py's Proverbs cloze items,
# which need Debian's bible-kjv). QUANTD_ALSO=/path/to/quantd times a second quantd build the same
# way after the first (e.g. another commit's) and compares its items too.
# Needs the release build (swift build -c release --product quantd) and the reference toolkit.
set -euo pipefail
model=$1; items=${2:-400}; threads=${3:-2}; file=${4:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$file" ]; then
    file=$tmp/hellaswag.txt
    python3 "$root/scripts/tasks/make_task_fixture.py" --hellaswag-only "$file"
fi
uptime
/usr/bin/time -f "llama-perplexity: wall %e s, user %U s, sys %S s" \
    ~/.cache/gguf-oracle/build/llama.cpp/bin/llama-perplexity -m "$model" --hellaswag -f "$file" \
    --hellaswag-tasks "$items" -c 512 -t "$threads" > "$tmp/llama.out" 2> "$tmp/llama.err"
tail -1 "$tmp/llama.err"
runs=("$root/.build/release/quantd")
[ -n "${QUANTD_ALSO:-}" ] && runs+=("$QUANTD_ALSO")
for i in "${!runs[@]}"; do
    uptime
    /usr/bin/time -f "quantd ${runs[$i]}: wall %e s, user %U s, sys %S s" \
        "${runs[$i]}" eval "$model" --hellaswag "$file" --tasks "$items" \
        --threads "$threads" --json > "$tmp/quantd$i.json" 2> "$tmp/quantd$i.err"
    tail -1 "$tmp/quantd$i.err"
    python3 - "$tmp/llama.out" "$tmp/quantd$i.json" <<'PY'
import json, re, sys
rows = re.findall(r"^(\d+)\t([0-9.]+)%\t\[", open(sys.argv[1]).read(), re.M)
theirs, before = [], 0
for n, p in rows:
    now = round(float(p) * int(n) / 100)
    theirs.append(now - before == 1)
    before = now
ours = json.load(open(sys.argv[2]))["tasks"][0]["model"]["correct_items"]
differ = [i + 1 for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
print("items: quantd %d, llama-perplexity %d; accuracy %.2f %% vs %.2f %%; items that differ: %s"
      % (len(ours), len(theirs), 100 * sum(ours) / len(ours), 100 * sum(theirs) / max(1, len(theirs)), differ or "none"))
PY
done
