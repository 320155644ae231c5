#!/usr/bin/env python3
"""Checks `quantd inspect --json --verify` against gguf-py on real files: every key, value,
tensor name, type, shape, offset, size and tensor SHA-256 must agree. Exit 0 iff all agree.

    python3 scripts/interop/check_inspect.py .build/release/quantd FILE.gguf [FILE.gguf ...]"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_dump_json import dump  # noqa: E402


def compare(quantd, path):
    ours = json.loads(subprocess.run([quantd, "inspect", "--json", "--verify", path],
                                     check=True, capture_output=True).stdout)
    ref = dump(path)
    problems = []
    for key in ("format", "version", "alignment", "file_size", "data_offset"):
        if ours.get(key) != ref[key]:
            problems.append(f"{key}: quantd {ours.get(key)!r}, gguf-py {ref[key]!r}")
    if list(ours["metadata"]) != list(ref["metadata"]):
        problems.append(f"metadata keys differ: {set(ours['metadata']) ^ set(ref['metadata'])}")
    for key, value in ref["metadata"].items():
        if ours["metadata"].get(key) != value:
            problems.append(f"metadata[{key!r}]: quantd {str(ours['metadata'].get(key))[:80]}, gguf-py {str(value)[:80]}")
    if len(ours["tensors"]) != len(ref["tensors"]):
        problems.append(f"tensor count: quantd {len(ours['tensors'])}, gguf-py {len(ref['tensors'])}")
    for a, b in zip(ours["tensors"], ref["tensors"]):
        for key in ("name", "type", "shape", "offset", "bytes", "sha256"):
            if a.get(key) != b[key]:
                problems.append(f"tensor {b['name']} {key}: quantd {a.get(key)!r}, gguf-py {b[key]!r}")
    return problems


if __name__ == "__main__":
    quantd, files = sys.argv[1], sys.argv[2:]
    failed = False
    for path in files:
        problems = compare(quantd, path)
        print(f"{'OK  ' if not problems else 'DIFF'} {path}"
              + ("" if problems else f" (metadata and tensors agree with gguf-py)"))
        for p in problems[:20]:
            print("     " + p)
        failed |= bool(problems)
    sys.exit(1 if failed else 0)
