#!/usr/bin/env bash
# Installs what building and testing quantd needs on Debian/Ubuntu, skipping what is present:
# the C libraries quantd links (libzstd, libinotifytools, libcrypto), pkg-config, the zstd tool, and a
# Python venv (.ci-venv) with gguf-py, numpy and safetensors for the interop tests, and prometheus_client
# whose parser reads the daemon's metrics in the tests.
#   scripts/install-deps.sh          # system packages only
#   scripts/install-deps.sh --python # also the Python venv
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libzstd-dev >/dev/null 2>&1 || need+=(libzstd-dev)
dpkg -s libinotifytools0-dev >/dev/null 2>&1 || need+=(libinotifytools0-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
if [ "${1:-}" = "--python" ]; then
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  # systemd-analyze checks the unit file in the tests (no systemd needs to run).
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--python" ]; then
  if ! .ci-venv/bin/python -c 'import gguf, numpy, safetensors, prometheus_client' >/dev/null 2>&1; then
    echo "creating .ci-venv (gguf-py, numpy, safetensors, prometheus_client)"
    python3 -m venv .ci-venv
    .ci-venv/bin/pip install -q --disable-pip-version-check gguf==0.19.0 numpy==2.4.6 safetensors==0.8.0 prometheus-client==0.26.0
  fi
fi
