#!/usr/bin/env python3
"""Independent numpy reference for kiln's golden tests.

Reads a Hugging Face model folder (config.json plus model.safetensors, or a sharded
model.safetensors.index.json) with its own safetensors reader and runs the forward pass of
the model families kiln supports, following transformers' modeling code:

  llama, mistral, qwen2, mixtral  (RMSNorm, RoPE rotate-half, GQA, SwiGLU or top-k MoE)
  gpt2                            (LayerNorm, learned positions, gelu_new, Conv1D weights)

Everything is computed in float32, as PyTorch does on CPU when the model is loaded in float32:
weights stored as F16 or BF16 are widened to float32 exactly, and no float64 accumulation is
used anywhere. A KV cache lets prefill and decode run separately.

Needs only numpy. Command line (prints greedy tokens and the last logits' top 5):

  python3 tests/golden/reference.py tests/data/tiny/llama --prompt 1,5,9 --greedy 8
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

F32 = np.float32

# ---------------------------------------------------------------------------------------------
# safetensors reading


def _decode_tensor(dtype, raw, shape):
    """Widen one tensor's raw little-endian bytes to a float32 array."""
    if dtype == "F32":
        arr = np.frombuffer(raw, dtype="<f4").astype(F32)
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype="<f2").astype(F32)
    elif dtype == "BF16":
        # bf16 is the high half of an f32: shifting the bits up is exact.
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)
        arr = bits.view(F32)
    else:
        raise ValueError("unsupported safetensors dtype %r" % dtype)
    count = int(np.prod(shape)) if shape else 1
    if arr.size != count:
        raise ValueError("tensor of shape %r holds %d values, expected %d" % (shape, arr.size, count))
    return arr.reshape(shape)


def read_safetensors(path):
    """Return {name: float32 array} for one .safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: too short for a safetensors header" % path)
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = blob[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError("%s: tensor %s has data_offsets %r outside the file" % (path, name, entry["data_offsets"]))
        tensors[name] = _decode_tensor(entry["dtype"], data[begin:end], list(entry["shape"]))
    return tensors


def load_weights(model_dir):
    """Load every tensor of a model folder, single-file or sharded."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index_path):
        return read_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(index_path) as f:
        weight_map = json.load(f)["weight_map"]
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        shard_tensors = read_safetensors(os.path.join(model_dir, shard))
        for name, arr in shard_tensors.items():
            if weight_map.get(name) != shard:
                raise ValueError("%s holds %s, which the index places in %r" % (shard, name, weight_map.get(name)))
            tensors[name] = arr
    missing = sorted(set(weight_map) - set(tensors))
    if missing:
        raise ValueError("index names tensors no shard holds: %s" % ", ".join(missing))
    return tensors


# ---------------------------------------------------------------------------------------------
# float32 building blocks (no float64 anywhere: python scalars are turned into F32 first)


def linear(x, weight, bias=None):
    """torch.nn.Linear: y = x W^T + b, W is [out, in]."""
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y


def conv1d(x, weight, bias):
    """transformers' Conv1D (GPT-2): y = x W + b, W is [in, out]."""
    return x @ weight + bias


def rms_norm(x, weight, eps):
    variance = np.mean(x * x, axis=-1, keepdims=True)
    return weight * (x * (F32(1.0) / np.sqrt(variance + F32(eps))))


def layer_norm(x, weight, bias, eps):
    mean = np.mean(x, axis=-1, keepdims=True)
    centered = x - mean
    variance = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered * (F32(1.0) / np.sqrt(variance + F32(eps))) * weight + bias


def silu(x):
    return x / (F32(1.0) + np.exp(-x))


def gelu_new(x):
    """GPT-2's tanh approximation of GELU."""
    inner = F32(math.sqrt(2.0 / math.pi)) * (x + F32(0.044715) * (x * x * x))
    return F32(0.5) * x * (F32(1.0) + np.tanh(inner))


def softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# rotary position embedding


def rope_inv_freq(cfg, head_dim):
    """inv_freq as transformers computes it in float32, with the config's rope_scaling."""
    base = F32(cfg.get("rope_theta", 10000.0))
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(F32) / F32(head_dim)
    inv_freq = F32(1.0) / np.power(base, exponents)
    scaling = cfg.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / F32(scaling["factor"])
    if kind == "llama3":
        return _llama3_inv_freq(inv_freq, scaling)
    raise ValueError("unsupported rope_scaling type %r" % kind)


def _llama3_inv_freq(inv_freq, scaling):
    factor = F32(scaling["factor"])
    low_freq_factor = F32(scaling["low_freq_factor"])
    high_freq_factor = F32(scaling["high_freq_factor"])
    old_context_len = F32(scaling["original_max_position_embeddings"])
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = F32(2.0 * math.pi) / inv_freq
    # long wavelengths are divided by factor, short ones kept, the band between interpolated
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (F32(1.0) - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(medium, smoothed, scaled).astype(F32)


def rope_cos_sin(inv_freq, positions):
    """cos, sin of shape [T, head_dim] (the half-size table repeated, as HF concatenates)."""
    freqs = positions.astype(F32)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb), np.sin(emb)


def apply_rope(x, cos, sin):
    """x: [heads, T, head_dim]; rotate-half convention."""
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


# ---------------------------------------------------------------------------------------------
# attention with a KV cache


class KVCache:
    """Per-layer keys and values ([kv_heads, S, head_dim], keys after RoPE)."""

    def __init__(self, num_layers):
        self.keys = [None] * num_layers
        self.values = [None] * num_layers
        self.length = 0

    def append(self, layer, k, v):
        if self.keys[layer] is None:
            self.keys[layer], self.values[layer] = k, v
        else:
            self.keys[layer] = np.concatenate([self.keys[layer], k], axis=1)
            self.values[layer] = np.concatenate([self.values[layer], v], axis=1)
        return self.keys[layer], self.values[layer]


def attend(q, k, v, q_positions, scale, divide, sliding_window=None):
    """Causal (optionally sliding-window) attention of q [H,T,D] over k, v [Hkv,S,D].

    Key j sits at position j. Query at position p sees keys j <= p, and with a sliding window
    only those with p - j < sliding_window (transformers' sliding_window_overlay). GQA: query
    head h reads kv head h // (H / Hkv), done by grouping query heads instead of repeating kv.
    """
    heads, tokens, head_dim = q.shape
    kv_heads, seq, _ = k.shape
    group = heads // kv_heads
    qg = q.reshape(kv_heads, group * tokens, head_dim)
    scores = qg @ k.transpose(0, 2, 1)
    scores = scores / scale if divide else scores * scale
    scores = scores.reshape(kv_heads, group, tokens, seq)
    key_pos = np.arange(seq)[None, :]
    allowed = key_pos <= q_positions[:, None]
    if sliding_window is not None:
        allowed &= (q_positions[:, None] - key_pos) < sliding_window
    scores = np.where(allowed, scores, F32(-np.inf))
    probs = softmax(scores, axis=-1).reshape(kv_heads, group * tokens, seq)
    out = probs @ v
    return out.reshape(heads, tokens, head_dim)


def split_heads(x, heads, head_dim):
    """[T, heads*head_dim] -> [heads, T, head_dim]"""
    return x.reshape(x.shape[0], heads, head_dim).transpose(1, 0, 2)


def merge_heads(x):
    """[heads, T, head_dim] -> [T, heads*head_dim]"""
    return x.transpose(1, 0, 2).reshape(x.shape[1], -1)


# ---------------------------------------------------------------------------------------------
# Llama-style decoders: llama, mistral, qwen2, mixtral


class LlamaStyleModel:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.w = weights
        self.family = cfg["model_type"]
        self.num_layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads") or self.heads
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.heads
        self.eps = cfg["rms_norm_eps"]
        self.scale = F32(self.head_dim ** -0.5)
        self.inv_freq = rope_inv_freq(cfg, self.head_dim)
        self.sliding_window = self._sliding_window()
        tied = cfg.get("tie_word_embeddings", False)
        self.lm_head = weights["model.embed_tokens.weight"] if tied else weights["lm_head.weight"]
        # smallest gap between the k-th and (k+1)-th routing probability seen (mixtral only)
        self.min_router_margin = math.inf

    def _sliding_window(self):
        window = self.cfg.get("sliding_window")
        if self.family == "qwen2" and not self.cfg.get("use_sliding_window", False):
            return None
        if self.family in ("mistral", "mixtral", "qwen2"):
            return window
        return None

    def new_cache(self):
        return KVCache(self.num_layers)

    def forward(self, ids, cache):
        """Logits [T, vocab] for token ids following the cache's tokens; extends the cache."""
        w = self.w
        positions = np.arange(cache.length, cache.length + len(ids))
        cos, sin = rope_cos_sin(self.inv_freq, positions)
        x = w["model.embed_tokens.weight"][np.asarray(ids)]
        for layer in range(self.num_layers):
            p = "model.layers.%d." % layer
            h = rms_norm(x, w[p + "input_layernorm.weight"], self.eps)
            x = x + self._attention(layer, p + "self_attn.", h, positions, cos, sin, cache)
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"], self.eps)
            if self.family == "mixtral":
                x = x + self._moe(p + "block_sparse_moe.", h)
            else:
                x = x + self._mlp(p + "mlp.", h)
        cache.length += len(ids)
        x = rms_norm(x, w["model.norm.weight"], self.eps)
        logits = linear(x, self.lm_head)
        assert logits.dtype == F32
        return logits

    def _attention(self, layer, p, h, positions, cos, sin, cache):
        w = self.w
        q = linear(h, w[p + "q_proj.weight"], w.get(p + "q_proj.bias"))
        k = linear(h, w[p + "k_proj.weight"], w.get(p + "k_proj.bias"))
        v = linear(h, w[p + "v_proj.weight"], w.get(p + "v_proj.bias"))
        q = apply_rope(split_heads(q, self.heads, self.head_dim), cos, sin)
        k = apply_rope(split_heads(k, self.kv_heads, self.head_dim), cos, sin)
        v = split_heads(v, self.kv_heads, self.head_dim)
        k_all, v_all = cache.append(layer, k, v)
        out = attend(q, k_all, v_all, positions, self.scale, False, self.sliding_window)
        return linear(merge_heads(out), w[p + "o_proj.weight"], w.get(p + "o_proj.bias"))

    def _mlp(self, p, h):
        w = self.w
        gate = linear(h, w[p + "gate_proj.weight"])
        up = linear(h, w[p + "up_proj.weight"])
        return linear(silu(gate) * up, w[p + "down_proj.weight"])

    def _expert(self, p, h):
        w = self.w
        return linear(silu(linear(h, w[p + "w1.weight"])) * linear(h, w[p + "w3.weight"]), w[p + "w2.weight"])

    def _moe(self, p, h):
        """Top-k routing: softmax over router logits, keep k, renormalise, weighted sum."""
        top_k = self.cfg["num_experts_per_tok"]
        probs = softmax(linear(h, self.w[p + "gate.weight"]), axis=-1)
        out = np.zeros_like(h)
        for t in range(h.shape[0]):
            # highest probability first, the lower expert id first on ties
            order = sorted(range(probs.shape[1]), key=lambda e: (-probs[t, e], e))
            chosen = order[:top_k]
            if len(order) > top_k:
                margin = float(probs[t, order[top_k - 1]] - probs[t, order[top_k]])
                self.min_router_margin = min(self.min_router_margin, margin)
            weights = probs[t, chosen] / np.sum(probs[t, chosen])
            acc = np.zeros_like(h[t:t + 1])
            for e in sorted(chosen):  # transformers adds expert outputs in expert-id order
                rank = chosen.index(e)
                acc = acc + self._expert(p + "experts.%d." % e, h[t:t + 1]) * weights[rank]
            out[t] = acc[0]
        return out


# ---------------------------------------------------------------------------------------------
# GPT-2


class GPT2Model:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        # accept both the published names ("h.0...") and GPT2LMHeadModel's ("transformer.h.0...")
        self.w = {(n[len("transformer."):] if n.startswith("transformer.") else n): a for n, a in weights.items()}
        self.num_layers = cfg["n_layer"]
        self.heads = cfg["n_head"]
        self.hidden = cfg["n_embd"]
        self.head_dim = self.hidden // self.heads
        self.eps = cfg["layer_norm_epsilon"]
        self.scale = F32(math.sqrt(self.head_dim))
        self.min_router_margin = math.inf
        if cfg.get("activation_function", "gelu_new") != "gelu_new":
            raise ValueError("only gelu_new is implemented")

    def new_cache(self):
        return KVCache(self.num_layers)

    def forward(self, ids, cache):
        w = self.w
        positions = np.arange(cache.length, cache.length + len(ids))
        x = w["wte.weight"][np.asarray(ids)] + w["wpe.weight"][positions]
        for layer in range(self.num_layers):
            p = "h.%d." % layer
            h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            x = x + self._attention(layer, p + "attn.", h, positions, cache)
            h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], self.eps)
            h = gelu_new(conv1d(h, w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"]))
            x = x + conv1d(h, w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])
        cache.length += len(ids)
        x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], self.eps)
        logits = x @ w["wte.weight"].T
        assert logits.dtype == F32
        return logits

    def _attention(self, layer, p, h, positions, cache):
        w = self.w
        qkv = conv1d(h, w[p + "c_attn.weight"], w[p + "c_attn.bias"])
        q, k, v = (split_heads(part, self.heads, self.head_dim) for part in np.split(qkv, 3, axis=-1))
        k_all, v_all = cache.append(layer, k, v)
        # GPT-2 divides the scores by sqrt(head_dim)
        out = attend(q, k_all, v_all, positions, self.scale, True)
        return conv1d(merge_heads(out), w[p + "c_proj.weight"], w[p + "c_proj.bias"])


# ---------------------------------------------------------------------------------------------


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = load_weights(model_dir)
    if cfg["model_type"] in ("llama", "mistral", "qwen2", "mixtral"):
        return LlamaStyleModel(cfg, weights)
    if cfg["model_type"] == "gpt2":
        return GPT2Model(cfg, weights)
    raise ValueError("unsupported model_type %r" % cfg["model_type"])


def greedy_token(logits_row):
    """argmax, the lower id on ties (np.argmax returns the first maximum)."""
    return int(np.argmax(logits_row))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--prompt", required=True, help="comma-separated token ids")
    parser.add_argument("--greedy", type=int, default=8, help="tokens to generate")
    args = parser.parse_args(argv)
    model = load_model(args.model_dir)
    cache = model.new_cache()
    logits = model.forward([int(t) for t in args.prompt.split(",")], cache)[-1]
    tokens = []
    for _ in range(args.greedy):
        tokens.append(greedy_token(logits))
        logits = model.forward([tokens[-1]], cache)[-1]
    top = np.argsort(-logits, kind="stable")[:5]
    print("greedy:", " ".join(map(str, tokens)))
    print("next top5:", ", ".join("%d:%.6g" % (t, logits[t]) for t in top))


if __name__ == "__main__":
    main(sys.argv[1:])
