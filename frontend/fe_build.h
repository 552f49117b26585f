/* fe_build.h: the builder's internals, shared by fe_build.c (module,
 * entries, embeddings, head) and fe_build_layer.c (attention, MLP, MoE).
 * Frontend-internal: fe.h is the public contract.
 *
 * A builder emits the ops of one entry function. The decode entry is the
 * same code as prefill with T the constant 1, so every shape below is
 * written in terms of b->T, b->P and b->S = P+T. */
#ifndef KILN_FE_BUILD_H
#define KILN_FE_BUILD_H

#include "fe.h"

typedef struct {
  IrModule *m;
  IrFunc *f;
  const FeModel *fm;
  const FeWeights *w;
  IrDiag *d;
  bool failed;
  bool cached;        /* decoder: a KV cache, tokens start at position P */
  IrDim T, P, S;      /* tokens in this call, tokens before it (0 for encoders), P+T */
  IrValue *pos;       /* i32[T] absolute positions, or NULL when unused */
  const char *prefix; /* before every tensor name (names.alt_prefix in use), or NULL */
} FeBuilder;

IrDim fe_dim(int64_t c); /* the constant dim c */
/* dt[dims...]; FE_F32(b->T, fe_dim(64)) is f32[T, 64]. */
IrType fe_type(IrDType dt, int rank, const IrDim *dims);
#define FE_DIMS(...) \
  (int)(sizeof((IrDim[]){__VA_ARGS__}) / sizeof(IrDim)), (IrDim[]) { __VA_ARGS__ }
#define FE_F32(...) fe_type(IR_F32, FE_DIMS(__VA_ARGS__))

/* Appends an op with one result of type t. */
IrOp *fe_emit(FeBuilder *b, IrOpKind k, int nin, IrValue *const *in, IrType t);
IrValue *fe_unary(FeBuilder *b, IrOpKind k, IrValue *x);
/* Elementwise x (op) y where y broadcasts to x: the result has x's type. */
IrValue *fe_binary(FeBuilder *b, IrOpKind k, IrValue *x, IrValue *y);
/* x with the shape of t (x keeps its dtype). */
IrValue *fe_reshape(FeBuilder *b, IrValue *x, IrType t);
IrValue *fe_transpose(FeBuilder *b, IrValue *x, int rank, const int64_t *perm);
IrValue *fe_slice(FeBuilder *b, IrValue *x, int axis, IrDim start, IrDim end);
IrValue *fe_const(FeBuilder *b, double v, IrType t);
/* Gives v a readable name: fe_name(b, v, "q", 3) -> %q.3 (layer < 0: %q). */
IrValue *fe_name(FeBuilder *b, IrValue *v, const char *what, int layer);

/* The parameter a name template stands for, created on first use with
 * the given shape: fe_param(b, "model.layers.%d.mlp.up_proj.weight",
 * (int[]){3}, 1, 2, (int64_t[]){I, H}). Returns NULL after an error. */
IrValue *fe_param(FeBuilder *b, const char *tmpl, const int *idx, int nidx, int rank,
                  const int64_t *shape);
/* y = x W^T + bias for x [T, in] (W is [out, in], or [in, out] with
 * linear_in_out); bias_tmpl may be NULL. idx as for fe_param. */
IrValue *fe_linear(FeBuilder *b, IrValue *x, const char *w_tmpl, const char *bias_tmpl,
                   const int *idx, int nidx, int64_t in, int64_t out);
/* The model's norm (RMS or layer) of x [T, hidden] with weight and bias
 * templates (NULL weight: ones; NULL bias: zeros). */
IrValue *fe_norm(FeBuilder *b, IrValue *x, const char *w_tmpl, const char *b_tmpl, int layer);

/* fe_build_layer.c: one Transformer block, x [T, hidden] -> [T, hidden]. */
IrValue *fe_build_layer(FeBuilder *b, IrValue *x, int layer);

#endif
