#!/bin/sh
# Makes Tests/QuantdCLITests/Fixtures/split/ with llama.cpp's llama-gguf-split (the reference
# toolkit's build, llama.cpp commit 0c1e57098). Run from the repository root:
#   sh scripts/split/make_fixture.sh
# The input is Tests/InferenceTests/Fixtures/tiny-llama-q8_0.gguf (llama-quantize's Q8_0 of
# tiny-llama-f32.gguf, 21 tensors). Rerunning writes the same bytes.
set -eu
ORACLE=${ORACLE:-$HOME/.cache/gguf-oracle}
SPLIT=$ORACLE/build/llama.cpp/bin/llama-gguf-split
PY=$ORACLE/venv/bin/python
IN=Tests/InferenceTests/Fixtures/tiny-llama-q8_0.gguf
OUT=Tests/QuantdCLITests/Fixtures/split
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
# Three files of at most 8 tensors (8, 8, 5).
"$SPLIT" --split --split-max-tensors 8 "$IN" "$OUT.tmp/tiny-llama-q8_0" > /dev/null
# The same model under a size limit larger than the whole model: a set of one file.
"$SPLIT" --split --split-max-size 1M "$IN" "$OUT.tmp/one" > /dev/null
# llama-gguf-split --merge of the three files.
"$SPLIT" --merge "$OUT.tmp/tiny-llama-q8_0-00001-of-00003.gguf" "$OUT.tmp/merged.gguf" > /dev/null 2>&1
# Where --split-max-size cuts a larger model (54 MB, 39 tensors of F16/F32): the tensors' byte
# sizes and how many tensors each file gets in llama-gguf-split --dry-run's plan for five limits.
BIG=$ORACLE/models/gguf/tiny-llama-h256-f16-convert-f16.gguf
{
  printf '{\n  "source": "tiny-llama-h256-f16-convert-f16.gguf",\n'
  "$PY" -c '
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
print("  \"tensors\": [" + ", ".join("[\"%s\", %d]" % (t.name, t.n_bytes) for t in r.tensors) + "],")
' "$BIG"
  printf '  "plans": {\n'
  first=1
  # 5M is smaller than the first tensor: llama-gguf-split refuses it (recorded as null).
  for size in 5M 26M 30M 51M 60M; do
    [ $first = 1 ] || printf ',\n'
    if plan=$("$SPLIT" --split --dry-run --split-max-size $size "$BIG" /tmp/unused 2>/dev/null); then
      counts=$(printf '%s\n' "$plan" | sed -n 's/^split [0-9]*: n_tensors = \([0-9]*\),.*/\1/p' | paste -sd, -)
      printf '    "%s": [%s]' $size "$counts"
    else
      printf '    "%s": null' $size
    fi
    first=0
  done
  printf '\n  }\n}\n'
} > "$OUT.tmp/size-plans.json"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
ls -l "$OUT"
