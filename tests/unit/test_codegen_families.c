/* test_codegen_families.c: every tiny model family compiled for the CPU.
 *
 * For each model under tests/data/tiny/<name>/ the module is built with
 * all logits (fe_build_module), compiled by the LLVM backend, linked and
 * loaded, its weights packed at the plan's offsets from the checkpoint
 * (cg_pack_weights), and then:
 *
 *  1. prefill of the golden 7-token prompt and the 3 golden decode steps
 *     equal the interpreter's logits to 1e-4 relative (|a - b| <= 1e-4 *
 *     max(1, max |interpreter|)): the two reorder f32 sums differently
 *     through a whole network; the golden data's own bound is 1e-4), under
 *     four parallel_for schedules that must agree bit for bit;
 *  2. the same logits are within 1e-4 of the golden data (the independent
 *     numpy reference);
 *  3. 16 greedy tokens (prefill, then 15 decodes; argmax, the lower id on
 *     ties) are the golden ones;
 *  4. the module after the default pass pipeline, with the attention pass
 *     (fused attention ops), compiled, against the interpreter on the
 *     unoptimized module, as in 1.
 */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include <cjson/cJSON.h>
#include <dirent.h>

#include "fe.h"
#include "pass.h"
#include "test_codegen_util.h"
#include "test_checkpoint.h"

#define FAMILY_TOL 1e-4

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

static int json_ints(const cJSON *a, int32_t *out, int max) {
  int n = 0;
  for (const cJSON *v = a ? a->child : NULL; v && n < max; v = v->next) out[n++] = v->valueint;
  return n;
}

/* The checkpoint tensor of a parameter, in its own dtype. */
static int argmax(const float *x, int64_t n) {
  int best = 0;
  for (int j = 1; j < n; j++)
    if (x[j] > x[best]) best = j;
  return best;
}

/* Golden rows: prefill_logits[i] or decode[i].logits, as floats. */
static float *golden_row(const cJSON *row, int64_t vocab) {
  float *r = calloc((size_t)vocab, sizeof *r);
  int64_t j = 0;
  for (const cJSON *v = row ? row->child : NULL; v && j < vocab; v = v->next)
    r[j++] = (float)v->valuedouble;
  CHECK(j == vocab);
  return r;
}

/* 2: the compiled logits of the prompt and the decode steps against golden.json. */
static void check_against_golden(CgtModel *cm, const cJSON *g, const CgtCall *calls, int ncalls) {
  int64_t vocab = cm->vocab;
  memset(cm->state, 0, (size_t)cm->plan->state_bytes);
  const cJSON *rows = cJSON_GetObjectItem(g, "prefill_logits"),
              *steps = cJSON_GetObjectItem(g, "decode");
  for (int i = 0; i < ncalls; i++) {
    float *got = cgt_compiled_call(cm, &calls[i], cgt_pf_serial);
    CHECK(got != NULL);
    if (!got) return;
    for (int64_t r = 0; r < calls[i].T; r++) {
      const cJSON *row = i == 0 ? cJSON_GetArrayItem(rows, (int)r)
                                : cJSON_GetObjectItem(cJSON_GetArrayItem(steps, i - 1), "logits");
      float *want = golden_row(row, vocab);
      char what[128];
      snprintf(what, sizeof what, "%s: call %d row %lld against golden.json", cm->name, i,
               (long long)r);
      cgt_compare(what, got + r * vocab, want, vocab, FAMILY_TOL);
      free(want);
    }
    free(got);
  }
}

/* 3: greedy generation with the compiled model. */
static void check_greedy(CgtModel *cm, const cJSON *g, const int32_t *prompt, int n) {
  int32_t want[16];
  CHECK(json_ints(cJSON_GetObjectItem(g, "greedy"), want, 16) == 16);
  memset(cm->state, 0, (size_t)cm->plan->state_bytes);
  CgtCall c = {"prefill", n, 0, prompt};
  float *out = cgt_compiled_call(cm, &c, rt_parallel_for);
  int32_t tok = out ? argmax(out + (n - 1) * cm->vocab, cm->vocab) : -1;
  free(out);
  int same = 0;
  for (int i = 0; i < 16 && tok == want[i]; i++) {
    same++;
    if (i == 15) break;
    CgtCall step = {"decode", 1, n + i, &tok};
    out = cgt_compiled_call(cm, &step, rt_parallel_for);
    tok = out ? argmax(out, cm->vocab) : -1;
    free(out);
  }
  check_count++;
  if (same != 16) {
    check_failures++;
    fprintf(stderr, "%s: greedy token %d is %d, want %d\n", cm->name, same, tok, want[same]);
  }
}

static int count_ops(const IrModule *m, IrOpKind kind) {
  int n = 0;
  for (int f = 0; f < m->nfuncs; f++)
    for (int i = 0; i < m->funcs[f]->nops; i++) n += m->funcs[f]->ops[i]->kind == kind;
  return n;
}

/* The default pipeline, with the attention pass if it is not in it yet. */
static const char *pipeline(void) {
  static char spec[256];
  const char *dflt = pass_default_pipeline();
  bool add = pass_lookup("attention", 9) && !strstr(dflt, "attention");
  snprintf(spec, sizeof spec, "%s%s", dflt, add ? ",attention,dce" : "");
  return spec;
}

/* 4: the optimized module compiled, the unoptimized one interpreted. */
static void check_optimized(const char *name, const FeModelDir *md, const CgtCall *calls, int n) {
  char oname[64];
  snprintf(oname, sizeof oname, "%s-opt", name);
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  IrDiag d = {0};
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = oname;
  cm->vocab = md->model.vocab;
  cm->opt_level = 3;
  cm->m = fe_build_module(&md->model, md->weights, &opt, &d);
  cm->ref = fe_build_module(&md->model, md->weights, &opt, &d);
  PassPipeline p;
  PassOptions o = pass_options_default();
  bool ok = cm->m && cm->ref && pass_pipeline_parse(pipeline(), &p, &d) &&
            pass_pipeline_run(&p, cm->m, &o, &d);
  cm->it = ok ? ir_interp_new(cm->ref, &d) : NULL;
  ok = cm->it && fe_bind_weights(cm->it, cm->ref, md->weights, &d) &&
       cgt_compile(cm, checkpoint_source, md->weights);
  if (!ok) fprintf(stderr, "%s: %s\n", oname, d.msg);
  CHECK(ok);
  if (ok) {
    cgt_worst = 0;
    cgt_check(cm, calls, n, FAMILY_TOL);
    printf("%-14s %3d kernels in prefill (%d attention ops); relative difference %.2g\n", oname,
           cm->plan->entries[0].nkernels, count_ops(cm->m, IR_OP_ATTENTION), cgt_worst);
  }
  cgt_free(cm);
}

static void test_model(const char *name, const char *path) {
  char file[600];
  snprintf(file, sizeof file, "%s/golden.json", path);
  char *text = read_text(file);
  cJSON *g = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(g != NULL);
  FeModelDir md;
  IrDiag d = {0};
  if (!g || !fe_open_model_dir(path, true, &md, &d)) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    CHECK(false);
    cJSON_Delete(g);
    return;
  }
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = name;
  cm->vocab = md.model.vocab;
  cm->opt_level = 3;
  cm->m = fe_build_module(&md.model, md.weights, &opt, &d);
  cm->it = cm->m ? ir_interp_new(cm->m, &d) : NULL;
  bool ok = cm->it && fe_bind_weights(cm->it, cm->m, md.weights, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  ok = ok && cgt_compile(cm, checkpoint_source, md.weights);
  CHECK(ok);
  if (ok) {
    int32_t prompt[16], steps[3];
    int n = json_ints(cJSON_GetObjectItem(g, "prompt"), prompt, 16), i = 0;
    const cJSON *dec = cJSON_GetObjectItem(g, "decode");
    for (const cJSON *s = dec ? dec->child : NULL; s && i < 3; s = s->next)
      steps[i++] = cJSON_GetObjectItem(s, "token")->valueint;
    CHECK(n == 7 && i == 3);
    CgtCall calls[4] = {{"prefill", n, 0, prompt},
                        {"decode", 1, n, &steps[0]},
                        {"decode", 1, n + 1, &steps[1]},
                        {"decode", 1, n + 2, &steps[2]}};
    cgt_worst = 0;
    cgt_check(cm, calls, 4, FAMILY_TOL);
    double vs_interp = cgt_worst;
    cgt_worst = 0;
    check_against_golden(cm, g, calls, 4);
    double vs_golden = cgt_worst;
    check_greedy(cm, g, prompt, n);
    printf("%-14s %3d kernels in prefill; relative difference to the interpreter %.2g, "
           "to golden.json %.2g\n",
           name, cm->plan->entries[0].nkernels, vs_interp, vs_golden);
    check_optimized(name, &md, calls, 4);
  }
  cgt_free(cm);
  fe_close_model_dir(&md);
  cJSON_Delete(g);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
  cgt_setup();
  const char *root = KILN_TEST_DATA "/tiny";
  DIR *dir = opendir(root);
  CHECK(dir != NULL);
  char *names[64];
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir)) && n < 64;)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (dir) closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], by_name);
  CHECK(n >= 7); /* gpt2, llama, llama_gqa, llama_linear, mistral, mixtral, qwen2 */
  for (int i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, names[i]);
    test_model(names[i], path);
    free(names[i]);
  }
  cgt_teardown();
  return check_report();
}
#else
int main(void) {
  printf("test_codegen_families: skipped, kiln was built without LLVM\n");
  return 0;
}
#endif
