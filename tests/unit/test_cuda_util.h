/* test_cuda_util.h: the tiny models as the CUDA tests see them
 * (test_cuda_host.c, test_cuda_nvrtc.c).
 *
 *   char *names[64]; int n = tcu_model_names(names, 64);   // sorted
 *   TcuModel tm;
 *   if (tcu_load(&tm, names[i], 1)) {    // 0: as built, 1: default pipeline, 2: and fuse
 *     ... tm.plan, tm.src.data (CUDA C), tm.cuda.kernels ...
 *   }
 *   tcu_free(&tm);
 *
 * Each model is built with all logits and a context of 32 (as in
 * test_codegen_families.c); `ref` is the unoptimized module, `m` the one
 * that is planned and emitted: as built (level 0, "llama"), after the
 * default pipeline with the attention pass (1, "llama-opt"), and after
 * that and the fuse pass when it exists (2, "llama-fused").
 */
#ifndef KILN_TEST_CUDA_UTIL_H
#define KILN_TEST_CUDA_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"
#include "check.h"
#include "fe.h"
#include "kernel_plan.h"
#include "pass.h"

typedef struct {
  char name[64];
  FeModelDir md;
  bool md_open;
  IrModule *m, *ref;
  KernelPlan *plan;
  IrBuf src;
  CgCudaModule cuda;
} TcuModel;

static int tcu_by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the models under tests/data/tiny (malloc'd). */
static inline int tcu_model_names(char **names, int max) {
  DIR *dir = opendir(KILN_TEST_DATA "/tiny");
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir)) && n < max;)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (dir) closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], tcu_by_name);
  return n;
}

#define TCU_LEVELS 3

/* The default pipeline with the attention pass (fused attention ops),
 * and at level 2 the fuse pass. */
static inline const char *tcu_pipeline(int level) {
  static char spec[256];
  const char *dflt = pass_default_pipeline();
  bool add = pass_lookup("attention", 9) && !strstr(dflt, "attention");
  bool fuse = level >= 2 && pass_lookup("fuse", 4) && !strstr(dflt, "fuse");
  snprintf(spec, sizeof spec, "%s%s%s", dflt, add ? ",attention,dce" : "", fuse ? ",fuse,dce" : "");
  return spec;
}

/* Loads, builds, optionally optimizes, plans and emits model `name`.
 * On failure prints why and returns false (tcu_free still needed). */
/* Whether level 2 differs from level 1 (the fuse pass is not yet in the
 * default pipeline): the tests skip it otherwise. */
static inline bool tcu_level_differs(int level) {
  return level < 2 || (pass_lookup("fuse", 4) && !strstr(pass_default_pipeline(), "fuse"));
}

static inline bool tcu_load(TcuModel *tm, const char *name, int level) {
  static const char *const suffix[TCU_LEVELS] = {"", "-opt", "-fused"};
  memset(tm, 0, sizeof *tm);
  snprintf(tm->name, sizeof tm->name, "%.40s%s", name, suffix[level]);
  char path[512];
  snprintf(path, sizeof path, "%s/tiny/%.60s", KILN_TEST_DATA, name);
  IrDiag d = {0};
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  bool ok = fe_open_model_dir(path, true, &tm->md, &d);
  tm->md_open = ok;
  if (ok) tm->m = fe_build_module(&tm->md.model, tm->md.weights, &opt, &d);
  if (ok) tm->ref = fe_build_module(&tm->md.model, tm->md.weights, &opt, &d);
  ok = tm->m && tm->ref;
  if (ok && level > 0) {
    PassPipeline p;
    PassOptions o = pass_options_default();
    ok = pass_pipeline_parse(tcu_pipeline(level), &p, &d) && pass_pipeline_run(&p, tm->m, &o, &d);
  }
  if (ok) tm->plan = kplan_build(tm->m, &d);
  ok = ok && tm->plan && cg_cuda_emit(tm->plan, NULL, &tm->src, &tm->cuda, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", tm->name, d.msg);
  return ok;
}

static inline void tcu_free(TcuModel *tm) {
  cg_cuda_module_free(&tm->cuda);
  ir_buf_free(&tm->src);
  kplan_free(tm->plan);
  ir_module_free(tm->m);
  ir_module_free(tm->ref);
  if (tm->md_open) fe_close_model_dir(&tm->md);
}

static const char *const tcu_fused_module =
    "module @fz {\n  sym T <= 8\n"
    "  param @g : f32[4] = [0.5, -1.0, 2.0, 0.25]\n"
    "  param @w : f32[4, 4] = [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, -0.7, 0.8, 0.9, 1.0, 1.1, -1.2, 0.05, 0.15, 0.25, 0.35]\n"
    "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
    "    %a = cast(%x) : f32[T]\n    %r = reshape(%a) : f32[T, 1]\n"
    "    %s = fused(%r) {expr = \"mul($0, 0.25)\"} : f32[T, 1]\n"
    "    %b = fused(%s, @g) {expr = \"mul(silu($0), add($1, 1.5))\"} : f32[T, 4]\n"
    "    %c = matmul(%b, @w, %b) {transpose_b, epilogue = \"gelu_tanh(sub(acc, $2))\"} : f32[T, 4]\n"
    "    %d = fused(%c, %s) {expr = \"max(tanh(div($0, exp($1))), min(gelu($0), -0.5))\"} : f32[T, 4]\n"
    "    %e = fused(%d) {expr = \"add(rsqrt(add(mul($0, $0), 1.0)), pow(sigmoid($0), 2.0))\"} : f32[T, 4]\n"
    "    %f = fused(%e, %d) {expr = \"sub(log(sqrt($0)), relu(neg($1)))\"} : f32[T, 4]\n"
    "    return %f\n  }\n}\n";

/* Split-KV attention (attention_split, attention_merge) on constant
 * q [2, 3, 4], k and v [1, 10, 4] (GQA: 2 query heads, 1 kv head), causal
 * with offset 7 and a window of 5, in chunks of 4 (3 chunks, the last one
 * partial); the values are a fixed pseudo-random pattern. Written into b. */
static inline void tcu_split_module(IrBuf *b) {
  const char *names[3] = {"q", "k", "v"};
  const int counts[3] = {24, 40, 40};
  const char *types[3] = {"f32[2, 3, 4]", "f32[1, 10, 4]", "f32[1, 10, 4]"};
  ir_buf_printf(b, "module @split {\n  sym T <= 4\n");
  unsigned x = 12345;
  for (int p = 0; p < 3; p++) {
    ir_buf_printf(b, "  param @%s : %s = [", names[p], types[p]);
    for (int i = 0; i < counts[p]; i++) {
      x = x * 1103515245u + 12345u;
      ir_buf_printf(b, "%s%d.0", i ? ", " : "", (int)((x >> 16) % 17) - 8);
    }
    ir_buf_printf(b, "]\n");
  }
  ir_buf_printf(b, "  func @prefill(%%x: i32[T]) -> f32[2, 3, 4] {\n"
                   "    %%o, %%l = attention_split(@q, @k, @v) {scale = 0.125, causal, offset = 7, window = 5, "
                   "chunk = 4} : f32[3, 2, 3, 4], f32[3, 2, 3]\n"
                   "    %%y = attention_merge(%%o, %%l) : f32[2, 3, 4]\n    return %%y\n  }\n}\n");
}

/* Writes text to path; false on error. */
static inline bool tcu_write(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  size_t n = strlen(text);
  bool ok = fwrite(text, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

#endif
