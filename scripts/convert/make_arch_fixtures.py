#!/usr/bin/env python3
"""Cuts the reference toolkit's tiny random architecture folders down to test fixtures.

usage: make_arch_fixtures.py ARCH_DIR FIXTURES_DIR KEY...

ARCH_DIR holds make_arch_models.py's folders (`<key>-h64/`, hidden 64, seed 0, BF16). For each KEY,
FIXTURES_DIR/models/tiny-<key>/ gets the same network with its vocabulary cut to the fixtures'
tokenizer, so the folder stays a few hundred KB:

* BPE models take the 512-token GPT-2 tokenizer of FIXTURES_DIR/models/tiny-llama3 (a cut of
  SmolLM2's; converted with `--pre smollm`, see Fixtures/README.md); the GLM ones get the GLM
  special tokens the GLM converters look up by name as added tokens from id 512 on, with `vocab_size`
  576. `<|endoftext|>` is already token 0 of that tokenizer, so it is not added a second time (the
  toolkit's folders add it again; transformers then drops the duplicate, which no real GLM tokenizer
  has): ten tokens, ids 512..521.
* gemma2 takes tiny-gemma3's 400-piece SentencePiece model (`vocab_size` 400).
* `model.embed_tokens.weight` and `lm_head.weight` keep their first `vocab_size` rows; every other
  tensor is copied byte for byte. The safetensors files are rewritten from their raw bytes (no torch).

The result is deterministic: the same inputs give the same bytes.
"""
import json, os, shutil, struct, sys

SPM_KEYS = {"gemma2"}
GLM_KEYS = {"glm4", "glm4moe"}
ROW_TENSORS = ("model.embed_tokens.weight", "lm_head.weight")


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    return header, meta, data


def write_safetensors(path, tensors, meta):
    """tensors: list of (name, dtype, shape, bytes) in the order to write."""
    header, offset = {}, 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def cut_weights(src, dst, rows):
    header, meta, data = read_safetensors(src)
    out = []
    for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
        info = header[name]
        begin, end = info["data_offsets"]
        raw, shape = data[begin:end], list(info["shape"])
        if name in ROW_TENSORS and shape[0] > rows:
            row_bytes = len(raw) // shape[0]
            raw, shape = raw[: rows * row_bytes], [rows] + shape[1:]
        out.append((name, info["dtype"], shape, raw))
    write_safetensors(dst, out, meta)


def glm_tokenizer(base, out_dir):
    """The 512-token tokenizer plus the GLM special tokens the GLM converters look up by name."""
    names = ["[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>",
             "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|endoftext|>"]
    tok = json.load(open(os.path.join(base, "tokenizer.json")))
    added = tok.get("added_tokens", [])
    present = set(tok["model"]["vocab"]) | {a["content"] for a in added}
    names = [name for name in names if name not in present]
    for i, name in enumerate(names):
        added.append({"id": 512 + i, "content": name, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    tok["added_tokens"] = added
    json.dump(tok, open(os.path.join(out_dir, "tokenizer.json"), "w"), ensure_ascii=False, indent=2)
    cfg = json.load(open(os.path.join(base, "tokenizer_config.json")))
    decoder = cfg.setdefault("added_tokens_decoder", {})
    for i, name in enumerate(names):
        decoder[str(512 + i)] = {"content": name, "lstrip": False, "normalized": False, "rstrip": False,
                                 "single_word": False, "special": True}
    json.dump(cfg, open(os.path.join(out_dir, "tokenizer_config.json"), "w"), ensure_ascii=False, indent=2)


def main():
    arch_dir, fix_dir, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
    models = os.path.join(fix_dir, "models")
    for key in keys:
        src = os.path.join(arch_dir, f"{key}-h64")
        dst = os.path.join(models, f"tiny-{key}")
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        config = json.load(open(os.path.join(src, "config.json")))
        if key in SPM_KEYS:
            base = os.path.join(models, "tiny-gemma3")
            for name in ("tokenizer.model", "tokenizer_config.json"):
                shutil.copy(os.path.join(base, name), dst)
            vocab = 400
        else:
            base = os.path.join(models, "tiny-llama3")
            shutil.copy(os.path.join(base, "special_tokens_map.json"), dst)
            if key in GLM_KEYS:
                glm_tokenizer(base, dst)
                vocab = 576
            else:
                for name in ("tokenizer.json", "tokenizer_config.json"):
                    shutil.copy(os.path.join(base, name), dst)
                vocab = 512
        target = config.get("text_config", config)
        target["vocab_size"] = vocab
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if isinstance(target.get(name), int) and target[name] >= vocab:
                target[name] = 0
        json.dump(config, open(os.path.join(dst, "config.json"), "w"), indent=2, sort_keys=True)
        if os.path.exists(os.path.join(src, "generation_config.json")):
            gen = json.load(open(os.path.join(src, "generation_config.json")))
            for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
                if isinstance(gen.get(name), int) and gen[name] >= vocab:
                    gen[name] = 0
            json.dump(gen, open(os.path.join(dst, "generation_config.json"), "w"), indent=2, sort_keys=True)
        cut_weights(os.path.join(src, "model.safetensors"), os.path.join(dst, "model.safetensors"), vocab)
        print(f"{dst}: {sum(os.path.getsize(os.path.join(dst, f)) for f in os.listdir(dst))} bytes")


if __name__ == "__main__":
    main()
