/* test_passes.c: the passes against the interpreter, and the pass manager.
 *
 * Differential: for each module below, the interpreter's outputs over a
 * sequence of calls (state carries across them) must be the same before
 * and after every pass alone, all passes in registry order, and the
 * default pipeline. Floats compare with |got - want| <= 1e-5 * max(1,
 * |want|) (folding reduce_sum computes value * n where the interpreter
 * adds n times); ints compare exactly. Each module also names the passes
 * that must change it, so no comparison passes by doing nothing, and the
 * default pipeline must reach a fixed point (a second run prints the same).
 *
 * Manager: pipeline parsing errors, the verifier after a pass that breaks
 * the IR, a failing pass with a reproducer, and what the printing options
 * send to the sink.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "interp.h"
#include "pass.h"

/* ---- the modules ---- */

typedef struct {
  const char *entry;
  const char *syms; /* "P=0,T=3": symbols not named are inferred */
} Call;

typedef struct {
  const char *name;
  const char *text;
  const char *must_change; /* passes that must report a change: "canonicalize,cse" */
  int ncalls;
  Call calls[4];
} Case;

static const Case cases[] = {
    {"canon",
     "module @canon {\n"
     "  sym T <= 8\n"
     "  func @f(%x: f32[T, 4], %y: f32[4, T]) -> (f32[4, T], f32[T, 4], f32[T, 2, 2]) {\n"
     "    %a = reshape(%x) : f32[T, 2, 2]\n"
     "    %b = reshape(%a) : f32[2, T, 2]\n"
     "    %c = reshape(%b) : f32[T, 4]\n"
     "    %z = const {value = 0.0} : f32[]\n"
     "    %one = const {value = 1.0} : f32[1, 4]\n"
     "    %d = add(%z, %c) : f32[T, 4]\n"
     "    %e = mul(%one, %d) : f32[T, 4]\n"
     "    %t1 = transpose(%e) {perm = [1, 0]} : f32[4, T]\n"
     "    %t2 = transpose(%t1) {perm = [1, 0]} : f32[T, 4]\n"
     "    %t3 = transpose(%t2) {perm = [1, 0]} : f32[4, T]\n"
     "    %s = sub(%t3, %z) : f32[4, T]\n"
     "    %o = const {value = 1.0} : f32[]\n"
     "    %q = div(%s, %o) : f32[4, T]\n"
     "    %w = add(%q, %y) : f32[4, T]\n"
     "    %k = cast(%w) : f32[4, T]\n"
     "    %two = const {value = 2.0} : f32[]\n"
     "    %m = mul(%two, %t2) : f32[T, 4]\n"
     "    %r = reshape(%e) : f32[T, 2, 2]\n"
     "    return %k, %m, %r\n"
     "  }\n"
     "}\n",
     "canonicalize",
     2,
     {{"f", "T=3"}, {"f", "T=1"}}},

    {"fold",
     "module @fold {\n"
     "  sym T <= 8\n"
     "  func @f(%x: f32[T, 4], %i: i32[T]) -> (f32[T, 4], i32[T], f32[3, 1], f32[1, 4], "
     "f32[6, 2], i32[], f32[3], bf16[2]) {\n"
     "    %a = const {value = 2.0} : f32[]\n"
     "    %b = const {value = 0.3} : f32[4]\n"
     "    %c = mul(%a, %b) : f32[4]\n"
     "    %d = exp(%c) : f32[4]\n"
     "    %g = gelu(%d) {approx = \"tanh\"} : f32[4]\n"
     "    %g2 = gelu(%g) : f32[4]\n"
     "    %s = silu(%g2) : f32[4]\n"
     "    %t = tanh(%s) : f32[4]\n"
     "    %sg = sigmoid(%t) : f32[4]\n"
     "    %rs = rsqrt(%sg) : f32[4]\n"
     "    %l = log(%rs) : f32[4]\n"
     "    %p = pow(%l, %a) : f32[4]\n"
     "    %e = add(%x, %p) : f32[T, 4]\n"
     "    %h = const {value = 0.1} : bf16[4]\n"
     "    %h2 = add(%h, %h) : bf16[4]\n"
     "    %h3 = cast(%h2) : f32[4]\n"
     "    %o = mul(%e, %h3) : f32[T, 4]\n"
     "    %k = const {value = 7.0} : i32[]\n"
     "    %kn = const {value = -2.0} : i32[]\n"
     "    %m = div(%k, %kn) : i32[]\n"
     "    %mx = max(%m, %kn) : i32[]\n"
     "    %n = add(%i, %mx) : i32[T]\n"
     "    %r = const {value = 1.5} : f32[3, 4]\n"
     "    %rsum = reduce_sum(%r) {axis = -1} : f32[3, 1]\n"
     "    %rmax = reduce_max(%r) {axis = 0} : f32[1, 4]\n"
     "    %rr = reshape(%r) : f32[6, 2]\n"
     "    %rt = transpose(%rr) {perm = [1, 0]} : f32[2, 6]\n"
     "    %rsl = slice(%rt) {axis = 1, start = 1, end = 4} : f32[2, 3]\n"
     "    %rc = concat(%rsl, %rsl) {axis = 1} : f32[2, 6]\n"
     "    %rb = transpose(%rc) {perm = [1, 0]} : f32[6, 2]\n"
     "    %f = const {value = -2.7} : f32[]\n"
     "    %fi = cast(%f) : i32[]\n"
     "    %w = const {value = 100.0} : i8[3]\n"
     "    %w3 = mul(%w, %w) : i8[3]\n"
     "    %wf = cast(%w3) : f32[3]\n"
     "    %bb = const {value = 3.3} : f32[2]\n"
     "    %bc = cast(%bb) : bf16[2]\n"
     "    %bm = rmsnorm(%bb, %bb) {eps = 1e-05} : f32[2]\n"
     "    %bn = cast(%bm) : bf16[2]\n"
     "    %bs = sub(%bc, %bn) : bf16[2]\n"
     "    return %o, %n, %rsum, %rmax, %rb, %fi, %wf, %bs\n"
     "  }\n"
     "}\n",
     "fold",
     1,
     {{"f", "T=3"}}},

    {"kv",
     "module @kv {\n"
     "  sym P <= 8\n"
     "  sym T <= 4\n"
     "  state @kc : f32[12, 4]\n"
     "  func @step(%x: f32[T, 4]) -> (f32[P+T, 4], f32[T, 4], f32[P, 4], f32[P+T, 4]) {\n"
     "    %a = exp(%x) : f32[T, 4]\n"
     "    %b = exp(%x) : f32[T, 4]\n"
     "    %c = add(%a, %b) : f32[T, 4]\n"
     "    %dead = neg(%c) : f32[T, 4]\n"
     "    %dead2 = softmax(%dead) : f32[T, 4]\n"
     "    %r0 = kv_read(@kc) {len = P} : f32[P, 4]\n"
     "    %pre = kv_read(@kc) {len = P+T} : f32[P+T, 4]\n"
     "    kv_write(@kc, %c) {offset = P}\n"
     "    %r1 = kv_read(@kc) {len = P+T} : f32[P+T, 4]\n"
     "    %r2 = kv_read(@kc) {len = P+T} : f32[P+T, 4]\n"
     "    %s = add(%r1, %r2) : f32[P+T, 4]\n"
     "    %unused = kv_read(@kc) {len = P} : f32[P, 4]\n"
     "    %n1 = neg(%r0) : f32[P, 4]\n"
     "    %n2 = neg(%r0) : f32[P, 4]\n"
     "    %n = mul(%n1, %n2) : f32[P, 4]\n"
     "    return %s, %c, %n, %pre\n"
     "  }\n"
     "}\n",
     "cse,dce",
     3,
     {{"step", "P=0"}, {"step", "P=3"}, {"step", "P=5"}}},

    {"block",
     "module @block {\n"
     "  sym P <= 8\n"
     "  sym T <= 4\n"
     "  param @g : f32[8]\n"
     "  param @wq : f32[8, 8]\n"
     "  param @wk : f32[4, 8]\n"
     "  param @wv : f32[4, 8]\n"
     "  param @wo : f32[8, 8]\n"
     "  state @kc : f32[1, 12, 4]\n"
     "  state @vc : f32[1, 12, 4]\n"
     "  func @layer(%x: f32[T, 8], %pos: i32[T]) -> (f32[T, 8], f32[T, 8]) {\n"
     "    %h = rmsnorm(%x, @g) {eps = 1e-05} : f32[T, 8]\n"
     "    %q = matmul(%h, @wq) {transpose_b} : f32[T, 8]\n"
     "    %k = matmul(%h, @wk) {transpose_b} : f32[T, 4]\n"
     "    %v = matmul(%h, @wv) {transpose_b} : f32[T, 4]\n"
     "    %qr = rope(%q, %pos) {head_dim = 4, theta = 10000.0} : f32[T, 8]\n"
     "    %kr = rope(%k, %pos) {head_dim = 4, theta = 10000.0} : f32[T, 4]\n"
     "    %q3 = reshape(%qr) : f32[T, 2, 4]\n"
     "    %qh = transpose(%q3) {perm = [1, 0, 2]} : f32[2, T, 4]\n"
     "    %k3 = reshape(%kr) : f32[T, 1, 4]\n"
     "    %kh = transpose(%k3) {perm = [1, 0, 2]} : f32[1, T, 4]\n"
     "    %v3 = reshape(%v) : f32[T, 1, 4]\n"
     "    %vh = transpose(%v3) {perm = [1, 0, 2]} : f32[1, T, 4]\n"
     "    kv_write(@kc, %kh) {offset = P}\n"
     "    kv_write(@vc, %vh) {offset = P}\n"
     "    %ka = kv_read(@kc) {len = P+T} : f32[1, P+T, 4]\n"
     "    %va = kv_read(@vc) {len = P+T} : f32[1, P+T, 4]\n"
     "    %o = attention(%qh, %ka, %va) {scale = 0.5, causal, offset = P} : f32[2, T, 4]\n"
     "    %sc = matmul(%qh, %ka) {transpose_b} : f32[2, T, P+T]\n"
     "    %half = const {value = 0.5} : f32[]\n"
     "    %ss = mul(%half, %sc) : f32[2, T, P+T]\n"
     "    %mask = causal_mask {offset = P} : f32[T, P+T]\n"
     "    %sm = add(%ss, %mask) : f32[2, T, P+T]\n"
     "    %pr = softmax(%sm) : f32[2, T, P+T]\n"
     "    %pr2 = softmax(%sm) : f32[2, T, P+T]\n"
     "    %o2 = matmul(%pr2, %va) : f32[2, T, 4]\n"
     "    %ot = transpose(%o) {perm = [1, 0, 2]} : f32[T, 2, 4]\n"
     "    %of = reshape(%ot) : f32[T, 8]\n"
     "    %y = matmul(%of, @wo) {transpose_b} : f32[T, 8]\n"
     "    %one = const {value = 1.0} : f32[]\n"
     "    %y1 = mul(%y, %one) : f32[T, 8]\n"
     "    %r = add(%x, %y1) : f32[T, 8]\n"
     "    %ot2 = transpose(%o2) {perm = [1, 0, 2]} : f32[T, 2, 4]\n"
     "    %of2 = reshape(%ot2) : f32[T, 8]\n"
     "    %y2 = matmul(%of2, @wo) {transpose_b} : f32[T, 8]\n"
     "    %r2 = add(%x, %y2) : f32[T, 8]\n"
     "    return %r, %r2\n"
     "  }\n"
     "}\n",
     "canonicalize,cse,dce",
     3,
     {{"layer", "P=0"}, {"layer", "P=3"}, {"layer", "P=4"}}},
};

enum { NCASES = sizeof cases / sizeof cases[0] };

/* T for each call when it is not given: inputs are generated with it. */
static const int64_t call_t[] = {3, 1, 2, 4};

/* ---- deterministic inputs ---- */

static uint64_t rng_state;

static double rnd(void) { /* uniform in [0, 1) */
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

static IrTensor random_tensor(const IrType *t, const int64_t *syms, uint64_t seed) {
  int64_t shape[IR_MAX_RANK];
  for (int i = 0; i < t->rank; i++) shape[i] = ir_dim_eval(t->dims[i], syms);
  IrTensor x = ir_tensor_new(t->dtype, t->rank, shape);
  rng_state = seed;
  int64_t n = ir_tensor_numel(&x);
  for (int64_t e = 0; e < n; e++) {
    if (x.f)
      x.f[e] = ir_round_to_dtype((float)(4 * rnd() - 2), t->dtype);
    else
      x.i[e] = (int64_t)(4 * rnd());
  }
  return x;
}

/* ---- running a module ---- */

typedef struct {
  int n;
  IrTensor outs[32];
} Outputs;

static void outputs_free(Outputs *o) {
  for (int i = 0; i < o->n; i++) ir_tensor_free(&o->outs[i]);
  o->n = 0;
}

/* Symbol values of a call: the named ones, T from call_t, the rest 0. */
static void call_syms(const IrModule *m, const Call *c, int k, int64_t *syms) {
  for (int s = 0; s < IR_MAX_SYMS; s++) syms[s] = 0;
  int t = ir_module_find_sym(m, "T", 1);
  if (t >= 0) syms[t] = call_t[k];
  for (const char *p = c->syms; *p;) {
    size_t n = strcspn(p, "=");
    int s = ir_module_find_sym(m, p, n);
    CHECK(s >= 0);
    if (s >= 0) syms[s] = strtoll(p + n + 1, NULL, 10);
    p += n + 1;
    p += strcspn(p, ",");
    if (*p == ',') p++;
  }
}

static bool bind_params(IrInterp *it, const IrModule *m, IrDiag *d) {
  int64_t none[IR_MAX_SYMS] = {0};
  for (int i = 0; i < m->nparams; i++) {
    if (m->params[i]->init) continue;
    IrTensor t = random_tensor(&m->params[i]->type, none, 1000 + (uint64_t)i);
    bool ok = ir_interp_bind_param(it, m->params[i]->name, &t, d);
    ir_tensor_free(&t);
    if (!ok) return false;
  }
  return true;
}

static bool run_call(IrInterp *it, const IrModule *m, const Case *c, int k, Outputs *o,
                     IrDiag *d) {
  const IrFunc *f = ir_module_find_func(m, c->calls[k].entry);
  if (!f) return ir_error(d, (IrLoc){0}, "no function @%s", c->calls[k].entry);
  int64_t syms[IR_MAX_SYMS];
  call_syms(m, &c->calls[k], k, syms);
  IrTensor in[8];
  for (int a = 0; a < f->nargs; a++)
    in[a] = random_tensor(&f->args[a]->type, syms, 77 + 31 * (uint64_t)k + (uint64_t)a);
  IrTensor *outs = NULL;
  int nout = 0;
  bool ok = ir_interp_call(it, f->name, syms, in, f->nargs, &outs, &nout, d);
  for (int a = 0; a < f->nargs; a++) ir_tensor_free(&in[a]);
  for (int r = 0; ok && r < nout && o->n < 32; r++) {
    o->outs[o->n++] = outs[r];
    outs[r] = (IrTensor){0};
  }
  ir_tensors_free(outs, nout);
  return ok;
}

/* All calls of the case on one interpreter, outputs in order. */
static bool run_case(const IrModule *m, const Case *c, Outputs *o) {
  IrDiag d = {0};
  IrInterp *it = ir_interp_new(m, &d);
  bool ok = it && bind_params(it, m, &d);
  for (int k = 0; ok && k < c->ncalls; k++) ok = run_call(it, m, c, k, o, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", c->name, d.msg);
  ir_interp_free(it);
  return ok;
}

static bool close_enough(float got, float want) {
  if (isnan(got) || isnan(want)) return isnan(got) && isnan(want);
  if (isinf(want)) return got == want;
  return fabs((double)got - want) <= 1e-5 * fmax(1.0, fabs(want));
}

static void compare(const char *what, const Outputs *got, const Outputs *want) {
  CHECK(got->n == want->n);
  for (int r = 0; r < got->n && r < want->n; r++) {
    const IrTensor *g = &got->outs[r], *w = &want->outs[r];
    bool same = g->dtype == w->dtype && g->rank == w->rank;
    for (int i = 0; same && i < g->rank; i++) same = g->shape[i] == w->shape[i];
    CHECK(same);
    if (!same) continue;
    int64_t n = ir_tensor_numel(g), bad = 0;
    for (int64_t e = 0; e < n; e++) {
      bool ok = g->f ? close_enough(g->f[e], w->f[e]) : g->i[e] == w->i[e];
      if (!ok && bad++ == 0)
        fprintf(stderr, "%s: output %d element %lld: got %.9g, want %.9g\n", what, r,
                (long long)e, g->f ? g->f[e] : (double)g->i[e], w->f ? w->f[e] : (double)w->i[e]);
    }
    CHECK(bad == 0);
  }
}

static IrModule *parse_case(const Case *c) {
  IrDiag d = {0};
  IrModule *m = ir_parse(c->text, strlen(c->text), c->name, &d);
  if (m && !ir_verify(m, &d)) {
    ir_module_free(m);
    m = NULL;
  }
  if (!m) fprintf(stderr, "%s: %s\n", c->name, d.msg);
  CHECK(m != NULL);
  return m;
}

static bool in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ",");
    if (k == n && strncmp(p, name, n) == 0) return true;
    p += k + (p[k] == ',');
  }
  return false;
}

/* ---- differential tests ---- */

/* Each registered pass alone: outputs equal, and a change where promised. */
static void check_each_pass(const Case *c, const Outputs *want) {
  for (int i = 0; i < pass_registry_count(); i++) {
    const PassInfo *info = pass_registry_at(i);
    IrModule *m = parse_case(c);
    if (!m) continue;
    IrDiag d = {0};
    PassContext stats = {0};
    bool changed = info->run(m, &stats, &d);
    CHECK(!d.failed);
    if (in_list(c->must_change, info->name) && !changed)
      fprintf(stderr, "%s: pass %s changed nothing\n", c->name, info->name);
    CHECK(changed || !in_list(c->must_change, info->name));
    bool valid = ir_verify(m, &d);
    if (!valid) fprintf(stderr, "%s after %s: %s\n", c->name, info->name, d.msg);
    CHECK(valid);
    char what[128];
    snprintf(what, sizeof what, "%s after %s", c->name, info->name);
    Outputs got = {0};
    CHECK(valid && run_case(m, c, &got));
    compare(what, &got, want);
    outputs_free(&got);
    ir_module_free(m);
  }
}

static char *print_module(const IrModule *m) {
  IrBuf b = {0};
  ir_print_module(&b, m);
  return b.data;
}

static int count_ops(const IrModule *m) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++) n += m->funcs[i]->nops;
  return n;
}

/* A whole pipeline: outputs equal; the default one is a fixed point. */
static void check_pipeline(const Case *c, const Outputs *want, const char *spec) {
  IrModule *m = parse_case(c);
  if (!m) return;
  int before = count_ops(m);
  IrDiag d = {0};
  PassPipeline p;
  PassOptions o = pass_options_default();
  o.verify_each = true;
  CHECK(pass_pipeline_parse(spec, &p, &d));
  bool ok = pass_pipeline_run(&p, m, &o, &d);
  if (!ok) fprintf(stderr, "%s, %s: %s\n", c->name, spec, d.msg);
  CHECK(ok);
  CHECK(count_ops(m) < before);
  Outputs got = {0};
  CHECK(ok && run_case(m, c, &got));
  compare(c->name, &got, want);
  outputs_free(&got);
  char *once = print_module(m);
  CHECK(pass_pipeline_run(&p, m, &o, &d));
  char *twice = print_module(m);
  if (strcmp(spec, pass_default_pipeline()) == 0) {
    if (strcmp(once, twice) != 0) fprintf(stderr, "%s: not a fixed point:\n%s\n", c->name, twice);
    CHECK(strcmp(once, twice) == 0);
  }
  free(once);
  free(twice);
  ir_module_free(m);
}

static void test_differential(void) {
  IrBuf all = {0};
  for (int i = 0; i < pass_registry_count(); i++)
    ir_buf_printf(&all, "%s%s", i ? "," : "", pass_registry_at(i)->name);
  for (int k = 0; k < NCASES; k++) {
    IrModule *m = parse_case(&cases[k]);
    Outputs want = {0};
    bool ok = m && run_case(m, &cases[k], &want);
    CHECK(ok);
    ir_module_free(m);
    if (!ok) continue;
    check_each_pass(&cases[k], &want);
    check_pipeline(&cases[k], &want, all.data);
    check_pipeline(&cases[k], &want, pass_default_pipeline());
    outputs_free(&want);
  }
  ir_buf_free(&all);
}

/* The fold case ends as consts feeding the few ops on arguments. */
static void test_fold_result(void) {
  IrModule *m = parse_case(&cases[1]);
  if (!m) return;
  IrDiag d = {0};
  PassPipeline p;
  PassOptions o = pass_options_default();
  CHECK(pass_pipeline_parse("fold,dce", &p, &d));
  CHECK(pass_pipeline_run(&p, m, &o, &d));
  const IrFunc *f = m->funcs[0];
  int non_const = 0;
  for (int i = 0; i < f->nops; i++) non_const += f->ops[i]->kind != IR_OP_CONST;
  /* add(%x, %p), mul(%e, %h3), add(%i, %mx), and rmsnorm (not folded)
   * with the cast and sub after it. */
  CHECK(non_const == 6);
  ir_module_free(m);
}

/* ---- the manager ---- */

static void test_pipeline_parse(void) {
  PassPipeline p;
  IrDiag d = {0};
  CHECK(pass_pipeline_parse("", &p, &d) && p.n == 0);
  CHECK(pass_pipeline_parse("dce,cse,dce", &p, &d) && p.n == 3);
  CHECK(p.passes[0] == pass_lookup("dce", 3) && p.passes[1] == pass_lookup("cse", 3));
  CHECK(!pass_pipeline_parse("dce,nope", &p, &d));
  CHECK(strcmp(d.msg, "error: unknown pass 'nope'; known passes: canonicalize, fold, cse, dce, attention, fuse, "
                       "attention-split, pack-weights") ==
        0);
  d = (IrDiag){0};
  CHECK(!pass_pipeline_parse("dce,", &p, &d));
  CHECK(strcmp(d.msg, "error: empty pass name in pipeline 'dce,'") == 0);
  d = (IrDiag){0};
  CHECK(pass_pipeline_parse(pass_default_pipeline(), &p, &d) && p.n > 0);
  IrBuf many = {0};
  for (int i = 0; i <= PASS_MAX_PIPELINE; i++) ir_buf_printf(&many, "%sdce", i ? "," : "");
  CHECK(!pass_pipeline_parse(many.data, &p, &d));
  CHECK_STR_CONTAINS(d.msg, "has more than 64 passes");
  ir_buf_free(&many);
}

/* A pass that gives the first op's result a wrong type. */
static bool break_types(IrModule *m, PassContext *ctx, IrDiag *d) {
  m->funcs[0]->ops[0]->out[0]->type.dtype = IR_I32;
  return true;
}

static bool fail_pass(IrModule *m, PassContext *ctx, IrDiag *d) {
  return ir_error(d, m->funcs[0]->ops[0]->loc, "could not do it");
}

static const char small[] = "module @s {\n"
                            "  func @f(%x: f32[4]) -> f32[4] {\n"
                            "    %y = exp(%x) : f32[4]\n"
                            "    %z = exp(%x) : f32[4]\n"
                            "    return %y\n"
                            "  }\n"
                            "}\n";

static IrModule *parse_small(void) {
  IrDiag d = {0};
  IrModule *m = ir_parse(small, strlen(small), "small.kir", &d);
  CHECK(m != NULL);
  return m;
}

static void test_verify_each(void) {
  static const PassInfo breaker = {"break", "breaks the types", break_types};
  PassPipeline p = {1, {&breaker}};
  PassOptions o = pass_options_default();
  o.verify_each = true;
  IrModule *m = parse_small();
  IrDiag d = {0};
  CHECK(!pass_pipeline_run(&p, m, &o, &d));
  CHECK_STR_CONTAINS(d.msg, "small.kir:3:5: error: after pass 'break': ");
  ir_module_free(m);
  /* Without verification after each pass, the end still verifies. */
  o.verify_each = false;
  m = parse_small();
  d = (IrDiag){0};
  CHECK(!pass_pipeline_run(&p, m, &o, &d));
  CHECK_STR_CONTAINS(d.msg, "small.kir:3:5: error: after the passes: ");
  ir_module_free(m);
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_reproducer(void) {
  static const PassInfo failing = {"failing", "always fails", fail_pass};
  PassPipeline p = {2, {pass_lookup("dce", 3), &failing}};
  char path[] = "/tmp/kiln_repro_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  PassOptions o = pass_options_default();
  o.reproducer = path;
  IrModule *m = parse_small();
  IrDiag d = {0};
  CHECK(!pass_pipeline_run(&p, m, &o, &d));
  char want[256];
  snprintf(want, sizeof want, "small.kir:3:5: error: in pass 'failing': could not do it (reproducer: %s)",
           path);
  CHECK(strcmp(d.msg, want) == 0);
  const char *text = read_all(path);
  CHECK(text != NULL);
  if (text) {
    CHECK_STR_CONTAINS(text, "// kiln reproducer: pass 'failing' failed on this module with\n");
    CHECK_STR_CONTAINS(text, "// replay: kiln opt --pass=failing FILE\n");
    /* The module as the failing pass saw it: after dce, so %z is gone. */
    CHECK_STR_CONTAINS(text, "    %y = exp(%x) : f32[4]\n    return %y\n");
    IrDiag pd = {0};
    IrModule *back = ir_parse(text, strlen(text), path, &pd);
    CHECK(back != NULL);
    ir_module_free(back);
  }
  unlink(path);
  ir_module_free(m);
}

static void collect(void *user, const char *text, size_t len) {
  ir_buf_printf((IrBuf *)user, "%.*s", (int)len, text);
}

static void test_printing(void) {
  PassPipeline p;
  IrDiag d = {0};
  CHECK(pass_pipeline_parse("dce,cse,dce", &p, &d));
  IrBuf out = {0};
  PassOptions o = pass_options_default();
  o.sink = collect;
  o.sink_user = &out;
  o.print_after_change = true;
  IrModule *m = parse_small();
  CHECK(pass_pipeline_run(&p, m, &o, &d));
  /* dce removes %z; then neither cse nor dce finds anything. */
  CHECK_STR_CONTAINS(out.data, "// IR after pass 'dce' (1 of 3)\nmodule @s {\n");
  CHECK_STR_CONTAINS(out.data, "// IR after pass 'cse' (2 of 3): unchanged\n");
  CHECK_STR_CONTAINS(out.data, "// IR after pass 'dce' (3 of 3): unchanged\n");
  CHECK(strstr(out.data, "%z") == NULL);
  ir_module_free(m);
  ir_buf_free(&out);

  o.print_after_change = false;
  o.print_after = "cse";
  o.time_passes = true;
  m = parse_small();
  CHECK(pass_pipeline_run(&p, m, &o, &d));
  CHECK(strstr(out.data, "'dce'") == NULL);
  CHECK_STR_CONTAINS(out.data, "// IR after pass 'cse' (2 of 3)\nmodule @s {\n");
  CHECK_STR_CONTAINS(out.data, "// pass timing: 3 passes, ");
  CHECK_STR_CONTAINS(out.data, "%  dce  removed=1\n");
  ir_module_free(m);
  ir_buf_free(&out);
}

static void test_counters(void) {
  PassContext s = {0};
  pass_count(&s, "a", 2);
  pass_count(&s, "a", 3);
  CHECK(s.n == 1 && s.c[0].value == 5);
  static const char *names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8",
                                "9", "10", "11", "12", "13", "14", "15", "16"};
  for (int i = 0; i < 17; i++) pass_count(&s, names[i], 1);
  CHECK(s.n == PASS_MAX_COUNTERS); /* full: the rest are dropped, not overflowed */
}

int main(void) {
  test_pipeline_parse();
  test_counters();
  test_verify_each();
  test_reproducer();
  test_printing();
  test_fold_result();
  test_differential();
  return check_report();
}
