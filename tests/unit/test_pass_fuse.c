/* test_pass_fuse.c: the fuse pass against the interpreter.
 *
 *  1. Every tiny model under tests/data/tiny/: the module built with all
 *     logits, the default pipeline run on it, then run (prefill of 6
 *     tokens, then two decodes) without and with `fuse` after it. The
 *     logits must be bit-identical (tolerance 0: every fused step is
 *     ir_expr_apply, the function the plain ops call, in the same order,
 *     and a matmul epilogue applies to the same f32 sums). Every residual
 *     add folds into a matmul (at least 2 epilogues per layer per entry),
 *     no f32 elementwise op is left whose only user is another one, and a
 *     second run of the pass changes nothing. The counters per model are
 *     printed.
 *  2. Every function of tests/lit/passes/fuse-*.kir on random inputs, for
 *     three (T, P) pairs, before and after the pass: bit-identical.
 *  3. The default pipeline followed by fuse is a fixed point on
 *     tests/lit/passes/attention.kir (whose negative cases leave score
 *     matmuls with scales and masks the pass folds into epilogues), and
 *     the attention pass does not take a matmul with an epilogue for a
 *     plain one.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fe.h"
#include "interp.h"
#include "pass.h"
#include "test_tiny.h"

/* ---- 1. the tiny models ---- */

#define PROMPT TT_PROMPT
#define STEPS 3 /* prefill, decode, decode */

static bool is_fusible(const IrOp *op) {
  return op->kind != IR_OP_CAST && (ir_op_spec(op->kind)->flags & IR_OPF_ELEMENTWISE) &&
         op->out[0]->type.dtype == IR_F32;
}

/* No f32 elementwise op feeds, as its only use, another one. */
static bool maximal(const IrFunc *f) {
  for (int i = 0; i < f->nops; i++) {
    const IrOp *op = f->ops[i];
    for (int j = 0; is_fusible(op) && j < op->nin; j++) {
      const IrValue *v = op->in[j];
      if (v->kind == IR_VAL_RESULT && is_fusible(v->def) && v->def->in[0]->type.dtype == IR_F32 &&
          ir_func_count_uses(f, v) == 1)
        return false;
    }
  }
  return true;
}

static IrModule *build(const FeModelDir *md, const char *pipeline, PassContext *ctx) {
  IrDiag d = {0};
  FeBuildOptions opt = {.max_context = 16, .all_logits = true};
  IrModule *m = fe_build_module(&md->model, md->weights, &opt, &d);
  CHECK(m != NULL);
  if (m && !tt_run_pipeline(m, pipeline, ctx)) {
    ir_module_free(m);
    return NULL;
  }
  return m;
}

static void test_model(const char *name, const char *path) {
  FeModelDir md;
  IrDiag d = {0};
  bool opened = fe_open_model_dir(path, true, &md, &d);
  CHECK(opened);
  if (!opened) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    return;
  }
  char fused_pipeline[512];
  snprintf(fused_pipeline, sizeof fused_pipeline, "%s,fuse", pass_default_pipeline());
  PassContext plain_ctx = {0}, ctx = {0};
  IrModule *plain = build(&md, pass_default_pipeline(), &plain_ctx);
  IrModule *m = build(&md, fused_pipeline, &ctx);
  IrTensor want[STEPS] = {{0}}, got[STEPS] = {{0}};
  if (plain && m && tt_run_model(plain, md.weights, md.model.vocab, STEPS, want) &&
      tt_run_model(m, md.weights, md.model.vocab, STEPS, got)) {
    for (int s = 0; s < STEPS; s++) {
      char what[300];
      snprintf(what, sizeof what, "%s %s %d", name, s ? "decode" : "prefill", s);
      tt_check_close(what, &got[s], &want[s], 0);
    }
  }
  if (m) {
    int64_t epi = tt_stat(&ctx, "matmul-epilogues");
    printf("%-12s matmul-epilogues=%lld swiglu=%lld fused-chains=%lld ops-fused=%lld\n", name,
           (long long)epi, (long long)tt_stat(&ctx, "swiglu"), (long long)tt_stat(&ctx, "fused-chains"),
           (long long)tt_stat(&ctx, "ops-fused"));
    CHECK(epi >= 2 * md.model.layers * m->nfuncs); /* both residual adds of every layer */
    for (int i = 0; i < m->nfuncs; i++) CHECK(maximal(m->funcs[i]));
    PassContext again = {0};
    CHECK(!pass_fuse(m, &again, &d) && !d.failed);
  }
  for (int s = 0; s < STEPS; s++) {
    ir_tensor_free(&want[s]);
    ir_tensor_free(&got[s]);
  }
  ir_module_free(plain);
  ir_module_free(m);
  fe_close_model_dir(&md);
}

/* ---- 2. the lit cases on random inputs ---- */

static uint32_t rng = 77;

/* Random values for every parameter without an initializer. */
static bool bind_random_params(IrInterp *it, const IrModule *m) {
  for (int i = 0; i < m->nparams; i++) {
    const IrValue *p = m->params[i];
    if (p->init) continue;
    IrTensor x = tt_random_tensor(&p->type, (int64_t[IR_MAX_SYMS]){0}, &rng);
    IrDiag d = {0};
    bool ok = ir_interp_bind_param(it, p->name, &x, &d);
    ir_tensor_free(&x);
    if (!ok) return false;
  }
  return true;
}

static void compare_modules(const IrModule *before, const IrModule *after, const int64_t *tp) {
  IrDiag d = {0};
  IrInterp *ib = ir_interp_new(before, &d), *ia = ir_interp_new(after, &d);
  uint32_t seed = rng;
  bool ok = ib && ia && bind_random_params(ib, before);
  rng = seed; /* the same parameter values for both */
  ok = ok && bind_random_params(ia, after);
  CHECK(ok);
  int sym_t = ir_module_find_sym(before, "T", 1);
  for (int i = 0; ok && i < before->nfuncs; i++) {
    const IrFunc *f = before->funcs[i];
    int64_t syms[IR_MAX_SYMS] = {0};
    if (sym_t >= 0) syms[sym_t] = tp[0];
    IrTensor args[16];
    for (int k = 0; k < f->nargs && k < 16; k++) args[k] = tt_random_tensor(&f->args[k]->type, syms, &rng);
    IrTensor want = tt_call(ib, f->name, syms, args, f->nargs);
    IrTensor got = tt_call(ia, f->name, syms, args, f->nargs);
    char what[200];
    snprintf(what, sizeof what, "%s @%s T=%lld", before->name, f->name, (long long)tp[0]);
    tt_check_close(what, &got, &want, 0);
    ir_tensor_free(&want);
    ir_tensor_free(&got);
    for (int k = 0; k < f->nargs && k < 16; k++) ir_tensor_free(&args[k]);
  }
  ir_interp_free(ib);
  ir_interp_free(ia);
}

static void test_lit_case(const char *file) {
  char path[512];
  snprintf(path, sizeof path, KILN_TEST_DATA "/../lit/passes/%s", file);
  char *text = tt_read_file(path);
  CHECK(text != NULL);
  if (!text) return;
  IrModule *before = tt_parse_verified(text, file);
  IrModule *after = tt_parse_verified(text, file);
  PassContext ctx = {0};
  CHECK(after && tt_run_pipeline(after, "fuse", &ctx) && tt_stat(&ctx, "ops-fused") > 0);
  const int64_t tps[][2] = {{5, 0}, {1, 0}, {8, 0}};
  for (int i = 0; before && after && i < 3; i++) compare_modules(before, after, tps[i]);
  ir_module_free(before);
  ir_module_free(after);
  free(text);
}

/* ---- 3. with the attention pass ---- */

static char *print_module(const IrModule *m) {
  IrBuf b = {0};
  ir_print_module(&b, m);
  return b.data;
}

static int count_kind(const IrModule *m, IrOpKind k) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++)
    for (int j = 0; j < m->funcs[i]->nops; j++) n += m->funcs[i]->ops[j]->kind == k;
  return n;
}

static void test_after_attention(void) {
  char *text = tt_read_file(KILN_TEST_DATA "/../lit/passes/attention.kir");
  CHECK(text != NULL);
  if (!text) return;
  IrModule *m = tt_parse_verified(text, "attention.kir");
  char spec[512];
  snprintf(spec, sizeof spec, "%s,fuse", pass_default_pipeline());
  PassContext c1 = {0}, c2 = {0}, c3 = {0};
  CHECK(m && tt_run_pipeline(m, spec, &c1) && tt_stat(&c1, "matmul-epilogues") > 0);
  char *once = m ? print_module(m) : NULL;
  int attention = m ? count_kind(m, IR_OP_ATTENTION) : 0;
  CHECK(m && tt_run_pipeline(m, spec, &c2));
  char *twice = m ? print_module(m) : NULL;
  CHECK(once && twice && strcmp(once, twice) == 0);
  CHECK(m && tt_run_pipeline(m, "attention", &c3) && count_kind(m, IR_OP_ATTENTION) == attention);
  free(once);
  free(twice);
  ir_module_free(m);
  free(text);
}

int main(void) {
  tt_for_each_tiny(test_model);
  test_lit_case("fuse-chains.kir");
  test_lit_case("fuse-epilogues.kir");
  test_after_attention();
  return check_report();
}
