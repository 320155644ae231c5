#!/usr/bin/env bash
# The time of a whole `quantd convert` job with and without the evaluate stage (release build),
# on the oracle's SmolLM2-135M folder and its pad768 variant, default pipeline (Q4_K_M, Q6_K, Q8_0).
#
# Each mode runs as a block: one untimed warm-up, then REPEATS timed runs, each deleting the previous
# run's output first; prints each run, the medians and their ratio, and the evaluate stage's median.
# Why blocks and not interleaved runs: on the VM this was measured on, the quantizing stage of a run
# that follows a `--no-eval` run now and then takes ~1 s more (system time: the artifacts are written
# through the page cache, and the pages freed by deleting a no-eval run's output come back slowly),
# while a run that follows an evaluating run never does. Interleaving put every evaluating run after
# a no-eval one and charged that to evaluation (SmolLM2: 2.02× interleaved, 1.73× in blocks, and
# 1.72× as (no-eval job + evaluate stage) / no-eval job). Keeping every output instead (a daemon's
# case) makes the quantizing stage ~2.5 s in both modes.
#   usage: scripts/pipeline/bench_evaluate.sh [REPEATS] [extra convert args...]
set -euo pipefail
REPEATS=${1:-5}; shift || true
QUANTD=${QUANTD:-.build/release/quantd}
ORACLE=${ORACLE:-$HOME/.cache/gguf-oracle}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf '{"version": 1, "schemes": [{"mix": "Q4_K_M"}, {"mix": "Q6_K"}, {"mix": "Q8_0"}]}\n' > "$WORK/pipeline.json"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for model in smollm2-135m-f16 smollm2-135m-pad768-f16; do
  with=(); without=(); stage=()
  for mode in no-eval eval; do
    for r in $(seq 0 "$REPEATS"); do
      rm -rf "$WORK/out"
      args=(); [ "$mode" = no-eval ] && args=(--no-eval)
      t0=$(date +%s.%N)
      "$QUANTD" convert "$ORACLE/models/hf/$model" -o "$WORK/out" --pipeline "$WORK/pipeline.json" "${args[@]}" "$@" > /dev/null
      t=$(echo "$(date +%s.%N) - $t0" | bc)
      timings=$(python3 -c "import json;print(json.load(open('$WORK/out/manifest.json'))['timings'])")
      if [ "$r" = 0 ]; then echo "$model $mode warm-up: $t s $timings"; continue; fi
      echo "$model $mode run $r: $t s $timings"
      if [ "$mode" = eval ]; then
        with+=("$t")
        stage+=("$(python3 -c "import json;print(json.load(open('$WORK/out/manifest.json'))['timings']['evaluate'])")")
      else
        without+=("$t")
      fi
    done
  done
  mw=$(printf '%s\n' "${with[@]}" | median)
  mo=$(printf '%s\n' "${without[@]}" | median)
  ms=$(printf '%s\n' "${stage[@]}" | median)
  echo "$model median: with evaluation $mw s, without $mo s, ratio $(echo "scale=2; $mw / $mo" | bc); evaluate stage $ms s, (without + stage) / without $(echo "scale=2; ($mo + $ms) / $mo" | bc)"
done
