/* pass_attention.c: the IO-aware attention rewrite.
 *
 * The frontend writes attention as plain ops (fe_build_layer.c). This pass
 * finds that subgraph and replaces it by one fused `attention` op, which
 * codegen lowers to a tiled online-softmax kernel that never holds the
 * T x S score matrix (and, for decode, to chunks of the KV length whose
 * partial results are merged). The pattern, from the softmax outward:
 *
 *   %s  = matmul(%q, %k) {transpose_b}            q [..., T, D], k [..., S, D]
 *   %ss = mul(%s, const c) | div(%s, const c)    optional: scale c or 1/c
 *   %sm = add(%ss, causal_mask {offset, window}) optional: none is bidirectional
 *   %p  = softmax(%sm) {axis = -1}
 *   %o  = matmul(%p, %v)                          v [..., S, Dv]
 *
 * becomes, with the batch dims of q flattened to Hq heads and those of k
 * and v to Hkv heads (each a reshape, left out when the shape is already
 * right or looked through when the operand is itself a reshape):
 *
 *   %o3 = attention(%q3, %k3, %v3) {scale = c, causal, offset, window} : f32[Hq, T, Dv]
 *   %o  = reshape(%o3) : <the old result type>
 *
 * Head sharing (GQA, MQA) is matmul's batch broadcast: q's batch dims are
 * [A..., G...] and k's [A..., 1...] (v's equal to k's), so flat query
 * head a*G + g reads kv head a, which is the attention op's rule h / G.
 * Every other broadcast leaves the graph alone, as does anything else
 * that would make the rewrite inexact: softmax over another axis, a scale
 * that is not a splat const, an add of something other than a
 * causal_mask covering exactly [T, S], a mask before the scale, an
 * intermediate value with another use, a dtype other than f32 (the
 * unfused graph would round its scores to it; the fused op does not).
 * docs/passes.md has the conditions and the semantics of masked rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

typedef struct {
  IrOp *qk, *scale_op, *mask_add, *softmax, *pv; /* scale_op, mask_add may be NULL */
  IrOp *mask;                                    /* the causal_mask op, or NULL */
  double scale;
  IrValue *q, *k, *v;
  IrType q3, k3, v3, o3; /* [Hq, T, D], [Hkv, S, D], [Hkv, S, Dv], [Hq, T, Dv] */
} AttnMatch;

/* Use counts of a function's values, and for each value its last user. */
typedef struct {
  PassMap count, user;
} Uses;

static void uses_build(const IrFunc *f, Uses *u) {
  for (int i = 0; i < f->nops; i++) {
    for (int j = 0; j < f->ops[i]->nin; j++) {
      intptr_t n = 0;
      pass_map_get(&u->count, f->ops[i]->in[j], &n);
      pass_map_put(&u->count, f->ops[i]->in[j], n + 1);
      pass_map_put(&u->user, f->ops[i]->in[j], (intptr_t)f->ops[i]);
    }
  }
  for (int i = 0; i < f->nresults; i++) {
    intptr_t n = 0;
    if (!f->results[i]) continue;
    pass_map_get(&u->count, f->results[i], &n);
    pass_map_put(&u->count, f->results[i], n + 1);
  }
}

static void uses_free(Uses *u) {
  pass_map_free(&u->count);
  pass_map_free(&u->user);
}

static intptr_t use_count(const Uses *u, const IrValue *v) {
  intptr_t n = 0;
  pass_map_get(&u->count, v, &n);
  return n;
}

/* The op that is v's one and only use, or NULL. */
static IrOp *only_user(const Uses *u, const IrValue *v) {
  intptr_t op = 0;
  return use_count(u, v) == 1 && pass_map_get(&u->user, v, &op) ? (IrOp *)op : NULL;
}

/* The op that defines v when it is of kind k, else NULL. */
static IrOp *def_of(const IrValue *v, IrOpKind k) {
  return v->kind == IR_VAL_RESULT && v->def->kind == k ? v->def : NULL;
}

static bool is_f32(const IrValue *v) { return v->type.dtype == IR_F32; }

/* ---- the chain, from the softmax back to the scores' matmul ---- */

/* *s = add(x, causal_mask) in either order, the mask exactly [T, S] of x:
 * *s becomes x. No add at all is the bidirectional form. */
static bool strip_mask(const Uses *u, IrValue **s, AttnMatch *mt) {
  IrOp *add = def_of(*s, IR_OP_ADD);
  if (!add) return true;
  for (int i = 1; i >= 0; i--) {
    IrOp *mask = def_of(add->in[i], IR_OP_CAUSAL_MASK);
    IrValue *x = add->in[1 - i];
    const IrType *mask_t = &add->in[i]->type, *xt = &x->type;
    if (!mask || !ir_type_eq(&add->out[0]->type, xt) || mask_t->rank != 2 || xt->rank < 2 ||
        !is_f32(add->in[i]) || !ir_dim_eq(mask_t->dims[0], xt->dims[xt->rank - 2]) ||
        !ir_dim_eq(mask_t->dims[1], xt->dims[xt->rank - 1]) || only_user(u, x) != add)
      continue;
    mt->mask_add = add;
    mt->mask = mask;
    *s = x;
    return true;
  }
  return false;
}

/* *s = mul(x, const c) (either order) or div(x, const c), c finite and
 * nonzero for div: scale c or 1/c, and *s becomes x. No mul or div is
 * scale 1. */
static bool strip_scale(const Uses *u, IrValue **s, AttnMatch *mt) {
  mt->scale = 1.0;
  IrOp *op = (*s)->kind == IR_VAL_RESULT ? (*s)->def : NULL;
  if (!op || (op->kind != IR_OP_MUL && op->kind != IR_OP_DIV)) return true;
  for (int i = 1; i >= (op->kind == IR_OP_MUL ? 0 : 1); i--) {
    double c;
    IrValue *x = op->in[1 - i];
    if (!pass_const_value(op->in[i], &c) || def_of(x, IR_OP_CONST) ||
        !ir_type_eq(&op->out[0]->type, &x->type) || only_user(u, x) != op)
      continue;
    double scale = op->kind == IR_OP_MUL ? c : 1.0 / c;
    if (!isfinite(scale)) return false;
    mt->scale_op = op;
    mt->scale = scale;
    *s = x;
    return true;
  }
  return false;
}

/* s = matmul(q, k) {transpose_b}, and v's matmul takes the probabilities
 * as its left operand, neither transposed. */
static bool match_matmuls(IrValue *s, AttnMatch *mt) {
  IrOp *qk = def_of(s, IR_OP_MATMUL), *pv = mt->pv;
  /* a matmul with an epilogue (the fuse pass's) computes more than the product */
  if (!qk || ir_op_attr(qk, "epilogue") || !ir_op_bool(qk, "transpose_b") ||
      ir_op_bool(qk, "transpose_a"))
    return false;
  if (ir_op_attr(pv, "epilogue") || pv->in[0] != mt->softmax->out[0] ||
      ir_op_bool(pv, "transpose_a") ||
      ir_op_bool(pv, "transpose_b"))
    return false;
  mt->qk = qk;
  mt->q = qk->in[0];
  mt->k = qk->in[1];
  mt->v = pv->in[1];
  return is_f32(mt->q) && is_f32(mt->k) && is_f32(mt->v) && is_f32(s) && is_f32(pv->out[0]);
}

/* ---- heads ---- */

/* a * b when at most one of them is symbolic (dims stay linear). */
static bool dim_mul(IrDim a, IrDim b, IrDim *out) {
  if (!ir_dim_is_const(a)) {
    IrDim t = a;
    a = b;
    b = t;
  }
  if (!ir_dim_is_const(a)) return false;
  *out = ir_dim_const(0);
  bool ovf = __builtin_mul_overflow(b.c, a.c, &out->c);
  for (int s = 0; s < IR_MAX_SYMS; s++) ovf |= __builtin_mul_overflow(b.k[s], a.c, &out->k[s]);
  return !ovf;
}

static bool is_one(IrDim d) { return ir_dim_is_const(d) && d.c == 1; }

/* Batch dim i of n (aligned at the right, as matmul broadcasts) of a
 * matmul operand's type t; 1 where t has fewer. */
static IrDim batch_dim(const IrType *t, int n, int i) {
  int j = i - (n - (t->rank - 2));
  return j >= 0 ? t->dims[j] : ir_dim_const(1);
}

static IrType f32_3d(IrDim a, IrDim b, IrDim c) {
  IrType t = {.dtype = IR_F32, .rank = 3};
  t.dims[0] = a, t.dims[1] = b, t.dims[2] = c;
  return t;
}

/* q's batch dims are the scores' own (q is never broadcast); k's are
 * [A..., 1...] against q's [A..., G...]; v's equal k's. Then Hq is the
 * product of q's batch dims, Hkv that of A. */
static bool match_heads(AttnMatch *mt) {
  const IrType *r = &mt->qk->out[0]->type, *q = &mt->q->type, *k = &mt->k->type,
               *v = &mt->v->type;
  int n = r->rank - 2, split = n;
  if (v->rank > r->rank) return false;
  while (split > 0 && is_one(batch_dim(k, n, split - 1))) split--;
  IrDim hq = ir_dim_const(1), hkv = ir_dim_const(1);
  for (int i = 0; i < n; i++) {
    IrDim qd = batch_dim(q, n, i), kd = batch_dim(k, n, i);
    if (!ir_dim_eq(qd, r->dims[i]) || !ir_dim_eq(batch_dim(v, n, i), kd)) return false;
    if (i < split && (!ir_dim_eq(kd, qd) || !dim_mul(hkv, kd, &hkv))) return false;
    if (!dim_mul(hq, qd, &hq)) return false;
  }
  IrDim t = r->dims[n], s = r->dims[n + 1], d = q->dims[q->rank - 1], dv = v->dims[v->rank - 1];
  mt->q3 = f32_3d(hq, t, d);
  mt->k3 = f32_3d(hkv, s, d);
  mt->v3 = f32_3d(hkv, s, dv);
  mt->o3 = f32_3d(hq, t, dv);
  return true;
}

/* ---- the fused op ---- */

static void set_attention_attrs(IrOp *op, const AttnMatch *mt) {
  ir_op_set_float(op, "scale", mt->scale);
  if (!mt->mask) return;
  ir_op_set_bool(op, "causal", true);
  const IrAttr *offset = ir_op_attr(mt->mask, "offset");
  if (offset) ir_op_set_dim(op, "offset", offset->dim);
  int64_t window = ir_op_int(mt->mask, "window", 0);
  if (window > 0) ir_op_set_int(op, "window", window);
}

/* Whether attention(q3, k3, v3) passes the op's shape rule with result
 * o3: a dry run on a detached op, before anything is changed. */
static bool attention_types_ok(const IrModule *m, const AttnMatch *mt) {
  IrValue q = {.type = mt->q3}, k = {.type = mt->k3}, v = {.type = mt->v3}, o = {.type = mt->o3};
  IrValue *in[3] = {&q, &k, &v}, *out[1] = {&o};
  IrOp op = {.kind = IR_OP_ATTENTION, .nin = 3, .in = in, .nout = 1, .out = out};
  set_attention_attrs(&op, mt);
  IrType got;
  IrDiag d = {0};
  return ir_infer_types(m, &op, &got, &d) && ir_type_eq(&got, &mt->o3);
}

/* The whole pattern around softmax op sm, or false. */
static bool match(const IrModule *m, const Uses *u, IrOp *sm, AttnMatch *mt) {
  *mt = (AttnMatch){.softmax = sm};
  IrValue *s = sm->in[0];
  int rank = s->type.rank, axis = (int)ir_op_int(sm, "axis", -1);
  if (rank < 2 || (axis != -1 && axis != rank - 1) || !is_f32(sm->out[0])) return false;
  mt->pv = only_user(u, sm->out[0]);
  if (!mt->pv || mt->pv->kind != IR_OP_MATMUL || only_user(u, s) != sm) return false;
  if (!strip_mask(u, &s, mt) || !strip_scale(u, &s, mt)) return false;
  if (!match_matmuls(s, mt) || !match_heads(mt)) return false;
  return attention_types_ok(m, mt);
}

/* ---- the rewrite ---- */

/* x as type t: x itself, the operand of x's reshape when that has type t,
 * or a new reshape inserted at *at. */
static IrValue *reshaped(IrModule *m, IrFunc *f, int *at, IrValue *x, const IrType *t,
                         IrLoc loc) {
  if (ir_type_eq(&x->type, t)) return x;
  IrOp *def = def_of(x, IR_OP_RESHAPE);
  if (def && ir_type_eq(&def->in[0]->type, t)) return def->in[0];
  IrOp *op = ir_op_new(m, f, IR_OP_RESHAPE, 1, &x, 1, t);
  op->loc = loc;
  ir_func_insert_op(m, f, (*at)++, op);
  return op->out[0];
}

/* Inserts the fused op before the second matmul (at index at), which
 * becomes the fused op itself or the reshape back to its old type, so
 * its result keeps its name and uses. */
static void rewrite(IrModule *m, IrFunc *f, int at, const AttnMatch *mt) {
  IrOp *pv = mt->pv;
  IrValue *in[3] = {reshaped(m, f, &at, mt->q, &mt->q3, pv->loc),
                    reshaped(m, f, &at, mt->k, &mt->k3, pv->loc),
                    reshaped(m, f, &at, mt->v, &mt->v3, pv->loc)};
  IrOp *att = pv;
  if (!ir_type_eq(&pv->out[0]->type, &mt->o3)) {
    att = ir_op_new(m, f, IR_OP_ATTENTION, 3, in, 1, &mt->o3);
    att->loc = pv->loc;
    ir_func_insert_op(m, f, at, att);
    pv->kind = IR_OP_RESHAPE;
    pv->nin = 1;
    pv->in[0] = att->out[0];
    memset(pv->attrs, 0, sizeof pv->attrs);
  } else {
    pv->kind = IR_OP_ATTENTION;
    pv->nin = 3;
    pv->in = ir_arena_alloc(&m->arena, sizeof in);
    memcpy(pv->in, in, sizeof in);
    memset(pv->attrs, 0, sizeof pv->attrs);
  }
  set_attention_attrs(att, mt);
}

/* ---- removing what the rewrite left unused ---- */

/* The chain's ops and the defs of their operands (the scale const, the
 * mask, k's and v's reshapes): those that have no use left after the
 * rewrites go, in one backward sweep. Other dead code is dce's business. */
static void add_candidates(PassMap *cands, const AttnMatch *mt) {
  IrOp *chain[] = {mt->qk, mt->scale_op, mt->mask_add, mt->softmax};
  for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++) {
    if (!chain[i]) continue;
    pass_map_put(cands, chain[i], 1);
    for (int j = 0; j < chain[i]->nin; j++)
      if (chain[i]->in[j]->kind == IR_VAL_RESULT) pass_map_put(cands, chain[i]->in[j]->def, 1);
  }
  if (mt->v->kind == IR_VAL_RESULT) pass_map_put(cands, mt->v->def, 1);
}

static void remove_unused(IrFunc *f, const PassMap *cands) {
  Uses u = {0};
  uses_build(f, &u);
  bool *dead = pass_calloc((size_t)f->nops, sizeof *dead);
  for (int i = f->nops - 1; i >= 0; i--) {
    IrOp *op = f->ops[i];
    bool used = op->nout == 0;
    for (int j = 0; j < op->nout; j++) used |= use_count(&u, op->out[j]) > 0;
    if (used || pass_op_has_effect(op) || !pass_map_get(cands, op, NULL)) continue;
    dead[i] = true;
    for (int j = 0; j < op->nin; j++)
      pass_map_put(&u.count, op->in[j], use_count(&u, op->in[j]) - 1);
  }
  pass_remove_ops(f, dead);
  free(dead);
  uses_free(&u);
}

/* ---- the pass ---- */

static int attention_func(IrModule *m, IrFunc *f) {
  Uses u = {0};
  uses_build(f, &u);
  PassMap cands = {0};
  int n = 0;
  for (int i = 0; i < f->nops; i++) {
    AttnMatch mt;
    if (f->ops[i]->kind != IR_OP_SOFTMAX || !match(m, &u, f->ops[i], &mt)) continue;
    int at = i + 1;
    while (at < f->nops && f->ops[at] != mt.pv) at++; /* pv uses the softmax: later */
    if (at == f->nops) continue;                          /* not in SSA order */
    add_candidates(&cands, &mt);
    rewrite(m, f, at, &mt);
    n++;
  }
  if (n) remove_unused(f, &cands);
  uses_free(&u);
  pass_map_free(&cands);
  return n;
}

bool pass_attention(IrModule *m, PassContext *ctx, IrDiag *d) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++) n += attention_func(m, m->funcs[i]);
  if (n) pass_count(ctx, "fused", n);
  return n > 0;
}
