/* cg_llvm_ops_data.c: sources and data movement: const, iota,
 * causal_mask, reshape, transpose, slice, concat, topk, scatter, kv ops. */
#include "cg_llvm_ops.h"

const CgOpEmitter *const cg_data_emitters[] = {NULL};
