#!/usr/bin/python3
"""gen_model.py: a random-weight Llama checkpoint (Hugging Face layout).

    gen_model.py OUT_DIR --hidden 768 --layers 12 --heads 12 --kv-heads 12 \
        --intermediate 2048 --vocab 32000 --max-pos 256 --dtype f32 [--tied] [--seed 1]

Writes OUT_DIR/config.json (LlamaForCausalLM) and OUT_DIR/model.safetensors
with the tensor names of transformers' Llama. Weights are normal with
std 0.02 (norm weights 1), so activations and logits stay in a sane range
through many layers; f16 and bf16 are rounded from the same f32 draws
(round to nearest even). Tensors are drawn and written one at a time, so a
checkpoint of any size needs little memory. The file names of the output
are written last, via rename, so an interrupted run leaves no half model.
Needs numpy (Debian's /usr/bin/python3 has it: python3-numpy).
"""
import argparse
import json
import os
import struct

import numpy as np

ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
HF_DTYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def tensor_list(a):
    """(name, shape) of every tensor, in the order they are written."""
    hd = a.hidden // a.heads
    kv = a.kv_heads * hd
    out = [("model.embed_tokens.weight", (a.vocab, a.hidden))]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (a.hidden,)),
            (p + "self_attn.q_proj.weight", (a.hidden, a.hidden)),
            (p + "self_attn.k_proj.weight", (kv, a.hidden)),
            (p + "self_attn.v_proj.weight", (kv, a.hidden)),
            (p + "self_attn.o_proj.weight", (a.hidden, a.hidden)),
            (p + "post_attention_layernorm.weight", (a.hidden,)),
            (p + "mlp.gate_proj.weight", (a.intermediate, a.hidden)),
            (p + "mlp.up_proj.weight", (a.intermediate, a.hidden)),
            (p + "mlp.down_proj.weight", (a.hidden, a.intermediate)),
        ]
    out.append(("model.norm.weight", (a.hidden,)))
    if not a.tied:
        out.append(("lm_head.weight", (a.vocab, a.hidden)))
    return out


def to_dtype(x, dtype):
    """float32 array -> the bytes of dtype (bf16: round to nearest even)."""
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    u = x.astype("<f4").view("<u4").astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2").tobytes()


def draw(rng, name, shape):
    if name.endswith("norm.weight"):
        return np.ones(shape, dtype=np.float32)
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)


def write_safetensors(path, a):
    tensors = tensor_list(a)
    esize = {"f32": 4, "f16": 2, "bf16": 2}[a.dtype]
    header, off = {}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * esize
        header[name] = {"dtype": ST_DTYPE[a.dtype], "shape": list(shape),
                        "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt", "generator": "kiln bench/gen_model.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(a.seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in tensors:
            f.write(to_dtype(draw(rng, name, shape), a.dtype))


def config(a):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": a.hidden,
        "intermediate_size": a.intermediate,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "vocab_size": a.vocab,
        "max_position_embeddings": a.max_pos,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": a.tied,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": HF_DTYPE[a.dtype],
    }


def main():
    p = argparse.ArgumentParser(description="random-weight Llama checkpoint")
    p.add_argument("out")
    for k in ("hidden", "layers", "heads", "intermediate", "vocab"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--kv-heads", type=int, default=0, help="default: --heads")
    p.add_argument("--max-pos", type=int, default=256)
    p.add_argument("--dtype", choices=sorted(ST_DTYPE), default="f32")
    p.add_argument("--tied", action="store_true", help="lm head = embedding (llama2.c's 110M)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    a.kv_heads = a.kv_heads or a.heads
    if a.hidden % a.heads or a.heads % a.kv_heads:
        p.error("hidden must be a multiple of heads, heads a multiple of kv-heads")
    os.makedirs(a.out, exist_ok=True)
    st = os.path.join(a.out, "model.safetensors")
    write_safetensors(st + ".tmp", a)
    with open(os.path.join(a.out, "config.json.tmp"), "w") as f:
        json.dump(config(a), f, indent=2)
        f.write("\n")
    os.replace(st + ".tmp", st)
    os.replace(os.path.join(a.out, "config.json.tmp"), os.path.join(a.out, "config.json"))


main()
