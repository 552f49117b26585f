/* test_pass_attention.c: the attention pass against the interpreter.
 *
 *  1. Every tiny model under tests/data/tiny/: the module built with all
 *     logits, run (prefill of 6 tokens, then two decodes, past Mistral's
 *     window of 4) before and after the pass, alone and after the default
 *     pipeline (where cse has merged the layers' masks and scales). The
 *     pass fires once per layer per entry, no causal_mask is left, the
 *     outputs agree, and a second run changes nothing.
 *  2. Every function of tests/lit/passes/attention.kir (the positive and
 *     the negative cases) on random inputs, for three (T, P) pairs.
 *  3. Fully masked rows (a window shorter than the gap between a query and
 *     the last key) and an empty KV: zeros before and after the rewrite.
 *
 * Tolerance: |after - before| <= 1e-5 * max(1, |before|) for each element
 * (the fused op multiplies by 1/c where the graph divided by c); NaN
 * equals NaN, an infinity only itself.
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

#define REL_TOL 1e-5

static int count_ops(const IrFunc *f, IrOpKind k) {
  int n = 0;
  for (int i = 0; i < f->nops; i++) n += f->ops[i]->kind == k;
  return n;
}

/* ---- 1. the tiny models ---- */

#define PROMPT TT_PROMPT
#define STEPS 3 /* prefill, decode, decode */

/* Builds the model, runs `pipeline` on it; checks the pass fired once per
 * layer per entry and left no mask behind, and that a second run of the
 * pass changes nothing. */
static IrModule *build_and_fuse(const FeModelDir *md, const char *name, const char *pipeline) {
  IrDiag d = {0};
  FeBuildOptions opt = {.max_context = 16, .all_logits = true};
  IrModule *m = fe_build_module(&md->model, md->weights, &opt, &d);
  CHECK(m != NULL);
  if (!m) return NULL;
  int softmax_before[8] = {0};
  for (int i = 0; i < m->nfuncs && i < 8; i++)
    softmax_before[i] = count_ops(m->funcs[i], IR_OP_SOFTMAX);
  PassContext stats = {0};
  CHECK(tt_run_pipeline(m, pipeline, &stats));
  CHECK(tt_stat(&stats, "fused") == md->model.layers * m->nfuncs);
  for (int i = 0; i < m->nfuncs && i < 8; i++) {
    const IrFunc *f = m->funcs[i];
    bool per_layer = count_ops(f, IR_OP_ATTENTION) == md->model.layers &&
                     count_ops(f, IR_OP_CAUSAL_MASK) == 0 &&
                     count_ops(f, IR_OP_SOFTMAX) == softmax_before[i] - md->model.layers;
    CHECK(per_layer);
    if (!per_layer)
      fprintf(stderr, "%s: %s @%s: not one attention op per layer\n", name, pipeline, f->name);
  }
  PassContext again = {0};
  CHECK(!pass_attention(m, &again, &d) && !d.failed);
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
  FeBuildOptions opt = {.max_context = 16, .all_logits = true};
  IrModule *plain = fe_build_module(&md.model, md.weights, &opt, &d);
  IrTensor want[STEPS] = {{0}};
  CHECK(plain && tt_run_model(plain, md.weights, md.model.vocab, STEPS, want));
  const char *pipelines[] = {"attention", "canonicalize,fold,canonicalize,cse,dce,attention,dce"};
  for (int p = 0; p < 2; p++) {
    IrModule *m = build_and_fuse(&md, name, pipelines[p]);
    IrTensor got[STEPS] = {{0}};
    if (m && tt_run_model(m, md.weights, md.model.vocab, STEPS, got)) {
      char what[400];
      for (int s = 0; s < STEPS; s++) {
        snprintf(what, sizeof what, "%s (%s) %s", name, pipelines[p], s ? "decode" : "prefill");
        tt_check_close(what, &got[s], &want[s], REL_TOL);
      }
    }
    for (int s = 0; s < STEPS; s++) ir_tensor_free(&got[s]);
    ir_module_free(m);
  }
  for (int s = 0; s < STEPS; s++) ir_tensor_free(&want[s]);
  ir_module_free(plain);
  fe_close_model_dir(&md);
}

/* ---- 2. the lit cases on random inputs ---- */

static uint32_t rng = 2024;

/* Every function of both modules on the same random inputs. */
static void compare_modules(const IrModule *before, const IrModule *after, const int64_t *tp) {
  IrDiag d = {0};
  IrInterp *ib = ir_interp_new(before, &d), *ia = ir_interp_new(after, &d);
  CHECK(ib && ia);
  int sym_t = ir_module_find_sym(before, "T", 1), sym_p = ir_module_find_sym(before, "P", 1);
  for (int i = 0; ib && ia && i < before->nfuncs; i++) {
    const IrFunc *f = before->funcs[i];
    int64_t syms[IR_MAX_SYMS] = {0};
    if (sym_t >= 0) syms[sym_t] = tp[0];
    if (sym_p >= 0) syms[sym_p] = tp[1];
    IrTensor *args = tt_random_args(f, syms, &rng);
    IrTensor want = tt_call(ib, f->name, syms, args, f->nargs);
    IrTensor got = tt_call(ia, f->name, syms, args, f->nargs);
    char what[200];
    snprintf(what, sizeof what, "%s @%s T=%lld P=%lld", before->name, f->name, (long long)tp[0],
             (long long)tp[1]);
    tt_check_close(what, &got, &want, REL_TOL);
    ir_tensor_free(&want);
    ir_tensor_free(&got);
    ir_tensors_free(args, f->nargs);
  }
  ir_interp_free(ib);
  ir_interp_free(ia);
}

static void test_lit_cases(void) {
  char *text = tt_read_file(KILN_TEST_DATA "/../lit/passes/attention.kir");
  CHECK(text != NULL);
  if (!text) return;
  IrModule *before = tt_parse_verified(text, "attention.kir");
  IrModule *after = tt_parse_verified(text, "attention.kir");
  PassContext stats = {0};
  CHECK(after && tt_run_pipeline(after, "attention", &stats) && tt_stat(&stats, "fused") > 0);
  const int64_t tps[][2] = {{5, 3}, {1, 7}, {3, 0}};
  for (int i = 0; before && after && i < 3; i++) compare_modules(before, after, tps[i]);
  ir_module_free(before);
  ir_module_free(after);
  free(text);
}

/* ---- 3. fully masked rows ---- */

/* Query i sits at position i + 2 and sees keys i+1 and i+2 of the 4:
 * rows 0-2 see one or two keys, rows 3 and later none. @decode: one query
 * at position P with a window of 2: P = 5 and later see no key of 4.
 * @empty: no keys at all when P = 0. */
static const char masked_text[] =
    "module @masked {\n"
    "  sym T <= 8\n"
    "  sym P <= 8\n"
    "  func @prefill(%q: f32[2, T, 4], %k: f32[2, 4, 4], %v: f32[2, 4, 4]) -> f32[2, T, 4] {\n"
    "    %s = matmul(%q, %k) {transpose_b} : f32[2, T, 4]\n"
    "    %c = const {value = 0.5} : f32[]\n"
    "    %ss = mul(%s, %c) : f32[2, T, 4]\n"
    "    %m = causal_mask {offset = 2, window = 2} : f32[T, 4]\n"
    "    %sm = add(%ss, %m) : f32[2, T, 4]\n"
    "    %p = softmax(%sm) {axis = -1} : f32[2, T, 4]\n"
    "    %o = matmul(%p, %v) : f32[2, T, 4]\n"
    "    return %o\n"
    "  }\n"
    "  func @decode(%q: f32[2, 1, 4], %k: f32[2, 4, 4], %v: f32[2, 4, 4]) -> f32[2, 1, 4] {\n"
    "    %s = matmul(%q, %k) {transpose_b} : f32[2, 1, 4]\n"
    "    %m = causal_mask {offset = P, window = 2} : f32[1, 4]\n"
    "    %sm = add(%s, %m) : f32[2, 1, 4]\n"
    "    %p = softmax(%sm) {axis = -1} : f32[2, 1, 4]\n"
    "    %o = matmul(%p, %v) : f32[2, 1, 4]\n"
    "    return %o\n"
    "  }\n"
    "  func @empty(%q: f32[2, T, 4], %k: f32[2, P, 4], %v: f32[2, P, 4]) -> f32[2, T, 4] {\n"
    "    %s = matmul(%q, %k) {transpose_b} : f32[2, T, P]\n"
    "    %c = const {value = 0.5} : f32[]\n"
    "    %ss = mul(%s, %c) : f32[2, T, P]\n"
    "    %p = softmax(%ss) {axis = -1} : f32[2, T, P]\n"
    "    %o = matmul(%p, %v) : f32[2, T, 4]\n"
    "    return %o\n"
    "  }\n"
    "}\n";

/* Row r (of `rows`, each `d` wide, heads outermost) of o is all zeros. */
static bool row_is_zero(const IrTensor *o, int64_t head, int64_t r) {
  int64_t rows = o->shape[1], d = o->shape[2];
  for (int64_t c = 0; c < d; c++)
    if (o->f[(head * rows + r) * d + c] != 0.0f) return false;
  return true;
}

/* Runs `entry` of both modules with T and P; checks which rows are zero. */
static void check_masked(const IrModule *before, const IrModule *after, const char *entry,
                         int64_t t, int64_t p, int64_t first_masked_row) {
  IrDiag d = {0};
  IrInterp *its[2] = {ir_interp_new(before, &d), ir_interp_new(after, &d)};
  CHECK(its[0] && its[1]);
  const IrFunc *f = ir_module_find_func(before, entry);
  int64_t syms[IR_MAX_SYMS] = {0};
  syms[ir_module_find_sym(before, "T", 1)] = t;
  syms[ir_module_find_sym(before, "P", 1)] = p;
  IrTensor *args = tt_random_args(f, syms, &rng), outs[2] = {{0}};
  for (int k = 0; k < 2 && its[0] && its[1]; k++) {
    outs[k] = tt_call(its[k], entry, syms, args, f->nargs);
    if (!outs[k].f) continue;
    for (int64_t h = 0; h < 2; h++) {
      for (int64_t r = 0; r < outs[k].shape[1]; r++) {
        bool zero = row_is_zero(&outs[k], h, r);
        CHECK(zero == (r >= first_masked_row));
        if (zero != (r >= first_masked_row))
          fprintf(stderr, "@%s T=%lld P=%lld %s: row %lld of head %lld is %szero\n", entry,
                  (long long)t, (long long)p, k ? "after" : "before", (long long)r, (long long)h,
                  zero ? "" : "not ");
      }
    }
  }
  if (outs[0].f && outs[1].f) tt_check_close(entry, &outs[1], &outs[0], REL_TOL);
  ir_tensor_free(&outs[0]);
  ir_tensor_free(&outs[1]);
  ir_tensors_free(args, f->nargs);
  ir_interp_free(its[0]);
  ir_interp_free(its[1]);
}

static void test_fully_masked_rows(void) {
  IrModule *before = tt_parse_verified(masked_text, "masked");
  IrModule *after = tt_parse_verified(masked_text, "masked");
  PassContext stats = {0};
  CHECK(before && after && tt_run_pipeline(after, "attention", &stats));
  CHECK(tt_stat(&stats, "fused") == 3);
  if (!before || !after) {
    ir_module_free(before);
    ir_module_free(after);
    return;
  }
  check_masked(before, after, "prefill", 6, 0, 3);
  check_masked(before, after, "prefill", 3, 0, 3); /* no masked row */
  check_masked(before, after, "decode", 1, 0, 1);  /* sees key 0 */
  check_masked(before, after, "decode", 1, 4, 1);  /* sees key 3 */
  check_masked(before, after, "decode", 1, 5, 0);  /* sees none */
  check_masked(before, after, "empty", 3, 0, 0);   /* no keys */
  check_masked(before, after, "empty", 3, 2, 3);
  ir_module_free(before);
  ir_module_free(after);
}

int main(void) {
  tt_for_each_tiny(test_model);
  test_lit_cases();
  test_fully_masked_rows();
  return check_report();
}
