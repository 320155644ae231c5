#!/usr/bin/env bash
# Runs quantd's whole test suite, installing missing system packages and the Python venv that
# the interop tests (gguf-py, safetensors) use. Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --python
export QUANTD_PYTHON="$PWD/.ci-venv/bin/python"
swift build --build-tests
swift test --skip-build
