/* cg_weights.h: the weight blob's data area, laid out as a KernelPlan says.
 *
 * Every parameter placed in the weight blob (KBUF_WEIGHT) is written at
 * its buffer's offset, in its declared dtype, little-endian (i4: two a
 * byte, low nibble first), row-major or, for a param with a layout, in
 * panels (IrLayout, ir_layout_offset; panel padding is zero); the bytes
 * between parameters are zero, so the same weights always give the same
 * blob. Codegen knows
 * nothing of checkpoints: the caller hands over each parameter's values
 * through a callback.
 *
 *   static bool from_checkpoint(void *user, const IrValue *p, CgParamData *out, IrDiag *d) {
 *     const FeTensor *t = fe_weights_find(user, p->name);
 *     if (!t) return ir_error_at(d, p->name, "no such tensor");
 *     *out = (CgParamData){t->dtype, t->data, numel(t)};
 *     return true;
 *   }
 *   uint8_t *blob = aligned_alloc(64, round_up(plan->weights_bytes, 64));
 *   if (!cg_pack_weights(plan, from_checkpoint, weights, blob, &d)) ...
 */
#ifndef KILN_CG_WEIGHTS_H
#define KILN_CG_WEIGHTS_H

#include "kernel.h"

/* The values of one parameter: `count` elements of `dtype`, row-major,
 * little-endian (i4 packed two a byte). Not copied; only read during the
 * call to cg_pack_weights. */
typedef struct {
  IrDType dtype;
  const void *data;
  int64_t count;
} CgParamData;

/* Fills *out for a parameter without an inline initializer, or returns
 * false with an error in d. */
typedef bool (*CgParamSource)(void *user, const IrValue *param, CgParamData *out, IrDiag *d);

/* Writes the data area, plan->weights_bytes bytes at `blob`. Inline
 * initializers are used where the module has them; `get` (may be NULL
 * when every parameter has one) supplies the rest. Values convert to the
 * declared dtype: float to float rounds to nearest even (as the
 * interpreter binds them), int to int must fit; float and int do not mix.
 * Errors name the parameter: "param @w: the source has 6 values of f32,
 * expected 8". */
bool cg_pack_weights(const KernelPlan *plan, CgParamSource get, void *user, uint8_t *blob,
                     IrDiag *d);

#endif
