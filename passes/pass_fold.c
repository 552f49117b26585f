/* pass_fold.c: constant folding over splat constants.
 *
 * An op whose operands are all `const` ops (a const fills its whole type
 * with one value) becomes a const itself, in place: the result keeps its
 * name and uses. One forward sweep suffices, since a folded op is a const
 * by the time its users are visited.
 *
 *   %a = const {value = 2.0} : f32[]
 *   %b = const {value = 3.0} : f32[T]      %c = const {value = 5.0} : f32[T]
 *   %c = add(%a, %b) : f32[T]          ->
 *
 * Arithmetic follows the interpreter exactly: floats compute in f32 with
 * the same functions and round to the result dtype, ints compute in int64
 * with wrap-around. An op that would fail at run time (an integer division
 * by zero) or give NaN is left alone, as is an integer that a double
 * attribute cannot hold exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "ir_expr.h"
#include "pass.h"

/* ---- scalar arithmetic: the interpreter's own step (ir_expr_apply) ---- */

/* Float op on f32 operands; the caller rounds to the result dtype. NaN
 * for an op that is not an elementwise float op: never folded. */
static float eval_float(const IrOp *op, float a, float b) {
  bool tanh_gelu = op->kind == IR_OP_GELU && strcmp(ir_op_str(op, "approx", "none"), "tanh") == 0;
  return ir_expr_apply(op->kind, tanh_gelu, a, b);
}

/* The int64 with the low 64 bits of u: from_u64(UINT64_MAX) = -1. */
static int64_t from_u64(uint64_t u) { return u <= INT64_MAX ? (int64_t)u : -(int64_t)~u - 1; }

/* Int op in int64 with wrap-around; false where the interpreter fails
 * (division by zero) or the op has no int form. */
static bool eval_int(IrOpKind k, int64_t a, int64_t b, int64_t *out) {
  switch (k) {
  case IR_OP_ADD: *out = from_u64((uint64_t)a + (uint64_t)b); return true;
  case IR_OP_SUB: *out = from_u64((uint64_t)a - (uint64_t)b); return true;
  case IR_OP_MUL: *out = from_u64((uint64_t)a * (uint64_t)b); return true;
  case IR_OP_MAX: *out = a > b ? a : b; return true;
  case IR_OP_MIN: *out = a < b ? a : b; return true;
  case IR_OP_NEG: *out = from_u64(0 - (uint64_t)a); return true;
  case IR_OP_DIV:
    if (b == 0) return false;
    *out = a == INT64_MIN && b == -1 ? INT64_MIN : a / b;
    return true;
  default: return false;
  }
}

/* ---- choosing the printed value ---- */

/* The shortest decimal that a const of dtype t reads back as exactly r:
 * an f32 0.1f gives 0.1 rather than 0.100000001490116. */
static double shortest_value(double r, IrDType t) {
  if (!ir_dtype_is_float(t) || isinf(r)) return r;
  for (int prec = 1; prec <= 17; prec++) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.*g", prec, r);
    double v = strtod(buf, NULL);
    if (pass_round_value(v, t) == r && signbit(v) == signbit(r)) return v;
  }
  return r;
}

/* A result value the const attribute can carry exactly: no NaN, and ints
 * within 2^53. */
static bool representable(double r, IrDType t) {
  if (isnan(r)) return false;
  return ir_dtype_is_float(t) || fabs(r) <= 9007199254740992.0;
}

/* ---- folding rules ---- */

/* Elementwise op (binary, unary, cast) over const operands. */
static bool fold_elementwise(const IrOp *op, double *out) {
  double v[2] = {0, 0};
  for (int i = 0; i < op->nin; i++)
    if (!pass_const_value(op->in[i], &v[i])) return false;
  IrDType in_t = op->in[0]->type.dtype, out_t = op->out[0]->type.dtype;
  if (op->kind == IR_OP_CAST) {
    /* float to int truncates, int to float rounds, int to int wraps:
     * all of that is pass_round_value of the operand's value. */
    *out = pass_round_value(ir_dtype_is_float(in_t) ? (double)(float)v[0] : v[0], out_t);
    return representable(*out, out_t);
  }
  if (ir_dtype_is_float(out_t)) {
    *out = ir_round_to_dtype(eval_float(op, (float)v[0], (float)v[1]), out_t);
  } else {
    int64_t r;
    if (!eval_int(op->kind, (int64_t)v[0], (int64_t)v[1], &r)) return false;
    *out = pass_round_value((double)r, out_t);
    if (fabs((double)r) > 9007199254740992.0) return false; /* not exact as a double */
  }
  return representable(*out, out_t);
}

/* reshape, transpose, slice, concat: a splat in, the same splat out.
 * concat needs every operand to be the same value. */
static bool fold_movement(const IrOp *op, double *out) {
  double first, v;
  if (!pass_const_value(op->in[0], &first)) return false;
  for (int i = 1; i < op->nin; i++)
    if (!pass_const_value(op->in[i], &v) || v != first || signbit(v) != signbit(first))
      return false;
  *out = ir_op_float(op->in[0]->def, "value", 0); /* same dtype: keep it as written */
  return true;
}

/* The dim that a reduction's axis attribute names, or false. */
static bool reduced_dim(const IrOp *op, IrDim *dim) {
  const IrType *t = &op->in[0]->type;
  int64_t axis = ir_op_int(op, "axis", -1);
  if (axis < 0) axis += t->rank;
  if (axis < 0 || axis >= t->rank) return false;
  *dim = t->dims[axis];
  return true;
}

/* The smallest value dim can take within the symbol bounds (symbols
 * start at 0). */
static int64_t dim_min(const IrModule *m, IrDim dim) {
  int64_t bounds[IR_MAX_SYMS];
  ir_module_sym_bounds(m, bounds);
  return ir_dim_min(dim, bounds);
}

/* reduce_max and reduce_mean of a splat are the splat, when the axis
 * cannot be empty (an empty max is -inf, an empty mean NaN). reduce_sum
 * over a constant axis of n is value * n. */
static bool fold_reduce(const IrModule *m, const IrOp *op, double *out) {
  double v;
  IrDim dim;
  if (!pass_const_value(op->in[0], &v) || !reduced_dim(op, &dim)) return false;
  IrDType t = op->out[0]->type.dtype;
  if (op->kind != IR_OP_REDUCE_SUM) {
    if (dim_min(m, dim) < 1) return false;
    *out = ir_op_float(op->in[0]->def, "value", 0);
    return true;
  }
  if (!ir_dim_is_const(dim)) return false;
  if (ir_dtype_is_float(t)) {
    *out = pass_round_value(v * (double)dim.c, t);
  } else {
    int64_t r;
    if (!eval_int(IR_OP_MUL, (int64_t)v, dim.c, &r)) return false;
    *out = pass_round_value((double)r, t);
  }
  return representable(*out, t);
}

static bool fold_op(const IrModule *m, const IrOp *op, double *out) {
  if (op->nout != 1 || op->out[0]->type.dtype == IR_I4) return false;
  switch (op->kind) {
  case IR_OP_RESHAPE:
  case IR_OP_TRANSPOSE:
  case IR_OP_SLICE:
  case IR_OP_CONCAT: return fold_movement(op, out);
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX: return fold_reduce(m, op, out);
  default:
    if (!(ir_op_spec(op->kind)->flags & IR_OPF_ELEMENTWISE)) return false;
    return fold_elementwise(op, out);
  }
}

bool pass_fold(IrModule *m, PassContext *ctx, IrDiag *d) {
  bool changed = false;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    IrFunc *f = m->funcs[fi];
    for (int i = 0; i < f->nops; i++) {
      IrOp *op = f->ops[i];
      double v;
      if (op->kind == IR_OP_CONST || op->nin == 0 || !fold_op(m, op, &v)) continue;
      pass_make_const(op, shortest_value(v, op->out[0]->type.dtype));
      pass_count(ctx, "folded", 1);
      changed = true;
    }
  }
  return changed;
}
