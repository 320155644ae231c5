#!/usr/bin/env python3
"""Writes what a GGUF holds as the JSON the ModelConversion tests compare against.

usage: expected_json.py OUT.json TYPE=FILE.gguf [TYPE=FILE.gguf ...]

{"metadata": {key: {"type": T, "value": V}} of the first file (arrays: {"type": "ARRAY",
 "element": T, "value": [...]}), "key_order": [keys in the file's order, without general.file_type]
(llama-quantize keeps that order, so it is part of every artifact's bytes), "types": {TYPE: {"file_type": N, "tensors": {name: {"type": T,
 "shape": [ne0, ...], "sha256": hex}}}}}. Metadata other than general.file_type must be the same in
all files (checked).
"""
import hashlib, json, sys
import numpy as np
from gguf import GGUFReader, GGUFValueType

def metadata(r):
    out = {}
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        t = f.types[0]
        v = f.contents()
        if t == GGUFValueType.ARRAY:
            out[k] = {"type": "ARRAY", "element": f.types[-1].name, "value": v}
        else:
            if isinstance(v, (np.floating, float)):
                v = float(v)
            elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
                v = int(v)
            out[k] = {"type": t.name, "value": v}
    return out

def main():
    out_path = sys.argv[1]
    doc = {"metadata": None, "types": {}}
    for arg in sys.argv[2:]:
        typ, path = arg.split("=", 1)
        r = GGUFReader(path)
        md = metadata(r)
        file_type = md.pop("general.file_type")["value"]
        if doc["metadata"] is None:
            doc["metadata"] = md
            doc["key_order"] = list(md.keys())
        elif doc["metadata"] != md:
            sys.exit(f"{path}: metadata differs from the first file beyond general.file_type")
        tensors = {}
        for t in r.tensors:
            tensors[t.name] = {"type": t.tensor_type.name, "shape": [int(n) for n in t.shape],
                               "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()}
        doc["types"][typ] = {"file_type": file_type, "tensors": tensors}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")

if __name__ == "__main__":
    main()
