/* ir_layout.c: where an element of a packed param lives (IrLayout). */
#include "ir.h"

int64_t ir_layout_offset(const IrLayout *l, const IrType *t, int64_t r, int64_t c) {
  int64_t rows = t->dims[0].c, cols = t->dims[1].c;
  if (l->panel <= 0) return r * cols + c;
  int64_t w = l->panel;
  if (l->axis == 0) return (r / w) * cols * w + c * w + r % w;
  return (c / w) * rows * w + r * w + c % w;
}

int64_t ir_layout_numel(const IrLayout *l, const IrType *t) {
  if (l->panel <= 0 || t->rank != 2) return ir_type_const_numel(t);
  int64_t w = l->panel, along = t->dims[l->axis].c, other = t->dims[1 - l->axis].c;
  return (along + w - 1) / w * w * other;
}
