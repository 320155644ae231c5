#!/usr/bin/env bash
# Size targets and refined rounding against llama.cpp's named mixes, measured with llama.cpp's own
# tools on a text neither calibration saw:
#   scripts/quality/size_targets.sh [OUT_DIR]
# Model: the toolkit's rotated pad768 (make_rotated.py; weights on no quantization grid).
# 1. calibration text: quantd's bundled text (KJV Genesis 1-11), extracted from its Swift source;
#    importance matrix: llama-imatrix -c 512 --chunks 4 on it (both sides use this one file)
# 2. llama-quantize --imatrix of Q4_K_M, Q3_K_M, Q2_K
# 3. quantd convert with, per mix: the mix (must be byte-identical to 2.), the mix with refined
#    rounding, size_of the mix, size_of the mix with refined rounding (sensitivity on the same text)
# 4. the toolkit's ppl.py (llama.cpp) on data/gpl3_excerpt.txt, ctx 512: KLD of every artifact
#    against the F16 model
# Prints one TSV row per artifact: name, bytes, KLD mean, KLD p99, PPL, and the change of KLD against
# the named mix of the same size.
set -euo pipefail
cd "$(dirname "$0")/../.."
ORACLE=${ORACLE_DIR:-$HOME/.cache/gguf-oracle}
BIN=$ORACLE/build/llama.cpp/bin
PY=$ORACLE/venv/bin/python
F16=$ORACLE/models/gguf/smollm2-135m-pad768-rot-f16-convert.gguf
TEXT=$ORACLE/data/gpl3_excerpt.txt
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT/llama"
swift build -c release --product quantd >/dev/null
Q=$PWD/.build/release/quantd
python3 - "$OUT/calib.txt" <<'PY'
import sys
s = open("Sources/Pipeline/Texts/CalibrationText.swift").read()
body = s[s.index('"""\n') + 4:s.rindex('\n"""')]
lines = body.split("\n")
indent = min(len(l) - len(l.lstrip(" ")) for l in lines if l.strip())
open(sys.argv[1], "w").write("\n".join(l[indent:] for l in lines) + "\n")
PY
[ -f "$OUT/model.imatrix.gguf" ] || "$BIN/llama-imatrix" -m "$F16" -f "$OUT/calib.txt" -c 512 --chunks 4 -t 2 --no-ppl \
  -o "$OUT/model.imatrix.gguf" > "$OUT/imatrix.log" 2>&1
for m in Q4_K_M Q3_K_M Q2_K; do
  [ -f "$OUT/llama/$m.gguf" ] || "$BIN/llama-quantize" --imatrix "$OUT/model.imatrix.gguf" "$F16" "$OUT/llama/$m.gguf" $m 2 > /dev/null 2>&1
done
python3 - "$OUT/quality.json" <<'PY'
import json, sys
schemes = []
for mix in ["Q4_K_M", "Q3_K_M", "Q2_K"]:
    schemes += [{"name": mix, "mix": mix}, {"name": mix + "-refined", "mix": mix, "rounding": "refined"},
                {"name": "st-" + mix, "target": {"size_of": mix}, "sensitivity_text": "calib.txt"},
                {"name": "st-" + mix + "-refined", "target": {"size_of": mix}, "sensitivity_text": "calib.txt", "rounding": "refined"}]
json.dump({"version": 1, "threads": 2, "calibration": [{"stage": "imatrix", "file": "model.imatrix.gguf"}],
           "schemes": schemes, "evaluate": {"tokens": 512, "ctx": 256}}, open(sys.argv[1], "w"), indent=1)
PY
[ -f "$OUT/quantd/manifest.json" ] || "$Q" convert "$F16" -o "$OUT/quantd" --pipeline "$OUT/quality.json" > "$OUT/quantd.log"
for m in Q4_K_M Q3_K_M Q2_K; do
  cmp -s "$OUT/llama/$m.gguf" "$OUT/quantd/smollm2-135m-pad768-rot-$m.gguf" && echo "# $m byte-identical to llama-quantize" \
    || echo "# $m DIFFERS from llama-quantize"
done
printf 'artifact\tbytes\tkld_mean\tkld_p99\tppl\tkld_vs_named_mix\n'
for f in "$OUT"/quantd/*.gguf; do
  name=$(basename "$f" .gguf); name=${name#smollm2-135m-pad768-rot-}
  [ -f "$OUT/ppl-$name.json" ] || "$PY" "$ORACLE/ppl.py" "$f" "$TEXT" --ref "$F16" --ctx 512 --json > "$OUT/ppl-$name.json" 2>/dev/null
  echo "$name $(stat -c %s "$f") $(cat "$OUT/ppl-$name.json")"
done | python3 -c '
import sys, json
rows = {}
for line in sys.stdin:
    name, size, js = line.split(" ", 2)
    rows[name] = (int(size), json.loads(js))
for name, (size, r) in rows.items():
    mix = name.replace("st-", "").replace("-refined", "")
    base = rows[mix][1]["kld_mean"] if mix in rows else float("nan")
    print(f"{name}\t{size}\t{r[\"kld_mean\"]:.5f}\t{r[\"kld_p99\"]:.4f}\t{r[\"ppl\"]:.4f}\t{(r[\"kld_mean\"] / base - 1) * 100:+.1f} %")
'
