#!/usr/bin/env bash
# Runs quantd's whole test suite, installing missing system packages and the Python venv that
# the interop tests (gguf-py, safetensors) use, then runs every fuzz target briefly. Exits non-zero
# if any test fails or a fuzz target finds an input that crashes a reader.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --python
export QUANTD_PYTHON="$PWD/.ci-venv/bin/python"
swift build --build-tests
# A private temporary folder for the test run: SwiftPM leaves empty TemporaryDirectory.* folders and
# lock files in $TMPDIR on every invocation, and the suite must leave nothing else there. The build
# above keeps the outer folder: the compiler writes its own files there (swift-generated-sources).
outer_tmpdir="${TMPDIR:-/tmp}"
export TMPDIR="$(mktemp -d)"
trap 'rm -rf "$TMPDIR"' EXIT
# A two-node Slurm cluster on this machine for the Slurm executor's tests (they skip without one);
# its daemons outlive this script, so they keep the outer temporary folder.
if slurm_env="$(TMPDIR="$outer_tmpdir" scripts/slurm/start-cluster.sh)"; then
    eval "$slurm_env"
else
    echo "warning: no Slurm cluster could be started; the Slurm executor's tests will be skipped" >&2
fi
swift test --skip-build
left="$(find "$TMPDIR" -mindepth 1 -maxdepth 1 ! -name 'TemporaryDirectory.*' ! -name '*.lock' -printf '  %f\n')"
if [[ -n "$left" ]]; then
    echo "error: the tests left these behind in \$TMPDIR (a test without its clean-up):" >&2
    echo "$left" >&2
    exit 1
fi
# Each libFuzzer target for a few seconds (QUANTD_FUZZ_SECONDS=0 skips; Fuzz/README.md).
fuzz_seconds="${QUANTD_FUZZ_SECONDS:-15}"
if [[ "$fuzz_seconds" != 0 ]]; then
    scripts/fuzz/smoke.sh "$fuzz_seconds"
fi
