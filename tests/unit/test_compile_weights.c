/* test_compile_weights.c: the weight blob of `kiln compile`
 * (driver/compile_weights.c over codegen's cg_pack_weights): every dtype
 * at its plan offset from inline values, a checkpoint of another dtype
 * converted, the NAME.kw header, and the errors. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../driver/compile_weights.c"
#include "check.h"
#include "interp.h"

static uint64_t load_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- the header ---------------------------------------------------------- */

static void test_header(void) {
  uint8_t h[64];
  memset(h, 0xaa, sizeof h);
  cw_header(h, 0x1122334455667788ull, 4096, 0x0102030405060708ull);
  CHECK(memcmp(h, "KILNWTS1", 8) == 0);
  CHECK(load_le(h + 8, 4) == KILN_WEIGHTS_VERSION && load_le(h + 12, 4) == 0);
  CHECK(load_le(h + 16, 8) == 0x1122334455667788ull);
  CHECK(load_le(h + 24, 8) == 4096);
  CHECK(load_le(h + 32, 8) == 0x0102030405060708ull);
  bool zero = true;
  for (int i = 40; i < 64; i++) zero = zero && h[i] == 0;
  CHECK(zero);
}

#if KILN_HAVE_LLVM /* cw_pack packs through codegen */

/* ---- packing ------------------------------------------------------------- */

static IrModule *parse(const char *text) {
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), "t.kir", &d);
  if (m && !ir_verify(m, &d)) {
    ir_module_free(m);
    m = NULL;
  }
  if (!m) fprintf(stderr, "%s\n", d.msg);
  return m;
}

static const char *const inline_module =
    "module @m {\n"
    "  sym T <= 4\n"
    "  param @a : f32[2] = [1.5, -2.0]\n"
    "  param @b : f16[3] = [1.0, 0.1, -65504.0]\n"
    "  param @c : bf16[1] = [3.0]\n"
    "  param @d : i32[2] = [7, -1]\n"
    "  param @e : i8[2] = [-3, 100]\n"
    "  param @f : i4[3] = [1, -2, 7]\n"
    "  param @g : i64[1] = [-5]\n"
    "  func @prefill(%t: i32[T]) -> f32[2] {\n"
    "    %y = neg(@a) : f32[2]\n"
    "    return %y\n"
    "  }\n"
    "}\n";

static uint64_t offset_of(const KernelPlan *p, const char *name) {
  return kplan_buffer(p, ir_module_find_global(p->module, name, strlen(name)))->offset;
}

static void test_pack_inline(void) {
  IrModule *m = parse(inline_module);
  CHECK(m != NULL);
  if (!m) return;
  IrDiag d = {0};
  KernelPlan *p = kplan_build(m, &d);
  CHECK(p != NULL && p->weights_bytes == 7 * 64);
  uint8_t *data = calloc(1, p->weights_bytes);
  CHECK(cw_pack(p, NULL, data, NULL, NULL, &d));
  const uint8_t *a = data + offset_of(p, "a"), *b = data + offset_of(p, "b"),
                *c = data + offset_of(p, "c"), *di = data + offset_of(p, "d"),
                *e = data + offset_of(p, "e"), *f = data + offset_of(p, "f"),
                *g = data + offset_of(p, "g");
  CHECK(bits_f32((uint32_t)load_le(a, 4)) == 1.5f && bits_f32((uint32_t)load_le(a + 4, 4)) == -2.0f);
  CHECK(load_le(b, 2) == 0x3c00 && load_le(b + 2, 2) == 0x2e66 && load_le(b + 4, 2) == 0xfbff);
  CHECK(load_le(c, 2) == 0x4040);
  CHECK(load_le(di, 4) == 7 && load_le(di + 4, 4) == 0xffffffffu);
  CHECK(e[0] == 0xfd && e[1] == 100);
  CHECK(f[0] == 0xe1 && f[1] == 0x07); /* low nibble first: 1, -2 (0xe); then 7 */
  CHECK(load_le(g, 8) == (uint64_t)-5);
  /* The gaps stay zero. */
  bool zero = true;
  for (uint64_t i = 8; i < 64; i++) zero = zero && a[i] == 0;
  CHECK(zero);
  free(data);
  kplan_free(p);
  ir_module_free(m);
}

/* Writes a safetensors file holding `w` as F16 [2, 2] and `n` as I32 [1]. */
static void write_checkpoint(const char *path) {
  const char *header = "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                       "\"n\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
  size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
  FILE *f = fopen(path, "wb");
  uint8_t len[8];
  store_le(len, padded, 8);
  fwrite(len, 1, 8, f);
  fwrite(header, 1, hlen, f);
  for (size_t i = hlen; i < padded; i++) fputc(' ', f);
  uint8_t data[12];
  const uint16_t halves[4] = {0x3c00, 0xc000, 0x3800, 0x0001}; /* 1, -2, 0.5, 2^-24 */
  for (int i = 0; i < 4; i++) store_le(data + 2 * i, halves[i], 2);
  store_le(data + 8, (uint64_t)-9, 4);
  fwrite(data, 1, sizeof data, f);
  fclose(f);
}

/* Progress reports: how many, and the bytes done, which only grow. */
typedef struct {
  int calls;
  uint64_t last;
  bool monotonic;
} Progress;

static void on_progress(void *user, uint64_t done) {
  Progress *pr = user;
  pr->monotonic = pr->monotonic && done >= pr->last;
  pr->last = done;
  pr->calls++;
}

static void test_pack_checkpoint(void) {
  char path[] = "/tmp/kiln_cw_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  write_checkpoint(path);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(path, &d);
  CHECK(w != NULL);
  /* Declared f32 and i64: converted from F16 and I32. */
  IrModule *m = parse("module @m {\n  sym T <= 4\n  param @w : f32[2, 2]\n  param @n : i64[1]\n"
                      "  func @prefill(%t: i32[T]) -> f32[2, 2] {\n"
                      "    %y = neg(@w) : f32[2, 2]\n    return %y\n  }\n}\n");
  KernelPlan *p = m ? kplan_build(m, &d) : NULL;
  CHECK(w && p);
  if (w && p) {
    uint8_t *data = calloc(1, p->weights_bytes);
    Progress pr = {0, 0, true};
    CHECK(cw_pack(p, w, data, on_progress, &pr, &d));
    CHECK(pr.calls >= 2 && pr.monotonic && pr.last == p->weights_bytes);
    const uint8_t *wd = data + offset_of(p, "w");
    CHECK(bits_f32((uint32_t)load_le(wd, 4)) == 1.0f);
    CHECK(bits_f32((uint32_t)load_le(wd + 4, 4)) == -2.0f);
    CHECK(bits_f32((uint32_t)load_le(wd + 8, 4)) == 0.5f);
    CHECK(bits_f32((uint32_t)load_le(wd + 12, 4)) == ldexpf(1.0f, -24));
    CHECK(load_le(data + offset_of(p, "n"), 8) == (uint64_t)-9);
    free(data);
  }
  kplan_free(p);
  ir_module_free(m);
  /* A shape that does not hold the tensor's elements, and float <- int. */
  m = parse("module @m {\n  sym T <= 4\n  param @w : f32[5]\n"
            "  func @prefill(%t: i32[T]) -> f32[5] {\n    %y = neg(@w) : f32[5]\n    return %y\n  }\n}\n");
  p = m ? kplan_build(m, &d) : NULL;
  if (w && p) {
    uint8_t *data = calloc(1, p->weights_bytes);
    IrDiag e = {0};
    CHECK(!cw_pack(p, w, data, NULL, NULL, &e));
    CHECK(strcmp(e.msg, "w: error: param @w: the source has 4 values of f16, expected 5") == 0);
    free(data);
  }
  kplan_free(p);
  ir_module_free(m);
  m = parse("module @m {\n  sym T <= 4\n  param @n : f32[1]\n  param @w : f32[2, 2]\n"
            "  func @prefill(%t: i32[T]) -> f32[1] {\n    %y = neg(@n) : f32[1]\n    return %y\n  }\n}\n");
  p = m ? kplan_build(m, &d) : NULL;
  if (w && p) {
    uint8_t *data = calloc(1, p->weights_bytes);
    IrDiag e = {0};
    CHECK(!cw_pack(p, w, data, NULL, NULL, &e));
    CHECK(strcmp(e.msg, "n: error: param @n is f32 but the source holds i32") == 0);
    free(data);
  }
  kplan_free(p);
  ir_module_free(m);
  m = parse("module @m {\n  sym T <= 4\n  param @x : f32[1]\n"
            "  func @prefill(%t: i32[T]) -> f32[1] {\n    %y = neg(@x) : f32[1]\n    return %y\n  }\n}\n");
  p = m ? kplan_build(m, &d) : NULL;
  if (w && p) {
    uint8_t data[64];
    IrDiag e = {0};
    CHECK(!cw_pack(p, w, data, NULL, NULL, &e));
    CHECK_STR_CONTAINS(e.msg, ": error: missing tensor: x");
  }
  kplan_free(p);
  ir_module_free(m);
  fe_weights_close(w);
  unlink(path);
}

static void test_missing_values(void) {
  IrModule *m = parse("module @m {\n  sym T <= 4\n  param @w : f32[2]\n"
                      "  func @prefill(%t: i32[T]) -> f32[2] {\n    %y = neg(@w) : f32[2]\n    return %y\n  }\n}\n");
  IrDiag d = {0};
  KernelPlan *p = m ? kplan_build(m, &d) : NULL;
  CHECK(p != NULL);
  if (p) {
    uint8_t data[64] = {0};
    CHECK(!cw_pack(p, NULL, data, NULL, NULL, &d));
    CHECK(strcmp(d.msg, "t.kir:3:3: error: parameter @w has no inline values; compile a model "
                        "directory to bind it from a checkpoint") == 0);
  }
  kplan_free(p);
  ir_module_free(m);
}

#endif

int main(void) {
  test_header();
#if KILN_HAVE_LLVM /* cw_pack packs through codegen */
  test_pack_inline();
  test_pack_checkpoint();
  test_missing_values();
#endif
  return check_report();
}
