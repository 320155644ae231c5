#!/usr/bin/env python3
"""Records which type llama-quantize gives every tensor of many architectures, for every named
mix, with and without an importance matrix, so quantd's planner can be checked against
llama.cpp itself from the tensor headers alone (`llama-quantize --dry-run`: types only).

Models:
  * every `models/arch/<key>-h256` folder of the oracle (MoE: qwen3moe, qwen2moe, mixtral,
    olmoe, deepseekv3, glm4moe, gpt-oss incl. its MXFP4 layout, qwen3next, qwen35moe; dense and
    hybrid ones), converted by the reference converter (`convert_hf_to_gguf.py --outtype f16`);
  * synthetic GGUFs written here (zero weights: dry-run never reads them) for rules the real
    folders do not reach: llama-family models the size of 70B ones (80 layers; jais2 68), an
    8-expert 80-layer llama, falcon, DeepSeek's older fused `attn_kv_b` layout, nanbeige with
    loops, and one file of unusual tensor names and row lengths.

    ~/.cache/gguf-oracle/venv/bin/python scripts/pipeline/make_arch_mix_fixture.py ~/.cache/gguf-oracle \
        Tests/PipelineTests/Fixtures/llama-quantize-arch-mixes.json Tests/PipelineTests/Fixtures/tiny-moe.imatrix.gguf

In a dry run llama-quantize reads only whether an importance matrix is given (the planner's
`has_imatrix`), never its entries, so one small matrix serves every model.

Output: {"llama_cpp": commit, "models": {NAME: {"metadata": {KEY: value}, "tensors": [[name, [ne0, ...],
type], ...] (llama-quantize's order), "mixes": {MIX: "TYPE TYPE ..." or "!why llama-quantize refused"}, "mixes_imatrix": {MIX: the same, or "=" when
equal to the mix without a matrix}, "variants" (some models): [{"mix", "args": llama-quantize options, "types"}]}},
"skipped": {NAME: reason}}
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import gguf

oracle = Path(sys.argv[1]).expanduser()
out = Path(sys.argv[2])
imatrix = sys.argv[3]
V = oracle / "build/llama_cpp_python-0.3.36/vendor/llama.cpp"
quantize = oracle / "build/llama.cpp/bin/llama-quantize"
work = Path("/tmp/quantd-arch-fixture")
work.mkdir(exist_ok=True)

MIXES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M",
         "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0",
         "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
         "MXFP4_MOE", "Q1_0", "Q2_0"]
# llama-quantize's knobs besides the mix, on a few models (tied and untied embeddings, experts)
VARIANT_MODELS = {"qwen3moe-h256", "gemma2-h256", "glm4moe-h256", "llama-unusual-names"}
VARIANTS = [("Q4_K_M", ["--output-tensor-type", "q5_k", "--token-embedding-type", "q3_k"]),
            ("IQ2_XXS", ["--output-tensor-type", "q5_k", "--token-embedding-type", "q3_k"]),
            ("Q4_K_M", ["--output-tensor-type", "q8_0"]), ("IQ1_S", ["--token-embedding-type", "q4_0"]),
            ("Q4_K_M", ["--leave-output-tensor"]), ("Q3_K_M", ["--pure"]), ("Q2_K", ["--pure", "--imatrix", imatrix]),
            ("Q4_K_M", ["--tensor-type", "ffn_down_exps=q8_0", "--tensor-type", "attn=q5_k", "--tensor-type", "odd_rows=q4_k"]),
            ("Q2_K", ["--tensor-type", r"blk\.1\.ffn_(up|gate)_(exps|shexp)=iq4_xs", "--tensor-type", "output=f16"]),
            ("Q4_K_M", ["--token-embedding-type", "q8_0", "--tensor-type", "per_layer_token_embd=q4_0"])]
PLAN_KEYS = ["block_count", "attention.head_count", "attention.head_count_kv", "expert_count",
             "nextn_predict_layers", "num_loops"]
line = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[([\d,\s]+)\], type =\s+(\S+),.*?(?:\((\w+)\))?\s*$")


def plan(model, mix, extra):
    run = subprocess.run([str(quantize), "--dry-run", *extra, str(model), str(work / "dry-run.gguf"), mix],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"llama-quantize {mix} failed: {(run.stdout + run.stderr)[-1500:]}")
    names, types = [], []
    for text in (run.stdout + run.stderr).splitlines():
        m = line.match(text.strip())
        if m:
            names.append(m.group(1))
            types.append((m.group(4) or m.group(3)).upper())
    return names, types


def record(path):
    reader = gguf.GGUFReader(path)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    meta = {"general.architecture": arch}
    for k in PLAN_KEYS:
        f = reader.fields.get(f"{arch}.{k}")
        if f is not None:
            value = f.contents()
            meta[f"{arch}.{k}"] = [int(x) for x in value] if isinstance(value, list) else int(value)
    info = {t.name: ([int(x) for x in t.shape], t.tensor_type.name) for t in reader.tensors}
    entry = {"metadata": meta, "mixes": {}, "mixes_imatrix": {}}
    for mix in MIXES:
        for key, extra in [("mixes", []), ("mixes_imatrix", ["--imatrix", imatrix])]:
            try:
                names, types = plan(path, mix, extra)
            except RuntimeError as error:
                # llama-quantize refuses the mix (a row no type of the mix can hold): "!" + why
                reason = [x.split("failed to quantize:")[1] for x in str(error).splitlines() if "failed to quantize:" in x]
                entry[key][mix] = "!" + (reason[-1] if reason else str(error)[-200:]).strip()
                continue
            if "tensors" not in entry:
                entry["tensors"] = [[n, info[n][0], info[n][1]] for n in names]
            assert names == [t[0] for t in entry["tensors"]]
            joined = " ".join(types)
            # "=": the same types as without an importance matrix (keeps the fixture small)
            entry[key][mix] = "=" if key == "mixes_imatrix" and entry["mixes"].get(mix) == joined else joined
    if "tensors" not in entry:
        raise RuntimeError("llama-quantize refused every mix")
    if Path(path).stem.rsplit("-f16", 1)[0] in VARIANT_MODELS:
        entry["variants"] = []
        for mix, args in VARIANTS:
            try:
                types = " ".join(plan(path, mix, args)[1])
            except RuntimeError as error:
                types = "!" + str(error)[-200:]
            entry["variants"].append({"mix": mix, "args": args, "types": types})
    return entry


def convert(folder):
    target = work / f"{folder.name}-f16.gguf"
    if not target.exists():
        run = subprocess.run([str(oracle / "venv/bin/python"), str(V / "convert_hf_to_gguf.py"), str(folder),
                              "--outtype", "f16", "--outfile", str(target)], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"convert failed: {run.stderr[-1500:]}")
    return target


def synthetic(name, arch, keys, tensors):
    """A GGUF with the given metadata ({arch}. prefix added) and zero tensors [(name, dims, dtype)]."""
    path = work / f"{name}.gguf"
    w = gguf.GGUFWriter(str(path), arch)
    for key, value in keys.items():
        full = key if key.startswith("general.") else f"{arch}.{key}"
        if isinstance(value, float):
            w.add_float32(full, value)
        elif isinstance(value, bool):
            w.add_bool(full, value)
        elif isinstance(value, list):
            w.add_array(full, value)
        elif isinstance(value, str):
            w.add_string(full, value)
        else:
            w.add_uint32(full, value)
    for tname, dims, dtype in tensors:
        w.add_tensor(tname, np.zeros(list(reversed(dims)), dtype=dtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def dense_layers(n, hidden, kv, ff, extra=()):
    out = []
    for i in range(n):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", [hidden], np.float32), (b + "attn_q.weight", [hidden, hidden], np.float16),
                (b + "attn_k.weight", [hidden, kv], np.float16), (b + "attn_v.weight", [hidden, kv], np.float16),
                (b + "attn_output.weight", [hidden, hidden], np.float16), (b + "ffn_norm.weight", [hidden], np.float32),
                (b + "ffn_gate.weight", [hidden, ff], np.float16), (b + "ffn_up.weight", [hidden, ff], np.float16),
                (b + "ffn_down.weight", [ff, hidden], np.float16)]
        out += [(b + t, d, dt) for t, d, dt in extra]
    return out


def head(hidden, vocab, tied=False):
    out = [("token_embd.weight", [hidden, vocab], np.float16), ("output_norm.weight", [hidden], np.float32)]
    return out if tied else out + [("output.weight", [hidden, vocab], np.float16)]


BASE = {"context_length": 64, "embedding_length": 256, "general.file_type": 1}


def synthetic_models():
    H, V_ = 256, 64
    rms = {"attention.layer_norm_rms_epsilon": 1e-6}
    llama = {**BASE, **rms, "feed_forward_length": 32, "attention.head_count": 8, "rope.dimension_count": 32}
    # 70B-sized models: per layer only the tensors whose rules depend on the size (attn_v) and
    # the layer count (ffn_down), which keeps the fixture small.
    def tall(n, kv):
        return [t for i in range(n) for t in [(f"blk.{i}.attn_v.weight", [H, kv], np.float16),
                                              (f"blk.{i}.ffn_down.weight", [32, H], np.float16)]]
    yield "llama-80-layers-gqa", lambda n: synthetic(n, "llama", {**llama, "block_count": 80, "attention.head_count_kv": 2},
                                                      head(H, V_) + tall(80, 64))
    yield "llama-80-layers-mha", lambda n: synthetic(n, "llama", {**llama, "block_count": 80, "attention.head_count_kv": 8},
                                                      head(H, V_) + tall(80, 256))
    yield "qwen2-80-layers", lambda n: synthetic(
        n, "qwen2", {**BASE, **rms, "block_count": 80, "feed_forward_length": 32, "attention.head_count": 8,
                     "attention.head_count_kv": 8}, head(H, V_) + tall(80, 256))
    yield "jais2-68-layers", lambda n: synthetic(
        n, "jais2", {**BASE, "attention.layer_norm_epsilon": 1e-5, "block_count": 68, "feed_forward_length": 32,
                     "attention.head_count": 8, "attention.head_count_kv": 8}, head(H, V_) + tall(68, 256))
    falcon_layers = []
    for i in range(8):
        b = f"blk.{i}."
        falcon_layers += [(b + "attn_norm.weight", [H], np.float32), (b + "attn_qkv.weight", [H, H + 64], np.float16),
                          (b + "attn_output.weight", [H, H], np.float16), (b + "ffn_up.weight", [H, 512], np.float16),
                          (b + "ffn_down.weight", [512, H], np.float16)]
    yield "falcon-8-layers", lambda n: synthetic(
        n, "falcon", {**BASE, "attention.layer_norm_epsilon": 1e-5, "block_count": 8, "feed_forward_length": 512,
                      "attention.head_count": 8, "attention.head_count_kv": 1}, head(H, V_) + falcon_layers)
    ds_layers = []
    for i in range(4):
        b = f"blk.{i}."
        ds_layers += [(b + "attn_norm.weight", [H], np.float32), (b + "attn_q_a.weight", [H, 64], np.float16),
                      (b + "attn_q_a_norm.weight", [64], np.float32), (b + "attn_q_b.weight", [64, 4 * 96], np.float16),
                      (b + "attn_kv_a_mqa.weight", [H, 64 + 32], np.float16), (b + "attn_kv_a_norm.weight", [64], np.float32),
                      (b + "attn_kv_b.weight", [64, 4 * (64 + 64)], np.float16),
                      (b + "attn_output.weight", [4 * 64, H], np.float16), (b + "ffn_norm.weight", [H], np.float32)]
        if i == 0:
            ds_layers += [(b + "ffn_gate.weight", [H, 512], np.float16), (b + "ffn_up.weight", [H, 512], np.float16),
                          (b + "ffn_down.weight", [512, H], np.float16)]
        else:
            ds_layers += [(b + "ffn_gate_inp.weight", [H, 4], np.float32), (b + "exp_probs_b.bias", [4], np.float32),
                          (b + "ffn_gate_exps.weight", [H, 256, 4], np.float16), (b + "ffn_up_exps.weight", [H, 256, 4], np.float16),
                          (b + "ffn_down_exps.weight", [256, H, 4], np.float16), (b + "ffn_gate_shexp.weight", [H, 256], np.float16),
                          (b + "ffn_up_shexp.weight", [H, 256], np.float16), (b + "ffn_down_shexp.weight", [256, H], np.float16)]
    yield "deepseek2-fused-kv-b", lambda n: synthetic(
        n, "deepseek2", {**BASE, **rms, "block_count": 4, "feed_forward_length": 512, "attention.head_count": 4,
                         "attention.head_count_kv": 4, "leading_dense_block_count": 1, "attention.q_lora_rank": 64,
                         "attention.kv_lora_rank": 64, "attention.key_length": 96, "attention.value_length": 64,
                         "rope.dimension_count": 32, "expert_feed_forward_length": 256, "expert_shared_count": 1,
                         "expert_count": 4, "expert_used_count": 2}, head(H, V_) + ds_layers)
    yield "nanbeige-2-loops", lambda n: synthetic(
        n, "nanbeige", {**BASE, **rms, "block_count": 8, "num_loops": 2, "feed_forward_length": 256,
                        "attention.head_count": 4, "attention.head_count_kv": 4}, head(H, V_) + dense_layers(8, H, 256, 256))
    yield "graniteswitch-7-layers", lambda n: synthetic(
        n, "graniteswitch", {**BASE, **rms, "block_count": 7, "feed_forward_length": 256, "attention.head_count": 4,
                             "attention.head_count_kv": 4, "logit_scale": 1.0, "adapters.count": 1,
                             "adapters.lora_rank": 4, "adapters.token_ids_activate": [5],
                             "adapters.token_ids_substitute": [6]}, head(H, V_) + dense_layers(7, H, 256, 256))
    mla = {"attention.key_length_mla": 96, "attention.value_length_mla": 64, "attention.kv_lora_rank": 64,
           "ssm.conv_kernel": 4, "kda.head_dim": 64, "expert_feed_forward_length": 256, "expert_shared_count": 1,
           "leading_dense_block_count": 1, "expert_count": 4, "expert_used_count": 2}
    def mla_layers(n, extra=()):
        out = []
        for i in range(n):
            b = f"blk.{i}."
            out += [(b + "attn_norm.weight", [H], np.float32), (b + "attn_q_a.weight", [H, 64], np.float16),
                    (b + "attn_q_b.weight", [64, 4 * 96], np.float16), (b + "attn_kv_a_mqa.weight", [H, 96], np.float16),
                    (b + "attn_k_b.weight", [32, 64, 4], np.float16), (b + "attn_v_b.weight", [64, 64, 4], np.float16),
                    (b + "attn_output.weight", [256, H], np.float16), (b + "ffn_norm.weight", [H], np.float32),
                    (b + "ffn_gate_inp.weight", [H, 4], np.float32), (b + "ffn_gate_exps.weight", [H, 256, 4], np.float16),
                    (b + "ffn_up_exps.weight", [H, 256, 4], np.float16), (b + "ffn_down_exps.weight", [256, H, 4], np.float16),
                    (b + "ffn_gate_shexp.weight", [H, 256], np.float16), (b + "ffn_down_shexp.weight", [256, H], np.float16)]
            out += [(b + t, d, dt) for t, d, dt in extra]
        return out
    yield "bailingmoe3-mla", lambda n: synthetic(
        n, "bailingmoe3", {**BASE, **rms, **mla, "block_count": 3, "feed_forward_length": 256, "attention.head_count": 4,
                           "attention.head_count_kv": 4, "kda.safe_gate": True, "kda.gate_lower_bound": -5.0,
                           "expert_gating_func": 2}, head(H, V_) + mla_layers(3))
    glm5_extra = [("hc_attn_fn.weight", [H, 24], np.float16), ("indexer.attn_q_b.weight", [64, 256], np.float16),
                  ("indexer.attn_k.weight", [H, 128], np.float16), ("indexer.proj.weight", [H, 4], np.float16),
                  ("ssm_f_a.weight", [H, 32], np.float16), ("ssm_beta.weight", [H, 4], np.float16)]
    yield "glm5-next-mla", lambda n: synthetic(
        n, "glm5-next", {**BASE, **rms, **mla, "block_count": 3, "nextn_predict_layers": 1, "feed_forward_length": 256,
                         "attention.head_count": 4, "attention.head_count_kv": 4, "attention.q_lora_rank": 64,
                         "attention.indexer.head_count": 4, "attention.indexer.key_length": 64,
                         "attention.indexer.top_k": 8, "attention.indexer.kpool": 4, "hyper_connection.count": 4,
                         "hyper_connection.sinkhorn_iterations": 20, "hyper_connection.epsilon": 1e-6},
        head(H, V_) + mla_layers(3, glm5_extra) + [("blk.2.nextn.eh_proj.weight", [512, H], np.float16)])
    odd = [("abcde", [256, 4], np.float16), ("blk.0.ssm_a", [16, 256], np.float32), ("blk.0.ssm_d", [256], np.float32),
           ("blk.0.ssm_conv1d.weight", [4, 256], np.float32), ("blk.0.attn_rel_b.weight", [8, 32], np.float16),
           ("position_embd.weight", [256, 64], np.float16), ("token_types.weight", [256, 2], np.float16),
           ("v.position_embd.weight", [256, 16], np.float16), ("blk.0.ffn_gate_up_exps.weight", [256, 64, 4], np.float16),
           ("blk.0.ffn_gate_inp_shexp.weight", [256, 1], np.float16), ("blk.0.attn_qkv.weight", [256, 384], np.float16),
           ("blk.0.odd_rows.weight", [96, 8], np.float16), ("blk.0.tiny_rows.weight", [40, 8], np.float16),
           ("blk.1.nextn.eh_proj.weight", [512, 256], np.float16), ("per_layer_token_embd.weight", [256, 64], np.float16),
           ("blk.1.altup_proj.weight", [256, 256], np.float16), ("blk.1.laurel_l.weight", [256, 32], np.float16),
           ("blk.1.per_layer_model_proj.weight", [256, 256], np.float16), ("blk.1.time_mix_w1.weight", [256, 32], np.float16),
           ("blk.1.attn_k_b.weight", [32, 64, 8], np.float16), ("blk.1.attn_kv_b.weight", [64, 256], np.float16),
           ("blk.1.attn_output.bias", [256], np.float32), ("blk.1.ffn_down_exps.weight", [256, 256, 2], np.float16),
           ("blk.1.ffn_down_shexp.weight", [256, 256], np.float16)]
    yield "llama-unusual-names", lambda n: synthetic(
        n, "llama", {**llama, "block_count": 2, "attention.head_count_kv": 2, "expert_count": 2, "expert_used_count": 1},
        head(96, V_, tied=True) + odd)


result = {"llama_cpp": "0c1e57098", "models": {}, "skipped": {}}
sources = [(f.name, lambda n, f=f: convert(f)) for f in sorted((oracle / "models/arch").glob("*-h256"))]
for name, make in sources + list(synthetic_models()):
    try:
        path = make(name)
        result["models"][name] = record(path)
        print("recorded", name, len(result["models"][name]["tensors"]), "tensors", flush=True)
    except Exception as error:  # a model llama.cpp cannot load is reported, not fatal
        result["skipped"][name] = str(error)[-600:]
        print("SKIPPED", name, str(error)[-600:], flush=True)
out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
print(f"wrote {out} ({out.stat().st_size} bytes); skipped: {list(result['skipped'])}")
