/* ir_verify_layout.c: the verifier's rules for weight layouts (IrLayout).
 *
 * A layout is storage only (docs/ir.md, "Weight layouts"), so the rules
 * are about what can be stored that way: a 2-D param with constant dims,
 * (inline values are logical and packed when the blob is written), not i4 (two elements a
 * byte have no element offset), axis 0 or 1, width >= 1, and a padded
 * size that stays within int64.
 */
#include "ir.h"

bool ir_verify_layout(const IrModule *m, const IrValue *g, IrDiag *d) {
  const IrLayout *l = &g->layout;
  if (l->panel == 0 && l->axis == 0) return true;
  const char *what = g->kind == IR_VAL_PARAM ? "param" : "state";
  const char *name = g->name ? g->name : "<null>";
  if (g->kind != IR_VAL_PARAM)
    return ir_error(d, g->loc, "%s @%s has a layout; only params have one", what, name);
  if (l->panel < 1)
    return ir_error(d, g->loc, "param @%s: layout width %d, expected a width >= 1", name,
                    l->panel);
  if (l->axis != 0 && l->axis != 1)
    return ir_error(d, g->loc, "param @%s: layout axis %d, expected 0 or 1", name, l->axis);
  if (g->type.rank != 2)
    return ir_error(d, g->loc, "param @%s has type %s; a layout needs a 2-D param", name,
                    ir_type_text(m, &g->type).s);
  if (g->type.dtype == IR_I4)
    return ir_error(d, g->loc, "param @%s has type %s; i4 params cannot have a layout", name,
                    ir_type_text(m, &g->type).s);
  int64_t along = g->type.dims[l->axis].c, other = g->type.dims[1 - l->axis].c, padded;
  int64_t panels = along / l->panel + (along % l->panel != 0);
  if (__builtin_mul_overflow(panels, (int64_t)l->panel, &padded) ||
      __builtin_mul_overflow(padded, other, &padded) || padded > (INT64_C(1) << 60))
    return ir_error(d, g->loc, "param @%s: layout width %d pads %s beyond 2^60 elements", name,
                    l->panel, ir_type_text(m, &g->type).s);
  return true;
}
