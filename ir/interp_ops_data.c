/* interp_ops_data.c: reductions, data movement (reshape, transpose, slice,
 * concat), routing (topk, scatter) and the KV cache (kv_write, kv_read). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

/* ---- reductions ---- */

static float reduce_f(IrOpKind k, const float *x, int64_t n, int64_t stride) {
  if (k == IR_OP_REDUCE_MAX) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++)
      if (x[j * stride] > mx || isnan(x[j * stride])) mx = x[j * stride];
    return mx;
  }
  float sum = 0;
  for (int64_t j = 0; j < n; j++) sum += x[j * stride];
  if (k == IR_OP_REDUCE_SUM) return sum;
  return n ? sum / (float)n : NAN;
}

/* Ints: the sum wraps to the dtype (as a sum kept in the dtype would), the
 * mean is that sum divided with truncation, the max of nothing is the
 * smallest int64 (wrapped to the dtype afterwards). */
static int64_t reduce_i(IrOpKind k, IrDType t, const int64_t *x, int64_t n, int64_t stride) {
  int64_t mx = INT64_MIN;
  uint64_t sum = 0;
  for (int64_t j = 0; j < n; j++) {
    sum += (uint64_t)x[j * stride];
    if (x[j * stride] > mx) mx = x[j * stride];
  }
  int64_t s = ir_interp_wrap(sum <= INT64_MAX ? (int64_t)sum : -(int64_t)~sum - 1, t);
  if (k == IR_OP_REDUCE_MAX) return mx;
  if (k == IR_OP_REDUCE_SUM) return s;
  return s / n;
}

bool ir_interp_reduce(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *o = &r->out[0];
  IrOpKind k = r->op->kind;
  IrAxisSplit s = ir_interp_split(x, ir_interp_axis(ir_op_int(r->op, "axis", -1), x->rank));
  if (x->i && k == IR_OP_REDUCE_MEAN && s.len == 0)
    return ir_interp_op_error(r, "the integer mean of an empty axis is undefined");
  for (int64_t a = 0; a < s.outer; a++) {
    for (int64_t c = 0; c < s.inner; c++) {
      int64_t src = a * s.len * s.inner + c, dst = a * s.inner + c;
      if (x->f)
        o->f[dst] = reduce_f(k, x->f + src, s.len, s.inner);
      else
        o->i[dst] = reduce_i(k, o->dtype, x->i + src, s.len, s.inner);
    }
  }
  return true;
}

/* ---- data movement ---- */

bool ir_interp_reshape(IrOpRun *r) {
  int64_t n = ir_tensor_numel(&r->out[0]);
  if (n != ir_tensor_numel(r->in[0]))
    return ir_interp_op_error(r, "%lld elements cannot be reshaped into %lld",
                              (long long)ir_tensor_numel(r->in[0]), (long long)n);
  for (int64_t e = 0; e < n; e++) ir_interp_copy_elem(&r->out[0], e, r->in[0], e);
  return true;
}

/* Walks the result in order; the operand offset moves by the operand's
 * stride along axis perm[i] when result index i moves. */
bool ir_interp_transpose(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *o = &r->out[0];
  const IrAttr *perm = ir_op_attr(r->op, "perm");
  int64_t stride[IR_MAX_RANK], st = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    stride[i] = st;
    st *= x->shape[i];
  }
  IrBcastIter w;
  ir_interp_iter_init(&w, o->rank, o->shape);
  w.nops = 1;
  for (int i = 0; i < o->rank; i++) w.stride[0][i] = stride[perm->ints[i]];
  int64_t n = ir_tensor_numel(o);
  for (int64_t e = 0; e < n; e++, ir_interp_iter_next(&w)) ir_interp_copy_elem(o, e, x, w.off[0]);
  return true;
}

/* Copies [outer, n, inner] blocks: dst[a, dst_at + j, c] = src[a, src_at + j, c]. */
static void copy_along(IrTensor *dst, IrAxisSplit ds, int64_t dst_at, const IrTensor *src,
                       IrAxisSplit ss, int64_t src_at, int64_t n) {
  for (int64_t a = 0; a < ss.outer; a++)
    for (int64_t j = 0; j < n; j++)
      for (int64_t c = 0; c < ss.inner; c++)
        ir_interp_copy_elem(dst, (a * ds.len + dst_at + j) * ds.inner + c, src,
                            (a * ss.len + src_at + j) * ss.inner + c);
}

bool ir_interp_slice(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *o = &r->out[0];
  int axis = ir_interp_axis(ir_op_int(r->op, "axis", 0), x->rank);
  int64_t start = ir_dim_eval(ir_op_dim(r->op, "start", ir_dim_const(0)), r->syms);
  int64_t end = ir_dim_eval(ir_op_dim(r->op, "end", ir_dim_const(0)), r->syms);
  if (start < 0 || start > end || end > x->shape[axis]) {
    char name[128];
    return ir_interp_op_error(r,
                              "range [%lld, %lld) is out of bounds of axis %d of %s, "
                              "which has size %lld",
                              (long long)start, (long long)end, axis,
                              ir_interp_value_ref(r->op->in[0], name, sizeof name),
                              (long long)x->shape[axis]);
  }
  if (end - start != o->shape[axis])
    return ir_interp_op_error(r, "range [%lld, %lld) does not match the result's dim %lld",
                              (long long)start, (long long)end, (long long)o->shape[axis]);
  copy_along(o, ir_interp_split(o, axis), 0, x, ir_interp_split(x, axis), start, end - start);
  return true;
}

bool ir_interp_concat(IrOpRun *r) {
  IrTensor *o = &r->out[0];
  int axis = ir_interp_axis(ir_op_int(r->op, "axis", 0), o->rank);
  IrAxisSplit os = ir_interp_split(o, axis);
  int64_t at = 0;
  for (int k = 0; k < r->op->nin; k++) {
    const IrTensor *x = r->in[k];
    copy_along(o, os, at, x, ir_interp_split(x, axis), 0, x->shape[axis]);
    at += x->shape[axis];
  }
  return true;
}

/* ---- routing ---- */

/* x[a] ranks above x[b]: larger, NaN above numbers (as torch.topk). */
static bool ranks_above(const IrTensor *x, int64_t a, int64_t b) {
  if (x->i) return x->i[a] > x->i[b];
  return (isnan(x->f[a]) && !isnan(x->f[b])) || x->f[a] > x->f[b];
}

/* Picks the k largest by repeated selection; on ties the lower index wins
 * because only a strictly higher rank replaces the current best. */
bool ir_interp_topk(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *vals = &r->out[0], *idx = &r->out[1];
  int64_t n = x->shape[x->rank - 1], k = vals->shape[vals->rank - 1];
  int64_t rows = n ? ir_tensor_numel(x) / n : 0;
  if (k < 1 || k > n)
    return ir_interp_op_error(r, "k = %lld is outside [1, %lld]", (long long)k, (long long)n);
  bool *taken = malloc((size_t)(n ? n : 1));
  if (!taken) abort();
  for (int64_t row = 0; row < rows; row++) {
    memset(taken, 0, (size_t)(n ? n : 1));
    for (int64_t p = 0; p < k; p++) {
      int64_t best = -1;
      for (int64_t j = 0; j < n; j++)
        if (!taken[j] && (best < 0 || ranks_above(x, row * n + j, row * n + best))) best = j;
      taken[best] = true;
      ir_interp_copy_elem(vals, row * k + p, x, row * n + best);
      idx->i[row * k + p] = best;
    }
  }
  free(taken);
  return true;
}

bool ir_interp_scatter(IrOpRun *r) {
  const IrTensor *idx = r->in[0], *w = r->in[1];
  IrTensor *o = &r->out[0];
  int64_t k = idx->shape[idx->rank - 1], size = o->shape[o->rank - 1];
  int64_t rows = k ? ir_tensor_numel(idx) / k : 0;
  for (int64_t row = 0; row < rows; row++) {
    for (int64_t j = 0; j < k; j++) {
      int64_t at = idx->i[row * k + j];
      if (at < 0 || at >= size) {
        char name[128];
        return ir_interp_op_error(r, "index %lld (element %lld of %s) is outside [0, %lld)",
                                  (long long)at, (long long)(row * k + j),
                                  ir_interp_value_ref(r->op->in[0], name, sizeof name),
                                  (long long)size);
      }
      o->f[row * size + at] += w->f[row * k + j];
    }
  }
  return true;
}

/* ---- KV cache ---- */

bool ir_interp_kv_write(IrOpRun *r) {
  IrTensor *state = r->in[0];
  const IrTensor *x = r->in[1];
  int axis = ir_interp_axis(ir_op_int(r->op, "axis", -2), state->rank);
  int64_t offset = ir_dim_eval(ir_op_dim(r->op, "offset", ir_dim_const(0)), r->syms);
  int64_t n = x->shape[axis], cap = state->shape[axis];
  char name[128];
  ir_interp_value_ref(r->op->in[0], name, sizeof name);
  if (offset < 0)
    return ir_interp_op_error(r, "writing positions [%lld, %lld) into %s: the offset is negative",
                              (long long)offset, (long long)(offset + n), name);
  if (offset + n > cap)
    return ir_interp_op_error(r,
                              "KV cache overflow: writing positions [%lld, %lld) into %s "
                              "with %lld positions",
                              (long long)offset, (long long)(offset + n), name, (long long)cap);
  copy_along(state, ir_interp_split(state, axis), offset, x, ir_interp_split(x, axis), 0, n);
  return true;
}

bool ir_interp_kv_read(IrOpRun *r) {
  const IrTensor *state = r->in[0];
  IrTensor *o = &r->out[0];
  int axis = ir_interp_axis(ir_op_int(r->op, "axis", -2), state->rank);
  int64_t start = ir_dim_eval(ir_op_dim(r->op, "start", ir_dim_const(0)), r->syms);
  int64_t len = ir_dim_eval(ir_op_dim(r->op, "len", ir_dim_const(0)), r->syms);
  int64_t cap = state->shape[axis];
  if (start < 0 || start + len > cap || len != o->shape[axis]) {
    char name[128];
    return ir_interp_op_error(r, "reading positions [%lld, %lld) from %s with %lld positions",
                              (long long)start, (long long)(start + len),
                              ir_interp_value_ref(r->op->in[0], name, sizeof name), (long long)cap);
  }
  copy_along(o, ir_interp_split(o, axis), 0, state, ir_interp_split(state, axis), start, len);
  return true;
}
