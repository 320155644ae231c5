#!/usr/bin/env bash
# HellaSwag-format items on a model: quantd against llama-perplexity, one after the other on the same
# machine: wall and CPU time of each, and whether every item came out the same (right or wrong).
# usage: scripts/tasks/bench_hellaswag.sh MODEL.gguf [ITEMS=400] [THREADS=2]
# Needs the release build (swift build -c release --product quantd), the reference toolkit and
# Debian's bible-kjv (the items are scripts/tasks/make_task_fixture.py's Proverbs cloze items).
set -euo pipefail
model=$1; items=${2:-400}; threads=${3:-2}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$root/scripts/tasks/make_task_fixture.py" --hellaswag-only "$tmp/hellaswag.txt"
/usr/bin/time -f "llama-perplexity: wall %e s, user %U s, sys %S s" \
    ~/.cache/gguf-oracle/build/llama.cpp/bin/llama-perplexity -m "$model" --hellaswag -f "$tmp/hellaswag.txt" \
    --hellaswag-tasks "$items" -c 512 -t "$threads" > "$tmp/llama.out" 2> "$tmp/llama.err"
tail -1 "$tmp/llama.err"
/usr/bin/time -f "quantd: wall %e s, user %U s, sys %S s" \
    "$root/.build/release/quantd" eval "$model" --hellaswag "$tmp/hellaswag.txt" --tasks "$items" \
    --threads "$threads" --json > "$tmp/quantd.json" 2> "$tmp/quantd.err"
tail -1 "$tmp/quantd.err"
python3 - "$tmp/llama.out" "$tmp/quantd.json" <<'PY'
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
