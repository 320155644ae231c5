#!/usr/bin/env python3
"""Tiny random-weight Hugging Face folders for testing `quantd convert` against convert_hf_to_gguf.py.

usage (in the oracle venv, which has torch + transformers):
    make_models.py SMOLLM2_FOLDER OUTDIR [--vocab N]

SMOLLM2_FOLDER supplies tokenizer.json / tokenizer_config.json / special_tokens_map.json (GPT-2
byte-level BPE, the `smollm` pre-tokenizer). With --vocab N the tokenizer is cut down to its first
N ids and the merges that stay inside them (small committed fixtures); without it the full 49152-token
tokenizer is kept, so the reference converter recognises the pre-tokenizer by its hash.

Made, each from a real model's config shape scaled down (hidden 64, 2 layers), seeded:
    tiny-llama3   LlamaForCausalLM   BF16  untied output, Llama-3 rope scaling (rope_freqs over head_dim 64
                                           as Llama 3.2 has), GQA 4/2
    tiny-qwen2    Qwen2ForCausalLM   F16   q/k/v biases, tied embeddings, merges as pairs,
                                           a non-special added token and padded vocab_size
    tiny-qwen3    Qwen3ForCausalLM   F32   q_norm/k_norm, head_dim 32 != hidden/heads
    tiny-llama2-spm  LlamaForCausalLM F16  Llama 2's shape (MHA), a SentencePiece tokenizer.model trained
                                           on --spm-text (BPE, byte fallback, a user-defined piece),
                                           added_tokens.json, padded vocab_size
    tiny-gemma3      Gemma3ForCausalLM F16 Gemma 3 1B's shape (MQA, head_dim 32, sliding window), norms != 0 so the
                                           reference's +1 (rounded in F16) shows, the SentencePiece tokenizer
    tiny-phi3        Phi3ForCausalLM  BF16 Phi-3 mini's layout (fused qkv and gate_up), the SentencePiece tokenizer
    tiny-llama-fp8   LlamaForCausalLM FP8  layer matrices float8_e4m3fn with 32x32 weight_scale_inv blocks
                                           (quant_method fp8, as DeepSeek/Qwen FP8 releases), the rest BF16
    tiny-bert        BertModel        F16  bge-small-en-v1.5's layout scaled down as a sentence-transformers folder
                                           (modules.json, 1_Pooling/config.json with CLS pooling), WordPiece
                                           vocabulary from --bert-vocab (see make_bert), tokenizer.json + vocab.txt
Everything is deterministic: the same command gives the same bytes.
"""
import argparse, json, os, shutil
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM


def cut_tokenizer(src, n, merges_as_pairs, extra_added):
    """The first n ids of SmolLM2's tokenizer.json, the merges that stay inside them, plus extra added tokens."""
    tok = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    if n is not None:
        vocab = {t: i for t, i in vocab.items() if i < n}
        merges = []
        for m in tok["model"]["merges"]:
            a, b = m.split(" ") if isinstance(m, str) else m
            if a in vocab and b in vocab and a + b in vocab:
                merges.append(m)
        tok["model"]["merges"] = merges
        tok["added_tokens"] = [a for a in tok["added_tokens"] if a["id"] < n]
    tok["model"]["vocab"] = vocab
    if merges_as_pairs:
        tok["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in tok["model"]["merges"]]
    for content, tid in extra_added:
        tok["added_tokens"].append({"id": tid, "content": content, "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": False})
    return tok


def write_tokenizer(src, dst, n, merges_as_pairs=False, extra_added=()):
    tok = cut_tokenizer(src, n, merges_as_pairs, extra_added)
    with open(os.path.join(dst, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=None, separators=(",", ":"))
    cfg = json.load(open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8"))
    if n is not None:
        cfg["added_tokens_decoder"] = {k: v for k, v in cfg["added_tokens_decoder"].items() if int(k) < n}
    for content, tid in extra_added:
        cfg["added_tokens_decoder"][str(tid)] = {"content": content, "single_word": False, "lstrip": False,
                                                 "rstrip": False, "normalized": False, "special": False}
    with open(os.path.join(dst, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
    shutil.copy(os.path.join(src, "special_tokens_map.json"), dst)


def save(model, dst, dtype):
    model = model.to(dtype)
    model.save_pretrained(dst, safe_serialization=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("smollm2"); ap.add_argument("outdir")
    ap.add_argument("--vocab", type=int, default=None, help="cut the tokenizer to its first N ids")
    ap.add_argument("--spm-text", default=None, help="text to train the SentencePiece model on (skipped without it)")
    ap.add_argument("--bert-vocab", default=None,
                    help="llama.cpp's models/ggml-vocab-bert-bge.gguf, the WordPiece vocabulary for tiny-bert (skipped without it)")
    ap.add_argument("--bert-vocab-size", type=int, default=None, help="keep the first N WordPiece ids (all without it)")
    args = ap.parse_args()
    n = args.vocab
    vocab = n if n is not None else 49152

    # Llama 3.2 1B's shape, scaled: GQA, llama3 rope scaling; untied so output.weight exists.
    torch.manual_seed(1)
    d = os.path.join(args.outdir, "tiny-llama3"); os.makedirs(d, exist_ok=True)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=131072,
                      rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
                      rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
                      bos_token_id=1, eos_token_id=2)
    save(LlamaForCausalLM(cfg), d, torch.bfloat16)
    write_tokenizer(args.smollm2, d, n)

    # Qwen2.5 0.5B's shape, scaled: q/k/v biases, tied embeddings, rope_theta 1e6.
    torch.manual_seed(2)
    d = os.path.join(args.outdir, "tiny-qwen2"); os.makedirs(d, exist_ok=True)
    extra = [("<tool>", vocab)]
    cfg = Qwen2Config(vocab_size=vocab + 8, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                      bos_token_id=1, eos_token_id=2)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers:  # biases are zero-initialised; make them visible
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.02)
    save(model, d, torch.float16)
    write_tokenizer(args.smollm2, d, n, merges_as_pairs=True, extra_added=extra)

    # Qwen3 0.6B's shape, scaled: per-head q/k RMS norms, head_dim larger than hidden/heads.
    torch.manual_seed(3)
    d = os.path.join(args.outdir, "tiny-qwen3"); os.makedirs(d, exist_ok=True)
    cfg = Qwen3Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=40960,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                      bos_token_id=1, eos_token_id=2)
    model = Qwen3ForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers:  # norms start at 1.0; vary them
            layer.self_attn.q_norm.weight.normal_(1, 0.1)
            layer.self_attn.k_norm.weight.normal_(1, 0.1)
    save(model, d, torch.float32)
    write_tokenizer(args.smollm2, d, n)

    if args.spm_text:
        make_spm_llama(os.path.join(args.outdir, "tiny-llama2-spm"), args.spm_text)
        make_gemma3(os.path.join(args.outdir, "tiny-gemma3"), os.path.join(args.outdir, "tiny-llama2-spm"))
        make_phi3(os.path.join(args.outdir, "tiny-phi3"), os.path.join(args.outdir, "tiny-llama2-spm"))

    make_fp8_llama(os.path.join(args.outdir, "tiny-llama-fp8"), args.smollm2, n, vocab)

    if args.bert_vocab:
        make_bert(os.path.join(args.outdir, "tiny-bert"), args.bert_vocab, args.bert_vocab_size)


def wordpiece_vocab_from_gguf(path):
    """bert-base-uncased's vocab.txt lines, recovered from the BERT vocabulary GGUF that llama.cpp's
    source tree ships (models/ggml-vocab-bert-bge.gguf, converted from BAAI/bge-small-en-v1.5).
    The converter wrote `##x` as `x` and other pieces as `\u2581x`; control and `[unusedN]` pieces as
    they are. Reversing that gives the original file (the reference converter recognises its hash
    as `bert-bge`, which checks the reconstruction)."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    lines = []
    for t in tokens:
        if t.startswith("\u2581"):
            lines.append(t[1:])
        elif t.startswith("[") and t.endswith("]"):
            lines.append(t)
        else:
            lines.append("##" + t)
    return lines


def make_bert(d, vocab_gguf, n):
    """BAAI/bge-small-en-v1.5's layout scaled down, F16, as a sentence-transformers folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    torch.manual_seed(9)
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    lines = wordpiece_vocab_from_gguf(vocab_gguf)
    if n is not None:
        lines = lines[:n]
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    tok = BertTokenizerFast(vocab_file=os.path.join(d, "vocab.txt"), do_lower_case=True, model_max_length=512)
    tok.save_pretrained(d)
    cfg = BertConfig(vocab_size=len(lines), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                     pad_token_id=0)
    model = BertModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:  # ones and zeros at init; vary them
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
    save(model, d, torch.float16)
    with open(os.path.join(d, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                  f, indent=2)
    with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 64, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
                   "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)
    with open(os.path.join(d, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 512, "do_lower_case": True}, f, indent=2)
    with open(os.path.join(d, "README.md"), "w", encoding="utf-8") as f:
        f.write(MODEL_CARD)


# A model card front matter with what Hugging Face cards carry (shaped like bge-small-en-v1.5's
# and other sentence-transformers cards): block and flow lists, quoting, comments, the Norway
# problem (`- no`), base models and datasets as ids, URLs and a mapping, and the nested
# `model-index`/`widget` blocks the converter skips.
MODEL_CARD = """---
# sentence-transformers model card
tags:
- sentence-transformers
- feature-extraction
- 'sentence-similarity'
license: mit   # as bge-small
license_link: "https://example.org/licenses/mit"
language:
- en
- no
model_creator: Quantd Tests
description: 'A tiny random BERT: ''not'' for real use'
base_model:
- BAAI/bge-small-en-v1.5
- https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2-v2.1
datasets: [sentence-transformers/msmarco-v2, "https://example.org/corpus"]
pipeline_tag: sentence-similarity
model-index:
- name: tiny-bert
  results:
  - task:
      type: Classification
    dataset:
      name: MTEB Example
      type: mteb/example
    metrics:
    - type: accuracy
      value: 71.5
widget:
- source_sentence: "That is a happy person"
  sentences:
  - That is a happy dog
---

# tiny-bert

A random-weight test model. A line of dashes below is not front matter:

---
"""


def make_gemma3(d, spm_folder):
    """Gemma 3 1B's layout scaled down, F16, with the tiny-llama2-spm SentencePiece model."""
    from transformers import Gemma3TextConfig, Gemma3ForCausalLM
    torch.manual_seed(6)
    os.makedirs(d, exist_ok=True)
    cfg = Gemma3TextConfig(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=32, max_position_embeddings=32768,
                           sliding_window=512, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                           query_pre_attn_scalar=32, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = Gemma3ForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):  # zero-initialised; the converter adds 1
                p.normal_(0, 0.3)
    save(model, d, torch.float16)
    shutil.copy(os.path.join(spm_folder, "tokenizer.model"), d)
    special = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    config = {
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<unk>", "tokenizer_class": "GemmaTokenizer",
        "added_tokens_decoder": {"0": {"content": "<unk>", **special}, "1": {"content": "<s>", **special},
                                 "2": {"content": "</s>", **special}},
        "chat_template": "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}",
    }
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


def make_phi3(d, spm_folder):
    """Phi-3 mini 4k's layout scaled down, BF16, with the tiny-llama2-spm SentencePiece model."""
    from transformers import Phi3Config, Phi3ForCausalLM
    torch.manual_seed(8)
    os.makedirs(d, exist_ok=True)
    cfg = Phi3Config(vocab_size=404, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                     original_max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
                     sliding_window=2047, bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    save(Phi3ForCausalLM(cfg), d, torch.bfloat16)
    for name in ("tokenizer.model", "tokenizer_config.json", "added_tokens.json"):
        shutil.copy(os.path.join(spm_folder, name), d)


def make_fp8_llama(d, smollm2, n, vocab, block=32):
    """A Llama whose layer matrices are stored as FP8 E4M3 with per-block inverse scales."""
    from safetensors.torch import save_file
    torch.manual_seed(5)
    os.makedirs(d, exist_ok=True)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(d, safe_serialization=True)
    tensors = {}
    for name, t in model.state_dict().items():
        if ".layers." in name and name.endswith("proj.weight"):
            rows, cols = t.shape
            w = t.float().reshape(rows // block, block, cols // block, block)
            amax = w.abs().amax(dim=(1, 3)).clamp(min=1e-12)
            scale_inv = (amax / 448.0).float()
            q = (w / scale_inv[:, None, :, None]).reshape(rows, cols).to(torch.float8_e4m3fn)
            tensors[name] = q.contiguous()
            tensors[name + "_scale_inv"] = scale_inv.contiguous()
        else:
            tensors[name] = t.contiguous()
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    config = json.load(open(os.path.join(d, "config.json")))
    config["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                     "weight_block_size": [block, block]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_tokenizer(smollm2, d, n)


def make_spm_llama(d, text):
    """Llama 2 7B's shape scaled down, with a small SentencePiece BPE tokenizer.model."""
    import sentencepiece as spm
    os.makedirs(d, exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=os.path.join(d, "tokenizer"), vocab_size=400, model_type="bpe",
        byte_fallback=True, user_defined_symbols=["<tool_call>"], num_threads=1, seed_sentencepiece_size=10000,
        character_coverage=1.0, normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    os.remove(os.path.join(d, "tokenizer.vocab"))
    torch.manual_seed(4)
    cfg = LlamaConfig(vocab_size=404, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2)
    save(LlamaForCausalLM(cfg), d, torch.float16)
    special = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    config = {
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": None, "legacy": False, "tokenizer_class": "LlamaTokenizer",
        "added_tokens_decoder": {"0": {"content": "<unk>", **special}, "1": {"content": "<s>", **special},
                                 "2": {"content": "</s>", **special}},
        "chat_template": "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}",
    }
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(d, "added_tokens.json"), "w", encoding="utf-8") as f:
        json.dump({"<extra_0>": 401}, f)


if __name__ == "__main__":
    main()
