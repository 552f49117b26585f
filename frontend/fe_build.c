/* fe_build.c: FeModel -> IR module.
 *
 * The module of a decoder:
 *
 *   module @llama {
 *     sym T <= 64                       // tokens in this call
 *     sym P <= 64                       // tokens already in the KV cache
 *     param @model.embed_tokens.weight : f32[64, 32]
 *     ...
 *     state @kv.0.k : f32[4, 64, 8]     // kv heads x positions x head dim
 *     func @prefill(%tokens: i32[T]) -> f32[1, 64] { ... }
 *     func @decode(%token: i32[1]) -> f32[1, 64] { ... }
 *   }
 *
 * Both entries come from build_entry(): decode is prefill with T the
 * constant 1. An encoder (no causal mask) has only T and one entry,
 * @forward, that returns every row. fe_build_layer.c builds the blocks;
 * docs/frontend.md shows the IR of one layer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fe_build.h"

/* ---- small constructors ---------------------------------------------- */

IrDim fe_dim(int64_t c) { return ir_dim_const(c); }

IrType fe_type(IrDType dt, int rank, const IrDim *dims) {
  IrType t = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

IrOp *fe_emit(FeBuilder *b, IrOpKind k, int nin, IrValue *const *in, IrType t) {
  IrOp *op = ir_op_new(b->m, b->f, k, nin, in, 1, &t);
  ir_func_append_op(b->m, b->f, op);
  return op;
}

IrValue *fe_unary(FeBuilder *b, IrOpKind k, IrValue *x) {
  return fe_emit(b, k, 1, &x, x->type)->out[0];
}

IrValue *fe_binary(FeBuilder *b, IrOpKind k, IrValue *x, IrValue *y) {
  return fe_emit(b, k, 2, (IrValue *[]){x, y}, x->type)->out[0];
}

IrValue *fe_reshape(FeBuilder *b, IrValue *x, IrType t) {
  t.dtype = x->type.dtype;
  return fe_emit(b, IR_OP_RESHAPE, 1, &x, t)->out[0];
}

IrValue *fe_transpose(FeBuilder *b, IrValue *x, int rank, const int64_t *perm) {
  IrType t = x->type;
  for (int i = 0; i < rank; i++) t.dims[i] = x->type.dims[perm[i]];
  IrOp *op = fe_emit(b, IR_OP_TRANSPOSE, 1, &x, t);
  ir_op_set_ints(b->m, op, "perm", perm, rank);
  return op->out[0];
}

IrValue *fe_slice(FeBuilder *b, IrValue *x, int axis, IrDim start, IrDim end) {
  IrType t = x->type;
  t.dims[axis] = ir_dim_sub(end, start);
  IrOp *op = fe_emit(b, IR_OP_SLICE, 1, &x, t);
  ir_op_set_int(op, "axis", axis);
  ir_op_set_dim(op, "start", start);
  ir_op_set_dim(op, "end", end);
  return op->out[0];
}

IrValue *fe_const(FeBuilder *b, double v, IrType t) {
  IrOp *op = fe_emit(b, IR_OP_CONST, 0, NULL, t);
  ir_op_set_float(op, "value", v);
  return op->out[0];
}

IrValue *fe_name(FeBuilder *b, IrValue *v, const char *what, int layer) {
  char buf[64];
  if (layer >= 0)
    snprintf(buf, sizeof buf, "%s.%d", what, layer);
  else
    snprintf(buf, sizeof buf, "%s", what);
  ir_value_set_name(b->m, v, buf);
  return v;
}

static IrValue *to_f32(FeBuilder *b, IrValue *x) {
  if (x->type.dtype == IR_F32) return x;
  IrType t = x->type;
  t.dtype = IR_F32;
  return fe_emit(b, IR_OP_CAST, 1, &x, t)->out[0];
}

/* ---- parameters ------------------------------------------------------- */

static bool fail(FeBuilder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(FeBuilder *b, const char *fmt, ...) {
  b->failed = true;
  IrLoc loc = {b->fm->architecture ? b->fm->architecture : "model", 0, 0};
  va_list ap;
  va_start(ap, fmt);
  ir_verror(b->d, loc, fmt, ap);
  va_end(ap);
  return false;
}

/* prefix + the template with its "%d"s replaced by idx in order:
 * ("model.layers.%d.mlp.up_proj.weight", {3}) -> "model.layers.3.mlp.up_proj.weight".
 * Any other '%' is rejected: a template from a config file is never used
 * as a printf format. fe_model_validate has checked the templates; this
 * keeps the builder safe on its own. */
static const char *expand_name(FeBuilder *b, const char *tmpl, const int *idx, int nidx) {
  char buf[512];
  size_t n = 0;
  for (const char *s = b->prefix; s && *s && n < 128; s++) buf[n++] = *s;
  int used = 0;
  for (const char *s = tmpl; *s && n + 16 < sizeof buf; s++) {
    if (*s != '%') {
      buf[n++] = *s;
    } else if (s[1] == 'd' && used < nidx) {
      n += (size_t)snprintf(buf + n, sizeof buf - n, "%d", idx[used++]);
      s++;
    } else {
      fail(b, "tensor name template '%s' has a '%%' other than its %d '%%d'", tmpl, nidx);
      return NULL;
    }
  }
  buf[n] = 0;
  return ir_arena_strdup(&b->m->arena, buf);
}

static bool name_is_ir_name(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!(*s == '_' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z')))
      return false;
  return true;
}

/* The checkpoint's dtype when it has the tensor as a float, else the
 * config's (fe_check_weights reports any mismatch by name). */
static IrDType param_dtype(const FeBuilder *b, const char *name) {
  const FeTensor *t = b->w ? fe_weights_find(b->w, name) : NULL;
  if (t && !t->is_unsigned && ir_dtype_is_float(t->dtype)) return t->dtype;
  return ir_dtype_is_float(b->fm->weight_dtype) ? b->fm->weight_dtype : IR_F32;
}

IrValue *fe_param(FeBuilder *b, const char *tmpl, const int *idx, int nidx, int rank,
                  const int64_t *shape) {
  if (!tmpl) {
    fail(b, "a weight has no tensor name in the model description");
    return NULL;
  }
  const char *name = expand_name(b, tmpl, idx, nidx);
  if (!name) return NULL;
  if (!name_is_ir_name(name)) {
    fail(b, "tensor name '%s' cannot name a parameter (letters, digits, '_' and '.' only)", name);
    return NULL;
  }
  IrType t = {.dtype = param_dtype(b, name), .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = fe_dim(shape[i]);
  IrValue *p = ir_module_find_global(b->m, name, strlen(name));
  if (!p) return ir_module_add_param(b->m, name, t);
  if (p->kind != IR_VAL_PARAM) {
    fail(b, "tensor name '%s' is taken by the KV cache", name);
    return NULL;
  }
  if (!ir_type_eq(&p->type, &t)) {
    fail(b, "tensor '%s' is used twice with different shapes", name);
    return NULL;
  }
  return p;
}

IrValue *fe_linear(FeBuilder *b, IrValue *x, const char *w_tmpl, const char *bias_tmpl,
                   const int *idx, int nidx, int64_t in, int64_t out) {
  bool in_out = b->fm->names.linear_in_out;
  IrValue *w =
      fe_param(b, w_tmpl, idx, nidx, 2, in_out ? (int64_t[]){in, out} : (int64_t[]){out, in});
  if (!w) return x;
  IrOp *op = fe_emit(b, IR_OP_MATMUL, 2, (IrValue *[]){x, w}, FE_F32(b->T, fe_dim(out)));
  if (!in_out) ir_op_set_bool(op, "transpose_b", true);
  IrValue *y = op->out[0];
  if (!bias_tmpl) return y;
  IrValue *bias = fe_param(b, bias_tmpl, idx, nidx, 1, (int64_t[]){out});
  return bias ? fe_binary(b, IR_OP_ADD, y, to_f32(b, bias)) : y;
}

IrValue *fe_norm(FeBuilder *b, IrValue *x, const char *w_tmpl, const char *b_tmpl, int layer) {
  const FeModel *fm = b->fm;
  IrType vec = FE_F32(fe_dim(fm->hidden));
  int idx[] = {layer};
  int nidx = layer >= 0;
  IrValue *g =
      w_tmpl ? fe_param(b, w_tmpl, idx, nidx, 1, (int64_t[]){fm->hidden}) : fe_const(b, 1.0, vec);
  if (!g) return x;
  IrOp *op;
  if (fm->norm == FE_NORM_RMS) {
    op = fe_emit(b, IR_OP_RMSNORM, 2, (IrValue *[]){x, g}, x->type);
  } else {
    IrValue *beta =
        b_tmpl ? fe_param(b, b_tmpl, idx, nidx, 1, (int64_t[]){fm->hidden}) : fe_const(b, 0.0, vec);
    if (!beta) return x;
    op = fe_emit(b, IR_OP_LAYERNORM, 3, (IrValue *[]){x, g, beta}, x->type);
  }
  ir_op_set_float(op, "eps", fm->norm_eps);
  return op->out[0];
}

/* ---- embeddings and head --------------------------------------------- */

/* x [T, hidden] = token embeddings (+ learned position embeddings). The
 * positions P .. P+T-1 are computed once and shared by every layer. */
static IrValue *embed(FeBuilder *b, IrValue *tokens) {
  const FeModel *fm = b->fm;
  IrValue *table = fe_param(b, fm->names.embed, NULL, 0, 2, (int64_t[]){fm->vocab, fm->hidden});
  if (!table) return tokens;
  IrType xt = FE_F32(b->T, fe_dim(fm->hidden));
  IrValue *x = fe_emit(b, IR_OP_EMBEDDING, 2, (IrValue *[]){table, tokens}, xt)->out[0];
  b->pos = NULL;
  if (fm->pos != FE_POS_NONE) {
    IrOp *iota = fe_emit(b, IR_OP_IOTA, 0, NULL, fe_type(IR_I32, FE_DIMS(b->T)));
    if (b->cached) ir_op_set_dim(iota, "start", b->P);
    b->pos = fe_name(b, iota->out[0], "pos", -1);
  }
  if (fm->pos == FE_POS_LEARNED) {
    IrValue *wpe =
        fe_param(b, fm->names.pos_embed, NULL, 0, 2, (int64_t[]){fm->max_pos, fm->hidden});
    if (!wpe) return x;
    IrValue *pe = fe_emit(b, IR_OP_EMBEDDING, 2, (IrValue *[]){wpe, b->pos}, xt)->out[0];
    x = fe_binary(b, IR_OP_ADD, x, pe);
  }
  return fe_name(b, x, "x", -1);
}

/* Logits of the rows of x [R, hidden]: the LM head (tied: the embedding
 * table, transposed) or the classifier. */
static IrValue *head(FeBuilder *b, IrValue *x) {
  const FeModel *fm = b->fm;
  const FeNames *n = &fm->names;
  IrDim rows = x->type.dims[0];
  bool cls = fm->head == FE_HEAD_CLASSIFIER;
  int64_t out = cls ? fm->num_labels : fm->vocab;
  const char *w_tmpl = cls ? n->cls_w : fm->tie_embeddings ? n->embed : n->lm_head;
  /* alt_prefix applies to every name but lm_head (it sits outside the
   * wrapped model). */
  const char *prefix = b->prefix;
  if (w_tmpl == n->lm_head && !cls) b->prefix = NULL;
  IrValue *w = fe_param(b, w_tmpl, NULL, 0, 2, (int64_t[]){out, fm->hidden});
  b->prefix = prefix;
  if (!w) return x;
  IrOp *op = fe_emit(b, IR_OP_MATMUL, 2, (IrValue *[]){x, w}, FE_F32(rows, fe_dim(out)));
  ir_op_set_bool(op, "transpose_b", true);
  IrValue *y = op->out[0];
  if (cls && n->cls_b) {
    IrValue *bias = fe_param(b, n->cls_b, NULL, 0, 1, (int64_t[]){out});
    if (bias) y = fe_binary(b, IR_OP_ADD, y, to_f32(b, bias));
  }
  return fe_name(b, y, "logits", -1);
}

/* ---- entries ---------------------------------------------------------- */

/* One entry: tokens i32[T] -> logits. With last_only the head sees only
 * the last row (prefill's default; decode has one row anyway). */
static bool build_entry(FeBuilder *b, const char *name, const char *arg, IrDim T, bool last_only) {
  const FeModel *fm = b->fm;
  b->f = ir_module_add_func(b->m, name);
  b->T = T;
  b->S = ir_dim_add(b->P, T);
  IrValue *tokens = ir_func_add_arg(b->m, b->f, arg, fe_type(IR_I32, FE_DIMS(T)));
  IrValue *x = embed(b, tokens);
  for (int l = 0; l < fm->layers && !b->failed; l++) x = fe_build_layer(b, x, l);
  /* The norm works row by row, so the last row is taken first. */
  if (last_only) x = fe_name(b, fe_slice(b, x, 0, ir_dim_sub(T, fe_dim(1)), T), "last", -1);
  if (fm->final_norm)
    x = fe_name(b, fe_norm(b, x, fm->names.final_norm_w, fm->names.final_norm_b, -1), "xn", -1);
  IrValue *logits = head(b, x);
  if (b->failed) return false;
  ir_func_set_results(b->m, b->f, 1, &logits->type);
  b->f->results[0] = logits;
  return true;
}

static void add_kv_cache(FeBuilder *b, int64_t max_context) {
  const FeModel *fm = b->fm;
  IrType t = FE_F32(fe_dim(fm->kv_heads), fe_dim(max_context), fe_dim(fm->head_dim));
  char name[64];
  for (int64_t l = 0; l < fm->layers; l++) {
    snprintf(name, sizeof name, "kv.%lld.k", (long long)l);
    ir_module_add_state(b->m, name, t);
    snprintf(name, sizeof name, "kv.%lld.v", (long long)l);
    ir_module_add_state(b->m, name, t);
  }
}

/* Whether the checkpoint names its tensors with names.alt_prefix: it
 * holds alt_prefix + embed ("transformer.wte.weight" for GPT-2). */
static bool uses_alt_prefix(const FeModel *fm, const FeWeights *w) {
  const char *p = fm->names.alt_prefix, *e = fm->names.embed;
  if (!p || !e || !w) return false;
  char name[512];
  snprintf(name, sizeof name, "%s%s", p, e);
  return fe_weights_find(w, name) != NULL;
}

static bool check_context(const FeModel *fm, int64_t max_context, IrDiag *d) {
  const char *where = fm->architecture ? fm->architecture : "model";
  if (max_context <= 0)
    return ir_error_at(d, where, "max_context must be positive, found %lld",
                       (long long)max_context);
  if (fm->pos == FE_POS_LEARNED && max_context > fm->max_pos)
    return ir_error_at(d, where, "max_context %lld exceeds the %lld learned positions",
                       (long long)max_context, (long long)fm->max_pos);
  return true;
}

IrModule *fe_build_module(const FeModel *fm, const FeWeights *weights, const FeBuildOptions *opt,
                          IrDiag *d) {
  const char *where = fm->architecture ? fm->architecture : "model";
  /* Sizes, divisibility, and a valid name template for every tensor the
   * kinds need: the builder relies on all of it. */
  if (!fe_model_validate(fm, where, d)) return NULL;
  int64_t max_context = opt && opt->max_context ? opt->max_context : fm->max_pos;
  if (!check_context(fm, max_context, d)) return NULL;
  FeBuilder b = {.fm = fm, .w = weights, .d = d, .cached = fm->mask == FE_MASK_CAUSAL};
  b.prefix = uses_alt_prefix(fm, weights) ? fm->names.alt_prefix : NULL;
  b.m = ir_module_new(fm->family ? fm->family : "model");
  IrDim T = ir_dim_sym(ir_module_add_sym(b.m, "T", max_context));
  bool ok;
  if (b.cached) {
    b.P = ir_dim_sym(ir_module_add_sym(b.m, "P", max_context));
    add_kv_cache(&b, max_context);
    ok = build_entry(&b, "prefill", "tokens", T, !(opt && opt->all_logits)) &&
         build_entry(&b, "decode", "token", fe_dim(1), false);
  } else {
    b.P = fe_dim(0);
    ok = build_entry(&b, "forward", "tokens", T, false);
  }
  if (ok && !ir_verify(b.m, d)) ok = false;
  if (!ok) {
    ir_module_free(b.m);
    return NULL;
  }
  return b.m;
}
