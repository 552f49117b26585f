#!/usr/bin/env python3
"""Cross-check the committed golden outputs against an independent PyTorch formulation.

Development aid, not needed by CI: needs torch (tested with 1.13, CPU). It shares no code
with reference.py: its own safetensors reader (torch.frombuffer), the model written the way
transformers' modeling files write it (repeat_kv, additive float masks, F.layer_norm,
addmm Conv1D, the one-hot expert loop with index_add_ for Mixtral), and it runs the whole
sequence in one pass without a KV cache. It compares every golden logit and greedy token.

  python3 tests/golden/crosscheck_torch.py [DIR]     # DIR defaults to tests/data/tiny
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_file(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(blob[base + b:base + end]), dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).to(torch.float32)
    return out


def read_weights(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if not os.path.exists(idx):
        return read_file(os.path.join(d, "model.safetensors"))
    w = {}
    for shard in set(json.load(open(idx))["weight_map"].values()):
        w.update(read_file(os.path.join(d, shard)))
    return w


# --- transformers-style pieces ---------------------------------------------------------------

def default_inv_freq(cfg, dim):
    base = cfg.get("rope_theta", 10000.0)
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def llama3_inv_freq(cfg, dim):
    inv_freq = default_inv_freq(cfg, dim)
    rs = cfg["rope_scaling"]
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    low_wl, high_wl = old / low, old / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_wl, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def inv_freq_for(cfg, dim):
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", "default")
    if kind == "llama3":
        return llama3_inv_freq(cfg, dim)
    if kind == "linear":
        return default_inv_freq(cfg, dim) / rs["factor"]
    return default_inv_freq(cfg, dim)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rms(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def repeat_kv(x, n_rep):
    b, h, s, d = x.shape
    return x[:, :, None, :, :].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


def additive_mask(seq, window):
    q = torch.arange(seq)[:, None]
    k = torch.arange(seq)[None, :]
    ok = k <= q
    if window is not None:
        ok = ok & (k > q - window)
    m = torch.zeros(seq, seq)
    return m.masked_fill(~ok, torch.finfo(torch.float32).min)[None, None]


def llama_forward(cfg, w, ids):
    hidden = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or hidden // nh
    eps = cfg["rms_norm_eps"]
    mt = cfg["model_type"]
    window = cfg.get("sliding_window") if mt in ("mistral", "mixtral") else None
    if mt == "qwen2" and cfg.get("use_sliding_window"):
        window = cfg.get("sliding_window")
    seq = len(ids)
    pos = torch.arange(seq)[None]
    inv = inv_freq_for(cfg, hd)
    freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [1,1,S,D]
    mask = additive_mask(seq, window)
    x = F.embedding(torch.tensor([ids]), w["model.embed_tokens.weight"])
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        a = p + "self_attn."
        q = F.linear(h, w[a + "q_proj.weight"], w.get(a + "q_proj.bias"))
        k = F.linear(h, w[a + "k_proj.weight"], w.get(a + "k_proj.bias"))
        v = F.linear(h, w[a + "v_proj.weight"], w.get(a + "v_proj.bias"))
        q = q.view(1, seq, nh, hd).transpose(1, 2)
        k = k.view(1, seq, nkv, hd).transpose(1, 2)
        v = v.view(1, seq, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
        att = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5 + mask
        att = F.softmax(att, dim=-1, dtype=torch.float32)
        o = torch.matmul(att, v).transpose(1, 2).reshape(1, seq, nh * hd)
        x = x + F.linear(o, w[a + "o_proj.weight"])
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        if mt == "mixtral":
            x = x + moe(cfg, w, p + "block_sparse_moe.", h)
        else:
            m = p + "mlp."
            x = x + F.linear(F.silu(F.linear(h, w[m + "gate_proj.weight"])) * F.linear(h, w[m + "up_proj.weight"]),
                             w[m + "down_proj.weight"])
    x = rms(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return F.linear(x, head)[0]


def moe(cfg, w, p, h):
    b, s, d = h.shape
    hs = h.view(-1, d)
    router_logits = F.linear(hs, w[p + "gate.weight"])
    rw = F.softmax(router_logits, dim=1, dtype=torch.float)
    rw, sel = torch.topk(rw, cfg["num_experts_per_tok"], dim=-1)
    rw /= rw.sum(dim=-1, keepdim=True)
    final = torch.zeros_like(hs)
    expert_mask = F.one_hot(sel, num_classes=cfg["num_local_experts"]).permute(2, 1, 0)
    for e in range(cfg["num_local_experts"]):
        idx, top_x = torch.where(expert_mask[e])
        cur = hs[None, top_x].reshape(-1, d)
        q = p + "experts.%d." % e
        out = F.linear(F.silu(F.linear(cur, w[q + "w1.weight"])) * F.linear(cur, w[q + "w3.weight"]), w[q + "w2.weight"])
        final.index_add_(0, top_x, out * rw[top_x, idx, None])
    return final.view(b, s, d)


def gpt2_forward(cfg, w, ids):
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in w.items()}
    d = cfg["n_embd"]
    nh = cfg["n_head"]
    hd = d // nh
    eps = cfg["layer_norm_epsilon"]
    seq = len(ids)
    x = w["wte.weight"][torch.tensor(ids)] + w["wpe.weight"][torch.arange(seq)]
    causal = torch.tril(torch.ones(seq, seq, dtype=torch.bool))

    def conv1d(t, name):
        return torch.addmm(w[name + ".bias"], t.view(-1, t.shape[-1]), w[name + ".weight"])

    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        h = F.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        q, k, v = conv1d(h, p + "attn.c_attn").split(d, dim=1)
        q, k, v = (t.view(seq, nh, hd).transpose(0, 1) for t in (q, k, v))
        att = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], v.size(-1) ** 0.5)
        att = torch.where(causal, att, torch.tensor(torch.finfo(torch.float32).min))
        att = F.softmax(att, dim=-1)
        o = torch.matmul(att, v).transpose(0, 1).reshape(seq, d)
        x = x + conv1d(o, p + "attn.c_proj")
        h = F.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = F.gelu(conv1d(h, p + "mlp.c_fc"), approximate="tanh")
        x = x + conv1d(h, p + "mlp.c_proj")
    x = F.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"], eps)
    return x @ w["wte.weight"].T


def check(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    gold = json.load(open(os.path.join(d, "golden.json")))
    w = read_weights(d)
    n_params = sum(t.numel() for t in w.values())
    expect_params = int(open(os.path.join(d, "expected_params.txt")).read())
    ids = gold["prompt"] + gold["greedy"][:-1]
    fwd = gpt2_forward if cfg["model_type"] == "gpt2" else llama_forward
    with torch.no_grad():
        logits = fwd(cfg, w, ids)
    n = len(gold["prompt"])
    want = torch.tensor(gold["prefill_logits"])
    diff = (logits[:n] - want).abs().max().item()
    for step in gold["decode"]:
        assert ids[step["position"]] == step["token"]
        row = logits[step["position"]]
        diff = max(diff, (row - torch.tensor(step["logits"])).abs().max().item())
    greedy = [int(torch.argmax(logits[n - 1 + i])) for i in range(len(gold["greedy"]))]
    ok = greedy == gold["greedy"] and n_params == expect_params and diff < 1e-5
    print("%-13s max|torch - golden| = %.3g  greedy %s  params %d %s  %s" % (
        os.path.basename(d), diff, "match" if greedy == gold["greedy"] else "DIFFER",
        n_params, "ok" if n_params == expect_params else "!= %d" % expect_params, "OK" if ok else "FAIL"))
    return ok


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tiny")
    results = [check(os.path.join(root, name)) for name in sorted(os.listdir(root))]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
