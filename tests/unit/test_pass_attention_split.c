/* test_pass_attention_split.c: split-KV attention (attention_split,
 * attention_merge) and the attention-split pass.
 *
 *  1. The shape rules: exact verifier messages for bad chunks, result
 *     types, operand ranks and dtypes.
 *  2. The interpreter on hand-computed values: q = 1, keys 0 and ln 3,
 *     values [2, 0] and [6, 4] (so the weights are 1/3 and 1, the sum
 *     4/3, the output [5, 3] and the log-sum-exp ln 4): one chunk,
 *     several chunks, chunks past the run-time S, a causal mask inside a
 *     chunk, and every key masked (lse -inf, zeros).
 *  3. Every tiny model under tests/data/tiny/: built with all logits, the
 *     attention pass, then attention-split with a chunk of 4 positions (the
 *     KV bound is 16, so 4 chunks); a prefill and six decodes (S from 7 to
 *     12: chunks partly filled, empty ones past S, Mistral's window of 4
 *     masking whole chunks) give the logits of the unsplit module within
 *     1e-5 * max(1, |logit|). The pass fires once per layer in @decode
 *     only, and a second run changes nothing.
 *  4. Every function of tests/lit/passes/attention-split.kir on random
 *     inputs before and after the pass (x86-64-avx2: chunk 256).
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fe.h"
#include "interp.h"
#include "pass.h"
#include "test_tiny.h"
#include "target.h"

#define REL_TOL 1e-5

static int count_ops(const IrFunc *f, IrOpKind k) {
  int n = 0;
  for (int i = 0; i < f->nops; i++) n += f->ops[i]->kind == k;
  return n;
}

/* ---- 1. shape rules ---- */

/* Parses and verifies text; the verifier's message ("" when it passes). */
static const char *verify_text(const char *text) {
  static IrDiag d;
  memset(&d, 0, sizeof d);
  IrModule *m = ir_parse(text, strlen(text), "t.kir", &d);
  if (m) ir_verify(m, &d);
  ir_module_free(m);
  return d.failed ? d.msg : "";
}

#define SPLIT_HEAD                                                                            \
  "module @m {\n  sym P <= 1023\n"                                                          \
  "  func @f(%q: f32[8, 1, 64], %k: f32[2, P+1, 64], %v: f32[2, P+1, 64]) -> f32[8, 1, 64] {\n"

static void check_message(const char *body, const char *want) {
  char text[2048];
  snprintf(text, sizeof text, "%s%s    return %%a\n  }\n}\n", SPLIT_HEAD, body);
  const char *got = verify_text(text);
  CHECK(strcmp(got, want) == 0);
  if (strcmp(got, want) != 0) fprintf(stderr, "got:  %s\nwant: %s\n", got, want);
}

static void test_shape_rules(void) {
  /* the valid form: C = ceil(1024 / 256) = 4 */
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, causal, offset = P, "
                "chunk = 256} : f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %a = attention_merge(%o, %l) : f32[8, 1, 64]\n",
                "");
  /* chunk 300: C = ceil(1024 / 300) = 4 as well; chunk 1024: one */
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 1024} "
                ": f32[1, 8, 1, 64], f32[1, 8, 1]\n"
                "    %a = attention_merge(%o, %l) : f32[8, 1, 64]\n",
                "");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 0} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %a = attention_merge(%o, %l) : f32[8, 1, 64]\n",
                "t.kir:4:5: error: attention_split: chunk 0 must be >= 1");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 300} "
                ": f32[3, 8, 1, 64], f32[3, 8, 1]\n"
                "    %a = attention_merge(%o, %l) : f32[8, 1, 64]\n",
                "t.kir:4:5: error: attention_split: result type f32[3, 8, 1, 64] does not match "
                "the inferred f32[4, 8, 1, 64] for %o");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8]\n"
                "    %a = attention_merge(%o, %l) : f32[8, 1, 64]\n",
                "t.kir:4:5: error: attention_split: result type f32[4, 8] does not match the "
                "inferred f32[4, 8, 1] for %l");
  /* attention's own operand rules apply */
  check_message("    %o, %l = attention_split(%k, %q, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %a = attention_merge(%o, %l) : f32[8, 1, 64]\n",
                "t.kir:4:5: error: attention_split: operand 2 has dim 0 = 2, expected 8 (dim 0 "
                "of operand 1)");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %l2 = reshape(%l) : f32[4, 8]\n"
                "    %a = attention_merge(%o, %l2) : f32[8, 1, 64]\n",
                "t.kir:6:5: error: attention_merge: operand 1 has type f32[4, 8], expected rank 3 "
                "(the rank of operand 0 minus 1)");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %l2 = reshape(%l) : f32[4, 1, 8]\n"
                "    %a = attention_merge(%o, %l2) : f32[8, 1, 64]\n",
                "t.kir:6:5: error: attention_merge: operand 1 has dim 1 = 1, expected 8 (dim 1 of "
                "operand 0)");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %ob = cast(%o) : bf16[4, 8, 1, 64]\n"
                "    %a = attention_merge(%ob, %l) : f32[8, 1, 64]\n",
                "t.kir:6:5: error: attention_merge: operand 0 has dtype bf16, expected f32");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %o2 = reshape(%o) : f32[32, 64]\n"
                "    %l2 = reshape(%l) : f32[32]\n"
                "    %a = attention_merge(%o2, %l2) : f32[8, 1, 64]\n",
                "t.kir:7:5: error: attention_merge: operand 0 has rank 2, expected rank >= 4");
  check_message("    %o, %l = attention_split(%q, %k, %v) {scale = 0.125, chunk = 256} "
                ": f32[4, 8, 1, 64], f32[4, 8, 1]\n"
                "    %a = attention_merge(%o, %l) : f32[4, 8, 1, 64]\n",
                "t.kir:5:5: error: attention_merge: result type f32[4, 8, 1, 64] does not match "
                "the inferred f32[8, 1, 64] for %a");
}

/* ---- 2. the interpreter on hand-computed values ---- */

/* q [1, 1, 1], k [1, S, 1], v [1, S, 2]; ATTRS of the split; C chunks. */
#define HAND_MODULE(S, ATTRS, C)                                                               \
  "module @hand {\n  sym P <= 4\n"                                                            \
  "  func @f(%q: f32[1, 1, 1], %k: f32[1, " S ", 1], %v: f32[1, " S ", 2]) -> (f32[" C       \
  ", 1, 1, 2], f32[" C ", 1, 1], f32[1, 1, 2]) {\n"                                           \
  "    %o, %l = attention_split(%q, %k, %v) {" ATTRS "} : f32[" C ", 1, 1, 2], f32[" C        \
  ", 1, 1]\n"                                                                                  \
  "    %a = attention_merge(%o, %l) : f32[1, 1, 2]\n"                                         \
  "    return %o, %l, %a\n  }\n}\n"

/* Runs @f with keys 0, ln 3 (then 7, 7: never visible in the tests that
 * use them) and values [2, 0], [6, 4], ...; checks o, lse and the merge
 * against want_o [C][2], want_lse [C] and want_out [2]. */
static void check_hand(const char *name, const char *text, int64_t p, int64_t s, int64_t c,
                       const float *want_o, const float *want_lse, const float *want_out) {
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), name, &d);
  bool ok = m && ir_verify(m, &d);
  IrInterp *it = ok ? ir_interp_new(m, &d) : NULL;
  CHECK(ok && it);
  if (!ok || !it) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    ir_module_free(m);
    return;
  }
  IrTensor in[3] = {ir_tensor_new(IR_F32, 3, (int64_t[]){1, 1, 1}),
                    ir_tensor_new(IR_F32, 3, (int64_t[]){1, s, 1}),
                    ir_tensor_new(IR_F32, 3, (int64_t[]){1, s, 2})};
  const float keys[] = {0.0f, logf(3.0f), 7.0f, 7.0f}, vals[] = {2, 0, 6, 4, 1, 1, 1, 1};
  in[0].f[0] = 1;
  for (int64_t j = 0; j < s; j++) {
    in[1].f[j] = keys[j];
    in[2].f[2 * j] = vals[2 * j];
    in[2].f[2 * j + 1] = vals[2 * j + 1];
  }
  int64_t syms[IR_MAX_SYMS] = {p};
  IrTensor *outs = NULL;
  int nout = 0;
  ok = ir_interp_call(it, "f", syms, in, 3, &outs, &nout, &d);
  CHECK(ok && nout == 3);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  for (int64_t i = 0; ok && nout == 3 && i < c; i++) {
    CHECK_NEAR(outs[0].f[2 * i], want_o[2 * i], 1e-6);
    CHECK_NEAR(outs[0].f[2 * i + 1], want_o[2 * i + 1], 1e-6);
    CHECK_NEAR(outs[1].f[i], want_lse[i], 1e-6);
  }
  if (ok && nout == 3) {
    CHECK_NEAR(outs[2].f[0], want_out[0], 1e-6);
    CHECK_NEAR(outs[2].f[1], want_out[1], 1e-6);
  }
  ir_tensors_free(outs, nout);
  for (int i = 0; i < 3; i++) ir_tensor_free(&in[i]);
  ir_interp_free(it);
  ir_module_free(m);
}

static void test_interpreter(void) {
  const float ln3 = logf(3.0f), ln4 = logf(4.0f), inf = INFINITY;
  /* one chunk holds both keys: weights 1/3, 1 of 4/3 */
  check_hand("one", HAND_MODULE("2", "scale = 1.0, chunk = 4", "1"), 0, 2, 1,
             (const float[]){5, 3}, (const float[]){ln4}, (const float[]){5, 3});
  /* a chunk per key: each is its own value, lse its score; merged as one */
  check_hand("two", HAND_MODULE("2", "scale = 1.0, chunk = 1", "2"), 0, 2, 2,
             (const float[]){2, 0, 6, 4}, (const float[]){0, ln3}, (const float[]){5, 3});
  /* S = P <= 4, chunk 2: C = 2; with P = 2 chunk 1 lies past S */
  check_hand("past", HAND_MODULE("P", "scale = 1.0, chunk = 2", "2"), 2, 2, 2,
             (const float[]){5, 3, 0, 0}, (const float[]){ln4, -inf}, (const float[]){5, 3});
  /* causal, query at position 0: only key 0 of chunk 0 is visible */
  check_hand("causal", HAND_MODULE("2", "scale = 1.0, causal, chunk = 2", "1"), 0, 2, 1,
             (const float[]){2, 0}, (const float[]){0}, (const float[]){2, 0});
  /* causal at position 1 with scale 2: scores 0 and 2 ln 3, weights 1/9 and 1 */
  check_hand("scaled", HAND_MODULE("2", "scale = 2.0, causal, offset = 1, chunk = 2", "1"), 0,
             2, 1, (const float[]){(2.0f / 9 + 6) * 0.9f, 4 * 0.9f},
             (const float[]){2 * ln3 + logf(10.0f / 9)},
             (const float[]){(2.0f / 9 + 6) * 0.9f, 4 * 0.9f});
  /* position 5 with a window of 1 sees only key 5: every chunk is empty */
  check_hand("masked", HAND_MODULE("4", "scale = 1.0, causal, offset = 5, window = 1, chunk = 2",
                                   "2"),
             0, 4, 2, (const float[]){0, 0, 0, 0}, (const float[]){-inf, -inf},
             (const float[]){0, 0});
}

/* ---- 3. the tiny models ---- */

#define PROMPT TT_PROMPT
#define STEPS 7 /* prefill, then decodes at positions 6..11 */

/* A target like the default one with 4 positions a chunk. */
static KTarget small_chunks(void) {
  KTarget t = *ktarget_default();
  t.attn_split_chunk = 4;
  return t;
}

static IrModule *build(const FeModelDir *md, const char *pipeline, PassContext *ctx) {
  IrDiag d = {0};
  FeBuildOptions opt = {.max_context = 16, .all_logits = true};
  IrModule *m = fe_build_module(&md->model, md->weights, &opt, &d);
  CHECK(m != NULL);
  if (!m) fprintf(stderr, "%s\n", d.msg);
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
  KTarget kt = small_chunks();
  const char *base[] = {"attention", "canonicalize,fold,canonicalize,cse,dce,attention,dce"};
  for (int b = 0; b < 2; b++) {
    char split[256];
    snprintf(split, sizeof split, "%s,attention-split", base[b]);
    PassContext c0 = {.target = &kt}, c1 = {.target = &kt};
    IrModule *before = build(&md, base[b], &c0), *after = build(&md, split, &c1);
    if (!before || !after) {
      ir_module_free(before);
      ir_module_free(after);
      continue;
    }
    int layers = md.model.layers;
    const IrFunc *dec = ir_module_find_func(after, "decode");
    const IrFunc *pre = ir_module_find_func(after, "prefill");
    CHECK(tt_stat(&c1, "split") == layers);
    CHECK(dec && count_ops(dec, IR_OP_ATTENTION_SPLIT) == layers &&
          count_ops(dec, IR_OP_ATTENTION_MERGE) == layers && count_ops(dec, IR_OP_ATTENTION) == 0);
    CHECK(pre && count_ops(pre, IR_OP_ATTENTION) == layers &&
          count_ops(pre, IR_OP_ATTENTION_SPLIT) == 0);
    PassContext again = {.target = &kt};
    CHECK(!pass_attention_split(after, &again, &d) && !d.failed);
    IrTensor want[STEPS] = {{0}}, got[STEPS] = {{0}};
    if (tt_run_model(before, md.weights, md.model.vocab, STEPS, want) &&
        tt_run_model(after, md.weights, md.model.vocab, STEPS, got)) {
      for (int s = 0; s < STEPS; s++) {
        char what[600];
        snprintf(what, sizeof what, "%s (%s) step %d", name, split, s);
        tt_check_close(what, &got[s], &want[s], REL_TOL);
      }
    }
    for (int s = 0; s < STEPS; s++) {
      ir_tensor_free(&want[s]);
      ir_tensor_free(&got[s]);
    }
    ir_module_free(before);
    ir_module_free(after);
  }
  fe_close_model_dir(&md);
}

/* ---- 4. the lit cases on random inputs ---- */

static uint32_t rng = 77;

static void compare_funcs(const IrModule *before, const IrModule *after, const int64_t *syms) {
  IrDiag d = {0};
  IrInterp *ib = ir_interp_new(before, &d), *ia = ir_interp_new(after, &d);
  CHECK(ib && ia);
  for (int i = 0; ib && ia && i < before->nfuncs; i++) {
    const IrFunc *f = before->funcs[i];
    IrTensor *args = tt_random_args(f, syms, &rng);
    IrTensor want = tt_call(ib, f->name, syms, args, f->nargs);
    IrTensor got = tt_call(ia, f->name, syms, args, f->nargs);
    char what[200];
    snprintf(what, sizeof what, "attention-split.kir @%s", f->name);
    if (f->result_types[0].dtype == IR_BF16) {
      /* the merge rounds once to bf16, the unsplit op too: one bf16 ulp */
      for (int64_t e = 0; want.f && got.f && e < ir_tensor_numel(&want); e++)
        CHECK(fabs(got.f[e] - want.f[e]) <= 0x1p-7 * fmax(1.0, fabs(want.f[e])));
    } else {
      tt_check_close(what, &got, &want, REL_TOL);
    }
    ir_tensor_free(&want);
    ir_tensor_free(&got);
    ir_tensors_free(args, f->nargs);
  }
  ir_interp_free(ib);
  ir_interp_free(ia);
}

static void test_lit_cases(void) {
  char *text = tt_read_file(KILN_TEST_DATA "/../lit/passes/attention-split.kir");
  CHECK(text != NULL);
  if (!text) return;
  IrDiag d = {0};
  IrModule *before = ir_parse(text, strlen(text), "attention-split.kir", &d);
  IrModule *after = ir_parse(text, strlen(text), "attention-split.kir", &d);
  KTarget kt;
  CHECK(before && after && ktarget_preset("x86-64-avx2", &kt, &d));
  PassContext ctx = {.target = &kt};
  CHECK(after && tt_run_pipeline(after, "attention-split", &ctx) && tt_stat(&ctx, "split") == 3);
  /* T, P, Q: S = P+1 from 1 (chunks 1.. empty) to 700 (3 chunks) */
  const int64_t syms[][IR_MAX_SYMS] = {{3, 0, 5}, {1, 300, 255}, {2, 699, 17}};
  for (int i = 0; before && after && i < 3; i++) compare_funcs(before, after, syms[i]);
  ir_module_free(before);
  ir_module_free(after);
  free(text);
}

int main(void) {
  test_shape_rules();
  test_interpreter();
  tt_for_each_tiny(test_model);
  test_lit_cases();
  return check_report();
}
