/* test_target.c: the target description (passes/target.h): presets, the
 * tiles derived from them, LLVM feature strings, and the error for an
 * unknown preset. The expected tiles are worked out by hand from the rules
 * in target.c (mr from the register count, kc from half of L1, mc from
 * half of L2). */
#include <stdlib.h>

#include "check.h"
#include "target.h"

typedef struct {
  const char *name;
  int bits, regs;
  bool fma, f16c;
  int64_t l1, l2, l3;
  int lanes, panel, mr;
  int64_t kc, mc, bq, bkv;
} Want;

static void check_preset(const Want *w) {
  KTarget t;
  IrDiag d = {0};
  CHECK(ktarget_preset(w->name, &t, &d));
  CHECK(strcmp(t.name, w->name) == 0);
  CHECK(t.vector_bits == w->bits && t.vector_regs == w->regs);
  CHECK(t.fma == w->fma && t.f16c == w->f16c);
  CHECK(t.l1d_bytes == w->l1 && t.l2_bytes == w->l2 && t.l3_bytes == w->l3);
  CHECK(t.f32_lanes == w->lanes && t.panel == w->panel && t.mr == w->mr);
  CHECK(t.kc == w->kc && t.mc == w->mc);
  CHECK(t.attn_block_q == w->bq && t.attn_block_kv == w->bkv && t.attn_split_chunk == 256);
  /* The invariants the micro-kernel relies on, whatever the numbers. */
  int vecs = t.panel / t.f32_lanes;
  CHECK(t.mr * vecs + vecs + 1 <= t.vector_regs);
  CHECK(t.kc * t.panel * 4 <= t.l1d_bytes / 2);
  CHECK(t.mc % t.mr == 0 && t.mc * t.kc * 4 <= t.l2_bytes / 2);
}

static void test_presets(void) {
  const int64_t K = 1024, M = 1024 * 1024;
  /* AVX-512: 32 regs -> (32 - 3) / 2 = 14 rows, capped at 12; kc = 24K / 128. */
  check_preset(&(Want){"x86-64-avx512", 512, 32, true, true, 48 * K, M, 4 * M, 16, 32, 12, 192,
                       672, 64, 64});
  /* AVX2: (16 - 3) / 2 = 6 rows; kc = 16K / 64 = 256; mc = 256K / 1K = 256 -> 252. */
  check_preset(&(Want){"x86-64-avx2", 256, 16, true, true, 32 * K, 512 * K, 2 * M, 8, 16, 6, 256,
                       252, 32, 64});
  check_preset(&(Want){"aarch64-neon", 128, 32, true, false, 64 * K, M, 2 * M, 4, 8, 12, 1024,
                       120, 64, 128});
  check_preset(&(Want){"generic", 128, 16, false, false, 32 * K, 512 * K, 2 * M, 4, 8, 6, 512,
                       126, 32, 64});
}

static bool same_target(const KTarget *a, const KTarget *b) {
  return strcmp(a->name, b->name) == 0 && a->vector_bits == b->vector_bits &&
         a->vector_regs == b->vector_regs && a->fma == b->fma && a->f16c == b->f16c &&
         a->l1d_bytes == b->l1d_bytes && a->l2_bytes == b->l2_bytes &&
         a->l3_bytes == b->l3_bytes && a->f32_lanes == b->f32_lanes && a->panel == b->panel &&
         a->mr == b->mr && a->kc == b->kc && a->mc == b->mc &&
         a->attn_block_q == b->attn_block_q && a->attn_block_kv == b->attn_block_kv &&
         a->attn_split_chunk == b->attn_split_chunk;
}

static void test_default(void) {
  KTarget t;
  IrDiag d = {0};
  CHECK(ktarget_preset("x86-64-avx2", &t, &d));
  CHECK(same_target(ktarget_default(), &t));
}

static void test_bad_name(void) {
  KTarget t;
  IrDiag d = {0};
  CHECK(!ktarget_preset("x86-64-sse9", &t, &d));
  CHECK(strcmp(d.msg, "error: unknown target description 'x86-64-sse9'; expected one of: "
                      "x86-64-avx512, x86-64-avx2, aarch64-neon, generic") == 0);
  CHECK(strcmp(ktarget_names(), "x86-64-avx512, x86-64-avx2, aarch64-neon, generic") == 0);
}

/* From features without the host: the matching preset, fma/f16c as given. */
static void check_features(const char *triple, const char *f, const char *name, int bits,
                           bool fma, bool f16c) {
  KTarget t;
  IrDiag d = {0};
  CHECK(ktarget_from_features(triple, f, false, &t, &d));
  CHECK(strcmp(t.name, name) == 0);
  CHECK(t.vector_bits == bits && t.fma == fma && t.f16c == f16c);
  CHECK(t.f32_lanes == bits / 32 && t.panel == 2 * (bits / 32));
  if (strcmp(t.name, name) != 0 || t.fma != fma)
    fprintf(stderr, "  %s %s -> %s fma %d\n", triple, f, t.name, t.fma);
}

static void test_features(void) {
  check_features("x86_64-unknown-linux-gnu", "+sse2,+avx,+avx2,+fma,+f16c,+avx512f,+avx512bw",
                 "x86-64-avx512", 512, true, true);
  check_features("x86_64-unknown-linux-gnu", "+avx2,+fma,+f16c,-avx512f", "x86-64-avx2", 256,
                 true, true);
  check_features("x86_64-unknown-linux-gnu", "+avx512f,-avx512f,+avx2", "x86-64-avx2", 256,
                 false, false);
  check_features("x86_64-pc-linux-gnu", "+fma", "x86-64-avx2", 256, true, false);
  check_features("x86_64-pc-linux-gnu", "+sse4.2", "generic", 128, false, false);
  check_features("x86_64-pc-linux-gnu", "", "generic", 128, false, false);
  check_features("aarch64-unknown-linux-gnu", "+neon", "aarch64-neon", 128, true, false);
  check_features("arm64-apple-darwin", NULL, "aarch64-neon", 128, true, false);
  check_features("riscv64-unknown-linux-gnu", "+v", "generic", 128, false, false);
  KTarget t;
  IrDiag d = {0};
  CHECK(!ktarget_from_features("x86_64-pc-linux-gnu", "+avx2,fma", false, &t, &d));
  CHECK(strcmp(d.msg, "error: target features: 'fma' is not +NAME or -NAME") == 0);
}

/* The host's caches replace the preset's when the machine tells them; the
 * derived tiles follow them. */
static void test_host(void) {
  KTarget t;
  IrDiag d = {0};
  CHECK(ktarget_from_features("x86_64-pc-linux-gnu", "+avx2,+fma", true, &t, &d));
  CHECK(t.l1d_bytes > 0 && t.l2_bytes > 0 && t.l3_bytes > 0);
  CHECK(t.kc * t.panel * 4 <= t.l1d_bytes / 2 || t.kc == 16);
  IrBuf b = {0};
  ktarget_describe(&b, &t);
  printf("host: %s\n", b.data);
  ir_buf_free(&b);
}

static void test_describe(void) {
  KTarget t;
  IrDiag d = {0};
  CHECK(ktarget_preset("x86-64-avx512", &t, &d));
  IrBuf b = {0};
  ktarget_describe(&b, &t);
  CHECK(b.data && strcmp(b.data, "x86-64-avx512: 512-bit vectors x32, fma, f16c, L1 48K L2 1M "
                                 "L3 4M, panel 32, mr 12, kc 192, mc 672, attention 64x64, "
                                 "split chunk 256") == 0);
  ir_buf_free(&b);
  CHECK(ktarget_preset("generic", &t, &d));
  t.l1d_bytes = 1000;
  ktarget_describe(&b, &t);
  CHECK(b.data && strncmp(b.data, "generic: 128-bit vectors x16, L1 1000 L2 512K", 44) == 0);
  ir_buf_free(&b);
}

int main(void) {
  test_presets();
  test_default();
  test_bad_name();
  test_features();
  test_host();
  test_describe();
  return check_report();
}
