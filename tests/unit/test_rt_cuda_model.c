/* test_rt_cuda_model.c: a KilnModel on a GPU (rt_cuda_model.c), through
 * the fake CUDA driver (tests/fakecuda: device memory is host memory, a
 * launch runs the host emulation of the generated CUDA C).
 *
 * The model description is built here by hand, as `kiln compile
 * --device=cuda` would build it: the tiny llama after the default
 * pipeline is planned and emitted as CUDA C (test_cuda_util.h), the
 * source compiled as C against codegen/cuda/kiln_cuda_host.h into a
 * shared library the fake driver loads, the weights packed and embedded,
 * and the KilnCudaDesc filled from the kernels' launch records. The CUBIN
 * and PTX are placeholders: the fake driver only looks at their first
 * bytes. The CPU entries of the description run the same emulated
 * kernels on the runtime's host arena and KV cache.
 *
 * Checked: prefill of 7 tokens and 3 decode steps on the device give the
 * interpreter's logits within 1e-4 relative and exactly the CPU path's;
 * the PTX is loaded when the driver refuses the CUBIN; each failure says
 * what is missing: a CPU-only model, no driver, no GPU, neither image
 * runnable, an invalid launch table, a kernel the image lacks.
 */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include <dlfcn.h>
#include <unistd.h>

#include "cg_weights.h"
#include "interp.h"
#include "kiln.h"
#include "test_cuda_util.h"
#include "test_checkpoint.h"

#define TOL 1e-4
#define FAKE_NAME "kiln fake CUDA device (host emulation)"

typedef void (*EmuKernel)(const unsigned char *, unsigned char *, unsigned char *, const int *,
                          float *, KilnSyms, KilnOffs);
typedef void (*EmuLaunch)(EmuKernel, const long long grid[3], unsigned, const unsigned char *,
                          unsigned char *, unsigned char *, const int *, float *, KilnSyms, KilnOffs);

/* What the hand-made description points at. */
static struct {
  TcuModel tm;
  char dir[64], so_path[128], log_path[128];
  void *so;
  EmuLaunch launch;
  uint8_t *weights;
  KilnCudaLaunch *launches[2]; /* prefill, decode */
  KilnCudaDesc cuda;
  KilnModelDesc desc;
  int64_t vocab;
} g;

static const uint8_t fake_cubin[64] = "\x7f" "ELF fake cubin";
static const char fake_ptx[] = "//\n// fake PTX\n.version 9.0\n.target sm_90\n";

/* ---- the CPU entries: the emulated kernels on the runtime's host memory */

static int cpu_entry(const KilnCudaEntry *e, KilnExec *ex, const int32_t *tokens, int64_t T,
                     int64_t P, float *logits) {
  KilnSyms ks = {{0}};
  ks.s[g.cuda.sym_t] = T;
  ks.s[g.cuda.sym_p] = P;
  for (int i = 0; i < e->n; i++) {
    const KilnCudaLaunch *l = &e->launches[i];
    long long grid[3];
    for (int a = 0; a < 3; a++) {
      const KilnCudaExtent *x = &l->grid[a];
      long long prod = 1;
      for (int f = 0; f < x->n; f++) {
        long long v = x->f[f].c;
        for (int s = 0; s < KILN_CUDA_MAX_SYMS; s++) v += x->f[f].k[s] * ks.s[s];
        prod *= v;
      }
      grid[a] = (prod + x->div - 1) / x->div;
    }
    if (grid[0] <= 0 || grid[1] <= 0 || grid[2] <= 0) continue;
    EmuKernel k = (EmuKernel)dlsym(g.so, l->name);
    if (!k) return KILN_ERR_ARGS;
    KilnOffs ko;
    for (int o = 0; o < KILN_CUDA_MAX_OFFSETS; o++) ko.o[o] = l->offsets[o];
    g.launch(k, grid, (unsigned)l->block, ex->weights, ex->arena, ex->state, tokens, logits, ks, ko);
  }
  return KILN_OK;
}

static int cpu_prefill(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P, float *logits) {
  return cpu_entry(&g.cuda.prefill, ex, tokens, T, P, logits);
}

static int cpu_decode(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P, float *logits) {
  return cpu_entry(&g.cuda.decode, ex, tokens, T, P, logits);
}

/* ---- building the description ------------------------------------------ */

static bool compile_kernels(void) {
  char cu[128], cmd[1024];
  snprintf(g.dir, sizeof g.dir, "/tmp/kiln-rt-cuda-model-XXXXXX");
  if (!mkdtemp(g.dir)) return false;
  snprintf(cu, sizeof cu, "%s/model.cu", g.dir);
  snprintf(g.so_path, sizeof g.so_path, "%s/model.so", g.dir);
  snprintf(g.log_path, sizeof g.log_path, "%s/driver.log", g.dir);
  if (!tcu_write(cu, g.tm.src.data)) return false;
  snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O1 -w -fPIC -shared -include %s -x c %s -o %s -lm",
           KILN_CUDA_HOST_HEADER, cu, g.so_path);
  if (system(cmd) != 0) {
    fprintf(stderr, "'%s' failed\n", cmd);
    return false;
  }
  g.so = dlopen(g.so_path, RTLD_NOW | RTLD_LOCAL);
  g.launch = g.so ? (EmuLaunch)dlsym(g.so, "kiln_emu_launch") : NULL;
  return g.launch != NULL;
}

static KilnCudaExtent extent_of(const CgCudaExtent *e) {
  KilnCudaExtent x = {.n = e->n, .div = e->div};
  for (int i = 0; i < e->n; i++) {
    x.f[i].c = e->f[i].c;
    for (int s = 0; s < KILN_CUDA_MAX_SYMS; s++) x.f[i].k[s] = e->f[i].k[s];
  }
  return x;
}

/* The launches of the plan entry named `name`, in order. */
static KilnCudaEntry entry_of(const char *name, int slot) {
  const KernelPlan *p = g.tm.plan;
  int e = -1;
  for (int i = 0; i < p->nentries; i++)
    if (strcmp(p->entries[i].func->name, name) == 0) e = i;
  KilnCudaLaunch *ls = calloc((size_t)g.tm.cuda.nkernels + 1, sizeof *ls);
  int n = 0;
  for (int k = 0; k < g.tm.cuda.nkernels; k++) {
    const CgCudaKernel *kr = &g.tm.cuda.kernels[k];
    if (kr->entry != e) continue;
    ls[n] = (KilnCudaLaunch){.name = kr->name, .block = kr->block, .smem_bytes = (int32_t)kr->smem_bytes,
                             .noffsets = kr->noffs};
    for (int o = 0; o < kr->noffs; o++) ls[n].offsets[o] = kr->offs[o];
    for (int a = 0; a < 3; a++) ls[n].grid[a] = extent_of(&kr->grid[a]);
    n++;
  }
  g.launches[slot] = ls;
  return (KilnCudaEntry){ls, n};
}

static int sym_index(const char *name) {
  const IrModule *m = g.tm.plan->module;
  for (int s = 0; s < m->nsyms; s++)
    if (strcmp(m->syms[s].name, name) == 0) return s;
  return -1;
}

static bool build_desc(void) {
  const KernelPlan *p = g.tm.plan;
  IrDiag d = {0};
  g.weights = aligned_alloc(64, (size_t)(p->weights_bytes + 63) / 64 * 64 + 64);
  if (!cg_pack_weights(p, checkpoint_source, g.tm.md.weights, g.weights, &d)) {
    fprintf(stderr, "%s\n", d.msg);
    return false;
  }
  g.cuda = (KilnCudaDesc){.gpu_arch = "sm_90", .cubin = fake_cubin, .cubin_bytes = sizeof fake_cubin,
                          .ptx = fake_ptx, .ptx_bytes = strlen(fake_ptx),
                          .prefill = entry_of("prefill", 0), .decode = entry_of("decode", 1),
                          .nsyms = p->module->nsyms, .sym_t = sym_index("T"), .sym_p = sym_index("P")};
  g.desc = (KilnModelDesc){
      .abi_version = KILN_ABI_VERSION, .kiln_version = kiln_runtime_version(), .model_hash = 42,
      .model_name = "tiny-llama-cuda", .vocab = g.vocab, .max_context = 32, .max_tokens = 8,
      .bos_id = -1, .eos_id = -1, .arena_bytes = p->arena_bytes, .state_bytes = p->state_bytes,
      .weights_bytes = p->weights_bytes,
      .weights_checksum = kiln_hash64(g.weights, p->weights_bytes, KILN_HASH_SEED),
      .embedded_weights = g.weights, .prefill = cpu_prefill, .decode = cpu_decode,
      .all_logits = 1, .cuda = &g.cuda};
  return g.cuda.sym_t >= 0 && g.cuda.sym_p >= 0 && g.cuda.prefill.n > 0 && g.cuda.decode.n > 0;
}

/* ---- the reference ------------------------------------------------------- */

typedef struct {
  float *logits[4]; /* the interpreter's: prefill (7 x vocab), then 3 decodes */
} Reference;

static const int32_t prompt[7] = {1, 5, 9, 2, 7, 3, 4}, steps[3] = {6, 8, 1};

static float *interp_call(IrInterp *it, const char *entry, const int32_t *tok, int64_t T,
                          int64_t P, int64_t *n) {
  int64_t syms[IR_MAX_SYMS] = {0};
  const IrModule *m = g.tm.ref;
  for (int s = 0; s < m->nsyms; s++) {
    if (strcmp(m->syms[s].name, "T") == 0) syms[s] = T;
    if (strcmp(m->syms[s].name, "P") == 0) syms[s] = P;
  }
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){T});
  for (int64_t i = 0; i < T; i++) in.i[i] = tok[i];
  IrTensor *outs = NULL;
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(it, entry, syms, &in, 1, &outs, &nout, &d);
  ir_tensor_free(&in);
  if (!ok) {
    fprintf(stderr, "interpreter: %s\n", d.msg);
    return NULL;
  }
  *n = ir_tensor_numel(&outs[0]);
  float *r = malloc(sizeof(float) * (size_t)*n);
  for (int64_t i = 0; i < *n; i++) r[i] = outs[0].f[i];
  ir_tensors_free(outs, nout);
  return r;
}

static bool reference(Reference *ref) {
  IrDiag d = {0};
  IrInterp *it = ir_interp_new(g.tm.ref, &d);
  bool ok = it && fe_bind_weights(it, g.tm.ref, g.tm.md.weights, &d);
  int64_t n = 0;
  for (int i = 0; ok && i < 4; i++) {
    ref->logits[i] = i == 0 ? interp_call(it, "prefill", prompt, 7, 0, &n)
                            : interp_call(it, "decode", &steps[i - 1], 1, 6 + i, &n);
    ok = ref->logits[i] != NULL;
    if (ok && i == 0) g.vocab = n / 7;
  }
  ir_interp_free(it);
  return ok;
}

/* ---- running ------------------------------------------------------------- */

static void compare(const char *what, const float *got, const float *want, int64_t n) {
  double scale = 1;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(want[i]) && fabs(want[i]) > scale) scale = fabs(want[i]);
  check_count++;
  for (int64_t i = 0; i < n; i++)
    if (!(fabs((double)got[i] - want[i]) <= TOL * scale)) {
      check_failures++;
      fprintf(stderr, "%s: logit %lld is %.9g, the interpreter gives %.9g\n", what, (long long)i,
              got[i], want[i]);
      return;
    }
}

/* The 4 calls on `device`; the last position's logits of each in out[4]. */
static bool run_calls(KilnDevice device, float *out[4]) {
  char err[1024];
  KilnOptions o = {.device = device, .cuda_driver = KILN_FAKE_CUDA};
  KilnModel *m = kiln_init(&g.desc, &o, err, sizeof err);
  if (!m) {
    fprintf(stderr, "kiln_init: %s\n", err);
    return false;
  }
  CHECK(kiln_device(m) == device);
  CHECK(strcmp(kiln_device_name(m), device == KILN_DEVICE_CUDA ? FAKE_NAME : "cpu") == 0);
  bool ok = true;
  for (int i = 0; ok && i < 4; i++) {
    int st = i == 0 ? kiln_prefill(m, prompt, 7) : kiln_decode(m, steps[i - 1]);
    ok = st == KILN_OK;
    if (!ok) fprintf(stderr, "call %d: %s\n", i, kiln_last_error(m));
    out[i] = malloc(sizeof(float) * (size_t)g.vocab);
    if (ok) memcpy(out[i], kiln_logits(m), sizeof(float) * (size_t)g.vocab);
  }
  CHECK(!ok || kiln_position(m) == 10);
  kiln_free(m);
  return ok;
}

static bool log_has(const char *line) {
  FILE *f = fopen(g.log_path, "r");
  char buf[256];
  bool found = false;
  while (f && !found && fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\n")] = 0;
    found = strncmp(buf, line, strlen(line)) == 0;
  }
  if (f) fclose(f);
  return found;
}

/* The device and the CPU path against the interpreter, and each other. */
static void test_logits(const Reference *ref, bool reject_cubin) {
  unlink(g.log_path);
  setenv("KILN_FAKE_CUDA_LOG", g.log_path, 1);
  if (reject_cubin) setenv("KILN_FAKE_CUDA_REJECT_CUBIN", "1", 1);
  float *gpu[4] = {0}, *cpu[4] = {0};
  bool ok = run_calls(KILN_DEVICE_CUDA, gpu) && run_calls(KILN_DEVICE_CPU, cpu);
  CHECK(ok);
  for (int i = 0; ok && i < 4; i++) {
    char what[64];
    snprintf(what, sizeof what, "call %d on the device%s", i, reject_cubin ? " (PTX)" : "");
    /* prefill: the interpreter gives all 7 rows; the API the last */
    compare(what, gpu[i], ref->logits[i] + (i == 0 ? 6 * g.vocab : 0), g.vocab);
    CHECK(memcmp(gpu[i], cpu[i], sizeof(float) * (size_t)g.vocab) == 0);
  }
  for (int i = 0; i < 4; i++) free(gpu[i]), free(cpu[i]);
  CHECK(log_has("init"));
  CHECK(log_has("launch kiln_k"));
  if (reject_cubin) {
    CHECK(log_has("load cubin: rejected"));
    CHECK(log_has("load ptx"));
  } else {
    CHECK(log_has("load cubin") && !log_has("load cubin: rejected"));
    CHECK(!log_has("load ptx"));
  }
  unsetenv("KILN_FAKE_CUDA_REJECT_CUBIN");
  unsetenv("KILN_FAKE_CUDA_LOG");
}

/* kiln_init fails on `desc` with a message that contains `want`. */
static void expect_init_error(const KilnModelDesc *desc, const char *driver, const char *want) {
  char err[1024] = "";
  KilnOptions o = {.device = KILN_DEVICE_CUDA, .cuda_driver = driver};
  KilnModel *m = kiln_init(desc, &o, err, sizeof err);
  CHECK(m == NULL);
  CHECK_STR_CONTAINS(err, want);
  kiln_free(m);
}

static void test_errors(void) {
  KilnModelDesc cpu_only = g.desc;
  cpu_only.cuda = NULL;
  char err[1024] = "";
  expect_init_error(&cpu_only, KILN_FAKE_CUDA,
                    "this model was compiled for the CPU only; compile it with --device=cuda to run "
                    "it on a GPU");
  expect_init_error(&g.desc, "/nonexistent/libcuda.so.1",
                    "no CUDA driver found (/nonexistent/libcuda.so.1: cannot open shared object file");
  setenv("KILN_FAKE_CUDA_NO_DEVICE", "1", 1);
  expect_init_error(&g.desc, KILN_FAKE_CUDA,
                    "no CUDA GPU found (cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device "
                    "is detected (CUDA error 100))");
  unsetenv("KILN_FAKE_CUDA_NO_DEVICE");

  /* neither image runs: both reasons are given */
  unsetenv("KILN_FAKE_CUDA_KERNELS");
  setenv("KILN_FAKE_CUDA_REJECT_CUBIN", "1", 1);
  expect_init_error(&g.desc, KILN_FAKE_CUDA,
                    "the GPU (" FAKE_NAME ") runs neither the sm_90 CUBIN (cuModuleLoadData failed: "
                    "CUDA_ERROR_NO_BINARY_FOR_GPU: no kernel image is available for execution on the "
                    "device (CUDA error 209)) nor the PTX (cuModuleLoadData failed: "
                    "CUDA_ERROR_FILE_NOT_FOUND: file not found (CUDA error 301))");
  unsetenv("KILN_FAKE_CUDA_REJECT_CUBIN");
  setenv("KILN_FAKE_CUDA_KERNELS", g.so_path, 1);

  KilnOptions other = {.device = (KilnDevice)7};
  CHECK(kiln_init(&g.desc, &other, err, sizeof err) == NULL);
  CHECK(strcmp(err, "unknown device 7 (expected KILN_DEVICE_CPU or KILN_DEVICE_CUDA)") == 0);

  /* the launch table is checked even for the CPU */
  KilnCudaDesc bad = g.cuda;
  KilnCudaLaunch l = g.cuda.decode.launches[0];
  l.block = 2048;
  bad.decode = (KilnCudaEntry){&l, 1};
  KilnModelDesc d = g.desc;
  d.cuda = &bad;
  KilnOptions cpu = {.device = KILN_DEVICE_CPU};
  CHECK(kiln_init(&d, &cpu, err, sizeof err) == NULL);
  CHECK(strcmp(err, "the CUDA kernels are invalid: a block size outside [1, 1024]") == 0);
  l.block = 256;
  l.grid[1].div = 0;
  CHECK(kiln_init(&d, &cpu, err, sizeof err) == NULL);
  CHECK(strcmp(err, "the CUDA kernels are invalid: a grid divisor < 1") == 0);
  l.grid[1].div = 1;
  l.noffsets = KILN_CUDA_MAX_OFFSETS + 1;
  CHECK(kiln_init(&d, &cpu, err, sizeof err) == NULL);
  CHECK(strcmp(err, "the CUDA kernels are invalid: an offset count outside [0, 16]") == 0);
  bad = g.cuda;
  bad.sym_p = bad.nsyms;
  CHECK(kiln_init(&d, &cpu, err, sizeof err) == NULL);
  CHECK(strcmp(err, "the CUDA kernels are invalid: sym_p outside [-1, nsyms)") == 0);
  bad = g.cuda;
  bad.cubin = NULL, bad.ptx = NULL;
  CHECK(kiln_init(&d, &cpu, err, sizeof err) == NULL);
  CHECK(strcmp(err, "the CUDA kernels are invalid: neither a CUBIN nor PTX") == 0);
}

/* A kernel the image lacks fails the call; the position stays. */
static void test_launch_failure(void) {
  KilnCudaDesc c = g.cuda;
  KilnCudaLaunch *ls = malloc(sizeof *ls * (size_t)c.prefill.n);
  memcpy(ls, c.prefill.launches, sizeof *ls * (size_t)c.prefill.n);
  ls[c.prefill.n - 1].name = "kiln_k9999";
  c.prefill.launches = ls;
  KilnModelDesc d = g.desc;
  d.cuda = &c;
  char err[1024];
  KilnOptions o = {.device = KILN_DEVICE_CUDA, .cuda_driver = KILN_FAKE_CUDA};
  KilnModel *m = kiln_init(&d, &o, err, sizeof err);
  CHECK(m != NULL);
  if (m) {
    CHECK(kiln_prefill(m, prompt, 7) == KILN_ERR_DEVICE);
    CHECK(strcmp(kiln_last_error(m), "the GPU (" FAKE_NAME ") failed in the prefill entry: "
                                     "kiln_k9999 failed: CUDA_ERROR_NOT_FOUND: named symbol not "
                                     "found (CUDA error 500)") == 0);
    CHECK(kiln_position(m) == 0);
    CHECK(kiln_decode(m, 40000) == KILN_ERR_TOKEN); /* checked before the device sees it */
    CHECK(kiln_decode(m, 3) == KILN_OK);            /* the decode table is intact */
    CHECK(kiln_position(m) == 1);
  }
  kiln_free(m);
  free(ls);
}

int main(void) {
  Reference ref = {{0}};
  bool ok = tcu_load(&g.tm, "llama", 1) && reference(&ref) && compile_kernels() && build_desc();
  CHECK(ok);
  if (ok) {
    setenv("KILN_FAKE_CUDA_KERNELS", g.so_path, 1);
    test_logits(&ref, false);
    test_logits(&ref, true);
    test_errors();
    test_launch_failure();
  }
  for (int i = 0; i < 4; i++) free(ref.logits[i]);
  free(g.launches[0]);
  free(g.launches[1]);
  free(g.weights);
  if (g.so) dlclose(g.so);
  unlink(g.so_path);
  unlink(g.log_path);
  char cu[128];
  snprintf(cu, sizeof cu, "%s/model.cu", g.dir);
  unlink(cu);
  if (g.dir[0]) rmdir(g.dir);
  tcu_free(&g.tm);
  return check_report();
}
#else
int main(void) {
  printf("needs kiln built with LLVM (weights are packed by codegen/cg_weights.c); skipped\n");
  return 0;
}
#endif
