/* compile_cuda.c: `kiln compile --device=cuda`.
 *
 * --emit=cu|ptx|cubin: the kernels alone, with the JSON manifest another
 * runtime launches them by (codegen/cuda, docs/cuda.md). codegen/cuda
 * writes the files under a scratch stem; they are copied into the
 * reserved temporaries, so that nothing is left behind when a step fails.
 *
 * Any other artifact (exe, obj, lib, shared, ll, asm): the kernels of the
 * same plan compiled by NVRTC to a CUBIN for --gpu-arch and PTX for its
 * compute_NN, held in memory until the LLVM step embeds them with their
 * launch tables (codegen/llvm/cg_llvm_cuda_desc.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compile_internal.h"

bool ce_write_cuda(Compile *c, IrDiag *d) {
  static const CgCudaEmitKind kinds[] = {CG_CUDA_EMIT_CU, CG_CUDA_EMIT_PTX, CG_CUDA_EMIT_CUBIN};
  const char *scratch = co_scratch_file(&c->out, "kernels", d);
  if (!scratch ||
      !cg_cuda_write_files(c->plan, kinds[c->o->emit - COMPILE_CU], c->o->gpu_arch, c->o->nvrtc,
                           scratch, d))
    return false;
  bool ok = true;
  for (int i = 0; i < 3 && c->cuda_tmp[i] && ok; i++) {
    char *src = cli_concat(scratch, c->cuda_ext[i]);
    ok = al_copy_file(src, c->cuda_tmp[i], d);
    free(src);
  }
  return ok;
}

bool ce_cuda_embedded(const Compile *c) {
  return c->o->device_cuda && !compile_emit_is_cuda(c->o->emit) && c->o->emit != COMPILE_KIR;
}

const char *ce_gpu_arch(const Compile *c) { return c->o->gpu_arch ? c->o->gpu_arch : "sm_90"; }

/* "nvrtc: error: NVRTC (...) was not found: ..." -> "NVRTC (...) ...". */
static const char *after_error(const char *msg) {
  const char *e = strstr(msg, "error: ");
  return e ? e + strlen("error: ") : msg;
}

bool ce_open_nvrtc(Compile *c, IrDiag *d) {
  if (!ce_cuda_embedded(c)) return true;
  IrDiag nd = {0};
  c->nvrtc = cg_nvrtc_open(c->o->nvrtc, &nd);
  if (!c->nvrtc)
    return ir_error(d, (IrLoc){0}, "--device=cuda needs NVRTC to compile the kernels: %s",
                    after_error(nd.msg));
  return true;
}

/* -v: what the artifact carries for the GPU. */
static void print_sizes(const Compile *c) {
  char cubin[32], ptx[32];
  fprintf(stderr, "kiln: CUDA %s: %d kernels for %d launches, CUBIN %s, PTX %s\n", ce_gpu_arch(c),
          c->cuda_kernels.nfuncs, c->cuda_kernels.nkernels, cp_size(c->cuda_image.cubin_bytes, cubin, sizeof cubin),
          cp_size(strlen(c->cuda_image.ptx), ptx, sizeof ptx));
}

bool ce_build_cuda(Compile *c, IrDiag *d) {
  if (!ce_cuda_embedded(c)) return true;
  IrBuf src = {0};
  bool ok = cg_cuda_emit(c->plan, NULL, &src, &c->cuda_kernels, d);
  if (ok) {
    const char *arch = ce_gpu_arch(c);
    char name[64];
    snprintf(name, sizeof name, "kiln_%s.cu", arch);
    CpStep step;
    /* NVRTC takes about 40 ms a kernel */
    cp_begin(&step, c->big || c->cuda_kernels.nfuncs >= 100 || c->o->verbose, 0,
             "compiling %d CUDA kernels with NVRTC for %s", c->cuda_kernels.nfuncs, arch);
    ok = cg_nvrtc_compile(c->nvrtc, src.data, name, arch, true, &c->cuda_image, d);
    cp_end(&step, ok);
  }
  if (ok && c->o->verbose) print_sizes(c);
  ir_buf_free(&src);
  return ok;
}

void ce_free_cuda(Compile *c) {
  cg_nvrtc_output_free(&c->cuda_image);
  cg_cuda_module_free(&c->cuda_kernels);
  if (c->nvrtc) cg_nvrtc_close(c->nvrtc);
  c->nvrtc = NULL;
}
