#!/usr/bin/env python3
"""Compares two llama.cpp imatrix GGUFs entry by entry (e.g. quantd's and llama-imatrix's).

usage: ~/.cache/gguf-oracle/venv/bin/python scripts/imatrix/compare_imatrix.py OURS.gguf THEIRS.gguf [--tolerance 1e-3]

Prints both files' imatrix.* keys, the names only one file has, every count that differs, and the
largest relative difference |a - b| / |b| over all in_sum2 values (with the tensor and column where
it occurs), its mean and 99th percentile and how many sums are beyond the tolerance. Exit status 0 when every entry of both
files is present in the other, every count is equal, and every sum is within --tolerance relative.
"""
import argparse, sys
import numpy as np
import gguf


def load(path):
    r = gguf.GGUFReader(path)
    keys = {k: r.fields[k].contents() for k in r.fields if k.startswith("imatrix.") or k == "general.type"}
    sums, counts = {}, {}
    for t in r.tensors:
        if t.name.endswith(".in_sum2"):
            sums[t.name[:-8]] = np.array(t.data, dtype=np.float64).reshape(-1)
        elif t.name.endswith(".counts"):
            counts[t.name[:-7]] = np.array(t.data, dtype=np.float64).reshape(-1)
    return keys, sums, counts, [t.name for t in r.tensors]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours"); ap.add_argument("theirs")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    a = ap.parse_args()
    k1, s1, c1, order1 = load(a.ours)
    k2, s2, c2, order2 = load(a.theirs)
    print(f"ours:   {k1}")
    print(f"theirs: {k2}")
    ok = True
    only = sorted(set(s1) ^ set(s2))
    if only:
        ok = False
        print(f"entries in only one file: {only}")
    if order1 != order2:
        print("tensor order differs" if set(order1) == set(order2) else "tensor lists differ")
    worst, where, rels = 0.0, None, []
    for name in sorted(set(s1) & set(s2)):
        if not np.array_equal(c1[name], c2[name]):
            ok = False
            print(f"{name}: counts {c1[name].tolist()} vs {c2[name].tolist()}")
        if s1[name].shape != s2[name].shape:
            ok = False
            print(f"{name}: {s1[name].shape} vs {s2[name].shape} values")
            continue
        rel = np.abs(s1[name] - s2[name]) / np.maximum(np.abs(s2[name]), 1e-30)
        rels.append(rel)
        i = int(rel.argmax())
        if rel[i] > worst:
            worst, where = float(rel[i]), (name, i, s1[name][i], s2[name][i])
    allrel = np.concatenate(rels) if rels else np.zeros(1)
    print(f"{len(rels)} entries, {allrel.size} sums: max relative difference {worst:.3e}"
          + (f" ({where[0]} column {where[1]}: {where[2]:.6g} vs {where[3]:.6g})" if where else "")
          + f", mean {allrel.mean():.3e}, p99 {np.percentile(allrel, 99):.3e}; "
          + f"{int((allrel > a.tolerance).sum())} sums beyond {a.tolerance:g}")
    if worst > a.tolerance:
        ok = False
    print("AGREE" if ok else "DIFFER", f"(tolerance {a.tolerance:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
