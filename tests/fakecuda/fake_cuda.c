/* fake_cuda.c: libkiln_fakecuda.so, a stand-in for libcuda.so.1 in tests.
 *
 * It implements the driver entry points runtime/rt_cuda.c binds, over host
 * memory: a device pointer is a host pointer (256-byte aligned), a module
 * is the host emulation of the generated CUDA C (codegen/cuda/
 * kiln_cuda_host.h) built as a shared library, and a launch runs the
 * kernel through that library's kiln_emu_launch. So a model's GPU path
 * (rt_cuda_model.c) runs end to end on a machine without a GPU.
 *
 * Environment:
 *   KILN_FAKE_CUDA_KERNELS=LIB   the host-emulation library every
 *                                cuModuleLoadData loads (unset: error 301)
 *   KILN_FAKE_CUDA_NO_DEVICE=1   cuInit fails with CUDA_ERROR_NO_DEVICE
 *   KILN_FAKE_CUDA_REJECT_CUBIN=1  a CUBIN gets CUDA_ERROR_NO_BINARY_FOR_GPU,
 *                                so the runtime must fall back to the PTX
 *   KILN_FAKE_CUDA_LOG=FILE      one line a call appended: "load ptx",
 *                                "launch kiln_k3 4x1x1 256", ...
 * Misuse that is cheap to see (a copy past the end of an allocation, an
 * unknown pointer, a bad block) returns CUDA_ERROR_INVALID_VALUE.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/kiln_abi.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
  CUDA_ERROR_FILE_NOT_FOUND = 301,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
};

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

typedef struct {
  long long s[8];
} FakeSyms;

typedef KilnCudaOffsets FakeOffs; /* KILN_CUDA_MAX_OFFSETS of them */

typedef void (*EmuKernel)(const unsigned char *, unsigned char *, unsigned char *, const int *,
                          float *, FakeSyms, FakeOffs);
typedef void (*EmuLaunch)(EmuKernel, const long long grid[3], unsigned, const unsigned char *,
                          unsigned char *, unsigned char *, const int *, float *, FakeSyms, FakeOffs);

struct FakeModule;

typedef struct FakeFunction {
  EmuKernel fn;
  char name[64];
  struct FakeModule *module;
  struct FakeFunction *next;
} FakeFunction;

typedef struct FakeModule {
  void *lib;
  EmuLaunch launch;
  FakeFunction *funcs;
} FakeModule;

/* Live allocations, for bounds checks: [base, base + bytes). */
typedef struct FakeAlloc {
  uint8_t *base;
  size_t bytes;
  struct FakeAlloc *next;
} FakeAlloc;

static FakeAlloc *allocs;
static int initialized;
static int primary_ctx = 1; /* its address is the context handle */

static int env_on(const char *name) {
  const char *v = getenv(name);
  return v && strcmp(v, "1") == 0;
}

static void fake_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fake_log(const char *fmt, ...) {
  const char *path = getenv("KILN_FAKE_CUDA_LOG");
  FILE *f = path && *path ? fopen(path, "a") : NULL;
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

/* ---- device, context, errors ------------------------------------------- */

FAKE_EXPORT CUresult cuInit(unsigned flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (env_on("KILN_FAKE_CUDA_NO_DEVICE")) {
    fake_log("init: no device");
    return CUDA_ERROR_NO_DEVICE;
  }
  initialized = 1;
  fake_log("init");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetCount(int *count) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
  *count = 1;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGet(int *dev, int ordinal) {
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *dev = 0;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetName(char *name, int len, int dev) {
  if (!name || len < 1) return CUDA_ERROR_INVALID_VALUE;
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  snprintf(name, (size_t)len, "kiln fake CUDA device (host emulation)");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) {
  if (!ctx) return CUDA_ERROR_INVALID_VALUE;
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  *ctx = &primary_ctx;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(int dev) {
  return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

FAKE_EXPORT CUresult cuCtxSetCurrent(void *ctx) {
  return ctx == NULL || ctx == &primary_ctx ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FAKE_EXPORT CUresult cuCtxSynchronize(void) {
  fake_log("sync");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGetErrorString(CUresult r, const char **s) {
  static const struct {
    CUresult r;
    const char *s;
  } names[] = {
      {CUDA_SUCCESS, "CUDA_SUCCESS: no error"},
      {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE: invalid argument"},
      {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY: out of memory"},
      {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED: initialization error"},
      {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"},
      {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE: invalid device ordinal"},
      {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE: device kernel image is invalid"},
      {CUDA_ERROR_NO_BINARY_FOR_GPU,
       "CUDA_ERROR_NO_BINARY_FOR_GPU: no kernel image is available for execution on the device"},
      {CUDA_ERROR_FILE_NOT_FOUND, "CUDA_ERROR_FILE_NOT_FOUND: file not found"},
      {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE: invalid resource handle"},
      {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND: named symbol not found"},
  };
  if (!s) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].r == r) {
      *s = names[i].s;
      return CUDA_SUCCESS;
    }
  *s = NULL;
  return CUDA_ERROR_INVALID_VALUE;
}

/* ---- modules ------------------------------------------------------------ */

/* "cubin" (ELF), "ptx" (text that starts with a comment or a directive), or NULL. */
static const char *image_kind(const void *image) {
  const unsigned char *p = image;
  if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F') return "cubin";
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return *p == '/' || *p == '.' ? "ptx" : NULL;
}

FAKE_EXPORT CUresult cuModuleLoadData(void **module, const void *image) {
  if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
  const char *kind = image_kind(image);
  if (!kind) {
    fake_log("load: invalid image");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  if (strcmp(kind, "cubin") == 0 && env_on("KILN_FAKE_CUDA_REJECT_CUBIN")) {
    fake_log("load cubin: rejected");
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
  }
  const char *path = getenv("KILN_FAKE_CUDA_KERNELS");
  void *lib = path && *path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
  EmuLaunch launch = lib ? (EmuLaunch)dlsym(lib, "kiln_emu_launch") : NULL;
  if (!launch) {
    fake_log("load %s: no kernels library", kind);
    if (lib) dlclose(lib);
    return CUDA_ERROR_FILE_NOT_FOUND;
  }
  FakeModule *m = calloc(1, sizeof *m);
  if (!m) {
    dlclose(lib);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  m->lib = lib;
  m->launch = launch;
  *module = m;
  fake_log("load %s", kind);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuModuleUnload(void *module) {
  FakeModule *m = module;
  if (!m) return CUDA_ERROR_INVALID_HANDLE;
  for (FakeFunction *f = m->funcs, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  dlclose(m->lib);
  free(m);
  fake_log("unload");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuModuleGetFunction(void **func, void *module, const char *name) {
  FakeModule *m = module;
  if (!func || !name) return CUDA_ERROR_INVALID_VALUE;
  if (!m) return CUDA_ERROR_INVALID_HANDLE;
  EmuKernel fn = strlen(name) < sizeof m->funcs->name ? (EmuKernel)dlsym(m->lib, name) : NULL;
  if (!fn) return CUDA_ERROR_NOT_FOUND;
  FakeFunction *f = calloc(1, sizeof *f);
  if (!f) return CUDA_ERROR_OUT_OF_MEMORY;
  f->fn = fn;
  f->module = m;
  strcpy(f->name, name);
  f->next = m->funcs;
  m->funcs = f;
  *func = f;
  return CUDA_SUCCESS;
}

/* ---- memory --------------------------------------------------------------- */

/* The allocation holding [p, p + bytes), or NULL. */
static FakeAlloc *find_alloc(CUdeviceptr p, size_t bytes) {
  uint8_t *q = (uint8_t *)(uintptr_t)p;
  for (FakeAlloc *a = allocs; a; a = a->next)
    if (q >= a->base && q < a->base + a->bytes)
      return bytes <= (size_t)(a->base + a->bytes - q) ? a : NULL;
  return NULL;
}

FAKE_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes) {
  if (!dptr || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  if (bytes > SIZE_MAX - 255) return CUDA_ERROR_OUT_OF_MEMORY;
  FakeAlloc *a = malloc(sizeof *a);
  void *p = a ? aligned_alloc(256, (bytes + 255) / 256 * 256) : NULL;
  if (!p) {
    free(a);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *a = (FakeAlloc){p, bytes, allocs};
  allocs = a;
  *dptr = (CUdeviceptr)(uintptr_t)p;
  fake_log("alloc %zu", bytes);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr) {
  for (FakeAlloc **pa = &allocs; *pa; pa = &(*pa)->next)
    if ((*pa)->base == (uint8_t *)(uintptr_t)dptr) {
      FakeAlloc *a = *pa;
      *pa = a->next;
      free(a->base);
      free(a);
      fake_log("free");
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_INVALID_VALUE;
}

FAKE_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
  if (!src || !find_alloc(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
  memcpy((void *)(uintptr_t)dst, src, bytes);
  fake_log("htod %zu", bytes);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) {
  if (!dst || !find_alloc(src, bytes)) return CUDA_ERROR_INVALID_VALUE;
  memcpy(dst, (const void *)(uintptr_t)src, bytes);
  fake_log("dtoh %zu", bytes);
  return CUDA_SUCCESS;
}

/* ---- launches ------------------------------------------------------------ */

/* Kernels take (weights, arena, state, tokens, logits, syms, offs): five
 * device pointers, each inside an allocation, then the symbols and the
 * buffer offsets by value. */
static int params_ok(void **params, uint8_t *ptr[5]) {
  if (!params) return 0;
  for (int i = 0; i < 5; i++) {
    if (!params[i]) return 0;
    CUdeviceptr p;
    memcpy(&p, params[i], sizeof p);
    if (!find_alloc(p, 1)) return 0;
    ptr[i] = (uint8_t *)(uintptr_t)p;
  }
  return params[5] != NULL && params[6] != NULL;
}

FAKE_EXPORT CUresult cuLaunchKernel(void *func, unsigned gx, unsigned gy, unsigned gz,
                                    unsigned bx, unsigned by, unsigned bz, unsigned smem,
                                    void *stream, void **params, void **extra) {
  FakeFunction *f = func;
  uint8_t *p[5];
  (void)smem, (void)stream;
  if (!f) return CUDA_ERROR_INVALID_HANDLE;
  if (!gx || !gy || !gz || gy > 65535 || gz > 65535 || bx < 1 || bx > 1024 || by != 1 ||
      bz != 1 || extra || !params_ok(params, p))
    return CUDA_ERROR_INVALID_VALUE;
  FakeSyms syms;
  FakeOffs offs;
  memcpy(&syms, params[5], sizeof syms);
  memcpy(&offs, params[6], sizeof offs);
  long long grid[3] = {gx, gy, gz};
  fake_log("launch %s %ux%ux%u %u", f->name, gx, gy, gz, bx);
  f->module->launch(f->fn, grid, bx, p[0], p[1], p[2], (const int *)p[3], (float *)p[4], syms, offs);
  return CUDA_SUCCESS;
}
