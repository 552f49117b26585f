/* fe_weights.c: matching a checkpoint to a module's parameters, and
 * binding the weights to the interpreter.
 *
 * Every parameter must be in the checkpoint with its declared shape and
 * dtype. A checkpoint tensor that no parameter uses is an error too (it
 * usually means the config describes a different model), except for the
 * buffers Hugging Face checkpoints are known to carry: GPT-2's causal-mask
 * buffers (h.N.attn.bias, h.N.attn.masked_bias), rotary inv_freq and
 * position_ids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

enum { FE_MISSING_SHOWN = 4 };

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Buffers that checkpoints carry and no graph reads. */
static bool known_buffer(const char *name) {
  static const char *const suffixes[] = {".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq",
                                         "position_ids"};
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    const char *s = suffixes[i];
    /* "attn.bias" alone (no layer prefix) is a buffer too. */
    if (has_suffix(name, s) || (s[0] == '.' && strcmp(name, s + 1) == 0)) return true;
  }
  return false;
}

static bool needs_binding(const IrValue *p) { return p->init == NULL; }

/* The parameter's declared type as a safetensors description: "F32[64]". */
static const char *describe_param(const IrValue *p, char *buf, size_t n) {
  FeTensor t = {.dtype = p->type.dtype, .rank = p->type.rank};
  for (int i = 0; i < t.rank; i++) t.shape[i] = p->type.dims[i].c;
  return fe_tensor_describe(&t, buf, n);
}

/* "missing tensors: a, b, c, d (and 3 more)", listing parameters in the
 * module's order. */
static bool report_missing(const IrModule *m, const FeWeights *w, IrDiag *d) {
  int missing = 0;
  char list[512] = "";
  size_t len = 0;
  for (int i = 0; i < m->nparams; i++) {
    const IrValue *p = m->params[i];
    if (!needs_binding(p) || fe_weights_find(w, p->name)) continue;
    if (missing++ < FE_MISSING_SHOWN && len < sizeof list)
      len +=
          (size_t)snprintf(list + len, sizeof list - len, "%s%s", missing > 1 ? ", " : "", p->name);
  }
  if (missing == 0) return true;
  if (missing > FE_MISSING_SHOWN)
    return ir_error_at(d, fe_weights_name(w), "missing tensors: %s (and %d more)", list,
                       missing - FE_MISSING_SHOWN);
  return ir_error_at(d, fe_weights_name(w), "missing %s: %s", missing == 1 ? "tensor" : "tensors",
                     list);
}

static bool same_type(const IrValue *p, const FeTensor *t) {
  if (t->dtype != p->type.dtype || t->is_unsigned || t->rank != p->type.rank) return false;
  for (int i = 0; i < t->rank; i++)
    if (!ir_dim_is_const(p->type.dims[i]) || p->type.dims[i].c != t->shape[i]) return false;
  return true;
}

static bool check_types(const IrModule *m, const FeWeights *w, IrDiag *d) {
  for (int i = 0; i < m->nparams; i++) {
    const IrValue *p = m->params[i];
    const FeTensor *t = fe_weights_find(w, p->name);
    if (!needs_binding(p) || !t || same_type(p, t)) continue;
    char found[160], want[160];
    return ir_error_at(d, t->file, "tensor '%s' is %s, expected %s", t->name,
                       fe_tensor_describe(t, found, sizeof found),
                       describe_param(p, want, sizeof want));
  }
  return true;
}

static bool check_unexpected(const IrModule *m, const FeWeights *w, IrDiag *d) {
  for (int i = 0; i < fe_weights_count(w); i++) {
    const FeTensor *t = fe_weights_at(w, i);
    const IrValue *p = ir_module_find_global(m, t->name, strlen(t->name));
    if ((p && p->kind == IR_VAL_PARAM) || known_buffer(t->name)) continue;
    return ir_error_at(d, t->file, "unexpected tensor '%s' not used by the @%s graph", t->name,
                       m->name);
  }
  return true;
}

bool fe_check_weights(const IrModule *m, const FeWeights *w, IrDiag *d) {
  return report_missing(m, w, d) && check_types(m, w, d) && check_unexpected(m, w, d);
}

/* ---- conversion ------------------------------------------------------ */

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* IEEE binary16 -> binary32, exactly (subnormals, infinities, NaN). */
static float half_to_float(uint16_t h) {
  int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0)
    v = ldexpf((float)man, -24);
  else if (exp == 31)
    v = man ? NAN : INFINITY;
  else
    v = ldexpf((float)(man | 0x400), exp - 25);
  return h & 0x8000 ? -v : v;
}

static float load_float(const unsigned char *p, IrDType dt) {
  switch (dt) {
  case IR_F16: return half_to_float((uint16_t)(p[0] | p[1] << 8));
  case IR_BF16: return bits_to_float((uint32_t)(p[0] | p[1] << 8) << 16);
  default: return bits_to_float(le32(p));
  }
}

static int64_t load_int(const unsigned char *p, IrDType dt) {
  switch (dt) {
  case IR_I8: return (int8_t)p[0];
  case IR_I32: return (int32_t)le32(p);
  default: return (int64_t)((uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32);
  }
}

/* The checkpoint tensor as an interpreter tensor of the same dtype (float
 * values widened to f32 exactly). Little-endian on any host. */
static IrTensor to_ir_tensor(const FeTensor *t) {
  IrTensor x = ir_tensor_new(t->dtype, t->rank, t->shape);
  int64_t n = ir_tensor_numel(&x);
  int bytes = ir_dtype_bits(t->dtype) / 8;
  const unsigned char *p = t->data;
  for (int64_t i = 0; i < n; i++, p += bytes) {
    if (x.f)
      x.f[i] = load_float(p, t->dtype);
    else
      x.i[i] = load_int(p, t->dtype);
  }
  return x;
}

bool fe_bind_weights(IrInterp *it, const IrModule *m, const FeWeights *w, IrDiag *d) {
  if (!fe_check_weights(m, w, d)) return false;
  for (int i = 0; i < m->nparams; i++) {
    const IrValue *p = m->params[i];
    if (!needs_binding(p)) continue;
    IrTensor x = to_ir_tensor(fe_weights_find(w, p->name));
    bool ok = ir_interp_bind_param(it, p->name, &x, d);
    ir_tensor_free(&x);
    if (!ok) return false;
  }
  return true;
}
