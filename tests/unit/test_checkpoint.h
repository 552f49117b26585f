/* test_checkpoint.h: the tests' weight source for cg_pack_weights and
 * cgt_compile: each parameter's data straight from a loaded checkpoint
 * (FeWeights), looked up by name. The compiler's own source
 * (driver/compile_weights.c) adds dtype conversion and progress. */
#ifndef KILN_TEST_CHECKPOINT_H
#define KILN_TEST_CHECKPOINT_H

#include "cg_weights.h"
#include "fe.h"

static inline bool checkpoint_source(void *user, const IrValue *p, CgParamData *out, IrDiag *d) {
  const FeTensor *t = fe_weights_find(user, p->name);
  if (!t) return ir_error_at(d, p->name, "not in the checkpoint");
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  *out = (CgParamData){t->dtype, t->data, n};
  return true;
}

#endif
