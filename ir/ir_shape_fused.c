/* ir_shape_fused.c: shape rules for fused expressions: the `fused` op and
 * the extra operands of a matmul with an `epilogue` (ir_shape_fused.h). */
#include <stdio.h>
#include <string.h>

#include "ir_expr.h"
#include "ir_shape_fused.h"


/* Parses attribute `attr`; a parse error becomes "NAME: PREFIXexpr column
 * N: ..." at the op. */
static bool parse_attr(const IrOp *op, const char *attr, bool allow_acc, const char *prefix,
                       IrExpr *e, IrDiag *d) {
  IrDiag pd = {0};
  if (ir_expr_parse(ir_op_str(op, attr, ""), allow_acc, e, (IrLoc){0}, &pd)) return true;
  const char *msg = strncmp(pd.msg, "error: ", 7) == 0 ? pd.msg + 7 : pd.msg;
  return ir_op_error(op, d, "%s%s", prefix, msg);
}

/* Operand i is used by e. */
static bool uses_operand(const IrExpr *e, int i) {
  for (int k = 0; k < e->n; k++)
    if (e->node[k].kind == IR_EXPR_OPERAND && e->node[k].operand == i) return true;
  return false;
}

static bool need_f32(const IrOp *op, int i, IrDiag *d) {
  if (op->in[i]->type.dtype == IR_F32) return true;
  return ir_op_error(op, d, "operand %d has dtype %s, expected f32", i,
              ir_dtype_name(op->in[i]->type.dtype));
}

/* Numpy broadcast of acc and t into acc (ir.h); false on a conflict. */
bool ir_type_broadcast_into(IrType *acc, const IrType *t) {
  int n = acc->rank > t->rank ? acc->rank : t->rank;
  IrType o = {.dtype = acc->dtype, .rank = n};
  for (int i = 0; i < n; i++) {
    int ia = i - (n - acc->rank), it = i - (n - t->rank);
    IrDim da = ia >= 0 ? acc->dims[ia] : ir_dim_const(1);
    IrDim dt = it >= 0 ? t->dims[it] : ir_dim_const(1);
    if (ir_dim_eq(da, dt) || ir_dim_eq(dt, ir_dim_const(1)))
      o.dims[i] = da;
    else if (ir_dim_eq(da, ir_dim_const(1)))
      o.dims[i] = dt;
    else
      return false;
  }
  *acc = o;
  return true;
}

bool ir_shape_fused(const IrModule *m, const IrOp *op, IrType *out, IrDiag *d) {
  IrExpr e;
  if (!parse_attr(op, "expr", false, "", &e, d)) return false;
  if (e.max_operand >= op->nin)
    return ir_op_error(op, d, "expr uses $%d, but the op has %d operand%s", e.max_operand, op->nin,
                op->nin == 1 ? "" : "s");
  IrType o = {.dtype = IR_F32, .rank = 0};
  for (int i = 0; i < op->nin; i++) {
    if (!need_f32(op, i, d)) return false;
    if (!uses_operand(&e, i)) return ir_op_error(op, d, "operand %d is not used by the expression", i);
    IrType before = o;
    if (!ir_type_broadcast_into(&o, &op->in[i]->type))
      return ir_op_error(op, d, "cannot broadcast operand %d of type %s with the earlier operands' shape %s",
                  i, ir_type_text(m, &op->in[i]->type).s, ir_type_text(m, &before).s);
  }
  *out = o;
  return true;
}

bool ir_shape_matmul_epilogue(const IrModule *m, const IrOp *op, const IrType *out, IrDiag *d) {
  if (!ir_op_str(op, "epilogue", NULL)) {
    if (op->nin == 2) return true;
    return ir_op_error(op, d, "has %d operands but no epilogue; operands after the second are the "
                "epilogue's", op->nin);
  }
  IrExpr e;
  if (!parse_attr(op, "epilogue", true, "epilogue: ", &e, d)) return false;
  if (!e.uses_acc) return ir_op_error(op, d, "the epilogue does not use acc");
  for (int k = 0; k < e.n; k++) {
    int i = e.node[k].operand;
    if (e.node[k].kind != IR_EXPR_OPERAND || (i >= 2 && i < op->nin)) continue;
    if (op->nin == 2)
      return ir_op_error(op, d, "the epilogue uses $%d, but the matmul has no operands after its two "
                  "inputs", i);
    return ir_op_error(op, d, "the epilogue uses $%d, expected $2 to $%d (the operands after the "
                "matmul's two inputs)", i, op->nin - 1);
  }
  for (int i = 2; i < op->nin; i++) {
    if (!need_f32(op, i, d)) return false;
    if (!uses_operand(&e, i)) return ir_op_error(op, d, "operand %d is not used by the epilogue", i);
    IrType b = *out;
    if (!ir_type_broadcast_into(&b, &op->in[i]->type) || !ir_shape_eq(&b, out))
      return ir_op_error(op, d, "operand %d has type %s, which does not broadcast to the result shape %s",
                  i, ir_type_text(m, &op->in[i]->type).s, ir_type_text(m, out).s);
  }
  return true;
}
