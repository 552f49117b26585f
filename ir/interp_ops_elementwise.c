/* interp_ops_elementwise.c: binary and unary elementwise ops, cast, and the
 * source ops (const, iota, causal_mask). Floats compute in f32 through
 * ir_expr_apply (ir_expr.c), the step fused ops use too; ints in int64
 * with two's-complement wrap-around (the caller wraps to the dtype's
 * width afterwards). */
#include <math.h>
#include <string.h>

#include "interp_internal.h"
#include "ir_expr.h"

/* The int64 with the same low 64 bits as u, without implementation-defined
 * conversions: from_u64(UINT64_MAX) = -1. */
static int64_t from_u64(uint64_t u) { return u <= INT64_MAX ? (int64_t)u : -(int64_t)~u - 1; }

/* Integer binary op; false on a zero divisor. */
static bool binary_i(IrOpKind k, int64_t a, int64_t b, int64_t *out) {
  switch (k) {
  case IR_OP_ADD: *out = from_u64((uint64_t)a + (uint64_t)b); return true;
  case IR_OP_SUB: *out = from_u64((uint64_t)a - (uint64_t)b); return true;
  case IR_OP_MUL: *out = from_u64((uint64_t)a * (uint64_t)b); return true;
  case IR_OP_MAX: *out = a > b ? a : b; return true;
  case IR_OP_MIN: *out = a < b ? a : b; return true;
  default: /* IR_OP_DIV, truncating toward zero like C */
    if (b == 0) return false;
    *out = a == INT64_MIN && b == -1 ? INT64_MIN : a / b;
    return true;
  }
}

static bool run_binary(IrOpRun *r) {
  const IrTensor *a = r->in[0], *b = r->in[1];
  IrTensor *o = &r->out[0];
  IrOpKind k = r->op->kind;
  if (!o->f && k == IR_OP_POW) return ir_interp_op_error(r, "integer operands are not supported");
  IrBcastIter w;
  ir_interp_iter_init(&w, o->rank, o->shape);
  ir_interp_iter_add(&w, a->shape, a->rank, 1);
  ir_interp_iter_add(&w, b->shape, b->rank, 1);
  int64_t n = ir_tensor_numel(o);
  for (int64_t e = 0; e < n; e++, ir_interp_iter_next(&w)) {
    if (o->f) {
      o->f[e] = ir_expr_apply(k, false, a->f[w.off[0]], b->f[w.off[1]]);
    } else if (!binary_i(k, a->i[w.off[0]], b->i[w.off[1]], &o->i[e])) {
      return ir_interp_op_error(r, "integer division by zero (element %lld of the result)",
                                (long long)e);
    }
  }
  return true;
}

static bool run_unary(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *o = &r->out[0];
  IrOpKind k = r->op->kind;
  int64_t n = ir_tensor_numel(o);
  if (!o->f) {
    if (k != IR_OP_NEG) return ir_interp_op_error(r, "integer operands are not supported");
    for (int64_t e = 0; e < n; e++) o->i[e] = from_u64(0 - (uint64_t)x->i[e]);
    return true;
  }
  bool tanh_gelu = k == IR_OP_GELU && strcmp(ir_op_str(r->op, "approx", "none"), "tanh") == 0;
  for (int64_t e = 0; e < n; e++) o->f[e] = ir_expr_apply(k, tanh_gelu, x->f[e], 0.0f);
  return true;
}

/* Float to int truncates toward zero; int to float rounds later with the
 * result; int to int wraps later. */
static bool run_cast(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *o = &r->out[0];
  int64_t n = ir_tensor_numel(o);
  for (int64_t e = 0; e < n; e++) {
    if (o->f)
      o->f[e] = x->f ? x->f[e] : (float)x->i[e];
    else
      o->i[e] = x->f ? ir_interp_float_to_int(x->f[e], o->dtype) : x->i[e];
  }
  return true;
}

bool ir_interp_elementwise(IrOpRun *r) {
  if (r->op->kind == IR_OP_CAST) return run_cast(r);
  return r->op->nin == 2 ? run_binary(r) : run_unary(r);
}

/* ---- sources ---- */

static bool run_const(IrOpRun *r) {
  IrTensor *o = &r->out[0];
  double v = ir_op_float(r->op, "value", 0);
  int64_t n = ir_tensor_numel(o);
  for (int64_t e = 0; e < n; e++) {
    if (o->f)
      o->f[e] = (float)v;
    else
      o->i[e] = ir_interp_float_to_int(v, o->dtype);
  }
  return true;
}

static bool run_iota(IrOpRun *r) {
  IrTensor *o = &r->out[0];
  int64_t start = ir_dim_eval(ir_op_dim(r->op, "start", ir_dim_const(0)), r->syms);
  for (int64_t e = 0; e < o->shape[0]; e++) {
    if (o->f)
      o->f[e] = (float)(start + e);
    else
      o->i[e] = start + e;
  }
  return true;
}

/* Query i sits at position i + offset and sees keys j <= i + offset, and
 * with a window only the last `window` of those. */
static bool run_causal_mask(IrOpRun *r) {
  IrTensor *o = &r->out[0];
  int64_t offset = ir_dim_eval(ir_op_dim(r->op, "offset", ir_dim_const(0)), r->syms);
  int64_t window = ir_op_int(r->op, "window", 0);
  int64_t rows = o->shape[0], cols = o->shape[1];
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) {
      int64_t q = i + offset;
      bool visible = j <= q && (window <= 0 || j > q - window);
      o->f[i * cols + j] = visible ? 0.0f : -INFINITY;
    }
  }
  return true;
}

bool ir_interp_source(IrOpRun *r) {
  switch (r->op->kind) {
  case IR_OP_CONST: return run_const(r);
  case IR_OP_IOTA: return run_iota(r);
  default: return run_causal_mask(r);
  }
}
