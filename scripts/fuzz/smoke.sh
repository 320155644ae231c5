#!/usr/bin/env bash
# Builds every libFuzzer target and runs each briefly: scripts/fuzz/smoke.sh [SECONDS_PER_TARGET]
#
# The test suite already replays the committed corpora without instrumentation; this runs the
# instrumented readers (AddressSanitizer, coverage-guided mutation) for a short while so that a
# change which makes a reader crash on a nearby input fails CI, not a user's daemon. A finding
# stops the run; its input is left in .build-fuzz/findings/TARGET/ (see Fuzz/README.md). Each run
# starts from the committed seeds only and writes new inputs to a scratch folder, so the result
# does not depend on earlier runs on the same machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-20}"
targets=($(cd Fuzz && ls *.swift | sed 's/\.swift$//'))
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
status=0
for target in "${targets[@]}"; do
    mkdir -p .build-fuzz
    if ! scripts/fuzz/build.sh "$target" > ".build-fuzz/build-$target.log" 2>&1; then
        tail -n 40 ".build-fuzz/build-$target.log" >&2
        exit 1
    fi
    scratch="$(mktemp -d)"
    findings=".build-fuzz/findings/$target"
    mkdir -p "$findings"
    seeds=("Fuzz/corpus/$target")
    [[ -d "Fuzz/regressions/$target" ]] && seeds+=("Fuzz/regressions/$target")
    if ".build-fuzz/$target" "$scratch" "${seeds[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$findings/" -detect_leaks=0 -print_final_stats=1 \
        > ".build-fuzz/smoke-$target.log" 2>&1; then
        echo "fuzz $target: ${seconds} s, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' ".build-fuzz/smoke-$target.log" | grep -o '[0-9]*$') inputs, no finding"
    else
        echo "fuzz $target: FINDING (log .build-fuzz/smoke-$target.log, input in $findings/)" >&2
        tail -n 30 ".build-fuzz/smoke-$target.log" >&2
        status=1
    fi
    rm -rf "$scratch"
done
exit $status
