/* rt_cuda.c: the CUDA driver API through dlopen (rt_cuda.h). Only the
 * entry points kiln uses are declared, with the driver's C ABI, so the
 * runtime builds without CUDA headers. The primary context is used
 * (cuDevicePrimaryCtxRetain), whose signature is the same in CUDA 12 and
 * 13, unlike cuCtxCreate's. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cuda.h"

typedef int CuResult; /* CUresult; 0 is CUDA_SUCCESS */
typedef int CuDevice;
typedef void *CuContext, *CuModule, *CuFunction, *CuStream;

#define RT_CUDA_MAX_FUNCS 4096

struct RtCuda {
  void *lib;
  CuDevice dev;
  CuContext ctx;
  CuModule mod;
  char name[256];
  int nfuncs;
  char (*func_names)[32];
  CuFunction *funcs;
  CuResult (*init)(unsigned);
  CuResult (*device_count)(int *);
  CuResult (*device_get)(CuDevice *, int);
  CuResult (*device_name)(char *, int, CuDevice);
  CuResult (*ctx_retain)(CuContext *, CuDevice);
  CuResult (*ctx_release)(CuDevice);
  CuResult (*ctx_set)(CuContext);
  CuResult (*error_string)(CuResult, const char **);
  CuResult (*module_load)(CuModule *, const void *);
  CuResult (*module_unload)(CuModule);
  CuResult (*get_function)(CuFunction *, CuModule, const char *);
  CuResult (*mem_alloc)(unsigned long long *, size_t);
  CuResult (*mem_free)(unsigned long long);
  CuResult (*htod)(unsigned long long, const void *, size_t);
  CuResult (*dtoh)(void *, unsigned long long, size_t);
  CuResult (*launch)(CuFunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CuStream,
                     void **, void **);
  CuResult (*ctx_sync)(void);
  /* bound on first use by the benchmark helpers (rt_cuda_device_attr ...) */
  CuResult (*device_attr)(int *, int, CuDevice);
  CuResult (*mem_info)(size_t *, size_t *);
  CuResult (*driver_version)(int *);
  CuResult (*memset8)(unsigned long long, unsigned char, size_t);
  CuResult (*dtod)(unsigned long long, unsigned long long, size_t);
};

static bool fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && n) vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return false;
}

/* "CUDA_ERROR_OUT_OF_MEMORY: out of memory" or the number. */
static bool cu_fail(RtCuda *cu, CuResult r, const char *what, char *err, size_t n) {
  const char *s = NULL;
  if (cu->error_string && cu->error_string(r, &s) != 0) s = NULL;
  return fail(err, n, "%s failed: %s (CUDA error %d)", what, s ? s : "unknown error", r);
}

static bool bind_all(RtCuda *cu, char *err, size_t n) {
  struct {
    void **slot;
    const char *name;
  } fns[] = {
      {(void **)&cu->init, "cuInit"},
      {(void **)&cu->device_count, "cuDeviceGetCount"},
      {(void **)&cu->device_get, "cuDeviceGet"},
      {(void **)&cu->device_name, "cuDeviceGetName"},
      {(void **)&cu->ctx_retain, "cuDevicePrimaryCtxRetain"},
      {(void **)&cu->ctx_release, "cuDevicePrimaryCtxRelease_v2"},
      {(void **)&cu->ctx_set, "cuCtxSetCurrent"},
      {(void **)&cu->error_string, "cuGetErrorString"},
      {(void **)&cu->module_load, "cuModuleLoadData"},
      {(void **)&cu->module_unload, "cuModuleUnload"},
      {(void **)&cu->get_function, "cuModuleGetFunction"},
      {(void **)&cu->mem_alloc, "cuMemAlloc_v2"},
      {(void **)&cu->mem_free, "cuMemFree_v2"},
      {(void **)&cu->htod, "cuMemcpyHtoD_v2"},
      {(void **)&cu->dtoh, "cuMemcpyDtoH_v2"},
      {(void **)&cu->launch, "cuLaunchKernel"},
      {(void **)&cu->ctx_sync, "cuCtxSynchronize"},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!(*fns[i].slot = dlsym(cu->lib, fns[i].name)))
      return fail(err, n, "no CUDA driver found (the library lacks %s)", fns[i].name);
  return true;
}

/* Initializes the driver and takes device `ordinal`'s primary context. */
static bool start(RtCuda *cu, int ordinal, char *err, size_t n) {
  CuResult r = cu->init(0);
  if (r != 0) {
    cu_fail(cu, r, "cuInit", err, n);
    char why[200];
    snprintf(why, sizeof why, "%s", err ? err : "");
    return fail(err, n, "no CUDA GPU found (%s)", why);
  }
  int count = 0;
  if (cu->device_count(&count) != 0 || count <= ordinal || ordinal < 0)
    return fail(err, n, "no CUDA GPU found (%d devices, asked for device %d)", count, ordinal);
  if ((r = cu->device_get(&cu->dev, ordinal)) != 0) return cu_fail(cu, r, "cuDeviceGet", err, n);
  if (cu->device_name(cu->name, (int)sizeof cu->name, cu->dev) != 0) snprintf(cu->name, sizeof cu->name, "GPU");
  if ((r = cu->ctx_retain(&cu->ctx, cu->dev)) != 0) return cu_fail(cu, r, "cuDevicePrimaryCtxRetain", err, n);
  if ((r = cu->ctx_set(cu->ctx)) != 0) return cu_fail(cu, r, "cuCtxSetCurrent", err, n);
  return true;
}

RtCuda *rt_cuda_open(const char *lib_path, int ordinal, char *err, size_t errlen) {
  RtCuda *cu = calloc(1, sizeof *cu);
  if (!cu) abort();
  const char *path = lib_path ? lib_path : "libcuda.so.1";
  cu->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!cu->lib) {
    const char *why = dlerror();
    fail(err, errlen, "no CUDA driver found (%s)", why ? why : path);
    free(cu);
    return NULL;
  }
  if (!bind_all(cu, err, errlen) || !start(cu, ordinal, err, errlen)) {
    /* unloaded again: a stub or broken library must not stay in place of
     * a driver that a later rt_cuda_open("libcuda.so.1") should find */
    void *lib = cu->lib;
    rt_cuda_close(cu);
    dlclose(lib);
    return NULL;
  }
  return cu;
}

void rt_cuda_close(RtCuda *cu) {
  if (!cu) return;
  if (cu->mod) cu->module_unload(cu->mod);
  if (cu->ctx) cu->ctx_release(cu->dev);
  /* The driver stays loaded: it keeps threads and exit handlers of its
   * own, and unloading it under them is not supported. */
  free(cu->func_names);
  free(cu->funcs);
  free(cu);
}

const char *rt_cuda_device_name(const RtCuda *cu) { return cu->name; }

bool rt_cuda_load(RtCuda *cu, const void *image, char *err, size_t errlen) {
  if (cu->mod) cu->module_unload(cu->mod);
  cu->mod = NULL;
  cu->nfuncs = 0;
  CuResult r = cu->module_load(&cu->mod, image);
  return r == 0 || cu_fail(cu, r, "cuModuleLoadData", err, errlen);
}

bool rt_cuda_alloc(RtCuda *cu, size_t bytes, unsigned long long *dptr, char *err, size_t errlen) {
  CuResult r = cu->mem_alloc(dptr, bytes ? bytes : 64);
  return r == 0 || cu_fail(cu, r, "cuMemAlloc", err, errlen);
}

void rt_cuda_free(RtCuda *cu, unsigned long long dptr) {
  if (dptr) cu->mem_free(dptr);
}

bool rt_cuda_copy_to(RtCuda *cu, unsigned long long dst, const void *src, size_t bytes, char *err,
                     size_t errlen) {
  CuResult r = bytes ? cu->htod(dst, src, bytes) : 0;
  return r == 0 || cu_fail(cu, r, "cuMemcpyHtoD", err, errlen);
}

bool rt_cuda_copy_from(RtCuda *cu, void *dst, unsigned long long src, size_t bytes, char *err,
                       size_t errlen) {
  CuResult r = bytes ? cu->dtoh(dst, src, bytes) : 0;
  return r == 0 || cu_fail(cu, r, "cuMemcpyDtoH", err, errlen);
}

/* The function `name` of the loaded module, looked up once. */
static CuFunction function(RtCuda *cu, const char *name, char *err, size_t errlen) {
  for (int i = 0; i < cu->nfuncs; i++)
    if (strcmp(cu->func_names[i], name) == 0) return cu->funcs[i];
  if (!cu->func_names) {
    cu->func_names = calloc(RT_CUDA_MAX_FUNCS, sizeof *cu->func_names);
    cu->funcs = calloc(RT_CUDA_MAX_FUNCS, sizeof *cu->funcs);
    if (!cu->func_names || !cu->funcs) abort();
  }
  CuFunction f = NULL;
  CuResult r = cu->mod ? cu->get_function(&f, cu->mod, name) : 1;
  if (r != 0) {
    cu_fail(cu, r, name, err, errlen);
    return NULL;
  }
  if (cu->nfuncs < RT_CUDA_MAX_FUNCS && strlen(name) < sizeof cu->func_names[0]) {
    strcpy(cu->func_names[cu->nfuncs], name);
    cu->funcs[cu->nfuncs++] = f;
  }
  return f;
}

bool rt_cuda_launch(RtCuda *cu, const char *name, const int64_t grid[3], int block, const RtCudaBuffers *b,
                    const int64_t syms[8], const uint64_t offsets[KILN_CUDA_MAX_OFFSETS], char *err,
                    size_t errlen) {
  struct {
    long long s[8];
  } ks;
  for (int i = 0; i < 8; i++) ks.s[i] = syms[i];
  KilnCudaOffsets ko;
  for (int i = 0; i < KILN_CUDA_MAX_OFFSETS; i++) ko.o[i] = offsets[i];
  unsigned long long w = b->weights, a = b->arena, s = b->state, t = b->tokens, o = b->logits;
  void *params[7] = {&w, &a, &s, &t, &o, &ks, &ko};
  return rt_cuda_launch_params(cu, name, grid, block, 0, params, err, errlen);
}

bool rt_cuda_sync(RtCuda *cu, char *err, size_t errlen) {
  CuResult r = cu->ctx_sync();
  return r == 0 || cu_fail(cu, r, "cuCtxSynchronize", err, errlen);
}

/* ---- for benchmarks and test scaffolding ---------------------------------- */

/* Binds *slot to `name` on first use. */
static bool bind_late(RtCuda *cu, void **slot, const char *name, char *err, size_t errlen) {
  if (!*slot) *slot = dlsym(cu->lib, name);
  return *slot || fail(err, errlen, "the CUDA driver lacks %s", name);
}

bool rt_cuda_device_attr(RtCuda *cu, int attr, int *value, char *err, size_t errlen) {
  if (!bind_late(cu, (void **)&cu->device_attr, "cuDeviceGetAttribute", err, errlen)) return false;
  CuResult r = cu->device_attr(value, attr, cu->dev);
  return r == 0 || cu_fail(cu, r, "cuDeviceGetAttribute", err, errlen);
}

bool rt_cuda_mem_info(RtCuda *cu, size_t *free_bytes, size_t *total_bytes, char *err, size_t errlen) {
  if (!bind_late(cu, (void **)&cu->mem_info, "cuMemGetInfo_v2", err, errlen)) return false;
  CuResult r = cu->mem_info(free_bytes, total_bytes);
  return r == 0 || cu_fail(cu, r, "cuMemGetInfo", err, errlen);
}

bool rt_cuda_driver_version(RtCuda *cu, int *version, char *err, size_t errlen) {
  if (!bind_late(cu, (void **)&cu->driver_version, "cuDriverGetVersion", err, errlen)) return false;
  CuResult r = cu->driver_version(version);
  return r == 0 || cu_fail(cu, r, "cuDriverGetVersion", err, errlen);
}

bool rt_cuda_memset(RtCuda *cu, unsigned long long dst, unsigned char byte, size_t bytes, char *err,
                    size_t errlen) {
  if (!bind_late(cu, (void **)&cu->memset8, "cuMemsetD8_v2", err, errlen)) return false;
  CuResult r = bytes ? cu->memset8(dst, byte, bytes) : 0;
  return r == 0 || cu_fail(cu, r, "cuMemsetD8", err, errlen);
}

bool rt_cuda_copy_dtod(RtCuda *cu, unsigned long long dst, unsigned long long src, size_t bytes, char *err,
                       size_t errlen) {
  if (!bind_late(cu, (void **)&cu->dtod, "cuMemcpyDtoD_v2", err, errlen)) return false;
  CuResult r = bytes ? cu->dtod(dst, src, bytes) : 0;
  return r == 0 || cu_fail(cu, r, "cuMemcpyDtoD", err, errlen);
}

bool rt_cuda_launch_params(RtCuda *cu, const char *name, const int64_t grid[3], int block, unsigned smem,
                           void **params, char *err, size_t errlen) {
  if (grid[0] <= 0 || grid[1] <= 0 || grid[2] <= 0) return true;
  if (grid[0] > 0x7fffffff || grid[1] > 65535 || grid[2] > 65535)
    return fail(err, errlen, "%s: grid %lld x %lld x %lld exceeds the GPU's limits", name, (long long)grid[0],
                (long long)grid[1], (long long)grid[2]);
  CuFunction f = function(cu, name, err, errlen);
  if (!f) return false;
  CuResult r = cu->launch(f, (unsigned)grid[0], (unsigned)grid[1], (unsigned)grid[2], (unsigned)block, 1, 1, smem,
                          NULL, params, NULL);
  return r == 0 || cu_fail(cu, r, name, err, errlen);
}
