#!/usr/bin/env bash
# Builds quantd (release) and starts the daemon on ./quantd-root with the default pipeline.json:
# drop a model (a Hugging Face folder or an F16/BF16/F32 GGUF) into quantd-root/inbox/ and its artifacts appear in
# quantd-root/out/NAME/. Stop with Ctrl-C. Extra arguments go to `quantd watch`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product quantd
exec .build/release/quantd watch --root "${QUANTD_ROOT:-$PWD/quantd-root}" --pipeline pipeline.json "$@"
