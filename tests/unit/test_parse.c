/* test_parse.c: the IR text form. Printed IR parses back to the same text
 * byte for byte; non-canonical input prints in canonical form; every error
 * names file:line:col and what was expected. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "ir.h"

/* ---- helpers ---- */

static IrModule *parse(const char *text, IrDiag *d) {
  *d = (IrDiag){0};
  return ir_parse(text, strlen(text), "t.kir", d);
}

/* print(parse(text)) into a malloc'd string, or NULL (error printed). */
static char *reprint(const char *text) {
  IrDiag d;
  IrModule *m = parse(text, &d);
  if (!m) {
    fprintf(stderr, "unexpected parse error: %s\n", d.msg);
    return NULL;
  }
  IrBuf b = {0};
  ir_print_module(&b, m);
  ir_module_free(m);
  return b.data;
}

static void show_diff(const char *got, const char *want) {
  fprintf(stderr, "--- got ---\n%s--- want ---\n%s---\n", got, want);
}

/* text is canonical: it prints back unchanged. */
static void check_round_trip(const char *text) {
  char *got = reprint(text);
  CHECK(got && strcmp(got, text) == 0);
  if (got && strcmp(got, text) != 0) show_diff(got, text);
  free(got);
}

/* text is not canonical; it prints as want (which itself is canonical). */
static void check_prints_as(const char *text, const char *want) {
  char *got = reprint(text);
  CHECK(got && strcmp(got, want) == 0);
  if (got && strcmp(got, want) != 0) show_diff(got, want);
  free(got);
  check_round_trip(want);
}

static void check_error(const char *text, const char *want) {
  IrDiag d;
  IrModule *m = parse(text, &d);
  CHECK(m == NULL);
  CHECK(d.failed);
  CHECK(strcmp(d.msg, want) == 0);
  if (strcmp(d.msg, want) != 0) fprintf(stderr, "got:  %s\nwant: %s\n", d.msg, want);
  ir_module_free(m);
}

static char *print_double(double v) {
  IrBuf b = {0};
  ir_print_double(&b, v);
  return b.data;
}

static void check_double(double v, const char *want) {
  char *got = print_double(v);
  CHECK(strcmp(got, want) == 0);
  if (strcmp(got, want) != 0)
    fprintf(stderr, "ir_print_double(%.17g) = %s, want %s\n", v, got, want);
  free(got);
}

/* ---- round trips ---- */

static const char *all_ops =
    "module @all {\n"
    "  sym P <= 2048\n"
    "  sym T <= 2048\n"
    "  sym B <= 4\n"
    "  param @embed : f32[100, 64]\n"
    "  param @g : f32[64]\n"
    "  param @b : bf16[64]\n"
    "  param @w : f32[2, 2] = [1.0, -2.5, 0.001, 1e+20]\n"
    "  param @ids : i32[3] = [-1, 0, 2147483647]\n"
    "  param @s : f32[] = [-inf]\n"
    "  param @q4 : i4[4] = [-8, 7, 0, 1]\n"
    "  param @h : f16[2] = [0.5, nan]\n"
    "  param @big : i64[1] = [-9007199254740992]\n"
    "  state @kc : f32[2, 2048, 32]\n"
    "  state @vc : bf16[2, P+T, 32]\n"
    "\n"
    "  func @prefill(%tok: i32[T], %pos: i32[T], %x0: f32[B, T, 64]) -> (f32[T, 64], i32[T, 2]) {\n"
    "    %x = embedding(@embed, %tok) : f32[T, 64]\n"
    "    %a = add(%x, %x) : f32[T, 64]\n"
    "    %sb = sub(%a, %x) : f32[T, 64]\n"
    "    %m = mul(%sb, %x) : f32[T, 64]\n"
    "    %d = div(%m, %x) : f32[T, 64]\n"
    "    %mx = max(%d, %x) : f32[T, 64]\n"
    "    %mn = min(%mx, %x) : f32[T, 64]\n"
    "    %pw = pow(%mn, %x) : f32[T, 64]\n"
    "    %ng = neg(%pw) : f32[T, 64]\n"
    "    %ex = exp(%ng) : f32[T, 64]\n"
    "    %lg = log(%ex) : f32[T, 64]\n"
    "    %sq = sqrt(%lg) : f32[T, 64]\n"
    "    %rs = rsqrt(%sq) : f32[T, 64]\n"
    "    %th = tanh(%rs) : f32[T, 64]\n"
    "    %sg = sigmoid(%th) : f32[T, 64]\n"
    "    %sl = silu(%sg) : f32[T, 64]\n"
    "    %rl = relu(%sl) : f32[T, 64]\n"
    "    %gl = gelu(%rl) {approx = \"tanh\"} : f32[T, 64]\n"
    "    %cs = cast(%gl) : bf16[T, 64]\n"
    "    %c = const {value = 0.125} : f32[]\n"
    "    %io = iota {start = P} : i32[T]\n"
    "    %cm = causal_mask {offset = P, window = 4096} : f32[T, P+T]\n"
    "    %mm = matmul(%x, @w) {transpose_a, transpose_b} : f32[T, 64]\n"
    "    %rn = rmsnorm(%mm, @g) {eps = 1e-05} : f32[T, 64]\n"
    "    %ln = layernorm(%rn, @g, @b) {eps = 1e-06} : f32[T, 64]\n"
    "    %rp = rope(%ln, %pos) {head_dim = 32, theta = 500000.0, pairing = \"interleaved\", "
    "rotary_dim = 16, scaling = \"llama3\", factor = 8.0, low_freq_factor = 1.0, "
    "high_freq_factor = 4.0, original_max_position = 8192} : f32[T, 64]\n"
    "    %r3 = reshape(%rp) : f32[T, 2, 32]\n"
    "    %q = transpose(%r3) {perm = [1, 0, 2]} : f32[2, T, 32]\n"
    "    kv_write(@kc, %q) {offset = P, axis = -2}\n"
    "    %k = kv_read(@kc) {len = P+T, start = 0, axis = -2} : f32[2, P+T, 32]\n"
    "    %at = attention(%q, %k, %k) {scale = 0.17677669529663687, causal, offset = P, "
    "window = 0} : f32[2, T, 32]\n"
    "    %ao, %al = attention_split(%q, %k, %k) {scale = 0.5, causal, offset = P, chunk = 1024} : "
    "f32[4, 2, T, 32], f32[4, 2, T]\n"
    "    %am = attention_merge(%ao, %al) : f32[2, T, 32]\n"
    "    %sm = softmax(%cm) {axis = -1} : f32[T, P+T]\n"
    "    %rsum = reduce_sum(%x) {axis = -1} : f32[T, 1]\n"
    "    %rmean = reduce_mean(%x) {axis = 0} : f32[1, 64]\n"
    "    %rmax = reduce_max(%x) {axis = 1} : f32[T, 1]\n"
    "    %sl2 = slice(%x) {axis = 1, start = 0, end = 2*T-1} : f32[T, 2*T-1]\n"
    "    %cc = concat(%x, %x, %x) {axis = 0} : f32[3*T, 64]\n"
    "    %me = matmul(%x, @w, %x) {transpose_b, epilogue = \"add(acc, $2)\"} : f32[T, 64]\n"
    "    %fu = fused(%x, %me) {expr = \"mul(silu($0), sub($1, -1.5))\"} : f32[T, 64]\n"
    "    %v, %i = topk(%x) {k = 2} : f32[T, 2], i32[T, 2]\n"
    "    %sc = scatter(%i, %v) {size = 64} : f32[T, 64]\n"
    "    return %sc, %i\n"
    "  }\n"
    "\n"
    "  func @decode(%tok: i32[1], %z: f32[]) -> f32[-T+8, P-2*T+3] {\n"
    "    %y = neg(%z) : f32[]\n"
    "    return %y\n"
    "  }\n"
    "\n"
    "  func @nothing() -> () {\n"
    "    return\n"
    "  }\n"
    "}\n";

static bool module_has_op(const IrModule *m, IrOpKind k) {
  for (int i = 0; i < m->nfuncs; i++)
    for (int j = 0; j < m->funcs[i]->nops; j++)
      if (m->funcs[i]->ops[j]->kind == k) return true;
  return false;
}

static const IrOp *find_op(const IrFunc *f, const char *result) {
  IrValue *v = ir_func_find_value(f, result, strlen(result));
  return v ? v->def : NULL;
}

static void test_all_ops_round_trip(void) {
  check_round_trip(all_ops);
  IrDiag d;
  IrModule *m = parse(all_ops, &d);
  CHECK(m != NULL);
  if (!m) return;
  for (int k = 0; k < IR_OP_COUNT; k++) {
    CHECK(module_has_op(m, (IrOpKind)k));
    if (!module_has_op(m, (IrOpKind)k)) fprintf(stderr, "missing op %s\n", ir_op_spec(k)->name);
  }
  CHECK(strcmp(m->name, "all") == 0);
  CHECK(m->nsyms == 3 && strcmp(m->syms[1].name, "T") == 0 && m->syms[2].max == 4);
  CHECK(m->nparams == 9 && m->nstates == 2 && m->nfuncs == 3);

  IrFunc *f = ir_module_find_func(m, "prefill");
  CHECK(f && f->nargs == 3 && f->nresults == 2 && f->nops == 43);
  if (!f) goto done;
  CHECK(f->results[0] == ir_func_find_value(f, "sc", 2));
  CHECK(f->results[1]->def->kind == IR_OP_TOPK && f->results[1]->def_index == 1);
  CHECK(f->result_types[1].dtype == IR_I32 && f->result_types[1].rank == 2);

  /* P+T is {k[P]=1, k[T]=1}; 2*T-1 is {k[T]=2, c=-1}. */
  const IrOp *kv = find_op(f, "k");
  IrDim len = ir_op_dim(kv, "len", ir_dim_const(0));
  CHECK(len.k[0] == 1 && len.k[1] == 1 && len.c == 0);
  CHECK(ir_dim_eq(kv->out[0]->type.dims[1], len));
  CHECK(ir_op_int(kv, "axis", 0) == -2);
  IrDim end = ir_op_dim(find_op(f, "sl2"), "end", ir_dim_const(0));
  CHECK(end.k[1] == 2 && end.c == -1 && end.k[0] == 0);

  /* Every attribute kind holds what the text says. */
  const IrOp *rope = find_op(f, "rp");
  CHECK(ir_op_int(rope, "head_dim", 0) == 32);
  CHECK(ir_op_float(rope, "theta", 0) == 500000.0);
  CHECK(strcmp(ir_op_str(rope, "pairing", ""), "interleaved") == 0);
  CHECK(ir_op_attr(rope, "original_max_position")->i == 8192);
  CHECK(ir_op_float(find_op(f, "rn"), "eps", 0) == 1e-5);
  CHECK(ir_op_bool(find_op(f, "mm"), "transpose_a") && ir_op_bool(find_op(f, "mm"), "transpose_b"));
  CHECK(ir_op_bool(find_op(f, "at"), "causal"));
  const IrAttr *perm = ir_op_attr(find_op(f, "q"), "perm");
  CHECK(perm && perm->nints == 3 && perm->ints[0] == 1 && perm->ints[1] == 0 && perm->ints[2] == 2);
  CHECK(ir_op_float(find_op(f, "c"), "value", 0) == 0.125);
  CHECK(find_op(f, "c")->out[0]->type.rank == 0);
  /* kv_write has no result: it is the op after the transpose. */
  const IrOp *kw = f->ops[28];
  CHECK(kw->kind == IR_OP_KV_WRITE && kw->nout == 0 && kw->nin == 2);
  CHECK(kw->in[0]->kind == IR_VAL_STATE && kw->in[1] == find_op(f, "q")->out[0]);
  const IrOp *cc = find_op(f, "cc");
  CHECK(cc->nin == 3 && cc->out[0]->type.dims[0].k[1] == 3);

  /* Initializers: values by dtype. */
  IrValue *w = ir_module_find_global(m, "w", 1);
  CHECK(w->ninit == 4 && w->init[1] == -2.5 && w->init[3] == 1e20);
  IrValue *ids = ir_module_find_global(m, "ids", 3);
  CHECK(ids->ninit == 3 && ids->init[0] == -1 && ids->init[2] == 2147483647.0);
  IrValue *s = ir_module_find_global(m, "s", 1);
  CHECK(s->type.rank == 0 && s->ninit == 1 && isinf(s->init[0]) && s->init[0] < 0);
  IrValue *h = ir_module_find_global(m, "h", 1);
  CHECK(h->type.dtype == IR_F16 && isnan(h->init[1]));
  CHECK(ir_module_find_global(m, "embed", 5)->init == NULL);

  IrFunc *dec = ir_module_find_func(m, "decode");
  IrDim d1 = dec->result_types[0].dims[1]; /* P-2*T+3 */
  CHECK(d1.k[0] == 1 && d1.k[1] == -2 && d1.c == 3);
  IrFunc *none = ir_module_find_func(m, "nothing");
  CHECK(none->nargs == 0 && none->nresults == 0 && none->nops == 0);
done:
  ir_module_free(m);
}

static void test_small_round_trips(void) {
  check_round_trip("module @empty {\n}\n");
  check_round_trip(
      "module @m {\n"
      "  sym T <= 16\n"
      "  param @w : f32[2, 2] = [1.0, 2.0, 3.0, 4.0]\n"
      "  param @e : f32[0] = []\n"
      "  state @kc : f32[2, 16, 64]\n"
      "}\n");
  /* Dims: declaration order, coefficients, negatives, zero. */
  check_round_trip(
      "module @dims {\n"
      "  sym A <= 4\n"
      "  sym B <= 4\n"
      "  sym C <= 4\n"
      "  state @s : f32[0, -5, A-1, -A, -A+B, 2*A-3*B+C, -9223372036854775808*C, "
      "9223372036854775807]\n"
      "}\n");
  check_round_trip(
      "module @scalars {\n"
      "\n"
      "  func @f(%a: f32[], %b: i64[]) -> (f32[], i64[]) {\n"
      "    %c = mul(%a, %a) : f32[]\n"
      "    return %c, %b\n"
      "  }\n"
      "\n"
      "  func @g(%a: f32[]) -> f32[] {\n"
      "    return %a\n"
      "  }\n"
      "}\n");
  /* Attribute values at the edges of their kinds. */
  check_round_trip(
      "module @attrs {\n"
      "\n"
      "  func @f(%x: f32[4]) -> f32[4] {\n"
      "    %a = const {value = -inf} : f32[4]\n"
      "    %b = const {value = nan} : f32[4]\n"
      "    %c = const {value = -0.0} : f32[4]\n"
      "    %d = const {value = 5e-324} : f32[4]\n"
      "    %e = softmax(%x) {axis = -9223372036854775808} : f32[4]\n"
      "    %f = transpose(%x) {perm = []} : f32[4]\n"
      "    %g = transpose(%x) {perm = [-1, 9223372036854775807]} : f32[4]\n"
      "    %h = iota {start = -3} : f32[4]\n"
      "    return %h\n"
      "  }\n"
      "}\n");
  /* A global can be returned; names may hold digits and dots. */
  check_round_trip(
      "module @l0.attn {\n"
      "  param @l0.attn.wq : f32[2]\n"
      "\n"
      "  func @f(%0: f32[2]) -> (f32[2], f32[2]) {\n"
      "    %t.1 = add(%0, @l0.attn.wq) : f32[2]\n"
      "    return %t.1, @l0.attn.wq\n"
      "  }\n"
      "}\n");
}

static void test_canonical_form(void) {
  check_prints_as(
      "// a comment before the module\n"
      "module @m{sym P<=8 sym T<=8 // two symbols\n"
      "\tparam @g:f32[4]=[1,2,-3,inf]   state @kc : f32[2,  T+P+8, 4]\n"
      "func @f(%x:f32[T,4],%pos:i32[T])->(f32[T,4]){\n"
      "  %y=rmsnorm(%x,@g){eps=1}:f32[T,4]//no space\n"
      "  %r = rope(%y, %pos) {theta = 1e4, head_dim = 4, factor = 2, scaling = \"line\\x61r\"}"
      " : f32[T, 4]\n"
      "  kv_write(@kc,%r){offset=P+0}\n"
      "  %k=kv_read(@kc){len=T+P,start=-T+T}:f32[2,1*T+P,4]\n"
      "  %c=const(){value=-nan}:f32[]\n"
      "  %z = neg(%c) {} : f32[]\n"
      "  return %r}}",
      "module @m {\n"
      "  sym P <= 8\n"
      "  sym T <= 8\n"
      "  param @g : f32[4] = [1.0, 2.0, -3.0, inf]\n"
      "  state @kc : f32[2, P+T+8, 4]\n"
      "\n"
      "  func @f(%x: f32[T, 4], %pos: i32[T]) -> f32[T, 4] {\n"
      "    %y = rmsnorm(%x, @g) {eps = 1.0} : f32[T, 4]\n"
      "    %r = rope(%y, %pos) {head_dim = 4, theta = 10000.0, scaling = \"linear\", factor = 2.0}"
      " : f32[T, 4]\n"
      "    kv_write(@kc, %r) {offset = P}\n"
      "    %k = kv_read(@kc) {len = P+T, start = 0} : f32[2, P+T, 4]\n"
      "    %c = const {value = nan} : f32[]\n"
      "    %z = neg(%c) : f32[]\n"
      "    return %r\n"
      "  }\n"
      "}\n");
  /* Items print grouped (syms, params, states, funcs); dims follow the
   * symbols' declaration order, here T before P. */
  check_prints_as(
      "module @order {\n"
      "  sym T <= 4\n"
      "  func @f() -> () { return }\n"
      "  sym P <= 4\n"
      "  state @s : f32[P+T, P]\n"
      "  param @p : i8[2] = [-0, 0007]\n"
      "}\n",
      "module @order {\n"
      "  sym T <= 4\n"
      "  sym P <= 4\n"
      "  param @p : i8[2] = [0, 7]\n"
      "  state @s : f32[T+P, P]\n"
      "\n"
      "  func @f() -> () {\n"
      "    return\n"
      "  }\n"
      "}\n");
  /* `-> (t)` with one result prints without the parentheses. */
  check_prints_as("module @m { func @f(%a: f32[]) -> (f32[]) { return %a } }",
                  "module @m {\n"
                  "\n"
                  "  func @f(%a: f32[]) -> f32[] {\n"
                  "    return %a\n"
                  "  }\n"
                  "}\n");
}

/* The printer alone, on a module built through the API. */
static void test_print_built_module(void) {
  IrModule *m = ir_module_new("api");
  int t = ir_module_add_sym(m, "T", 32);
  IrType wt = {.dtype = IR_F32, .rank = 2, .dims = {ir_dim_const(4), ir_dim_const(4)}};
  IrValue *w = ir_module_add_param(m, "w", wt);
  IrFunc *f = ir_module_add_func(m, "f");
  IrType xt = {.dtype = IR_F32, .rank = 2, .dims = {ir_dim_sym(t), ir_dim_const(4)}};
  IrValue *x = ir_func_add_arg(m, f, "x", xt);
  ir_func_set_results(m, f, 1, &xt);
  IrValue *in[] = {x, w};
  IrOp *mm = ir_op_new(m, f, IR_OP_MATMUL, 2, in, 1, &xt);
  ir_op_set_bool(mm, "transpose_b", true);
  ir_func_append_op(m, f, mm);
  IrOp *g = ir_op_new(m, f, IR_OP_GELU, 1, mm->out, 1, &xt);
  ir_op_set_str(m, g, "approx", "q\"b\\s\n\x01");
  ir_func_append_op(m, f, g);
  f->results[0] = g->out[0];
  IrBuf b = {0};
  ir_print_module(&b, m);
  const char *want =
      "module @api {\n"
      "  sym T <= 32\n"
      "  param @w : f32[4, 4]\n"
      "\n"
      "  func @f(%x: f32[T, 4]) -> f32[T, 4] {\n"
      "    %t0 = matmul(%x, @w) {transpose_b} : f32[T, 4]\n"
      "    %t1 = gelu(%t0) {approx = \"q\\\"b\\\\s\\n\\x01\"} : f32[T, 4]\n"
      "    return %t1\n"
      "  }\n"
      "}\n";
  CHECK(strcmp(b.data, want) == 0);
  if (strcmp(b.data, want) != 0) show_diff(b.data, want);
  ir_buf_free(&b);
  ir_module_free(m);
}

static void check_dim(const IrModule *m, IrDim d, const char *want) {
  IrBuf b = {0};
  ir_print_dim(&b, m, d);
  CHECK(strcmp(b.data, want) == 0);
  if (strcmp(b.data, want) != 0) fprintf(stderr, "dim printed %s, want %s\n", b.data, want);
  ir_buf_free(&b);
}

static void test_print_dims(void) {
  IrModule *m = ir_module_new("d");
  int p = ir_module_add_sym(m, "P", 8), t = ir_module_add_sym(m, "T", 8);
  IrDim pt = ir_dim_add(ir_dim_sym(p), ir_dim_sym(t));
  check_dim(m, ir_dim_const(0), "0");
  check_dim(m, ir_dim_const(64), "64");
  check_dim(m, ir_dim_const(-7), "-7");
  check_dim(m, ir_dim_sym(t), "T");
  check_dim(m, ir_dim_scale(ir_dim_sym(t), -1), "-T");
  check_dim(m, ir_dim_sub(ir_dim_sym(t), ir_dim_const(1)), "T-1");
  check_dim(m, ir_dim_add(ir_dim_const(8), ir_dim_scale(ir_dim_sym(t), -1)), "-T+8");
  check_dim(m, pt, "P+T");
  check_dim(m, ir_dim_scale(ir_dim_sym(t), 2), "2*T");
  IrDim e = ir_dim_add(ir_dim_sub(ir_dim_sym(p), ir_dim_scale(ir_dim_sym(t), 2)), ir_dim_const(3));
  check_dim(m, e, "P-2*T+3");
  check_dim(m, ir_dim_sub(pt, pt), "0");
  IrType scalar = {.dtype = IR_BF16, .rank = 0};
  IrBuf b = {0};
  ir_print_type(&b, m, &scalar);
  CHECK(strcmp(b.data, "bf16[]") == 0);
  ir_buf_free(&b);
  IrType t2 = {.dtype = IR_I4, .rank = 2, .dims = {pt, ir_dim_const(3)}};
  ir_print_type(&b, m, &t2);
  CHECK(strcmp(b.data, "i4[P+T, 3]") == 0);
  ir_buf_free(&b);
  ir_module_free(m);
}

static void test_print_double(void) {
  check_double(10000.0, "10000.0");
  check_double(1e-5, "1e-05");
  check_double(0.1, "0.1");
  check_double(-INFINITY, "-inf");
  check_double(INFINITY, "inf");
  check_double(NAN, "nan");
  check_double(0.0, "0.0");
  check_double(-0.0, "-0.0");
  check_double(1.0, "1.0");
  check_double(-2.5, "-2.5");
  check_double(0.125, "0.125");
  check_double(500000.0, "500000.0");
  check_double(0.0001, "0.0001");
  check_double(0.00012345, "0.00012345");
  check_double(1.234e-5, "1.234e-05");
  check_double(1e15, "1000000000000000.0");
  check_double(1e16, "1e+16");
  check_double(1.5e16, "1.5e+16");
  check_double(1e100, "1e+100");
  check_double(1.0 / 3.0, "0.3333333333333333");
  check_double(123456.789, "123456.789");
  check_double(0.17677669529663687, "0.17677669529663687");
  check_double(5e-324, "5e-324");
  check_double(DBL_MAX, "1.7976931348623157e+308");
  check_double((double)FLT_MAX, "3.4028234663852886e+38");
  /* Random bit patterns: the text reads back to the same double and lexes
   * as a float (has '.', 'e', or is inf/nan). */
  uint64_t state = 0x9e3779b97f4a7c15u;
  int bad = 0;
  for (int i = 0; i < 20000; i++) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    double v;
    memcpy(&v, &state, sizeof v);
    if (i % 2) v = (double)(int64_t)(state % 2000001) / 1000.0 - 1000.0; /* "nice" values */
    if (!isfinite(v)) continue;
    char *s = print_double(v);
    double back = strtod(s, NULL);
    if (memcmp(&back, &v, sizeof v) != 0 || !strpbrk(s, ".e")) {
      if (bad++ < 5) fprintf(stderr, "ir_print_double(%a) = %s does not read back\n", v, s);
    }
    free(s);
  }
  CHECK(bad == 0);
}

/* ---- locations ---- */

static void test_locations(void) {
  const char *text =
      "module @loc {\n"
      "  sym T <= 4\n"
      "  param @w : f32[2]\n"
      "\n"
      "  func @f(%x: f32[T]) -> f32[T] {\n"
      "    %y = neg(%x) : f32[T]\n"
      "    %a, %b = topk(%y) {k = 1} : f32[1], i32[1]\n"
      "    kv_write(@w, %y) {offset = 0}\n"
      "    return %y\n"
      "  }\n"
      "}\n";
  IrDiag d;
  IrModule *m = parse(text, &d);
  CHECK(m != NULL);
  if (!m) return;
  IrFunc *f = m->funcs[0];
  CHECK(strcmp(m->file, "t.kir") == 0 && m->loc.line == 1 && m->loc.col == 1);
  CHECK(m->syms[0].loc.line == 2 && m->syms[0].loc.col == 3);
  CHECK(m->params[0]->loc.line == 3 && m->params[0]->loc.col == 3);
  CHECK(f->loc.line == 5 && f->loc.col == 3 && strcmp(f->loc.file, "t.kir") == 0);
  CHECK(f->args[0]->loc.line == 5 && f->args[0]->loc.col == 11);
  CHECK(f->ops[0]->loc.line == 6 && f->ops[0]->loc.col == 5);
  CHECK(f->ops[0]->out[0]->loc.line == 6 && f->ops[0]->out[0]->loc.col == 5);
  CHECK(f->ops[1]->loc.line == 7 && f->ops[1]->loc.col == 5);
  CHECK(f->ops[1]->out[1]->loc.line == 7 && f->ops[1]->out[1]->loc.col == 9);
  CHECK(f->ops[2]->loc.line == 8 && f->ops[2]->loc.col == 5);
  ir_module_free(m);
}

/* ---- errors ---- */

static void test_errors(void) {
  /* Whole modules. */
  static const struct {
    const char *text, *msg;
  } cases[] = {
      {"",
       "t.kir:1:1: error: expected 'module', found end of file"},
      {"modul @m {}",
       "t.kir:1:1: error: expected 'module', found 'modul'"},
      {"module m {}",
       "t.kir:1:8: error: expected a module name (@name), found 'm'"},
      {"module @m {\n}\nextra",
       "t.kir:3:1: error: expected end of file after the module, found 'extra'"},
      {"module @m {\n  sym T <= 4\n  sym T <= 8\n}\n",
       "t.kir:3:7: error: redefinition of symbol 'T' (first defined at 2:3)"},
      {"module @m {\n  sym A <= 1\n  sym B <= 1\n  sym C <= 1\n  sym D <= 1\n  sym E <= 1\n"
       "  sym F <= 1\n  sym G <= 1\n  sym H <= 1\n  sym I <= 1\n}\n",
       "t.kir:10:7: error: too many symbols: at most 8"},
      {"module @m { sym T <= -1 }",
       "t.kir:1:22: error: expected the symbol's bound (an integer), found '-'"},
      {"module @m {\n  param @w : f33[2]\n}\n",
       "t.kir:2:14: error: expected a dtype (f32, f16, bf16, i32, i64, i8 or i4), found 'f33'"},
      {"module @m {\n  param @w : f32[Q]\n}\n",
       "t.kir:2:18: error: unknown symbol 'Q'"},
      {"module @m {\n  param @w : f32[1, 2, 3, 4, 5, 6, 7, 8, 9]\n}\n",
       "t.kir:2:42: error: too many dims: at most 8"},
      {"module @m {\n  param @w : f32[2 3]\n}\n",
       "t.kir:2:20: error: expected ',' or ']', found '3'"},
      {"module @m {\n  sym T <= 4\n  param @w : f32[2*3]\n}\n",
       "t.kir:3:20: error: expected a symbol after '*', found '3'"},
      {"module @m {\n  sym T <= 99999999999999999999\n}\n",
       "t.kir:2:12: error: integer literal '99999999999999999999' is out of range"},
      {"module @m {\n  sym T <= 9223372036854775808\n}\n",
       "t.kir:2:12: error: integer literal '9223372036854775808' is out of range"},
      {"module @m {\n  sym T <= 4\n"
       "  param @w : f32[9223372036854775807*T+9223372036854775807*T]\n}\n",
       "t.kir:3:40: error: dim is out of range (overflows 64 bits)"},
      {"module @m {\n  param @w : f32[2, 2] = [1.0, 2.0, 3.0]\n}\n",
       "t.kir:2:40: error: param @w has 4 elements, found 3 initializer values"},
      {"module @m {\n  param @w : f32[2] = [1.0, 2.0, 3.0]\n}\n",
       "t.kir:2:34: error: param @w has 2 elements, found more initializer values"},
      {"module @m {\n  sym T <= 4\n  param @w : f32[T] = [1.0]\n}\n",
       "t.kir:3:21: error: param @w has a symbolic shape; an initializer needs constant dims"},
      {"module @m {\n  param @w : i8[2] = [1, 300]\n}\n",
       "t.kir:2:26: error: initializer value 300 is out of range for i8 [-128, 127]"},
      {"module @m {\n  param @w : i32[1] = [1.5]\n}\n",
       "t.kir:2:24: error: expected an integer, found '1.5'"},
      {"module @m {\n  param @w : f32[2] = [1e999, 1]\n}\n",
       "t.kir:2:24: error: float literal '1e999' is out of range"},
      {"module @m {\n  param @w : f32[2]\n  state @w : f32[2]\n}\n",
       "t.kir:3:9: error: redefinition of '@w' (first defined at 2:3)"},
      {"module @m {\n  func @f() -> () {\n    return\n  }\n  func @f() -> () {\n    return\n"
       "  }\n}\n",
       "t.kir:5:8: error: redefinition of function '@f' (first defined at 2:3)"},
      {"module @m {\n  func @f(%x: f32[2], %x: f32[2]) -> f32[2] {\n    return %x\n  }\n}\n",
       "t.kir:2:23: error: redefinition of '%x' (first defined at 2:11)"},
      {"module @m {\n  state @kc : f32[2]\n  func @f(%x: f32[2]) -> f32[2] {\n"
       "    kv_write(@kc, %x) {offset = 0} : f32[2]\n    return %x\n  }\n}\n",
       "t.kir:4:36: error: op 'kv_write' has no results, found ':'"},
      {"module @m {\n  func @f(%x: f32[2]) -> () {\n    return %x\n  }\n}\n",
       "t.kir:3:5: error: function @f returns 0 values, found 1 after 'return'"},
      {"module @m { func @f( -> () { return } }",
       "t.kir:1:22: error: expected an argument (%name), found '->'"},
      {"module @m {\n  param @\xff : f32[2]\n}",
       "t.kir:2:9: error: expected a name after '@'"},
      {"module @m {\n  param @w : f32[2] = [1.0, 2.0\n}\n",
       "t.kir:3:1: error: expected ',' or ']', found '}'"},
      {"module @m {\n  func @f(%x: f32[2]) -> f32[2] {\n",
       "t.kir:3:1: error: expected an op, 'return' or '}', found end of file"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_error(cases[i].text, cases[i].msg);

  /* Function bodies: line 3 is the body's first line. */
  static const struct {
    const char *body, *msg;
  } body_cases[] = {
      {"    %x = neg(%x) : f32[2]\n    return %x\n",
       "t.kir:3:5: error: redefinition of '%x' (first defined at 2:11)"},
      {"    %v, %v = topk(%x) {k = 1} : f32[1], f32[1]\n",
       "t.kir:3:9: error: redefinition of '%v' (first defined at 3:5)"},
      {"    %y = foo(%x) : f32[2]\n    return %y\n",
       "t.kir:3:10: error: unknown op 'foo'"},
      {"    %y = add(%x) : f32[2]\n    return %y\n",
       "t.kir:3:10: error: op 'add' takes 2 operands, found 1"},
      {"    %y = concat {axis = 0} : f32[2]\n    return %y\n",
       "t.kir:3:10: error: op 'concat' takes at least 1 operand, found 0"},
      {"    %y, %z = add(%x, %x) : f32[2]\n    return %y\n",
       "t.kir:3:14: error: op 'add' has 1 result, found 2 result names"},
      {"    %v, %i = topk(%x) {k = 1} : f32[1]\n    return %v\n",
       "t.kir:4:5: error: expected ',' and 1 more result type for op 'topk', found 'return'"},
      {"    %y = neg(%x) : f32[2], f32[2]\n    return %y\n",
       "t.kir:3:28: error: op 'neg' has 1 result, found more result types"},
      {"    %y = neg(%x)\n    return %y\n",
       "t.kir:4:5: error: expected ':' and the result type, found 'return'"},
      {"    %y = rope(%x, %x) {foo = 1} : f32[2]\n    return %y\n",
       "t.kir:3:24: error: op 'rope' has no attribute 'foo'; it has: head_dim, theta, pairing, "
       "rotary_dim, scaling, factor, low_freq_factor, high_freq_factor, original_max_position"},
      {"    %y = add(%x, %x) {foo} : f32[2]\n    return %y\n",
       "t.kir:3:23: error: op 'add' has no attribute 'foo'; it has none"},
      {"    %y = rmsnorm(%x, %x) {eps = \"a\"} : f32[2]\n    return %y\n",
       "t.kir:3:33: error: expected a float for attribute 'eps', found '\"a\"'"},
      {"    %y = softmax(%x) {axis = 1.5} : f32[2]\n    return %y\n",
       "t.kir:3:30: error: expected an integer for attribute 'axis', found '1.5'"},
      {"    %y = transpose(%x) {perm = 1} : f32[2]\n    return %y\n",
       "t.kir:3:32: error: expected an integer list for attribute 'perm', found '1'"},
      {"    %y = gelu(%x) {approx = none} : f32[2]\n    return %y\n",
       "t.kir:3:29: error: expected a string for attribute 'approx', found 'none'"},
      {"    %y = matmul(%x, %x) {transpose_b = 1} : f32[2]\n    return %y\n",
       "t.kir:3:38: error: attribute 'transpose_b' is a flag and takes no value"},
      {"    %y = softmax(%x) {axis} : f32[2]\n    return %y\n",
       "t.kir:3:27: error: expected '=' after attribute 'axis', found '}'"},
      {"    %y = rmsnorm(%x, %x) {eps = 1e-5, eps = 1e-6} : f32[2]\n    return %y\n",
       "t.kir:3:39: error: duplicate attribute 'eps'"},
      {"    %y = gelu(%x) {approx = \"fast\"} : f32[2]\n    return %y\n",
       "t.kir:3:29: error: attribute 'approx' of op 'gelu' must be one of \"none\", \"tanh\"; "
       "found \"fast\""},
      {"    %y = rmsnorm(%x, %x) : f32[2]\n    return %y\n",
       "t.kir:3:10: error: op 'rmsnorm' is missing required attribute 'eps'"},
      {"    %y = neg(%z) : f32[2]\n    return %y\n",
       "t.kir:3:14: error: use of undefined value '%z'"},
      {"    %y = neg(%y) : f32[2]\n    return %y\n",
       "t.kir:3:14: error: use of undefined value '%y'"},
      {"    %y = embedding(@e, %x) : f32[2]\n    return %y\n",
       "t.kir:3:20: error: unknown global '@e'"},
      {"    %y = neg(%x) : f32[2]\n",
       "t.kir:4:3: error: expected 'return' at the end of function @f, found '}'"},
      {"    return %x\n    %y = neg(%x) : f32[2]\n",
       "t.kir:4:5: error: expected '}' after 'return', found '%y'"},
      {"    return %x, %x\n",
       "t.kir:3:5: error: function @f returns 1 value, found 2 after 'return'"},
      {"    %y = neg(%x) : f32[2] #\n",
       "t.kir:3:27: error: unexpected character '#'"},
      {"    %y = gelu(%x) {approx = \"tanh} : f32[2]\n",
       "t.kir:3:29: error: unterminated string"},
      {"    %y = gelu(%x) {approx = \"ta\\qnh\"} : f32[2]\n",
       "t.kir:3:32: error: invalid escape '\\q' in string"},
  };
  for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
    char text[512];
    snprintf(text, sizeof text, "module @m {\n  func @f(%%x: f32[2]) -> f32[2] {\n%s  }\n}\n",
             body_cases[i].body);
    check_error(text, body_cases[i].msg);
  }

  /* A NUL byte is just a bad character, reported with its place. */
  static const char nul[] = "module @m {\0}";
  IrDiag d = {0};
  CHECK(ir_parse(nul, sizeof nul - 1, "n.kir", &d) == NULL);
  CHECK(strcmp(d.msg, "n.kir:1:12: error: unexpected character '\\x00'") == 0);
  /* Without a file name the location still shows. */
  d = (IrDiag){0};
  CHECK(ir_parse("module", 6, NULL, &d) == NULL);
  CHECK(strcmp(d.msg, "<input>:1:7: error: expected a module name (@name), found end of file") ==
        0);
}

/* Every prefix of a valid module fails cleanly; only dropping the final
 * newline keeps it valid. Each prefix lives in a buffer of its exact size,
 * so the sanitizer catches a read past `len`. */
static void test_prefixes(void) {
  size_t n = strlen(all_ops);
  int failures = 0;
  for (size_t len = 0; len <= n; len++) {
    char *buf = malloc(len ? len : 1);
    memcpy(buf, all_ops, len);
    IrDiag d = {0};
    IrModule *m = ir_parse(buf, len, "p.kir", &d);
    bool want_ok = len >= n - 1;
    if ((m != NULL) != want_ok || (!m && strncmp(d.msg, "p.kir:", 6) != 0)) {
      if (failures++ < 3) fprintf(stderr, "prefix %zu: %s\n", len, m ? "parsed" : d.msg);
    }
    ir_module_free(m);
    free(buf);
  }
  CHECK(failures == 0);
}

/* A long function (20000 ops) parses and prints back; name lookup must
 * not be quadratic for this to stay quick (no time is asserted). */
static void test_large_function(void) {
  enum { NOPS = 20000 };
  IrBuf b = {0};
  ir_buf_printf(&b, "module @big {\n  sym T <= 16\n\n  func @f(%%v0: f32[T, 8]) -> f32[T, 8] {\n");
  for (int i = 1; i <= NOPS; i++)
    ir_buf_printf(&b, "    %%v%d = add(%%v%d, %%v%d) : f32[T, 8]\n", i, i - 1, i / 2);
  ir_buf_printf(&b, "    return %%v%d\n  }\n}\n", NOPS);
  char *got = reprint(b.data);
  CHECK(got && strcmp(got, b.data) == 0);
  IrDiag d;
  IrModule *m = parse(b.data, &d);
  CHECK(m && m->funcs[0]->nops == NOPS);
  if (m) CHECK(m->funcs[0]->ops[NOPS - 1]->in[1] == m->funcs[0]->ops[NOPS / 2 - 1]->out[0]);
  ir_module_free(m);
  free(got);
  ir_buf_free(&b);

  /* Many arguments and many functions: linear too. */
  enum { NARGS = 5000, NFUNCS = 5000 };
  ir_buf_printf(&b, "module @wide {\n\n  func @f(");
  for (int i = 0; i < NARGS; i++) ir_buf_printf(&b, "%s%%a%d: f32[]", i ? ", " : "", i);
  ir_buf_printf(&b, ") -> f32[] {\n    return %%a%d\n  }\n", NARGS - 1);
  for (int i = 0; i < NFUNCS; i++)
    ir_buf_printf(&b, "\n  func @g%d() -> () {\n    return\n  }\n", i);
  ir_buf_printf(&b, "}\n");
  got = reprint(b.data);
  CHECK(got && strcmp(got, b.data) == 0);
  m = parse(b.data, &d);
  CHECK(m && m->nfuncs == NFUNCS + 1 && m->funcs[0]->nargs == NARGS);
  if (m) CHECK(m->funcs[0]->results[0] == m->funcs[0]->args[NARGS - 1]);
  ir_module_free(m);
  free(got);
  ir_buf_free(&b);
}

int main(void) {
  test_all_ops_round_trip();
  test_small_round_trips();
  test_canonical_form();
  test_print_built_module();
  test_print_dims();
  test_print_double();
  test_locations();
  test_errors();
  test_prefixes();
  test_large_function();
  return check_report();
}
