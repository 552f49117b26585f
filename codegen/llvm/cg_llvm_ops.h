/* cg_llvm_ops.h: shared pieces of the op emitters (cg_llvm_ops_*.c). */
#ifndef KILN_CG_LLVM_OPS_H
#define KILN_CG_LLVM_OPS_H

#include "cg_llvm.h"

/* NULL-terminated emitter lists, one per op family file. */
extern const CgOpEmitter *const cg_elementwise_emitters[];
extern const CgOpEmitter *const cg_nn_emitters[];
extern const CgOpEmitter *const cg_data_emitters[];
extern const CgOpEmitter *const cg_fused_emitters[];

/* dims[0] of t (1 for a scalar) and the product of the other dims. */
LLVMValueRef cg_outer_dim(CgLlvm *cg, const IrType *t);
LLVMValueRef cg_inner_numel(CgLlvm *cg, const IrType *t);
/* iterations(): the outermost output dim, one row per iteration. */
LLVMValueRef cg_iterations_outer(CgLlvm *cg, const IrOp *op);
/* Linear index into `in` (broadcast to `out`) of linear index idx of out. */
LLVMValueRef cg_broadcast_index(CgLlvm *cg, const IrType *out, const IrType *in, LLVMValueRef idx);

#endif
