/* compile_weights.c: checkpoint tensors into the weight blob (through
 * codegen's cg_pack_weights), and the NAME.kw header. */
#include "compile_weights.h"

#include <string.h>

#include "kernel_plan.h"
#include "kiln_abi.h"

static void store_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void cw_header(uint8_t out[64], uint64_t model_hash, uint64_t data_bytes, uint64_t checksum) {
  memset(out, 0, KILN_WEIGHTS_HEADER_BYTES);
  memcpy(out, KILN_WEIGHTS_MAGIC, 8);
  store_le(out + 8, KILN_WEIGHTS_VERSION, 4);
  store_le(out + 16, model_hash, 8);
  store_le(out + 24, data_bytes, 8);
  store_le(out + 32, checksum, 8);
}

#if KILN_HAVE_LLVM

#include "cg_weights.h"

typedef struct {
  const KernelPlan *plan;
  const FeWeights *w;
  CwProgressFn progress;
  void *user;
  uint64_t done; /* bytes of the parameters handed over so far */
} CwSource;

/* A parameter's values: its checkpoint tensor, as stored. */
static bool from_checkpoint(void *user, const IrValue *p, CgParamData *out, IrDiag *d) {
  CwSource *s = user;
  const FeTensor *t = s->w ? fe_weights_find(s->w, p->name) : NULL;
  if (!s->w)
    return ir_error(d, p->loc, "parameter @%s has no inline values; compile a model directory to "
                               "bind it from a checkpoint", p->name);
  if (!t) return ir_error_at(d, fe_weights_name(s->w), "missing tensor: %s", p->name);
  if (t->is_unsigned)
    return ir_error_at(d, t->file, "tensor '%s' is U8; kiln reads signed integers", t->name);
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  *out = (CgParamData){t->dtype, t->data, n};
  s->done += kplan_buffer(s->plan, p)->max_bytes;
  if (s->progress) s->progress(s->user, s->done);
  return true;
}

bool cw_pack(const KernelPlan *plan, const FeWeights *w, uint8_t *data, CwProgressFn progress,
             void *user, IrDiag *d) {
  CwSource s = {plan, w, progress, user, 0};
  if (!cg_pack_weights(plan, from_checkpoint, &s, data, d)) return false;
  if (progress) progress(user, plan->weights_bytes);
  return true;
}

#endif
