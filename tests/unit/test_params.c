/* test_params.c: the parameter count the compiler derives equals the
 * published count, exactly, for every real configuration.
 *
 * Each config.json (copies of ../shared/models/<name>/config.json under
 * tests/data/hf_configs/, so the test runs without the shared folder) is
 * read, built into a module without weights (fe_build_module), and the
 * module's parameters are summed (ir_param_stats). The formula in
 * fe_model.c must agree, and the bytes follow from torch_dtype. When the
 * shared folder is there too, each of its configs must be one of the
 * table's and count the same. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "fe.h"
#include "fe_json.h"

static const struct {
  const char *name;
  int64_t params; /* published */
  IrDType dtype;  /* torch_dtype */
} published[] = {
    {"llama-2-7b", 6738415616, IR_F16},     {"tinyllama-1.1b", 1100048384, IR_BF16},
    {"llama-3-8b", 8030261248, IR_BF16},    {"llama-3.2-1b", 1235814400, IR_BF16},
    {"smollm-135m", 134515008, IR_BF16},    {"mistral-7b", 7241732096, IR_BF16},
    {"qwen2-0.5b", 494032768, IR_BF16},     {"mixtral-8x7b", 46702792704, IR_BF16},
    {"gpt2", 124439808, IR_F32},
};
#define NPUBLISHED (int)(sizeof published / sizeof published[0])

/* Opens dir (config only), builds the module with a short context (the
 * count does not depend on it) and returns its parameter statistics. */
static bool count_dir(const char *dir, IrParamStats *stats, int64_t *formula) {
  FeModelDir md;
  IrDiag d = {0};
  if (!fe_open_model_dir(dir, false, &md, &d)) {
    fprintf(stderr, "%s: %s\n", dir, d.msg);
    return false;
  }
  FeBuildOptions opt = {.max_context = 16};
  IrModule *m = fe_build_module(&md.model, NULL, &opt, &d);
  bool ok = m != NULL && fe_model_param_count(&md.model, formula);
  if (m) ir_param_stats(m, stats);
  else fprintf(stderr, "%s: %s\n", dir, d.msg);
  ir_module_free(m);
  fe_close_model_dir(&md);
  return ok;
}

static void test_published_counts(void) {
  for (int i = 0; i < NPUBLISHED; i++) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hf_configs/%s", KILN_TEST_DATA, published[i].name);
    IrParamStats s;
    int64_t formula = -1;
    CHECK(count_dir(dir, &s, &formula));
    if (s.count != published[i].params)
      fprintf(stderr, "%s: built %lld parameters, published %lld\n", published[i].name,
              (long long)s.count, (long long)published[i].params);
    CHECK(s.count == published[i].params);
    CHECK(formula == published[i].params);
    /* without a checkpoint every weight takes torch_dtype */
    CHECK(s.count_by_dtype[published[i].dtype] == s.count);
    CHECK(s.bytes == s.count * (ir_dtype_bits(published[i].dtype) / 8));
  }
}

static int published_index(const char *name) {
  for (int i = 0; i < NPUBLISHED; i++)
    if (strcmp(published[i].name, name) == 0) return i;
  return -1;
}

/* The shared folder, when present: every model in it is in the table. */
static void test_shared_folder(void) {
  DIR *dir = opendir(KILN_SHARED_MODELS);
  if (!dir) {
    printf("note: %s not found; the copies under tests/data/hf_configs were checked\n",
           KILN_SHARED_MODELS);
    return;
  }
  int seen = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/config.json", KILN_SHARED_MODELS, e->d_name);
    if (e->d_name[0] == '.' || stat(path, &st) != 0) continue;
    int i = published_index(e->d_name);
    if (i < 0) fprintf(stderr, "%s: not in this test's table of published counts\n", path);
    CHECK(i >= 0);
    if (i < 0) continue;
    snprintf(path, sizeof path, "%s/%s", KILN_SHARED_MODELS, e->d_name);
    IrParamStats s;
    int64_t formula = -1;
    CHECK(count_dir(path, &s, &formula));
    CHECK(s.count == published[i].params);
    seen++;
  }
  closedir(dir);
  CHECK(seen == NPUBLISHED);
}

/* ---- statistics on a module written by hand ---- */

static const char *stats_module =
    "module @s {\n"
    "  sym T <= 16\n"
    "  sym P <= 16\n"
    "  param @w : f32[8, 4]\n"
    "  param @g : bf16[4]\n"
    "  param @q4 : i4[3, 3]\n"
    "  state @kc : f32[2, 16, 4]\n"
    "  state @vc : f16[2, 16, 3]\n"
    "  func @f(%x: f32[T, 4], %b: f32[3, 5, 4], %c: f32[4, T]) -> f32[T, 8] {\n"
    "    %n = rmsnorm(%x, @g) {eps = 1e-05} : f32[T, 4]\n"
    "    %y = matmul(%n, @w) {transpose_b} : f32[T, 8]\n"
    "    %bb = matmul(%b, %b) {transpose_b} : f32[3, 5, 5]\n"
    "    %ct = matmul(%c, %c) {transpose_a} : f32[T, T]\n"
    "    %s = softmax(%y) : f32[T, 8]\n"
    "    %e = add(%s, %y) : f32[T, 8]\n"
    "    %r = reduce_sum(%e) {axis = -1} : f32[T, 1]\n"
    "    %k = reshape(%n) : f32[T, 2, 2]\n"
    "    return %e\n"
    "  }\n"
    "}\n";

static void test_stats(void) {
  IrDiag d = {0};
  IrModule *m = ir_parse(stats_module, strlen(stats_module), "stats.kir", &d);
  bool ok = m && ir_verify(m, &d);
  if (!ok) fprintf(stderr, "%s\n", d.msg);
  CHECK(ok);
  if (!m) return;
  IrParamStats ps;
  ir_param_stats(m, &ps);
  CHECK(ps.count == 32 + 4 + 9);
  CHECK(ps.count_by_dtype[IR_F32] == 32 && ps.bytes_by_dtype[IR_F32] == 128);
  CHECK(ps.count_by_dtype[IR_BF16] == 4 && ps.bytes_by_dtype[IR_BF16] == 8);
  CHECK(ps.count_by_dtype[IR_I4] == 9 && ps.bytes_by_dtype[IR_I4] == 5); /* 4.5 bytes, rounded up */
  CHECK(ps.bytes == 128 + 8 + 5);
  /* per position: f32 2x4 and f16 2x3 */
  CHECK(ir_state_bytes_per_position(m) == 2 * 4 * 4 + 2 * 3 * 2);

  int64_t syms[IR_MAX_SYMS] = {0};
  syms[ir_module_find_sym(m, "T", 1)] = 5;
  const IrFunc *f = ir_module_find_func(m, "f");
  int64_t want[] = {
      4 * 5 * 4,     /* rmsnorm: 4 per element of [5, 4] */
      2 * 5 * 8 * 4, /* matmul: 2*M*N*K, M=5, N=8, K=4 */
      2 * 3 * 5 * 5 * 4, /* batched: 3 x (5x4 . 4x5) */
      2 * 5 * 5 * 4, /* transpose_a: K is a's dim -2 (4) */
      5 * 5 * 8,     /* softmax: 5 per element */
      5 * 8,         /* add: 1 per element */
      5 * 8,         /* reduce_sum: 1 per input element */
      0,             /* reshape moves data */
  };
  int64_t total = 0;
  for (int i = 0; i < f->nops && i < 8; i++) {
    int64_t got = ir_op_flops(f->ops[i], syms);
    if (got != want[i]) fprintf(stderr, "op %d: %lld FLOPs, want %lld\n", i, (long long)got,
                                (long long)want[i]);
    CHECK(got == want[i]);
    total += want[i];
  }
  CHECK(ir_func_flops(f, syms) == total);
  ir_module_free(m);
}

/* ---- FLOPs of real models against their formula ---- */

static int64_t matmul_flops(const IrFunc *f, const int64_t *syms) {
  int64_t n = 0;
  for (int i = 0; i < f->nops; i++)
    if (f->ops[i]->kind == IR_OP_MATMUL) n += ir_op_flops(f->ops[i], syms);
  return n;
}

/* A Llama-like model without biases: every parameter but the embedding
 * table and the norms is a matmul weight (the table too when tied), used
 * once per token: 2 FLOPs each; attention adds q.k and p.v, 2*D each per
 * head, query and key. Decode: one token over P+1 keys. Prefill of N: the
 * head on the last row only, every query over all N keys (the mask does
 * not save work in the graph). */
static void check_llama_flops(const char *name) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/hf_configs/%s", KILN_TEST_DATA, name);
  FeModelDir md;
  IrDiag d = {0};
  CHECK(fe_open_model_dir(dir, false, &md, &d));
  const FeModel *fm = &md.model;
  FeBuildOptions opt = {.max_context = 256};
  IrModule *m = fe_build_module(fm, NULL, &opt, &d);
  CHECK(m != NULL);
  if (!m) {
    fe_close_model_dir(&md);
    return;
  }
  IrParamStats ps;
  ir_param_stats(m, &ps);
  int64_t L = fm->layers, H = fm->hidden, V = fm->vocab, Hq = fm->heads, D = fm->head_dim;
  int64_t norms = (2 * L + 1) * H, embed = V * H;
  int64_t weights = ps.count - norms - (fm->tie_embeddings ? 0 : embed); /* as matmul operand */
  int64_t head = V * H, P = 100, N = 16;
  int64_t syms[IR_MAX_SYMS] = {0};
  int ti = ir_module_find_sym(m, "T", 1), pi = ir_module_find_sym(m, "P", 1);

  syms[ti] = 1;
  syms[pi] = P;
  const IrFunc *dec = ir_module_find_func(m, "decode");
  int64_t dec_mm = 2 * weights + 4 * L * Hq * D * (P + 1);
  CHECK(matmul_flops(dec, syms) == dec_mm);
  int64_t dec_all = ir_func_flops(dec, syms);
  CHECK(dec_all > dec_mm && dec_all - dec_mm < dec_mm / 100); /* the rest is small */

  syms[ti] = N;
  syms[pi] = 0;
  const IrFunc *pre = ir_module_find_func(m, "prefill");
  int64_t pre_mm = 2 * N * (weights - head) + 2 * head + 4 * L * Hq * D * N * N;
  CHECK(matmul_flops(pre, syms) == pre_mm);
  ir_module_free(m);
  fe_close_model_dir(&md);
}

int main(void) {
  test_stats();
  check_llama_flops("llama-2-7b");   /* untied, MHA */
  check_llama_flops("llama-3.2-1b"); /* tied, GQA */
  check_llama_flops("mixtral-8x7b"); /* dense-masked MoE: every expert, and the router */
  test_published_counts();
  test_shared_folder();
  return check_report();
}
