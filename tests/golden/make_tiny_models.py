#!/usr/bin/env python3
"""Generate kiln's tiny random-weight test models and their golden outputs.

For every model family kiln supports this writes, under tests/data/tiny/<name>/:

  config.json                 a Hugging Face config of the family (real field names)
  model.safetensors           random weights with Hugging Face tensor names (or shards + index)
  golden.json                 prompt, prefill logits, decode logits, greedy tokens
  expected_params.txt         exact parameter count (distinct tensors, tied weights once)

The golden outputs come from tests/golden/reference.py, which reads the files back from disk.
Needs only numpy. Deterministic: running it twice gives byte-identical files.

  python3 tests/golden/make_tiny_models.py [--out DIR]
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

F32 = np.float32
PROMPT_LEN = 7
DECODE_STEPS = 3
GREEDY_TOKENS = 16
# A greedy step whose two best logits are closer than this is too fragile to assert on.
MIN_GREEDY_MARGIN = 1e-2
MIN_ROUTER_MARGIN = 1e-3

# ---------------------------------------------------------------------------------------------
# safetensors writing

_STORAGE = {"F32": "<f4", "F16": "<f2"}


def to_storage_bytes(arr, dtype):
    """float32 array -> little-endian bytes in the storage dtype (round to nearest even)."""
    arr = np.ascontiguousarray(arr, dtype=F32)
    if dtype in _STORAGE:
        return arr.astype(_STORAGE[dtype]).tobytes()
    if dtype == "BF16":
        bits = arr.view(np.uint32)
        rounding = ((bits >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
        return ((bits + rounding) >> np.uint32(16)).astype("<u2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, float32 array), laid out in this order."""
    header = {"__metadata__": {"format": "pt"}}
    chunks = []
    offset = 0
    for name, arr in tensors:
        raw = to_storage_bytes(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    return offset


def dtype_bytes(dtype):
    return 4 if dtype == "F32" else 2


# ---------------------------------------------------------------------------------------------
# tensor lists, in Hugging Face module order


def llama_style_tensors(cfg):
    """(name, shape, kind) for llama, mistral, qwen2 and mixtral."""
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    kv_heads = cfg["num_key_value_heads"]
    head_dim = cfg.get("head_dim") or hidden // heads
    inter = cfg["intermediate_size"]
    qkv_bias = cfg["model_type"] == "qwen2"
    out = [("model.embed_tokens.weight", (cfg["vocab_size"], hidden), "embed")]
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        out.append((p + "input_layernorm.weight", (hidden,), "norm"))
        for proj, rows in (("q", heads), ("k", kv_heads), ("v", kv_heads)):
            out.append((p + "self_attn.%s_proj.weight" % proj, (rows * head_dim, hidden), "linear"))
            if qkv_bias:
                out.append((p + "self_attn.%s_proj.bias" % proj, (rows * head_dim,), "bias"))
        out.append((p + "self_attn.o_proj.weight", (hidden, heads * head_dim), "linear"))
        out.append((p + "post_attention_layernorm.weight", (hidden,), "norm"))
        if cfg["model_type"] == "mixtral":
            q = p + "block_sparse_moe."
            out.append((q + "gate.weight", (cfg["num_local_experts"], hidden), "router"))
            for e in range(cfg["num_local_experts"]):
                out.append((q + "experts.%d.w1.weight" % e, (inter, hidden), "linear"))
                out.append((q + "experts.%d.w2.weight" % e, (hidden, inter), "linear"))
                out.append((q + "experts.%d.w3.weight" % e, (inter, hidden), "linear"))
        else:
            out.append((p + "mlp.gate_proj.weight", (inter, hidden), "linear"))
            out.append((p + "mlp.up_proj.weight", (inter, hidden), "linear"))
            out.append((p + "mlp.down_proj.weight", (hidden, inter), "linear"))
    out.append(("model.norm.weight", (hidden,), "norm"))
    if not cfg.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", (cfg["vocab_size"], hidden), "linear"))
    return out


def gpt2_tensors(cfg):
    hidden = cfg["n_embd"]
    inner = cfg.get("n_inner") or 4 * hidden
    out = [("wte.weight", (cfg["vocab_size"], hidden), "embed"),
           ("wpe.weight", (cfg["n_positions"], hidden), "embed")]
    for layer in range(cfg["n_layer"]):
        p = "h.%d." % layer
        out += [(p + "ln_1.weight", (hidden,), "norm"), (p + "ln_1.bias", (hidden,), "bias"),
                (p + "attn.c_attn.weight", (hidden, 3 * hidden), "linear"),
                (p + "attn.c_attn.bias", (3 * hidden,), "bias"),
                (p + "attn.c_proj.weight", (hidden, hidden), "linear"),
                (p + "attn.c_proj.bias", (hidden,), "bias"),
                (p + "ln_2.weight", (hidden,), "norm"), (p + "ln_2.bias", (hidden,), "bias"),
                (p + "mlp.c_fc.weight", (hidden, inner), "linear"),
                (p + "mlp.c_fc.bias", (inner,), "bias"),
                (p + "mlp.c_proj.weight", (inner, hidden), "linear"),
                (p + "mlp.c_proj.bias", (hidden,), "bias")]
    out += [("ln_f.weight", (hidden,), "norm"), ("ln_f.bias", (hidden,), "bias")]
    return out


def random_tensors(spec, layout):
    """Draw every tensor from one seeded generator, in layout order."""
    rng = np.random.default_rng(spec["seed"])
    std = spec["std"]
    tensors = []
    for name, shape, kind in layout:
        if kind == "norm":
            arr = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            arr = std[kind] * rng.standard_normal(shape)
        tensors.append((name, arr.astype(F32)))
    return tensors


# ---------------------------------------------------------------------------------------------
# the models

STD = {"embed": 0.2, "linear": 0.25, "bias": 0.05, "router": 0.5}


def llama_config(**over):
    cfg = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 64,
        "mlp_bias": False, "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": "4.44.2", "use_cache": True, "vocab_size": 64,
    }
    cfg.update(over)
    return cfg


MODELS = [
    {
        "name": "llama", "seed": 2000, "dtype": "F32",
        "exercises": "Llama MHA, untied lm_head, default RoPE (theta 1e4), F32 weights",
        "config": llama_config(),
    },
    {
        "name": "llama_gqa", "seed": 2002, "dtype": "BF16",
        "exercises": "Llama GQA 4/2 heads, explicit head_dim 16 != hidden/heads, tied embeddings, "
                     "llama3 RoPE scaling (one frequency kept, two interpolated, five divided), BF16 weights",
        "config": llama_config(
            head_dim=16, num_key_value_heads=2, intermediate_size=80, vocab_size=96,
            max_position_embeddings=256, tie_word_embeddings=True, torch_dtype="bfloat16",
            bos_token_id=0, eos_token_id=95,
            rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 64, "rope_type": "llama3"}),
    },
    {
        "name": "llama_linear", "seed": 2000, "dtype": "F16", "shards": 2,
        "exercises": "Llama with linear RoPE scaling (factor 2), head_dim 12, F16 weights, "
                     "sharded checkpoint (index + 2 shards)",
        "config": llama_config(
            hidden_size=48, intermediate_size=96, vocab_size=80, torch_dtype="float16",
            max_position_embeddings=128, rope_scaling={"factor": 2.0, "rope_type": "linear"}),
    },
    {
        "name": "mistral", "seed": 2009, "dtype": "F32",
        "exercises": "Mistral GQA 4/2, sliding window 4 (masks inside the prompt and during decode), "
                     "rope_theta 1e6",
        "config": {
            "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
            "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
            "intermediate_size": 64, "max_position_embeddings": 64, "model_type": "mistral",
            "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": 4,
            "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.44.2",
            "use_cache": True, "vocab_size": 64,
        },
    },
    {
        "name": "qwen2", "seed": 2003, "dtype": "F32",
        "exercises": "Qwen2 q/k/v biases (none on o_proj), tied embeddings, rms eps 1e-6, GQA 4/2; "
                     "sliding_window 4 is set but use_sliding_window is false, so attention is full",
        "config": {
            "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 0,
            "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
            "intermediate_size": 64, "max_position_embeddings": 64, "max_window_layers": 2,
            "model_type": "qwen2", "num_attention_heads": 4, "num_hidden_layers": 2,
            "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
            "sliding_window": 4, "tie_word_embeddings": True, "torch_dtype": "float32",
            "transformers_version": "4.44.2", "use_cache": True, "use_sliding_window": False,
            "vocab_size": 64,
        },
    },
    {
        "name": "mixtral", "seed": 2004, "dtype": "BF16",
        "exercises": "Mixtral MoE: 4 experts, top-2 routing with renormalised weights, GQA 4/2, "
                     "sliding_window null, BF16 weights",
        "config": {
            "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
            "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
            "intermediate_size": 48, "max_position_embeddings": 64, "model_type": "mixtral",
            "num_attention_heads": 4, "num_experts_per_tok": 2, "num_hidden_layers": 2,
            "num_key_value_heads": 2, "num_local_experts": 4, "output_router_logits": False,
            "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
            "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            "transformers_version": "4.44.2", "use_cache": True, "vocab_size": 64,
        },
    },
    {
        "name": "gpt2", "seed": 2001, "dtype": "F32",
        "exercises": "GPT-2: LayerNorm with bias, learned positions, gelu_new, Conv1D [in, out] "
                     "weights with fused q|k|v, tied lm_head, unprefixed tensor names",
        "config": {
            "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.1, "bos_token_id": 79, "embd_pdrop": 0.1, "eos_token_id": 79,
            "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
            "n_ctx": 64, "n_embd": 32, "n_head": 4, "n_inner": None, "n_layer": 2,
            "n_positions": 64, "resid_pdrop": 0.1, "scale_attn_weights": True,
            "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
            "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": "float32",
            "transformers_version": "4.44.2", "use_cache": True, "vocab_size": 80,
        },
    },
]


# ---------------------------------------------------------------------------------------------
# writing a model folder


def write_checkpoint(spec, out_dir):
    cfg = spec["config"]
    layout = gpt2_tensors(cfg) if cfg["model_type"] == "gpt2" else llama_style_tensors(cfg)
    tensors = random_tensors(dict(spec, std=dict(STD, **spec.get("std", {}))), layout)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    shards = spec.get("shards", 1)
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, spec["dtype"])
    else:
        write_sharded(out_dir, tensors, spec["dtype"], shards)
    with open(os.path.join(out_dir, "expected_params.txt"), "w") as f:
        f.write("%d\n" % sum(arr.size for _, arr in tensors))


def write_sharded(out_dir, tensors, dtype, shards):
    """Split in order into shards of about equal size, as save_pretrained(max_shard_size) does."""
    total = sum(arr.size for _, arr in tensors) * dtype_bytes(dtype)
    groups = [[] for _ in range(shards)]
    done = 0
    for name, arr in tensors:
        index = min(shards - 1, done * shards // total)
        groups[index].append((name, arr))
        done += arr.size * dtype_bytes(dtype)
    weight_map = {}
    for i, group in enumerate(groups):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        write_safetensors(os.path.join(out_dir, fname), group, dtype)
        weight_map.update({name: fname for name, _ in group})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# golden outputs


def top_margin(row):
    best = np.sort(row)[::-1]
    return float(best[0] - best[1])


def run_golden(model_dir, prompt):
    """Prefill, then greedy decode with the KV cache; returns the golden record's parts."""
    model = reference.load_model(model_dir)
    cache = model.new_cache()
    prefill = model.forward(prompt, cache)
    logits = prefill[-1]
    greedy, decode, margins = [], [], []
    for step in range(GREEDY_TOKENS):
        margins.append(top_margin(logits))
        greedy.append(reference.greedy_token(logits))
        if step == GREEDY_TOKENS - 1:
            break
        position = cache.length
        logits = model.forward([greedy[-1]], cache)[0]
        if step < DECODE_STEPS:
            decode.append({"token": greedy[-1], "position": position, "logits": logits})
    check_cache_consistency(model_dir, prompt, greedy, prefill, decode)
    return prefill, decode, greedy, min(margins), model.min_router_margin


def check_cache_consistency(model_dir, prompt, greedy, prefill, decode):
    """One prefill over prompt+decoded tokens must give what prefill+decode gave."""
    model = reference.load_model(model_dir)
    fed = prompt + [step["token"] for step in decode]
    full = model.forward(fed, model.new_cache())
    expected = np.concatenate([prefill] + [step["logits"][None] for step in decode])
    diff = float(np.max(np.abs(full - expected)))
    if diff > 5e-5:
        raise AssertionError("%s: KV-cache decode differs from one prefill by %g" % (model_dir, diff))


def fmt_row(row):
    return "[" + ", ".join("%.9g" % v for v in np.asarray(row, dtype=F32).tolist()) + "]"


def write_golden(path, spec, prompt, prefill, decode, greedy, greedy_margin, router_margin):
    lines = ["{"]
    lines.append('  "model": "%s",' % spec["name"])
    lines.append('  "exercises": %s,' % json.dumps(spec["exercises"]))
    lines.append('  "tolerance_note": %s,' % json.dumps(
        "Computed by tests/golden/reference.py in float32 throughout (weights widened exactly "
        "from their stored dtype, float32 accumulation, no float64). A float32 implementation "
        "should match every logit within 1e-4 absolute (numpy vs an independent torch "
        "formulation differ by under 1e-5). greedy_min_margin is the smallest gap between the "
        "two best logits over the greedy steps: greedy tokens must match exactly."))
    lines.append('  "greedy_min_margin": %.9g,' % greedy_margin)
    if router_margin != float("inf"):
        lines.append('  "router_min_margin": %.9g,' % router_margin)
    lines.append('  "prompt": %s,' % json.dumps(prompt))
    lines.append('  "prefill_logits": [')
    lines.append(",\n".join("    " + fmt_row(row) for row in prefill))
    lines.append("  ],")
    lines.append('  "decode": [')
    steps = ['    {"token": %d, "position": %d,\n     "logits": %s}' % (s["token"], s["position"], fmt_row(s["logits"]))
             for s in decode]
    lines.append(",\n".join(steps))
    lines.append("  ],")
    lines.append('  "greedy": %s' % json.dumps(greedy))
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def make_prompt(spec):
    cfg = spec["config"]
    rng = np.random.default_rng(spec["seed"] + 500)
    rest = rng.integers(3, cfg["vocab_size"] - 1, size=PROMPT_LEN - 1).tolist()
    return [int(cfg["bos_token_id"])] + [int(t) for t in rest]


def make_model(spec, root):
    out_dir = os.path.join(root, spec["name"])
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, old))
    write_checkpoint(spec, out_dir)
    prompt = make_prompt(spec)
    prefill, decode, greedy, greedy_margin, router_margin = run_golden(out_dir, prompt)
    if greedy_margin < MIN_GREEDY_MARGIN:
        raise AssertionError("%s: greedy margin %g is too small: pick another seed" % (spec["name"], greedy_margin))
    if router_margin < MIN_ROUTER_MARGIN:
        raise AssertionError("%s: router margin %g is too small: pick another seed" % (spec["name"], router_margin))
    write_golden(os.path.join(out_dir, "golden.json"), spec, prompt, prefill, decode, greedy,
                 greedy_margin, router_margin)
    return greedy_margin, router_margin, float(np.std(prefill))


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "data", "tiny"))
    parser.add_argument("--only", help="comma-separated model names")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    for spec in MODELS:
        if wanted and spec["name"] not in wanted:
            continue
        greedy_margin, router_margin, spread = make_model(spec, os.path.normpath(args.out))
        extra = "" if router_margin == float("inf") else ", router margin %.4g" % router_margin
        print("%-13s greedy margin %.4g%s, logit std %.3g" % (spec["name"], greedy_margin, extra, spread))


if __name__ == "__main__":
    main(sys.argv[1:])
