/* test_interp_nn.c: the interpreter's Transformer ops: embedding, matmul,
 * rmsnorm, layernorm, rope, softmax, attention. Expected values are written
 * out by hand or computed here in double precision from the formulas of
 * docs/ir.md; attention is also checked against its composition from
 * primitive ops. */
#include <stdio.h>

#include "test_interp_util.h"

/* Random matmuls sum K products of magnitude <= 1 in f32: the rounding
 * error stays below K * 2^-24 * K, about 1.5e-5 for K = 16. */
#define REL_SUM 2e-5

static void test_embedding(void) {
  const char *src =
      "module @m {\n"
      "  param @embed : f32[4, 3] = [0.0, 0.5, 0.1, 1.0, 1.5, -1.0,\n"
      "                              2.0, 2.5, -2.0, 3.0, 3.5, -3.0]\n"
      "  func @f(%tok: i32[2, 2]) -> (f32[2, 2, 3], bf16[2, 2, 3]) {\n"
      "    %x = embedding(@embed, %tok) : f32[2, 2, 3]\n"
      "    %y = embedding(@embed, %tok) : bf16[2, 2, 3]\n"
      "    return %x, %y\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL, (IrTensor[]){TI(IR_I32, SH(2, 2), 3, 0, 1, 1)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_SHAPE(&r.outs[0], 2, 2, 3);
    CHECK_F(&r.outs[0], 0, 3, 3.5f, -3, 0, 0.5f, 0.1f, 1, 1.5f, -1, 1, 1.5f, -1);
    CHECK(f32_bits(r.outs[1].f[5]) == 0x3dcd0000); /* 0.1 in bf16 */
  }
  run_free(&r);
  expect_run_error(src, "f", NULL, (IrTensor[]){TI(IR_I32, SH(2, 2), 0, 4, 1, 1)}, 1,
                   "t.kir:5:5: error: embedding: id 4 (element 1 of %tok) is outside [0, 4), "
                   "the rows of @embed");
  expect_run_error(src, "f", NULL, (IrTensor[]){TI(IR_I32, SH(2, 2), 0, 0, -1, 1)}, 1,
                   "embedding: id -1 (element 2 of %tok) is outside [0, 4)");
}

static void test_matmul_small(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%a: f32[2, 3], %b: f32[3, 2], %bt: f32[2, 3], %at: f32[3, 2])\n"
      "      -> (f32[2, 2], f32[2, 2], f32[2, 2], f32[2, 2]) {\n"
      "    %p = matmul(%a, %b) : f32[2, 2]\n"
      "    %q = matmul(%a, %bt) {transpose_b} : f32[2, 2]\n"
      "    %r = matmul(%at, %b) {transpose_a} : f32[2, 2]\n"
      "    %s = matmul(%at, %bt) {transpose_a, transpose_b} : f32[2, 2]\n"
      "    return %p, %q, %r, %s\n"
      "  }\n"
      "}\n";
  IrTensor in[] = {TF(SH(2, 3), 1, 2, 3, 4, 5, 6), TF(SH(3, 2), 7, 8, 9, 10, 11, 12),
                   TF(SH(2, 3), 7, 9, 11, 8, 10, 12), TF(SH(3, 2), 1, 4, 2, 5, 3, 6)};
  Run r = run_src(src, "f", NULL, in, 4);
  CHECK(r.ok && r.nout == 4);
  for (int k = 0; r.ok && k < 4; k++) CHECK_F(&r.outs[k], 0, 58, 64, 139, 154);
  run_free(&r);
}

/* Batch dims broadcast: grouped-query attention's [Hkv, G, T, D] x
 * [Hkv, 1, S, D]^T, and a rank-2 operand against a batched one. */
static void test_matmul_broadcast(void) {
  const char *src =
      "module @m {\n"
      "  func @gqa(%q: f32[2, 2, 1, 2], %k: f32[2, 1, 1, 2]) -> f32[2, 2, 1, 1] {\n"
      "    %s = matmul(%q, %k) {transpose_b} : f32[2, 2, 1, 1]\n"
      "    return %s\n"
      "  }\n"
      "  func @left(%a: f32[1, 2], %b: f32[3, 2, 1]) -> f32[3, 1, 1] {\n"
      "    %s = matmul(%a, %b) : f32[3, 1, 1]\n"
      "    return %s\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "gqa", NULL,
                  (IrTensor[]){TF(SH(2, 2, 1, 2), 1, 2, 3, 4, 5, 6, 7, 8),
                               TF(SH(2, 1, 1, 2), 1, 1, 0, 1)},
                  2);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 3, 7, 6, 8); /* kv head 0 for q heads 0,1; head 1 for 2,3 */
  run_free(&r);
  r = run_src(src, "left", NULL,
              (IrTensor[]){TF(SH(1, 2), 1, 2), TF(SH(3, 2, 1), 1, 1, 2, 3, 0, -1)}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 3, 8, -2);
  run_free(&r);
}

/* Odd sizes M=3, K=5, N=7 and a batch of 2 against a shared b. */
static void test_matmul_odd(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%a: f32[2, 3, 5], %b: f32[5, 7]) -> f32[2, 3, 7] {\n"
      "    %c = matmul(%a, %b) : f32[2, 3, 7]\n"
      "    return %c\n"
      "  }\n"
      "}\n";
  IrTensor a = trand(3, SH(2, 3, 5), 1), b = trand(2, SH(5, 7), 2);
  float want[2 * 3 * 7];
  for (int bi = 0; bi < 2; bi++)
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 7; j++) {
        double acc = 0;
        for (int k = 0; k < 5; k++) acc += (double)a.f[bi * 15 + i * 5 + k] * b.f[k * 7 + j];
        want[bi * 21 + i * 7 + j] = (float)acc;
      }
  Run r = run_src(src, "f", NULL, (IrTensor[]){a, b}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK_F_ARR(&r.outs[0], want, 42, REL_SUM);
  run_free(&r);
}

/* Mixed precision: a bf16 weight (rounded when bound), f32 activations,
 * a bf16 result. */
static void test_matmul_mixed(void) {
  const char *src =
      "module @m {\n"
      "  param @w : bf16[2, 1]\n"
      "  func @f(%x: f32[1, 2]) -> (f32[1, 1], bf16[1, 1]) {\n"
      "    %y = matmul(%x, @w) : f32[1, 1]\n"
      "    %z = matmul(%x, @w) : bf16[1, 1]\n"
      "    return %y, %z\n"
      "  }\n"
      "}\n";
  Ctx c = ctx_new(src);
  IrDiag d = {0};
  IrTensor w = TF(SH(2, 1), 0.1f, 0.2f);
  CHECK(c.it && ir_interp_bind_param(c.it, "w", &w, &d));
  ir_tensor_free(&w);
  Run r = ctx_call(&c, "f", NULL, (IrTensor[]){TF(SH(1, 2), 1, 1)}, 1);
  CHECK(r.ok);
  /* bf16(0.1) = 0.10009765625, bf16(0.2) = 0.2001953125; their sum
   * 0.30029296875 rounds to bf16 0.30078125 (0x3e9a0000). */
  if (r.ok) {
    CHECK(r.outs[0].f[0] == 0.30029296875f);
    CHECK(f32_bits(r.outs[1].f[0]) == 0x3e9a0000);
  }
  run_free(&r);
  ctx_free(&c);
}

static void test_norms(void) {
  const char *src =
      "module @m {\n"
      "  param @g : f32[4] = [1.0, 0.5, 2.0, 1.0]\n"
      "  param @b : f32[4] = [0.0, 1.0, 0.0, -1.0]\n"
      "  func @f(%x: f32[2, 1, 4]) -> (f32[2, 1, 4], f32[2, 1, 4]) {\n"
      "    %r = rmsnorm(%x, @g) {eps = 1e-05} : f32[2, 1, 4]\n"
      "    %l = layernorm(%x, @g, @b) {eps = 1e-05} : f32[2, 1, 4]\n"
      "    return %r, %l\n"
      "  }\n"
      "}\n";
  const double x[8] = {1, 2, 3, 4, 0, 0, 0, 0}, g[4] = {1, 0.5, 2, 1}, b[4] = {0, 1, 0, -1};
  float want_r[8], want_l[8];
  for (int row = 0; row < 2; row++) {
    const double *xr = x + row * 4;
    double ms = 0, mean = 0, var = 0;
    for (int c = 0; c < 4; c++) ms += xr[c] * xr[c] / 4, mean += xr[c] / 4;
    for (int c = 0; c < 4; c++) var += (xr[c] - mean) * (xr[c] - mean) / 4;
    for (int c = 0; c < 4; c++) {
      want_r[row * 4 + c] = (float)(xr[c] / sqrt(ms + 1e-5) * g[c]);
      want_l[row * 4 + c] = (float)((xr[c] - mean) / sqrt(var + 1e-5) * g[c] + b[c]);
    }
  }
  Run r = run_src(src, "f", NULL, (IrTensor[]){TF(SH(2, 1, 4), 1, 2, 3, 4, 0, 0, 0, 0)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    CHECK_F_ARR(&r.outs[0], want_r, 8, REL_F32);
    CHECK_F_ARR(&r.outs[1], want_l, 8, REL_F32);
    CHECK(r.outs[0].f[4] == 0 && r.outs[1].f[5] == 1); /* a zero row: 0 / sqrt(eps), then + b */
  }
  run_free(&r);
}

/* ---- rope ---- */

/* The rotation of docs/ir.md, written out: pair (x0, x1) of lanes
 * (i, i + r/2) ("half") or (2i, 2i + 1) ("interleaved") of each head turns
 * by pos * inv[i]. rows = product of the dims before [T, N]. */
static void rope_expect(const float *x, float *y, int rows, int t_len, int n, int hd, int rd,
                        const int64_t *pos, const double *inv, bool interleaved) {
  memcpy(y, x, sizeof(float) * (size_t)(rows * t_len * n));
  for (int b = 0; b < rows; b++)
    for (int t = 0; t < t_len; t++)
      for (int h = 0; h < n / hd; h++)
        for (int i = 0; i < rd / 2; i++) {
          int base = (b * t_len + t) * n + h * hd;
          int l0 = interleaved ? base + 2 * i : base + i;
          int l1 = interleaved ? base + 2 * i + 1 : base + i + rd / 2;
          double a = (double)pos[t] * inv[i], x0 = x[l0], x1 = x[l1];
          y[l0] = (float)(x0 * cos(a) - x1 * sin(a));
          y[l1] = (float)(x1 * cos(a) + x0 * sin(a));
        }
}

/* Runs one rope op on a [2, 2, 12] input (2 rows of 2 tokens, two heads of
 * 6 lanes) at positions [3, 1000] and compares with rope_expect. */
static void check_rope(const char *attrs, int rd, bool interleaved, const double *inv) {
  char src[1024];
  snprintf(src, sizeof src,
           "module @m {\n"
           "  func @f(%%x: f32[2, 2, 12], %%pos: i32[2]) -> f32[2, 2, 12] {\n"
           "    %%y = rope(%%x, %%pos) {%s} : f32[2, 2, 12]\n"
           "    return %%y\n"
           "  }\n"
           "}\n",
           attrs);
  const int64_t pos[2] = {3, 1000};
  IrTensor x = trand(3, SH(2, 2, 12), 7);
  float want[48];
  rope_expect(x.f, want, 2, 2, 12, 6, rd, pos, inv, interleaved);
  int failures = check_failures;
  Run r = run_src(src, "f", NULL, (IrTensor[]){x, TI(IR_I32, SH(2), 3, 1000)}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK_F_ARR(&r.outs[0], want, 48, REL_F32);
  if (check_failures > failures) fprintf(stderr, "  in rope {%s}\n", attrs);
  run_free(&r);
}

static void test_rope(void) {
  /* head_dim 6, theta 100: inv_freq[i] = 100^(-2i/6) for i < 3. */
  double inv[3];
  for (int i = 0; i < 3; i++) inv[i] = pow(100.0, -2.0 * i / 6);
  check_rope("head_dim = 6, theta = 100.0", 6, false, inv);
  check_rope("head_dim = 6, theta = 100.0, pairing = \"half\"", 6, false, inv);
  check_rope("head_dim = 6, theta = 100.0, pairing = \"interleaved\"", 6, true, inv);
  /* rotary_dim 4 < head_dim 6: inv_freq over r = 4, lanes 4 and 5 pass. */
  double inv4[2] = {1.0, pow(100.0, -2.0 / 4)};
  check_rope("head_dim = 6, theta = 100.0, rotary_dim = 4", 4, false, inv4);
  check_rope("head_dim = 6, theta = 100.0, pairing = \"interleaved\", rotary_dim = 4", 4, true,
             inv4);
  /* linear scaling divides every frequency by the factor. */
  double lin[3];
  for (int i = 0; i < 3; i++) lin[i] = inv[i] / 4;
  check_rope("head_dim = 6, theta = 100.0, scaling = \"linear\", factor = 4.0", 6, false, lin);
}

/* llama3 scaling with wavelengths in all three regimes: theta 10000 and
 * r = 8 give inv_freq 1, 0.1, 0.01, 0.001 (wavelengths 6.3, 63, 628,
 * 6283); original_max_position 1024 with low/high factors 1 and 4 put the
 * bounds at lo = 1024 and hi = 256: the first two stay, 628 is blended,
 * 6283 is divided by the factor 8. */
static void test_rope_llama3(void) {
  const char *attrs = "head_dim = 8, theta = 10000.0, scaling = \"llama3\", factor = 8.0, "
                      "low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position = 1024";
  char src[1024];
  snprintf(src, sizeof src,
           "module @m {\n"
           "  func @f(%%x: f32[2, 8], %%pos: i32[2]) -> f32[2, 8] {\n"
           "    %%y = rope(%%x, %%pos) {%s} : f32[2, 8]\n"
           "    return %%y\n"
           "  }\n"
           "}\n",
           attrs);
  double inv[4] = {1, 0.1, 0.01, 0.001};
  double s = (1024 / (2 * M_PI / 0.01) - 1) / (4 - 1); /* about 0.21 */
  inv[2] = (1 - s) * 0.01 / 8 + s * 0.01;
  inv[3] = 0.001 / 8;
  const int64_t pos[2] = {5, 1000};
  IrTensor x = trand(2, SH(2, 8), 11);
  float want[16];
  rope_expect(x.f, want, 1, 2, 8, 8, 8, pos, inv, false);
  Run r = run_src(src, "f", NULL, (IrTensor[]){x, TI(IR_I32, SH(2), 5, 1000)}, 2);
  CHECK(r.ok);
  if (r.ok) CHECK_F_ARR(&r.outs[0], want, 16, REL_F32);
  run_free(&r);
}

/* ---- softmax ---- */

static void test_softmax(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%x: f32[4, 3]) -> f32[4, 3] {\n"
      "    %p = softmax(%x) : f32[4, 3]\n"
      "    return %p\n"
      "  }\n"
      "  func @g(%x: f32[2, 2]) -> f32[2, 2] {\n"
      "    %p = softmax(%x) {axis = 0} : f32[2, 2]\n"
      "    return %p\n"
      "  }\n"
      "}\n";
  const float I = -INFINITY;
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(4, 3), 1, 2, 3, I, I, I, 0, I, 0, 1000, 1001, 1000)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    double z = exp(-2) + exp(-1) + 1, z2 = 2 + exp(1);
    CHECK_F(&r.outs[0], REL_F32, (float)(exp(-2) / z), (float)(exp(-1) / z), (float)(1 / z),
            0, 0, 0, /* fully masked row: zeros, not NaN */
            0.5f, 0, 0.5f, (float)(1 / z2), (float)(exp(1) / z2), (float)(1 / z2));
  }
  run_free(&r);
  r = run_src(src, "g", NULL, (IrTensor[]){TF(SH(2, 2), 1, 2, 3, 5)}, 1);
  CHECK(r.ok);
  if (r.ok) {
    double a = 1 / (1 + exp(2)), b = 1 / (1 + exp(3)); /* softmax(1, 3), softmax(2, 5) */
    CHECK_F(&r.outs[0], REL_F32, (float)a, (float)b, (float)(1 - a), (float)(1 - b));
  }
  run_free(&r);
}

/* ---- attention ---- */

static void test_attention_small(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%q: f32[1, 1, 2], %k: f32[1, 2, 2], %v: f32[1, 2, 2])\n"
      "      -> (f32[1, 1, 2], f32[1, 1, 2]) {\n"
      "    %a = attention(%q, %k, %v) {scale = 1.0} : f32[1, 1, 2]\n"
      "    %b = attention(%q, %k, %v) {scale = 1.0, causal} : f32[1, 1, 2]\n"
      "    return %a, %b\n"
      "  }\n"
      "  func @gqa(%q: f32[2, 4, 1, 2], %k: f32[2, 2, 1, 2], %v: f32[2, 2, 1, 2])\n"
      "      -> f32[2, 4, 1, 2] {\n"
      "    %o = attention(%q, %k, %v) {scale = 0.5} : f32[2, 4, 1, 2]\n"
      "    return %o\n"
      "  }\n"
      "}\n";
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(1, 1, 2), 1, 0), TF(SH(1, 2, 2), 1, 0, 0, 1),
                               TF(SH(1, 2, 2), 1, 2, 3, 4)},
                  3);
  CHECK(r.ok);
  if (r.ok) {
    double p0 = exp(1) / (exp(1) + 1), p1 = 1 - p0; /* scores q.k = [1, 0] */
    CHECK_F(&r.outs[0], REL_F32, (float)(p0 * 1 + p1 * 3), (float)(p0 * 2 + p1 * 4));
    CHECK_F(&r.outs[1], REL_F32, 1, 2); /* query 0 sees key 0 only */
  }
  run_free(&r);
  /* One key per kv head: each query head returns its kv head's value, so
   * heads 0,1 read kv head 0 and heads 2,3 kv head 1, in both batches. */
  r = run_src(src, "gqa", NULL,
              (IrTensor[]){trand(4, SH(2, 4, 1, 2), 3), trand(4, SH(2, 2, 1, 2), 4),
                           TF(SH(2, 2, 1, 2), 10, 11, 20, 21, 30, 31, 40, 41)},
              3);
  CHECK(r.ok);
  if (r.ok)
    CHECK_F(&r.outs[0], REL_F32, 10, 11, 10, 11, 20, 21, 20, 21, 30, 31, 30, 31, 40, 41, 40, 41);
  run_free(&r);
}

/* attention(q, k, v) against softmax(scale * q k^T + mask) v built from
 * matmul, mul, causal_mask, add and softmax, with Hq = 4 sharing Hkv = 2
 * through the matmul broadcast. `mask` is the causal_mask attribute list
 * (or NULL for no mask), `attn` the attention's. */
static void check_attention_vs_composed(const char *attn, const char *mask, int64_t t, int64_t p,
                                        uint32_t seed) {
  char src[4096];
  snprintf(src, sizeof src,
           "module @m {\n"
           "  sym T <= 8\n"
           "  sym P <= 8\n"
           "  func @fused(%%q: f32[4, T, 3], %%k: f32[2, P+T, 3], %%v: f32[2, P+T, 5])\n"
           "      -> f32[4, T, 5] {\n"
           "    %%o = attention(%%q, %%k, %%v) {%s} : f32[4, T, 5]\n"
           "    return %%o\n"
           "  }\n"
           "  func @composed(%%q: f32[4, T, 3], %%k: f32[2, P+T, 3], %%v: f32[2, P+T, 5])\n"
           "      -> f32[4, T, 5] {\n"
           "    %%q4 = reshape(%%q) : f32[2, 2, T, 3]\n"
           "    %%k4 = reshape(%%k) : f32[2, 1, P+T, 3]\n"
           "    %%v4 = reshape(%%v) : f32[2, 1, P+T, 5]\n"
           "    %%s = matmul(%%q4, %%k4) {transpose_b} : f32[2, 2, T, P+T]\n"
           "    %%c = const {value = 0.375} : f32[]\n"
           "    %%ss = mul(%%s, %%c) : f32[2, 2, T, P+T]\n"
           "    %%mm = %s%s%s : f32[T, P+T]\n"
           "    %%sm = add(%%ss, %%mm) : f32[2, 2, T, P+T]\n"
           "    %%pr = softmax(%%sm) {axis = -1} : f32[2, 2, T, P+T]\n"
           "    %%o4 = matmul(%%pr, %%v4) : f32[2, 2, T, 5]\n"
           "    %%o = reshape(%%o4) : f32[4, T, 5]\n"
           "    return %%o\n"
           "  }\n"
           "}\n",
           attn, mask ? "causal_mask {" : "const {value = 0.0", mask ? mask : "", "}");
  int64_t syms[IR_MAX_SYMS];
  ir_interp_syms_unset(syms);
  syms[0] = t;
  syms[1] = p;
  IrTensor q = trand(3, SH(4, t, 3), seed), k = trand(3, SH(2, p + t, 3), seed + 1),
           v = trand(3, SH(2, p + t, 5), seed + 2);
  /* the same values again for the second call (ctx_call frees its inputs) */
  IrTensor q2 = trand(3, SH(4, t, 3), seed), k2 = trand(3, SH(2, p + t, 3), seed + 1),
           v2 = trand(3, SH(2, p + t, 5), seed + 2);
  Ctx c = ctx_new(src);
  Run a = ctx_call(&c, "fused", syms, (IrTensor[]){q, k, v}, 3);
  Run b = ctx_call(&c, "composed", syms, (IrTensor[]){q2, k2, v2}, 3);
  CHECK(a.ok && b.ok);
  if (!a.ok) fprintf(stderr, "fused: %s\n", a.d.msg);
  if (!b.ok) fprintf(stderr, "composed: %s\n", b.d.msg);
  if (a.ok && b.ok) {
    CHECK_SHAPE(&a.outs[0], 4, t, 5);
    CHECK_F_ARR(&a.outs[0], b.outs[0].f, ir_tensor_numel(&b.outs[0]), REL_F32);
  }
  run_free(&a);
  run_free(&b);
  ctx_free(&c);
}

static void test_attention_differential(void) {
  check_attention_vs_composed("scale = 0.375", NULL, 3, 2, 100);
  check_attention_vs_composed("scale = 0.375, causal", "", 4, 0, 200);
  check_attention_vs_composed("scale = 0.375, causal, offset = P", "offset = P", 3, 2, 300);
  check_attention_vs_composed("scale = 0.375, causal, offset = P", "offset = P", 1, 0, 400);
  check_attention_vs_composed("scale = 0.375, causal, offset = P", "offset = P", 1, 5, 500);
  check_attention_vs_composed("scale = 0.375, causal, offset = P, window = 3",
                              "offset = P, window = 3", 3, 4, 600);
  /* offset 7 and window 2 with at most 3 keys: the first query (position
   * 7) sees keys 6 and 7 only, so with P + T = 3 its row is fully masked
   * and gives zeros in both forms. */
  check_attention_vs_composed("scale = 0.375, causal, offset = 7, window = 2",
                              "offset = 7, window = 2", 2, 1, 700);
}

static void test_attention_fully_masked(void) {
  const char *src =
      "module @m {\n"
      "  func @f(%q: f32[1, 2, 2], %k: f32[1, 2, 2], %v: f32[1, 2, 2]) -> f32[1, 2, 2] {\n"
      "    %o = attention(%q, %k, %v) {scale = 1.0, causal, offset = 2, window = 1}\n"
      "        : f32[1, 2, 2]\n"
      "    return %o\n"
      "  }\n"
      "}\n";
  /* queries at positions 2 and 3 with window 1 see only keys 2 and 3,
   * which do not exist: both rows are fully masked. */
  Run r = run_src(src, "f", NULL,
                  (IrTensor[]){TF(SH(1, 2, 2), 1, 2, 3, 4), TF(SH(1, 2, 2), 1, 2, 3, 4),
                               TF(SH(1, 2, 2), 1, 2, 3, 4)},
                  3);
  CHECK(r.ok);
  if (r.ok) CHECK_F(&r.outs[0], 0, 0, 0, 0, 0);
  run_free(&r);
}

int main(void) {
  test_embedding();
  test_matmul_small();
  test_matmul_broadcast();
  test_matmul_odd();
  test_matmul_mixed();
  test_norms();
  test_rope();
  test_rope_llama3();
  test_softmax();
  test_attention_small();
  test_attention_differential();
  test_attention_fully_masked();
  return check_report();
}
