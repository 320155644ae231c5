#!/usr/bin/env bash
# The time of a whole `quantd convert` job with and without the evaluate stage (release build),
# on the oracle's SmolLM2-135M folder and its pad768 variant, default pipeline (Q4_K_M, Q6_K, Q8_0).
# Runs are interleaved (with, without, with, ...) so machine load hits both alike; prints each run
# and the medians. On a VM the quantizing stage of a run now and then takes ~1 s more (sys time:
# the guest faulting in page-cache pages the host had taken back), in either mode: use 5+ repeats.
#   usage: scripts/pipeline/bench_evaluate.sh [REPEATS] [extra convert args...]
set -euo pipefail
REPEATS=${1:-5}; shift || true
QUANTD=${QUANTD:-.build/release/quantd}
ORACLE=${ORACLE:-$HOME/.cache/gguf-oracle}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf '{"version": 1, "schemes": [{"mix": "Q4_K_M"}, {"mix": "Q6_K"}, {"mix": "Q8_0"}]}\n' > "$WORK/pipeline.json"
for model in smollm2-135m-f16 smollm2-135m-pad768-f16; do
  with=(); without=(); stage=()
  for r in $(seq "$REPEATS"); do
    for mode in eval no-eval; do
      rm -rf "$WORK/out"
      args=(); [ "$mode" = no-eval ] && args=(--no-eval)
      t0=$(date +%s.%N)
      "$QUANTD" convert "$ORACLE/models/hf/$model" -o "$WORK/out" --pipeline "$WORK/pipeline.json" "${args[@]}" "$@" > /dev/null
      t=$(echo "$(date +%s.%N) - $t0" | bc)
      echo "$model $mode run $r: $t s $(python3 -c "import json;print(json.load(open('$WORK/out/manifest.json'))['timings'])")"
      if [ "$mode" = eval ]; then
        with+=("$t")
        stage+=("$(python3 -c "import json;print(json.load(open('$WORK/out/manifest.json'))['timings']['evaluate'])")")
      else
        without+=("$t")
      fi
    done
  done
  mw=$(printf '%s\n' "${with[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mo=$(printf '%s\n' "${without[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  ms=$(printf '%s\n' "${stage[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$model median: with evaluation $mw s, without $mo s, ratio $(echo "scale=2; $mw / $mo" | bc); evaluate stage $ms s, (without + stage) / without $(echo "scale=2; ($mo + $ms) / $mo" | bc)"
done
