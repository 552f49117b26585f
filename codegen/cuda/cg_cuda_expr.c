/* cg_cuda_expr.c: elementwise steps as CUDA expressions, broadcasting,
 * and the expressions of fused ops and matmul epilogues (ir_expr.h): each
 * node becomes one f32 statement, so the kernel rounds like the
 * interpreter's chain of f32 ops. */
#include <stdio.h>
#include <string.h>

#include "cg_cuda_internal.h"
#include "ir_expr.h"

const char *cgc_binary_float(IrOpKind k) {
  switch (k) {
  case IR_OP_ADD: return "(a + b)";
  case IR_OP_SUB: return "(a - b)";
  case IR_OP_MUL: return "(a * b)";
  case IR_OP_DIV: return "(a / b)";
  case IR_OP_MAX: return "kiln_max(a, b)";
  case IR_OP_MIN: return "kiln_min(a, b)";
  default: return "powf(a, b)";
  }
}

const char *cgc_unary_float(IrOpKind k, bool gelu_tanh) {
  switch (k) {
  case IR_OP_NEG: return "(-a)";
  case IR_OP_EXP: return "expf(a)";
  case IR_OP_LOG: return "logf(a)";
  case IR_OP_SQRT: return "sqrtf(a)";
  case IR_OP_RSQRT: return "(1.0f / sqrtf(a))";
  case IR_OP_TANH: return "tanhf(a)";
  case IR_OP_SIGMOID: return "kiln_sigmoid(a)";
  case IR_OP_SILU: return "kiln_silu(a)";
  case IR_OP_RELU: return "kiln_relu(a)";
  default: return gelu_tanh ? "kiln_gelu_tanh(a)" : "kiln_gelu(a)";
  }
}

CgcText cgc_broadcast_index(const CgCuda *cg, const IrType *out, const IrType *in) {
  char names[IR_MAX_RANK][16];
  const char *coords[IR_MAX_RANK];
  int shift = out->rank - in->rank;
  for (int j = 0; j < in->rank; j++) {
    bool one = ir_dim_is_const(in->dims[j]) && in->dims[j].c == 1;
    snprintf(names[j], sizeof names[j], "c%d", j + shift);
    coords[j] = one ? "0" : names[j];
  }
  return cgc_index(cg, in, coords);
}

/* The statement of node i: "const float e3 = ...;". */
static bool expr_node(CgCuda *cg, const IrOp *op, const IrExprNode *n, int i, const IrType *out,
                      const char *acc, int first_operand) {
  switch (n->kind) {
  case IR_EXPR_OPERAND: {
    if (n->operand < first_operand || n->operand >= op->nin)
      return cgc_refuse(cg, op, "an expression operand that is not an extra operand");
    const IrValue *x = op->in[n->operand];
    if (!ir_dtype_is_float(x->type.dtype)) return cgc_refuse(cg, op, "an integer expression operand");
    char p[16];
    snprintf(p, sizeof p, "x%d", n->operand);
    cgc_printf(cg, "    const float e%d = %s;\n", i, cgc_load(x, p, cgc_broadcast_index(cg, out, &x->type).s).s);
    return true;
  }
  case IR_EXPR_ACC:
    if (!acc) return cgc_refuse(cg, op, "'acc' outside a matmul epilogue");
    cgc_printf(cg, "    const float e%d = %s;\n", i, acc);
    return true;
  case IR_EXPR_CONST: cgc_printf(cg, "    const float e%d = %s;\n", i, cgc_float(n->value).s); return true;
  default: break;
  }
  bool binary = ir_op_spec(n->op)->min_in == 2;
  const char *f = binary ? cgc_binary_float(n->op) : cgc_unary_float(n->op, n->gelu_tanh);
  if (binary)
    cgc_printf(cg, "    float e%d; { const float a = e%d, b = e%d; e%d = %s; }\n", i, n->arg[0], n->arg[1], i, f);
  else
    cgc_printf(cg, "    float e%d; { const float a = e%d; e%d = %s; }\n", i, n->arg[0], i, f);
  return true;
}

bool cgc_expr(CgCuda *cg, const IrOp *op, const char *text, const IrType *out, const char *acc,
              int first_operand, const char *result) {
  IrExpr e;
  if (!text) return cgc_refuse(cg, op, "no expression");
  if (!ir_expr_parse(text, acc != NULL, &e, op->loc, cg->d)) return false;
  for (int i = 0; i < e.n; i++)
    if (!expr_node(cg, op, &e.node[i], i, out, acc, first_operand)) return false;
  cgc_printf(cg, "    const float %s = e%d;\n", result, e.n - 1);
  return true;
}

/* One thread per output element. */
bool cgc_emit_fused(CgCuda *cg, const IrOp *op) {
  const IrValue *y = op->out[0];
  if (!ir_dtype_is_float(y->type.dtype)) return cgc_refuse(cg, op, "an integer result");
  for (int j = 0; j < op->nin; j++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", j);
    if (!cgc_ptr(cg, op, op->in[j], name)) return false;
  }
  if (!cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  if (!cgc_expr(cg, op, ir_op_str(op, "expr", NULL), &y->type, NULL, 0, "v")) return false;
  cgc_printf(cg, "    ");
  cgc_store(cg, y, "y0", "i", "v");
  cgc_flat_end(cg);
  return true;
}
