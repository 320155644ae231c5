#!/usr/bin/env bash
# What the file-system seam (BinaryIO's FileSystem.call + FileSystemFaults) costs a call when no
# fault injector is installed: BinaryIO's file-system sources and Benchmarks/seam-cost/main.swift
# built as one optimized module, timing 1-byte write(2)s to /dev/null with and without the seam.
# Usage: Benchmarks/seam_cost.sh   (from the repository root; needs swiftc and libcrypto)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/seam-cost
mkdir -p .build
swiftc -O -module-name BinaryIO \
    -Xcc -fmodule-map-file=Sources/COpenSSLCrypto/module.modulemap \
    Sources/BinaryIO/FileSystem.swift Sources/BinaryIO/FileSystemFaults.swift \
    Sources/BinaryIO/AtomicFileWriter.swift Sources/BinaryIO/MappedFile.swift Sources/BinaryIO/SHA256Digest.swift \
    Benchmarks/seam-cost/main.swift -o "$out"
"$out"
