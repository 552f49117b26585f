/* ir_expr.c: elementwise expressions (ir_expr.h): parse, print, evaluate.
 *
 * ir_expr_apply is THE f32 step of every elementwise op: the interpreter's
 * elementwise kernels (interp_ops_elementwise.c), fused ops and matmul
 * epilogues all call it, so a fused chain computes the unfused chain's
 * bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir_expr.h"

/* ---- the f32 step ---- */

static float nan_or(float a, float b, float v) { return isnan(a) || isnan(b) ? NAN : v; }

static float gelu(float x, bool tanh_approx) {
  if (tanh_approx) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return x / 2 * (1 + tanhf(c * (x + 0.044715f * x * x * x)));
  }
  return x / 2 * (1 + erff(x * 0.70710678118654752f)); /* x / sqrt(2) */
}

float ir_expr_apply(IrOpKind op, bool gelu_tanh, float a, float b) {
  switch (op) {
  case IR_OP_ADD: return a + b;
  case IR_OP_SUB: return a - b;
  case IR_OP_MUL: return a * b;
  case IR_OP_DIV: return a / b;
  case IR_OP_MAX: return nan_or(a, b, a > b ? a : b); /* NaN propagates */
  case IR_OP_MIN: return nan_or(a, b, a < b ? a : b);
  case IR_OP_POW: return powf(a, b);
  case IR_OP_NEG: return -a;
  case IR_OP_EXP: return expf(a);
  case IR_OP_LOG: return logf(a);
  case IR_OP_SQRT: return sqrtf(a);
  case IR_OP_RSQRT: return 1 / sqrtf(a);
  case IR_OP_TANH: return tanhf(a);
  case IR_OP_SIGMOID: return 1 / (1 + expf(-a));
  case IR_OP_SILU: return a * (1 / (1 + expf(-a)));
  case IR_OP_RELU: return isnan(a) ? a : a > 0 ? a : 0.0f;
  case IR_OP_GELU: return gelu(a, gelu_tanh);
  default: return NAN; /* not an elementwise float op */
  }
}

float ir_expr_eval(const IrExpr *e, const float *operands, float acc) {
  float v[IR_EXPR_MAX_NODES];
  for (int i = 0; i < e->n; i++) {
    const IrExprNode *nd = &e->node[i];
    switch (nd->kind) {
    case IR_EXPR_OPERAND: v[i] = operands[nd->operand]; break;
    case IR_EXPR_ACC: v[i] = acc; break;
    case IR_EXPR_CONST: v[i] = (float)nd->value; break;
    case IR_EXPR_OP:
      v[i] = ir_expr_apply(nd->op, nd->gelu_tanh, v[nd->arg[0]],
                           nd->arg[1] >= 0 ? v[nd->arg[1]] : 0.0f);
      break;
    }
  }
  return e->n ? v[e->n - 1] : 0.0f;
}

/* ---- names ---- */

/* The op a function name stands for: an elementwise op other than cast,
 * or gelu_tanh. */
static bool lookup_name(const char *s, size_t n, IrOpKind *op, bool *gelu_tanh) {
  *gelu_tanh = n == 9 && memcmp(s, "gelu_tanh", 9) == 0;
  if (*gelu_tanh) {
    *op = IR_OP_GELU;
    return true;
  }
  return ir_op_from_name(s, n, op) && *op != IR_OP_CAST &&
         (ir_op_spec(*op)->flags & IR_OPF_ELEMENTWISE);
}

static const char *node_name(const IrExprNode *nd) {
  return nd->gelu_tanh ? "gelu_tanh" : ir_op_spec(nd->op)->name;
}

/* ---- parser: recursive descent, emitting nodes in postfix order ---- */

typedef struct {
  const char *text, *p;
  bool allow_acc;
  IrExpr *out;
  IrLoc loc;
  IrDiag *d;
} ExprParser;

static bool perr(ExprParser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool perr(ExprParser *ps, const char *at, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ir_error(ps->d, ps->loc, "expr column %d: %s", (int)(at - ps->text) + 1, msg);
}

static void skip_ws(ExprParser *ps) {
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends a node; its index goes to *idx. */
static bool add_node(ExprParser *ps, const char *at, IrExprNode nd, int *idx) {
  if (ps->out->n >= IR_EXPR_MAX_NODES)
    return perr(ps, at, "the expression has more than %d nodes", IR_EXPR_MAX_NODES);
  *idx = ps->out->n;
  ps->out->node[ps->out->n++] = nd;
  return true;
}

static bool parse_expr(ExprParser *ps, int *idx);

static bool parse_operand(ExprParser *ps, int *idx) {
  const char *at = ps->p++;
  if (*ps->p < '0' || *ps->p > '9') return perr(ps, ps->p, "expected an operand index after '$'");
  long v = 0;
  while (*ps->p >= '0' && *ps->p <= '9') {
    v = v * 10 + (*ps->p++ - '0');
    if (v > 1000000) return perr(ps, at, "operand index is too large");
  }
  if ((int)v > ps->out->max_operand) ps->out->max_operand = (int)v;
  return add_node(ps, at, (IrExprNode){.kind = IR_EXPR_OPERAND, .operand = (int)v, .arg = {-1, -1}},
                  idx);
}

/* A float literal: digits, '.', exponent, a sign, or inf/nan; the value
 * is rounded to f32. */
static bool parse_number(ExprParser *ps, int *idx) {
  const char *at = ps->p, *q = ps->p;
  if (*q == '-' || *q == '+') q++;
  if (strncmp(q, "inf", 3) == 0 || strncmp(q, "nan", 3) == 0) {
    q += 3;
  } else {
    while ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
           ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E')))
      q++;
  }
  char buf[64];
  size_t n = (size_t)(q - at);
  char *end = NULL;
  double v = 0;
  if (n > 0 && n < sizeof buf) {
    memcpy(buf, at, n);
    buf[n] = 0;
    v = strtod(buf, &end);
  }
  if (!end || end != buf + n || is_name_char(*q)) return perr(ps, at, "malformed number");
  ps->p = q;
  return add_node(ps, at,
                  (IrExprNode){.kind = IR_EXPR_CONST, .value = (double)(float)v, .arg = {-1, -1}},
                  idx);
}

/* NAME "(" expr ("," expr)* ")", with the op's operand count. */
static bool parse_call(ExprParser *ps, const char *name, size_t n, int *idx) {
  IrExprNode nd = {.kind = IR_EXPR_OP, .arg = {-1, -1}};
  if (!lookup_name(name, n, &nd.op, &nd.gelu_tanh))
    return perr(ps, name, "unknown function '%.*s'; expected an elementwise op (add, sub, mul, "
                "div, max, min, pow, neg, exp, log, sqrt, rsqrt, tanh, sigmoid, silu, relu, "
                "gelu, gelu_tanh), a $operand, a number or acc",
                (int)n, name);
  skip_ws(ps);
  if (*ps->p != '(') return perr(ps, ps->p, "expected '(' after '%.*s'", (int)n, name);
  ps->p++;
  int want = ir_op_spec(nd.op)->min_in, got = 0;
  for (;;) {
    int arg;
    if (!parse_expr(ps, &arg)) return false;
    if (got < 2) nd.arg[got] = arg;
    got++;
    skip_ws(ps);
    if (*ps->p == ')') break;
    if (*ps->p != ',') return perr(ps, ps->p, "expected ',' or ')' after an argument");
    ps->p++;
  }
  ps->p++;
  if (got != want)
    return perr(ps, name, "%s takes %d argument%s, found %d", node_name(&nd), want,
                want == 1 ? "" : "s", got);
  return add_node(ps, name, nd, idx);
}

static bool parse_expr(ExprParser *ps, int *idx) {
  skip_ws(ps);
  const char *at = ps->p;
  if (*at == '$') return parse_operand(ps, idx);
  if ((*at >= '0' && *at <= '9') || *at == '-' || *at == '+' || *at == '.')
    return parse_number(ps, idx);
  if (!is_name_char(*at)) {
    if (!*at) return perr(ps, at, "expected an expression, found the end");
    return perr(ps, at, "expected an expression, found '%c'", *at);
  }
  const char *q = at;
  while (is_name_char(*q)) q++;
  size_t n = (size_t)(q - at);
  if ((n == 3 && memcmp(at, "inf", 3) == 0) || (n == 3 && memcmp(at, "nan", 3) == 0))
    return parse_number(ps, idx);
  ps->p = q;
  if (n == 3 && memcmp(at, "acc", 3) == 0) {
    if (!ps->allow_acc) return perr(ps, at, "acc is only valid in a matmul epilogue");
    ps->out->uses_acc = true;
    return add_node(ps, at, (IrExprNode){.kind = IR_EXPR_ACC, .arg = {-1, -1}}, idx);
  }
  return parse_call(ps, at, n, idx);
}

bool ir_expr_parse(const char *text, bool allow_acc, IrExpr *out, IrLoc loc, IrDiag *d) {
  *out = (IrExpr){.max_operand = -1};
  ExprParser ps = {text, text, allow_acc, out, loc, d};
  int root;
  if (!parse_expr(&ps, &root)) return false;
  skip_ws(&ps);
  if (*ps.p) return perr(&ps, ps.p, "expected the end of the expression, found '%c'", *ps.p);
  return true;
}

/* ---- printer ---- */

/* The shortest decimal that rounds to the same f32: 0.1f prints 0.1. */
static void print_f32(IrBuf *b, double v) {
  if (isfinite(v)) {
    for (int prec = 1; prec <= 17; prec++) {
      char buf[40];
      snprintf(buf, sizeof buf, "%.*g", prec, v);
      double c = strtod(buf, NULL);
      if ((float)c == (float)v && signbit(c) == signbit(v)) {
        ir_print_double(b, c);
        return;
      }
    }
  }
  ir_print_double(b, v);
}

static void print_node(IrBuf *b, const IrExpr *e, int i) {
  const IrExprNode *nd = &e->node[i];
  switch (nd->kind) {
  case IR_EXPR_OPERAND: ir_buf_printf(b, "$%d", nd->operand); return;
  case IR_EXPR_ACC: ir_buf_printf(b, "acc"); return;
  case IR_EXPR_CONST: print_f32(b, nd->value); return;
  case IR_EXPR_OP: break;
  }
  ir_buf_printf(b, "%s(", node_name(nd));
  print_node(b, e, nd->arg[0]);
  if (nd->arg[1] >= 0) {
    ir_buf_printf(b, ", ");
    print_node(b, e, nd->arg[1]);
  }
  ir_buf_printf(b, ")");
}

void ir_expr_print(IrBuf *b, const IrExpr *e) {
  if (e->n) print_node(b, e, e->n - 1);
}
