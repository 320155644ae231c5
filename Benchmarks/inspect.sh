#!/usr/bin/env bash
# Benchmark of `quantd inspect` (release build) against llama.cpp's gguf-py on one GGUF:
#   header only: quantd inspect --json   vs  gguf-dump --json (gguf-py's gguf_dump.py)
#   full read:   quantd inspect --verify vs  sha256sum of the file (one SHA-256 stream: the floor
#                for hashing every byte once on one core)
# Usage: Benchmarks/inspect.sh FILE.gguf [GGUF_DUMP]   (GGUF_DUMP defaults to the oracle's venv)
# Needs hyperfine (apt-get install hyperfine). Warm page cache: each command runs after warm-ups.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=$1
DUMP=${2:-$HOME/.cache/gguf-oracle/venv/bin/gguf-dump}
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
swift build -c release --product quantd >/dev/null
Q=.build/release/quantd
SIZE=$(stat -c %s "$FILE")
echo "file: $FILE ($SIZE bytes), $(nproc) cores"
OUT=$(mktemp -d)
hyperfine -N --warmup 3 --runs 20 --export-json "$OUT/header.json" \
  "$Q inspect --json $FILE" "$DUMP --json $FILE" >/dev/null
hyperfine -N --warmup 1 --runs 5 --export-json "$OUT/verify.json" \
  "$Q inspect --verify --json $FILE" "sha256sum $FILE" >/dev/null
python3 - "$OUT" "$SIZE" <<'PY'
import json, sys
out, size = sys.argv[1], int(sys.argv[2])
def load(name):
    return [(r["command"], r["mean"], r["stddev"]) for r in json.load(open(f"{out}/{name}.json"))["results"]]
h = load("header"); v = load("verify")
print(f"header only   quantd {h[0][1]*1000:8.1f} ms ± {h[0][2]*1000:.1f}   gguf-dump {h[1][1]*1000:8.1f} ms ± {h[1][2]*1000:.1f}   ratio {h[1][1]/h[0][1]:.1f}x faster")
print(f"--verify      quantd {v[0][1]:8.3f} s  ({size/v[0][1]/1e9:.2f} GB/s: file hash + per-tensor hashes + finite checks)")
print(f"sha256sum              {v[1][1]:8.3f} s  ({size/v[1][1]/1e9:.2f} GB/s: one hash of the file)   ratio {v[1][1]/v[0][1]:.2f}x")
PY
rm -rf "$OUT"
