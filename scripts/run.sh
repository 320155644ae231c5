#!/usr/bin/env bash
# Builds quantd (release) and runs it. Until the daemon lands this inspects the sample GGUF that
# ships in examples/ (written by gguf-py: scripts/interop/gguf_write_sample.py examples/sample.gguf).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product quantd
exec .build/release/quantd inspect examples/sample.gguf "$@"
