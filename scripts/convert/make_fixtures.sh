#!/bin/bash
# Regenerates Tests/ModelConversionTests/Fixtures: the tiny random models of make_models.py (BPE ones
# with a 512-token cut of SmolLM2's tokenizer, tiny-bert with a 2100-piece cut of bge-small's WordPiece), and what llama.cpp's convert_hf_to_gguf.py makes of each for F32/F16/BF16/Q8_0.
# Needs the GGUF oracle (scripts/oracle/setup.sh); run from the repository root.
set -euo pipefail
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
PY=$ORACLE/venv/bin/python
LLAMA=$ORACLE/build/llama_cpp_python-0.3.36/vendor/llama.cpp
CONVERT=$LLAMA/convert_hf_to_gguf.py
FIX=Tests/ModelConversionTests/Fixtures
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

MODELS="tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama2-spm tiny-gemma3 tiny-phi3 tiny-llama-fp8 tiny-bert"
# Only this script's models: the architecture fixtures (make_arch_fixtures.sh) stay.
for model in $MODELS; do rm -rf "$FIX/models/$model" "$FIX/expected/$model.json"; done
mkdir -p "$FIX/models" "$FIX/expected"
"$PY" scripts/convert/make_models.py "$ORACLE/models/hf/smollm2-135m-f16" "$FIX/models" --vocab 512 \
    --spm-text "$ORACLE/data/gpl3_excerpt.txt" \
    --bert-vocab "$LLAMA/models/ggml-vocab-bert-bge.gguf" --bert-vocab-size 2100
for model in $MODELS; do
    # The name the reference gives the full tokenizer each cut-down one comes from (see Fixtures/README.md).
    pre=smollm
    [ "$model" = tiny-bert ] && pre=jina-v2-en
    args=()
    for type in F32 F16 BF16 Q8_0; do
        lower=$(echo "$type" | tr 'A-Z' 'a-z')
        "$PY" scripts/convert/reference_convert.py "$CONVERT" --pre "$pre" -- \
            "$FIX/models/$model" --outtype "$lower" --outfile "$TMP/$model-$type.gguf" 2>"$TMP/log" \
            || { tail -20 "$TMP/log"; exit 1; }
        args+=("$type=$TMP/$model-$type.gguf")
    done
    "$PY" scripts/convert/expected_json.py "$FIX/expected/$model.json" "${args[@]}"
done
du -sh "$FIX"
