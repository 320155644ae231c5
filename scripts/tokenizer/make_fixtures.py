#!/usr/bin/env python3
"""Build the Tokenizer test fixtures: small vocabulary-only GGUFs and the token ids llama.cpp gives.

    ~/.cache/gguf-oracle/venv/bin/python scripts/tokenizer/make_fixtures.py \
        ~/.cache/gguf-oracle/models/gguf/smollm2-135m-f16-convert.gguf \
        ~/.cache/gguf-oracle/data/gpl3_excerpt.txt Tests/TokenizerTests/Fixtures

Needs gguf-py, sentencepiece and llama-cpp-python (the oracle venv). Only one copy of each
vocabulary is committed; a case that needs another pre-tokenizer or a missing key names the
change ("pre", "remove") and the Swift test applies the same change to the metadata it loads,
while this script writes the changed GGUF to a temporary folder for llama.cpp.
"""
import ctypes, json, os, random, sys, tempfile

import gguf
import llama_cpp
import sentencepiece as spm

SRC, GPL, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="tokfix-")

# Hyperparameters llama.cpp needs to load an architecture even with vocab_only.
ARCH_KEYS = ["llama.context_length", "llama.embedding_length", "llama.block_count",
             "llama.feed_forward_length", "llama.attention.head_count",
             "llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon",
             "llama.rope.dimension_count", "llama.vocab_size"]


def field_value(f):
    return f.contents()


# SmolLM2 has only one-digit tokens, so its ids cannot show how a pre-tokenizer groups digits
# (Llama 3 in threes, Qwen 2 one by one, GPT-2 whole runs). The committed vocabulary appends
# two- and three-digit tokens and their merges, after all of SmolLM2's, so that they do.
DIGITS = "0123456789"
EXTRA_TOKENS = ([a + b for a in DIGITS for b in DIGITS] + [a + b + c for a in DIGITS for b in DIGITS for c in DIGITS]
                + ["\u0120" + a for a in DIGITS] + ["\u0120" + a + b for a in DIGITS for b in DIGITS])
EXTRA_MERGES = ([f"{a} {b}" for a in DIGITS for b in DIGITS] + [f"{a}{b} {c}" for a in DIGITS for b in DIGITS for c in DIGITS]
                + [f"\u0120 {a}" for a in DIGITS] + [f"\u0120{a} {b}" for a in DIGITS for b in DIGITS])


def copy_vocab(src_path, dst_path, pre=None, remove=(), set_bools=None, extra_digits=False):
    """A GGUF with the source's hyperparameters and tokenizer keys only (no tensors, no template)."""
    r = gguf.GGUFReader(src_path)
    w = gguf.GGUFWriter(dst_path, "llama")
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if not (key in ARCH_KEYS or key.startswith("tokenizer.ggml.")):
            continue
        if key in remove:
            continue
        val = field_value(f)
        if key == "tokenizer.ggml.pre" and pre is not None:
            val = pre
        if extra_digits and key == "tokenizer.ggml.tokens":
            val = list(val) + EXTRA_TOKENS
        if extra_digits and key == "tokenizer.ggml.token_type":
            val = list(val) + [int(gguf.TokenType.NORMAL)] * len(EXTRA_TOKENS)
        if extra_digits and key == "tokenizer.ggml.merges":
            val = list(val) + EXTRA_MERGES
        vtype = f.types[0]
        sub = f.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, val, vtype, sub)
    if pre is not None and "tokenizer.ggml.pre" not in r.fields:
        w.add_string("tokenizer.ggml.pre", pre)
    for key, value in (set_bools or {}).items():
        w.add_bool(key, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def spm_vocab(dst_path, text):
    """A tiny SentencePiece BPE model with byte fallback, written as a llama-style GGUF vocabulary."""
    corpus = os.path.join(TMP, "corpus.txt")
    with open(corpus, "w") as fh:
        fh.write(text)
    prefix = os.path.join(TMP, "sp")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=600, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, split_digits=True,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"], bos_id=1, eos_id=2, unk_id=0,
        minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif tokens[-1] in ("<|im_start|>", "<|im_end|>"):
            t = gguf.TokenType.USER_DEFINED
        else:
            t = gguf.TokenType.NORMAL
        types.append(int(t))
    w = gguf.GGUFWriter(dst_path, "llama")
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def wpm_vocab(dst_path, text):
    """A tiny WordPiece model (Hugging Face tokenizers, BERT normalizer and pre-tokenizer), written
    as llama.cpp's converter writes BERT vocabularies: `##x` -> `x`, other pieces -> `▁x`."""
    from tokenizers import Tokenizer as HFTokenizer, models, normalizers, pre_tokenizers, trainers
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([text, text.lower()], trainers.WordPieceTrainer(vocab_size=900, special_tokens=specials))
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    tokens, types = [], []
    for piece, _ in vocab:
        if piece in specials:
            tokens.append(piece)
            types.append(int(gguf.TokenType.CONTROL))
        else:
            tokens.append(piece[2:] if piece.startswith("##") else "\u2581" + piece)
            types.append(int(gguf.TokenType.NORMAL))
    w = gguf.GGUFWriter(dst_path, "llama")
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_pad_token_id(0)
    w.add_unk_token_id(1)
    w.add_bos_token_id(2)
    w.add_sep_token_id(3)
    w.add_mask_token_id(4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


gpl = open(GPL, encoding="utf-8").read()
TEXTS = {
    "gpl": gpl,
    "empty": "",
    "unicode": "Héllo wörld, naïve café — Ελληνικά κείμενα, Русский текст, українська, 中文字符测试，日本語のテキスト、한국어 텍스트. Ünïcödé façade; ñandú. ÀÉÎÕÜ ǅ ß ﬁ Ⅻ",
    "digits": "1 12 123 1234 12345 123456 3.14159 1,000,000 2026-11-24 ٣٤٥ ²³ ½ Ⅻ 007 x1y22z333 v4567",
    "digit-runs": "0 00 000 0000 1234567890 +1-800-555-0199 99.999,99 $1234 12a34b567 ' 1' '12 \n42\n\n 7 8  9   10",
    "whitespace": "   leading\na  b   c\n\nd\t\te \r\n f   \n  \n\n   g    \u00a0h\u3000i \u2028j\n\n\n   ",
    "contractions": "I'm you're we've they'll he'd don't can't it's IT'S WE'RE THEY'VE I'LL SHE'D DON'T I'M it’s O'Neil 'quoted' rock'n'roll '' 's",
    "emoji": "Hello 👋🏽 world 🌍! Family: 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 ❤️ ✨🎉 e\u0301 a\u0308",
    "special": "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|endoftext|><|im_start|>assistant\n  <|im_end|>x<|im_end|>",
    "code": "def f(x):\n    return x**2 + 1  # comment\n\tif (a<=b) { c += d; } // $100 +5 <tag> a^b ~x |y| `z` @user #hash !!! ??? ... ---",
    "spacing": "Hello , world ! How are you ? I 'm fine . It ' s ok ' re 'S 'T 'RE\r\n\r\n 're\n'\n\n ' ' x '' y",
    "case": "HTTPServer helloWorld ÖlçüMÄNNER camelCaseXML getHTTPResponse iPhone McDonald's ALLCAPS a/b\n/c ./x\r\n/",
    "only-spaces": "   ",
    "only-newline": "\n",
    "one-space": " ",
    "tabs": "\t\t",
}

# Random strings over characters that exercise every branch of the splitters: categories, the
# Unicode-version gap (U+088F is assigned in Swift's tables, not in llama.cpp's), line breaks,
# special-token texts and fragments of them.
POOL = (list("abcXYZ019 '\t\n\r.,!?-_$+<=>^~|`@#%&*()[]{}\"/\\") + ["s", "S", "re", "ll", "'t", "   ", "  \n",
        "é", "e\u0301", "中", "文", "한", "Ж", "ж", "٣", "²", "½", "Ⅻ", "👋", "\u200d", "\ufe0f", "\u00a0", "\u3000",
        "\u2028", "\u0085", "\u088f", "\u0378", "\ue000", "\ufffd", "▁", "Ġ", "∑", "€", "¥", "<0x41>", "<|im_start|>",
        "<|endoftext|>", "<|im_", "end|>", "<|im_end|>", "ǅ", "ß", "İ", "ﬁ", "\u00ad", "\u2009", "\u0600"])
rng = random.Random(20261124)
for n in range(60):
    TEXTS[f"fuzz{n:02d}"] = "".join(rng.choice(POOL) for _ in range(rng.randint(1, 24)))

cases = []


def detokenize(llm, ids, special):
    """llama_detokenize without removing specials (what Tokenizer.decode mirrors); bytes that are
    not UTF-8 are written as "hex:" and their hex digits."""
    if not ids:
        return ""
    arr = (llama_cpp.llama_token * len(ids))(*ids)
    size = len(ids) * 64 + 64
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, special)
    assert 0 <= n <= size
    raw = buf.raw[:n]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + raw.hex()


def run(vocab_file, vocab_name, variant_path, pre, remove, flags, set_bools=None, skip=(), decode=True, only=None):
    llm = llama_cpp.Llama(model_path=variant_path, vocab_only=True, verbose=False)
    for name, text in TEXTS.items():
        if name in skip or (only is not None and name not in only):
            continue
        for add_special, parse_special in flags:
            ids = llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)
            cases.append({"vocab": vocab_file, "pre": pre, "remove": list(remove), "set": set_bools or {}, "text": name,
                          "addSpecial": add_special, "parseSpecial": parse_special, "ids": ids,
                          })
            if not decode:
                continue
            cases[-1]["decoded"] = detokenize(llm, ids, False)
            special = detokenize(llm, ids, True)
            if special != cases[-1]["decoded"]:  # omitted when equal, to keep the file small
                cases[-1]["decodedSpecial"] = special
    del llm


os.makedirs(OUT, exist_ok=True)
base = os.path.join(OUT, "smollm2-digits-vocab.gguf")
copy_vocab(SRC, base, extra_digits=True)
FLAGS = [(True, True), (False, False)]
for pre, remove in [("smollm", ()), ("llama-bpe", ("tokenizer.ggml.add_bos_token",)),
                    ("qwen2", ()), ("gpt-2", ()), ("default", ()), (None, ("tokenizer.ggml.pre",))]:
    path = os.path.join(TMP, f"v-{pre}.gguf")
    copy_vocab(base, path, pre=pre, remove=remove)
    run("smollm2-digits-vocab.gguf", "smollm2", path, pre, remove, FLAGS)
# Less common pre-tokenizers: every text but the long GPL excerpt, and no decoding (which the
# pre-tokenizer does not affect), to keep the fixtures small.
for pre in ["qwen35", "glm4", "chatglm-bpe", "laguna", "bloom", "viking", "tekken", "deepseek-v3"]:
    path = os.path.join(TMP, f"v-{pre}.gguf")
    copy_vocab(base, path, pre=pre)
    run("smollm2-digits-vocab.gguf", "smollm2", path, pre, (), FLAGS, skip=("gpl",), decode=False)

spm_path = os.path.join(OUT, "spm-vocab.gguf")
spm_vocab(spm_path, gpl + "\n" + "\n".join(TEXTS.values()))
run("spm-vocab.gguf", "spm", spm_path, None, (), FLAGS)
# BOS/EOS added but special-token texts left as text: a few texts with special tokens, ids only.
MIXED = ["empty", "special", "fuzz00", "fuzz01", "fuzz02", "fuzz03", "fuzz04", "fuzz05"]
for pre, remove in [("smollm", ()), ("llama-bpe", ("tokenizer.ggml.add_bos_token",))]:
    path = os.path.join(TMP, f"v-{pre}.gguf")
    run("smollm2-digits-vocab.gguf", "smollm2", path, pre, remove, [(True, False)], decode=False, only=MIXED)
run("spm-vocab.gguf", "spm", spm_path, None, (), [(True, False)], decode=False, only=MIXED)

wpm_path = os.path.join(OUT, "wpm-vocab.gguf")
wpm_vocab(wpm_path, gpl + "\n" + "\n".join(TEXTS.values()))
for set_bools in [None, {"tokenizer.ggml.normalizer.lowercase": False},
                  {"tokenizer.ggml.normalizer.strip_accents": False}]:
    path = os.path.join(TMP, f"wpm-{len(cases)}.gguf")
    copy_vocab(wpm_path, path, set_bools=set_bools)
    run("wpm-vocab.gguf", "wpm", path, None, (), FLAGS, set_bools)

with open(os.path.join(OUT, "texts.json"), "w", encoding="utf-8") as fh:
    json.dump(TEXTS, fh, ensure_ascii=False, indent=1)
with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as fh:
    json.dump({"llama_cpp_python": llama_cpp.__version__, "cases": cases}, fh, separators=(",", ":"))
print(f"{len(cases)} cases")
