/* cg_llvm_expr.c: fused expressions (ir_expr.h) as LLVM IR.
 * PLACEHOLDER until the fusion work lands: reports that it cannot emit. */
#include "cg_llvm.h"

LLVMValueRef cg_expr_emit(CgLlvm *cg, const IrExpr *e, LLVMValueRef acc, CgExprOperand operand,
                          void *user) {
  (void)e, (void)acc, (void)operand, (void)user;
  ir_error(cg->d, (IrLoc){0}, "fused expressions are not lowered yet");
  return NULL;
}

LLVMValueRef cg_expr_step(CgLlvm *cg, IrOpKind op, bool gelu_tanh, LLVMValueRef a, LLVMValueRef b) {
  (void)op, (void)gelu_tanh, (void)a, (void)b;
  ir_error(cg->d, (IrLoc){0}, "fused expressions are not lowered yet");
  return NULL;
}
