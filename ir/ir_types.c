/* ir_types.c: dtypes, symbolic dims and tensor types. */
#include <string.h>

#include "ir.h"

static const struct {
  const char *name;
  int bits;
} dtypes[IR_DTYPE_COUNT] = {
    [IR_F32] = {"f32", 32}, [IR_F16] = {"f16", 16}, [IR_BF16] = {"bf16", 16},
    [IR_I32] = {"i32", 32}, [IR_I64] = {"i64", 64}, [IR_I8] = {"i8", 8},
    [IR_I4] = {"i4", 4},
};

const char *ir_dtype_name(IrDType t) { return (unsigned)t < IR_DTYPE_COUNT ? dtypes[t].name : "?"; }
int ir_dtype_bits(IrDType t) { return dtypes[t].bits; }
bool ir_dtype_is_float(IrDType t) { return t == IR_F32 || t == IR_F16 || t == IR_BF16; }
bool ir_dtype_is_int(IrDType t) { return t == IR_I32 || t == IR_I64 || t == IR_I8 || t == IR_I4; }

bool ir_dtype_from_name(const char *s, size_t n, IrDType *out) {
  for (int t = 0; t < IR_DTYPE_COUNT; t++) {
    if (strlen(dtypes[t].name) == n && memcmp(dtypes[t].name, s, n) == 0) {
      *out = (IrDType)t;
      return true;
    }
  }
  return false;
}

IrDim ir_dim_const(int64_t c) { return (IrDim){.c = c}; }

IrDim ir_dim_sym(int sym) {
  IrDim d = {0};
  d.k[sym] = 1;
  return d;
}

IrDim ir_dim_add(IrDim a, IrDim b) {
  a.c += b.c;
  for (int s = 0; s < IR_MAX_SYMS; s++) a.k[s] += b.k[s];
  return a;
}

IrDim ir_dim_sub(IrDim a, IrDim b) { return ir_dim_add(a, ir_dim_scale(b, -1)); }

IrDim ir_dim_scale(IrDim a, int64_t f) {
  a.c *= f;
  for (int s = 0; s < IR_MAX_SYMS; s++) a.k[s] *= f;
  return a;
}

bool ir_dim_eq(IrDim a, IrDim b) { return memcmp(&a, &b, sizeof a) == 0; }

bool ir_dim_is_const(IrDim a) {
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (a.k[s]) return false;
  return true;
}

int64_t ir_dim_eval(IrDim a, const int64_t *sym_values) {
  int64_t v = a.c;
  for (int s = 0; s < IR_MAX_SYMS; s++) v += a.k[s] * sym_values[s];
  return v;
}

int64_t ir_dim_max(IrDim a, const int64_t *sym_bounds) {
  int64_t v = a.c;
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (a.k[s] > 0) v += a.k[s] * sym_bounds[s];
  return v;
}

int64_t ir_dim_min(IrDim a, const int64_t *sym_bounds) {
  int64_t v = a.c;
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (a.k[s] < 0) v += a.k[s] * sym_bounds[s];
  return v;
}

bool ir_shape_eq(const IrType *a, const IrType *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (!ir_dim_eq(a->dims[i], b->dims[i])) return false;
  return true;
}

bool ir_type_eq(const IrType *a, const IrType *b) { return a->dtype == b->dtype && ir_shape_eq(a, b); }

int64_t ir_type_const_numel(const IrType *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (!ir_dim_is_const(t->dims[i])) return -1;
    n *= t->dims[i].c;
  }
  return n;
}
