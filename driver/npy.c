/* npy.c: NumPy .npy files to and from IrTensor.
 *
 * The format: "\x93NUMPY", a major and minor version byte, the header
 * length (u16 in 1.0, u32 in 2.0 and 3.0), then a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline to a multiple of 64 bytes, then the
 * raw little-endian elements in row-major order.
 */
#include "npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The element types we read: descr, size in bytes, float or int. */
typedef enum { EL_F4, EL_F8, EL_F2, EL_U2_BF16, EL_I4, EL_I8, EL_I1 } ElemKind;

static const struct {
  const char *descr;
  int size;
  bool is_float;
} elems[] = {
    [EL_F4] = {"<f4", 4, true}, [EL_F8] = {"<f8", 8, true},  [EL_F2] = {"<f2", 2, true},
    [EL_U2_BF16] = {"<u2", 2, true}, [EL_I4] = {"<i4", 4, false}, [EL_I8] = {"<i8", 8, false},
    [EL_I1] = {"|i1", 1, false},
};

enum { NELEMS = sizeof elems / sizeof elems[0] };

/* ---- f16 bits ---- */

static float half_to_float(uint16_t h) {
  int exp = (h >> 10) & 31, man = h & 1023;
  float v = exp == 0    ? ldexpf((float)man, -24)
            : exp == 31 ? (man ? NAN : INFINITY)
                        : ldexpf((float)(man | 1024), exp - 25);
  return (h & 0x8000) ? -v : v;
}

/* f rounded to f16 (nearest even, like the interpreter), as f16 bits. */
static uint16_t float_to_half(float f) {
  f = ir_round_to_dtype(f, IR_F16);
  uint16_t sign = signbit(f) ? 0x8000 : 0;
  float a = fabsf(f);
  if (isnan(a)) return sign | 0x7e00;
  if (isinf(a)) return sign | 0x7c00;
  if (a == 0) return sign;
  int e;
  frexpf(a, &e); /* a in [2^(e-1), 2^e) */
  int lead = e - 1;
  if (lead < -14) return sign | (uint16_t)ldexpf(a, 24); /* subnormal: a / 2^-24 */
  return sign | (uint16_t)((lead + 15) << 10) | (uint16_t)(ldexpf(a, 10 - lead) - 1024);
}

/* ---- reading the header ---- */

/* The text after `'key':` in the header dict, or NULL. */
static const char *find_key(const char *hdr, const char *key) {
  char pat[32];
  snprintf(pat, sizeof pat, "'%s'", key);
  const char *p = strstr(hdr, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

typedef struct {
  ElemKind elem;
  int rank;
  int64_t shape[IR_MAX_RANK];
} NpyHeader;

static bool parse_descr(const char *path, const char *hdr, NpyHeader *h, IrDiag *d) {
  const char *p = find_key(hdr, "descr");
  if (!p || (*p != '\'' && *p != '"')) return ir_error_at(d, path, "npy header has no 'descr'");
  const char *end = strchr(p + 1, *p);
  if (!end) return ir_error_at(d, path, "npy header has an unterminated 'descr'");
  int n = (int)(end - p - 1);
  for (int i = 0; i < NELEMS; i++) {
    if ((int)strlen(elems[i].descr) == n && memcmp(elems[i].descr, p + 1, (size_t)n) == 0) {
      h->elem = (ElemKind)i;
      return true;
    }
  }
  return ir_error_at(d, path,
                     "unsupported element type '%.*s'; expected one of <f4, <f8, <f2, <i4, <i8, "
                     "|i1, or <u2 for bf16 (little-endian only)",
                     n, p + 1);
}

static bool parse_shape(const char *path, const char *hdr, NpyHeader *h, IrDiag *d) {
  const char *fo = find_key(hdr, "fortran_order");
  if (!fo) return ir_error_at(d, path, "npy header has no 'fortran_order'");
  if (strncmp(fo, "False", 5) != 0)
    return ir_error_at(d, path, "Fortran-order arrays are not supported; save in C order");
  const char *p = find_key(hdr, "shape");
  if (!p || *p != '(') return ir_error_at(d, path, "npy header has no 'shape' tuple");
  h->rank = 0;
  for (p++;;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') return true;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0) return ir_error_at(d, path, "bad 'shape' in npy header");
    if (h->rank == IR_MAX_RANK)
      return ir_error_at(d, path, "array has more than %d dims", IR_MAX_RANK);
    h->shape[h->rank++] = v;
    p = end;
  }
}

/* Checks the magic and version; sets *data to the first element. */
static bool parse_header(const char *path, const unsigned char *b, size_t len, NpyHeader *h,
                         size_t *data, IrDiag *d) {
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
    return ir_error_at(d, path, "not a .npy file (no \\x93NUMPY magic)");
  int major = b[6];
  size_t hlen, start;
  if (major == 1) {
    hlen = b[8] | (size_t)b[9] << 8;
    start = 10;
  } else if ((major == 2 || major == 3) && len >= 12) {
    hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    start = 12;
  } else {
    return ir_error_at(d, path, "unsupported .npy version %d.%d; expected 1.0, 2.0 or 3.0", major,
                       b[7]);
  }
  if (hlen > len - start) return ir_error_at(d, path, "truncated .npy header");
  char *hdr = malloc(hlen + 1);
  if (!hdr) abort(); /* out of memory */
  memcpy(hdr, b + start, hlen);
  hdr[hlen] = '\0';
  bool ok = parse_descr(path, hdr, h, d) && parse_shape(path, hdr, h, d);
  free(hdr);
  *data = start + hlen;
  return ok;
}

/* ---- elements ---- */

static float read_float(ElemKind k, const unsigned char *p) {
  switch (k) {
  case EL_F8: {
    double v;
    memcpy(&v, p, 8);
    return (float)v;
  }
  case EL_F2: return half_to_float((uint16_t)(p[0] | p[1] << 8));
  case EL_U2_BF16: {
    uint32_t bits = (uint32_t)(p[0] | p[1] << 8) << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
  }
  default: {
    float v;
    memcpy(&v, p, 4);
    return v;
  }
  }
}

static int64_t read_int(ElemKind k, const unsigned char *p) {
  switch (k) {
  case EL_I1: return (int8_t)p[0];
  case EL_I4: {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  default: {
    int64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  }
}

static bool fits(int64_t v, IrDType t) {
  switch (t) {
  case IR_I32: return v >= INT32_MIN && v <= INT32_MAX;
  case IR_I8: return v >= -128 && v <= 127;
  case IR_I4: return v >= -8 && v <= 7;
  default: return true;
  }
}

/* Checks that the file's element type suits `want`. */
static bool check_kind(const char *path, ElemKind k, IrDType want, IrDiag *d) {
  if (k == EL_U2_BF16 && want != IR_BF16)
    return ir_error_at(d, path, "'<u2' data is read only as bf16 bits, not as %s",
                       ir_dtype_name(want));
  if (elems[k].is_float != ir_dtype_is_float(want))
    return ir_error_at(d, path, "expected %s data for %s, found '%s'",
                       ir_dtype_is_float(want) ? "float" : "integer", ir_dtype_name(want),
                       elems[k].descr);
  return true;
}

static bool fill(const char *path, const NpyHeader *h, const unsigned char *p, IrTensor *t,
                 IrDiag *d) {
  int64_t n = ir_tensor_numel(t);
  int size = elems[h->elem].size;
  for (int64_t e = 0; e < n; e++, p += size) {
    if (t->f) {
      t->f[e] = ir_round_to_dtype(read_float(h->elem, p), t->dtype);
      continue;
    }
    t->i[e] = read_int(h->elem, p);
    if (!fits(t->i[e], t->dtype))
      return ir_error_at(d, path, "element %lld is %lld, which does not fit %s", (long long)e,
                         (long long)t->i[e], ir_dtype_name(t->dtype));
  }
  return true;
}

bool npy_load(const char *path, IrDType want, IrTensor *out, IrDiag *d) {
  size_t len;
  unsigned char *b = (unsigned char *)cli_read_file(path, &len, d);
  if (!b) return false;
  NpyHeader h = {0};
  size_t data = 0;
  bool ok = parse_header(path, b, len, &h, &data, d) && check_kind(path, h.elem, want, d);
  if (ok) {
    *out = ir_tensor_new(want, h.rank, h.shape);
    uint64_t need = (uint64_t)ir_tensor_numel(out) * (uint64_t)elems[h.elem].size;
    if (need > len - data)
      ok = ir_error_at(d, path, "truncated data: the shape needs %llu bytes, the file has %llu",
                       (unsigned long long)need, (unsigned long long)(len - data));
    ok = ok && fill(path, &h, b + data, out, d);
    if (!ok) ir_tensor_free(out);
  }
  free(b);
  return ok;
}

/* ---- writing ---- */

/* The descr and element size a dtype is written with. */
static const char *out_descr(IrDType t, int *size) {
  switch (t) {
  case IR_F16: *size = 2; return "<f2";
  case IR_I32: *size = 4; return "<i4";
  case IR_I64: *size = 8; return "<i8";
  case IR_I8:
  case IR_I4: *size = 1; return "|i1";
  default: *size = 4; return "<f4"; /* f32, and bf16 (exact in f32) */
  }
}

static void write_elem(unsigned char *p, const IrTensor *t, int64_t e) {
  switch (t->dtype) {
  case IR_F16: {
    uint16_t h = float_to_half(t->f[e]);
    p[0] = (unsigned char)h;
    p[1] = (unsigned char)(h >> 8);
    return;
  }
  case IR_I32: {
    int32_t v = (int32_t)t->i[e];
    memcpy(p, &v, 4);
    return;
  }
  case IR_I64: memcpy(p, &t->i[e], 8); return;
  case IR_I8:
  case IR_I4: p[0] = (unsigned char)(int8_t)t->i[e]; return;
  default: memcpy(p, &t->f[e], 4); return;
  }
}

/* "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" padded
 * with spaces and '\n' so the data starts at a multiple of 64. */
static size_t format_header(char *buf, size_t cap, const IrTensor *t, const char *descr) {
  char shape[IR_MAX_RANK * 24 + 4] = "";
  size_t n = 0;
  for (int i = 0; i < t->rank; i++)
    n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%lld", i ? ", " : "",
                          (long long)t->shape[i]);
  if (t->rank == 1) snprintf(shape + n, sizeof shape - n, ",");
  int len = snprintf(buf + 10, cap - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr, shape);
  size_t total = 10 + (size_t)len + 1;
  total = (total + 63) / 64 * 64;
  memset(buf + 10 + len, ' ', total - 10 - (size_t)len - 1);
  buf[total - 1] = '\n';
  size_t hlen = total - 10;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (char)(hlen & 0xff);
  buf[9] = (char)(hlen >> 8);
  return total;
}

bool npy_save(const char *path, const IrTensor *t, IrDiag *d) {
  int size;
  const char *descr = out_descr(t->dtype, &size);
  int64_t n = ir_tensor_numel(t);
  char header[512];
  size_t hlen = format_header(header, sizeof header, t, descr);
  size_t total = hlen + (size_t)n * (size_t)size;
  unsigned char *buf = malloc(total);
  if (!buf) abort(); /* out of memory */
  memcpy(buf, header, hlen);
  for (int64_t e = 0; e < n; e++) write_elem(buf + hlen + (size_t)e * (size_t)size, t, e);
  bool ok = cli_write_file(path, buf, total, d);
  free(buf);
  return ok;
}
