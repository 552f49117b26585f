/* cg_llvm_ops_nn.c: Transformer ops: embedding, matmul, norms, rope,
 * softmax, attention, reductions. */
#include "cg_llvm_ops.h"

const CgOpEmitter *const cg_nn_emitters[] = {NULL};
