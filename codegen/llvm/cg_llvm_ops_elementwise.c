/* cg_llvm_ops_elementwise.c: binary and unary elementwise ops and cast.
 * One kernel iteration is one row (the outermost output dim); the row's
 * elements are a flat inner loop that LLVM vectorizes. The float
 * arithmetic is cg_expr_step (cg_llvm_expr.c), shared with fused ops. */
#include <math.h>
#include <string.h>

#include "cg_llvm_ops.h"

static LLVMValueRef binary_int(CgLlvm *cg, IrOpKind k, LLVMValueRef x, LLVMValueRef y) {
  LLVMBuilderRef b = cg->b;
  switch (k) {
  case IR_OP_ADD: return LLVMBuildAdd(b, x, y, "");
  case IR_OP_SUB: return LLVMBuildSub(b, x, y, "");
  case IR_OP_MUL: return LLVMBuildMul(b, x, y, "");
  case IR_OP_MAX: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, x, y, ""), x, y, "");
  case IR_OP_MIN: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, "");
  case IR_OP_NEG: return LLVMBuildNeg(b, x, "");
  default: return x; /* int div is refused at compile time (see emit) */
  }
}

/* cast: values are loaded as f32 (floats) or i64 (ints); convert between. */
static LLVMValueRef cast(CgLlvm *cg, IrDType from, IrDType to, LLVMValueRef x) {
  bool fi = ir_dtype_is_float(from), ti = ir_dtype_is_float(to);
  if (fi && !ti) { /* saturating, NaN -> 0, like the interpreter; the store then wraps */
    LLVMTypeRef fty = LLVMFunctionType(cg->i64, &cg->f32, 1, 0);
    LLVMValueRef f = LLVMGetNamedFunction(cg->mod, "llvm.fptosi.sat.i64.f32");
    if (!f) f = LLVMAddFunction(cg->mod, "llvm.fptosi.sat.i64.f32", fty);
    return LLVMBuildCall2(cg->b, fty, f, &x, 1, "");
  }
  if (!fi && ti) return LLVMBuildSIToFP(cg->b, x, cg->f32, "");
  return x;
}

static bool emit_elementwise(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  const IrValue *out = op->out[0];
  bool is_float = ir_dtype_is_float(op->in[0]->type.dtype);
  bool tanh_gelu = op->kind == IR_OP_GELU && strcmp(ir_op_str(op, "approx", "none"), "tanh") == 0;
  if (!cg_refuse_i4(cg, op)) return false;
  if (op->kind == IR_OP_DIV && !is_float)
    return ir_error(cg->d, op->loc, "the CPU backend does not lower integer div yet");
  LLVMValueRef inner = cg_inner_numel(cg, &out->type);
  CgLoop row = cg_loop_begin(cg, begin, end, "row");
  CgLoop col = cg_loop_begin(cg, cg_i64(cg, 0), inner, "col");
  LLVMValueRef idx = LLVMBuildNSWAdd(cg->b, LLVMBuildNSWMul(cg->b, row.iv, inner, ""), col.iv, "");
  LLVMValueRef x = cg_load(cg, op->in[0], cg_broadcast_index(cg, &out->type, &op->in[0]->type, idx));
  LLVMValueRef r;
  if (op->kind == IR_OP_CAST) {
    r = cast(cg, op->in[0]->type.dtype, out->type.dtype, x);
  } else if (op->nin == 2) {
    LLVMValueRef y = cg_load(cg, op->in[1], cg_broadcast_index(cg, &out->type, &op->in[1]->type, idx));
    r = is_float ? cg_expr_step(cg, op->kind, false, x, y) : binary_int(cg, op->kind, x, y);
  } else {
    r = is_float ? cg_expr_step(cg, op->kind, tanh_gelu, x, NULL) : binary_int(cg, op->kind, x, x);
  }
  cg_store(cg, out, idx, r);
  cg_loop_end(cg, &col);
  cg_loop_end(cg, &row);
  return true;
}

#define ELEMENTWISE(ID) \
  static const CgOpEmitter em_##ID = {IR_OP_##ID, cg_iterations_outer, emit_elementwise};
ELEMENTWISE(ADD) ELEMENTWISE(SUB) ELEMENTWISE(MUL) ELEMENTWISE(DIV) ELEMENTWISE(MAX)
ELEMENTWISE(MIN) ELEMENTWISE(POW) ELEMENTWISE(NEG) ELEMENTWISE(EXP) ELEMENTWISE(LOG)
ELEMENTWISE(SQRT) ELEMENTWISE(RSQRT) ELEMENTWISE(TANH) ELEMENTWISE(SIGMOID) ELEMENTWISE(SILU)
ELEMENTWISE(RELU) ELEMENTWISE(GELU) ELEMENTWISE(CAST)

const CgOpEmitter *const cg_elementwise_emitters[] = {
    &em_ADD, &em_SUB, &em_MUL, &em_DIV, &em_MAX, &em_MIN, &em_POW, &em_NEG, &em_EXP, &em_LOG,
    &em_SQRT, &em_RSQRT, &em_TANH, &em_SIGMOID, &em_SILU, &em_RELU, &em_GELU, &em_CAST, NULL};
