#!/usr/bin/env python3
"""Random texts through llama.cpp and the Swift Tokenizer (scripts/tokenizer/encode_cli.swift,
built by fuzz.sh); prints every text whose ids differ. Not part of the test suite: it needs the
oracle. Code points are drawn from all of Unicode (categories, scripts, unassigned ones) and from
a pool of characters the splitters treat specially.
    ~/.cache/gguf-oracle/venv/bin/python scripts/tokenizer/fuzz.py CLI VOCAB.gguf COUNT SEED [overrides...]"""
import json, os, random, subprocess, sys, tempfile
import gguf
import llama_cpp

cli, vocab, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
overrides = sys.argv[5:]
rng = random.Random(seed)
POOL = list(" \t\n\r'sStTmMdDrReEvVlL019.,!?-_$+<=>^~|`@#") + ["  ", "\r\n", "\u00a0", "\u3000", "\u0085", "\u2028",
        "e\u0301", "中", "한", "ж", "٣", "²", "½", "Ⅻ", "👋🏽", "\u200d", "\ufe0f", "\u088f", "\u0378", "\ue000",
        "<|im_start|>", "<|endoftext|>", "<|im_end|>", "İ", "ß", "ǅ"]


def random_char():
    r = rng.random()
    if r < 0.5:
        return rng.choice(POOL)
    if r < 0.7:
        return chr(rng.randint(0x20, 0x24F))
    while True:
        c = rng.randint(0x80, 0x10FFFF if r > 0.9 else 0x2FFFF)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


texts = ["".join(random_char() for _ in range(rng.randint(1, 40))) for _ in range(count)]

# The same key changes for llama.cpp as encode_cli applies.
path = vocab
if overrides:
    r = gguf.GGUFReader(vocab)
    path = os.path.join(tempfile.mkdtemp(), "v.gguf")
    w = gguf.GGUFWriter(path, "llama")
    changes = dict(o.split("=", 1) for o in overrides)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or changes.get("remove") == key:
            continue
        val = f.contents()
        if key == "tokenizer.ggml.pre" and "pre" in changes:
            val = changes["pre"]
        if key in changes and key not in ("pre", "remove"):
            continue
        w.add_key_value(key, val, f.types[0], f.types[1] if f.types[0] == gguf.GGUFValueType.ARRAY else None)
    for key, value in changes.items():
        if key not in ("pre", "remove"):
            w.add_bool(key, value == "true")
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
    json.dump(texts, fh)
bad = 0
for add_special, parse_special in [(True, True), (False, False)]:
    out = subprocess.run([cli, vocab, fh.name, str(add_special).lower(), str(parse_special).lower(), *overrides],
                         check=True, capture_output=True).stdout
    mine = json.loads(out)
    for text, ids in zip(texts, mine):
        ref = llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)
        if ids != ref:
            bad += 1
            if bad <= 10:
                print("DIFF", repr(text), add_special, "\n  swift", ids, "\n  llama", ref)
print(f"{bad} of {2 * len(texts)} differ ({' '.join(overrides) or 'as stored'})")
