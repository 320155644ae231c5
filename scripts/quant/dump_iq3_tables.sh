#!/usr/bin/env bash
# Builds scripts/quant/dump_iq3_tables.c against the oracle's llama.cpp sources and libggml-base,
# and writes ggml's IQ3 search tables to OUT (default: the test fixture).
set -euo pipefail
ORACLE=${ORACLE:-$HOME/.cache/gguf-oracle}
V=$ORACLE/build/llama_cpp_python-0.3.36/vendor/llama.cpp
LIB=$ORACLE/venv/lib/python3.11/site-packages/llama_cpp/lib
OUT=${1:-Tests/QuantizationTests/Fixtures/iq3-tables.bin}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
gcc -O2 -I"$V/ggml/src" -I"$V/ggml/include" "$HERE/dump_iq3_tables.c" -L"$LIB" -lggml-base \
    -Wl,-rpath,"$LIB" -lm -o "$TMP/dump_iq3_tables"
"$TMP/dump_iq3_tables" "$OUT"
