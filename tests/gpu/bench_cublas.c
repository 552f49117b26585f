/* bench_cublas.c: cuBLAS through dlopen, the reference for kiln's matmul.
 * Tried in order: $KILN_CUBLAS, libcublas.so.13, .so.12, libcublas.so,
 * the CUDA toolkit's lib64, then pip's nvidia-cublas package under the
 * Python site-packages directories. cuBLAS takes the current context (the
 * primary context rt_cuda_open made current) and the default stream, so
 * its work is ordered with kiln's launches. */
#include <dlfcn.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* cublas_api.h and library_types.h values (stable across CUDA 11 to 13) */
enum { OP_N = 0, OP_T = 1, R_32F = 0, R_16BF = 14, COMPUTE_32F = 68, GEMM_DEFAULT = -1 };

typedef int (*CublasCreate)(void **);
typedef int (*CublasDestroy)(void *);
typedef int (*CublasGemmEx)(void *, int, int, int, int, int, const void *, const void *, int, int, const void *,
                            int, int, const void *, void *, int, int, int, int);

struct BenchCublas {
  void *lib, *handle;
  CublasDestroy destroy;
  CublasGemmEx gemm;
};

static void *open_glob(const char *pattern, char *path, size_t pathlen) {
  glob_t g;
  void *lib = NULL;
  if (glob(pattern, 0, NULL, &g) != 0) return NULL;
  for (size_t i = 0; i < g.gl_pathc && !lib; i++)
    if ((lib = dlopen(g.gl_pathv[i], RTLD_NOW | RTLD_LOCAL))) snprintf(path, pathlen, "%s", g.gl_pathv[i]);
  globfree(&g);
  return lib;
}

static void *find_cublas(char *path, size_t pathlen) {
  const char *env = getenv("KILN_CUBLAS");
  const char *names[] = {env, "libcublas.so.13", "libcublas.so.12", "libcublas.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    void *lib = names[i] && *names[i] ? dlopen(names[i], RTLD_NOW | RTLD_LOCAL) : NULL;
    if (lib) {
      snprintf(path, pathlen, "%s", names[i]);
      return lib;
    }
  }
  const char *patterns[] = {
      "/usr/local/cuda/lib64/libcublas.so.1[0-9]*",
      "/usr/local/cuda/targets/*/lib/libcublas.so.1[0-9]*",
      "/usr/local/lib/python3*/dist-packages/nvidia/cu*/lib/libcublas.so.*",
      "/usr/local/lib/python3*/site-packages/nvidia/cu*/lib/libcublas.so.*",
      "/usr/lib/python3*/dist-packages/nvidia/cu*/lib/libcublas.so.*",
      "/usr/local/lib/python3*/dist-packages/nvidia/cublas/lib/libcublas.so.*",
      "/usr/local/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.*",
      "/usr/lib/python3*/dist-packages/nvidia/cublas/lib/libcublas.so.*",
      "/opt/conda/lib/libcublas.so.*",
  };
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
    void *lib = open_glob(patterns[i], path, pathlen);
    if (lib) return lib;
  }
  return NULL;
}

BenchCublas *cublas_open(char *err, size_t errlen, char *path, size_t pathlen) {
  void *lib = find_cublas(path, pathlen);
  if (!lib) {
    snprintf(err, errlen, "libcublas not found (tried $KILN_CUBLAS, libcublas.so.13/.12, the CUDA toolkit's "
                          "lib64 and pip's nvidia-cublas)");
    return NULL;
  }
  CublasCreate create = (CublasCreate)dlsym(lib, "cublasCreate_v2");
  BenchCublas *cb = calloc(1, sizeof *cb);
  if (!cb) abort();
  cb->lib = lib;
  cb->destroy = (CublasDestroy)dlsym(lib, "cublasDestroy_v2");
  cb->gemm = (CublasGemmEx)dlsym(lib, "cublasGemmEx");
  int rc = create && cb->gemm ? create(&cb->handle) : -1;
  if (rc != 0) {
    snprintf(err, errlen, "%s: %s", path, rc == -1 ? "lacks cublasCreate_v2 or cublasGemmEx" : "cublasCreate failed");
    free(cb);
    return NULL;
  }
  return cb;
}

bool cublas_matmul(BenchCublas *cb, bool bf16, int M, int N, int K, unsigned long long a, unsigned long long w,
                   unsigned long long c, char *err, size_t errlen) {
  /* Column-major, C^T [N, M] = W [N, K] (stored as W^T, ld K) x A^T [K, M]. */
  float alpha = 1, beta = 0;
  int t = bf16 ? R_16BF : R_32F;
  int rc = cb->gemm(cb->handle, OP_T, OP_N, N, M, K, &alpha, (const void *)(uintptr_t)w, t, K,
                    (const void *)(uintptr_t)a, t, K, &beta, (void *)(uintptr_t)c, R_32F, N, COMPUTE_32F,
                    GEMM_DEFAULT);
  if (rc != 0) snprintf(err, errlen, "cublasGemmEx (%dx%dx%d %s) failed: status %d", M, N, K, bf16 ? "bf16" : "f32", rc);
  return rc == 0;
}

void cublas_close(BenchCublas *cb) {
  if (!cb) return;
  if (cb->destroy) cb->destroy(cb->handle);
  free(cb);
}
