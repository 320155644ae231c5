#!/usr/bin/env python3
"""Writes a Hugging Face folder shaped like Llama 3.1 405B (BF16, ~811 GB) whose safetensors files
have real headers and sparse, all-zero data: `truncate` extends each file to its full size without
using disk space. For `quantd plan`, which reads only headers. Standard library only.

    python3 scripts/plan/make_405b_headers.py /tmp/llama-405b-headers

The tokenizer is the small test tokenizer of Tests/ModelConversionTests/Fixtures/models/tiny-llama3
(the converter pads the vocabulary to vocab_size, as convert_hf_to_gguf.py does); the dimensions are
Llama 3.1 405B's config.json (without its RoPE scaling, which adds one small tensor).
"""
import json
import os
import shutil
import struct
import sys

HIDDEN, FFN, LAYERS, HEADS, KV_HEADS, VOCAB = 16384, 53248, 126, 128, 8, 128256
LAYERS_PER_FILE = 4


def layer_tensors(i):
    head = HIDDEN // HEADS
    p = f"model.layers.{i}."
    return [
        (p + "input_layernorm.weight", [HIDDEN]),
        (p + "mlp.down_proj.weight", [HIDDEN, FFN]),
        (p + "mlp.gate_proj.weight", [FFN, HIDDEN]),
        (p + "mlp.up_proj.weight", [FFN, HIDDEN]),
        (p + "post_attention_layernorm.weight", [HIDDEN]),
        (p + "self_attn.k_proj.weight", [KV_HEADS * head, HIDDEN]),
        (p + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
        (p + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
        (p + "self_attn.v_proj.weight", [KV_HEADS * head, HIDDEN]),
    ]


def write_file(path, tensors):
    header, offset = {}, 0
    for name, shape in tensors:
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        f.truncate(8 + len(blob) + offset)
    return offset


def main(out):
    here = os.path.dirname(os.path.abspath(__file__))
    tokenizer = os.path.join(here, "..", "..", "Tests", "ModelConversionTests", "Fixtures", "models", "tiny-llama3")
    os.makedirs(out, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"):
        shutil.copy(os.path.join(tokenizer, name), os.path.join(out, name))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16",
        "hidden_size": HIDDEN, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB,
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    groups = [[("model.embed_tokens.weight", [VOCAB, HIDDEN])]]
    for start in range(0, LAYERS, LAYERS_PER_FILE):
        groups.append([t for i in range(start, min(LAYERS, start + LAYERS_PER_FILE)) for t in layer_tensors(i)])
    groups.append([("model.norm.weight", [HIDDEN]), ("lm_head.weight", [VOCAB, HIDDEN])])
    weight_map, total = {}, 0
    for k, tensors in enumerate(groups):
        name = f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors"
        total += write_file(os.path.join(out, name), tensors)
        for t, _ in tensors:
            weight_map[t] = name
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    print(f"{out}: {len(groups)} files, {total / 1e9:.1f} GB of BF16 tensor data (sparse)")


if __name__ == "__main__":
    main(sys.argv[1])
