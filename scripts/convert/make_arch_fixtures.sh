#!/bin/bash
# Regenerates the architecture fixtures of Tests/ModelConversionTests/Fixtures (tiny-qwen3moe,
# tiny-mixtral, ... tiny-gptoss-mxfp4): the reference toolkit's make_arch_models.py folders (hidden 64,
# seed 0) cut to the fixtures' 512-token tokenizer by make_arch_fixtures.py, and what llama.cpp's
# convert_hf_to_gguf.py makes of each for F32/F16/BF16/Q8_0 (expected/<model>.json).
# Needs the reference toolkit (scripts/oracle/setup.sh); run from the repository root, after
# make_fixtures.sh (it takes its tokenizers from tiny-llama3 and tiny-gemma3).
set -euo pipefail
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
PY=$ORACLE/venv/bin/python
CONVERT=$ORACLE/build/llama_cpp_python-0.3.36/vendor/llama.cpp/convert_hf_to_gguf.py
FIX=Tests/ModelConversionTests/Fixtures
KEYS=${KEYS:-"qwen3moe qwen2moe mixtral olmoe deepseekv3 olmo2 granite smollm3 exaone4 gemma2 glm4 glm4moe gptoss gptoss-mxfp4"}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

"$PY" "$ORACLE/make_arch_models.py" "$TMP/arch" --hidden 64 --only "$(echo $KEYS | tr ' ' ,)" > "$TMP/make.log"
"$PY" scripts/convert/make_arch_fixtures.py "$TMP/arch" "$FIX" $KEYS
for key in $KEYS; do
    model=tiny-$key
    args=()
    for type in F32 F16 BF16 Q8_0; do
        lower=$(echo "$type" | tr 'A-Z' 'a-z')
        "$PY" scripts/convert/reference_convert.py "$CONVERT" --pre smollm -- \
            "$FIX/models/$model" --outtype "$lower" --outfile "$TMP/$model-$type.gguf" 2>"$TMP/log" \
            || { tail -20 "$TMP/log"; exit 1; }
        args+=("$type=$TMP/$model-$type.gguf")
    done
    "$PY" scripts/convert/expected_json.py "$FIX/expected/$model.json" "${args[@]}"
done
du -sh "$FIX"
