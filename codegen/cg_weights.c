/* cg_weights.c: writing parameters into the weight blob at the plan's
 * offsets, converting them to their declared dtypes (cg_weights.h). */
#include <math.h>
#include <string.h>

#include "cg_weights.h"
#include "interp.h"
#include "kernel_plan.h"

/* ---- reading a source element ---- */

static uint64_t load_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* IEEE binary16 -> binary32, exactly. */
static float f16_to_f32(uint16_t h) {
  int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v = exp == 0    ? ldexpf((float)man, -24)
            : exp == 31 ? (man ? NAN : INFINITY)
                        : ldexpf((float)(man | 0x400), exp - 25);
  return h & 0x8000 ? -v : v;
}

static float load_float(const uint8_t *data, IrDType t, int64_t i) {
  switch (t) {
  case IR_F16: return f16_to_f32((uint16_t)load_le(data + 2 * i, 2));
  case IR_BF16: return f32_from_bits((uint32_t)load_le(data + 2 * i, 2) << 16);
  default: return f32_from_bits((uint32_t)load_le(data + 4 * i, 4));
  }
}

static int64_t sign_extend(uint64_t v, int bits) {
  uint64_t sign = (uint64_t)1 << (bits - 1), mask = bits == 64 ? ~(uint64_t)0 : (sign << 1) - 1;
  return (int64_t)((v & mask) ^ sign) - (int64_t)sign;
}

static int64_t load_int(const uint8_t *data, IrDType t, int64_t i) {
  if (t == IR_I4) return sign_extend(data[i / 2] >> (4 * (i % 2)), 4);
  int bytes = ir_dtype_bits(t) / 8;
  return sign_extend(load_le(data + bytes * i, bytes), 8 * bytes);
}

/* ---- writing a destination element ---- */

static void store_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t f32_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

/* binary16 bits of a value already rounded to binary16 (exact). */
static uint16_t f16_bits(float v) {
  uint16_t sign = (uint16_t)((f32_bits(v) >> 16) & 0x8000);
  float a = fabsf(v);
  if (isnan(v)) return sign | 0x7e00;
  if (isinf(a)) return sign | 0x7c00;
  if (a < ldexpf(1.0f, -14)) return sign | (uint16_t)ldexpf(a, 24); /* subnormal or zero */
  int e;
  float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  return sign | (uint16_t)((e + 14) << 10) | (uint16_t)((m * 2 - 1) * 1024);
}

static void store_float(uint8_t *blob, IrDType t, int64_t i, float v) {
  v = ir_round_to_dtype(v, t);
  switch (t) {
  case IR_F16: store_le(blob + 2 * i, f16_bits(v), 2); break;
  case IR_BF16: store_le(blob + 2 * i, f32_bits(v) >> 16, 2); break;
  default: store_le(blob + 4 * i, f32_bits(v), 4); break;
  }
}

static void store_int(uint8_t *blob, IrDType t, int64_t i, int64_t v) {
  if (t == IR_I4) {
    int shift = 4 * (int)(i % 2);
    blob[i / 2] = (uint8_t)((blob[i / 2] & ~(0xf << shift)) | ((v & 0xf) << shift));
    return;
  }
  store_le(blob + (ir_dtype_bits(t) / 8) * i, (uint64_t)v, ir_dtype_bits(t) / 8);
}

static bool int_fits(int64_t v, IrDType t) {
  int bits = ir_dtype_bits(t);
  return bits >= 64 || sign_extend((uint64_t)v, bits) == v;
}

/* ---- one parameter ---- */

/* Where row-major element i of p goes in its stored form: the same place,
 * or its place in the param's panel layout (ir_layout_offset). */
static int64_t stored_index(const IrValue *p, int64_t i) {
  if (p->layout.panel <= 0 || p->type.rank != 2) return i;
  int64_t cols = p->type.dims[1].c;
  return ir_layout_offset(&p->layout, &p->type, i / cols, i % cols);
}

/* Bytes of p's stored form, panel padding included. */
static uint64_t stored_bytes(const IrValue *p) {
  uint64_t n = (uint64_t)ir_layout_numel(&p->layout, &p->type);
  return (n * (uint64_t)ir_dtype_bits(p->type.dtype) + 7) / 8;
}

static bool param_numel(const IrValue *p, int64_t *n, IrDiag *d) {
  *n = 1;
  for (int i = 0; i < p->type.rank; i++) {
    if (!ir_dim_is_const(p->type.dims[i]))
      return ir_error_at(d, p->name, "param @%s has a symbolic shape; weights need constant dims",
                         p->name);
    *n *= p->type.dims[i].c;
  }
  return true;
}

static bool pack_inline(const IrValue *p, int64_t n, uint8_t *dst, IrDiag *d) {
  IrDType t = p->type.dtype;
  if (p->ninit != n)
    return ir_error_at(d, p->name, "param @%s has %lld initial values, expected %lld", p->name,
                       (long long)p->ninit, (long long)n);
  for (int64_t i = 0; i < n; i++) {
    double v = p->init[i];
    if (ir_dtype_is_float(t)) {
      store_float(dst, t, stored_index(p, i), (float)v);
      continue;
    }
    if (!(fabs(v) < 9.2e18) || v != trunc(v) || !int_fits((int64_t)v, t))
      return ir_error_at(d, p->name, "param @%s: initial value %g (element %lld) is not an %s",
                         p->name, v, (long long)i, ir_dtype_name(t));
    store_int(dst, t, stored_index(p, i), (int64_t)v);
  }
  return true;
}

static bool pack_source(const IrValue *p, int64_t n, const CgParamData *src, uint8_t *dst,
                        IrDiag *d) {
  IrDType t = p->type.dtype;
  if (src->count != n || (n > 0 && !src->data))
    return ir_error_at(d, p->name, "param @%s: the source has %lld values of %s, expected %lld",
                       p->name, (long long)src->count, ir_dtype_name(src->dtype), (long long)n);
  if (ir_dtype_is_float(t) != ir_dtype_is_float(src->dtype))
    return ir_error_at(d, p->name, "param @%s is %s but the source holds %s", p->name,
                       ir_dtype_name(t), ir_dtype_name(src->dtype));
  const uint8_t *data = src->data;
  for (int64_t i = 0; i < n; i++) {
    if (ir_dtype_is_float(t)) {
      store_float(dst, t, stored_index(p, i), load_float(data, src->dtype, i));
      continue;
    }
    int64_t v = load_int(data, src->dtype, i);
    if (!int_fits(v, t))
      return ir_error_at(d, p->name,
                         "param @%s: value %lld (element %lld) is outside the range of %s", p->name,
                         (long long)v, (long long)i, ir_dtype_name(t));
    store_int(dst, t, stored_index(p, i), v);
  }
  return true;
}

bool cg_pack_weights(const KernelPlan *plan, CgParamSource get, void *user, uint8_t *blob,
                     IrDiag *d) {
  const IrModule *m = plan->module;
  memset(blob, 0, plan->weights_bytes);
  for (int k = 0; k < m->nparams; k++) {
    const IrValue *p = m->params[k];
    const KBuffer *buf = kplan_buffer(plan, p);
    if (buf->kind != KBUF_WEIGHT) continue;
    int64_t n;
    if (!param_numel(p, &n, d)) return false;
    uint64_t stored = stored_bytes(p);
    if (buf->max_bytes < stored)
      return ir_error_at(d, p->name,
                         "param @%s: its stored form needs %llu bytes, the plan gives %llu", p->name,
                         (unsigned long long)stored, (unsigned long long)buf->max_bytes);
    if (buf->offset + stored > plan->weights_bytes)
      return ir_error_at(d, p->name, "param @%s lies outside the plan's %llu weight bytes", p->name,
                         (unsigned long long)plan->weights_bytes);
    uint8_t *dst = blob + buf->offset;
    if (p->init) {
      if (!pack_inline(p, n, dst, d)) return false;
      continue;
    }
    CgParamData src = {0};
    if (!get)
      return ir_error_at(d, p->name, "param @%s has no values (no initializer, no source)",
                         p->name);
    if (!get(user, p, &src, d) || !pack_source(p, n, &src, dst, d)) return false;
  }
  return true;
}
