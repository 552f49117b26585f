/* test_cuda_host.c: the CUDA kernels of every tiny model, run on the CPU.
 *
 * For each model under tests/data/tiny, unoptimized, after the default
 * pipeline (with fused attention), and after it and the fuse pass (fused
 * elementwise ops, matmul epilogues), the CUDA C that cg_cuda_emit writes is
 * compiled as C with the host emulation header (codegen/cuda/
 * kiln_cuda_host.h: each phase between barriers is a loop over the
 * block's threads), loaded with dlopen, and every entry is run by
 * launching its kernels in order over their grids, as the GPU runtime
 * would. The logits of the golden prompt (prefill, T = 7) and of three
 * decode steps must equal the interpreter's (on the unoptimized module)
 * within 1e-4 relative: |a - b| <= 1e-4 * max(1, max |interpreter|). The
 * kernels sum in another order than the interpreter (tree reductions,
 * online softmax), so exact equality is not expected; 1e-4 is the bound
 * test_codegen_families.c uses for the CPU backend.
 *
 * mixtral and gpt2 run once more with 32 and 1024 threads a block for the
 * elementwise and row kernels.
 *
 * Also checked: a module with an op the backend does not lower gives an
 * error naming the op, user names reach the source only sanitized, and
 * cg_cuda_write_files writes STEM.cu and a manifest that parses as JSON
 * and lists every kernel with its launch shape.
 */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <unistd.h>

#include "cg_weights.h"
#include "interp.h"
#include "test_cuda_util.h"

#define HOST_TOL 1e-4
#define HOST_HEADER KILN_TEST_DATA "/../../codegen/cuda/kiln_cuda_host.h"

typedef void (*EmuKernel)(const unsigned char *, unsigned char *, unsigned char *, const int *, float *,
                          KilnSyms);
typedef void (*EmuLaunch)(EmuKernel, const long long grid[3], unsigned, const unsigned char *,
                          unsigned char *, unsigned char *, const int *, float *, KilnSyms);

static char tmp_dir[64];
static double worst_seen;

typedef struct {
  const char *entry;
  int64_t T, P;
  const int32_t *tokens;
} Call;

/* A model compiled for the host: the loaded library and its buffers. */
typedef struct {
  TcuModel *tm;
  void *so;
  EmuLaunch launch;
  EmuKernel *fns; /* [cuda.nkernels] */
  uint8_t *weights, *arena, *state;
  IrInterp *it;
} HostModel;

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

static void *alloc64(uint64_t bytes) {
  void *p = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64 + 64));
  if (!p) abort();
  return p;
}

static bool checkpoint_source(void *user, const IrValue *p, CgParamData *out, IrDiag *d) {
  const FeTensor *t = fe_weights_find(user, p->name);
  if (!t) return ir_error_at(d, p->name, "not in the checkpoint");
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  *out = (CgParamData){t->dtype, t->data, n};
  return true;
}

/* Compiles the emitted source as C against the emulation header. */
static bool host_compile(HostModel *hm) {
  char cu[1024], so[1024], cmd[4096];
  snprintf(cu, sizeof cu, "%s/%s.cu", tmp_dir, hm->tm->name);
  snprintf(so, sizeof so, "%s/%s.so", tmp_dir, hm->tm->name);
  if (!tcu_write(cu, hm->tm->src.data)) return false;
  snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O1 -w -fPIC -shared -include %s -x c %s -o %s -lm", HOST_HEADER,
           cu, so);
  int rc = system(cmd);
  unlink(cu);
  if (rc != 0) {
    fprintf(stderr, "%s: '%s' failed\n", hm->tm->name, cmd);
    unlink(so);
    return false;
  }
  hm->so = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  unlink(so);
  if (!hm->so) return false;
  hm->launch = (EmuLaunch)dlsym(hm->so, "kiln_emu_launch");
  hm->fns = calloc((size_t)hm->tm->cuda.nkernels + 1, sizeof *hm->fns);
  bool ok = hm->launch != NULL;
  for (int k = 0; k < hm->tm->cuda.nkernels && ok; k++)
    ok = (hm->fns[k] = (EmuKernel)dlsym(hm->so, hm->tm->cuda.kernels[k].name)) != NULL;
  return ok;
}

static void call_syms(const IrModule *m, const Call *c, int64_t *syms) {
  for (int s = 0; s < IR_MAX_SYMS; s++) syms[s] = 0;
  for (int s = 0; s < m->nsyms; s++) {
    if (strcmp(m->syms[s].name, "T") == 0) syms[s] = c->T;
    if (strcmp(m->syms[s].name, "P") == 0) syms[s] = c->P;
  }
}

/* Runs the entry's kernels in order; returns the logits (T x vocab). */
static float *host_call(HostModel *hm, const Call *c, int64_t n) {
  const KernelPlan *p = hm->tm->plan;
  int entry = -1;
  for (int e = 0; e < p->nentries; e++)
    if (strcmp(p->entries[e].func->name, c->entry) == 0) entry = e;
  if (entry < 0) return NULL;
  int64_t syms[IR_MAX_SYMS];
  call_syms(p->module, c, syms);
  KilnSyms ks;
  for (int s = 0; s < IR_MAX_SYMS; s++) ks.s[s] = syms[s];
  float *out = malloc(sizeof(float) * (size_t)n);
  memset(out, 0xff, sizeof(float) * (size_t)n); /* NaN: an unwritten logit shows */
  memset(hm->arena, 0xff, (size_t)p->arena_bytes);
  for (int k = 0; k < hm->tm->cuda.nkernels; k++) {
    const CgCudaKernel *kr = &hm->tm->cuda.kernels[k];
    if (kr->entry != entry) continue;
    int64_t g[3];
    cg_cuda_grid(kr, syms, g);
    if (g[0] == 0 || g[1] == 0 || g[2] == 0) continue; /* an empty launch */
    long long grid[3] = {g[0], g[1], g[2]};
    hm->launch(hm->fns[k], grid, (unsigned)kr->block, hm->weights, hm->arena, hm->state, c->tokens, out, ks);
  }
  return out;
}

static float *interp_call(HostModel *hm, const Call *c, int64_t *n) {
  int64_t syms[IR_MAX_SYMS];
  call_syms(hm->tm->ref, c, syms);
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){c->T});
  for (int64_t i = 0; i < c->T; i++) in.i[i] = c->tokens[i];
  IrTensor *outs = NULL;
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(hm->it, c->entry, syms, &in, 1, &outs, &nout, &d);
  ir_tensor_free(&in);
  if (!ok) {
    fprintf(stderr, "%s: interpreter: %s\n", hm->tm->name, d.msg);
    return NULL;
  }
  *n = ir_tensor_numel(&outs[0]);
  float *r = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
  for (int64_t e = 0; e < *n; e++) r[e] = outs[0].f[e];
  ir_tensors_free(outs, nout);
  return r;
}

static void compare(const char *what, const float *got, const float *want, int64_t n) {
  double scale = 1, worst = 0;
  for (int64_t e = 0; e < n; e++)
    if (isfinite(want[e]) && fabs(want[e]) > scale) scale = fabs(want[e]);
  int64_t bad = -1;
  for (int64_t e = 0; e < n; e++) {
    double diff = fabs((double)got[e] - want[e]);
    if (!(diff <= HOST_TOL * scale) && bad < 0) bad = e;
    if (diff > worst) worst = diff;
  }
  if (worst / scale > worst_seen) worst_seen = worst / scale;
  check_count++;
  if (bad < 0) return;
  check_failures++;
  fprintf(stderr, "%s: logit %lld is %.9g, the interpreter gives %.9g (tolerance %g x %g)\n", what,
          (long long)bad, got[bad], want[bad], HOST_TOL, scale);
}

static bool host_setup(HostModel *hm, TcuModel *tm) {
  IrDiag d = {0};
  hm->tm = tm;
  if (!host_compile(hm)) return false;
  hm->weights = alloc64(tm->plan->weights_bytes);
  hm->arena = alloc64(tm->plan->arena_bytes);
  hm->state = alloc64(tm->plan->state_bytes);
  memset(hm->state, 0, (size_t)tm->plan->state_bytes);
  hm->it = ir_interp_new(tm->ref, &d);
  /* a model directory's checkpoint, or a module's inline initializers */
  bool ok = hm->it && (!tm->md_open || fe_bind_weights(hm->it, tm->ref, tm->md.weights, &d)) &&
            cg_pack_weights(tm->plan, tm->md_open ? checkpoint_source : NULL, tm->md.weights, hm->weights, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", tm->name, d.msg);
  return ok;
}

static void host_free(HostModel *hm) {
  if (hm->so) dlclose(hm->so);
  free(hm->fns);
  free(hm->weights);
  free(hm->arena);
  free(hm->state);
  ir_interp_free(hm->it);
}

/* The golden prompt and decode tokens of the model. */
static bool golden_calls(const char *name, int32_t *prompt, int *n, int32_t *steps) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny/%s/golden.json", KILN_TEST_DATA, name);
  char *text = read_text(path);
  cJSON *g = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (!g) return false;
  *n = 0;
  for (const cJSON *v = cJSON_GetObjectItem(g, "prompt")->child; v && *n < 16; v = v->next)
    prompt[(*n)++] = v->valueint;
  int i = 0;
  for (const cJSON *s = cJSON_GetObjectItem(g, "decode")->child; s && i < 3; s = s->next)
    steps[i++] = cJSON_GetObjectItem(s, "token")->valueint;
  cJSON_Delete(g);
  return *n > 0 && i == 3;
}

/* Emits tm's kernels again with `block` threads for the row and
 * elementwise kernels, under a name of its own. */
static bool reemit(TcuModel *tm, int block) {
  IrDiag d = {0};
  cg_cuda_module_free(&tm->cuda);
  ir_buf_free(&tm->src);
  size_t len = strlen(tm->name);
  snprintf(tm->name + len, sizeof tm->name - len, "-b%d", block);
  bool ok = cg_cuda_emit(tm->plan, &(CgCudaOptions){.block = block}, &tm->src, &tm->cuda, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", tm->name, d.msg);
  return ok;
}

/* block 0: the default block size. */
static void test_model(const char *name, int level, int block) {
  TcuModel tm;
  HostModel hm = {0};
  int32_t prompt[16], steps[3];
  int n = 0;
  bool ok = tcu_load(&tm, name, level) && (!block || reemit(&tm, block)) &&
            golden_calls(name, prompt, &n, steps) && host_setup(&hm, &tm);
  CHECK(ok);
  if (ok) {
    Call calls[4] = {{"prefill", n, 0, prompt},
                     {"decode", 1, n, &steps[0]},
                     {"decode", 1, n + 1, &steps[1]},
                     {"decode", 1, n + 2, &steps[2]}};
    worst_seen = 0;
    for (int i = 0; i < 4; i++) {
      int64_t count = 0;
      float *want = interp_call(&hm, &calls[i], &count);
      float *got = want ? host_call(&hm, &calls[i], count) : NULL;
      CHECK(want && got);
      char what[128];
      snprintf(what, sizeof what, "%s: call %d (@%s T=%lld P=%lld)", tm.name, i, calls[i].entry,
               (long long)calls[i].T, (long long)calls[i].P);
      if (want && got) compare(what, got, want, count);
      free(want);
      free(got);
    }
    printf("%-16s %3d CUDA kernels run on the host; relative difference %.2g\n", tm.name,
           tm.cuda.nkernels, worst_seen);
  }
  host_free(&hm);
  tcu_free(&tm);
}

/* What the backend cannot lower is refused with the op, its location and
 * the reason (every op has a kernel now; i4 tensors do not). */
static void test_refusal(void) {
  const char *src = "module @m {\n  sym T <= 4\n  param @q : i4[4]\n"
                    "  func @prefill(%x: i32[T]) -> f32[T] {\n"
                    "    %a = cast(%x) : f32[T]\n    %b = add(@q, @q) : i4[4]\n    return %a\n  }\n}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "refuse.kir", &d);
  KernelPlan *p = m ? kplan_build(m, &d) : NULL;
  IrBuf b = {0};
  CgCudaModule cm = {0};
  CHECK(p && !cg_cuda_emit(p, NULL, &b, &cm, &d));
  CHECK_STR_CONTAINS(d.msg, "refuse.kir:6:");
  CHECK_STR_CONTAINS(d.msg, "the CUDA backend cannot lower op 'add' with an i4 operand or result yet");
  cg_cuda_module_free(&cm);
  ir_buf_free(&b);
  kplan_free(p);
  ir_module_free(m);
}

/* Names from the model appear only in comments, and sanitized. */
static void test_sanitized(void) {
  const char *src = "module @evil.x {\n  sym T <= 4\n  func @prefill(%x: i32[T]) -> f32[T] {\n"
                    "    %a = cast(%x) : f32[T]\n    return %a\n  }\n}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "names.kir", &d);
  CHECK(m != NULL);
  if (!m) return;
  m->name = "x*/ int evil; /*"; /* what a hostile config.json could ask for */
  KernelPlan *p = kplan_build(m, &d);
  IrBuf b = {0};
  CgCudaModule cm = {0};
  CHECK(p && cg_cuda_emit(p, NULL, &b, &cm, &d));
  CHECK(b.data && !strstr(b.data, "int evil"));
  CHECK(b.data && strstr(b.data, "module x*__int_evil__"));
  char clean[32];
  cg_cuda_sanitize("a/b\"c\n", clean, sizeof clean);
  CHECK(strcmp(clean, "a_b_c_") == 0);
  cg_cuda_module_free(&cm);
  ir_buf_free(&b);
  kplan_free(p);
  ir_module_free(m);
}

static const char *const small_module =
    "module @small {\n  sym T <= 16\n  param @w : f32[8, 4]\n"
    "  func @prefill(%x: i32[T]) -> f32[T, 8] {\n"
    "    %e = cast(%x) : f32[T]\n    %r = reshape(%e) : f32[T, 1]\n"
    "    %b = mul(%r, %r) : f32[T, 1]\n    %c = concat(%b, %b, %b, %b) {axis = 1} : f32[T, 4]\n"
    "    %y = matmul(%c, @w) {transpose_b} : f32[T, 8]\n    %s = softmax(%y) : f32[T, 8]\n"
    "    return %s\n  }\n}\n";

/* STEM.cu and STEM.json from cg_cuda_write_files. */
static void test_files(void) {
  IrDiag d = {0};
  IrModule *m = ir_parse(small_module, strlen(small_module), "small.kir", &d);
  KernelPlan *p = m && ir_verify(m, &d) ? kplan_build(m, &d) : NULL;
  CHECK(p != NULL);
  if (!p) {
    fprintf(stderr, "small: %s\n", d.msg);
    ir_module_free(m);
    return;
  }
  char stem[128], path[160];
  snprintf(stem, sizeof stem, "%s/small", tmp_dir);
  CHECK(cg_cuda_write_files(p, CG_CUDA_EMIT_CU, "sm_80", stem, &d));
  snprintf(path, sizeof path, "%s.cu", stem);
  char *cu = read_text(path);
  CHECK(cu && strstr(cu, "KILN_EXTERN_C __global__ void __launch_bounds__(256, 2) kiln_k5("));
  free(cu);
  unlink(path);
  snprintf(path, sizeof path, "%s.json", stem);
  char *text = read_text(path);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  CHECK(j != NULL);
  const cJSON *entries = cJSON_GetObjectItem(j, "entries");
  const cJSON *kernels = cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 0), "kernels");
  CHECK(cJSON_GetArraySize(entries) == 1 && cJSON_GetArraySize(kernels) == 6);
  const cJSON *mm = cJSON_GetArrayItem(kernels, 4);
  CHECK(mm && strcmp(cJSON_GetObjectItem(mm, "name")->valuestring, "kiln_k4") == 0);
  CHECK(mm && strcmp(cJSON_GetObjectItem(mm, "op")->valuestring, "matmul") == 0);
  CHECK(mm && cJSON_GetObjectItem(mm, "shared_bytes")->valueint == 8192);
  const cJSON *gy = mm ? cJSON_GetArrayItem(cJSON_GetObjectItem(mm, "grid"), 1) : NULL;
  CHECK(gy && strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(gy, "factors"), 0)->valuestring, "T") == 0);
  CHECK(gy && cJSON_GetObjectItem(gy, "div")->valueint == 64);
  CHECK(strcmp(cJSON_GetObjectItem(j, "gpu_arch")->valuestring, "sm_80") == 0);
  cJSON_Delete(j);
  free(text);
  unlink(path);
  memset(&d, 0, sizeof d);
  IrBuf b = {0};
  CgCudaModule cm;
  CHECK(!cg_cuda_emit(p, &(CgCudaOptions){.block = 100}, &b, &cm, &d));
  CHECK_STR_CONTAINS(d.msg, "cuda: error: a block of 100 threads; expected a power of two from 32 to 1024");
  cg_cuda_module_free(&cm);
  ir_buf_free(&b);
  memset(&d, 0, sizeof d);
  CHECK(!cg_cuda_write_files(p, CG_CUDA_EMIT_CU, "sm80", stem, &d));
  CHECK_STR_CONTAINS(d.msg, "--gpu-arch: error: 'sm80' is not a GPU architecture; expected sm_80, sm_90, ...");
  kplan_free(p);
  ir_module_free(m);
}

/* Fused ops and epilogues with every kind of expression node, which the
 * tiny models do not all produce (their trees become epilogues). */
/* A module of a few ops (IR text) on the host against the interpreter:
 * `nkernels` kernels, the result within tol x max(1, |want|). */
static void test_small(const char *name, const char *text, int nkernels, int64_t numel, double tol) {
  TcuModel tm = {0};
  HostModel hm = {0};
  IrDiag d = {0};
  snprintf(tm.name, sizeof tm.name, "%s", name);
  tm.m = ir_parse(text, strlen(text), name, &d);
  tm.ref = ir_parse(text, strlen(text), name, &d);
  bool ok = tm.m && tm.ref && ir_verify(tm.m, &d) && (tm.plan = kplan_build(tm.m, &d)) &&
            cg_cuda_emit(tm.plan, NULL, &tm.src, &tm.cuda, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok && tm.cuda.nkernels == nkernels);
  ok = ok && host_setup(&hm, &tm);
  CHECK(ok);
  int32_t tok[4] = {0, 1, 3, 7};
  Call c = {"prefill", 4, 0, tok};
  int64_t n = 0;
  float *want = ok ? interp_call(&hm, &c, &n) : NULL;
  float *got = want ? host_call(&hm, &c, n) : NULL;
  CHECK(want && got && n == numel);
  if (want && got)
    for (int64_t i = 0; i < n; i++) CHECK_NEAR(got[i], want[i], tol * fmax(1.0, fabs(want[i])));
  free(want);
  free(got);
  host_free(&hm);
  tcu_free(&tm);
}

/* `test_cuda_host quick` runs only the small modules, not the models. */
int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  strcpy(tmp_dir, "/tmp/kiln-cudahost-XXXXXX");
  CHECK(mkdtemp(tmp_dir) != NULL);
  test_refusal();
  test_sanitized();
  test_files();
  /* every step one f32 operation, as in the interpreter: a tight bound */
  test_small("fused-ops", tcu_fused_module, 8, 16, 1e-6);
  IrBuf split = {0};
  tcu_split_module(&split);
  test_small("split-kv", split.data, 2, 24, 1e-5); /* online softmax: reordered sums */
  ir_buf_free(&split);
  char *names[64];
  int n = quick ? 0 : tcu_model_names(names, 64);
  CHECK(quick || n >= 7);
  for (int i = 0; i < n; i++) {
    for (int level = 0; level < TCU_LEVELS; level++)
      if (tcu_level_differs(level)) test_model(names[i], level, 0);
    free(names[i]);
  }
  if (!quick) {
    test_model("mixtral", 0, 32); /* other block sizes: the reductions and grids follow */
    test_model("gpt2", 1, 1024);
  }
  rmdir(tmp_dir);
  return check_report();
}
#else
int main(void) {
  printf("test_cuda_host: skipped, kiln was built without LLVM (weights are packed by codegen/cg_weights.c)\n");
  return 0;
}
#endif
