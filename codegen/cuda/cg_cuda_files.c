/* cg_cuda_files.c: the kernels alone, as files another runtime can load:
 * STEM.cu, STEM.ptx, STEM.cubin and the manifest STEM.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"
#include "cg_nvrtc.h"

static bool write_file(const char *stem, const char *ext, const void *data, size_t n, IrDiag *d) {
  size_t len = strlen(stem) + strlen(ext) + 1;
  char *path = malloc(len);
  if (!path) abort();
  snprintf(path, len, "%s%s", stem, ext);
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, n, f) == n;
  int err = errno;
  if (f && fclose(f) != 0) ok = false;
  if (!ok) ir_error_at(d, path, "cannot write: %s", strerror(err));
  free(path);
  return ok;
}

static bool write_text(const char *stem, const char *ext, const IrBuf *b, IrDiag *d) {
  return write_file(stem, ext, b->data ? b->data : "", b->len, d);
}

/* PTX, and the CUBIN when asked, through NVRTC. */
static bool write_compiled(const char *src, CgCudaEmitKind kind, const char *arch,
                           const char *nvrtc_path, const char *stem, IrDiag *d) {
  CgNvrtc *nv = cg_nvrtc_open(nvrtc_path, d);
  if (!nv) return false;
  CgNvrtcOutput out;
  char name[64];
  snprintf(name, sizeof name, "kiln_%s.cu", arch);
  bool ok = cg_nvrtc_compile(nv, src, name, arch, kind == CG_CUDA_EMIT_CUBIN, &out, d) &&
            write_file(stem, ".ptx", out.ptx, strlen(out.ptx), d) &&
            (kind != CG_CUDA_EMIT_CUBIN || write_file(stem, ".cubin", out.cubin, out.cubin_bytes, d));
  cg_nvrtc_output_free(&out);
  cg_nvrtc_close(nv);
  return ok;
}

bool cg_cuda_write_files(const KernelPlan *plan, CgCudaEmitKind kind, const char *gpu_arch,
                         const char *nvrtc_path, const char *stem, IrDiag *d) {
  const char *arch = gpu_arch ? gpu_arch : "sm_90";
  if (!cg_nvrtc_arch_valid(arch))
    return ir_error_at(d, "--gpu-arch", "'%s' is not a GPU architecture; expected sm_80, sm_90, ...", arch);
  IrBuf src = {0}, manifest = {0};
  CgCudaModule cm = {0};
  bool ok = cg_cuda_emit(plan, NULL, &src, &cm, d);
  if (ok) cg_cuda_manifest(plan, &cm, arch, &manifest);
  if (ok && kind == CG_CUDA_EMIT_CU) ok = write_text(stem, ".cu", &src, d);
  if (ok && kind != CG_CUDA_EMIT_CU) ok = write_compiled(src.data, kind, arch, nvrtc_path, stem, d);
  if (ok) ok = write_text(stem, ".json", &manifest, d);
  ir_buf_free(&src);
  ir_buf_free(&manifest);
  cg_cuda_module_free(&cm);
  return ok;
}
