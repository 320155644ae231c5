#!/usr/bin/env python3
"""Dumps a GGUF file as gguf-py's GGUFReader sees it, in the shape of `quantd inspect --json`
(format, version, alignment, file_size, data_offset, metadata, tensors with name, type, shape
ne0-first, absolute offset, bytes) plus each tensor's SHA-256, so quantd can be checked
against the reference reader:

    python3 scripts/interop/gguf_dump_json.py FILE.gguf > reference.json"""
import hashlib
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as T


def value(field):
    main = field.types[0]
    if main == T.ARRAY:
        sub = field.types[-1]
        if sub == T.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [scalar(field.parts[i][0], sub) for i in field.data]
    if main == T.STRING:
        return bytes(field.parts[-1]).decode("utf-8")
    return scalar(field.parts[-1][0], main)


def scalar(v, t):
    if t == T.BOOL:
        return bool(v)
    if t in (T.FLOAT32, T.FLOAT64):
        return float(v)
    return int(v)


def dump(path):
    r = gguf.GGUFReader(path)
    metadata = {}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue  # gguf-py's pseudo-fields for the header itself
        metadata[name] = value(field)
    tensors = []
    for t in r.tensors:
        data = np.asarray(t.data)
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(x) for x in t.shape],
            "offset": int(t.data_offset),
            "bytes": int(t.n_bytes),
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
        })
    version = int(r.fields["GGUF.version"].parts[-1][0])
    return {
        "format": "gguf", "version": version, "alignment": int(r.alignment),
        "file_size": os.path.getsize(path), "data_offset": int(r.data_offset),
        "metadata": metadata, "tensors": tensors,
    }


if __name__ == "__main__":
    json.dump(dump(sys.argv[1]), sys.stdout, ensure_ascii=False)
