/* pass_dce.c: dead code elimination.
 *
 * Removes every op none of whose results is used, except kv_write (its
 * effect is the point). kv_read goes when its result is unused: reading
 * has no effect of its own. One backward sweep with use counts removes
 * whole dead chains, since an op's users all come after it.
 *
 *   %a = exp(%x) : f32[4]
 *   %b = neg(%a) : f32[4]      ->   (both gone)
 *   return %x                       return %x
 */
#include <stdlib.h>

#include "pass.h"

static intptr_t uses_of(const PassMap *uses, const IrValue *v) {
  intptr_t n = 0;
  pass_map_get(uses, v, &n);
  return n;
}

static void count_uses(const IrFunc *f, PassMap *uses) {
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nin; j++)
      pass_map_put(uses, f->ops[i]->in[j], uses_of(uses, f->ops[i]->in[j]) + 1);
  for (int i = 0; i < f->nresults; i++)
    if (f->results[i]) pass_map_put(uses, f->results[i], uses_of(uses, f->results[i]) + 1);
}

static bool is_dead(const IrOp *op, const PassMap *uses) {
  if (op->kind == IR_OP_KV_WRITE || op->nout == 0) return false;
  for (int j = 0; j < op->nout; j++)
    if (uses_of(uses, op->out[j]) > 0) return false;
  return true;
}

static int dce_func(IrFunc *f) {
  PassMap uses = {0};
  count_uses(f, &uses);
  bool *dead = pass_calloc((size_t)f->nops, sizeof *dead);
  int n = 0;
  for (int i = f->nops - 1; i >= 0; i--) {
    IrOp *op = f->ops[i];
    if (!is_dead(op, &uses)) continue;
    dead[i] = true;
    n++;
    for (int j = 0; j < op->nin; j++) pass_map_put(&uses, op->in[j], uses_of(&uses, op->in[j]) - 1);
  }
  pass_remove_ops(f, dead);
  free(dead);
  pass_map_free(&uses);
  return n;
}

bool pass_dce(IrModule *m, PassContext *ctx, IrDiag *d) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++) n += dce_func(m->funcs[i]);
  if (n) pass_count(ctx, "removed", n);
  return n > 0;
}
