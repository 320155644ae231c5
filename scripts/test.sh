#!/usr/bin/env bash
# Runs quantd's whole test suite, installing missing system packages and the Python venv that
# the interop tests (gguf-py, safetensors) use, then runs every fuzz target briefly. Exits non-zero
# if any test fails or a fuzz target finds an input that crashes a reader.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --python
export QUANTD_PYTHON="$PWD/.ci-venv/bin/python"
swift build --build-tests
# A two-node Slurm cluster on this machine for the Slurm executor's tests (they skip without one).
if slurm_env="$(scripts/slurm/start-cluster.sh)"; then
    eval "$slurm_env"
else
    echo "warning: no Slurm cluster could be started; the Slurm executor's tests will be skipped" >&2
fi
swift test --skip-build
# Each libFuzzer target for a few seconds (QUANTD_FUZZ_SECONDS=0 skips; Fuzz/README.md).
fuzz_seconds="${QUANTD_FUZZ_SECONDS:-15}"
if [[ "$fuzz_seconds" != 0 ]]; then
    scripts/fuzz/smoke.sh "$fuzz_seconds"
fi
