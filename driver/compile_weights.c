/* compile_weights.c: parameters into the weight blob, with dtype
 * conversion, and the NAME.kw header. */
#include "compile_weights.h"

#include <math.h>
#include <string.h>

#include "../runtime/kiln_abi.h"
#include "kernel_plan.h"

/* ---- dtype conversion ------------------------------------------------- */

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

uint16_t cw_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if (isnan(f)) return (uint16_t)((u >> 16) | 0x40); /* keep it a (quiet) NaN */
  u += 0x7fff + ((u >> 16) & 1);                      /* round to nearest even */
  return (uint16_t)(u >> 16);
}

uint16_t cw_f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  float a = fabsf(f);
  if (isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0f) return sign | 0x7c00; /* rounds past the largest half: inf */
  if (a < 6.103515625e-05f) {              /* subnormal half: multiples of 2^-24 */
    float q = nearbyintf(a * 16777216.0f); /* default rounding: to nearest even */
    return sign | (uint16_t)q;
  }
  uint32_t au = f32_bits(a);
  uint32_t mant = au & 0x7fffff, exp = (au >> 23) - 127 + 15;
  uint32_t h = exp << 10 | mant >> 13, rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* may carry into the exponent */
  return sign | (uint16_t)h;
}

static float f16_to_f32(uint16_t h) {
  int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v = exp == 0 ? ldexpf((float)man, -24)
            : exp == 31 ? (man ? NAN : INFINITY)
                        : ldexpf((float)(man | 0x400), exp - 25);
  return h & 0x8000 ? -v : v;
}

static uint64_t load_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void store_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Element i of a checkpoint tensor, as f32 (float dtypes). */
static float tensor_float(const FeTensor *t, int64_t i) {
  const uint8_t *p = t->data;
  switch (t->dtype) {
  case IR_F16: return f16_to_f32((uint16_t)load_le(p + 2 * i, 2));
  case IR_BF16: return bits_f32((uint32_t)load_le(p + 2 * i, 2) << 16);
  default: return bits_f32((uint32_t)load_le(p + 4 * i, 4));
  }
}

/* Element i of a checkpoint tensor, as an integer (int dtypes). */
static int64_t tensor_int(const FeTensor *t, int64_t i) {
  const uint8_t *p = t->data;
  switch (t->dtype) {
  case IR_I8: return t->is_unsigned ? (int64_t)p[i] : (int64_t)(int8_t)p[i];
  case IR_I32: return (int32_t)load_le(p + 4 * i, 4);
  case IR_I64: return (int64_t)load_le(p + 8 * i, 8);
  default: return 0;
  }
}

/* Stores element i of dtype dt: x for float dtypes, n for int dtypes. */
static void store_elem(uint8_t *dst, IrDType dt, int64_t i, float x, int64_t n) {
  switch (dt) {
  case IR_F32: store_le(dst + 4 * i, f32_bits(x), 4); break;
  case IR_F16: store_le(dst + 2 * i, cw_f32_to_f16(x), 2); break;
  case IR_BF16: store_le(dst + 2 * i, cw_f32_to_bf16(x), 2); break;
  case IR_I32: store_le(dst + 4 * i, (uint64_t)n, 4); break;
  case IR_I64: store_le(dst + 8 * i, (uint64_t)n, 8); break;
  case IR_I8: dst[i] = (uint8_t)n; break;
  case IR_I4: /* two a byte, low nibble first; dst starts zeroed */
    dst[i / 2] |= (uint8_t)((n & 0xf) << (i % 2 ? 4 : 0));
    break;
  default: break;
  }
}

/* ---- packing ------------------------------------------------------------ */

static bool host_little_endian(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

static int64_t param_numel(const IrValue *p) {
  int64_t n = ir_type_const_numel(&p->type);
  return n < 0 ? 0 : n;
}

/* "f32[4, 4]" */
static const char *describe(const IrModule *m, const IrType *t, IrBuf *b) {
  ir_print_type(b, m, t);
  return b->data ? b->data : "";
}

static bool pack_inline(const IrValue *p, uint8_t *dst) {
  bool is_float = ir_dtype_is_float(p->type.dtype);
  for (int64_t i = 0; i < p->ninit; i++)
    store_elem(dst, p->type.dtype, i, (float)p->init[i], is_float ? 0 : (int64_t)p->init[i]);
  return true;
}

static bool pack_tensor(const IrModule *m, const IrValue *p, const FeTensor *t, uint8_t *dst,
                        IrDiag *d) {
  int64_t n = param_numel(p), tn = 1;
  for (int i = 0; i < t->rank; i++) tn *= t->shape[i];
  IrBuf b = {0};
  bool ok = true;
  if (tn != n) {
    ok = ir_error_at(d, t->file, "tensor '%s' holds %lld elements; parameter @%s : %s needs %lld",
                     t->name, (long long)tn, p->name, describe(m, &p->type, &b), (long long)n);
  } else if (ir_dtype_is_float(t->dtype) != ir_dtype_is_float(p->type.dtype)) {
    char found[160];
    ok = ir_error_at(d, t->file, "tensor '%s' is %s; parameter @%s : %s cannot be converted from it",
                     t->name, fe_tensor_describe(t, found, sizeof found), p->name,
                     describe(m, &p->type, &b));
  }
  ir_buf_free(&b);
  if (!ok) return false;
  if (t->dtype == p->type.dtype && !t->is_unsigned && host_little_endian()) {
    memcpy(dst, t->data, t->nbytes); /* safetensors is little-endian, as is the blob */
    return true;
  }
  bool is_float = ir_dtype_is_float(p->type.dtype);
  for (int64_t i = 0; i < n; i++)
    store_elem(dst, p->type.dtype, i, is_float ? tensor_float(t, i) : 0,
               is_float ? 0 : tensor_int(t, i));
  return true;
}

static bool pack_param(const KernelPlan *plan, const FeWeights *w, const IrValue *p, uint8_t *data,
                       IrDiag *d) {
  const KBuffer *buf = kplan_buffer(plan, p);
  if (buf->kind != KBUF_WEIGHT) return true;
  uint8_t *dst = data + buf->offset;
  if (p->init) return pack_inline(p, dst);
  const FeTensor *t = w ? fe_weights_find(w, p->name) : NULL;
  if (!t && w) return ir_error_at(d, fe_weights_name(w), "missing tensor: %s", p->name);
  if (!t)
    return ir_error(d, p->loc, "parameter @%s has no inline values; compile a model directory "
                               "to bind it from a checkpoint", p->name);
  return pack_tensor(plan->module, p, t, dst, d);
}

bool cw_pack(const KernelPlan *plan, const FeWeights *w, uint8_t *data, CwProgressFn progress,
             void *user, IrDiag *d) {
  const IrModule *m = plan->module;
  uint64_t done = 0;
  for (int i = 0; i < m->nparams; i++) {
    if (!pack_param(plan, w, m->params[i], data, d)) return false;
    done += kplan_buffer(plan, m->params[i])->max_bytes;
    if (progress) progress(user, done);
  }
  return true;
}

void cw_header(uint8_t out[64], uint64_t model_hash, uint64_t data_bytes, uint64_t checksum) {
  memset(out, 0, KILN_WEIGHTS_HEADER_BYTES);
  memcpy(out, KILN_WEIGHTS_MAGIC, 8);
  store_le(out + 8, KILN_ABI_VERSION, 4);
  store_le(out + 16, model_hash, 8);
  store_le(out + 24, data_bytes, 8);
  store_le(out + 32, checksum, 8);
}
