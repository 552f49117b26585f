/* test_interp_data.c: the interpreter's reductions, data movement (reshape,
 * transpose, slice, concat), routing (topk, scatter) and KV cache ops
 * (kv_write, kv_read across calls). */
#include "test_interp_util.h"

static int64_t *syms_tp(int64_t *s, int64_t t, int64_t p) {
  ir_interp_syms_unset(s);
  s[0] = t;
  s[1] = p;
  return s;
}

static void test_reduce(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[2, 3, 2]) -> (f32[2, 3, 1], f32[1, 3, 2], f32[2, 1, 2], f32[2, 1, 2]) {\n"
      "    %a = reduce_sum(%x) {axis = -1} : f32[2, 3, 1]\n"
      "    %b = reduce_max(%x) {axis = 0} : f32[1, 3, 2]\n"
      "    %c = reduce_mean(%x) {axis = 1} : f32[2, 1, 2]\n"
      "    %d = reduce_max(%x) {axis = 1} : f32[2, 1, 2]\n"
      "    return %a, %b, %c, %d\n"
      "  }\n"
      "  func @e(%x: f32[2, 0]) -> (f32[2, 1], f32[2, 1], f32[2, 1]) {\n"
      "    %a = reduce_sum(%x) {axis = 1} : f32[2, 1]\n"
      "    %b = reduce_max(%x) {axis = 1} : f32[2, 1]\n"
      "    %c = reduce_mean(%x) {axis = 1} : f32[2, 1]\n"
      "    return %a, %b, %c\n"
      "  }\n"
      "  func @n(%x: i32[2, 3]) -> (i32[2, 1], i32[2, 1], i32[2, 1]) {\n"
      "    %a = reduce_sum(%x) {axis = 1} : i32[2, 1]\n"
      "    %b = reduce_max(%x) {axis = 1} : i32[2, 1]\n"
      "    %c = reduce_mean(%x) {axis = 1} : i32[2, 1]\n"
      "    return %a, %b, %c\n"
      "  }\n"
      "}\n";
  /* x[i][j][k] = 6i + 2j + k, with one negative to make max nontrivial */
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(2, 3, 2), 0, 1, 2, 3, 4, 5, 6, 7, -8, 9, 10, 11)}, 1);
  CHECK(r.ok && r.nout == 4);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 2, 3, 1);
    CHECK_F(&r.outs[0], 0, 1, 5, 9, 13, 1, 21);
    CHECK_F(&r.outs[1], 0, 6, 7, 2, 9, 10, 11);
    CHECK_F(&r.outs[2], REL_F32, 2, 3, 8.0f / 3, 9);
    CHECK_F(&r.outs[3], 0, 4, 5, 10, 11);
  }
  run_free(&r);
  r = run_src(src, "n", NULL, (IrTensor[]){TI(IR_I32, SH(2, 3), 2147483647, 1, 0, -7, 2, 0)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_I(&r.outs[0], -2147483648LL, -5); /* the sum wraps */
    CHECK_I(&r.outs[1], 2147483647, 2);
    CHECK_I(&r.outs[2], -715827882, -1); /* the wrapped sums / 3, truncated */
  }
  run_free(&r);
  r = run_src(src, "e", NULL, (IrTensor[]){ir_tensor_new(IR_F32, 2, SH(2, 0))}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_F(&r.outs[0], 0, 0, 0);
    CHECK_F(&r.outs[1], 0, -INFINITY, -INFINITY);
    CHECK(isnan(r.outs[2].f[0]) && isnan(r.outs[2].f[1]));
  }
  run_free(&r);
}

static void test_reshape_transpose(void) {
  const char *src =
      "module @m {\n"
      "  sym T <= 8\n"
      "  func @f(%x: f32[T, 4], %y: f32[2, 3]) -> (f32[T, 2, 2], f32[6], f32[3, 2]) {\n"
      "    %a = reshape(%x) : f32[T, 2, 2]\n"
      "    %b = reshape(%y) : f32[6]\n"
      "    %c = transpose(%y) {perm = [1, 0]} : f32[3, 2]\n"
      "    return %a, %b, %c\n"
      "  }\n"
      "  func @g(%x: f32[2, 3, 4]) -> (f32[4, 2, 3], f32[3, 2, 4]) {\n"
      "    %a = transpose(%x) {perm = [2, 0, 1]} : f32[4, 2, 3]\n"
      "    %b = transpose(%x) {perm = [1, 0, 2]} : f32[3, 2, 4]\n"
      "    return %a, %b\n"
      "  }\n"
      "  func @i(%x: i32[2, 2]) -> i32[2, 2] {\n"
      "    %a = transpose(%x) {perm = [1, 0]} : i32[2, 2]\n"
      "    return %a\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(1, 4), 1, 2, 3, 4), TF(SH(2, 3), 1, 2, 3, 4, 5, 6)}, 2);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 1, 2, 2);
    CHECK_F(&r.outs[0], 0, 1, 2, 3, 4);
    CHECK_SHAPE(&r.outs[1], 6);
    CHECK_F(&r.outs[1], 0, 1, 2, 3, 4, 5, 6);
    CHECK_F(&r.outs[2], 0, 1, 4, 2, 5, 3, 6);
  }
  run_free(&r);
  /* x[i][j][k] = 100i + 10j + k, so every element names its position. */
  float x[24];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++) x[i * 12 + j * 4 + k] = (float)(100 * i + 10 * j + k);
  float want_a[24], want_b[24];
  for (int k = 0; k < 4; k++) /* a[k][i][j] = x[i][j][k] */
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++) want_a[k * 6 + i * 3 + j] = x[i * 12 + j * 4 + k];
  for (int j = 0; j < 3; j++) /* b[j][i][k] = x[i][j][k] */
    for (int i = 0; i < 2; i++)
      for (int k = 0; k < 4; k++) want_b[j * 8 + i * 4 + k] = x[i * 12 + j * 4 + k];
  r = run_src(src, "g", NULL, (IrTensor[]){tfd(IR_F32, 3, SH(2, 3, 4), x)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 4, 2, 3);
    /* a[0][0][1] = x[0][1][0] and a[1][0][0] = x[0][0][1] */
    CHECK(r.outs[0].f[1] == 10 && r.outs[0].f[6] == 1);
    CHECK_F_ARR(&r.outs[0], want_a, 24, 0);
    CHECK_F_ARR(&r.outs[1], want_b, 24, 0);
  }
  run_free(&r);
  r = run_src(src, "i", NULL, (IrTensor[]){TI(IR_I32, SH(2, 2), 1, 2, 3, 4)}, 1);
  CHECK(r.ok);
  if (r.ok) CHECK_I(&r.outs[0], 1, 3, 2, 4);
  run_free(&r);
}

static void test_slice(void) {
  const char *src =
      "module @m {\n"
      "  sym T <= 3\n"
      "  func @f(%x: f32[2, 5]) -> (f32[2, 3], f32[1, 5], f32[2, 0]) {\n"
      "    %a = slice(%x) {axis = 1, start = 1, end = 4} : f32[2, 3]\n"
      "    %b = slice(%x) {axis = 0, start = 1, end = 2} : f32[1, 5]\n"
      "    %c = slice(%x) {axis = -1, start = 5, end = 5} : f32[2, 0]\n"
      "    return %a, %b, %c\n"
      "  }\n"
      "  func @g(%x: f32[2, 5], %t: f32[T]) -> f32[2, T+2] {\n"
      "    %a = slice(%x) {axis = 1, start = 1, end = T+3} : f32[2, T+2]\n"
      "    return %a\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL, (IrTensor[]){TF(SH(2, 5), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_F(&r.outs[0], 0, 1, 2, 3, 6, 7, 8);
    CHECK_F(&r.outs[1], 0, 5, 6, 7, 8, 9);
    CHECK_SHAPE(&r.outs[2], 2, 0);
  }
  run_free(&r);
  r = run_src(src, "g", NULL,
              (IrTensor[]){TF(SH(2, 5), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), TF(SH(1), 0)}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 1, 2, 3, 6, 7, 8);
  run_free(&r);
  /* T = 3 is in bounds for the symbol but the slice would end at 6 > 5. */
  int64_t s[IR_MAX_SYMS];
  expect_run_error(src, "g", syms_tp(s, 3, 0),
                   (IrTensor[]){ir_tensor_new(IR_F32, 2, SH(2, 5)), TF(SH(3), 0, 0, 0)}, 2,
                   "t.kir:10:5: error: slice: range [1, 6) is out of bounds of axis 1 of %x, "
                   "which has size 5");
}

static void test_concat(void) {
  const char *src =
      "module @m {\n"
      "  sym T <= 4\n"
      "  sym P <= 4\n"
      "  func @f(%a: f32[P, 2], %b: f32[T, 2], %c: f32[1, 2]) -> (f32[P+T+1, 2], f32[T, 4]) {\n"
      "    %x = concat(%a, %b, %c) {axis = 0} : f32[P+T+1, 2]\n"
      "    %y = concat(%b, %b) {axis = -1} : f32[T, 4]\n"
      "    return %x, %y\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(1, 2), 1, 2), TF(SH(2, 2), 3, 4, 5, 6), TF(SH(1, 2), 7, 8)},
                  3);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 4, 2);
    CHECK_F(&r.outs[0], 0, 1, 2, 3, 4, 5, 6, 7, 8);
    CHECK_F(&r.outs[1], 0, 3, 4, 3, 4, 5, 6, 5, 6);
  }
  run_free(&r);
  /* an empty operand (P = 0) */
  r = run_src(src, "f", NULL,
              (IrTensor[]){ir_tensor_new(IR_F32, 2, SH(0, 2)), TF(SH(1, 2), 3, 4),
                           TF(SH(1, 2), 7, 8)},
              3);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 3, 4, 7, 8);
  run_free(&r);
}

static void test_topk(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[3, 4]) -> (f32[3, 2], i32[3, 2], f32[3, 3], i64[3, 3]) {\n"
      "    %v, %i = topk(%x) {k = 2} : f32[3, 2], i32[3, 2]\n"
      "    %v3, %i3 = topk(%x) {k = 3} : f32[3, 3], i64[3, 3]\n"
      "    return %v, %i, %v3, %i3\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(3, 4), 1, 3, 3, 2, 5, 5, 5, 5, -1, -4, 0, -2)}, 1);
  CHECK(r.ok && r.nout == 4);
  if (r.ok) {
    CHECK_F(&r.outs[0], 0, 3, 3, 5, 5, 0, -1);
    CHECK_I(&r.outs[1], 1, 2, 0, 1, 2, 0); /* ties: the lower index first */
    CHECK(r.outs[1].dtype == IR_I32 && r.outs[3].dtype == IR_I64);
    CHECK_F(&r.outs[2], 0, 3, 3, 2, 5, 5, 5, 0, -1, -2);
    CHECK_I(&r.outs[3], 1, 2, 3, 0, 1, 2, 2, 0, 3);
  }
  run_free(&r);
}

static void test_scatter(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%idx: i32[2, 2], %w: f32[2, 2]) -> f32[2, 4] {\n"
      "    %g = scatter(%idx, %w) {size = 4} : f32[2, 4]\n"
      "    return %g\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TI(IR_I32, SH(2, 2), 1, 3, 0, 0), TF(SH(2, 2), 0.5f, 0.25f, 1, 2)},
                  2);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 0, 0.5f, 0, 0.25f, 3, 0, 0, 0); /* repeated index adds up */
  run_free(&r);
  expect_run_error(src, "f", NULL,
                   (IrTensor[]){TI(IR_I32, SH(2, 2), 1, 4, 0, 0), TF(SH(2, 2), 1, 1, 1, 1)}, 2,
                   "t.kir:3:5: error: scatter: index 4 (element 1 of %idx) is outside [0, 4)");
  expect_run_error(src, "f", NULL,
                   (IrTensor[]){TI(IR_I32, SH(2, 2), 1, 2, 0, -1), TF(SH(2, 2), 1, 1, 1, 1)}, 2,
                   "scatter: index -1 (element 3 of %idx) is outside [0, 4)");
}

/* ---- KV cache ---- */

static const char *kv_src =
    "module @m {\n"
    "  sym T <= 8\n"
    "  sym P <= 8\n"
    "  state @kc : f32[2, 8, 2]\n"
    "  state @vc : f32[8, 3]\n"
    "  func @step(%k: f32[2, T, 2], %v: f32[T, 3]) -> (f32[2, P+T, 2], f32[P+T, 3]) {\n"
    "    kv_write(@kc, %k) {offset = P}\n"
    "    kv_write(@vc, %v) {offset = P, axis = 0}\n"
    "    %kr = kv_read(@kc) {len = P+T} : f32[2, P+T, 2]\n"
    "    %vr = kv_read(@vc) {len = P+T, axis = 0} : f32[P+T, 3]\n"
    "    return %kr, %vr\n"
    "  }\n"
    "  func @window(%x: f32[1]) -> f32[2, T, 2] {\n"
    "    %kr = kv_read(@kc) {len = T, start = P} : f32[2, T, 2]\n"
    "    return %kr\n"
    "  }\n"
    "}\n";

/* Prefill writes 3 positions, decode one more and reads all 4: what the
 * first call wrote is still there. */
static void test_kv_cache(void) {
  Ctx c = ctx_new(kv_src);
  if (!c.it) return;
  int64_t s[IR_MAX_SYMS];
  Run r = ctx_call(&c, "step", syms_tp(s, IR_SYM_UNSET, 0),
                   (IrTensor[]){TF(SH(2, 3, 2), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
                                TF(SH(3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9)},
                   2);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 2, 3, 2);
    CHECK_F(&r.outs[0], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    CHECK_F(&r.outs[1], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
  }
  run_free(&r);
  r = ctx_call(&c, "step", syms_tp(s, IR_SYM_UNSET, 3),
               (IrTensor[]){TF(SH(2, 1, 2), -1, -2, -3, -4), TF(SH(1, 3), -1, -2, -3)}, 2);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 2, 4, 2);
    CHECK_F(&r.outs[0], 0, 1, 2, 3, 4, 5, 6, -1, -2, 7, 8, 9, 10, 11, 12, -3, -4);
    CHECK_F(&r.outs[1], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3);
  }
  run_free(&r);
  const IrTensor *kc = ir_interp_state(c.it, "kc");
  CHECK(kc && kc->f[3 * 2] == -1 && kc->f[8 * 2 + 3 * 2 + 1] == -4 && kc->f[4 * 2] == 0);
  CHECK(ir_interp_state(c.it, "nope") == NULL);

  /* a read at start = P */
  r = ctx_call(&c, "window", syms_tp(s, 2, 2), (IrTensor[]){TF(SH(1), 0)}, 1);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 5, 6, -1, -2, 11, 12, -3, -4);
  run_free(&r);

  ir_interp_reset_state(c.it);
  CHECK(kc->f[0] == 0 && kc->f[3 * 2] == 0);
  r = ctx_call(&c, "window", syms_tp(s, 1, 0), (IrTensor[]){TF(SH(1), 0)}, 1);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 0, 0, 0, 0);
  run_free(&r);
  ctx_free(&c);
}

static void test_kv_errors(void) {
  int64_t s[IR_MAX_SYMS];
  expect_run_error(kv_src, "step", syms_tp(s, IR_SYM_UNSET, 7),
                   (IrTensor[]){ir_tensor_new(IR_F32, 3, SH(2, 2, 2)),
                                ir_tensor_new(IR_F32, 2, SH(2, 3))},
                   2,
                   "t.kir:7:5: error: kv_write: KV cache overflow: writing positions [7, 9) "
                   "into @kc with 8 positions");
  expect_run_error(kv_src, "window", syms_tp(s, 2, 7), (IrTensor[]){TF(SH(1), 0)}, 1,
                   "t.kir:14:5: error: kv_read: reading positions [7, 9) from @kc "
                   "with 8 positions");
  const char *neg_src =
      "module @m {\n"
      "  sym P <= 4\n"
      "  state @k : f32[4, 2]\n"
      "  func @f(%x: f32[1, 2]) -> f32[1] {\n"
      "    kv_write(@k, %x) {offset = P-1}\n"
      "    %c = const {value = 1.0} : f32[1]\n"
      "    return %c\n"
      "  }\n"
      "}\n";
  expect_run_error(neg_src, "f", syms_tp(s, 0, IR_SYM_UNSET), (IrTensor[]){TF(SH(1, 2), 1, 2)}, 1,
                   "t.kir:5:5: error: kv_write: writing positions [-1, 0) into @k: the offset is "
                   "negative");
  /* A failed write leaves the cache as it was. */
  Ctx c = ctx_new(kv_src);
  Run r = ctx_call(&c, "step", syms_tp(s, IR_SYM_UNSET, 7),
                   (IrTensor[]){TF(SH(2, 2, 2), 1, 1, 1, 1, 1, 1, 1, 1),
                                ir_tensor_new(IR_F32, 2, SH(2, 3))},
                   2);
  CHECK(!r.ok);
  const IrTensor *kc = c.it ? ir_interp_state(c.it, "kc") : NULL;
  if (kc) CHECK(kc->f[7 * 2] == 0 && kc->f[8 * 2 + 7 * 2 + 1] == 0);
  run_free(&r);
  ctx_free(&c);
}

int main(void) {
  test_reduce();
  test_reshape_transpose();
  test_slice();
  test_concat();
  test_topk();
  test_scatter();
  test_kv_cache();
  test_kv_errors();
  return check_report();
}
