/* interp_internal.h: what the interpreter's files share.
 *
 *   interp_tensor.c            tensors, dtype rounding, integer wrap-around
 *   interp.c                   the interpreter object: params, state, binding
 *   interp_call.c              one call: symbols, inputs, running ops, freeing
 *   interp_ops.c               dispatch by op kind, shared indexing helpers
 *   interp_ops_elementwise.c   binary, unary, cast, const, iota, causal_mask
 *   interp_ops_nn.c            embedding, matmul, norms, rope, softmax, attention
 *   interp_ops_attn_split.c    attention_split, attention_merge (split-KV decode)
 *   interp_ops_data.c          reductions, data movement, topk, scatter, KV cache
 *
 * An op kernel reads its operands and writes its results in the working
 * precision (f32 in `f`, int64 in `i`); the caller rounds the results to
 * their declared dtypes afterwards, so no kernel rounds by itself.
 */
#ifndef KILN_INTERP_INTERNAL_H
#define KILN_INTERP_INTERNAL_H

#include "interp.h"

struct IrInterp {
  const IrModule *m;
  IrTensor *params; /* [m->nparams], indexed like m->params */
  bool *bound;      /* [m->nparams]: params[i] holds data */
  IrTensor *states; /* [m->nstates], indexed like m->states */
};

/* ---- interp_tensor.c ---- */

/* Wraps v to the width of an int dtype: ir_interp_wrap(200, IR_I8) = -56. */
int64_t ir_interp_wrap(int64_t v, IrDType t);
/* Float to int: truncates toward zero, saturates to the int64 range (NaN
 * gives 0), then wraps to the dtype: ir_interp_float_to_int(-2.7, IR_I32) = -2. */
int64_t ir_interp_float_to_int(double v, IrDType t);
/* Rounds every element of t to its dtype (floats) or wraps it (ints). */
void ir_interp_round_tensor(IrTensor *t);
/* Deep copy, with the same dtype and shape. */
IrTensor ir_interp_tensor_copy(const IrTensor *t);
/* Writes "[4, 8]" into buf. */
const char *ir_interp_shape_str(const int64_t *shape, int rank, char *buf, size_t n);
/* "@name" for params and states, "%name" for function values. */
const char *ir_interp_value_ref(const IrValue *v, char *buf, size_t n);

/* ---- interp_ops.c ---- */

/* Everything an op kernel sees: its operands and results as concrete
 * tensors (results allocated, zeroed, with their evaluated shapes) and the
 * symbol values of this call. Operand 0 of kv_read/kv_write is the live
 * state tensor. */
typedef struct {
  const IrModule *m;
  const IrOp *op;
  const int64_t *syms; /* [IR_MAX_SYMS] */
  IrTensor **in;       /* [op->nin] */
  IrTensor *out;       /* [op->nout] */
  IrDiag *d;
} IrOpRun;

bool ir_interp_run_op(IrOpRun *r);

/* Reports a run-time error at the op's location: "NAME: message". */
bool ir_interp_op_error(const IrOpRun *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Axis -1 of a rank-3 tensor is 2. */
int ir_interp_axis(int64_t axis, int rank);

/* A tensor seen as [outer, len, inner] around one axis. */
typedef struct {
  int64_t outer, len, inner;
} IrAxisSplit;
IrAxisSplit ir_interp_split(const IrTensor *t, int axis);

/* Element copy that works for float and int storage alike. */
static inline void ir_interp_copy_elem(IrTensor *dst, int64_t di, const IrTensor *src, int64_t si) {
  if (dst->f)
    dst->f[di] = src->f[si];
  else
    dst->i[di] = src->i[si];
}

/* Walks an output shape in row-major order while tracking, for up to
 * three operands broadcast to it (numpy rules, aligned at the right), the
 * offset of the matching operand element.
 *
 *   IrBcastIter w;
 *   ir_interp_iter_init(&w, out->rank, out->shape);
 *   ir_interp_iter_add(&w, a->shape, a->rank, 1);
 *   for (int64_t n = 0; n < numel; n++, ir_interp_iter_next(&w)) ... a->f[w.off[0]] ...
 *
 * `unit` is the element stride of the operand's last walked dim, so a
 * matmul walks only the batch dims of [..., M, K] with unit M*K. */
typedef struct {
  int rank, nops;
  int64_t shape[IR_MAX_RANK], idx[IR_MAX_RANK];
  int64_t stride[3][IR_MAX_RANK];
  int64_t off[3];
} IrBcastIter;
void ir_interp_iter_init(IrBcastIter *w, int rank, const int64_t *shape);
void ir_interp_iter_add(IrBcastIter *w, const int64_t *shape, int rank, int64_t unit);
void ir_interp_iter_next(IrBcastIter *w);

/* Kernels, one per op group. */
bool ir_interp_elementwise(IrOpRun *r);   /* binary, unary, cast */
bool ir_interp_source(IrOpRun *r);        /* const, iota, causal_mask */
bool ir_interp_embedding(IrOpRun *r);
bool ir_interp_matmul(IrOpRun *r);
bool ir_interp_rmsnorm(IrOpRun *r);
bool ir_interp_layernorm(IrOpRun *r);
bool ir_interp_rope(IrOpRun *r);
bool ir_interp_softmax(IrOpRun *r);
bool ir_interp_attention(IrOpRun *r);
bool ir_interp_attention_split(IrOpRun *r); /* interp_ops_attn_split.c */
bool ir_interp_attention_merge(IrOpRun *r);
bool ir_interp_reduce(IrOpRun *r);
bool ir_interp_reshape(IrOpRun *r);
bool ir_interp_transpose(IrOpRun *r);
bool ir_interp_slice(IrOpRun *r);
bool ir_interp_concat(IrOpRun *r);
bool ir_interp_topk(IrOpRun *r);
bool ir_interp_scatter(IrOpRun *r);
bool ir_interp_kv_write(IrOpRun *r);
bool ir_interp_kv_read(IrOpRun *r);
/* interp_ops_fused.c: the fused op, and a matmul's epilogue applied to its
 * f32 accumulators in out[0] (nothing without an epilogue). */
bool ir_interp_fused(IrOpRun *r);
bool ir_interp_epilogue(IrOpRun *r);

#endif
