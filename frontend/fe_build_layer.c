/* fe_build_layer.c: one Transformer block as IR ops.
 *
 * Attention is written out as plain ops, the pattern the attention pass
 * rewrites into one fused `attention` op:
 *
 *   scores = matmul(q [Hkv, G, T, D], k [Hkv, 1, P+T, D]) {transpose_b}
 *   scores = mul(scores, const scale)
 *   scores = add(scores, causal_mask {offset = P, window})   (decoders)
 *   probs  = softmax(scores) {axis = -1}
 *   out    = matmul(probs, v [Hkv, 1, P+T, D])              [Hkv, G, T, D]
 *
 * Query head h = j*G + g uses kv head j (the broadcast over the size-1
 * axis), as Hugging Face's repeat_kv does. Keys and values of this call
 * go into the KV cache at offset P and the whole prefix P+T is read back.
 *
 * A mixture of experts is built in its dense-masked form: the router's
 * softmax, top-k and (optionally) renormalized weights are scattered into
 * a [T, E] gate, every expert runs on every token, and expert e's output
 * is weighed by gate column e. Exact, and plain ops; the sparse dispatch
 * is an optimization for later. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fe_build.h"

static IrValue *rope(FeBuilder *b, IrValue *x) {
  const FeModel *fm = b->fm;
  IrOp *op = fe_emit(b, IR_OP_ROPE, 2, (IrValue *[]){x, b->pos}, x->type);
  ir_op_set_int(op, "head_dim", fm->head_dim);
  ir_op_set_float(op, "theta", fm->rope_theta);
  if (fm->rope_interleaved) ir_op_set_str(b->m, op, "pairing", "interleaved");
  if (fm->rotary_dim && fm->rotary_dim != fm->head_dim)
    ir_op_set_int(op, "rotary_dim", fm->rotary_dim);
  if (fm->rope_scaling == FE_ROPE_SCALE_LINEAR) {
    ir_op_set_str(b->m, op, "scaling", "linear");
    ir_op_set_float(op, "factor", fm->rope_factor);
  } else if (fm->rope_scaling == FE_ROPE_SCALE_LLAMA3) {
    ir_op_set_str(b->m, op, "scaling", "llama3");
    ir_op_set_float(op, "factor", fm->rope_factor);
    ir_op_set_float(op, "low_freq_factor", fm->rope_low_freq);
    ir_op_set_float(op, "high_freq_factor", fm->rope_high_freq);
    ir_op_set_int(op, "original_max_position", fm->rope_orig_max_pos);
  }
  return op->out[0];
}

/* Writes x [Hkv, T, D] into state @kv.<layer>.<which> at offset P and
 * returns the cache's first P+T positions, [Hkv, P+T, D]. */
static IrValue *kv_cache(FeBuilder *b, IrValue *x, int layer, const char *which) {
  char name[64];
  snprintf(name, sizeof name, "kv.%d.%s", layer, which);
  IrValue *state = ir_module_find_global(b->m, name, strlen(name));
  IrOp *w = ir_op_new(b->m, b->f, IR_OP_KV_WRITE, 2, (IrValue *[]){state, x}, 0, NULL);
  ir_func_append_op(b->m, b->f, w);
  ir_op_set_dim(w, "offset", b->P);
  IrType t = x->type;
  t.dims[1] = b->S;
  IrOp *r = fe_emit(b, IR_OP_KV_READ, 1, &state, t);
  ir_op_set_dim(r, "len", b->S);
  return r->out[0];
}

/* [T, heads*D] -> [heads, T, D] */
static IrValue *heads_first(FeBuilder *b, IrValue *x, int64_t heads) {
  IrValue *r = fe_reshape(b, x, FE_F32(b->T, fe_dim(heads), fe_dim(b->fm->head_dim)));
  return fe_transpose(b, r, 3, (int64_t[]){1, 0, 2});
}

/* softmax(scale * q k^T + mask) v over the heads; q [Hkv, G, T, D],
 * k and v [Hkv, S, D]; returns [T, Hq*D]. */
static IrValue *attend(FeBuilder *b, IrValue *q, IrValue *k, IrValue *v, int layer) {
  const FeModel *fm = b->fm;
  IrDim Hkv = fe_dim(fm->kv_heads), G = fe_dim(fm->heads / fm->kv_heads), D = fe_dim(fm->head_dim);
  IrType kv4 = FE_F32(Hkv, fe_dim(1), b->S, D);
  k = fe_reshape(b, k, kv4);
  v = fe_reshape(b, v, kv4);
  IrOp *qk = fe_emit(b, IR_OP_MATMUL, 2, (IrValue *[]){q, k}, FE_F32(Hkv, G, b->T, b->S));
  ir_op_set_bool(qk, "transpose_b", true);
  double scale = fm->attn_scale > 0 ? fm->attn_scale : 1.0 / sqrt((double)fm->head_dim);
  IrValue *s = fe_binary(b, IR_OP_MUL, qk->out[0], fe_const(b, scale, fe_type(IR_F32, 0, NULL)));
  if (fm->mask == FE_MASK_CAUSAL) {
    IrOp *mask = fe_emit(b, IR_OP_CAUSAL_MASK, 0, NULL, FE_F32(b->T, b->S));
    ir_op_set_dim(mask, "offset", b->P);
    if (fm->sliding_window > 0) ir_op_set_int(mask, "window", fm->sliding_window);
    s = fe_binary(b, IR_OP_ADD, s, mask->out[0]);
  }
  s = fe_name(b, s, "scores", layer);
  IrOp *sm = fe_emit(b, IR_OP_SOFTMAX, 1, &s, s->type);
  ir_op_set_int(sm, "axis", -1);
  IrValue *p = fe_name(b, sm->out[0], "probs", layer);
  IrValue *o = fe_emit(b, IR_OP_MATMUL, 2, (IrValue *[]){p, v}, FE_F32(Hkv, G, b->T, D))->out[0];
  o = fe_transpose(b, o, 4, (int64_t[]){2, 0, 1, 3});
  return fe_reshape(b, o, FE_F32(b->T, fe_dim(fm->heads * fm->head_dim)));
}

static IrValue *attention(FeBuilder *b, IrValue *h, int layer) {
  const FeModel *fm = b->fm;
  const FeNames *n = &fm->names;
  int64_t H = fm->hidden, D = fm->head_dim, Hq = fm->heads, Hkv = fm->kv_heads;
  int idx[] = {layer};
  IrValue *q, *k, *v;
  if (n->qkv) { /* GPT-2's c_attn: q | k | v along the output axis */
    IrValue *qkv = fe_linear(b, h, n->qkv, n->qkv_b, idx, 1, H, (Hq + 2 * Hkv) * D);
    q = fe_slice(b, qkv, 1, fe_dim(0), fe_dim(Hq * D));
    k = fe_slice(b, qkv, 1, fe_dim(Hq * D), fe_dim((Hq + Hkv) * D));
    v = fe_slice(b, qkv, 1, fe_dim((Hq + Hkv) * D), fe_dim((Hq + 2 * Hkv) * D));
  } else {
    q = fe_linear(b, h, n->q, n->q_b, idx, 1, H, Hq * D);
    k = fe_linear(b, h, n->k, n->k_b, idx, 1, H, Hkv * D);
    v = fe_linear(b, h, n->v, n->v_b, idx, 1, H, Hkv * D);
  }
  if (b->failed) return h;
  q = fe_name(b, q, "q", layer);
  k = fe_name(b, k, "k", layer);
  v = fe_name(b, v, "v", layer);
  if (fm->pos == FE_POS_ROPE) {
    q = fe_name(b, rope(b, q), "qr", layer);
    k = fe_name(b, rope(b, k), "kr", layer);
  }
  /* [T, Hq*D] -> [T, Hkv, G, D] -> [Hkv, G, T, D] */
  q = fe_reshape(b, q, FE_F32(b->T, fe_dim(Hkv), fe_dim(Hq / Hkv), fe_dim(D)));
  q = fe_name(b, fe_transpose(b, q, 4, (int64_t[]){1, 2, 0, 3}), "qh", layer);
  k = fe_name(b, heads_first(b, k, Hkv), "kh", layer);
  v = fe_name(b, heads_first(b, v, Hkv), "vh", layer);
  if (b->cached) {
    k = fe_name(b, kv_cache(b, k, layer, "k"), "kc", layer);
    v = fe_name(b, kv_cache(b, v, layer, "v"), "vc", layer);
  }
  IrValue *o = fe_name(b, attend(b, q, k, v, layer), "o", layer);
  return fe_name(b, fe_linear(b, o, n->o, n->o_b, idx, 1, Hq * D, H), "attn", layer);
}

/* down(act(gate h) * up h) when gate is given (SwiGLU), else
 * down(gelu(up h + up_b)) + down_b. idx: the layer, and the expert. */
static IrValue *dense_mlp(FeBuilder *b, IrValue *h, const char *gate, const char *up,
                          const char *up_b, const char *down, const char *down_b, const int *idx,
                          int nidx) {
  const FeModel *fm = b->fm;
  int64_t H = fm->hidden, I = fm->intermediate;
  IrValue *u = fe_linear(b, h, up, up_b, idx, nidx, H, I), *a;
  if (gate) {
    IrValue *g = fe_linear(b, h, gate, NULL, idx, nidx, H, I);
    a = fe_binary(b, IR_OP_MUL, fe_unary(b, IR_OP_SILU, g), u);
  } else {
    IrOp *op = fe_emit(b, IR_OP_GELU, 1, &u, u->type);
    if (fm->gelu_tanh) ir_op_set_str(b->m, op, "approx", "tanh");
    a = op->out[0];
  }
  return fe_linear(b, a, down, down_b, idx, nidx, I, H);
}

/* The dense [T, E] gate: softmax over the router's logits, top-k, the
 * k weights renormalized to sum 1 if asked, scattered by expert id. */
static IrValue *moe_gate(FeBuilder *b, IrValue *h, int layer) {
  const FeModel *fm = b->fm;
  IrDim K = fe_dim(fm->experts_per_tok);
  IrValue *logits =
      fe_linear(b, h, fm->names.router, NULL, (int[]){layer}, 1, fm->hidden, fm->experts);
  logits = fe_name(b, logits, "router", layer);
  IrOp *sm = fe_emit(b, IR_OP_SOFTMAX, 1, &logits, logits->type);
  ir_op_set_int(sm, "axis", -1);
  IrType tk[2] = {FE_F32(b->T, K), fe_type(IR_I32, FE_DIMS(b->T, K))};
  IrOp *top = ir_op_new(b->m, b->f, IR_OP_TOPK, 1, &sm->out[0], 2, tk);
  ir_func_append_op(b->m, b->f, top);
  ir_op_set_int(top, "k", fm->experts_per_tok);
  IrValue *w = top->out[0];
  if (fm->moe_renormalize) {
    IrOp *sum = fe_emit(b, IR_OP_REDUCE_SUM, 1, &w, FE_F32(b->T, fe_dim(1)));
    ir_op_set_int(sum, "axis", -1);
    w = fe_binary(b, IR_OP_DIV, w, sum->out[0]);
  }
  IrOp *sc = fe_emit(b, IR_OP_SCATTER, 2, (IrValue *[]){top->out[1], w},
                     FE_F32(b->T, fe_dim(fm->experts)));
  ir_op_set_int(sc, "size", fm->experts);
  return fe_name(b, sc->out[0], "gate", layer);
}

static IrValue *moe(FeBuilder *b, IrValue *h, int layer) {
  const FeNames *n = &b->fm->names;
  IrValue *gate = moe_gate(b, h, layer), *sum = NULL;
  for (int e = 0; e < b->fm->experts && !b->failed; e++) {
    IrValue *y = dense_mlp(b, h, n->expert_gate, n->expert_up, NULL, n->expert_down, NULL,
                           (int[]){layer, e}, 2);
    IrValue *col = fe_slice(b, gate, 1, fe_dim(e), fe_dim(e + 1));
    IrValue *part = fe_binary(b, IR_OP_MUL, y, col);
    sum = sum ? fe_binary(b, IR_OP_ADD, sum, part) : part;
  }
  return sum ? sum : h;
}

static IrValue *mlp(FeBuilder *b, IrValue *h, int layer) {
  const FeModel *fm = b->fm;
  const FeNames *n = &fm->names;
  IrValue *y;
  if (fm->mlp == FE_MLP_MOE)
    y = moe(b, h, layer);
  else
    y = dense_mlp(b, h, fm->mlp == FE_MLP_SWIGLU ? n->gate : NULL, n->up, n->up_b, n->down,
                  n->down_b, (int[]){layer}, 1);
  return fe_name(b, y, "mlp", layer);
}

IrValue *fe_build_layer(FeBuilder *b, IrValue *x, int layer) {
  const FeNames *n = &b->fm->names;
  if (b->fm->pre_norm) { /* x + f(norm(x)) */
    IrValue *h = fe_name(b, fe_norm(b, x, n->attn_norm_w, n->attn_norm_b, layer), "h", layer);
    x = fe_name(b, fe_binary(b, IR_OP_ADD, x, attention(b, h, layer)), "xa", layer);
    h = fe_name(b, fe_norm(b, x, n->mlp_norm_w, n->mlp_norm_b, layer), "hm", layer);
    return fe_name(b, fe_binary(b, IR_OP_ADD, x, mlp(b, h, layer)), "x", layer);
  }
  /* norm(x + f(x)) */
  x = fe_binary(b, IR_OP_ADD, x, attention(b, x, layer));
  x = fe_name(b, fe_norm(b, x, n->attn_norm_w, n->attn_norm_b, layer), "xa", layer);
  x = fe_binary(b, IR_OP_ADD, x, mlp(b, x, layer));
  return fe_name(b, fe_norm(b, x, n->mlp_norm_w, n->mlp_norm_b, layer), "x", layer);
}
