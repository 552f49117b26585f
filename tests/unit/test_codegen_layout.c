/* test_codegen_layout.c: the CPU backend with packed params and shared
 * kernels.
 *
 *  1. Params stored in panels (IrLayout) read through the layout by every
 *     op that is not the matmul micro-kernel (embedding, transpose, reduce,
 *     elementwise, cast) and by matmul, with dims that are not multiples of
 *     the width, against the interpreter (which ignores layouts): exact for
 *     data movement, 1e-5 relative where sums are reordered.
 *  2. Identical layers share kernels: a 4-layer module has no more kernel
 *     functions than a 1-layer one, and computes what the interpreter does.
 *  3. Every tiny model family compiled with and without the pack-weights
 *     pass gives the same logits within 1e-5 relative (prefill and two
 *     decode steps).
 */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include <dirent.h>

#include "fe.h"
#include "pass.h"
#include "test_codegen_util.h"
#include "test_checkpoint.h"

#define HEADER "module @t {\n  sym T <= 16\n  sym P <= 16\n"

static const int64_t TP[][2] = {{1, 0}, {3, 0}, {7, 2}, {16, 0}};
#define NTP (int)(sizeof TP / sizeof TP[0])

/* ---- 1. reading through the layout ---------------------------------------- */

static void test_layout_reads(void) {
  CgtModel *cm = cgt_from_text(
      "layout_reads",
      HEADER
      "  param @table : f32[10, 6] layout(panels, axis = 0, width = 4)\n"
      "  param @tb : bf16[10, 6] layout(panels, axis = 1, width = 4)\n"
      "  param @wt : f32[5, 6] layout(panels, axis = 0, width = 4)\n"
      "  param @wn : f32[6, 7] layout(panels, axis = 1, width = 4)\n"
      "  param @wh : f16[6, 3] layout(panels, axis = 1, width = 32)\n"
      "  func @prefill(%tokens: i32[T]) -> f32[T, 39] {\n"
      "    %e = embedding(@table, %tokens) : f32[T, 6]\n"
      "    %eb = embedding(@tb, %tokens) : bf16[T, 6]\n"
      "    %ebf = cast(%eb) : f32[T, 6]\n"
      "    %w = matmul(%e, @wt) {transpose_b} : f32[T, 5]\n"
      "    %v = matmul(%ebf, @wn) : f32[T, 7]\n"
      "    %tt = transpose(@wt) {perm = [1, 0]} : f32[6, 5]\n"
      "    %u = matmul(%e, %tt) : f32[T, 5]\n"
      "    %r = reduce_sum(@wn) {axis = 0} : f32[1, 7]\n"
      "    %vr = add(%v, %r) : f32[T, 7]\n"
      "    %ww = mul(@wn, @wn) : f32[6, 7]\n"
      "    %x = matmul(%e, %ww) : f32[T, 7]\n"
      "    %h = matmul(%e, @wh) : f32[T, 3]\n"
      "    %out = concat(%e, %ebf, %w, %u, %vr, %x, %h) {axis = 1} : f32[T, 39]\n"
      "    return %out\n"
      "  }\n"
      "}\n");
  cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
}

/* ---- 2. identical layers share kernels ------------------------------------- */

/* A residual block per layer: rmsnorm, matmul, silu, add. */
static char *layers_src(int layers) {
  IrBuf b = {0};
  ir_buf_printf(&b, HEADER);
  for (int l = 0; l < layers; l++)
    ir_buf_printf(&b,
                  "  param @n%d : f32[8]\n"
                  "  param @w%d : f32[12, 8] layout(panels, axis = 0, width = 16)\n"
                  "  param @d%d : f32[12, 8]\n",
                  l, l, l);
  ir_buf_printf(&b, "  param @embed : f32[8, 8]\n"
                    "  func @prefill(%%tokens: i32[T]) -> f32[T, 8] {\n"
                    "    %%x0 = embedding(@embed, %%tokens) : f32[T, 8]\n");
  for (int l = 0; l < layers; l++)
    ir_buf_printf(&b,
                  "    %%h%d = rmsnorm(%%x%d, @n%d) {eps = 1e-05} : f32[T, 8]\n"
                  "    %%g%d = matmul(%%h%d, @w%d) {transpose_b} : f32[T, 12]\n"
                  "    %%s%d = silu(%%g%d) : f32[T, 12]\n"
                  "    %%o%d = matmul(%%s%d, @d%d) : f32[T, 8]\n"
                  "    %%x%d = add(%%x%d, %%o%d) : f32[T, 8]\n",
                  l, l, l, l, l, l, l, l, l, l, l, l + 1, l, l);
  ir_buf_printf(&b, "    return %%x%d\n  }\n}\n", layers);
  return b.data;
}

/* Kernel functions ("define internal void @...": entries return i32) in the LLVM IR of src. */
static int kernel_functions(const char *name, const char *src) {
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), name, &d);
  KernelPlan *plan = m && ir_verify(m, &d) ? kplan_build(m, &d) : NULL;
  char ll[128];
  snprintf(ll, sizeof ll, "%s/%s.ll", cgt_dir, name);
  CgModuleInfo info = {.symbol = "kiln_model", .vocab = 1, .max_context = 32, .max_tokens = 16,
                       .bos_id = -1, .eos_id = -1};
  CgTarget target = {.opt_level = 0};
  bool ok = plan && cg_llvm_compile(plan, &info, &target, CG_EMIT_LL, ll, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  int n = 0;
  FILE *f = ok ? fopen(ll, "r") : NULL;
  char line[4096];
  while (f && fgets(line, sizeof line, f))
    n += strncmp(line, "define internal void @", 22) == 0;
  if (f) fclose(f);
  unlink(ll);
  kplan_free(plan);
  ir_module_free(m);
  return n;
}

static void test_shared_kernels(void) {
  char *one = layers_src(1), *four = layers_src(4);
  int k1 = kernel_functions("layers1", one), k4 = kernel_functions("layers4", four);
  printf("kernel functions: %d for 1 layer, %d for 4 layers\n", k1, k4);
  /* embedding + 5 ops a layer, one function each; with 4 layers only the
   * last add differs (it writes the entry's output, a buffer of another
   * kind), the other layers reuse layer 0's functions */
  CHECK(k1 == 6);
  CHECK(k4 == k1 + 1);
  CgtModel *cm = cgt_from_text("layers4", four);
  cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
  free(one);
  free(four);
}

/* ---- 3. families with and without pack-weights ----------------------------- */

static int packed_params(const IrModule *m) {
  int n = 0;
  for (int i = 0; i < m->nparams; i++) n += m->params[i]->layout.panel > 0;
  return n;
}

/* The family compiled, after `passes` (NULL: none). */
static CgtModel *compile_family(const char *name, const FeModelDir *md, const char *passes) {
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  IrDiag d = {0};
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = name;
  cm->vocab = md->model.vocab;
  cm->opt_level = 3;
  cm->m = fe_build_module(&md->model, md->weights, &opt, &d);
  PassPipeline p;
  PassOptions o = pass_options_default();
  bool ok = cm->m && (!passes || (pass_pipeline_parse(passes, &p, &d) &&
                                  pass_pipeline_run(&p, cm->m, &o, &d)));
  ok = ok && cgt_compile(cm, checkpoint_source, md->weights);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  if (!ok) {
    cgt_free(cm);
    return NULL;
  }
  return cm;
}

static void test_family(const char *name, const char *path) {
  FeModelDir md;
  IrDiag d = {0};
  if (!fe_open_model_dir(path, true, &md, &d)) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    CHECK(false);
    return;
  }
  char packed_name[64];
  snprintf(packed_name, sizeof packed_name, "%s-packed", name);
  CgtModel *plain = compile_family(name, &md, NULL);
  CgtModel *packed = compile_family(packed_name, &md, "pack-weights");
  if (plain && packed) {
    CHECK(packed_params(plain->m) == 0 && packed_params(packed->m) > 0);
    int32_t prompt[5] = {1, 5, 9, 3, 7}, step[2] = {4, 11};
    CgtCall calls[3] = {{"prefill", 5, 0, prompt}, {"decode", 1, 5, &step[0]},
                        {"decode", 1, 6, &step[1]}};
    memset(plain->state, 0, (size_t)plain->plan->state_bytes);
    memset(packed->state, 0, (size_t)packed->plan->state_bytes);
    cgt_worst = 0;
    for (int i = 0; i < 3; i++) {
      float *want = cgt_compiled_call(plain, &calls[i], cgt_pf_serial);
      float *got = cgt_compiled_call(packed, &calls[i], cgt_pf_serial);
      CHECK(want && got);
      char what[128];
      snprintf(what, sizeof what, "%s: call %d (@%s)", packed_name, i, calls[i].entry);
      if (want && got) cgt_compare(what, got, want, cgt_result_numel(plain, &calls[i]), 1e-5);
      free(want);
      free(got);
    }
    printf("%-14s %2d params packed; relative difference packed vs plain %.2g\n", name,
           packed_params(packed->m), cgt_worst);
  }
  cgt_free(plain);
  cgt_free(packed);
  fe_close_model_dir(&md);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_families(void) {
  const char *root = KILN_TEST_DATA "/tiny";
  DIR *dir = opendir(root);
  CHECK(dir != NULL);
  char *names[64];
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir)) && n < 64;)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (dir) closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], by_name);
  CHECK(n >= 7);
  for (int i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, names[i]);
    test_family(names[i], path);
    free(names[i]);
  }
}

int main(void) {
  cgt_setup();
  test_layout_reads();
  test_shared_kernels();
  test_families();
  printf("largest relative difference: %.2g\n", cgt_worst);
  cgt_teardown();
  return check_report();
}
#else
int main(void) {
  printf("test_codegen_layout: skipped, kiln was built without LLVM\n");
  return 0;
}
#endif
