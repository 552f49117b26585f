/* interp_tensor.c: concrete tensors, rounding to a dtype, int wrap-around. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) abort(); /* out of memory */
  return p;
}

int64_t ir_tensor_numel(const IrTensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}

IrTensor ir_tensor_new(IrDType dtype, int rank, const int64_t *shape) {
  IrTensor t = {.dtype = dtype, .rank = rank};
  for (int i = 0; i < rank; i++) t.shape[i] = shape[i];
  size_t n = (size_t)ir_tensor_numel(&t);
  if (ir_dtype_is_float(dtype))
    t.f = xcalloc(n, sizeof(float));
  else
    t.i = xcalloc(n, sizeof(int64_t));
  return t;
}

void ir_tensor_free(IrTensor *t) {
  if (!t) return;
  free(t->f);
  free(t->i);
  t->f = NULL;
  t->i = NULL;
}

void ir_tensors_free(IrTensor *ts, int n) {
  if (!ts) return;
  for (int k = 0; k < n; k++) ir_tensor_free(&ts[k]);
  free(ts);
}

IrTensor ir_interp_tensor_copy(const IrTensor *t) {
  IrTensor c = ir_tensor_new(t->dtype, t->rank, t->shape);
  size_t n = (size_t)ir_tensor_numel(t);
  if (c.f && t->f) memcpy(c.f, t->f, n * sizeof(float));
  if (c.i && t->i) memcpy(c.i, t->i, n * sizeof(int64_t));
  return c;
}

/* bf16 keeps the top 16 bits of an f32. Adding 0x7fff plus the lowest kept
 * bit rounds to nearest even; a carry out of the mantissa bumps the
 * exponent, and past the largest finite value it lands exactly on inf.
 * f32 subnormals round the same way, since bf16 shares f32's exponent. */
static float round_bf16(float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  if (isnan(v))
    u = (u | 0x00400000u) & 0xffff0000u; /* stay a (quiet) NaN */
  else
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* f16 has 10 mantissa bits and normal exponents down to -14; below 2^-14
 * the spacing stays 2^-24 (subnormals). Scaling by the spacing is exact,
 * so nearbyintf (round to nearest even) does the rounding. The largest
 * finite value is 65504; 65520 is halfway to 65536 and rounds (to even)
 * up, so from 65520 on the result is inf. */
static float round_f16(float v) {
  if (isnan(v) || isinf(v)) return v;
  float a = fabsf(v);
  if (a >= 65520.0f) return copysignf(INFINITY, v);
  int e;
  frexpf(a, &e); /* a in [2^(e-1), 2^e) */
  int lead = e - 1;
  if (lead < -14) lead = -14;
  float spacing = ldexpf(1.0f, lead - 10);
  return copysignf(nearbyintf(a / spacing) * spacing, v);
}

float ir_round_to_dtype(float v, IrDType t) {
  switch (t) {
  case IR_BF16: return round_bf16(v);
  case IR_F16: return round_f16(v);
  default: return v;
  }
}

int64_t ir_interp_wrap(int64_t v, IrDType t) {
  int bits = t == IR_I64 ? 64 : ir_dtype_bits(t);
  if (bits >= 64) return v;
  uint64_t mask = (UINT64_C(1) << bits) - 1, sign = UINT64_C(1) << (bits - 1);
  /* Sign-extend the low `bits` bits without implementation-defined casts. */
  return (int64_t)(((uint64_t)v & mask) ^ sign) - (int64_t)sign;
}

int64_t ir_interp_float_to_int(double v, IrDType t) {
  if (isnan(v)) return 0;
  v = trunc(v);
  int64_t i;
  if (v >= 9223372036854775807.0)
    i = INT64_MAX;
  else if (v <= -9223372036854775808.0)
    i = INT64_MIN;
  else
    i = (int64_t)v;
  return ir_interp_wrap(i, t);
}

void ir_interp_round_tensor(IrTensor *t) {
  int64_t n = ir_tensor_numel(t);
  if (t->f && t->dtype != IR_F32)
    for (int64_t k = 0; k < n; k++) t->f[k] = ir_round_to_dtype(t->f[k], t->dtype);
  if (t->i && t->dtype != IR_I64)
    for (int64_t k = 0; k < n; k++) t->i[k] = ir_interp_wrap(t->i[k], t->dtype);
}

const char *ir_interp_shape_str(const int64_t *shape, int rank, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < rank && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (len < n) snprintf(buf + len, n - len, "]");
  return buf;
}

const char *ir_interp_value_ref(const IrValue *v, char *buf, size_t n) {
  bool global = v->kind == IR_VAL_PARAM || v->kind == IR_VAL_STATE;
  snprintf(buf, n, "%c%s", global ? '@' : '%', v->name ? v->name : "?");
  return buf;
}
