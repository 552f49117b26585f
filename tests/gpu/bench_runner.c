/* bench_runner.c: where the kernels run. On a GPU every call goes to
 * runtime/rt_cuda.c; on the host (check --host) the emitted source is
 * compiled as C against kiln_cuda_host.h, as test_cuda_host.c does, and the
 * "device" addresses are host pointers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void *host_ptr(unsigned long long p) { return (void *)(uintptr_t)p; }

bool run_alloc(Runner *r, uint64_t bytes, unsigned long long *p) {
  if (!r->host) return rt_cuda_alloc(r->cu, (size_t)bytes, p, r->err, sizeof r->err);
  void *m = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64 + 64));
  if (!m) {
    snprintf(r->err, sizeof r->err, "out of host memory (%llu bytes)", (unsigned long long)bytes);
    return false;
  }
  *p = (unsigned long long)(uintptr_t)m;
  return true;
}

void run_free(Runner *r, unsigned long long p) {
  if (!p) return;
  if (r->host)
    free(host_ptr(p));
  else
    rt_cuda_free(r->cu, p);
}

bool run_to(Runner *r, unsigned long long dst, const void *src, uint64_t bytes) {
  if (!r->host) return rt_cuda_copy_to(r->cu, dst, src, (size_t)bytes, r->err, sizeof r->err);
  memcpy(host_ptr(dst), src, (size_t)bytes);
  return true;
}

bool run_from(Runner *r, void *dst, unsigned long long src, uint64_t bytes) {
  if (!r->host) return rt_cuda_copy_from(r->cu, dst, src, (size_t)bytes, r->err, sizeof r->err);
  memcpy(dst, host_ptr(src), (size_t)bytes);
  return true;
}

bool run_memset(Runner *r, unsigned long long dst, int byte, uint64_t bytes) {
  if (!r->host) return rt_cuda_memset(r->cu, dst, (unsigned char)byte, (size_t)bytes, r->err, sizeof r->err);
  memset(host_ptr(dst), byte, (size_t)bytes);
  return true;
}

bool run_kernel(Runner *r, int k, const int64_t *syms, const RtCudaBuffers *b) {
  const CgCudaKernel *kr = &r->cuda->kernels[k];
  int64_t g[3];
  cg_cuda_grid(kr, syms, g);
  if (!r->host) return rt_cuda_launch(r->cu, kr->name, g, kr->block, b, syms, kr->offs, r->err, sizeof r->err);
  if (g[0] == 0 || g[1] == 0 || g[2] == 0) return true;
  KilnSyms ks;
  for (int s = 0; s < IR_MAX_SYMS; s++) ks.s[s] = syms[s];
  KilnOffs ko = {{0}};
  for (int i = 0; i < kr->noffs; i++) ko.o[i] = kr->offs[i];
  long long grid[3] = {g[0], g[1], g[2]};
  r->launch(r->fns[k], grid, (unsigned)kr->block, host_ptr(b->weights), host_ptr(b->arena), host_ptr(b->state),
            host_ptr(b->tokens), host_ptr(b->logits), ks, ko);
  return true;
}

bool run_sync(Runner *r) { return r->host || rt_cuda_sync(r->cu, r->err, sizeof r->err); }

static bool write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

/* The emitted source as a shared object, every kernel bound. */
static bool host_load(Runner *r, const char *src, const CgCudaModule *cuda) {
  char dir[] = "/tmp/kiln-gpu-bench-XXXXXX", cu[128], so[128], cmd[1024];
  if (!mkdtemp(dir)) {
    snprintf(r->err, sizeof r->err, "cannot make a temporary directory");
    return false;
  }
  snprintf(cu, sizeof cu, "%s/m.cu", dir);
  snprintf(so, sizeof so, "%s/m.so", dir);
  snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O1 -w -fPIC -shared -include %s -x c %s -o %s -lm",
           KILN_CUDA_HOST_HEADER, cu, so);
  bool ok = write_text(cu, src) && system(cmd) == 0;
  r->so = ok ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
  unlink(cu);
  unlink(so);
  rmdir(dir);
  if (!r->so) {
    snprintf(r->err, sizeof r->err, "'%.900s' failed", cmd);
    return false;
  }
  r->launch = (BenchEmuLaunch)dlsym(r->so, "kiln_emu_launch");
  r->fns = calloc((size_t)cuda->nkernels + 1, sizeof *r->fns);
  if (!r->fns) abort();
  ok = r->launch != NULL;
  for (int k = 0; k < cuda->nkernels && ok; k++)
    if (!(r->fns[k] = (BenchEmuKernel)dlsym(r->so, cuda->kernels[k].name))) {
      snprintf(r->err, sizeof r->err, "the host build lacks %s", cuda->kernels[k].name);
      ok = false;
    }
  return ok;
}

bool run_load(Runner *r, const char *src, const void *image, const CgCudaModule *cuda) {
  r->cuda = cuda;
  if (r->host) return host_load(r, src, cuda);
  return rt_cuda_load(r->cu, image, r->err, sizeof r->err);
}

void run_unload(Runner *r) {
  if (r->so) dlclose(r->so);
  free(r->fns);
  r->so = NULL;
  r->fns = NULL;
  r->cuda = NULL;
}
