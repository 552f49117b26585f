/* cg_llvm_ops_elementwise.c: binary and unary elementwise ops and cast.
 * One kernel iteration is one row (the outermost output dim); the row's
 * elements are a flat inner loop that LLVM vectorizes. */
#include <math.h>
#include <string.h>

#include "cg_llvm_ops.h"

static LLVMValueRef sigmoid(CgLlvm *cg, LLVMValueRef x) {
  LLVMValueRef e = cg_call_f32(cg, "llvm.exp", cg_fast(LLVMBuildFNeg(cg->b, x, "")));
  return cg_fast(LLVMBuildFDiv(cg->b, cg_f32(cg, 1.0), cg_fast(LLVMBuildFAdd(cg->b, cg_f32(cg, 1.0), e, "")), ""));
}

static LLVMValueRef gelu(CgLlvm *cg, const IrOp *op, LLVMValueRef x) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef half_x = cg_fast(LLVMBuildFMul(b, x, cg_f32(cg, 0.5), ""));
  LLVMValueRef t;
  if (strcmp(ir_op_str(op, "approx", "none"), "tanh") == 0) {
    LLVMValueRef x3 = cg_fast(LLVMBuildFMul(b, x, cg_fast(LLVMBuildFMul(b, x, x, "")), ""));
    LLVMValueRef in = cg_fast(LLVMBuildFAdd(b, x, cg_fast(LLVMBuildFMul(b, x3, cg_f32(cg, 0.044715), "")), ""));
    t = cg_call_libm(cg, "tanhf", cg_fast(LLVMBuildFMul(b, in, cg_f32(cg, sqrt(2.0 / M_PI)), "")));
  } else {
    t = cg_call_libm(cg, "erff", cg_fast(LLVMBuildFMul(b, x, cg_f32(cg, M_SQRT1_2), "")));
  }
  return cg_fast(LLVMBuildFMul(b, half_x, cg_fast(LLVMBuildFAdd(b, cg_f32(cg, 1.0), t, "")), ""));
}

static LLVMValueRef unary_f32(CgLlvm *cg, const IrOp *op, LLVMValueRef x) {
  LLVMBuilderRef b = cg->b;
  switch (op->kind) {
  case IR_OP_NEG: return cg_fast(LLVMBuildFNeg(b, x, ""));
  case IR_OP_EXP: return cg_call_f32(cg, "llvm.exp", x);
  case IR_OP_LOG: return cg_call_f32(cg, "llvm.log", x);
  case IR_OP_SQRT: return cg_call_f32(cg, "llvm.sqrt", x);
  case IR_OP_RSQRT: return cg_fast(LLVMBuildFDiv(b, cg_f32(cg, 1.0), cg_call_f32(cg, "llvm.sqrt", x), ""));
  case IR_OP_TANH: return cg_call_libm(cg, "tanhf", x);
  case IR_OP_SIGMOID: return sigmoid(cg, x);
  case IR_OP_SILU: return cg_fast(LLVMBuildFMul(b, x, sigmoid(cg, x), ""));
  case IR_OP_RELU: return cg_call_f32_2(cg, "llvm.maximum", x, cg_f32(cg, 0.0));
  case IR_OP_GELU: return gelu(cg, op, x);
  default: return x;
  }
}

static LLVMValueRef binary_f32(CgLlvm *cg, IrOpKind k, LLVMValueRef x, LLVMValueRef y) {
  LLVMBuilderRef b = cg->b;
  switch (k) {
  case IR_OP_ADD: return cg_fast(LLVMBuildFAdd(b, x, y, ""));
  case IR_OP_SUB: return cg_fast(LLVMBuildFSub(b, x, y, ""));
  case IR_OP_MUL: return cg_fast(LLVMBuildFMul(b, x, y, ""));
  case IR_OP_DIV: return cg_fast(LLVMBuildFDiv(b, x, y, ""));
  /* maximum/minimum propagate NaN, as the interpreter does (maxnum would drop it). */
  case IR_OP_MAX: return cg_call_f32_2(cg, "llvm.maximum", x, y);
  case IR_OP_MIN: return cg_call_f32_2(cg, "llvm.minimum", x, y);
  case IR_OP_POW: return cg_call_f32_2(cg, "llvm.pow", x, y);
  default: return x;
  }
}

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
    r = is_float ? binary_f32(cg, op->kind, x, y) : binary_int(cg, op->kind, x, y);
  } else {
    r = is_float ? unary_f32(cg, op, x) : binary_int(cg, op->kind, x, x);
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
