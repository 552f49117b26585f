"""train_model.py: trains the tiny Llama sample model on the KJV text, on CPU.

    python3 train_model.py OUT_DIR [--ckpt-dir DIR] [--resume] [--steps N] ...

OUT_DIR must hold the tokenizer.json that train_tokenizer.py wrote. At the
end OUT_DIR gets a Hugging Face LlamaForCausalLM checkpoint, float32:
config.json and model.safetensors (HF tensor names, Linear weights
[out, in]), plus training.json (the settings, the losses, the time taken,
sample generations and a reference forward pass for kiln's tests).

The model is Llama written in plain torch, as transformers' LlamaModel
computes it: RMSNorm before attention and before the MLP, rotary positions
with rotate-half pairing, grouped-query causal attention, a SwiGLU MLP, a
final RMSNorm and an LM head tied to the token embedding.

Data: every chapter is one document, "<|bos|>" + its verses, one a line, +
"<|eos|>". A training example is a window of --context tokens that starts
at a verse, led by <|bos|> (as a prompt is at inference: the tokenizer's
post-processor adds it). Every --val-every'th chapter is held out for the
validation loss.

Every --ckpt-every steps the model, the optimizer and the RNG states go to
--ckpt-dir/ckpt.pt; --resume continues from there.
"""

import argparse
import ctypes
import ctypes.util
import json
import math
import os
import platform
import random
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import kjv_text
from train_tokenizer import Tokenizer


def keep_freed_memory():
    """glibc hands big freed blocks back to the kernel and faults them in
    again on the next step; with these settings a step reuses its memory.
    (Half the CPU time went to the kernel without it.)"""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    for opt, value in ((M_MMAP_THRESHOLD, 1 << 30), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 256 << 20)):
        libc.mallopt(opt, value)


# ---- the model --------------------------------------------------------------

class Config:
    def __init__(self, vocab, hidden, layers, heads, kv_heads, intermediate, context,
                 rope_theta=10000.0, rms_eps=1e-5, bos_id=0, eos_id=1):
        self.vocab, self.hidden, self.layers = vocab, hidden, layers
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.intermediate, self.context = intermediate, context
        self.rope_theta, self.rms_eps = rope_theta, rms_eps
        self.bos_id, self.eos_id = bos_id, eos_id

    def hf_config(self):
        """config.json as transformers writes it for LlamaForCausalLM."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "max_position_embeddings": self.context,
            "initializer_range": 0.02,
            "rms_norm_eps": self.rms_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": None,
            "attention_bias": False,
            "attention_dropout": 0.0,
            "mlp_bias": False,
            "pretraining_tp": 1,
            "tie_word_embeddings": True,
            "bos_token_id": self.bos_id,
            "eos_token_id": self.eos_id,
            "use_cache": True,
            "torch_dtype": "float32",
            "transformers_version": "4.44.0",
        }


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, n):
    """cos, sin [n, head_dim] as transformers' LlamaRotaryEmbedding: the
    frequencies theta^(-2i/d), repeated for the two halves."""
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim))
    freqs = torch.outer(torch.arange(n, dtype=torch.float32), inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, hd = cfg.hidden, cfg.head_dim
        self.q_proj = nn.Linear(d, cfg.heads * hd, bias=False)
        self.k_proj = nn.Linear(d, cfg.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, cfg.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.heads * hd, d, bias=False)

    def forward(self, x, cos, sin, mask):
        c = self.cfg
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, c.heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # Query head h reads kv head h // (heads / kv_heads), as repeat_kv does.
        rep = c.heads // c.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c.head_dim)) + mask
        y = F.softmax(att, dim=-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(B, T, c.heads * c.head_dim))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden, cfg.intermediate, bias=False)
        self.up_proj = nn.Linear(cfg.hidden, cfg.intermediate, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate, cfg.hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden, cfg.rms_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden, cfg.rms_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """Parameter names follow transformers' LlamaForCausalLM less the
    "model." prefix, which hf_state_dict adds."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.hidden)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.hidden, cfg.rms_eps)
        cos, sin = rope_tables(cfg, cfg.context)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.full((cfg.context, cfg.context), float("-inf")).triu(1)
        self.register_buffer("mask", mask, persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        """N(0, 0.02); the projections that write into the residual stream
        scaled down by sqrt(2 * layers), as GPT-2 does."""
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith(("o_proj.weight", "down_proj.weight")):
                    std /= math.sqrt(2 * self.cfg.layers)
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        T = ids.shape[1]
        cos, sin, mask = self.cos[:T], self.sin[:T], self.mask[:T, :T]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return F.linear(self.norm(x), self.embed_tokens.weight)  # tied LM head

    def hf_state_dict(self):
        """{HF name: float32 tensor}; the tied lm_head is not stored."""
        return {"model." + k: v.detach().float().contiguous() for k, v in self.state_dict().items()}


# ---- safetensors ------------------------------------------------------------

def save_safetensors(tensors, path):
    """The safetensors layout: u64 little-endian header size, the JSON
    header (names sorted, each with dtype, shape and [begin, end) offsets
    into the data), padded with spaces to 8 bytes, then the raw data."""
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        t = tensors[name]
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- data -------------------------------------------------------------------

class Split:
    """A token stream (chapters, each <|bos|> verses <|eos|>) and the
    positions where verses start."""

    def __init__(self, tok, chapters):
        stream, starts = [], []
        for verses in chapters:
            stream.append(tok.bos_id)
            for v in verses:
                starts.append(len(stream))
                stream.extend(tok.encode(v + "\n"))
            stream.append(tok.eos_id)
        self.stream = torch.tensor(stream, dtype=torch.long)
        self.starts = [s for s in starts if s + 1 < len(stream)]

    def window(self, start, T, bos_id):
        """x = <|bos|> + stream[start : start+T-1], y = stream[start : start+T],
        cut short at the end of the stream."""
        y = self.stream[start:start + T]
        x = torch.cat([torch.tensor([bos_id]), y[:-1]])
        return x, y

    def batch(self, rng, B, T, bos_id):
        xs, ys = zip(*(self.window(rng.choice(self.starts), T, bos_id) for _ in range(B)))
        n = min(len(y) for y in ys)  # near the end a window may be short
        return torch.stack([x[:n] for x in xs]), torch.stack([y[:n] for y in ys])


def split_chapters(val_every):
    chapters = [v for _, v in kjv_text.read_chapters()]
    train = [c for i, c in enumerate(chapters) if i % val_every != val_every // 2]
    val = [c for i, c in enumerate(chapters) if i % val_every == val_every // 2]
    return train, val


@torch.no_grad()
def evaluate(model, split, T, bos_id, max_windows):
    """Mean loss per predicted token over evenly spread validation windows."""
    model.eval()
    stride = max(1, len(split.starts) // max_windows)
    total, count = 0.0, 0
    for s in split.starts[::stride][:max_windows]:
        x, y = split.window(s, T, bos_id)
        logits = model(x[None])
        total += F.cross_entropy(logits[0], y, reduction="sum").item()
        count += len(y)
    model.train()
    return total / count


# ---- schedule and checkpoints ------------------------------------------------

def learning_rate(step, args):
    """Linear warmup, then cosine decay to min_lr_frac * lr."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = (step - args.warmup) / max(1, args.steps - args.warmup)
    floor = args.lr * args.min_lr_frac
    return floor + (args.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def make_optimizer(model, args):
    """AdamW; weight decay on the matrices only (not on the norms' gains)."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    keep = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": keep, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8)


def save_checkpoint(path, model, opt, step, rng, history, elapsed):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                "history": history, "elapsed": elapsed}, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous one


# ---- generation ---------------------------------------------------------------

@torch.no_grad()
def generate(model, tok, prompt, max_new, temperature, seed):
    """Greedy when temperature is 0, else sampling with a fixed seed."""
    model.eval()
    ids = tok.encode(prompt, add_bos=True)
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(max_new):
        logits = model(torch.tensor([ids[-model.cfg.context:]]))[0, -1]
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            nxt = int(torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=g))
        if nxt == tok.eos_id:
            break
        ids.append(nxt)
        out.append(nxt)
    model.train()
    return out


@torch.no_grad()
def reference_forward(model, tok, prompt):
    """The logits of the last prompt position, as a check for kiln: the top
    five ids and values, and the whole row's mean and max."""
    model.eval()
    ids = tok.encode(prompt, add_bos=True)
    row = model(torch.tensor([ids]))[0, -1]
    top = row.topk(5)
    model.train()
    return {"prompt": prompt, "ids": ids, "top5_ids": top.indices.tolist(),
            "top5_logits": [round(v, 5) for v in top.values.tolist()],
            "mean_logit": round(row.mean().item(), 5), "max_logit": round(row.max().item(), 5)}


# ---- main ---------------------------------------------------------------------

PROMPTS = ["And God said", "In the beginning", "The LORD is my shepherd", "And Jesus answered",
           "Blessed are"]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the model directory; holds tokenizer.json")
    ap.add_argument("--ckpt-dir", default="/tmp/tiny-kjv-ckpt")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--val-every", type=int, default=40, help="hold out every Nth chapter")
    ap.add_argument("--val-windows", type=int, default=48)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and stop")
    return ap.parse_args()


def main():
    args = parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    cfg = Config(len(tok.vocab), args.hidden, args.layers, args.heads, args.kv_heads,
                 args.intermediate, args.context, bos_id=tok.bos_id, eos_id=tok.eos_id)
    model = Llama(cfg)
    opt = make_optimizer(model, args)
    n_params = sum(p.numel() for p in model.parameters())

    t0 = time.time()
    train_ch, val_ch = split_chapters(args.val_every)
    train, val = Split(tok, train_ch), Split(tok, val_ch)
    print(f"params {n_params}; train {len(train_ch)} chapters {len(train.stream)} tokens, "
          f"val {len(val_ch)} chapters {len(val.stream)} tokens ({time.time() - t0:.0f}s)", flush=True)

    os.makedirs(args.ckpt_dir, exist_ok=True)
    ckpt = os.path.join(args.ckpt_dir, "ckpt.pt")
    step, history, elapsed = 0, [], 0.0
    if args.resume and os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, history, elapsed = st["step"], st["history"], st["elapsed"]
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        print(f"resumed at step {step} ({elapsed:.0f}s trained)", flush=True)

    last = time.time()
    smooth, first_step, run_start = None, step, elapsed
    stop = args.bench if args.bench else args.steps
    while step < stop:
        lr = learning_rate(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = train.batch(rng, args.batch, args.context, tok.bos_id)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        step += 1
        now = time.time()
        elapsed += now - last
        last = now
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        if step % 10 == 0 or args.bench:
            print(f"step {step} loss {loss.item():.4f} (smoothed {smooth:.4f}) lr {lr:.2e} "
                  f"{elapsed:.0f}s ({(elapsed - run_start) / (step - first_step):.2f}s/step)", flush=True)
        if args.bench:
            continue
        if step % args.eval_every == 0 or step == args.steps:
            v = evaluate(model, val, args.context, tok.bos_id, args.val_windows)
            history.append({"step": step, "train_loss": round(smooth, 4), "val_loss": round(v, 4),
                            "elapsed_s": round(elapsed)})
            print(f"eval step {step}: val loss {v:.4f}", flush=True)
            print("  sample: " + repr(tok.decode(generate(model, tok, PROMPTS[0], 30, 0, 0))), flush=True)
            last = time.time()  # evaluation time is not training time
        if step % args.ckpt_every == 0 or step == args.steps:
            save_checkpoint(ckpt, model, opt, step, rng, history, elapsed)
            last = time.time()
    if args.bench:
        return
    export(model, tok, cfg, args, n_params, history, elapsed, train, val)


def export(model, tok, cfg, args, n_params, history, elapsed, train, val):
    save_safetensors(model.hf_state_dict(), os.path.join(args.out, "model.safetensors"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg.hf_config(), f, indent=2)
        f.write("\n")
    samples = []
    for p in PROMPTS:
        for temp, seed in ((0.0, 0), (0.8, 1), (0.8, 2)):
            ids = generate(model, tok, p, 60, temp, seed)
            samples.append({"prompt": p, "temperature": temp, "seed": seed, "ids": ids,
                            "text": tok.decode(ids)})
            print(f"[{p!r} T={temp} seed={seed}] {p}{tok.decode(ids)}", flush=True)
    report = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "ckpt_dir", "resume", "bench")},
        "params": n_params,
        "train_tokens": len(train.stream), "val_tokens": len(val.stream),
        "tokens_seen": args.steps * args.batch * args.context,
        "final_val_loss": history[-1]["val_loss"] if history else None,
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "history": history,
        "train_seconds": round(elapsed),
        "machine": f"{platform.machine()} {platform.processor() or ''} torch {torch.__version__}, "
                   f"{args.threads} thread(s)".replace("  ", " "),
        "samples": samples,
        "reference": reference_forward(model, tok, "And God said"),
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: final val loss {report['final_val_loss']}", flush=True)


if __name__ == "__main__":
    main()
