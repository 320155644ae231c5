#!/bin/sh
# Random-text comparison of the Swift Tokenizer with llama.cpp over every fixture variant.
#   scripts/tokenizer/fuzz.sh [COUNT] [SEED]
set -e
cd "$(dirname "$0")/../.."
COUNT=${1:-500}; SEED=${2:-1}
PY=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}/venv/bin/python
swift build -c release --target Tokenizer
BIN=.build/release
swiftc -O -I "$BIN/Modules" -I Sources/CZstd -I Sources/COpenSSLCrypto scripts/tokenizer/encode_cli.swift \
    "$BIN"/Tokenizer.build/*.o "$BIN"/GGUF.build/*.o "$BIN"/BinaryIO.build/*.o -lzstd -lcrypto -o "$BIN/tokenizer-encode"
F=Tests/TokenizerTests/Fixtures
for pre in ${PRES:-smollm llama-bpe qwen2 gpt-2 default qwen35 glm4 chatglm-bpe laguna bloom viking tekken deepseek-v3}; do
    "$PY" scripts/tokenizer/fuzz.py "$BIN/tokenizer-encode" $F/smollm2-digits-vocab.gguf "$COUNT" "$SEED" pre=$pre
done
[ -n "$PRES" ] && exit 0
"$PY" scripts/tokenizer/fuzz.py "$BIN/tokenizer-encode" $F/spm-vocab.gguf "$COUNT" "$SEED"
"$PY" scripts/tokenizer/fuzz.py "$BIN/tokenizer-encode" $F/wpm-vocab.gguf "$COUNT" "$SEED"
"$PY" scripts/tokenizer/fuzz.py "$BIN/tokenizer-encode" $F/wpm-vocab.gguf "$COUNT" "$SEED" tokenizer.ggml.normalizer.lowercase=false
