/* test_rt_cuda.c: the CUDA runtime's loader, and the tiny models on a GPU
 * when there is one.
 *
 * Everywhere: a missing driver library gives "no CUDA driver found (...)";
 * the toolkit's stub libcuda (lib64/stubs, present with the CUDA toolkit
 * but not a driver) gives "no CUDA GPU found (cuInit failed: ...)".
 *
 * With a GPU (libcuda.so.1 and a device) and NVRTC: every tiny model's
 * kernels, compiled to PTX for compute_80 (the driver JITs it for the
 * device), run prefill of 7 tokens and 3 decode steps on the GPU; the
 * logits must equal the interpreter's within 1e-4 relative, as on the host
 * (test_cuda_host.c). Without a GPU that part is reported as not run,
 * and is a failure when KILN_REQUIRE_GPU=1 (tests/gpu/run.sh sets it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "rt_cuda.h"

#if KILN_HAVE_LLVM
#include "cg_nvrtc.h"
#include "cg_weights.h"
#include "interp.h"
#include "test_cuda_util.h"
#include "test_checkpoint.h"

#define GPU_TOL 1e-4

typedef struct {
  RtCuda *cu;
  TcuModel *tm;
  RtCudaBuffers b;
  IrInterp *it;
} GpuModel;

static void syms_of(const IrModule *m, int64_t T, int64_t P, int64_t *syms) {
  for (int s = 0; s < 8; s++) syms[s] = 0;
  for (int s = 0; s < m->nsyms; s++) {
    if (strcmp(m->syms[s].name, "T") == 0) syms[s] = T;
    if (strcmp(m->syms[s].name, "P") == 0) syms[s] = P;
  }
}

/* One call of entry e on the GPU; the logits in a malloc'd array. */
static float *gpu_call(GpuModel *g, int e, const int32_t *tok, int64_t T, int64_t P, int64_t n) {
  char err[512];
  int64_t syms[8];
  syms_of(g->tm->plan->module, T, P, syms);
  bool ok = rt_cuda_copy_to(g->cu, g->b.tokens, tok, sizeof(int32_t) * (size_t)T, err, sizeof err);
  for (int k = 0; ok && k < g->tm->cuda.nkernels; k++) {
    const CgCudaKernel *kr = &g->tm->cuda.kernels[k];
    if (kr->entry != e) continue;
    int64_t grid[3];
    cg_cuda_grid(kr, syms, grid);
    ok = rt_cuda_launch(g->cu, kr->name, grid, kr->block, &g->b, syms, kr->offs, err, sizeof err);
  }
  float *out = malloc(sizeof(float) * (size_t)n);
  ok = ok && rt_cuda_sync(g->cu, err, sizeof err) &&
       rt_cuda_copy_from(g->cu, out, g->b.logits, sizeof(float) * (size_t)n, err, sizeof err);
  if (!ok) {
    fprintf(stderr, "%s: %s\n", g->tm->name, err);
    free(out);
    return NULL;
  }
  return out;
}

static float *interp_call(GpuModel *g, const char *entry, const int32_t *tok, int64_t T, int64_t P, int64_t *n) {
  int64_t syms[IR_MAX_SYMS] = {0};
  syms_of(g->tm->ref, T, P, syms);
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){T});
  for (int64_t i = 0; i < T; i++) in.i[i] = tok[i];
  IrTensor *outs = NULL;
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(g->it, entry, syms, &in, 1, &outs, &nout, &d);
  ir_tensor_free(&in);
  if (!ok) return NULL;
  *n = ir_tensor_numel(&outs[0]);
  float *r = malloc(sizeof(float) * (size_t)*n);
  for (int64_t i = 0; i < *n; i++) r[i] = outs[0].f[i];
  ir_tensors_free(outs, nout);
  return r;
}

static void compare(const char *what, const float *got, const float *want, int64_t n) {
  double scale = 1;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(want[i]) && fabs(want[i]) > scale) scale = fabs(want[i]);
  for (int64_t i = 0; i < n; i++) {
    if (fabs((double)got[i] - want[i]) <= GPU_TOL * scale) continue;
    check_count++;
    check_failures++;
    fprintf(stderr, "%s: logit %lld is %.9g on the GPU, %.9g in the interpreter\n", what, (long long)i, got[i],
            want[i]);
    return;
  }
  check_count++;
}

static bool gpu_setup(GpuModel *g, CgNvrtc *nv) {
  char err[512];
  IrDiag d = {0};
  CgNvrtcOutput out;
  const KernelPlan *p = g->tm->plan;
  uint8_t *blob = calloc(1, (size_t)p->weights_bytes + 64);
  bool ok = cg_pack_weights(p, checkpoint_source, g->tm->md.weights, blob, &d) &&
            cg_nvrtc_compile(nv, g->tm->src.data, "model.cu", "sm_80", false, &out, &d);
  if (!ok) {
    fprintf(stderr, "%s: %s\n", g->tm->name, d.msg);
    free(blob);
    return false;
  }
  uint8_t *zeros = calloc(1, (size_t)p->state_bytes + 64);
  ok = rt_cuda_load(g->cu, out.ptx, err, sizeof err) &&
       rt_cuda_alloc(g->cu, p->weights_bytes, &g->b.weights, err, sizeof err) &&
       rt_cuda_alloc(g->cu, p->arena_bytes, &g->b.arena, err, sizeof err) &&
       rt_cuda_alloc(g->cu, p->state_bytes, &g->b.state, err, sizeof err) &&
       rt_cuda_alloc(g->cu, 4096, &g->b.tokens, err, sizeof err) &&
       rt_cuda_alloc(g->cu, 64 << 20, &g->b.logits, err, sizeof err) &&
       rt_cuda_copy_to(g->cu, g->b.weights, blob, p->weights_bytes, err, sizeof err) &&
       rt_cuda_copy_to(g->cu, g->b.state, zeros, p->state_bytes, err, sizeof err);
  if (!ok) fprintf(stderr, "%s: %s\n", g->tm->name, err);
  cg_nvrtc_output_free(&out);
  free(blob);
  free(zeros);
  g->it = ok ? ir_interp_new(g->tm->ref, &d) : NULL;
  return g->it && fe_bind_weights(g->it, g->tm->ref, g->tm->md.weights, &d);
}

static void gpu_free(GpuModel *g) {
  rt_cuda_free(g->cu, g->b.weights);
  rt_cuda_free(g->cu, g->b.arena);
  rt_cuda_free(g->cu, g->b.state);
  rt_cuda_free(g->cu, g->b.tokens);
  rt_cuda_free(g->cu, g->b.logits);
  ir_interp_free(g->it);
}

static void gpu_model(RtCuda *cu, CgNvrtc *nv, const char *name, int level) {
  TcuModel tm;
  GpuModel g = {.cu = cu, .tm = &tm};
  bool ok = tcu_load(&tm, name, level) && gpu_setup(&g, nv);
  CHECK(ok);
  int32_t prompt[7] = {1, 5, 9, 2, 7, 3, 4}, step[3] = {6, 8, 1};
  for (int i = 0; ok && i < 4; i++) {
    const char *entry = i == 0 ? "prefill" : "decode";
    const int32_t *tok = i == 0 ? prompt : &step[i - 1];
    int64_t T = i == 0 ? 7 : 1, P = i == 0 ? 0 : 6 + i, n = 0;
    int e = strcmp(tm.plan->entries[0].func->name, entry) == 0 ? 0 : 1;
    float *want = interp_call(&g, entry, tok, T, P, &n);
    float *got = want ? gpu_call(&g, e, tok, T, P, n) : NULL;
    CHECK(want && got);
    char what[128];
    snprintf(what, sizeof what, "%s call %d (@%s T=%lld P=%lld)", tm.name, i, entry, (long long)T, (long long)P);
    if (want && got) compare(what, got, want, n);
    free(want);
    free(got);
  }
  if (ok) printf("%-16s ran on the GPU\n", tm.name);
  gpu_free(&g);
  tcu_free(&tm);
}

static void on_gpu(RtCuda *cu) {
  IrDiag d = {0};
  CgNvrtc *nv = cg_nvrtc_open(NULL, &d);
  if (!nv) {
    printf("a GPU but no NVRTC: %s\n", d.msg);
    return;
  }
  char *names[64];
  int n = tcu_model_names(names, 64);
  for (int i = 0; i < n; i++) {
    for (int level = 0; level < TCU_LEVELS; level++)
      if (tcu_level_differs(level)) gpu_model(cu, nv, names[i], level);
    free(names[i]);
  }
  cg_nvrtc_close(nv);
}
#else
static void on_gpu(RtCuda *cu) {
  (void)cu;
  printf("the GPU part needs kiln built with LLVM (weights are packed by codegen/cg_weights.c)\n");
}
#endif

int main(void) {
  char err[512];
  CHECK(rt_cuda_open("libkiln-no-such-cuda.so.1", 0, err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "no CUDA driver found (libkiln-no-such-cuda.so.1");
  /* the stub (soname libcuda.so.1) is unloaded after its failed open, so
   * the driver is still found below */
  const char *stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (access(stub, R_OK) == 0) {
    CHECK(rt_cuda_open(stub, 0, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "no CUDA GPU found (cuInit failed: ");
  }
  RtCuda *cu = rt_cuda_open(NULL, 0, err, sizeof err);
  if (!cu) {
    CHECK(strncmp(err, "no CUDA driver found (", 22) == 0 || strncmp(err, "no CUDA GPU found (", 19) == 0);
    printf("no GPU here, the GPU checks did not run: %s\n", err);
    const char *require = getenv("KILN_REQUIRE_GPU");
    CHECK(!require || strcmp(require, "1") != 0);
  } else {
    printf("GPU: %s\n", rt_cuda_device_name(cu));
    on_gpu(cu);
    rt_cuda_close(cu);
  }
  return check_report();
}
