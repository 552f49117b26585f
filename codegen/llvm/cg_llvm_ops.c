/* cg_llvm_ops.c: the table of op emitters and shared iteration helpers.
 * Each op family lives in its own cg_llvm_ops_*.c file. */
#include "cg_llvm_ops.h"

static const CgOpEmitter *table[IR_OP_COUNT];
static bool table_ready;

static void register_all(void) {
  const CgOpEmitter *const *lists[] = {cg_elementwise_emitters, cg_nn_emitters, cg_data_emitters,
                                       cg_fused_emitters};
  for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
    for (const CgOpEmitter *const *e = lists[l]; *e; e++) table[(*e)->kind] = *e;
  table_ready = true;
}

const CgOpEmitter *cg_op_emitter(IrOpKind kind) {
  if (!table_ready) register_all();
  return table[kind];
}

LLVMValueRef cg_outer_dim(CgLlvm *cg, const IrType *t) {
  return t->rank ? cg_dim(cg, t->dims[0]) : cg_i64(cg, 1);
}

LLVMValueRef cg_inner_numel(CgLlvm *cg, const IrType *t) {
  LLVMValueRef n = cg_i64(cg, 1);
  for (int i = 1; i < t->rank; i++) n = LLVMBuildNSWMul(cg->b, n, cg_dim(cg, t->dims[i]), "");
  return n;
}

LLVMValueRef cg_iterations_outer(CgLlvm *cg, const IrOp *op) {
  return cg_outer_dim(cg, &op->out[0]->type);
}

LLVMValueRef cg_broadcast_index(CgLlvm *cg, const IrType *out, const IrType *in, LLVMValueRef idx) {
  if (ir_shape_eq(out, in)) return idx;
  if (ir_type_const_numel(in) == 1) return cg_i64(cg, 0);
  /* General case: peel the output multi-index from the right and
   * accumulate the operand's index, skipping its broadcast (size-1 or
   * missing) dims. */
  LLVMValueRef rest = idx, in_idx = cg_i64(cg, 0), in_stride = cg_i64(cg, 1);
  int shift = out->rank - in->rank;
  for (int i = out->rank - 1; i >= 0; i--) {
    LLVMValueRef dim = cg_dim(cg, out->dims[i]);
    LLVMValueRef coord = LLVMBuildSRem(cg->b, rest, dim, "");
    rest = LLVMBuildSDiv(cg->b, rest, dim, "");
    int j = i - shift;
    if (j < 0) continue;
    IrDim in_dim = in->dims[j];
    if (ir_dim_is_const(in_dim) && in_dim.c == 1) continue;
    in_idx = LLVMBuildNSWAdd(cg->b, in_idx, LLVMBuildNSWMul(cg->b, coord, in_stride, ""), "");
    in_stride = LLVMBuildNSWMul(cg->b, in_stride, cg_dim(cg, in_dim), "");
  }
  return in_idx;
}
