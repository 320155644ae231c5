#!/usr/bin/env bash
# Runs one libFuzzer target on its seed corpus: scripts/fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# Builds the target first (scripts/fuzz/build.sh). New inputs that reach new code go to
# .build-fuzz/corpus/TARGET (the committed seeds in Fuzz/corpus/TARGET are only read); a crash,
# a sanitizer report, a timeout (> 10 s for one input) or an out-of-memory (> 2 GB) stops the run
# and leaves the input in .build-fuzz/findings/TARGET/. Fix it, then keep the input as
# Fuzz/regressions/TARGET/<what-it-was> so the test suite replays it. Leak detection is off (also
# ASan's at exit, which -fork runs would count as a crash per job): the Swift runtime keeps caches
# (type metadata, lazy globals) for the life of the process.
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${1:?usage: scripts/fuzz/run.sh TARGET SECONDS}"
seconds="${2:?usage: scripts/fuzz/run.sh TARGET SECONDS}"
shift 2

scripts/fuzz/build.sh "$target" >/dev/null
work=".build-fuzz/corpus/$target"
findings=".build-fuzz/findings/$target"
mkdir -p "$work" "$findings"
seeds=("Fuzz/corpus/$target")
[[ -d "Fuzz/regressions/$target" ]] && seeds+=("Fuzz/regressions/$target")

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
exec ".build-fuzz/$target" "$work" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$findings/" -print_final_stats=1 -detect_leaks=0 "$@"
