#!/usr/bin/env bash
# Whole IQ mixes, quantd against llama-quantize, at 1 and 2 threads, same machine, same run: the
# named mix (not --pure, so every tensor gets the type the mix rules give it) with an importance
# matrix, as people make these mixes. It is kernels_vs_llama.sh with PURE=0 and the imatrix given,
# so the timing, medians and whole-file byte comparison are that script's.
#   Benchmarks/iq.sh MODEL-F16.gguf IMATRIX.gguf ["IQ3_XXS IQ3_XS IQ3_S IQ3_M"] ["1 2"]
# REPEAT=n (default 1) runs each pair n times and reports medians.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
IMATRIX=$2
MIXES=${3:-"IQ3_XXS IQ3_XS IQ3_S IQ3_M"}
THREADS=${4:-"1 2"}
PURE=0 IMATRIX="$IMATRIX" REPEAT=${REPEAT:-1} exec Benchmarks/kernels_vs_llama.sh "$MODEL" "$MIXES" "$THREADS"
