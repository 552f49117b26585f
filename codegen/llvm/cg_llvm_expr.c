/* cg_llvm_expr.c: fused expressions (ir_expr.h) as LLVM IR.
 *
 * cg_expr_step emits one elementwise op on f32 scalars or on <N x float>
 * vectors; it is the float arithmetic of every elementwise emitter
 * (cg_llvm_ops_elementwise.c), of fused ops (cg_llvm_ops_fused.c) and of
 * matmul epilogues. Intrinsics are chosen by the value's type
 * (llvm.exp.f32, llvm.exp.v16f32); libm functions without an intrinsic
 * (tanhf, erff) exist only for scalars, so a vector calls them lane by
 * lane. The arithmetic follows the interpreter's formulas (ir_expr_apply)
 * step by step; flags allow reassociation and contraction (FMA), so
 * results agree with the interpreter to rounding, not bit for bit. */
#include <math.h>
#include <stdio.h>

#include "cg_llvm.h"

static bool is_vector(LLVMValueRef x) {
  return LLVMGetTypeKind(LLVMTypeOf(x)) == LLVMVectorTypeKind;
}

/* c as a value of x's type: an f32, or a splat vector of it. */
static LLVMValueRef const_like(CgLlvm *cg, LLVMValueRef x, double c) {
  if (!is_vector(x)) return cg_f32(cg, c);
  unsigned n = LLVMGetVectorSize(LLVMTypeOf(x));
  LLVMValueRef lanes[64], one = cg_f32(cg, c);
  for (unsigned i = 0; i < n && i < 64; i++) lanes[i] = one;
  return LLVMConstVector(lanes, n);
}

static LLVMValueRef get_fn(CgLlvm *cg, const char *name, LLVMTypeRef fty) {
  LLVMValueRef f = LLVMGetNamedFunction(cg->mod, name);
  return f ? f : LLVMAddFunction(cg->mod, name, fty);
}

/* llvm.NAME.f32 or llvm.NAME.vNf32 on one or two values of x's type. */
static LLVMValueRef intrinsic(CgLlvm *cg, const char *base, LLVMValueRef x, LLVMValueRef y) {
  LLVMTypeRef t = LLVMTypeOf(x);
  char name[64];
  if (is_vector(x))
    snprintf(name, sizeof name, "%s.v%uf32", base, LLVMGetVectorSize(t));
  else
    snprintf(name, sizeof name, "%s.f32", base);
  LLVMTypeRef params[2] = {t, t};
  LLVMValueRef args[2] = {x, y};
  int n = y ? 2 : 1;
  LLVMTypeRef fty = LLVMFunctionType(t, params, (unsigned)n, 0);
  return cg_fast(LLVMBuildCall2(cg->b, fty, get_fn(cg, name, fty), args, (unsigned)n, ""));
}

/* float NAME(float) from libm, lane by lane for a vector. */
static LLVMValueRef libm(CgLlvm *cg, const char *name, LLVMValueRef x) {
  if (!is_vector(x)) return cg_call_libm(cg, name, x);
  unsigned n = LLVMGetVectorSize(LLVMTypeOf(x));
  LLVMValueRef r = LLVMGetUndef(LLVMTypeOf(x));
  for (unsigned i = 0; i < n; i++) {
    LLVMValueRef lane = LLVMBuildExtractElement(cg->b, x, LLVMConstInt(cg->i32, i, 0), "");
    r = LLVMBuildInsertElement(cg->b, r, cg_call_libm(cg, name, lane), LLVMConstInt(cg->i32, i, 0),
                               "");
  }
  return r;
}

#define FADD(X, Y) cg_fast(LLVMBuildFAdd(cg->b, (X), (Y), ""))
#define FSUB(X, Y) cg_fast(LLVMBuildFSub(cg->b, (X), (Y), ""))
#define FMUL(X, Y) cg_fast(LLVMBuildFMul(cg->b, (X), (Y), ""))
#define FDIV(X, Y) cg_fast(LLVMBuildFDiv(cg->b, (X), (Y), ""))

/* 1 / (1 + e^-x) */
static LLVMValueRef sigmoid(CgLlvm *cg, LLVMValueRef x) {
  LLVMValueRef e = intrinsic(cg, "llvm.exp", cg_fast(LLVMBuildFNeg(cg->b, x, "")), NULL);
  LLVMValueRef one = const_like(cg, x, 1.0);
  return FDIV(one, FADD(one, e));
}

/* x/2 (1 + erf(x / sqrt 2)), or with tanh(sqrt(2/pi) (x + 0.044715 x^3)) */
static LLVMValueRef gelu(CgLlvm *cg, bool tanh_approx, LLVMValueRef x) {
  LLVMValueRef half_x = FMUL(x, const_like(cg, x, 0.5)), t;
  if (tanh_approx) {
    LLVMValueRef x3 = FMUL(x, FMUL(x, x));
    LLVMValueRef in = FADD(x, FMUL(x3, const_like(cg, x, 0.044715)));
    t = libm(cg, "tanhf", FMUL(in, const_like(cg, x, sqrt(2.0 / M_PI))));
  } else {
    t = libm(cg, "erff", FMUL(x, const_like(cg, x, M_SQRT1_2)));
  }
  return FMUL(half_x, FADD(const_like(cg, x, 1.0), t));
}

LLVMValueRef cg_expr_step(CgLlvm *cg, IrOpKind op, bool gelu_tanh, LLVMValueRef a, LLVMValueRef b) {
  switch (op) {
  case IR_OP_ADD: return FADD(a, b);
  case IR_OP_SUB: return FSUB(a, b);
  case IR_OP_MUL: return FMUL(a, b);
  case IR_OP_DIV: return FDIV(a, b);
  /* maximum/minimum propagate NaN, as the interpreter does (maxnum would drop it) */
  case IR_OP_MAX: return intrinsic(cg, "llvm.maximum", a, b);
  case IR_OP_MIN: return intrinsic(cg, "llvm.minimum", a, b);
  case IR_OP_POW: return intrinsic(cg, "llvm.pow", a, b);
  case IR_OP_NEG: return cg_fast(LLVMBuildFNeg(cg->b, a, ""));
  case IR_OP_EXP: return intrinsic(cg, "llvm.exp", a, NULL);
  case IR_OP_LOG: return intrinsic(cg, "llvm.log", a, NULL);
  case IR_OP_SQRT: return intrinsic(cg, "llvm.sqrt", a, NULL);
  case IR_OP_RSQRT: return FDIV(const_like(cg, a, 1.0), intrinsic(cg, "llvm.sqrt", a, NULL));
  case IR_OP_TANH: return libm(cg, "tanhf", a);
  case IR_OP_SIGMOID: return sigmoid(cg, a);
  case IR_OP_SILU: return FMUL(a, sigmoid(cg, a));
  case IR_OP_RELU: return intrinsic(cg, "llvm.maximum", a, const_like(cg, a, 0.0));
  case IR_OP_GELU: return gelu(cg, gelu_tanh, a);
  default:
    ir_error(cg->d, (IrLoc){0}, "%s is not an elementwise float op", ir_op_spec(op)->name);
    return NULL;
  }
}

LLVMValueRef cg_expr_emit(CgLlvm *cg, const IrExpr *e, LLVMValueRef acc, CgExprOperand operand,
                          void *user) {
  enum { MAX_OPERANDS = IR_EXPR_MAX_NODES + 2 };
  LLVMValueRef v[IR_EXPR_MAX_NODES], cache[MAX_OPERANDS] = {0};
  if (e->max_operand >= MAX_OPERANDS) {
    ir_error(cg->d, (IrLoc){0}, "expression operand $%d is out of range", e->max_operand);
    return NULL;
  }
  /* Operands first, each once, so constants can take their type. */
  LLVMValueRef like = acc;
  for (int i = 0; i < e->n; i++) {
    int k = e->node[i].operand;
    if (e->node[i].kind != IR_EXPR_OPERAND || cache[k]) continue;
    if (!(cache[k] = operand(cg, user, k))) return NULL;
    if (!like) like = cache[k];
  }
  if (!like) like = cg_f32(cg, 0.0);
  for (int i = 0; i < e->n; i++) {
    const IrExprNode *nd = &e->node[i];
    switch (nd->kind) {
    case IR_EXPR_OPERAND: v[i] = cache[nd->operand]; break;
    case IR_EXPR_ACC: v[i] = acc ? acc : const_like(cg, like, 0.0); break;
    case IR_EXPR_CONST: v[i] = const_like(cg, like, nd->value); break;
    case IR_EXPR_OP:
      v[i] = cg_expr_step(cg, nd->op, nd->gelu_tanh, v[nd->arg[0]],
                          nd->arg[1] >= 0 ? v[nd->arg[1]] : NULL);
      if (!v[i]) return NULL;
      break;
    }
  }
  return e->n ? v[e->n - 1] : NULL;
}
