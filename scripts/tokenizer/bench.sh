#!/bin/sh
# Throughput of the Swift tokenizer (release) against llama-cpp-python's, on the same vocabulary and text.
#   scripts/tokenizer/bench.sh [VOCAB.gguf] [TEXT.txt]
set -e
cd "$(dirname "$0")/../.."
VOCAB=${1:-Tests/TokenizerTests/Fixtures/smollm2-digits-vocab.gguf}
TEXT=${2:-$HOME/.cache/gguf-oracle/data/gpl3_excerpt.txt}
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
swift build -c release --target Tokenizer
BIN=.build/release
# No executable target for this (the package's targets are not this script's to change): link
# the release objects of Tokenizer and what it imports directly.
swiftc -O -I "$BIN/Modules" -I Sources/CZstd -I Sources/COpenSSLCrypto scripts/tokenizer/bench.swift \
    "$BIN"/Tokenizer.build/*.o "$BIN"/GGUF.build/*.o "$BIN"/BinaryIO.build/*.o \
    -lzstd -lcrypto -o "$BIN/tokenizer-bench"
echo "quantd Tokenizer:"
"$BIN/tokenizer-bench" "$VOCAB" "$TEXT" 20
if [ -x "$ORACLE/venv/bin/python" ]; then
    echo "llama-cpp-python:"
    "$ORACLE/venv/bin/python" scripts/tokenizer/bench_llama.py "$VOCAB" "$TEXT" 20
fi
