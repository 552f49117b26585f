/* test_verify.c: the verifier and the shape rules (ir_verify, ir_infer_types).
 *
 * Each case builds a small module with the ir.h builder API: symbols
 * T <= 16 and P <= 32, one function @f. Valid cases must verify; invalid
 * ones must fail with exactly the expected message (builder modules carry
 * no locations, so messages start with "error: ").
 */
#include <stdarg.h>

#include "check.h"
#include "ir.h"

enum { T = 0, P = 1 };

/* ---- building ------------------------------------------------------------ */

static IrType mk(IrDType dt, int rank, const IrDim *dims) {
  IrType t = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}
/* TY(IR_F32, SYM(T), C(4)) is f32[T, 4]; SCALAR(IR_F32) is f32[]. */
#define TY(dt, ...) \
  mk(dt, (int)(sizeof((IrDim[]){__VA_ARGS__}) / sizeof(IrDim)), (IrDim[]){__VA_ARGS__})
#define SCALAR(dt) mk(dt, 0, NULL)
#define C(n) ir_dim_const(n)
#define SYM(s) ir_dim_sym(s)
static IrDim plus(IrDim a, IrDim b) { return ir_dim_add(a, b); }

typedef struct {
  IrModule *m;
  IrFunc *f;
} Fx;

static Fx fx_new(void) {
  Fx x = {ir_module_new("t"), NULL};
  ir_module_add_sym(x.m, "T", 16);
  ir_module_add_sym(x.m, "P", 32);
  x.f = ir_module_add_func(x.m, "f");
  return x;
}

static IrValue *arg(Fx *x, const char *name, IrType t) {
  return ir_func_add_arg(x->m, x->f, name, t);
}
static IrValue *param(Fx *x, const char *name, IrType t) {
  return ir_module_add_param(x->m, name, t);
}
static IrValue *state(Fx *x, const char *name, IrType t) {
  return ir_module_add_state(x->m, name, t);
}

/* Appends an op with n operands (the varargs) and one result of type t. */
static IrOp *op(Fx *x, IrOpKind k, IrType t, int n, ...) {
  IrValue *in[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) in[i] = va_arg(ap, IrValue *);
  va_end(ap);
  IrOp *o = ir_op_new(x->m, x->f, k, n, in, 1, &t);
  ir_func_append_op(x->m, x->f, o);
  return o;
}
#define OUT(o) ((o)->out[0])

static void ret(Fx *x, IrValue *v) {
  ir_func_set_results(x->m, x->f, 1, &v->type);
  x->f->results[0] = v;
}

/* ---- checking ------------------------------------------------------------ */

static void expect_ok_at(Fx *x, int line) {
  IrDiag d = {0};
  bool ok = ir_verify(x->m, &d);
  check_count++;
  if (!ok) {
    check_failures++;
    fprintf(stderr, "%s:%d: expected a valid module, got: %s\n", __FILE__, line, d.msg);
  }
  ir_module_free(x->m);
}

static void expect_err_at(Fx *x, const char *want, int line) {
  IrDiag d = {0};
  bool ok = ir_verify(x->m, &d);
  check_count++;
  if (ok || !d.failed || strcmp(d.msg, want) != 0) {
    check_failures++;
    fprintf(stderr, "%s:%d: expected error\n  %s\ngot %s\n  %s\n", __FILE__, line, want,
            ok ? "success" : "error", d.msg);
  }
  ir_module_free(x->m);
}
#define EXPECT_OK(x) expect_ok_at(x, __LINE__)
#define EXPECT_ERR(x, msg) expect_err_at(x, msg, __LINE__)

/* ---- valid modules ------------------------------------------------------- */

static void valid_elementwise(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  IrValue *row = arg(&x, "row", TY(IR_F32, C(4)));
  IrValue *col = arg(&x, "col", TY(IR_F32, SYM(T), C(1)));
  IrValue *n = arg(&x, "n", TY(IR_I32, SYM(T)));
  IrType t4 = TY(IR_F32, SYM(T), C(4));
  IrValue *v = OUT(op(&x, IR_OP_ADD, t4, 2, a, row));
  v = OUT(op(&x, IR_OP_SUB, t4, 2, col, v));
  v = OUT(op(&x, IR_OP_MUL, t4, 2, v, col));
  v = OUT(op(&x, IR_OP_DIV, t4, 2, v, a));
  v = OUT(op(&x, IR_OP_MAX, t4, 2, row, v));
  v = OUT(op(&x, IR_OP_MIN, t4, 2, v, v));
  v = OUT(op(&x, IR_OP_POW, t4, 2, v, row));
  IrOpKind unary[] = {IR_OP_NEG,  IR_OP_EXP,     IR_OP_LOG,  IR_OP_SQRT, IR_OP_RSQRT,
                      IR_OP_TANH, IR_OP_SIGMOID, IR_OP_SILU, IR_OP_RELU, IR_OP_GELU};
  for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) v = OUT(op(&x, unary[i], t4, 1, v));
  IrOp *g = op(&x, IR_OP_GELU, t4, 1, v);
  CHECK(ir_op_set_str(x.m, g, "approx", "tanh"));
  IrValue *ni = OUT(op(&x, IR_OP_ADD, TY(IR_I32, SYM(T)), 2, n, n));
  ni = OUT(op(&x, IR_OP_NEG, TY(IR_I32, SYM(T)), 1, ni));
  ni = OUT(op(&x, IR_OP_DIV, TY(IR_I32, SYM(T)), 2, ni, n));
  IrValue *h = OUT(op(&x, IR_OP_CAST, TY(IR_BF16, SYM(T), C(4)), 1, OUT(g)));
  op(&x, IR_OP_CAST, TY(IR_F32, SYM(T)), 1, ni);
  ret(&x, h);
  EXPECT_OK(&x);
}

static void valid_sources(void) {
  Fx x = fx_new();
  IrOp *c = op(&x, IR_OP_CONST, SCALAR(IR_F32), 0);
  ir_op_set_float(c, "value", 0.125);
  IrOp *c2 = op(&x, IR_OP_CONST, TY(IR_I64, SYM(T), plus(SYM(P), SYM(T))), 0);
  ir_op_set_float(c2, "value", 3);
  IrOp *io = op(&x, IR_OP_IOTA, TY(IR_I32, SYM(T)), 0);
  ir_op_set_dim(io, "start", SYM(P));
  IrOp *cm = op(&x, IR_OP_CAUSAL_MASK, TY(IR_F32, SYM(T), plus(SYM(P), SYM(T))), 0);
  ir_op_set_dim(cm, "offset", SYM(P));
  ir_op_set_int(cm, "window", 4);
  ret(&x, OUT(cm));
  EXPECT_OK(&x);
}

static void valid_embedding_matmul(void) {
  Fx x = fx_new();
  IrValue *embed = param(&x, "embed", TY(IR_BF16, C(8), C(4)));
  IrValue *w = param(&x, "w", TY(IR_BF16, C(6), C(4)));
  IrValue *tok = arg(&x, "tok", TY(IR_I32, SYM(T)));
  IrValue *tok2 = arg(&x, "tok2", TY(IR_I64, C(2), SYM(T)));
  IrValue *e = OUT(op(&x, IR_OP_EMBEDDING, TY(IR_F32, SYM(T), C(4)), 2, embed, tok));
  op(&x, IR_OP_EMBEDDING, TY(IR_F16, C(2), SYM(T), C(4)), 2, embed, tok2);
  /* [T, 4] x [6, 4]^T -> [T, 6] with a bf16 weight and an f16 result */
  IrOp *mm = op(&x, IR_OP_MATMUL, TY(IR_F16, SYM(T), C(6)), 2, e, w);
  ir_op_set_bool(mm, "transpose_b", true);
  /* [4, T]^T x [4, 6]... via transpose_a: a = [4, T] */
  IrValue *at = arg(&x, "at", TY(IR_F32, C(4), SYM(T)));
  IrValue *b = arg(&x, "b", TY(IR_F32, C(4), C(6)));
  IrOp *mt = op(&x, IR_OP_MATMUL, TY(IR_F32, SYM(T), C(6)), 2, at, b);
  ir_op_set_bool(mt, "transpose_a", true);
  /* GQA: [Hkv=2, G=4, T, D=8] x [2, 1, P+T, 8]^T -> [2, 4, T, P+T] */
  IrDim s = plus(SYM(P), SYM(T));
  IrValue *q = arg(&x, "q", TY(IR_F32, C(2), C(4), SYM(T), C(8)));
  IrValue *k = arg(&x, "k", TY(IR_F32, C(2), C(1), s, C(8)));
  IrOp *sc = op(&x, IR_OP_MATMUL, TY(IR_F32, C(2), C(4), SYM(T), s), 2, q, k);
  ir_op_set_bool(sc, "transpose_b", true);
  /* rank-2 weight broadcast against a batch: [3, T, 4] x [4, 6] -> [3, T, 6] */
  IrValue *x3 = arg(&x, "x3", TY(IR_F32, C(3), SYM(T), C(4)));
  op(&x, IR_OP_MATMUL, TY(IR_F32, C(3), SYM(T), C(6)), 2, x3, b);
  ret(&x, OUT(sc));
  EXPECT_OK(&x);
}

static void valid_norms_rope(void) {
  Fx x = fx_new();
  IrValue *h = arg(&x, "h", TY(IR_F32, SYM(T), C(128)));
  IrValue *pos = arg(&x, "pos", TY(IR_I32, SYM(T)));
  IrValue *g = param(&x, "g", TY(IR_BF16, C(128)));
  IrValue *bias = param(&x, "b", TY(IR_F32, C(128)));
  IrType t = TY(IR_F32, SYM(T), C(128));
  IrOp *rn = op(&x, IR_OP_RMSNORM, t, 2, h, g);
  ir_op_set_float(rn, "eps", 1e-5);
  IrOp *ln = op(&x, IR_OP_LAYERNORM, t, 3, OUT(rn), g, bias);
  ir_op_set_float(ln, "eps", 1e-5);
  IrOp *rp = op(&x, IR_OP_ROPE, t, 2, OUT(ln), pos);
  ir_op_set_int(rp, "head_dim", 64);
  ir_op_set_float(rp, "theta", 10000.0);
  ir_op_set_str(x.m, rp, "pairing", "interleaved");
  ir_op_set_int(rp, "rotary_dim", 32);
  ir_op_set_str(x.m, rp, "scaling", "llama3");
  ir_op_set_float(rp, "factor", 8);
  /* rope over [H, T, D] */
  IrValue *hq = arg(&x, "hq", TY(IR_F32, C(2), SYM(T), C(64)));
  IrOp *rp2 = op(&x, IR_OP_ROPE, TY(IR_F32, C(2), SYM(T), C(64)), 2, hq, pos);
  ir_op_set_int(rp2, "head_dim", 64);
  ir_op_set_float(rp2, "theta", 500000.0);
  ret(&x, OUT(rp));
  EXPECT_OK(&x);
}

static void valid_softmax_attention_reduce(void) {
  Fx x = fx_new();
  IrDim s = plus(SYM(P), SYM(T));
  IrValue *sc = arg(&x, "s", TY(IR_F32, C(8), SYM(T), s));
  op(&x, IR_OP_SOFTMAX, TY(IR_F32, C(8), SYM(T), s), 1, sc);
  IrOp *sm = op(&x, IR_OP_SOFTMAX, TY(IR_F32, C(8), SYM(T), s), 1, sc);
  ir_op_set_int(sm, "axis", 1);
  IrValue *q = arg(&x, "q", TY(IR_F32, C(8), SYM(T), C(64)));
  IrValue *k = arg(&x, "k", TY(IR_F32, C(2), s, C(64)));
  IrValue *v = arg(&x, "v", TY(IR_F32, C(2), s, C(32)));
  IrOp *at = op(&x, IR_OP_ATTENTION, TY(IR_F32, C(8), SYM(T), C(32)), 3, q, k, v);
  ir_op_set_float(at, "scale", 0.125);
  ir_op_set_bool(at, "causal", true);
  ir_op_set_dim(at, "offset", SYM(P));
  ir_op_set_int(at, "window", 0);
  IrOpKind red[] = {IR_OP_REDUCE_SUM, IR_OP_REDUCE_MEAN, IR_OP_REDUCE_MAX};
  for (int i = 0; i < 3; i++) {
    IrOp *r = op(&x, red[i], TY(IR_F32, C(8), SYM(T), C(1)), 1, OUT(at));
    ir_op_set_int(r, "axis", -1);
    IrOp *r0 = op(&x, red[i], TY(IR_F32, C(1), SYM(T), C(32)), 1, OUT(at));
    ir_op_set_int(r0, "axis", 0);
  }
  ret(&x, OUT(at));
  EXPECT_OK(&x);
}

static void valid_data_movement(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, SYM(T), C(512)));
  /* symbolic reshape both ways: [T, 512] <-> [T, 8, 64] */
  IrValue *r3 = OUT(op(&x, IR_OP_RESHAPE, TY(IR_F32, SYM(T), C(8), C(64)), 1, a));
  op(&x, IR_OP_RESHAPE, TY(IR_F32, SYM(T), C(512)), 1, r3);
  /* [T, 6] -> [2*T, 3]; [P+T, 2] -> [2*P+2*T]; [P, T] -> [T, P] */
  IrValue *b = arg(&x, "b", TY(IR_F32, SYM(T), C(6)));
  op(&x, IR_OP_RESHAPE, TY(IR_F32, ir_dim_scale(SYM(T), 2), C(3)), 1, b);
  IrValue *c = arg(&x, "c", TY(IR_F32, plus(SYM(P), SYM(T)), C(2)));
  op(&x, IR_OP_RESHAPE, TY(IR_F32, ir_dim_scale(plus(SYM(P), SYM(T)), 2)), 1, c);
  IrValue *pt = arg(&x, "pt", TY(IR_F32, SYM(P), SYM(T)));
  op(&x, IR_OP_RESHAPE, TY(IR_F32, SYM(T), SYM(P)), 1, pt);
  /* transpose [T, 8, 64] -> [8, T, 64] */
  IrOp *tr = op(&x, IR_OP_TRANSPOSE, TY(IR_F32, C(8), SYM(T), C(64)), 1, r3);
  ir_op_set_ints(x.m, tr, "perm", (int64_t[]){1, 0, 2}, 3);
  /* slice of a constant dim, and the last row of a symbolic one */
  IrOp *sl = op(&x, IR_OP_SLICE, TY(IR_F32, SYM(T), C(64)), 1, a);
  ir_op_set_int(sl, "axis", 1);
  ir_op_set_dim(sl, "start", C(0));
  ir_op_set_dim(sl, "end", C(64));
  IrOp *last = op(&x, IR_OP_SLICE, TY(IR_F32, C(1), C(512)), 1, a);
  ir_op_set_int(last, "axis", -2);
  ir_op_set_dim(last, "start", ir_dim_sub(SYM(T), C(1)));
  ir_op_set_dim(last, "end", SYM(T));
  /* concat [P, 512] ++ [T, 512] -> [P+T, 512] */
  IrValue *past = arg(&x, "past", TY(IR_F32, SYM(P), C(512)));
  IrOp *cc = op(&x, IR_OP_CONCAT, TY(IR_F32, plus(SYM(P), SYM(T)), C(512)), 2, past, a);
  ir_op_set_int(cc, "axis", 0);
  ret(&x, OUT(cc));
  EXPECT_OK(&x);
}

static void valid_moe(void) {
  Fx x = fx_new();
  IrValue *logits = arg(&x, "logits", TY(IR_F32, SYM(T), C(8)));
  IrType outs[2] = {TY(IR_F32, SYM(T), C(2)), TY(IR_I64, SYM(T), C(2))};
  IrOp *tk = ir_op_new(x.m, x.f, IR_OP_TOPK, 1, &logits, 2, outs);
  ir_func_append_op(x.m, x.f, tk);
  ir_op_set_int(tk, "k", 2);
  IrOp *sc = op(&x, IR_OP_SCATTER, TY(IR_F32, SYM(T), C(8)), 2, tk->out[1], tk->out[0]);
  ir_op_set_int(sc, "size", 8);
  ret(&x, OUT(sc));
  EXPECT_OK(&x);
}

static void valid_kv(void) {
  Fx x = fx_new();
  IrValue *kc = state(&x, "kc", TY(IR_F32, C(2), C(32), C(8)));
  IrValue *k = arg(&x, "k", TY(IR_F32, C(2), SYM(T), C(8)));
  IrOp *wr = ir_op_new(x.m, x.f, IR_OP_KV_WRITE, 2, (IrValue *[]){kc, k}, 0, NULL);
  ir_func_append_op(x.m, x.f, wr);
  ir_op_set_dim(wr, "offset", SYM(P));
  IrOp *rd = op(&x, IR_OP_KV_READ, TY(IR_F32, C(2), plus(SYM(P), SYM(T)), C(8)), 1, kc);
  ir_op_set_dim(rd, "len", plus(SYM(P), SYM(T)));
  /* the same cache read along axis 1 spelled explicitly, from start 0 */
  IrOp *rd2 = op(&x, IR_OP_KV_READ, TY(IR_F32, C(2), SYM(P), C(8)), 1, kc);
  ir_op_set_dim(rd2, "len", SYM(P));
  ir_op_set_dim(rd2, "start", C(0));
  ir_op_set_int(rd2, "axis", 1);
  ret(&x, OUT(rd));
  EXPECT_OK(&x);
}

static void valid_module_level(void) {
  Fx x = fx_new();
  IrValue *w = param(&x, "w", TY(IR_F32, C(2), C(2)));
  static double init[] = {1, 2, 3, 4};
  w->init = init;
  w->ninit = 4;
  ret(&x, w); /* a function may return a param */
  IrFunc *g = ir_module_add_func(x.m, "g");
  IrValue *a = ir_func_add_arg(x.m, g, "a", TY(IR_F32, ir_dim_sub(SYM(T), C(0))));
  ir_func_set_results(x.m, g, 1, &a->type);
  g->results[0] = a;
  /* P-T+... dims that stay non-negative: P+16-T with T <= 16 */
  ir_func_add_arg(x.m, g, "b", TY(IR_F32, plus(ir_dim_sub(SYM(P), SYM(T)), C(16))));
  EXPECT_OK(&x);
}

/* ---- invalid modules: the shape rules ------------------------------------ */

static void invalid_spec_examples(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, SYM(T), C(128)));
  IrValue *b = arg(&x, "b", TY(IR_F32, C(64), C(32)));
  op(&x, IR_OP_MATMUL, TY(IR_F32, SYM(T), C(32)), 2, a, b);
  EXPECT_ERR(&x, "error: matmul: operand 1 has inner dim 64, expected 128 (the inner dim of "
                 "operand 0)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  b = arg(&x, "b", TY(IR_F32, SYM(T), C(3)));
  op(&x, IR_OP_ADD, TY(IR_F32, SYM(T), C(4)), 2, a, b);
  EXPECT_ERR(&x, "error: add: cannot broadcast f32[T, 4] with f32[T, 3] (dim 1: 4 vs 3)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  ir_value_set_name(x.m, OUT(op(&x, IR_OP_ADD, TY(IR_F32, SYM(T), C(5)), 2, a, a)), "y");
  EXPECT_ERR(&x, "error: add: result type f32[T, 5] does not match the inferred f32[T, 4] for %y");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(64)));
  IrValue *pos = arg(&x, "pos", TY(IR_I32, SYM(T)));
  IrOp *rp = op(&x, IR_OP_ROPE, TY(IR_F32, SYM(T), C(64)), 2, a, pos);
  ir_op_set_int(rp, "head_dim", 48);
  ir_op_set_float(rp, "theta", 10000.0);
  EXPECT_ERR(&x, "error: rope: head_dim 48 does not divide the last dim 64");
}

static void invalid_dtypes(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, C(4)));
  IrValue *h = arg(&x, "h", TY(IR_F16, C(4)));
  op(&x, IR_OP_MUL, TY(IR_F32, C(4)), 2, a, h);
  EXPECT_ERR(&x, "error: mul: operand 1 has dtype f16, expected f32 (the dtype of operand 0)");

  x = fx_new();
  IrValue *n = arg(&x, "n", TY(IR_I32, C(4)));
  op(&x, IR_OP_POW, TY(IR_I32, C(4)), 2, n, n);
  EXPECT_ERR(&x, "error: pow: operand 0 has dtype i32, expected a float dtype");

  x = fx_new();
  n = arg(&x, "n", TY(IR_I32, C(4)));
  op(&x, IR_OP_EXP, TY(IR_I32, C(4)), 1, n);
  EXPECT_ERR(&x, "error: exp: operand 0 has dtype i32, expected a float dtype");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, C(4)));
  op(&x, IR_OP_CAST, TY(IR_I4, C(4)), 1, a);
  EXPECT_ERR(&x, "error: cast: cannot cast to i4 (a packed storage dtype)");

  x = fx_new();
  IrValue *tab = param(&x, "embed", TY(IR_I8, C(8), C(4)));
  IrValue *tok = arg(&x, "tok", TY(IR_I32, SYM(T)));
  op(&x, IR_OP_EMBEDDING, TY(IR_F32, SYM(T), C(4)), 2, tab, tok);
  EXPECT_ERR(&x, "error: embedding: operand 0 has dtype i8, expected a float dtype");

  x = fx_new();
  tab = param(&x, "embed", TY(IR_F32, C(8), C(4)));
  tok = arg(&x, "tok", TY(IR_F32, SYM(T)));
  op(&x, IR_OP_EMBEDDING, TY(IR_F32, SYM(T), C(4)), 2, tab, tok);
  EXPECT_ERR(&x, "error: embedding: operand 1 has dtype f32, expected an integer dtype");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  IrValue *w = param(&x, "w", TY(IR_F32, C(4), C(4)));
  op(&x, IR_OP_MATMUL, TY(IR_I32, SYM(T), C(4)), 2, a, w);
  EXPECT_ERR(&x, "error: matmul: result type i32[T, 4] must have a float dtype");

  /* attention takes no mixed precision: k must match q */
  x = fx_new();
  IrValue *q = arg(&x, "q", TY(IR_F32, C(2), SYM(T), C(8)));
  IrValue *k = arg(&x, "k", TY(IR_BF16, C(2), SYM(T), C(8)));
  IrOp *at = op(&x, IR_OP_ATTENTION, TY(IR_F32, C(2), SYM(T), C(8)), 3, q, k, k);
  ir_op_set_float(at, "scale", 0.5);
  EXPECT_ERR(&x, "error: attention: operand 1 has dtype bf16, expected f32 (the dtype of "
                 "operand 0)");
}

static void invalid_shapes(void) {
  Fx x = fx_new();
  IrValue *v = arg(&x, "v", TY(IR_F32, C(4)));
  IrValue *w = param(&x, "w", TY(IR_F32, C(4), C(4)));
  op(&x, IR_OP_MATMUL, TY(IR_F32, C(4)), 2, v, w);
  EXPECT_ERR(&x, "error: matmul: operand 0 has rank 1, expected rank >= 2");

  x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, C(2), SYM(T), C(4)));
  IrValue *b = arg(&x, "b", TY(IR_F32, C(3), C(4), C(5)));
  op(&x, IR_OP_MATMUL, TY(IR_F32, C(2), SYM(T), C(5)), 2, a, b);
  EXPECT_ERR(&x, "error: matmul: cannot broadcast the batch dims of f32[2, T, 4] and f32[3, 4, 5] "
                 "(dim 0: 2 vs 3)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(512)));
  IrValue *g = param(&x, "g", TY(IR_F32, C(256)));
  IrOp *rn = op(&x, IR_OP_RMSNORM, TY(IR_F32, SYM(T), C(512)), 2, a, g);
  ir_op_set_float(rn, "eps", 1e-6);
  EXPECT_ERR(&x, "error: rmsnorm: operand 1 has type f32[256], expected shape [512] (the last dim "
                 "of operand 0)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(64)));
  IrValue *pos = arg(&x, "pos", TY(IR_I32, SYM(P)));
  IrOp *rp = op(&x, IR_OP_ROPE, TY(IR_F32, SYM(T), C(64)), 2, a, pos);
  ir_op_set_int(rp, "head_dim", 64);
  ir_op_set_float(rp, "theta", 10000.0);
  EXPECT_ERR(&x, "error: rope: operand 1 has type i32[P], expected shape [T] (dim -2 of "
                 "operand 0)");

  x = fx_new();
  IrValue *q = arg(&x, "q", TY(IR_F32, C(6), SYM(T), C(8)));
  IrValue *k = arg(&x, "k", TY(IR_F32, C(4), SYM(T), C(8)));
  IrOp *at = op(&x, IR_OP_ATTENTION, TY(IR_F32, C(6), SYM(T), C(8)), 3, q, k, k);
  ir_op_set_float(at, "scale", 0.5);
  EXPECT_ERR(&x, "error: attention: query heads 6 are not a multiple of kv heads 4");

  x = fx_new();
  q = arg(&x, "q", TY(IR_F32, C(4), SYM(T), C(8)));
  k = arg(&x, "k", TY(IR_F32, C(2), SYM(P), C(8)));
  v = arg(&x, "v", TY(IR_F32, C(2), SYM(T), C(8)));
  at = op(&x, IR_OP_ATTENTION, TY(IR_F32, C(4), SYM(T), C(8)), 3, q, k, v);
  ir_op_set_float(at, "scale", 0.5);
  EXPECT_ERR(&x, "error: attention: operand 2 has dim 1 = T, expected P (dim 1 of operand 1)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(512)));
  op(&x, IR_OP_RESHAPE, TY(IR_F32, SYM(T), C(8), C(32)), 1, a);
  EXPECT_ERR(&x, "error: reshape: result type f32[T, 8, 32] does not have the element count of "
                 "operand 0 (f32[T, 512])");

  /* (P+1)*T and P*(T+1) agree at P = T but not as polynomials */
  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, plus(SYM(P), C(1)), SYM(T)));
  op(&x, IR_OP_RESHAPE, TY(IR_F32, SYM(P), plus(SYM(T), C(1))), 1, a);
  EXPECT_ERR(&x, "error: reshape: result type f32[P, T+1] does not have the element count of "
                 "operand 0 (f32[P+1, T])");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(P), C(4)));
  b = arg(&x, "b", TY(IR_F32, SYM(T), C(3)));
  IrOp *cc = op(&x, IR_OP_CONCAT, TY(IR_F32, plus(SYM(P), SYM(T)), C(4)), 2, a, b);
  ir_op_set_int(cc, "axis", 0);
  EXPECT_ERR(&x, "error: concat: operand 1 has dim 1 = 3, expected 4 (dim 1 of operand 0)");

  x = fx_new();
  IrValue *idx = arg(&x, "idx", TY(IR_I32, SYM(T), C(2)));
  IrValue *wt = arg(&x, "wt", TY(IR_F32, SYM(T), C(3)));
  IrOp *sc = op(&x, IR_OP_SCATTER, TY(IR_F32, SYM(T), C(8)), 2, idx, wt);
  ir_op_set_int(sc, "size", 8);
  EXPECT_ERR(&x, "error: scatter: operand 1 has type f32[T, 3], expected the shape of operand 0 "
                 "(i32[T, 2])");
}

static void invalid_attributes(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  op(&x, IR_OP_REDUCE_SUM, TY(IR_F32, SYM(T), C(1)), 1, a);
  EXPECT_ERR(&x, "error: reduce_sum: missing required attribute axis");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  IrOp *g = op(&x, IR_OP_GELU, TY(IR_F32, SYM(T), C(4)), 1, a);
  ir_op_set_str(x.m, g, "approx", "fast");
  EXPECT_ERR(&x, "error: gelu: attribute approx is \"fast\", expected one of \"none\", \"tanh\"");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  IrOp *sm = op(&x, IR_OP_SOFTMAX, TY(IR_F32, SYM(T), C(4)), 1, a);
  ir_op_set_int(sm, "axis", 2);
  EXPECT_ERR(&x, "error: softmax: axis 2 is out of range for rank 2 (expected -2 to 1)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4), C(2)));
  IrOp *tr = op(&x, IR_OP_TRANSPOSE, TY(IR_F32, C(4), SYM(T), C(2)), 1, a);
  ir_op_set_ints(x.m, tr, "perm", (int64_t[]){1, 1, 0}, 3);
  EXPECT_ERR(&x, "error: transpose: perm is not a permutation of 0..2 (entry 1 is 1)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  tr = op(&x, IR_OP_TRANSPOSE, TY(IR_F32, C(4), SYM(T)), 1, a);
  ir_op_set_ints(x.m, tr, "perm", (int64_t[]){1, 0, 2}, 3);
  EXPECT_ERR(&x, "error: transpose: perm has 3 entries, expected 2 (the rank of operand 0)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(64)));
  IrValue *pos = arg(&x, "pos", TY(IR_I32, SYM(T)));
  IrOp *rp = op(&x, IR_OP_ROPE, TY(IR_F32, SYM(T), C(64)), 2, a, pos);
  ir_op_set_int(rp, "head_dim", 32);
  ir_op_set_float(rp, "theta", 10000.0);
  ir_op_set_int(rp, "rotary_dim", 17);
  EXPECT_ERR(&x, "error: rope: rotary_dim 17 must be even and in [2, head_dim 32]");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(8)));
  IrType outs[2] = {TY(IR_F32, SYM(T), C(0)), TY(IR_I32, SYM(T), C(0))};
  IrOp *tk = ir_op_new(x.m, x.f, IR_OP_TOPK, 1, &a, 2, outs);
  ir_func_append_op(x.m, x.f, tk);
  ir_op_set_int(tk, "k", 0);
  EXPECT_ERR(&x, "error: topk: k 0 must be >= 1");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(8)));
  IrType outs9[2] = {TY(IR_F32, SYM(T), C(9)), TY(IR_I32, SYM(T), C(9))};
  tk = ir_op_new(x.m, x.f, IR_OP_TOPK, 1, &a, 2, outs9);
  ir_func_append_op(x.m, x.f, tk);
  ir_op_set_int(tk, "k", 9);
  EXPECT_ERR(&x, "error: topk: k 9 exceeds the last dim 8 of operand 0");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(8)));
  IrType outsf[2] = {TY(IR_F32, SYM(T), C(2)), TY(IR_F32, SYM(T), C(2))};
  tk = ir_op_new(x.m, x.f, IR_OP_TOPK, 1, &a, 2, outsf);
  ir_func_append_op(x.m, x.f, tk);
  ir_op_set_int(tk, "k", 2);
  EXPECT_ERR(&x, "error: topk: result 1 has dtype f32, expected i32 or i64");

  x = fx_new();
  IrValue *idx = arg(&x, "idx", TY(IR_I32, SYM(T), C(2)));
  IrValue *w = arg(&x, "w", TY(IR_F32, SYM(T), C(2)));
  IrOp *sc = op(&x, IR_OP_SCATTER, TY(IR_F32, SYM(T), C(0)), 2, idx, w);
  ir_op_set_int(sc, "size", 0);
  EXPECT_ERR(&x, "error: scatter: size 0 must be >= 1");

  x = fx_new();
  IrOp *cm = op(&x, IR_OP_CAUSAL_MASK, TY(IR_F32, SYM(T), SYM(T)), 0);
  ir_op_set_int(cm, "window", -1);
  EXPECT_ERR(&x, "error: causal_mask: window -1 must be >= 0");
}

static void invalid_sources(void) {
  Fx x = fx_new();
  op(&x, IR_OP_IOTA, TY(IR_I32, SYM(T), C(2)), 0);
  EXPECT_ERR(&x, "error: iota: result type i32[T, 2] must have rank 1");

  x = fx_new();
  op(&x, IR_OP_CAUSAL_MASK, TY(IR_I32, SYM(T), SYM(T)), 0);
  EXPECT_ERR(&x, "error: causal_mask: result type i32[T, T] must have a float dtype");

  x = fx_new();
  op(&x, IR_OP_CONST, SCALAR(IR_F32), 0);
  EXPECT_ERR(&x, "error: const: missing required attribute value");
}

static void invalid_slices(void) {
  /* end past a constant dim: decidable statically */
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, SYM(T), C(128)));
  IrOp *sl = op(&x, IR_OP_SLICE, TY(IR_F32, SYM(T), C(100)), 1, a);
  ir_op_set_int(sl, "axis", 1);
  ir_op_set_dim(sl, "start", C(64));
  ir_op_set_dim(sl, "end", C(164));
  EXPECT_ERR(&x, "error: slice: end 164 exceeds dim 1 = 128 of operand 0");

  /* end T+1 of dim T is past the end for every T */
  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  sl = op(&x, IR_OP_SLICE, TY(IR_F32, plus(SYM(T), C(1)), C(4)), 1, a);
  ir_op_set_int(sl, "axis", 0);
  ir_op_set_dim(sl, "start", C(0));
  ir_op_set_dim(sl, "end", plus(SYM(T), C(1)));
  EXPECT_ERR(&x, "error: slice: end T+1 exceeds dim 0 = T of operand 0");

  /* [4, T) may be empty or reversed: left to run time, but the result dim
   * T-4 is negative for small T, which the type rules forbid */
  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T)));
  sl = op(&x, IR_OP_SLICE, TY(IR_F32, ir_dim_sub(SYM(T), C(4))), 1, a);
  ir_value_set_name(x.m, OUT(sl), "y");
  ir_op_set_int(sl, "axis", 0);
  ir_op_set_dim(sl, "start", C(4));
  ir_op_set_dim(sl, "end", SYM(T));
  EXPECT_ERR(&x, "error: slice: result %y has dim 0 = T-4, which is negative when T = 0");

  x = fx_new();
  IrValue *kc = state(&x, "kc", TY(IR_F32, C(2), C(32), C(8)));
  IrOp *rd = op(&x, IR_OP_KV_READ, TY(IR_F32, C(2), C(40), C(8)), 1, kc);
  ir_op_set_dim(rd, "len", C(40));
  EXPECT_ERR(&x, "error: kv_read: the range ends at 40, past dim 1 = 32 of the state");
}

/* ---- invalid modules: operands, values, functions, globals --------------- */

static void invalid_operands(void) {
  Fx x = fx_new();
  IrValue *kc = state(&x, "kc", TY(IR_F32, C(2), C(32), C(8)));
  IrValue *w = param(&x, "w", TY(IR_F32, C(2), C(32), C(8)));
  IrOp *rd = op(&x, IR_OP_KV_READ, TY(IR_F32, C(2), SYM(T), C(8)), 1, w);
  ir_op_set_dim(rd, "len", SYM(T));
  EXPECT_ERR(&x, "error: kv_read: operand 0 @w must be a state, found a param");

  x = fx_new();
  kc = state(&x, "kc", TY(IR_F32, C(4)));
  op(&x, IR_OP_ADD, TY(IR_F32, C(4)), 2, kc, kc);
  EXPECT_ERR(&x, "error: add: operand 0 @kc is a state; states are used only as operand 0 of "
                 "kv_read and kv_write");

  x = fx_new();
  kc = state(&x, "kc", TY(IR_F32, C(2), C(32), C(8)));
  IrValue *k = arg(&x, "k", TY(IR_F32, C(2), SYM(T), C(4)));
  IrOp *wr = ir_op_new(x.m, x.f, IR_OP_KV_WRITE, 2, (IrValue *[]){kc, k}, 0, NULL);
  ir_func_append_op(x.m, x.f, wr);
  ir_op_set_dim(wr, "offset", SYM(P));
  EXPECT_ERR(&x, "error: kv_write: operand 1 has dim 2 = 4, expected 8 (dim 2 of operand 0)");

  /* use before definition: the second op reads the third op's result */
  x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, C(4)));
  IrOp *first = op(&x, IR_OP_EXP, TY(IR_F32, C(4)), 1, a);
  IrOp *second = op(&x, IR_OP_EXP, TY(IR_F32, C(4)), 1, a);
  IrOp *third = op(&x, IR_OP_EXP, TY(IR_F32, C(4)), 1, OUT(first));
  ir_value_set_name(x.m, OUT(third), "late");
  second->in[0] = OUT(third);
  EXPECT_ERR(&x, "error: exp: operand 0 %late is used before its definition");

  /* a value of another function */
  x = fx_new();
  IrFunc *g = ir_module_add_func(x.m, "g");
  IrValue *other = ir_func_add_arg(x.m, g, "other", TY(IR_F32, C(4)));
  IrFunc *f2 = x.f;
  x.f = g;
  ret(&x, other);
  x.f = f2;
  op(&x, IR_OP_EXP, TY(IR_F32, C(4)), 1, other);
  EXPECT_ERR(&x, "error: exp: operand 0 %other is not defined in function @f");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, C(4)));
  IrOp *three = ir_op_new(x.m, x.f, IR_OP_ADD, 3, (IrValue *[]){a, a, a}, 1, &a->type);
  ir_func_append_op(x.m, x.f, three);
  EXPECT_ERR(&x, "error: add: has 3 operands, expected 2");
}

static void invalid_functions(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  IrType want = TY(IR_F32, SYM(T), C(8));
  ir_func_set_results(x.m, x.f, 1, &want);
  x.f->results[0] = a;
  EXPECT_ERR(&x, "error: function @f: return value 0 %a has type f32[T, 4], expected f32[T, 8] "
                 "(the declared result type)");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, SYM(T), C(4)));
  ir_func_set_results(x.m, x.f, 1, &a->type);
  EXPECT_ERR(&x, "error: function @f does not return result 0");

  x = fx_new();
  a = arg(&x, "a", TY(IR_F32, C(4)));
  IrValue *e = OUT(op(&x, IR_OP_EXP, TY(IR_F32, C(4)), 1, a));
  ir_value_set_name(x.m, e, "a");
  EXPECT_ERR(&x, "error: exp: result %a: the name is already taken in function @f");

  x = fx_new();
  arg(&x, "x", TY(IR_F32, ir_dim_sub(SYM(T), C(4))));
  EXPECT_ERR(&x, "error: function @f: argument %x has dim 0 = T-4, which is negative when T = 0");

  x = fx_new();
  arg(&x, "x", TY(IR_F32, ir_dim_sub(SYM(T), SYM(P))));
  EXPECT_ERR(&x, "error: function @f: argument %x has dim 0 = T-P, which is negative when T = 0, "
                 "P = 32");

  x = fx_new();
  ir_module_add_func(x.m, "f");
  EXPECT_ERR(&x, "error: function @f is already defined");
}

static void invalid_globals(void) {
  Fx x = fx_new();
  ir_module_add_sym(x.m, "T", 8);
  EXPECT_ERR(&x, "error: symbol T is already declared");

  x = fx_new();
  ir_module_add_sym(x.m, "B", -1);
  EXPECT_ERR(&x, "error: symbol B has bound -1, expected 0 <= bound <= 2^40");

  x = fx_new();
  param(&x, "w", TY(IR_F32, SYM(T), C(4)));
  EXPECT_ERR(&x, "error: param @w has type f32[T, 4]; params need constant dims");

  x = fx_new();
  state(&x, "kc", TY(IR_F32, C(2), SYM(P), C(4)));
  EXPECT_ERR(&x, "error: state @kc has type f32[2, P, 4]; states need constant dims");

  x = fx_new();
  param(&x, "w", TY(IR_F32, C(4)));
  state(&x, "w", TY(IR_F32, C(4)));
  EXPECT_ERR(&x, "error: state @w: the name @w is already declared");

  x = fx_new();
  IrValue *w = param(&x, "w", TY(IR_F32, C(2), C(2)));
  static double three[] = {1, 2, 3};
  w->init = three;
  w->ninit = 3;
  EXPECT_ERR(&x, "error: param @w has 3 initial values, expected 4 (the element count of "
                 "f32[2, 2])");

  x = fx_new();
  IrType bad = TY(IR_F32, C(4));
  bad.dims[0].k[5] = 1; /* symbol #5 is not declared */
  arg(&x, "a", bad);
  EXPECT_ERR(&x, "error: function @f: argument %a: dim 0 uses undeclared symbol #5 (2 declared)");
}

/* ---- text form: parsed modules, errors with file:line:col --------------- */

static void parse_case_at(const char *text, const char *want, int line) {
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), "t.kir", &d);
  check_count++;
  if (!m) {
    check_failures++;
    fprintf(stderr, "%s:%d: parse failed: %s\n", __FILE__, line, d.msg);
    return;
  }
  bool ok = ir_verify(m, &d);
  bool pass = want ? !ok && strcmp(d.msg, want) == 0 : ok;
  if (!pass) {
    check_failures++;
    fprintf(stderr, "%s:%d: expected %s\n  %s\ngot %s\n  %s\n", __FILE__, line,
            want ? "error" : "success", want ? want : "", ok ? "success" : "error", d.msg);
  }
  ir_module_free(m);
}
#define PARSE_OK(text) parse_case_at(text, NULL, __LINE__)
#define PARSE_ERR(text, msg) parse_case_at(text, msg, __LINE__)

/* One attention layer of a tiny GQA model (4 query heads, 2 kv heads of
 * dim 4), written out op by op and in the fused form. */
static const char *tiny_layer =
    "module @tiny {\n"
    "  sym T <= 16\n"
    "  sym P <= 16\n"
    "  param @embed : f32[32, 16]\n"
    "  param @norm : bf16[16] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,\n"
    "                            1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]\n"
    "  param @wq : bf16[16, 16]\n"
    "  param @wk : bf16[8, 16]\n"
    "  param @wv : bf16[8, 16]\n"
    "  state @kc : f32[2, 32, 4]\n"
    "  state @vc : f32[2, 32, 4]\n"
    "  func @prefill(%tok: i32[T], %pos: i32[T]) -> (f32[T, 16], f32[4, T, 4]) {\n"
    "    %x = embedding(@embed, %tok) : f32[T, 16]\n"
    "    %h = rmsnorm(%x, @norm) {eps = 1e-05} : f32[T, 16]\n"
    "    %q = matmul(%h, @wq) {transpose_b} : f32[T, 16]\n"
    "    %k = matmul(%h, @wk) {transpose_b} : f32[T, 8]\n"
    "    %v = matmul(%h, @wv) {transpose_b} : f32[T, 8]\n"
    "    %qr = rope(%q, %pos) {head_dim = 4, theta = 10000.0} : f32[T, 16]\n"
    "    %kr = rope(%k, %pos) {head_dim = 4, theta = 10000.0, pairing = \"interleaved\"}\n"
    "        : f32[T, 8]\n"
    "    %q3 = reshape(%qr) : f32[T, 4, 4]\n"
    "    %q4 = transpose(%q3) {perm = [1, 0, 2]} : f32[4, T, 4]\n"
    "    %qg = reshape(%q4) : f32[2, 2, T, 4]\n"
    "    %k3 = reshape(%kr) : f32[T, 2, 4]\n"
    "    %k4 = transpose(%k3) {perm = [1, 0, 2]} : f32[2, T, 4]\n"
    "    kv_write(@kc, %k4) {offset = P}\n"
    "    %v3 = reshape(%v) : f32[T, 2, 4]\n"
    "    %v4 = transpose(%v3) {perm = [1, 0, 2]} : f32[2, T, 4]\n"
    "    kv_write(@vc, %v4) {offset = P, axis = 1}\n"
    "    %kall = kv_read(@kc) {len = P+T} : f32[2, P+T, 4]\n"
    "    %vall = kv_read(@vc) {len = P+T, start = 0, axis = -2} : f32[2, P+T, 4]\n"
    "    %k5 = reshape(%kall) : f32[2, 1, P+T, 4]\n"
    "    %s = matmul(%qg, %k5) {transpose_b} : f32[2, 2, T, P+T]\n"
    "    %c = const {value = 0.5} : f32[]\n"
    "    %ss = mul(%s, %c) : f32[2, 2, T, P+T]\n"
    "    %m = causal_mask {offset = P} : f32[T, P+T]\n"
    "    %sm = add(%ss, %m) : f32[2, 2, T, P+T]\n"
    "    %p = softmax(%sm) : f32[2, 2, T, P+T]\n"
    "    %v5 = reshape(%vall) : f32[2, 1, P+T, 4]\n"
    "    %o = matmul(%p, %v5) : f32[2, 2, T, 4]\n"
    "    %o4 = reshape(%o) : f32[4, T, 4]\n"
    "    %o3 = transpose(%o4) {perm = [1, 0, 2]} : f32[T, 4, 4]\n"
    "    %o2 = reshape(%o3) : f32[T, 16]\n"
    "    %y = add(%x, %o2) : f32[T, 16]\n"
    "    %fused = attention(%q4, %kall, %vall) {scale = 0.5, causal, offset = P} : f32[4, T, 4]\n"
    "    return %y, %fused\n"
    "  }\n"
    "}\n";

/* Lines 1-6; the case's ops start on line 7. */
#define HEADER                                             \
  "module @t {\n"                                          \
  "  sym T <= 16\n"                                        \
  "  sym P <= 16\n"                                        \
  "  param @w : f32[64, 32]\n"                             \
  "  state @kc : f32[2, 32, 4]\n"                          \
  "  func @f(%x: f32[T, 128], %pos: i32[T]) -> f32[T, 32] {\n"
#define FOOTER "  }\n}\n"

static void text_cases(void) {
  PARSE_OK(tiny_layer);
  PARSE_ERR(HEADER "    %y = matmul(%x, @w) : f32[T, 32]\n    return %y\n" FOOTER,
            "t.kir:7:5: error: matmul: operand 1 has inner dim 64, expected 128 (the inner dim "
            "of operand 0)");
  PARSE_ERR(HEADER "    %y = kv_read(@w) {len = T} : f32[T, 32]\n    return %y\n" FOOTER,
            "t.kir:7:5: error: kv_read: operand 0 @w must be a state, found a param");
  PARSE_ERR(HEADER "    %a = exp(%x) : f32[T, 128]\n"
                   "    %b = add(%a, @kc) : f32[T, 128]\n    return %b\n" FOOTER,
            "t.kir:8:5: error: add: operand 1 @kc is a state; states are used only as operand 0 "
            "of kv_read and kv_write");
  PARSE_ERR(HEADER "    %y = slice(%x) {axis = 1, start = 0, end = 16} : f32[T, 16]\n"
                   "    return %y\n" FOOTER,
            "t.kir:6:3: error: function @f: return value 0 %y has type f32[T, 16], expected "
            "f32[T, 32] (the declared result type)");
  PARSE_ERR(HEADER "    %y = slice(%x) {axis = 1, start = 0, end = 32} : f32[T, 33]\n"
                   "    return %y\n" FOOTER,
            "t.kir:7:5: error: slice: result type f32[T, 33] does not match the inferred "
            "f32[T, 32] for %y");
  PARSE_ERR(HEADER "    %r = rope(%x, %pos) {head_dim = 48, theta = 10000.0} : f32[T, 128]\n"
                   "    %y = slice(%r) {axis = 1, start = 0, end = 32} : f32[T, 32]\n"
                   "    return %y\n" FOOTER,
            "t.kir:7:5: error: rope: head_dim 48 does not divide the last dim 128");
  PARSE_ERR(HEADER "    %k = reshape(%x) : f32[2, T, 64]\n"
                   "    kv_write(@kc, %k) {offset = P}\n"
                   "    %y = slice(%x) {axis = 1, start = 0, end = 32} : f32[T, 32]\n"
                   "    return %y\n" FOOTER,
            "t.kir:8:5: error: kv_write: operand 1 has dim 2 = 64, expected 4 (dim 2 of "
            "operand 0)");
}

/* ---- ir_infer_types on its own ------------------------------------------- */

static void infer_directly(void) {
  Fx x = fx_new();
  IrValue *a = arg(&x, "a", TY(IR_F32, C(3), SYM(T), C(4)));
  IrValue *b = arg(&x, "b", TY(IR_F32, C(1), C(4), SYM(P)));
  IrOp *mm = op(&x, IR_OP_MATMUL, SCALAR(IR_BF16), 2, a, b); /* result declared wrong on purpose */
  IrType got[2];
  IrDiag d = {0};
  CHECK(ir_infer_types(x.m, mm, got, &d));
  IrType want = TY(IR_BF16, C(3), SYM(T), SYM(P));
  CHECK(ir_type_eq(&got[0], &want));

  IrType outs[2] = {SCALAR(IR_F32), SCALAR(IR_I64)};
  IrOp *tk = ir_op_new(x.m, x.f, IR_OP_TOPK, 1, &a, 2, outs);
  ir_op_set_int(tk, "k", 3);
  CHECK(ir_infer_types(x.m, tk, got, &d));
  IrType v = TY(IR_F32, C(3), SYM(T), C(3)), i = TY(IR_I64, C(3), SYM(T), C(3));
  CHECK(ir_type_eq(&got[0], &v) && ir_type_eq(&got[1], &i));
  CHECK(!d.failed);

  IrOp *rs = op(&x, IR_OP_REDUCE_MAX, SCALAR(IR_F32), 1, a);
  ir_op_set_int(rs, "axis", -3);
  CHECK(ir_infer_types(x.m, rs, got, &d));
  IrType r = TY(IR_F32, C(1), SYM(T), C(4));
  CHECK(ir_type_eq(&got[0], &r));
  ir_module_free(x.m);
}

int main(void) {
  valid_elementwise();
  valid_sources();
  valid_embedding_matmul();
  valid_norms_rope();
  valid_softmax_attention_reduce();
  valid_data_movement();
  valid_moe();
  valid_kv();
  valid_module_level();
  invalid_spec_examples();
  invalid_dtypes();
  invalid_shapes();
  invalid_attributes();
  invalid_sources();
  invalid_slices();
  invalid_operands();
  invalid_functions();
  invalid_globals();
  text_cases();
  infer_directly();
  return check_report();
}
