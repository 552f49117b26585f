/* compile_cuda.c: `kiln compile --device=cuda --emit=cu|ptx|cubin`: the
 * kernels alone, with the JSON manifest another runtime launches them by
 * (codegen/cuda, docs/cuda.md). codegen/cuda writes the files under a
 * scratch stem; they are copied into the reserved temporaries, so that
 * nothing is left behind when a step fails. */
#include <stdlib.h>

#include "cg_cuda.h"
#include "cli.h"
#include "compile_internal.h"

bool ce_write_cuda(Compile *c, IrDiag *d) {
  static const CgCudaEmitKind kinds[] = {CG_CUDA_EMIT_CU, CG_CUDA_EMIT_PTX, CG_CUDA_EMIT_CUBIN};
  const char *scratch = co_scratch_file(&c->out, "kernels", d);
  if (!scratch ||
      !cg_cuda_write_files(c->plan, kinds[c->o->emit - COMPILE_CU], c->o->gpu_arch, scratch, d))
    return false;
  bool ok = true;
  for (int i = 0; i < 3 && c->cuda_tmp[i] && ok; i++) {
    char *src = cli_concat(scratch, c->cuda_ext[i]);
    ok = al_copy_file(src, c->cuda_tmp[i], d);
    free(src);
  }
  return ok;
}
