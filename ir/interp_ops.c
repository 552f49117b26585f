/* interp_ops.c: runs one op by its kind, and the indexing helpers the
 * kernels share. */
#include <stdio.h>

#include "interp_internal.h"

bool ir_interp_run_op(IrOpRun *r) {
  switch (r->op->kind) {
  case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_DIV: case IR_OP_MAX:
  case IR_OP_MIN: case IR_OP_POW: case IR_OP_NEG: case IR_OP_EXP: case IR_OP_LOG:
  case IR_OP_SQRT: case IR_OP_RSQRT: case IR_OP_TANH: case IR_OP_SIGMOID: case IR_OP_SILU:
  case IR_OP_RELU: case IR_OP_GELU: case IR_OP_CAST:
    return ir_interp_elementwise(r);
  case IR_OP_CONST: case IR_OP_IOTA: case IR_OP_CAUSAL_MASK: return ir_interp_source(r);
  case IR_OP_EMBEDDING: return ir_interp_embedding(r);
  case IR_OP_MATMUL: return ir_interp_matmul(r);
  case IR_OP_RMSNORM: return ir_interp_rmsnorm(r);
  case IR_OP_LAYERNORM: return ir_interp_layernorm(r);
  case IR_OP_ROPE: return ir_interp_rope(r);
  case IR_OP_SOFTMAX: return ir_interp_softmax(r);
  case IR_OP_ATTENTION: return ir_interp_attention(r);
  case IR_OP_ATTENTION_SPLIT: return ir_interp_attention_split(r);
  case IR_OP_ATTENTION_MERGE: return ir_interp_attention_merge(r);
  case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX: return ir_interp_reduce(r);
  case IR_OP_RESHAPE: return ir_interp_reshape(r);
  case IR_OP_TRANSPOSE: return ir_interp_transpose(r);
  case IR_OP_SLICE: return ir_interp_slice(r);
  case IR_OP_CONCAT: return ir_interp_concat(r);
  case IR_OP_TOPK: return ir_interp_topk(r);
  case IR_OP_SCATTER: return ir_interp_scatter(r);
  case IR_OP_KV_WRITE: return ir_interp_kv_write(r);
  case IR_OP_KV_READ: return ir_interp_kv_read(r);
  case IR_OP_FUSED: return ir_interp_fused(r);
  case IR_OP_COUNT: break;
  }
  return ir_interp_op_error(r, "the interpreter has no kernel for this op");
}

bool ir_interp_op_error(const IrOpRun *r, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ir_error(r->d, r->op->loc, "%s: %s", ir_op_spec(r->op->kind)->name, msg);
}

int ir_interp_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

IrAxisSplit ir_interp_split(const IrTensor *t, int axis) {
  IrAxisSplit s = {1, t->shape[axis], 1};
  for (int i = 0; i < axis; i++) s.outer *= t->shape[i];
  for (int i = axis + 1; i < t->rank; i++) s.inner *= t->shape[i];
  return s;
}

void ir_interp_iter_init(IrBcastIter *w, int rank, const int64_t *shape) {
  *w = (IrBcastIter){.rank = rank};
  for (int i = 0; i < rank; i++) w->shape[i] = shape[i];
}

void ir_interp_iter_add(IrBcastIter *w, const int64_t *shape, int rank, int64_t unit) {
  int64_t *stride = w->stride[w->nops++];
  for (int i = w->rank - 1; i >= 0; i--) {
    int ti = i - (w->rank - rank); /* the operand's dims align at the right */
    if (ti < 0) {
      stride[i] = 0;
      continue;
    }
    stride[i] = shape[ti] == 1 ? 0 : unit;
    unit *= shape[ti];
  }
}

/* Steps to the next output element like an odometer: bump the last index,
 * carrying into the dims before it. */
void ir_interp_iter_next(IrBcastIter *w) {
  for (int i = w->rank - 1; i >= 0; i--) {
    for (int k = 0; k < w->nops; k++) w->off[k] += w->stride[k][i];
    if (++w->idx[i] < w->shape[i]) return;
    for (int k = 0; k < w->nops; k++) w->off[k] -= w->stride[k][i] * w->shape[i];
    w->idx[i] = 0;
  }
}
