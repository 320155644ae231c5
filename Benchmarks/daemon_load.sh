#!/usr/bin/env bash
# Load test of `quantd watch` (not a unit test): COUNT tiny models (copies of the 1.2 MB F16 Llama
# in Tests/PipelineTests/Fixtures) renamed into the inbox at once, each quantized by the pipeline
# to Q4_K_M and Q8_0 with a manifest. Checks every input ends in out/ and nothing in failed/ or work/,
# then prints wall time, time per job (wall / COUNT, and each job's own run time from the
# ledger) and the daemon's peak RSS (/usr/bin/time -v).
# Usage: Benchmarks/daemon_load.sh [COUNT=100] [CONCURRENCY=1]   (QUANTD_BIN overrides the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-100}
CONCURRENCY=${2:-1}
Q=${QUANTD_BIN:-.build/release/quantd}
[ -x "$Q" ] || swift build -c release --product quantd >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null

WORK=$(mktemp -d)
TIMER=""
cleanup() { [ -n "$TIMER" ] && kill "$TIMER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
ROOT=$WORK/drop
printf '{"version": 1, "schemes": [{"mix": "Q4_K_M"}, {"mix": "Q8_0"}], "evaluate": false, "daemon": {"settle_seconds": 1, "rescan_seconds": 30, "concurrency": %d}}\n' "$CONCURRENCY" > "$WORK/pipeline.json"

/usr/bin/time -v -o "$WORK/time.txt" "$Q" watch --root "$ROOT" --pipeline "$WORK/pipeline.json" 2>"$WORK/watch.log" &
TIMER=$!
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll every 20 ms until COMMAND succeeds
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for $what" >&2; tail -5 "$WORK/watch.log" >&2; exit 1; }
    sleep 0.02
  done
}
wait_for 30 "the daemon to be ready" grep -q ' ready: ' "$WORK/watch.log"
DAEMON=$(pgrep -P "$TIMER" quantd)

mkdir "$WORK/staging"
for i in $(seq 1 "$COUNT"); do cp Tests/PipelineTests/Fixtures/tiny-llama-f16.gguf "$WORK/staging/load-$i.gguf"; done
START=$(date +%s.%N)
mv "$WORK"/staging/*.gguf "$ROOT/inbox/"
count_out() { [ "$(ls "$ROOT/out" | wc -l)" -ge "$COUNT" ] && [ -z "$(ls "$ROOT/work")" ]; }
wait_for 600 "$COUNT outputs" count_out
END=$(date +%s.%N)
kill -TERM "$DAEMON"
wait "$TIMER"
TIMER=""

FAILED=$(ls "$ROOT/failed" | wc -l)
OUT=$(ls "$ROOT/out" | wc -l)
RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
python3 - "$ROOT/state/ledger.jsonl" "$START" "$END" "$COUNT" "$OUT" "$FAILED" "$RSS" "$CONCURRENCY" <<'PY'
import json, sys
from datetime import datetime
ledger, start, end, count, out, failed, rss, concurrency = sys.argv[1:]
def t(s): return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
runs = sorted(t(r["finished_at"]) - t(r["started_at"]) for r in map(json.loads, open(ledger)) if r["state"] == "done")
wall = float(end) - float(start)
print(f"{count} inputs, concurrency {concurrency}: {out} in out/, {failed} in failed/")
print(f"wall {wall:.2f} s from the drop to the last publish (renamed in, so claimed without settling): {wall / int(count) * 1000:.1f} ms per job")
print(f"job run time (ledger, start to publish): mean {sum(runs) / len(runs) * 1000:.1f} ms, p95 {runs[int(len(runs) * 0.95) - 1] * 1000:.1f} ms, max {runs[-1] * 1000:.1f} ms")
print(f"daemon peak RSS {int(rss) / 1024:.1f} MiB")
PY
[ "$OUT" -eq "$COUNT" ] && [ "$FAILED" -eq 0 ]
