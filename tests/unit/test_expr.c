/* test_expr.c: elementwise expressions (ir/ir_expr.c), the fused op and
 * matmul epilogues in the verifier and the interpreter.
 *
 *  1. Grammar: the postfix node program of a parsed expression; numbers,
 *     whitespace, acc; the canonical print and the print/parse round trip.
 *  2. Every op: ir_expr_eval of "op($0, $1)" against the formula of
 *     docs/ir.md written out here in C, on values that include 0, -0,
 *     negatives, NaN and infinities; bit for bit (the same f32 steps).
 *  3. Error messages, exactly, with their columns.
 *  4. The interpreter: a fused op and a matmul epilogue give the same bits
 *     as the unfused chain of plain ops (tolerance 0), with broadcasting.
 *  5. The verifier's errors for fused ops and epilogues; flops.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir_expr.h"
#include "test_interp_util.h"

static IrExpr parse_ok(const char *text, bool allow_acc) {
  IrExpr e;
  IrDiag d = {0};
  bool ok = ir_expr_parse(text, allow_acc, &e, (IrLoc){0}, &d);
  CHECK(ok);
  if (!ok) fprintf(stderr, "parse '%s': %s\n", text, d.msg);
  return e;
}

/* The canonical text of e (static buffer). */
static const char *print_expr(const IrExpr *e) {
  static char out[1024];
  IrBuf b = {0};
  ir_expr_print(&b, e);
  snprintf(out, sizeof out, "%s", b.data ? b.data : "");
  ir_buf_free(&b);
  return out;
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- 1. grammar ---- */

/* Node by node, field by field (struct padding is not part of a program). */
static bool same_program(const IrExpr *a, const IrExpr *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++) {
    const IrExprNode *x = &a->node[i], *y = &b->node[i];
    if (x->kind != y->kind || x->op != y->op || x->gelu_tanh != y->gelu_tanh ||
        x->operand != y->operand || x->value != y->value || x->arg[0] != y->arg[0] ||
        x->arg[1] != y->arg[1])
      return false;
  }
  return true;
}

static void test_grammar(void) {
  IrExpr e = parse_ok("mul(silu($0), $1)", false);
  CHECK(e.n == 4 && e.max_operand == 1 && !e.uses_acc);
  CHECK(e.node[0].kind == IR_EXPR_OPERAND && e.node[0].operand == 0);
  CHECK(e.node[1].kind == IR_EXPR_OP && e.node[1].op == IR_OP_SILU && e.node[1].arg[0] == 0 &&
        e.node[1].arg[1] == -1);
  CHECK(e.node[2].kind == IR_EXPR_OPERAND && e.node[2].operand == 1);
  CHECK(e.node[3].kind == IR_EXPR_OP && e.node[3].op == IR_OP_MUL && e.node[3].arg[0] == 1 &&
        e.node[3].arg[1] == 2);

  e = parse_ok("  add ( acc ,\t$12 )  ", true);
  CHECK(e.n == 3 && e.uses_acc && e.max_operand == 12 && e.node[0].kind == IR_EXPR_ACC);
  CHECK(strcmp(print_expr(&e), "add(acc, $12)") == 0);

  e = parse_ok("gelu_tanh($0)", false);
  CHECK(e.n == 2 && e.node[1].op == IR_OP_GELU && e.node[1].gelu_tanh);
  e = parse_ok("gelu($0)", false);
  CHECK(e.node[1].op == IR_OP_GELU && !e.node[1].gelu_tanh);

  /* numbers are rounded to f32 and print in the shortest form that rounds
   * back to the same f32 */
  e = parse_ok("max($0, 0.1)", false);
  CHECK(e.node[1].kind == IR_EXPR_CONST && e.node[1].value == (double)0.1f);
  CHECK(strcmp(print_expr(&e), "max($0, 0.1)") == 0);
  e = parse_ok("add(mul($0, -inf), 1e-05)", false);
  CHECK(isinf(e.node[1].value) && e.node[1].value < 0 && e.node[3].value == (double)1e-05f);
  CHECK(strcmp(print_expr(&e), "add(mul($0, -inf), 1e-05)") == 0);
  e = parse_ok("add($0, 2)", false); /* integer literal accepted, printed as a float */
  CHECK(strcmp(print_expr(&e), "add($0, 2.0)") == 0);
  e = parse_ok("add($0, -0.0)", false);
  CHECK(signbit(e.node[1].value));
  CHECK(strcmp(print_expr(&e), "add($0, -0.0)") == 0);
  e = parse_ok("neg(nan)", false);
  CHECK(isnan(e.node[0].value) && strcmp(print_expr(&e), "neg(nan)") == 0);
  e = parse_ok("$0", false);
  CHECK(e.n == 1 && strcmp(print_expr(&e), "$0") == 0);

  /* round trip: canonical text prints back to itself; parse(print) is the
   * same program */
  const char *canon[] = {"mul(silu($2), acc)", "add(div(sub($0, $1), sqrt($2)), 3.5)",
                         "gelu_tanh(add(acc, $3))", "pow(max($0, min($1, -2.25)), rsqrt($0))",
                         "sigmoid(tanh(log(exp(relu(neg($0))))))"};
  for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
    IrExpr a = parse_ok(canon[i], true);
    CHECK(strcmp(print_expr(&a), canon[i]) == 0);
    IrExpr b = parse_ok(print_expr(&a), true);
    CHECK(same_program(&a, &b));
  }

  /* 64 nodes fit: a chain of 63 negs around $0 */
  char big[1024] = "";
  for (int i = 0; i < 63; i++) strcat(big, "neg(");
  strcat(big, "$0");
  for (int i = 0; i < 63; i++) strcat(big, ")");
  e = parse_ok(big, false);
  CHECK(e.n == 64);
}

/* ---- 2. every op ---- */

typedef struct {
  const char *text;
  float (*ref)(float, float);
} OpCase;

static float r_add(float a, float b) { return a + b; }
static float r_sub(float a, float b) { return a - b; }
static float r_mul(float a, float b) { return a * b; }
static float r_div(float a, float b) { return a / b; }
static float r_max(float a, float b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static float r_min(float a, float b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }
static float r_pow(float a, float b) { return powf(a, b); }
static float r_neg(float a, float b) { return (void)b, -a; }
static float r_exp(float a, float b) { return (void)b, expf(a); }
static float r_log(float a, float b) { return (void)b, logf(a); }
static float r_sqrt(float a, float b) { return (void)b, sqrtf(a); }
static float r_rsqrt(float a, float b) { return (void)b, 1.0f / sqrtf(a); }
static float r_tanh(float a, float b) { return (void)b, tanhf(a); }
static float r_sigmoid(float a, float b) { return (void)b, 1.0f / (1.0f + expf(-a)); }
static float r_silu(float a, float b) { return (void)b, a * (1.0f / (1.0f + expf(-a))); }
static float r_relu(float a, float b) { return (void)b, isnan(a) ? a : a > 0 ? a : 0.0f; }
static float r_gelu(float a, float b) {
  (void)b;
  return a / 2 * (1 + erff(a * 0.70710678118654752f));
}
static float r_gelu_tanh(float a, float b) {
  (void)b;
  return a / 2 * (1 + tanhf(0.7978845608028654f * (a + 0.044715f * a * a * a)));
}

static void test_every_op(void) {
  const OpCase cases[] = {
      {"add($0, $1)", r_add},       {"sub($0, $1)", r_sub},         {"mul($0, $1)", r_mul},
      {"div($0, $1)", r_div},       {"max($0, $1)", r_max},         {"min($0, $1)", r_min},
      {"pow($0, $1)", r_pow},       {"neg($0)", r_neg},             {"exp($0)", r_exp},
      {"log($0)", r_log},           {"sqrt($0)", r_sqrt},           {"rsqrt($0)", r_rsqrt},
      {"tanh($0)", r_tanh},         {"sigmoid($0)", r_sigmoid},     {"silu($0)", r_silu},
      {"relu($0)", r_relu},         {"gelu($0)", r_gelu},           {"gelu_tanh($0)", r_gelu_tanh},
  };
  const float vals[] = {0.0f, -0.0f, 1.0f, -1.5f, 0.3f, 2.75f, 88.0f, -100.0f, NAN, INFINITY,
                        -INFINITY, 1e-30f};
  int nv = (int)(sizeof vals / sizeof vals[0]), bad = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    IrExpr e = parse_ok(cases[c].text, false);
    for (int i = 0; i < nv; i++) {
      for (int j = 0; j < nv; j++) {
        float ops[2] = {vals[i], vals[j]};
        float got = ir_expr_eval(&e, ops, 0.0f), want = cases[c].ref(vals[i], vals[j]);
        bool same = same_bits(got, want) || (isnan(got) && isnan(want));
        if (!same && bad++ < 5)
          fprintf(stderr, "%s at (%g, %g): %.9g, want %.9g\n", cases[c].text, vals[i], vals[j],
                  got, want);
        /* ir_expr_apply is the step eval uses */
        const IrExprNode *root = &e.node[e.n - 1];
        float step = ir_expr_apply(root->op, root->gelu_tanh, vals[i], vals[j]);
        if (!same_bits(step, got) && !(isnan(step) && isnan(got)) && bad++ < 5)
          fprintf(stderr, "%s: apply and eval differ\n", cases[c].text);
      }
    }
  }
  CHECK(bad == 0);
  /* max/min keep the sign of zeros as the interpreter does: a > b ? a : b */
  CHECK(signbit(ir_expr_apply(IR_OP_MAX, false, -0.0f, 0.0f)) == 0);
  CHECK(signbit(ir_expr_apply(IR_OP_MAX, false, 0.0f, -0.0f)) != 0);
  /* acc and constants */
  IrExpr e = parse_ok("mul(add(acc, $2), 0.5)", true);
  float ops[3] = {0, 0, 3.0f};
  CHECK(ir_expr_eval(&e, ops, 5.0f) == 4.0f);
}

/* ---- 3. errors ---- */

static void expect_error(const char *text, bool allow_acc, const char *want) {
  IrExpr e;
  IrDiag d = {0};
  IrLoc loc = {"t.kir", 3, 7};
  CHECK(!ir_expr_parse(text, allow_acc, &e, loc, &d) && d.failed);
  check_count++;
  if (strcmp(d.msg, want) != 0) {
    check_failures++;
    fprintf(stderr, "parse '%s':\n  got  %s\n  want %s\n", text, d.msg, want);
  }
}

static void test_errors(void) {
  expect_error("mul($0 $1)", false, "t.kir:3:7: error: expr column 8: expected ',' or ')' after an argument");
  expect_error("", false, "t.kir:3:7: error: expr column 1: expected an expression, found the end");
  expect_error("add($0, )", false, "t.kir:3:7: error: expr column 9: expected an expression, found ')'");
  expect_error("silu($0, $1)", false, "t.kir:3:7: error: expr column 1: silu takes 1 argument, found 2");
  expect_error("add($0)", false, "t.kir:3:7: error: expr column 1: add takes 2 arguments, found 1");
  expect_error("exp($x)", false, "t.kir:3:7: error: expr column 6: expected an operand index after '$'");
  expect_error("add(acc, $2)", false, "t.kir:3:7: error: expr column 5: acc is only valid in a matmul epilogue");
  expect_error("cast($0)", false,
               "t.kir:3:7: error: expr column 1: unknown function 'cast'; expected an elementwise op "
               "(add, sub, mul, div, max, min, pow, neg, exp, log, sqrt, rsqrt, tanh, sigmoid, "
               "silu, relu, gelu, gelu_tanh), a $operand, a number or acc");
  expect_error("exp $0", false, "t.kir:3:7: error: expr column 5: expected '(' after 'exp'");
  expect_error("exp($0))", false, "t.kir:3:7: error: expr column 8: expected the end of the expression, found ')'");
  expect_error("add($0, 1.5.2)", false, "t.kir:3:7: error: expr column 9: malformed number");
  expect_error("add($0, 2x)", false, "t.kir:3:7: error: expr column 9: malformed number");
  expect_error("exp(($0)", false, "t.kir:3:7: error: expr column 5: expected an expression, found '('");
  char big[1024] = "";
  for (int i = 0; i < 64; i++) strcat(big, "neg(");
  strcat(big, "$0");
  for (int i = 0; i < 64; i++) strcat(big, ")");
  expect_error(big, false, "t.kir:3:7: error: expr column 1: the expression has more than 64 nodes");
  /* no location: "error: expr column ..." */
  IrExpr e;
  IrDiag d = {0};
  CHECK(!ir_expr_parse("exp(", false, &e, (IrLoc){0}, &d));
  CHECK(strcmp(d.msg, "error: expr column 5: expected an expression, found the end") == 0);
}

/* ---- 4. the interpreter: fused == unfused, bit for bit ---- */

#define HEADER "module @t {\n  sym T <= 8\n"

/* Calls @plain and @fused of src with the same random inputs (shapes
 * given) and demands the same bits. */
static void check_fused_equals_plain(const char *what, const char *src, int nin,
                                     const int64_t (*shapes)[3], const int *ranks) {
  Ctx c = ctx_new(src);
  if (!c.it) return;
  IrTensor a[8], b[8];
  for (int i = 0; i < nin; i++) {
    a[i] = trand(ranks[i], shapes[i], 17u + (uint32_t)i * 31u);
    b[i] = trand(ranks[i], shapes[i], 17u + (uint32_t)i * 31u);
  }
  Run rp = ctx_call(&c, "plain", NULL, a, nin);
  Run rf = ctx_call(&c, "fused", NULL, b, nin);
  CHECK(rp.ok && rf.ok);
  if (!rp.ok || !rf.ok) fprintf(stderr, "%s: %s%s\n", what, rp.d.msg, rf.d.msg);
  if (rp.ok && rf.ok) {
    int64_t n = ir_tensor_numel(&rp.outs[0]);
    bool same = n == ir_tensor_numel(&rf.outs[0]) &&
                memcmp(rp.outs[0].f, rf.outs[0].f, sizeof(float) * (size_t)n) == 0;
    CHECK(same);
    if (!same) fprintf(stderr, "%s: fused differs from plain\n", what);
  }
  run_free(&rp);
  run_free(&rf);
  ctx_free(&c);
}

static void test_interp_fused(void) {
  /* a chain with broadcasting ([T, 4] with [4] and [T, 1]) and constants */
  const int64_t shapes[][3] = {{5, 4}, {4}, {5, 1}};
  const int ranks[] = {2, 1, 2};
  check_fused_equals_plain(
      "chain",
      HEADER
      "  func @plain(%x: f32[T, 4], %b: f32[4], %s: f32[T, 1]) -> f32[T, 4] {\n"
      "    %c = const {value = 0.1} : f32[]\n"
      "    %a = add(%x, %b) : f32[T, 4]\n"
      "    %g = gelu(%a) {approx = \"tanh\"} : f32[T, 4]\n"
      "    %m = mul(%g, %s) : f32[T, 4]\n"
      "    %e = exp(%x) : f32[T, 4]\n"
      "    %d = div(%m, %e) : f32[T, 4]\n"
      "    %r = sub(%d, %c) : f32[T, 4]\n"
      "    return %r\n  }\n"
      "  func @fused(%x: f32[T, 4], %b: f32[4], %s: f32[T, 1]) -> f32[T, 4] {\n"
      "    %r = fused(%x, %b, %s) {expr = \"sub(div(mul(gelu_tanh(add($0, $1)), $2), exp($0)), "
      "0.1)\"} : f32[T, 4]\n"
      "    return %r\n  }\n}\n",
      3, shapes, ranks);
  /* the operands' shapes broadcast both ways: [T, 1] x [1, 4] -> [T, 4] */
  const int64_t shapes2[][3] = {{6, 1}, {1, 4}};
  const int ranks2[] = {2, 2};
  check_fused_equals_plain(
      "outer",
      HEADER
      "  func @plain(%x: f32[T, 1], %y: f32[1, 4]) -> f32[T, 4] {\n"
      "    %s = sigmoid(%y) : f32[1, 4]\n"
      "    %m = max(%x, %s) : f32[T, 4]\n"
      "    return %m\n  }\n"
      "  func @fused(%x: f32[T, 1], %y: f32[1, 4]) -> f32[T, 4] {\n"
      "    %m = fused(%x, %y) {expr = \"max($0, sigmoid($1))\"} : f32[T, 4]\n"
      "    return %m\n  }\n}\n",
      2, shapes2, ranks2);
  /* matmul epilogues: bias + residual, and SwiGLU's gate */
  const int64_t shapes3[][3] = {{3, 5}, {3, 6}, {6, 5}, {6, 5}, {6}};
  const int ranks3[] = {2, 2, 2, 2, 1};
  check_fused_equals_plain(
      "epilogue",
      HEADER
      "  func @plain(%x: f32[T, 5], %r: f32[T, 6], %w: f32[6, 5], %wg: f32[6, 5], %bias: f32[6]) "
      "-> f32[T, 6] {\n"
      "    %u = matmul(%x, %w) {transpose_b} : f32[T, 6]\n"
      "    %g = matmul(%x, %wg) {transpose_b} : f32[T, 6]\n"
      "    %s = silu(%g) : f32[T, 6]\n"
      "    %y = mul(%s, %u) : f32[T, 6]\n"
      "    %b = add(%y, %bias) : f32[T, 6]\n"
      "    %o = add(%r, %b) : f32[T, 6]\n"
      "    return %o\n  }\n"
      "  func @fused(%x: f32[T, 5], %r: f32[T, 6], %w: f32[6, 5], %wg: f32[6, 5], %bias: f32[6]) "
      "-> f32[T, 6] {\n"
      "    %g = matmul(%x, %wg) {transpose_b} : f32[T, 6]\n"
      "    %y = matmul(%x, %w, %g) {transpose_b, epilogue = \"mul(silu($2), acc)\"} : f32[T, 6]\n"
      "    %o = fused(%r, %y, %bias) {expr = \"add($0, add($1, $2))\"} : f32[T, 6]\n"
      "    return %o\n  }\n}\n",
      5, shapes3, ranks3);
}

/* The params of the epilogue module need values: an inline module. */
static void test_interp_epilogue_values(void) {
  Ctx c = ctx_new(HEADER
                  "  param @w : f32[2, 2] = [1.0, 2.0, 3.0, 4.0]\n"
                  "  param @b : f32[2] = [0.5, -1.0]\n"
                  "  func @f(%x: f32[T, 2]) -> bf16[T, 2] {\n"
                  "    %y = matmul(%x, @w, @b) {epilogue = \"relu(add(acc, $2))\"} : bf16[T, 2]\n"
                  "    return %y\n  }\n}\n");
  Run r = ctx_call(&c, "f", NULL, (IrTensor[]){TF(SH(2, 2), 1, 1, 0.001f, -1)}, 1);
  CHECK(r.ok);
  /* [1,1]x[[1,2],[3,4]] = [4, 6] + b = [4.5, 5]; [0.001,-1] -> [-2.999, -3.998] + b -> relu 0
   * (rounded to bf16 at the end) */
  if (r.ok) CHECK_F(&r.outs[0], 0, 4.5f, 5.0f, 0.0f, 0.0f);
  run_free(&r);
  ctx_free(&c);
}

/* ---- 5. verifier and flops ---- */

static void expect_verify_error(const char *body, const char *want) {
  char src[2048];
  snprintf(src, sizeof src,
           "module @t {\n  sym T <= 8\n  param @w : f32[6, 5]\n"
           "  func @f(%%x: f32[T, 5], %%y: f32[T, 6], %%h: bf16[T, 6], %%v: f32[6]) -> f32[T, 6] {\n"
           "%s"
           "    return %%r\n  }\n}\n",
           body);
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "t.kir", &d);
  CHECK(m != NULL);
  if (!m) {
    fprintf(stderr, "parse: %s\n", d.msg);
    return;
  }
  CHECK(!ir_verify(m, &d));
  check_count++;
  if (strcmp(d.msg, want) != 0) {
    check_failures++;
    fprintf(stderr, "verify:\n  got  %s\n  want %s\n", d.msg, want);
  }
  ir_module_free(m);
}

static void test_verify(void) {
  expect_verify_error("    %r = fused(%y, %v) {expr = \"add($0, $1 $2)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: expr column 12: expected ',' or ')' after an "
                      "argument");
  expect_verify_error("    %r = fused(%y, %v) {expr = \"add($0, $2)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: expr uses $2, but the op has 2 operands");
  expect_verify_error("    %r = fused(%y, %v) {expr = \"exp($0)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: operand 1 is not used by the expression");
  expect_verify_error("    %r = fused(%y, %h) {expr = \"add($0, $1)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: operand 1 has dtype bf16, expected f32");
  expect_verify_error("    %r = fused(%y, %x) {expr = \"add($0, $1)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: cannot broadcast operand 1 of type f32[T, 5] "
                      "with the earlier operands' shape f32[T, 6]");
  expect_verify_error("    %r = fused(%y) {expr = \"add(acc, $0)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: expr column 5: acc is only valid in a matmul "
                      "epilogue");
  expect_verify_error("    %r = fused(%v) {expr = \"exp($0)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: fused: result type f32[T, 6] does not match the "
                      "inferred f32[6] for %r");
  expect_verify_error("    %r = matmul(%x, @w, %v) {transpose_b} : f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: has 3 operands but no epilogue; operands after "
                      "the second are the epilogue's");
  expect_verify_error("    %r = matmul(%x, @w, %v) {transpose_b, epilogue = \"exp($2)\"} : f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: the epilogue does not use acc");
  expect_verify_error("    %r = matmul(%x, @w, %v) {transpose_b, epilogue = \"add(acc, $1)\"} : "
                      "f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: the epilogue uses $1, expected $2 to $2 (the "
                      "operands after the matmul's two inputs)");
  expect_verify_error("    %r = matmul(%x, @w) {transpose_b, epilogue = \"add(acc, $2)\"} : "
                      "f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: the epilogue uses $2, but the matmul has no "
                      "operands after its two inputs");
  expect_verify_error("    %r = matmul(%x, @w, %v, %y) {transpose_b, epilogue = \"add(acc, $2)\"} : "
                      "f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: operand 3 is not used by the epilogue");
  expect_verify_error("    %r = matmul(%x, @w, %x) {transpose_b, epilogue = \"add(acc, $2)\"} : "
                      "f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: operand 2 has type f32[T, 5], which does not "
                      "broadcast to the result shape f32[T, 6]");
  expect_verify_error("    %r = matmul(%x, @w, %h) {transpose_b, epilogue = \"add(acc, $2)\"} : "
                      "f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: operand 2 has dtype bf16, expected f32");
  expect_verify_error("    %r = matmul(%x, @w, %v) {transpose_b, epilogue = \"add(acc, $2\"} : "
                      "f32[T, 6]\n",
                      "t.kir:5:5: error: matmul: epilogue: expr column 12: expected ',' or ')' "
                      "after an argument");
}

static void test_flops(void) {
  const char *src = HEADER
      "  param @w : f32[6, 5]\n"
      "  func @f(%x: f32[T, 5], %v: f32[6]) -> f32[T, 6] {\n"
      "    %m = matmul(%x, @w, %v) {transpose_b, epilogue = \"silu(add(acc, $2))\"} : f32[T, 6]\n"
      "    %r = fused(%m, %v) {expr = \"mul(exp($0), sub($1, 1.0))\"} : f32[T, 6]\n"
      "    return %r\n  }\n}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "t.kir", &d);
  CHECK(m && ir_verify(m, &d));
  if (!m) return;
  int64_t syms[IR_MAX_SYMS] = {3};
  const IrFunc *f = m->funcs[0];
  CHECK(ir_op_flops(f->ops[0], syms) == 2 * 3 * 6 * 5 + 2 * 3 * 6); /* add, silu */
  CHECK(ir_op_flops(f->ops[1], syms) == 3 * 3 * 6);                 /* exp, sub, mul */
  ir_module_free(m);
}

int main(void) {
  test_grammar();
  test_every_op();
  test_errors();
  test_interp_fused();
  test_interp_epilogue_values();
  test_verify();
  test_flops();
  return check_report();
}
