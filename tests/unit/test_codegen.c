/* test_codegen.c: every op of the CPU backend against the interpreter.
 *
 * Each module derives its inputs from parameters (random values, or
 * inline initializers for special values: ties, NaN, -inf, ints) and the
 * entry's tokens, applies the ops under test and returns a float tensor.
 * test_codegen_util.h compiles it to a shared library, runs it at several
 * (T, P) and, for stateful modules, as prefill + decode sequences, under
 * four parallel_for schedules, and compares with the interpreter:
 * CGT_EXACT for data movement and for ops whose arithmetic follows the
 * interpreter step by step, CGT_SUM_TOL (1e-5 relative) where f32 sums
 * are reordered (and one bf16/f16 ulp where such a sum is rounded to
 * bf16/f16). Also: two modules compiled at O0, the compile errors (i4, a
 * symbolic value head dim, integer div) and the weight packer. */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include "test_codegen_util.h"

#define HEADER "module @t {\n  sym T <= 16\n  sym P <= 16\n"

static const int64_t TP[][2] = {{1, 0}, {3, 0}, {5, 2}, {16, 0}, {7, 9}};
#define NTP (int)(sizeof TP / sizeof TP[0])

/* Compiles src, checks prefill at every TP pair, frees. */
static void check_prefill(const char *name, const char *src, double tol) {
  CgtModel *cm = cgt_from_text(name, src);
  cgt_check_prefills(cm, TP, NTP, tol);
  cgt_free(cm);
}

/* ---- embedding ---- */

static void test_embedding(void) {
  check_prefill("embedding",
                HEADER
                "  param @table : f32[8, 6]\n"
                "  param @tb : bf16[8, 6]\n"
                "  param @th : f16[8, 5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 17] {\n"
                "    %a = embedding(@table, %tokens) : f32[T, 6]\n"
                "    %b = embedding(@tb, %tokens) : f32[T, 6]\n"
                "    %c = embedding(@th, %tokens) : bf16[T, 5]\n"
                "    %cf = cast(%c) : f32[T, 5]\n"
                "    %r = concat(%a, %b, %cf) {axis = 1} : f32[T, 17]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
  /* ids of rank 2 from a parameter; the result [2, 3, 4] */
  check_prefill("embedding_rank2",
                HEADER
                "  param @table : f16[8, 4]\n"
                "  param @ids : i32[2, 3] = [0, 7, 3, 3, 1, 5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[2, 3, 4] {\n"
                "    %a = embedding(@table, @ids) : f32[2, 3, 4]\n"
                "    return %a\n  }\n}\n",
                CGT_EXACT);
}

/* ---- elementwise (cg_llvm_ops_elementwise.c), with broadcasting ---- */

static void test_elementwise(void) {
  /* finite inputs; log and sqrt of negatives give NaN on both sides */
  check_prefill("elementwise_float",
                HEADER
                "  param @e : f32[8, 12]\n  param @f : f32[8, 12]\n  param @row : f32[12]\n"
                "  param @col : f32[8, 1]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 228] {\n"
                "    %x = embedding(@e, %tokens) : f32[T, 12]\n"
                "    %y = embedding(@f, %tokens) : f32[T, 12]\n"
                "    %c = embedding(@col, %tokens) : f32[T, 1]\n"
                "    %two = const {value = 2.0} : f32[]\n"
                "    %a = add(%x, @row) : f32[T, 12]\n"
                "    %b = sub(%c, %y) : f32[T, 12]\n"
                "    %m = mul(%x, %two) : f32[T, 12]\n"
                "    %d = div(%x, %y) : f32[T, 12]\n"
                "    %mx = max(%x, %c) : f32[T, 12]\n"
                "    %mn = min(@row, %y) : f32[T, 12]\n"
                "    %ax = mul(%x, %x) : f32[T, 12]\n"
                "    %p = pow(%ax, %y) : f32[T, 12]\n"
                "    %n = neg(%x) : f32[T, 12]\n"
                "    %ex = exp(%x) : f32[T, 12]\n"
                "    %l = log(%x) : f32[T, 12]\n"
                "    %sq = sqrt(%x) : f32[T, 12]\n"
                "    %rs = rsqrt(%ax) : f32[T, 12]\n"
                "    %th = tanh(%x) : f32[T, 12]\n"
                "    %sg = sigmoid(%x) : f32[T, 12]\n"
                "    %si = silu(%x) : f32[T, 12]\n"
                "    %re = relu(%x) : f32[T, 12]\n"
                "    %g = gelu(%x) : f32[T, 12]\n"
                "    %gt = gelu(%x) {approx = \"tanh\"} : f32[T, 12]\n"
                "    %r = concat(%a, %b, %m, %d, %mx, %mn, %p, %n, %ex, %l, %sq, %rs, %th, %sg, "
                "%si, %re, %g, %gt, %x) {axis = 1} : f32[T, 228]\n"
                "    return %r\n  }\n}\n",
                CGT_SUM_TOL);
  /* ints wrap; casts between every dtype round, truncate and wrap */
  check_prefill("elementwise_int_cast",
                HEADER
                "  param @a : i32[6] = [2147483647, -5, 7, -2147483648, 100, -100]\n"
                "  param @b : i32[6] = [1, 3, -7, -1, 28, 29]\n"
                "  param @e : f32[8, 6]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 54] {\n"
                "    %s = add(@a, @b) : i32[6]\n    %d = sub(@a, @b) : i32[6]\n"
                "    %m = mul(@a, @b) : i32[6]\n    %x = max(@a, @b) : i32[6]\n"
                "    %n = min(@a, @b) : i32[6]\n    %g = neg(@a) : i32[6]\n"
                "    %w = cast(%m) : i8[6]\n    %ww = cast(%w) : i32[6]\n"
                "    %ints = concat(%s, %d, %m, %x, %n, %g, %ww) {axis = 0} : i32[42]\n"
                "    %fi = cast(%ints) : f32[42]\n"
                "    %z = const {value = 0.0} : f32[T, 42]\n"
                "    %fb = add(%z, %fi) : f32[T, 42]\n"
                "    %v = embedding(@e, %tokens) : f32[T, 6]\n"
                "    %k = const {value = 50.0} : f32[]\n"
                "    %big = mul(%v, %k) : f32[T, 6]\n"
                "    %bi = cast(%big) : i32[T, 6]\n    %bf = cast(%bi) : f32[T, 6]\n"
                "    %h = cast(%v) : f16[T, 6]\n    %hb = cast(%h) : bf16[T, 6]\n"
                "    %hf = cast(%hb) : f32[T, 6]\n"
                "    %r = concat(%fb, %bf, %hf) {axis = 1} : f32[T, 54]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
}

/* ---- matmul ---- */

/* x [T, 24] from the tokens, times a weight with N = 150: two full
 * column blocks of 64 and a partial one. */
#define MM_X "    %x = embedding(@e, %tokens) : f32[T, 24]\n"

static void test_matmul(void) {
  check_prefill("matmul",
                HEADER
                "  param @e : f32[8, 24]\n  param @w : f32[24, 150]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 150] {\n" MM_X
                "    %y = matmul(%x, @w) : f32[T, 150]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  check_prefill("matmul_tb_bf16",
                HEADER
                "  param @e : f32[8, 24]\n  param @w : bf16[150, 24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 150] {\n" MM_X
                "    %y = matmul(%x, @w) {transpose_b} : f32[T, 150]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  /* x^T x: K = T is symbolic */
  check_prefill("matmul_ta",
                HEADER
                "  param @e : f32[8, 24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[24, 24] {\n" MM_X
                "    %y = matmul(%x, %x) {transpose_a} : f32[24, 24]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  /* a^T x^T: [5, T], N = T symbolic; f16 weights, f16 result */
  check_prefill("matmul_ta_tb_f16",
                HEADER
                "  param @e : f32[8, 24]\n  param @a : f16[24, 5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[5, T] {\n" MM_X
                "    %y = matmul(@a, %x) {transpose_a, transpose_b} : f16[5, T]\n"
                "    %r = cast(%y) : f32[5, T]\n"
                "    return %r\n  }\n}\n",
                CGT_F16_ULP);
  /* batch: [4, T, 6] x [6, 70] (b broadcast over the batch) */
  check_prefill("matmul_batch",
                HEADER
                "  param @e : f32[8, 24]\n  param @w : f32[6, 70]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[4, T, 70] {\n" MM_X
                "    %x3 = reshape(%x) : f32[T, 4, 6]\n"
                "    %xt = transpose(%x3) {perm = [1, 0, 2]} : f32[4, T, 6]\n"
                "    %y = matmul(%xt, @w) : f32[4, T, 70]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  /* batch on both sides, a's size-1 dim broadcast: [3, 1, T, 6] x [3, 2, 6, 5] */
  check_prefill("matmul_batch_both",
                HEADER
                "  param @e : f32[8, 18]\n  param @w : f32[3, 2, 6, 5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[3, 2, T, 5] {\n"
                "    %x = embedding(@e, %tokens) : f32[T, 18]\n"
                "    %x3 = reshape(%x) : f32[T, 3, 1, 6]\n"
                "    %xt = transpose(%x3) {perm = [1, 2, 0, 3]} : f32[3, 1, T, 6]\n"
                "    %y = matmul(%xt, @w) : f32[3, 2, T, 5]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  /* grouped-query scores: [Hkv, G, T, D] x [Hkv, 1, T, D]^T */
  check_prefill("matmul_gqa",
                HEADER
                "  param @e : f32[8, 24]\n  param @f : f32[8, 12]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[2, 2, T, T] {\n" MM_X
                "    %q = reshape(%x) : f32[T, 2, 2, 6]\n"
                "    %qt = transpose(%q) {perm = [1, 2, 0, 3]} : f32[2, 2, T, 6]\n"
                "    %k0 = embedding(@f, %tokens) : f32[T, 12]\n"
                "    %k = reshape(%k0) : f32[T, 2, 1, 6]\n"
                "    %kt = transpose(%k) {perm = [1, 2, 0, 3]} : f32[2, 1, T, 6]\n"
                "    %s = matmul(%qt, %kt) {transpose_b} : f32[2, 2, T, T]\n"
                "    return %s\n  }\n}\n",
                CGT_SUM_TOL);
  /* decode's M = 1 against prefill's M = T, bf16 result rounding */
  CgtModel *cm = cgt_from_text("matmul_decode", HEADER
                               "  param @e : f32[8, 24]\n  param @w : bf16[130, 24]\n"
                               "  func @prefill(%tokens: i32[T]) -> f32[T, 130] {\n" MM_X
                               "    %y = matmul(%x, @w) {transpose_b} : bf16[T, 130]\n"
                               "    %r = cast(%y) : f32[T, 130]\n"
                               "    return %r\n  }\n"
                               "  func @decode(%token: i32[1]) -> f32[1, 130] {\n"
                               "    %x = embedding(@e, %token) : f32[1, 24]\n"
                               "    %y = matmul(%x, @w) {transpose_b} : f32[1, 130]\n"
                               "    return %y\n  }\n}\n");
  CgtCall calls[] = {{"prefill", 6, 0, NULL}, {"decode", 1, 6, NULL}, {"decode", 1, 7, NULL}};
  cgt_check(cm, calls, 3, CGT_BF16_ULP);
  cgt_free(cm);
}

/* ---- norms ---- */

static void test_norms(void) {
  check_prefill("rmsnorm",
                HEADER
                "  param @e : f32[8, 24]\n  param @g : bf16[24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 24] {\n" MM_X
                "    %y = rmsnorm(%x, @g) {eps = 1e-05} : f32[T, 24]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  check_prefill("layernorm_rank3",
                HEADER
                "  param @e : f32[8, 24]\n  param @g : f32[12]\n  param @b : f16[12]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 2, 12] {\n" MM_X
                "    %x3 = reshape(%x) : f32[T, 2, 12]\n"
                "    %y = layernorm(%x3, @g, @b) {eps = 1e-06} : f32[T, 2, 12]\n"
                "    return %y\n  }\n}\n",
                CGT_SUM_TOL);
  /* bf16 activations: results rounded to bf16, so one bf16 ulp apart at most */
  check_prefill("norms_bf16",
                HEADER
                "  param @e : f32[8, 24]\n  param @g : f32[24]\n  param @b : f32[24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 48] {\n" MM_X
                "    %xb = cast(%x) : bf16[T, 24]\n"
                "    %r = rmsnorm(%xb, @g) {eps = 1e-05} : bf16[T, 24]\n"
                "    %l = layernorm(%xb, @g, @b) {eps = 1e-05} : bf16[T, 24]\n"
                "    %c = concat(%r, %l) {axis = 1} : bf16[T, 48]\n"
                "    %y = cast(%c) : f32[T, 48]\n"
                "    return %y\n  }\n}\n",
                CGT_BF16_ULP);
}

/* ---- rope ---- */

/* x [T, 32] rotated at positions %p derived from P (START defines %p). */
#define ROPE_MODULE(ATTRS, START)                                  \
  HEADER                                                           \
  "  param @e : f32[8, 32]\n"                                      \
  "  func @prefill(%tokens: i32[T]) -> f32[T, 32] {\n"             \
  "    %x = embedding(@e, %tokens) : f32[T, 32]\n"                 \
  "    %pos = iota {start = P} : i32[T]\n" START                   \
  "    %y = rope(%x, %p) {" ATTRS "} : f32[T, 32]\n"               \
  "    return %y\n  }\n}\n"
/* positions 2P, 2P + 2, ... */
#define POS_AS_IS "    %p = add(%pos, %pos) : i32[T]\n"
/* positions P + 100003, ...: large angles, reduced in f64 */
#define POS_FAR                                    \
  "    %far = const {value = 100003.0} : i32[T]\n" \
  "    %p = add(%pos, %far) : i32[T]\n"

static void test_rope(void) {
  check_prefill("rope_half", ROPE_MODULE("head_dim = 8, theta = 10000.0", POS_AS_IS), CGT_EXACT);
  check_prefill("rope_far", ROPE_MODULE("head_dim = 16, theta = 500000.0", POS_FAR), CGT_EXACT);
  check_prefill("rope_interleaved_partial",
                ROPE_MODULE("head_dim = 8, theta = 10000.0, pairing = \"interleaved\", "
                            "rotary_dim = 4",
                            POS_AS_IS),
                CGT_EXACT);
  check_prefill("rope_half_partial",
                ROPE_MODULE("head_dim = 16, theta = 10000.0, rotary_dim = 6", POS_FAR), CGT_EXACT);
  check_prefill("rope_linear",
                ROPE_MODULE("head_dim = 8, theta = 10000.0, scaling = \"linear\", factor = 2.0",
                            POS_FAR),
                CGT_EXACT);
  /* llama3 with original 64: of 8 frequencies one kept, two interpolated, five divided */
  check_prefill("rope_llama3",
                ROPE_MODULE("head_dim = 16, theta = 10000.0, scaling = \"llama3\", factor = 8.0, "
                            "low_freq_factor = 1.0, high_freq_factor = 4.0, "
                            "original_max_position = 64",
                            POS_FAR),
                CGT_EXACT);
  /* rank 3 [2, T, 16] (heads first): the row's position is row % T; bf16 in and out */
  check_prefill("rope_rank3_bf16",
                HEADER
                "  param @e : bf16[8, 32]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[2, T, 16] {\n"
                "    %x = embedding(@e, %tokens) : bf16[T, 32]\n"
                "    %x3 = reshape(%x) : bf16[T, 2, 16]\n"
                "    %xt = transpose(%x3) {perm = [1, 0, 2]} : bf16[2, T, 16]\n"
                "    %pos = iota {start = P} : i64[T]\n"
                "    %y = rope(%xt, %pos) {head_dim = 16, theta = 10000.0} : bf16[2, T, 16]\n"
                "    %r = cast(%y) : f32[2, T, 16]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
}

/* ---- softmax ---- */

static void test_softmax(void) {
  check_prefill("softmax_axes",
                HEADER
                "  param @e : f32[8, 24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 72] {\n" MM_X
                "    %s = const {value = 3.0} : f32[]\n"
                "    %xs = mul(%x, %s) : f32[T, 24]\n"
                "    %a = softmax(%xs) : f32[T, 24]\n"
                "    %b = softmax(%xs) {axis = 0} : f32[T, 24]\n"
                "    %x3 = reshape(%xs) : f32[T, 4, 6]\n"
                "    %c3 = softmax(%x3) {axis = 1} : f32[T, 4, 6]\n"
                "    %c = reshape(%c3) : f32[T, 24]\n"
                "    %r = concat(%a, %b, %c) {axis = 1} : f32[T, 72]\n"
                "    return %r\n  }\n}\n",
                CGT_SUM_TOL);
  /* scores [T, P+T] under a causal mask with a window */
  check_prefill("softmax_masked",
                HEADER
                "  param @e : f32[8, 1]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, P+T] {\n"
                "    %x = embedding(@e, %tokens) : f32[T, 1]\n"
                "    %j = iota : f32[P+T]\n"
                "    %jr = reshape(%j) : f32[1, P+T]\n"
                "    %s = mul(%x, %jr) : f32[T, P+T]\n"
                "    %m = causal_mask {offset = P, window = 3} : f32[T, P+T]\n"
                "    %sm = add(%s, %m) : f32[T, P+T]\n"
                "    %p = softmax(%sm) : f32[T, P+T]\n"
                "    return %p\n  }\n}\n",
                CGT_SUM_TOL);
  /* fully masked rows (all -inf) give zeros, along either axis; a NaN row stays NaN */
  check_prefill("softmax_fully_masked",
                HEADER
                "  param @m : f32[4, 4] = [-inf, -inf, -inf, -inf, 0.0, -inf, 1.0, 2.0,\n"
                "                          -inf, -inf, 3.0, -inf, nan, 1.0, -inf, 0.5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[4, 8] {\n"
                "    %a = softmax(@m) : f32[4, 4]\n"
                "    %b = softmax(@m) {axis = 0} : f32[4, 4]\n"
                "    %r = concat(%a, %b) {axis = 1} : f32[4, 8]\n"
                "    return %r\n  }\n}\n",
                CGT_SUM_TOL);
  /* bf16: the division sees unrounded exponentials; results one bf16 ulp apart at most */
  check_prefill("softmax_bf16",
                HEADER
                "  param @e : f32[8, 24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 24] {\n" MM_X
                "    %xb = cast(%x) : bf16[T, 24]\n"
                "    %p = softmax(%xb) : bf16[T, 24]\n"
                "    %r = cast(%p) : f32[T, 24]\n"
                "    return %r\n  }\n}\n",
                CGT_BF16_ULP);
}

/* ---- attention ---- */

/* q [4, T, 8] and k, v [2, T, 8] from the tokens; k and v go through the
 * KV cache (kv_write at P, kv_read of P+T positions). ATTRS: the
 * attention op's attributes; DV: v's head dim. */
#define ATTN_MODULE(ATTRS, DV, DVX2, KEYS)                                      \
  HEADER                                                                         \
  "  param @eq : f32[8, 32]\n"                                                   \
  "  param @ek : f32[8, 16]\n"                                                   \
  "  param @ev : f32[8, " DVX2 "]\n"                                             \
  "  state @kc : f32[2, 32, 8]\n"                                                \
  "  state @vc : f32[2, 32, " DV "]\n"                                           \
  "  func @prefill(%tokens: i32[T]) -> f32[4, T, " DV "] {\n"                    \
  "    %q0 = embedding(@eq, %tokens) : f32[T, 32]\n"                             \
  "    %q1 = reshape(%q0) : f32[T, 4, 8]\n"                                      \
  "    %q = transpose(%q1) {perm = [1, 0, 2]} : f32[4, T, 8]\n"                  \
  "    %k0 = embedding(@ek, %tokens) : f32[T, 16]\n"                             \
  "    %k1 = reshape(%k0) : f32[T, 2, 8]\n"                                      \
  "    %k = transpose(%k1) {perm = [1, 0, 2]} : f32[2, T, 8]\n"                  \
  "    %v0 = embedding(@ev, %tokens) : f32[T, " DVX2 "]\n"                       \
  "    %v1 = reshape(%v0) : f32[T, 2, " DV "]\n"                                 \
  "    %v = transpose(%v1) {perm = [1, 0, 2]} : f32[2, T, " DV "]\n"             \
  "    kv_write(@kc, %k) {offset = P}\n"                                         \
  "    kv_write(@vc, %v) {offset = P}\n"                                         \
  "    %kc = kv_read(@kc) {len = " KEYS "} : f32[2, " KEYS ", 8]\n"              \
  "    %vc = kv_read(@vc) {len = " KEYS "} : f32[2, " KEYS ", " DV "]\n"         \
  "    %o = attention(%q, %kc, %vc) {" ATTRS "} : f32[4, T, " DV "]\n"           \
  "    return %o\n  }\n}\n"

/* Prefill, two decodes through prefill's entry (T = 1), a second prefill. */
static void check_attention(const char *name, const char *src) {
  CgtModel *cm = cgt_from_text(name, src);
  CgtCall calls[] = {{"prefill", 5, 0, NULL},
                     {"prefill", 1, 5, NULL},
                     {"prefill", 1, 6, NULL},
                     {"prefill", 9, 7, NULL}};
  cgt_check(cm, calls, 4, CGT_SUM_TOL);
  cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
}

static void test_attention(void) {
  check_attention("attention_causal_gqa",
                  ATTN_MODULE("scale = 0.35, causal, offset = P", "8", "16", "P+T"));
  check_attention("attention_window",
                  ATTN_MODULE("scale = 0.35, causal, offset = P, window = 3", "8", "16", "P+T"));
  check_attention("attention_full_dv6", ATTN_MODULE("scale = 0.5", "6", "12", "P+T"));
  /* keys of this call only, at positions P..: with P >= T + 1 and a window of 2
   * every key is outside the window of every query: all rows are zeros */
  check_attention("attention_fully_masked",
                  ATTN_MODULE("scale = 0.5, causal, offset = P, window = 2", "8", "16", "T"));
  /* rank 4 with a batch of 2, bf16 operands and result */
  check_prefill("attention_batch_bf16",
                HEADER
                "  param @e : bf16[8, 64]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[2, 2, T, 8] {\n"
                "    %x = embedding(@e, %tokens) : bf16[T, 64]\n"
                "    %x1 = reshape(%x) : bf16[T, 2, 4, 8]\n"
                "    %x2 = transpose(%x1) {perm = [1, 2, 0, 3]} : bf16[2, 4, T, 8]\n"
                "    %q = slice(%x2) {axis = 1, start = 0, end = 2} : bf16[2, 2, T, 8]\n"
                "    %k = slice(%x2) {axis = 1, start = 2, end = 3} : bf16[2, 1, T, 8]\n"
                "    %v = slice(%x2) {axis = 1, start = 3, end = 4} : bf16[2, 1, T, 8]\n"
                "    %o = attention(%q, %k, %v) {scale = 0.4, causal} : bf16[2, 2, T, 8]\n"
                "    %r = cast(%o) : f32[2, 2, T, 8]\n"
                "    return %r\n  }\n}\n",
                CGT_BF16_ULP);
}

/* ---- reductions ---- */

static void test_reduce(void) {
  check_prefill("reduce_float",
                HEADER
                "  param @e : f32[8, 24]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 9] {\n" MM_X
                "    %x3 = reshape(%x) : f32[T, 4, 6]\n"
                "    %s = reduce_sum(%x3) {axis = -1} : f32[T, 4, 1]\n"
                "    %m = reduce_mean(%x3) {axis = 1} : f32[T, 1, 6]\n"
                "    %x0 = reduce_max(%x) {axis = 0} : f32[1, 24]\n"
                "    %mx = reduce_max(%x0) {axis = 1} : f32[1, 1]\n"
                "    %s2 = reshape(%s) : f32[T, 4]\n"
                "    %m2 = reshape(%m) : f32[T, 6]\n"
                "    %sm = concat(%s2, %m2) {axis = 1} : f32[T, 10]\n"
                "    %r = slice(%sm) {axis = 1, start = 1, end = 10} : f32[T, 9]\n"
                "    %mxb = add(%r, %mx) : f32[T, 9]\n"
                "    return %mxb\n  }\n}\n",
                CGT_SUM_TOL);
  /* ints: wrap-around sum, truncating mean of negatives, max; over an i8 too */
  check_prefill("reduce_int",
                HEADER
                "  param @a : i32[3, 4] = [2147483647, 1, 0, 0, -7, 2, 0, 0, -9, -1, -3, 4]\n"
                "  param @b : i8[2, 3] = [100, 100, -128, -5, -4, -4]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[3, 5] {\n"
                "    %s = reduce_sum(@a) {axis = 1} : i32[3, 1]\n"
                "    %m = reduce_mean(@a) {axis = -1} : i32[3, 1]\n"
                "    %x = reduce_max(@a) {axis = -1} : i32[3, 1]\n"
                "    %bs = reduce_sum(@b) {axis = 0} : i8[1, 3]\n"
                "    %bm = reduce_mean(@b) {axis = -1} : i8[2, 1]\n"
                "    %bst = transpose(%bs) {perm = [1, 0]} : i8[3, 1]\n"
                "    %bmx = reduce_max(@b) {axis = 0} : i8[1, 3]\n"
                "    %bmt = transpose(%bmx) {perm = [1, 0]} : i8[3, 1]\n"
                "    %bi = concat(%bst, %bmt) {axis = 1} : i8[3, 2]\n"
                "    %bw = cast(%bi) : i32[3, 2]\n"
                "    %c = concat(%s, %m, %x, %bw) {axis = 1} : i32[3, 5]\n"
                "    %r = cast(%c) : f32[3, 5]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
  /* an empty axis (P = 0): sum 0, mean NaN, max -inf */
  check_prefill("reduce_empty",
                HEADER
                "  param @e : f32[8, 3]\n"
                "  state @s : f32[32, 3]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[3, 3] {\n"
                "    %x = embedding(@e, %tokens) : f32[T, 3]\n"
                "    kv_write(@s, %x) {offset = P, axis = 0}\n"
                "    %past = kv_read(@s) {len = P, axis = 0} : f32[P, 3]\n"
                "    %a = reduce_sum(%past) {axis = 0} : f32[1, 3]\n"
                "    %b = reduce_mean(%past) {axis = 0} : f32[1, 3]\n"
                "    %c = reduce_max(%past) {axis = 0} : f32[1, 3]\n"
                "    %r = concat(%a, %b, %c) {axis = 0} : f32[3, 3]\n"
                "    return %r\n  }\n}\n",
                CGT_SUM_TOL);
}

/* ---- sources ---- */

static void test_sources(void) {
  /* float consts rounded to the dtype, int consts truncated and wrapped */
  check_prefill("const",
                HEADER
                "  func @prefill(%tokens: i32[T]) -> f32[T, 6] {\n"
                "    %a = const {value = 0.1} : bf16[T, 1]\n"
                "    %b = const {value = 0.1} : f16[T, 1]\n"
                "    %c = const {value = -2.7} : i32[T, 1]\n"
                "    %d = const {value = 3000000000.0} : i32[T, 1]\n"
                "    %e = const {value = 300.0} : i8[T, 1]\n"
                "    %f = const {value = -inf} : f32[T, 1]\n"
                "    %af = cast(%a) : f32[T, 1]\n    %bf = cast(%b) : f32[T, 1]\n"
                "    %cf = cast(%c) : f32[T, 1]\n    %df = cast(%d) : f32[T, 1]\n"
                "    %ef = cast(%e) : f32[T, 1]\n"
                "    %r = concat(%af, %bf, %cf, %df, %ef, %f) {axis = 1} : f32[T, 6]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
  check_prefill(
      "const_scalar_iota",
      HEADER
      "  func @prefill(%tokens: i32[T]) -> f32[T, 3] {\n"
      "    %s = const {value = 0.5} : f32[]\n"
      "    %i = iota {start = P} : i32[T]\n"
      "    %f = iota {start = P} : bf16[T]\n"
      "    %h = iota : f16[T]\n"
      "    %if = cast(%i) : f32[T]\n    %ff = cast(%f) : f32[T]\n    %hf = cast(%h) : f32[T]\n"
      "    %c = concat(%if, %ff, %hf) {axis = 0} : f32[3*T]\n"
      "    %cs = mul(%c, %s) : f32[3*T]\n"
      "    %r0 = reshape(%cs) : f32[3, T]\n"
      "    %r = transpose(%r0) {perm = [1, 0]} : f32[T, 3]\n"
      "    return %r\n  }\n}\n",
      CGT_EXACT);
  check_prefill("causal_mask",
                HEADER
                "  func @prefill(%tokens: i32[T]) -> f32[T, 2*P+2*T] {\n"
                "    %a = causal_mask {offset = P} : f32[T, P+T]\n"
                "    %b = causal_mask {offset = P, window = 3} : bf16[T, P+T]\n"
                "    %bf = cast(%b) : f32[T, P+T]\n"
                "    %r = concat(%a, %bf) {axis = 1} : f32[T, 2*P+2*T]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
}

/* ---- data movement ---- */

static void test_data_movement(void) {
  check_prefill("transpose_slice_concat",
                HEADER
                "  param @e : f32[8, 24]\n  param @c : f32[2, 5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[3*T+2, 5] {\n" MM_X
                "    %x3 = reshape(%x) : f32[T, 4, 6]\n"
                "    %t = transpose(%x3) {perm = [2, 0, 1]} : f32[6, T, 4]\n"
                "    %t2 = reshape(%t) : f32[6*T, 4]\n"
                "    %u = slice(%x) {axis = 1, start = 5, end = 10} : f32[T, 5]\n"
                "    %v = slice(%t2) {axis = 0, start = T, end = 3*T} : f32[2*T, 4]\n"
                "    %w = slice(%x) {axis = -1, start = 19, end = 20} : f32[T, 1]\n"
                "    %vw = reshape(%v) : f32[T, 8]\n"
                "    %vv = slice(%vw) {axis = 1, start = 0, end = 4} : f32[T, 4]\n"
                "    %vx = concat(%vv, %w) {axis = 1} : f32[T, 5]\n"
                "    %r = concat(%u, @c, %vx, %u) {axis = 0} : f32[3*T+2, 5]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
  /* bf16 and int data move bit for bit */
  check_prefill("data_bf16_int",
                HEADER
                "  param @e : bf16[8, 6]\n  param @i : i64[2, 3] = [1, -2, 3, 4, 5, -6]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 12] {\n"
                "    %x = embedding(@e, %tokens) : bf16[T, 6]\n"
                "    %t = transpose(%x) {perm = [1, 0]} : bf16[6, T]\n"
                "    %tt = transpose(%t) {perm = [1, 0]} : bf16[T, 6]\n"
                "    %xf = cast(%tt) : f32[T, 6]\n"
                "    %ir = reshape(@i) : i64[6]\n"
                "    %it = cast(%ir) : f32[6]\n"
                "    %z = const {value = 0.0} : f32[T, 6]\n"
                "    %ib = add(%z, %it) : f32[T, 6]\n"
                "    %r = concat(%xf, %ib) {axis = 1} : f32[T, 12]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
}

/* ---- topk and scatter ---- */

static void test_routing(void) {
  /* ties (lower index first), NaN above numbers, -inf, -0 and +0 tie */
  check_prefill("topk_ties",
                HEADER
                "  param @e : f32[8, 6] = [1.0, 3.0, 3.0, 2.0, 3.0, 0.0,\n"
                "                          nan, 1.0, nan, -inf, 5.0, 1.0,\n"
                "                          -0.0, 0.0, -1.0, -0.0, 0.0, -inf,\n"
                "                          -inf, -inf, -inf, -inf, -inf, -inf,\n"
                "                          2.0, 2.0, 2.0, 2.0, 2.0, 2.0,\n"
                "                          0.5, 0.25, 0.125, 1.0, 2.0, 4.0,\n"
                "                          6.0, 5.0, 4.0, 3.0, 2.0, 1.0,\n"
                "                          1.0, 9.0, 1.0, 9.0, 1.0, 9.0]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 12] {\n"
                "    %x = embedding(@e, %tokens) : f32[T, 6]\n"
                "    %v, %i = topk(%x) {k = 6} : f32[T, 6], i32[T, 6]\n"
                "    %if = cast(%i) : f32[T, 6]\n"
                "    %r = concat(%v, %if) {axis = 1} : f32[T, 12]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
  /* ints and bf16, k < n, i64 indices */
  check_prefill("topk_int_bf16",
                HEADER
                "  param @a : i32[3, 5] = [4, 4, 1, 4, 9, -1, -2, -1, -3, -1, 7, 8, 9, 9, 8]\n"
                "  param @e : bf16[8, 5]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 6] {\n"
                "    %av, %ai = topk(@a) {k = 3} : i32[3, 3], i64[3, 3]\n"
                "    %x = embedding(@e, %tokens) : bf16[T, 5]\n"
                "    %v, %i = topk(%x) {k = 2} : bf16[T, 2], i64[T, 2]\n"
                "    %vf = cast(%v) : f32[T, 2]\n    %if = cast(%i) : f32[T, 2]\n"
                "    %a2 = reshape(%ai) : i64[9]\n    %a3 = slice(%a2) {axis = 0, start = 0, end = "
                "2} : i64[2]\n"
                "    %af = cast(%a3) : f32[2]\n"
                "    %z = const {value = 0.0} : f32[T, 2]\n    %ab = add(%z, %af) : f32[T, 2]\n"
                "    %r = concat(%vf, %if, %ab) {axis = 1} : f32[T, 6]\n"
                "    return %r\n  }\n}\n",
                CGT_EXACT);
  /* Mixture-of-experts routing: top-2 of 6 router logits, softmax over the two, scattered
   * into a dense [T, 6] gate; plus duplicate indices (they add up) and out-of-range-free bf16 */
  check_prefill("scatter_routing",
                HEADER
                "  param @e : f32[8, 6]\n"
                "  param @idx : i32[2, 3] = [1, 1, 4, 0, 5, 5]\n"
                "  param @w : bf16[2, 3] = [0.5, 0.25, 1.0, -2.0, 0.125, 3.0]\n"
                "  func @prefill(%tokens: i32[T]) -> f32[T, 18] {\n"
                "    %x = embedding(@e, %tokens) : f32[T, 6]\n"
                "    %v, %i = topk(%x) {k = 2} : f32[T, 2], i32[T, 2]\n"
                "    %p = softmax(%v) : f32[T, 2]\n"
                "    %g = scatter(%i, %p) {size = 6} : f32[T, 6]\n"
                "    %d = scatter(@idx, @w) {size = 6} : bf16[2, 6]\n"
                "    %df = cast(%d) : f32[2, 6]\n"
                "    %d2 = reshape(%df) : f32[12]\n"
                "    %z = const {value = 0.0} : f32[T, 12]\n"
                "    %db = add(%z, %d2) : f32[T, 12]\n"
                "    %r = concat(%g, %db) {axis = 1} : f32[T, 18]\n"
                "    return %r\n  }\n}\n",
                CGT_SUM_TOL);
}

/* ---- KV cache ---- */

static void test_kv_cache(void) {
  CgtModel *cm = cgt_from_text("kv_cache", HEADER
                               "  param @e : f32[8, 12]\n"
                               "  state @s : f32[3, 16, 4]\n"
                               "  state @r : bf16[16, 5]\n"
                               "  func @prefill(%tokens: i32[T]) -> f32[P+T, 17] {\n"
                               "    %x = embedding(@e, %tokens) : f32[T, 12]\n"
                               "    %x3 = reshape(%x) : f32[T, 3, 4]\n"
                               "    %xt = transpose(%x3) {perm = [1, 0, 2]} : f32[3, T, 4]\n"
                               "    kv_write(@s, %xt) {offset = P}\n"
                               "    %all = kv_read(@s) {len = P+T} : f32[3, P+T, 4]\n"
                               "    %a2 = transpose(%all) {perm = [1, 0, 2]} : f32[P+T, 3, 4]\n"
                               "    %a3 = reshape(%a2) : f32[P+T, 12]\n"
                               "    %y = slice(%x) {axis = 1, start = 2, end = 7} : f32[T, 5]\n"
                               "    %yb = cast(%y) : bf16[T, 5]\n"
                               "    kv_write(@r, %yb) {offset = P, axis = 0}\n"
                               "    %rr = kv_read(@r) {len = P+T, axis = 0} : bf16[P+T, 5]\n"
                               "    %rf = cast(%rr) : f32[P+T, 5]\n"
                               "    %o = concat(%a3, %rf) {axis = 1} : f32[P+T, 17]\n"
                               "    return %o\n  }\n"
                               "  func @decode(%token: i32[1]) -> f32[3, 1, 4] {\n"
                               "    %x = embedding(@e, %token) : f32[1, 12]\n"
                               "    %x3 = reshape(%x) : f32[1, 3, 4]\n"
                               "    %xt = transpose(%x3) {perm = [1, 0, 2]} : f32[3, 1, 4]\n"
                               "    kv_write(@s, %xt) {offset = P}\n"
                               "    %last = kv_read(@s) {start = P, len = 1} : f32[3, 1, 4]\n"
                               "    return %last\n  }\n}\n");
  CgtCall calls[] = {{"prefill", 3, 0, NULL},
                     {"decode", 1, 3, NULL},
                     {"decode", 1, 4, NULL},
                     {"prefill", 5, 5, NULL},
                     {"prefill", 6, 10, NULL}};
  cgt_check(cm, calls, 5, CGT_EXACT);
  cgt_free(cm);
}

/* ---- optimization level: the same kernels unoptimized ---- */

static void test_unoptimized(void) {
  CgtModel *cm = cgt_from_text_opt(
      "attention_O0", ATTN_MODULE("scale = 0.35, causal, offset = P, window = 4", "8", "16", "P+T"),
      0);
  CgtCall calls[] = {{"prefill", 6, 0, NULL}, {"prefill", 1, 6, NULL}};
  cgt_check(cm, calls, 2, CGT_SUM_TOL);
  cgt_free(cm);
  cm = cgt_from_text_opt("matmul_O0",
                         HEADER
                         "  param @e : f32[8, 24]\n  param @w : f32[24, 70]\n  param @g : f32[70]\n"
                         "  func @prefill(%tokens: i32[T]) -> f32[T, 70] {\n" MM_X
                         "    %y = matmul(%x, @w) : f32[T, 70]\n"
                         "    %n = rmsnorm(%y, @g) {eps = 1e-05} : f32[T, 70]\n"
                         "    %p = softmax(%n) : f32[T, 70]\n"
                         "    return %p\n  }\n}\n",
                         0);
  cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
}

/* ---- what the backend refuses ---- */

static void test_errors(void) {
  CHECK_STR_CONTAINS(
      cgt_compile_error("i4", HEADER "  param @q : i4[2, 4] = [1, -2, 3, -4, 5, -6, 7, -8]\n"
                                     "  func @prefill(%tokens: i32[T]) -> i4[8] {\n"
                                     "    %r = reshape(@q) : i4[8]\n"
                                     "    return %r\n  }\n}\n"),
      "i4:6:5: error: the CPU backend does not support i4 (packed) values yet: "
      "operand 0 (@q) of 'reshape' is i4");
  CHECK_STR_CONTAINS(
      cgt_compile_error("dv", HEADER "  param @e : f32[8, 8]\n"
                                     "  func @prefill(%tokens: i32[T]) -> f32[1, T, T] {\n"
                                     "    %x = embedding(@e, %tokens) : f32[T, 8]\n"
                                     "    %q = reshape(%x) : f32[1, T, 8]\n"
                                     "    %s = matmul(%q, %q) {transpose_b} : f32[1, T, T]\n"
                                     "    %o = attention(%q, %q, %s) {scale = 1.0} : f32[1, T, T]\n"
                                     "    return %o\n  }\n}\n"),
      "dv:9:5: error: attention: the CPU backend needs a constant value head dim "
      "(the last dim of operand 2)");
  CHECK_STR_CONTAINS(
      cgt_compile_error("idiv",
                        HEADER "  param @a : i32[2] = [7, -7]\n  param @b : i32[2] = [2, 2]\n"
                               "  func @prefill(%tokens: i32[T]) -> i32[2] {\n"
                               "    %r = div(@a, @b) : i32[2]\n"
                               "    return %r\n  }\n}\n"),
      "idiv:7:5: error: the CPU backend does not lower integer div yet");
}

/* ---- the weight packer ---- */

static bool pack_source(void *user, const IrValue *p, CgParamData *out, IrDiag *d) {
  (void)d;
  const CgParamData *all = user;
  *out = all[p->name[0] - 'a'];
  return true;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void test_pack_weights(void) {
  const char *src = HEADER
      "  param @a : bf16[3]\n"
      "  param @b : f16[2, 2]\n"
      "  param @c : i4[3] = [-8, 7, -1]\n"
      "  param @d : i8[2]\n"
      "  param @e : f32[2] = [0.1, -2.5]\n"
      "}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "pack", &d);
  KernelPlan *plan = m ? kplan_build(m, &d) : NULL;
  CHECK(plan != NULL);
  if (!plan) return;
  /* 1 + 2^-8 and 1 + 3 * 2^-8 lie halfway between two bf16 values: they round to
   * the even one (down, up); 2^-140 is below bf16's smallest subnormal, 2^-133: 0;
   * 65520 rounds to f16 infinity; 2^-25 * 3 is an f16 subnormal (rounds to 2^-24 * 2) */
  float a[3] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 0x1p-140f};
  float b[4] = {65520.0f, 0x1p-25f * 3, -0.0f, 1.0f / 3};
  int32_t dd[2] = {127, -128};
  CgParamData srcs[5] = {{IR_F32, a, 3}, {IR_F32, b, 4}, {0}, {IR_I32, dd, 2}, {0}};
  uint8_t *blob = calloc(1, (size_t)plan->weights_bytes + 64);
  memset(blob, 0xab, (size_t)plan->weights_bytes);
  CHECK(cg_pack_weights(plan, pack_source, srcs, blob, &d));
  const uint8_t *pa = blob + kplan_buffer(plan, m->params[0])->offset;
  CHECK(le16(pa) == 0x3f80 && le16(pa + 2) == 0x3f82 && le16(pa + 4) == 0x0000);
  const uint8_t *pb = blob + kplan_buffer(plan, m->params[1])->offset;
  CHECK(le16(pb) == 0x7c00 && le16(pb + 2) == 0x0002 && le16(pb + 4) == 0x8000 &&
        le16(pb + 6) == 0x3555);
  const uint8_t *pc = blob + kplan_buffer(plan, m->params[2])->offset;
  CHECK(pc[0] == 0x78 && pc[1] == 0x0f);
  const uint8_t *pd = blob + kplan_buffer(plan, m->params[3])->offset;
  CHECK(pd[0] == 0x7f && pd[1] == 0x80 && pd[2] == 0);
  const uint8_t *pe = blob + kplan_buffer(plan, m->params[4])->offset;
  float e0;
  memcpy(&e0, pe, 4);
  CHECK(e0 == 0.1f);
  /* padding between parameters is zero */
  CHECK(pa[6] == 0 && pa[63] == 0);
  /* errors name the parameter */
  int32_t big[2] = {127, 128};
  srcs[3] = (CgParamData){IR_I32, big, 2};
  CHECK(!cg_pack_weights(plan, pack_source, srcs, blob, &d));
  CHECK_STR_CONTAINS(d.msg, "d: error: param @d: value 128 (element 1) is outside the range of i8");
  memset(&d, 0, sizeof d);
  srcs[3] = (CgParamData){IR_F32, a, 2};
  CHECK(!cg_pack_weights(plan, pack_source, srcs, blob, &d));
  CHECK_STR_CONTAINS(d.msg, "param @d is i8 but the source holds f32");
  memset(&d, 0, sizeof d);
  srcs[0] = (CgParamData){IR_F32, a, 2};
  CHECK(!cg_pack_weights(plan, pack_source, srcs, blob, &d));
  CHECK_STR_CONTAINS(d.msg, "a: error: param @a: the source has 2 values of f32, expected 3");
  memset(&d, 0, sizeof d);
  CHECK(!cg_pack_weights(plan, NULL, NULL, blob, &d));
  CHECK_STR_CONTAINS(d.msg, "param @a has no values (no initializer, no source)");
  free(blob);
  kplan_free(plan);
  ir_module_free(m);
}

int main(void) {
  cgt_setup();
  test_embedding();
  test_elementwise();
  test_matmul();
  test_norms();
  test_rope();
  test_softmax();
  test_attention();
  test_reduce();
  test_sources();
  test_data_movement();
  test_routing();
  test_kv_cache();
  test_unoptimized();
  test_errors();
  test_pack_weights();
  printf("largest relative difference to the interpreter: %.2g\n", cgt_worst);
  cgt_teardown();
  return check_report();
}
#else
int main(void) {
  printf("test_codegen: skipped, kiln was built without LLVM\n");
  return 0;
}
#endif
