/* cg_nvrtc.c: NVRTC through dlopen (cg_nvrtc.h). The few entry points
 * kiln uses are declared here with NVRTC's C ABI, so building kiln needs
 * no CUDA headers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_nvrtc.h"

typedef int NvResult; /* nvrtcResult; 0 is NVRTC_SUCCESS */
typedef void *NvProgram;

struct CgNvrtc {
  void *lib;
  int major, minor;
  const char *(*error_string)(NvResult);
  NvResult (*version)(int *, int *);
  NvResult (*create)(NvProgram *, const char *, const char *, int, const char *const *, const char *const *);
  NvResult (*destroy)(NvProgram *);
  NvResult (*compile)(NvProgram, int, const char *const *);
  NvResult (*ptx_size)(NvProgram, size_t *);
  NvResult (*ptx)(NvProgram, char *);
  NvResult (*cubin_size)(NvProgram, size_t *);
  NvResult (*cubin)(NvProgram, char *);
  NvResult (*log_size)(NvProgram, size_t *);
  NvResult (*log)(NvProgram, char *);
};

static const char *const sonames[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
                                      "/usr/local/cuda/lib64/libnvrtc.so", NULL};

static bool bind(CgNvrtc *nv, void **slot, const char *name, IrDiag *d) {
  *slot = dlsym(nv->lib, name);
  if (*slot) return true;
  return ir_error_at(d, "nvrtc", "the NVRTC library lacks %s", name);
}

static bool bind_all(CgNvrtc *nv, IrDiag *d) {
  struct {
    void **slot;
    const char *name;
  } fns[] = {
      {(void **)&nv->error_string, "nvrtcGetErrorString"}, {(void **)&nv->version, "nvrtcVersion"},
      {(void **)&nv->create, "nvrtcCreateProgram"},        {(void **)&nv->destroy, "nvrtcDestroyProgram"},
      {(void **)&nv->compile, "nvrtcCompileProgram"},      {(void **)&nv->ptx_size, "nvrtcGetPTXSize"},
      {(void **)&nv->ptx, "nvrtcGetPTX"},                  {(void **)&nv->cubin_size, "nvrtcGetCUBINSize"},
      {(void **)&nv->cubin, "nvrtcGetCUBIN"},              {(void **)&nv->log_size, "nvrtcGetProgramLogSize"},
      {(void **)&nv->log, "nvrtcGetProgramLog"},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!bind(nv, fns[i].slot, fns[i].name, d)) return false;
  return nv->version(&nv->major, &nv->minor) == 0 ||
         ir_error_at(d, "nvrtc", "nvrtcVersion failed");
}

CgNvrtc *cg_nvrtc_open(const char *path, IrDiag *d) {
  CgNvrtc *nv = calloc(1, sizeof *nv);
  if (!nv) abort();
  const char *tried = path;
  if (path) nv->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  for (int i = 0; !path && !nv->lib && sonames[i]; i++) nv->lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
  if (!nv->lib) {
    ir_error_at(d, "nvrtc", "NVRTC (%s) was not found: install the CUDA toolkit 12 or 13, or put its "
                "lib64 directory on LD_LIBRARY_PATH",
                tried ? tried : "libnvrtc.so.13 or libnvrtc.so.12");
    free(nv);
    return NULL;
  }
  if (!bind_all(nv, d)) {
    cg_nvrtc_close(nv);
    return NULL;
  }
  return nv;
}

/* The library stays loaded: NVRTC is C++, and unloading it drops its
 * runtime's allocations (LeakSanitizer reports libstdc++'s 72 KiB
 * exception pool as leaked once the module is gone); a second open reuses
 * the same mapping. */
void cg_nvrtc_close(CgNvrtc *nv) { free(nv); }

void cg_nvrtc_version(const CgNvrtc *nv, int *major, int *minor) {
  *major = nv->major;
  *minor = nv->minor;
}

bool cg_nvrtc_arch_valid(const char *arch) {
  if (!arch || strncmp(arch, "sm_", 3) != 0) return false;
  const char *p = arch + 3;
  int n = 0, digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) n = n * 10 + (*p - '0');
  if (*p == 'a' || *p == 'f') p++;
  return digits >= 2 && digits <= 3 && n >= 50 && *p == 0;
}

/* The program's log (malloc'd, never NULL). */
static char *program_log(CgNvrtc *nv, NvProgram prog) {
  size_t n = 0;
  if (nv->log_size(prog, &n) != 0) n = 0;
  char *log = calloc(n + 1, 1);
  if (!log) abort();
  if (n && nv->log(prog, log) != 0) log[0] = 0;
  return log;
}

/* Compiles once for `gpu_arch` ("compute_90" or "sm_90"). */
static bool compile_once(CgNvrtc *nv, const char *src, const char *name, const char *gpu_arch,
                         NvProgram *prog, char **log, IrDiag *d) {
  char arch_opt[64];
  snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=%s", gpu_arch);
  /* -w: the generated code declares some coordinates it does not use */
  const char *opts[] = {arch_opt, "--std=c++17", "-w"};
  NvResult r = nv->create(prog, src, name, 0, NULL, NULL);
  if (r != 0) return ir_error_at(d, "nvrtc", "nvrtcCreateProgram: %s", nv->error_string(r));
  r = nv->compile(*prog, 3, opts);
  *log = program_log(nv, *prog);
  if (r == 0) return true;
  return ir_error_at(d, name, "NVRTC failed for %s (%s): %.700s", gpu_arch, nv->error_string(r), *log);
}

static char *get_ptx(CgNvrtc *nv, NvProgram prog) {
  size_t n = 0;
  if (nv->ptx_size(prog, &n) != 0 || !n) return NULL;
  char *ptx = calloc(n + 1, 1);
  if (!ptx) abort();
  if (nv->ptx(prog, ptx) != 0) {
    free(ptx);
    return NULL;
  }
  return ptx;
}

static char *get_cubin(CgNvrtc *nv, NvProgram prog, size_t *bytes) {
  size_t n = 0;
  if (nv->cubin_size(prog, &n) != 0 || !n) return NULL;
  char *bin = malloc(n);
  if (!bin) abort();
  if (nv->cubin(prog, bin) != 0) {
    free(bin);
    return NULL;
  }
  *bytes = n;
  return bin;
}

bool cg_nvrtc_compile(CgNvrtc *nv, const char *src, const char *name, const char *arch, bool want_cubin,
                      CgNvrtcOutput *out, IrDiag *d) {
  memset(out, 0, sizeof *out);
  if (!cg_nvrtc_arch_valid(arch))
    return ir_error_at(d, "nvrtc", "'%s' is not a GPU architecture; expected sm_80, sm_90, ...",
                       arch ? arch : "(null)");
  char virt[32];
  snprintf(virt, sizeof virt, "compute_%s", arch + 3);
  NvProgram prog = NULL;
  bool ok = compile_once(nv, src, name, virt, &prog, &out->log, d);
  if (ok && !(out->ptx = get_ptx(nv, prog))) ok = ir_error_at(d, "nvrtc", "NVRTC returned no PTX");
  if (prog) nv->destroy(&prog);
  if (ok && want_cubin) {
    char *log2 = NULL;
    ok = compile_once(nv, src, name, arch, &prog, &log2, d);
    free(log2);
    if (ok && !(out->cubin = get_cubin(nv, prog, &out->cubin_bytes)))
      ok = ir_error_at(d, "nvrtc", "NVRTC returned no CUBIN for %s", arch);
    if (prog) nv->destroy(&prog);
  }
  if (!ok) cg_nvrtc_output_free(out);
  return ok;
}

void cg_nvrtc_output_free(CgNvrtcOutput *out) {
  free(out->ptx);
  free(out->cubin);
  free(out->log);
  memset(out, 0, sizeof *out);
}
