/* test_interp.c: the reference interpreter's call machinery (symbols,
 * inputs, params, results), dtype rounding, elementwise ops and the source
 * ops. Other ops: test_interp_nn.c, test_interp_data.c. Expected values are
 * written out by hand or computed here with double-precision formulas. */
#include "test_interp_util.h"

/* ---- rounding ---- */

static uint32_t round_bits(uint32_t in, IrDType t) {
  return f32_bits(ir_round_to_dtype(f32_from_bits(in), t));
}

static void test_round_bf16(void) {
  CHECK(round_bits(0x3f808000, IR_BF16) == 0x3f800000); /* 1 + 2^-8: tie, to even (down) */
  CHECK(round_bits(0x3f818000, IR_BF16) == 0x3f820000); /* 1 + 3*2^-8: tie, to even (up) */
  CHECK(round_bits(0x3f808001, IR_BF16) == 0x3f810000); /* just above the tie */
  CHECK(round_bits(0xbf818000, IR_BF16) == 0xbf820000); /* negative */
  CHECK(round_bits(0x3dcccccd, IR_BF16) == 0x3dcd0000); /* 0.1 */
  CHECK(round_bits(0x3eaaaaab, IR_BF16) == 0x3eab0000); /* 1/3 */
  CHECK(round_bits(0x7f7fffff, IR_BF16) == 0x7f800000); /* FLT_MAX overflows to inf */
  CHECK(round_bits(0x7f7f7fff, IR_BF16) == 0x7f7f0000); /* below the tie: largest bf16 */
  CHECK(round_bits(0xff7fffff, IR_BF16) == 0xff800000); /* -inf */
  CHECK(round_bits(0x00008000, IR_BF16) == 0x00000000); /* subnormal tie, to even zero */
  CHECK(round_bits(0x00018000, IR_BF16) == 0x00020000); /* subnormal tie, up to even */
  CHECK(round_bits(0x00008001, IR_BF16) == 0x00010000);
  CHECK(round_bits(0x7f800000, IR_BF16) == 0x7f800000);
  CHECK(isnan(ir_round_to_dtype(NAN, IR_BF16)));
  CHECK(isnan(ir_round_to_dtype(f32_from_bits(0x7f800001), IR_BF16))); /* low-payload NaN */
  CHECK(round_bits(0x3dcccccd, IR_F32) == 0x3dcccccd);
}

static void test_round_f16(void) {
  CHECK(round_bits(0x3f800000 + 0x1000, IR_F16) == 0x3f800000); /* 1 + 2^-11: tie, down */
  CHECK(round_bits(0x3f800000 + 0x3000, IR_F16) == 0x3f804000); /* 1 + 3*2^-11: tie, up */
  CHECK(round_bits(0x3dcccccd, IR_F16) == 0x3dccc000);          /* 0.1 -> 0.0999755859375 */
  CHECK(round_bits(0x3eaaaaab, IR_F16) == 0x3eaaa000);          /* 1/3 -> 0.333251953125 */
  CHECK(ir_round_to_dtype(65504.0f, IR_F16) == 65504.0f);        /* largest f16 */
  CHECK(ir_round_to_dtype(65519.99f, IR_F16) == 65504.0f);
  CHECK(isinf(ir_round_to_dtype(65520.0f, IR_F16)));             /* tie rounds to 2^16 = inf */
  CHECK(ir_round_to_dtype(-70000.0f, IR_F16) == -INFINITY);
  CHECK(ir_round_to_dtype(ldexpf(1, -24), IR_F16) == ldexpf(1, -24));   /* smallest subnormal */
  CHECK(round_bits(f32_bits(ldexpf(1, -25)), IR_F16) == 0);             /* tie, to even zero */
  CHECK(round_bits(f32_bits(-ldexpf(1, -25)), IR_F16) == 0x80000000);   /* -0 keeps its sign */
  CHECK(ir_round_to_dtype(0.75f * ldexpf(1, -24), IR_F16) == ldexpf(1, -24));
  CHECK(round_bits(f32_bits(1.5f * ldexpf(1, -24)), IR_F16) == 0x34000000); /* 2^-23 */
  CHECK(round_bits(f32_bits(2.5f * ldexpf(1, -24)), IR_F16) == 0x34000000); /* tie, to even 2 */
  CHECK(ir_round_to_dtype(ldexpf(1, -14) - ldexpf(1, -25), IR_F16) == ldexpf(1, -14));
  CHECK(ir_round_to_dtype(ldexpf(1, -14) + ldexpf(1, -25), IR_F16) == ldexpf(1, -14));
  CHECK(ir_round_to_dtype(1e-10f, IR_F16) == 0);
  CHECK(isnan(ir_round_to_dtype(NAN, IR_F16)));
}

/* Every op result is rounded to its declared dtype. */
static void test_results_rounded(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[4]) -> (bf16[4], f16[4]) {\n"
      "    %b = cast(%x) : bf16[4]\n"
      "    %h = cast(%x) : f16[4]\n"
      "    return %b, %h\n"
      "  }\n"
      "  func @g(%a: bf16[2], %c: bf16[2]) -> bf16[2] {\n"
      "    %s = add(%a, %c) : bf16[2]\n"
      "    return %s\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(4), 0.1f, 1.0f / 3, 1.01171875f, 65520.0f)}, 1);
  CHECK(r.ok && r.nout == 2);
  if (r.ok) {
    CHECK(r.outs[0].dtype == IR_BF16 && r.outs[1].dtype == IR_F16);
    CHECK(f32_bits(r.outs[0].f[0]) == 0x3dcd0000);
    CHECK(f32_bits(r.outs[0].f[1]) == 0x3eab0000);
    CHECK(f32_bits(r.outs[0].f[2]) == 0x3f820000);
    CHECK(r.outs[0].f[3] == 65536.0f);
    CHECK(f32_bits(r.outs[1].f[0]) == 0x3dccc000);
    CHECK(f32_bits(r.outs[1].f[1]) == 0x3eaaa000);
    CHECK(r.outs[1].f[2] == 1.01171875f);
    CHECK(isinf(r.outs[1].f[3]));
  }
  run_free(&r);
  /* 1 + 2^-8 and 1 + 3*2^-8 are exact in f32 but ties in bf16. */
  r = run_src(src, "g", NULL,
              (IrTensor[]){tfd(IR_BF16, 1, SH(2), (float[]){1, 1}),
                           tfd(IR_BF16, 1, SH(2), (float[]){1.0f / 256, 3.0f / 256})},
              2);
  CHECK(r.ok);
  if (r.ok) CHECK(r.outs[0].f[0] == 1.0f && r.outs[0].f[1] == 1.015625f);
  run_free(&r);
  /* An input that is not rounded to its dtype yet is rounded on the way in. */
  r = run_src(src, "g", NULL,
              (IrTensor[]){tfd(IR_BF16, 1, SH(2), (float[]){0.1f, 0}),
                           tfd(IR_BF16, 1, SH(2), (float[]){0, 0})},
              2);
  CHECK(r.ok);
  if (r.ok) CHECK(f32_bits(r.outs[0].f[0]) == 0x3dcd0000);
  run_free(&r);
}

/* ---- elementwise ---- */

static void test_binary_broadcast(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[2, 3], %r: f32[3], %c: f32[2, 1], %s: f32[], %r1: f32[1, 3])\n"
      "      -> (f32[2, 3], f32[2, 3], f32[2, 3], f32[2, 3], f32[2, 3], f32[2, 3], f32[2, 3],\n"
      "          f32[2, 3], f32[2, 3]) {\n"
      "    %a = add(%x, %r) : f32[2, 3]\n"
      "    %b = sub(%c, %x) : f32[2, 3]\n"
      "    %m = mul(%s, %x) : f32[2, 3]\n"
      "    %d = div(%x, %s) : f32[2, 3]\n"
      "    %mx = max(%x, %r) : f32[2, 3]\n"
      "    %mn = min(%x, %r) : f32[2, 3]\n"
      "    %p = pow(%x, %r) : f32[2, 3]\n"
      "    %o = add(%r, %c) : f32[2, 3]\n"
      "    %o2 = mul(%c, %r1) : f32[2, 3]\n"
      "    return %a, %b, %m, %d, %mx, %mn, %p, %o, %o2\n"
      "  }\n"
      "  func @g(%y: f32[2, 1, 2], %z: f32[3, 1]) -> f32[2, 3, 2] {\n"
      "    %s = add(%y, %z) : f32[2, 3, 2]\n"
      "    return %s\n"
      "  }\n"
      "}\n";
  IrTensor s = ir_tensor_new(IR_F32, 0, NULL);
  s.f[0] = 2;
  IrTensor in[] = {TF(SH(2, 3), 1, 2, 3, 4, 5, 6), TF(SH(3), 10, 20, 0.5f),
                   TF(SH(2, 1), 100, 200), s, TF(SH(1, 3), 1, 2, 3)};
  Run r = run_src(src, "f", NULL, in, 5);
  CHECK(r.ok && r.nout == 9);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 2, 3);
    CHECK_F(&r.outs[0], REL_F32, 11, 22, 3.5f, 14, 25, 6.5f);
    CHECK_F(&r.outs[1], REL_F32, 99, 98, 97, 196, 195, 194);
    CHECK_F(&r.outs[2], REL_F32, 2, 4, 6, 8, 10, 12);
    CHECK_F(&r.outs[3], REL_F32, 0.5f, 1, 1.5f, 2, 2.5f, 3);
    CHECK_F(&r.outs[4], REL_F32, 10, 20, 3, 10, 20, 6);
    CHECK_F(&r.outs[5], REL_F32, 1, 2, 0.5f, 4, 5, 0.5f);
    CHECK_F(&r.outs[6], REL_F32, 1, 1048576, (float)sqrt(3), 1048576, (float)pow(5, 20),
            (float)sqrt(6));
    CHECK_F(&r.outs[7], REL_F32, 110, 120, 100.5f, 210, 220, 200.5f);
    CHECK_F(&r.outs[8], REL_F32, 100, 200, 300, 200, 400, 600);
  }
  run_free(&r);
  r = run_src(src, "g", NULL,
              (IrTensor[]){TF(SH(2, 1, 2), 1, 2, 3, 4), TF(SH(3, 1), 10, 20, 30)}, 2);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 2, 3, 2);
    CHECK_F(&r.outs[0], REL_F32, 11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34);
  }
  run_free(&r);
}

static void test_max_min_nan(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[2], %y: f32[2]) -> (f32[2], f32[2]) {\n"
      "    %a = max(%x, %y) : f32[2]\n"
      "    %b = min(%x, %y) : f32[2]\n"
      "    return %a, %b\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL, (IrTensor[]){TF(SH(2), NAN, 1), TF(SH(2), 0, NAN)}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK(isnan(r.outs[0].f[0]) && isnan(r.outs[0].f[1]) && isnan(r.outs[1].f[0]));
  run_free(&r);
}

static void test_int_arith(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%a: i32[4], %b: i32[4])\n"
      "      -> (i32[4], i32[4], i32[4], i32[4], i32[4], i32[4], i32[4]) {\n"
      "    %s = add(%a, %b) : i32[4]\n"
      "    %d = sub(%a, %b) : i32[4]\n"
      "    %m = mul(%a, %b) : i32[4]\n"
      "    %q = div(%a, %b) : i32[4]\n"
      "    %mx = max(%a, %b) : i32[4]\n"
      "    %mn = min(%a, %b) : i32[4]\n"
      "    %n = neg(%a) : i32[4]\n"
      "    return %s, %d, %m, %q, %mx, %mn, %n\n"
      "  }\n"
      "  func @g(%c: i8[2], %e: i8[2], %h: i64[1], %k: i64[1]) -> (i8[2], i64[1]) {\n"
      "    %m = mul(%c, %e) : i8[2]\n"
      "    %s = add(%h, %k) : i64[1]\n"
      "    return %m, %s\n"
      "  }\n"
      "  func @z(%a: i32[2], %b: i32[2]) -> i32[2] {\n"
      "    %q = div(%a, %b) : i32[2]\n"
      "    return %q\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TI(IR_I32, SH(4), 2147483647, -7, 7, -2147483648LL),
                               TI(IR_I32, SH(4), 1, 2, -2, -1)},
                  2);
  CHECK(r.ok && r.nout == 7);
  if (r.ok) {
    CHECK_I(&r.outs[0], -2147483648LL, -5, 5, 2147483647);
    CHECK_I(&r.outs[1], 2147483646, -9, 9, -2147483647);
    CHECK_I(&r.outs[2], 2147483647, -14, -14, -2147483648LL);
    CHECK_I(&r.outs[3], 2147483647, -3, -3, -2147483648LL); /* truncation; MIN/-1 wraps */
    CHECK_I(&r.outs[4], 2147483647, 2, 7, -1);
    CHECK_I(&r.outs[5], 1, -7, -2, -2147483648LL);
    CHECK_I(&r.outs[6], -2147483647, 7, -7, -2147483648LL);
  }
  run_free(&r);
  r = run_src(src, "g", NULL,
              (IrTensor[]){TI(IR_I8, SH(2), 100, -128), TI(IR_I8, SH(2), 3, -1),
                           TI(IR_I64, SH(1), INT64_MAX), TI(IR_I64, SH(1), 1)},
              4);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_I(&r.outs[0], 44, -128); /* 300 and 128 wrap */
    CHECK_I(&r.outs[1], INT64_MIN);
  }
  run_free(&r);
  expect_run_error(src, "z", NULL,
                   (IrTensor[]){TI(IR_I32, SH(2), 4, 5), TI(IR_I32, SH(2), 2, 0)}, 2,
                   "t.kir:19:5: error: div: integer division by zero (element 1 of the result)");
}

static void test_unary(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[5])\n"
      "      -> (f32[5], f32[5], f32[5], f32[5], f32[5], f32[5], f32[5], f32[5]) {\n"
      "    %a = neg(%x) : f32[5]\n"
      "    %b = exp(%x) : f32[5]\n"
      "    %c = tanh(%x) : f32[5]\n"
      "    %d = sigmoid(%x) : f32[5]\n"
      "    %e = silu(%x) : f32[5]\n"
      "    %f = relu(%x) : f32[5]\n"
      "    %g = gelu(%x) : f32[5]\n"
      "    %h = gelu(%x) {approx = \"tanh\"} : f32[5]\n"
      "    return %a, %b, %c, %d, %e, %f, %g, %h\n"
      "  }\n"
      "  func @p(%x: f32[4]) -> (f32[4], f32[4], f32[4]) {\n"
      "    %a = log(%x) : f32[4]\n"
      "    %b = sqrt(%x) : f32[4]\n"
      "    %c = rsqrt(%x) : f32[4]\n"
      "    return %a, %b, %c\n"
      "  }\n"
      "}\n";
  const double x[5] = {-2, -0.5, 0, 0.25, 3};
  Run r = run_src(src, "f", NULL, (IrTensor[]){TF(SH(5), -2, -0.5f, 0, 0.25f, 3)}, 1);
  CHECK(r.ok && r.nout == 8);
  if (r.ok) {
    float want[8][5];
    for (int k = 0; k < 5; k++) {
      double v = x[k], sig = 1 / (1 + exp(-v));
      want[0][k] = (float)-v;
      want[1][k] = (float)exp(v);
      want[2][k] = (float)tanh(v);
      want[3][k] = (float)sig;
      want[4][k] = (float)(v * sig);
      want[5][k] = (float)(v > 0 ? v : 0);
      want[6][k] = (float)(v / 2 * (1 + erf(v / sqrt(2))));
      want[7][k] = (float)(v / 2 * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
    }
    for (int o = 0; o < 8; o++) CHECK_F_ARR(&r.outs[o], want[o], 5, REL_F32);
  }
  run_free(&r);
  r = run_src(src, "p", NULL, (IrTensor[]){TF(SH(4), 0.25f, 1, 2, 9)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_F(&r.outs[0], REL_F32, (float)log(0.25), 0, (float)log(2), (float)log(9));
    CHECK_F(&r.outs[1], REL_F32, 0.5f, 1, (float)sqrt(2), 3);
    CHECK_F(&r.outs[2], REL_F32, 2, 1, (float)(1 / sqrt(2)), 1.0f / 3);
  }
  run_free(&r);
}

static void test_cast(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[5], %n: i32[4]) -> (i32[5], i8[5], f32[4], i8[4], bf16[4], i64[4]) {\n"
      "    %a = cast(%x) : i32[5]\n"
      "    %b = cast(%x) : i8[5]\n"
      "    %c = cast(%n) : f32[4]\n"
      "    %d = cast(%n) : i8[4]\n"
      "    %e = cast(%n) : bf16[4]\n"
      "    %f = cast(%d) : i64[4]\n"
      "    return %a, %b, %c, %d, %e, %f\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(5), 2.7f, -2.7f, 0.5f, -0.0f, 200.9f),
                               TI(IR_I32, SH(4), 16777217, 300, -129, 259)},
                  2);
  CHECK(r.ok && r.nout == 6);
  if (r.ok) {
    CHECK_I(&r.outs[0], 2, -2, 0, 0, 200);        /* truncation toward zero */
    CHECK_I(&r.outs[1], 2, -2, 0, 0, -56);        /* 200 wraps in i8 */
    CHECK_F(&r.outs[2], 0, 16777216, 300, -129, 259); /* 2^24 + 1 is not an f32 */
    CHECK_I(&r.outs[3], 1, 44, 127, 3);           /* 16777217 = 0x1000001 wraps to 1 */
    CHECK_F(&r.outs[4], 0, 16777216, 300, -129, 260); /* 259: tie between 258 and 260 */
    CHECK_I(&r.outs[5], 1, 44, 127, 3);           /* sign kept when widening */
  }
  run_free(&r);
}

/* ---- sources ---- */

static void test_sources(void) {
  const char *src =
      "module @m {\n"
      "  sym T <= 8\n"
      "  sym P <= 8\n"
      "  func @f(%x: f32[T]) -> (f32[T, 2], bf16[], i32[2], i32[T], f32[T], f32[T, P+T],\n"
      "                         f32[T, P+T], f32[T, T]) {\n"
      "    %c = const {value = 0.125} : f32[T, 2]\n"
      "    %b = const {value = 0.1} : bf16[]\n"
      "    %i = const {value = -2.5} : i32[2]\n"
      "    %io = iota {start = P} : i32[T]\n"
      "    %iof = iota : f32[T]\n"
      "    %cm = causal_mask {offset = P} : f32[T, P+T]\n"
      "    %cw = causal_mask {offset = P, window = 2} : f32[T, P+T]\n"
      "    %c0 = causal_mask : f32[T, T]\n"
      "    return %c, %b, %i, %io, %iof, %cm, %cw, %c0\n"
      "  }\n"
      "}\n";
  int64_t syms[IR_MAX_SYMS];
  ir_interp_syms_unset(syms);
  syms[1] = 2; /* P; T = 3 comes from %x */
  Run r = run_src(src, "f", syms, (IrTensor[]){TF(SH(3), 0, 0, 0)}, 1);
  CHECK(r.ok && r.nout == 8);
  if (!r.ok) return;
  const float I = -INFINITY;
  CHECK_SHAPE(&r.outs[0], 3, 2);
  CHECK_F(&r.outs[0], 0, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f);
  CHECK(r.outs[1].rank == 0 && f32_bits(r.outs[1].f[0]) == 0x3dcd0000);
  CHECK_I(&r.outs[2], -2, -2); /* truncated toward zero */
  CHECK_I(&r.outs[3], 2, 3, 4);
  CHECK_F(&r.outs[4], 0, 0, 1, 2);
  CHECK_SHAPE(&r.outs[5], 3, 5);
  CHECK_F(&r.outs[5], 0, 0, 0, 0, I, I, 0, 0, 0, 0, I, 0, 0, 0, 0, 0);
  /* window 2: query i (at position i + 2) sees keys i+1 and i+2 */
  CHECK_F(&r.outs[6], 0, I, 0, 0, I, I, I, I, 0, 0, I, I, I, I, 0, 0);
  CHECK_F(&r.outs[7], 0, 0, I, I, 0, 0, I, 0, 0, 0);
  run_free(&r);
}

/* ---- symbols and inputs ---- */

static const char *sym_src =
    "module @m {\n"
    "  sym T <= 4\n"
    "  sym P <= 8\n"
    "  func @f(%tok: i32[T], %x: f32[T, 2]) -> f32[T, 2] {\n"
    "    %y = add(%x, %x) : f32[T, 2]\n"
    "    return %y\n"
    "  }\n"
    "  func @g(%x: f32[P+T]) -> f32[P+T] {\n"
    "    %y = neg(%x) : f32[P+T]\n"
    "    return %y\n"
    "  }\n"
    "}\n";

static int64_t *syms_tp(int64_t *s, int64_t t, int64_t p) {
  ir_interp_syms_unset(s);
  s[0] = t;
  s[1] = p;
  return s;
}

static void test_symbols(void) {
  int64_t s[IR_MAX_SYMS];
  Run r = run_src(sym_src, "f", syms_tp(s, IR_SYM_UNSET, 0),
                  (IrTensor[]){TI(IR_I32, SH(3), 0, 1, 2), TF(SH(3, 2), 1, 2, 3, 4, 5, 6)}, 2);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 3, 2);
    CHECK_F(&r.outs[0], 0, 2, 4, 6, 8, 10, 12);
  }
  run_free(&r);
  /* T = 0: empty tensors flow through. */
  r = run_src(sym_src, "f", syms_tp(s, IR_SYM_UNSET, 0),
              (IrTensor[]){ir_tensor_new(IR_I32, 1, SH(0)), ir_tensor_new(IR_F32, 2, SH(0, 2))}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK_SHAPE(&r.outs[0], 0, 2);
  run_free(&r);
  /* P + T is not a lone symbol: both must be given. */
  r = run_src(sym_src, "g", syms_tp(s, 1, 2), (IrTensor[]){TF(SH(3), 1, 2, 3)}, 1);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, -1, -2, -3);
  run_free(&r);

  expect_run_error(sym_src, "f", syms_tp(s, IR_SYM_UNSET, 0),
                   (IrTensor[]){TI(IR_I32, SH(5), 0, 0, 0, 0, 0),
                                ir_tensor_new(IR_F32, 2, SH(5, 2))},
                   2,
                   "call @f: symbol T = 5 (from input 0 (%tok)) is outside its bound [0, 4]");
  expect_run_error(sym_src, "f", syms_tp(s, 9, 0),
                   (IrTensor[]){TI(IR_I32, SH(1), 0), ir_tensor_new(IR_F32, 2, SH(1, 2))}, 2,
                   "call @f: symbol T = 9 is outside its bound [0, 4]");
  expect_run_error(sym_src, "f", syms_tp(s, 1, -1),
                   (IrTensor[]){TI(IR_I32, SH(1), 0), ir_tensor_new(IR_F32, 2, SH(1, 2))}, 2,
                   "call @f: symbol P = -1 is outside its bound [0, 8]");
  expect_run_error(sym_src, "f", syms_tp(s, 4, 0),
                   (IrTensor[]){TI(IR_I32, SH(5), 0, 0, 0, 0, 0),
                                ir_tensor_new(IR_F32, 2, SH(4, 2))},
                   2,
                   "input 0 (%tok) has shape [5], expected [T] = [4]");
  expect_run_error(sym_src, "f", syms_tp(s, IR_SYM_UNSET, 0),
                   (IrTensor[]){TI(IR_I32, SH(3), 0, 0, 0), ir_tensor_new(IR_F32, 2, SH(4, 2))}, 2,
                   "input 1 (%x) has shape [4, 2], expected [T, 2] = [3, 2]");
  expect_run_error(sym_src, "f", syms_tp(s, IR_SYM_UNSET, 0),
                   (IrTensor[]){TI(IR_I32, SH(3, 1), 0, 0, 0),
                                ir_tensor_new(IR_F32, 2, SH(3, 2))},
                   2,
                   "input 0 (%tok) has shape [3, 1], expected [T] = [3]");
  expect_run_error(sym_src, "f", syms_tp(s, IR_SYM_UNSET, 0),
                   (IrTensor[]){TF(SH(3), 0, 0, 0), ir_tensor_new(IR_F32, 2, SH(3, 2))}, 2,
                   "input 0 (%tok) has dtype f32, expected i32");
  /* @f does not mention P, so P needs no value. */
  r = run_src(sym_src, "f", NULL,
              (IrTensor[]){TI(IR_I32, SH(1), 0), TF(SH(1, 2), 1, 2)}, 2);
  CHECK(r.ok);
  run_free(&r);
  expect_run_error(sym_src, "g", syms_tp(s, 1, IR_SYM_UNSET), (IrTensor[]){TF(SH(3), 1, 2, 3)}, 1,
                   "call @g: symbol P is not given and no input's shape determines it");
  expect_run_error(sym_src, "g", syms_tp(s, 1, 1), (IrTensor[]){TF(SH(3), 1, 2, 3)}, 1,
                   "input 0 (%x) has shape [3], expected [T+P] = [2]");
  expect_run_error(sym_src, "f", syms_tp(s, 1, 0), (IrTensor[]){TI(IR_I32, SH(1), 0)}, 1,
                   "call @f: got 1 inputs, expected 2");
  expect_run_error(sym_src, "nope", NULL, NULL, 0, "module @m has no function @nope");
}

/* ---- params ---- */

static void test_params(void) {
  const char *src =
      "module @m {\n"
      "  param @w : f32[2, 2] = [1.0, 2.0, 3.0, 4.0]\n"
      "  param @e : f32[3]\n"
      "  param @h : bf16[2]\n"
      "  param @q : i4[4]\n"
      "  func @f(%x: f32[2]) -> f32[2, 2] {\n"
      "    %a = add(@w, %x) : f32[2, 2]\n"
      "    return %a\n"
      "  }\n"
      "  func @g(%x: f32[3], %z: bf16[2]) -> (f32[3], bf16[2]) {\n"
      "    %a = mul(@e, %x) : f32[3]\n"
      "    %b = add(@h, %z) : bf16[2]\n"
      "    return %a, %b\n"
      "  }\n"
      "  func @i4(%x: f32[1]) -> (f32[4], f32[2, 2]) {\n"
      "    %c = cast(@q) : f32[4]\n"
      "    return %c, @w\n"
      "  }\n"
      "}\n";
  Ctx c = ctx_new(src);
  if (!c.it) return;
  Run r = ctx_call(&c, "f", NULL, (IrTensor[]){TF(SH(2), 10, 20)}, 1);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 11, 22, 13, 24);
  run_free(&r);

  r = ctx_call(&c, "g", NULL,
               (IrTensor[]){TF(SH(3), 1, 1, 1), ir_tensor_new(IR_BF16, 1, SH(2))}, 2);
  CHECK(!r.ok);
  CHECK_STR_CONTAINS(r.d.msg, "call @g: param @e is not bound (bind it with ir_interp_bind_param)");
  run_free(&r);

  IrDiag d = {0};
  IrTensor t = TF(SH(4), 1, 2, 3, 4);
  CHECK(!ir_interp_bind_param(c.it, "e", &t, &d));
  CHECK_STR_CONTAINS(d.msg, "param @e: tensor has shape [4], expected [3]");
  ir_tensor_free(&t);
  d = (IrDiag){0};
  t = TI(IR_I32, SH(3), 1, 2, 3);
  CHECK(!ir_interp_bind_param(c.it, "e", &t, &d));
  CHECK_STR_CONTAINS(d.msg, "param @e is f32 but the tensor given is i32");
  ir_tensor_free(&t);
  d = (IrDiag){0};
  t = TF(SH(3), 1, 2, 3);
  CHECK(!ir_interp_bind_param(c.it, "zz", &t, &d));
  CHECK_STR_CONTAINS(d.msg, "module @m has no param @zz");
  d = (IrDiag){0};
  CHECK(ir_interp_bind_param(c.it, "e", &t, &d));
  ir_tensor_free(&t);
  t = TF(SH(2), 0.1f, 1.0f / 3);
  CHECK(ir_interp_bind_param(c.it, "h", &t, &d)); /* rounded to bf16 on binding */
  ir_tensor_free(&t);
  t = TI(IR_I8, SH(4), -8, 7, 0, 9);
  CHECK(!ir_interp_bind_param(c.it, "q", &t, &d));
  CHECK_STR_CONTAINS(d.msg, "param @q: value 9 (element 3) is outside the range of i4");
  d = (IrDiag){0};
  t.i[3] = -1;
  CHECK(ir_interp_bind_param(c.it, "q", &t, &d));
  ir_tensor_free(&t);

  r = ctx_call(&c, "i4", NULL, (IrTensor[]){TF(SH(1), 0)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_F(&r.outs[0], 0, -8, 7, 0, -1); /* i4 values as ints in [-8, 7] */
    CHECK_F(&r.outs[1], 0, 1, 2, 3, 4);   /* a param returned as is (copied) */
  }
  run_free(&r);
  r = ctx_call(&c, "g", NULL,
               (IrTensor[]){TF(SH(3), 2, 3, 4), ir_tensor_new(IR_BF16, 1, SH(2))}, 2);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_F(&r.outs[0], 0, 2, 6, 12);
    CHECK(f32_bits(r.outs[1].f[0]) == 0x3dcd0000 && f32_bits(r.outs[1].f[1]) == 0x3eab0000);
  }
  run_free(&r);
  ctx_free(&c);
}

/* Values stay alive exactly as long as needed: an argument returned as is,
 * a value returned twice, a value read long after it was made, unused
 * arguments and results (freed early; ASan checks the bookkeeping). */
static void test_value_lifetimes(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[2], %unused: f32[2]) -> (f32[2], f32[2], f32[2], f32[2]) {\n"
      "    %a = neg(%x) : f32[2]\n"
      "    %dead = exp(%x) : f32[2]\n"
      "    %b = neg(%a) : f32[2]\n"
      "    %b2 = neg(%b) : f32[2]\n"
      "    %b3 = neg(%b2) : f32[2]\n"
      "    %c = add(%b3, %x) : f32[2]\n"
      "    return %x, %c, %c, %a\n"
      "  }\n"
      "}\n";
  Ctx c = ctx_new(src);
  for (int round = 0; round < 2; round++) {
    Run r = ctx_call(&c, "f", NULL, (IrTensor[]){TF(SH(2), 1, -2), TF(SH(2), 5, 5)}, 2);
    CHECK(r.ok && r.nout == 4);
    if (r.ok) {
      CHECK_F(&r.outs[0], 0, 1, -2);
      CHECK_F(&r.outs[1], 0, 2, -4);
      CHECK_F(&r.outs[2], 0, 2, -4);
      CHECK(r.outs[1].f != r.outs[2].f);
      CHECK_F(&r.outs[3], 0, -1, 2);
    }
    run_free(&r);
  }
  ctx_free(&c);
}

int main(void) {
  test_round_bf16();
  test_round_f16();
  test_results_rounded();
  test_binary_broadcast();
  test_max_min_nan();
  test_int_arith();
  test_unary();
  test_cast();
  test_sources();
  test_symbols();
  test_params();
  test_value_lifetimes();
  return check_report();
}
