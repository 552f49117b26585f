/* test_codegen_attention.c: the FlashAttention-2 kernel and the split-KV
 * kernels of the CPU backend against the interpreter.
 *
 * Shapes are chosen against the tiles of the default target (32 query
 * rows, 64 keys a block): T and S that are not multiples of either (77
 * queries, 127 keys, ...), one query (decode), GQA (4 query heads on 2 kv
 * heads), a sliding window narrower than a block, bidirectional
 * attention, an empty KV (S = 0: zeros), head dims of 64 and 24 (vector
 * widths 8/16 and 8), bf16 operands; attention_split with a chunk of 37
 * (not a multiple of a block; chunks past S empty) and its merge, and its
 * log-sum-exp (-inf for empty chunks). q and k go through rope so that no
 * two rows are alike. Every call runs under the harness's four schedules
 * (serial, shuffled, one call, a pool of 3 threads), which must give the
 * same bits; the serial one must match the interpreter within
 * CGT_SUM_TOL (1e-5 of max(1, max |result|)).
 * Then whole models: the tiny llama_gqa and mistral (window 4) after the
 * attention and attention-split passes (chunks of 8 positions, 4 chunks),
 * compiled, against the interpreter on the unoptimized module: a prefill
 * and decodes up to position 12 (1e-4, as test_codegen_families).
 */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include "fe.h"
#include "pass.h"
#include "test_codegen_util.h"
#include "test_checkpoint.h"

/* q [4, T, 64], k [2, KEYS, 64] and v [2, KEYS, DV] through the KV cache;
 * OPS computes %r from %q, %kc, %vc; RESULT is its type. */
#define MODULE(DV, DVX2, KEYS, OPS, RESULT)                                   \
  "module @t {\n  sym T <= 130\n  sym P <= 200\n"                            \
  "  param @eq : f32[8, 256]\n"                                               \
  "  param @ek : f32[8, 128]\n"                                               \
  "  param @ev : f32[8, " DVX2 "]\n"                                          \
  "  state @kc : f32[2, 330, 64]\n"                                           \
  "  state @vc : f32[2, 330, " DV "]\n"                                       \
  "  func @prefill(%tokens: i32[T]) -> " RESULT " {\n"                        \
  "    %pos = iota {start = P} : i32[T]\n"                                    \
  "    %q0 = embedding(@eq, %tokens) : f32[T, 256]\n"                         \
  "    %qr = rope(%q0, %pos) {head_dim = 64, theta = 100.0} : f32[T, 256]\n"  \
  "    %q1 = reshape(%qr) : f32[T, 4, 64]\n"                                  \
  "    %q = transpose(%q1) {perm = [1, 0, 2]} : f32[4, T, 64]\n"              \
  "    %k0 = embedding(@ek, %tokens) : f32[T, 128]\n"                         \
  "    %kr = rope(%k0, %pos) {head_dim = 64, theta = 100.0} : f32[T, 128]\n"  \
  "    %k1 = reshape(%kr) : f32[T, 2, 64]\n"                                  \
  "    %k = transpose(%k1) {perm = [1, 0, 2]} : f32[2, T, 64]\n"              \
  "    %v0 = embedding(@ev, %tokens) : f32[T, " DVX2 "]\n"                    \
  "    %v1 = reshape(%v0) : f32[T, 2, " DV "]\n"                              \
  "    %v = transpose(%v1) {perm = [1, 0, 2]} : f32[2, T, " DV "]\n"          \
  "    kv_write(@kc, %k) {offset = P}\n"                                      \
  "    kv_write(@vc, %v) {offset = P}\n"                                      \
  "    %kc = kv_read(@kc) {len = " KEYS "} : f32[2, " KEYS ", 64]\n"          \
  "    %vc = kv_read(@vc) {len = " KEYS "} : f32[2, " KEYS ", " DV "]\n" OPS  \
  "    return %r\n  }\n}\n"

#define ATTN(ATTRS, DV) \
  "    %r = attention(%q, %kc, %vc) {" ATTRS "} : f32[4, T, " DV "]\n"

/* prefill, a decode, a second prefill with a past, a long one */
static const CgtCall CALLS[] = {{"prefill", 77, 0, NULL},
                                {"prefill", 1, 77, NULL},
                                {"prefill", 50, 78, NULL},
                                {"prefill", 130, 128, NULL},
                                {"prefill", 1, 200, NULL}};
#define NCALLS (int)(sizeof CALLS / sizeof CALLS[0])

static void check_tol(const char *name, const char *src, const CgtCall *calls, int n,
                      double tol) {
  CgtModel *cm = cgt_from_text(name, src);
  cgt_check(cm, calls, n, tol);
  cgt_free(cm);
}

static void check(const char *name, const char *src, const CgtCall *calls, int n) {
  check_tol(name, src, calls, n, CGT_SUM_TOL);
}

static void test_flash(void) {
  check("causal_gqa", MODULE("64", "128", "P+T", ATTN("scale = 0.125, causal, offset = P", "64"),
                             "f32[4, T, 64]"),
        CALLS, NCALLS);
  check("window_dv24",
        MODULE("24", "48", "P+T", ATTN("scale = 0.125, causal, offset = P, window = 37", "24"),
               "f32[4, T, 24]"),
        CALLS, NCALLS);
  check("bidirectional",
        MODULE("64", "128", "P+T", ATTN("scale = 0.2", "64"), "f32[4, T, 64]"), CALLS, NCALLS);
  /* keys of the past only: S = P, empty in a first prefill (zeros) */
  const CgtCall past[] = {{"prefill", 9, 0, NULL}, {"prefill", 33, 9, NULL},
                          {"prefill", 1, 42, NULL}};
  check("empty_past", MODULE("64", "128", "P", ATTN("scale = 0.125", "64"), "f32[4, T, 64]"),
        past, 3);
  check("causal_empty_past",
        MODULE("64", "128", "P", ATTN("scale = 0.125, causal, offset = P", "64"), "f32[4, T, 64]"),
        past, 3);
  /* bf16 operands and result: one bf16 ulp */
  check_tol("bf16",
        MODULE("64", "128", "P+T",
               "    %qb = cast(%q) : bf16[4, T, 64]\n"
               "    %kb = cast(%kc) : bf16[2, P+T, 64]\n"
               "    %vb = cast(%vc) : bf16[2, P+T, 64]\n"
               "    %ob = attention(%qb, %kb, %vb) {scale = 0.125, causal, offset = P} "
               ": bf16[4, T, 64]\n"
               "    %r = cast(%ob) : f32[4, T, 64]\n",
               "f32[4, T, 64]"),
            CALLS, 3, CGT_BF16_ULP);
}

/* chunks of 37 keys: C = ceil(330 / 37) = 9 for S = P+T, 6 for S = P */
#define SPLIT(ATTRS, DV, C)                                                                    \
  "    %o, %l = attention_split(%q, %kc, %vc) {" ATTRS ", chunk = 37} : f32[" C ", 4, T, " DV \
  "], f32[" C ", 4, T]\n"

static void test_split(void) {
  check("split_causal",
        MODULE("64", "128", "P+T",
               SPLIT("scale = 0.125, causal, offset = P", "64", "9")
               "    %r = attention_merge(%o, %l) : f32[4, T, 64]\n",
               "f32[4, T, 64]"),
        CALLS, NCALLS);
  check("split_window_lse",
        MODULE("24", "48", "P+T",
               SPLIT("scale = 0.125, causal, offset = P, window = 40", "24", "9")
               "    %r = reshape(%l) : f32[9, 4, T]\n",
               "f32[9, 4, T]"),
        CALLS, NCALLS);
  check("split_window_merge",
        MODULE("24", "48", "P+T",
               SPLIT("scale = 0.125, causal, offset = P, window = 40", "24", "9")
               "    %r = attention_merge(%o, %l) : f32[4, T, 24]\n",
               "f32[4, T, 24]"),
        CALLS, NCALLS);
  const CgtCall past[] = {{"prefill", 9, 0, NULL}, {"prefill", 1, 9, NULL},
                          {"prefill", 1, 150, NULL}};
  check("split_empty_past",
        MODULE("64", "128", "P",
               SPLIT("scale = 0.125", "64", "6")
               "    %r = attention_merge(%o, %l) : f32[4, T, 64]\n",
               "f32[4, T, 64]"),
        past, 3);
}

/* ---- whole models with split-KV decode ---- */

static void check_split_model(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny/%s", KILN_TEST_DATA, name);
  FeModelDir md;
  IrDiag d = {0};
  if (!fe_open_model_dir(path, true, &md, &d)) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    CHECK(false);
    return;
  }
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = name;
  cm->vocab = md.model.vocab;
  cm->opt_level = 3;
  cm->m = fe_build_module(&md.model, md.weights, &opt, &d);
  cm->ref = fe_build_module(&md.model, md.weights, &opt, &d);
  KTarget kt = *ktarget_default();
  kt.attn_split_chunk = 8;
  PassPipeline p;
  PassOptions o = pass_options_default();
  o.target = &kt;
  bool ok = cm->m && cm->ref && pass_pipeline_parse("attention,attention-split,dce", &p, &d) &&
            pass_pipeline_run(&p, cm->m, &o, &d);
  int splits = 0;
  const IrFunc *dec = ok ? ir_module_find_func(cm->m, "decode") : NULL;
  for (int i = 0; dec && i < dec->nops; i++) splits += dec->ops[i]->kind == IR_OP_ATTENTION_SPLIT;
  CHECK(splits == md.model.layers);
  cm->it = ok ? ir_interp_new(cm->ref, &d) : NULL;
  ok = cm->it && fe_bind_weights(cm->it, cm->ref, md.weights, &d) &&
       cgt_compile(cm, checkpoint_source, md.weights);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  CgtCall calls[] = {{"prefill", 7, 0, NULL},  {"decode", 1, 7, NULL},  {"decode", 1, 8, NULL},
                     {"decode", 1, 9, NULL},   {"decode", 1, 10, NULL}, {"decode", 1, 11, NULL},
                     {"decode", 1, 12, NULL}};
  if (ok) cgt_check(cm, calls, (int)(sizeof calls / sizeof calls[0]), 1e-4);
  cgt_free(cm);
  fe_close_model_dir(&md);
}

int main(void) {
  cgt_setup();
  test_flash();
  test_split();
  check_split_model("llama_gqa");
  check_split_model("mistral");
  printf("largest relative difference to the interpreter: %.2g\n", cgt_worst);
  cgt_teardown();
  return check_report();
}
#else
int main(void) {
  printf("test_codegen_attention: skipped, kiln was built without LLVM\n");
  return 0;
}
#endif
