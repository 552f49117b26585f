/* cg_nvrtc.h: CUDA C -> PTX and CUBIN through NVRTC, loaded at run time.
 *
 * kiln does not link against CUDA: cg_nvrtc_open() dlopens libnvrtc,
 * trying the sonames of the CUDA majors kiln supports (libnvrtc.so.13,
 * .so.12, then libnvrtc.so), so a kiln built anywhere starts where CUDA
 * is missing and says so when asked for --device=cuda.
 *
 *   CgNvrtc *nv = cg_nvrtc_open(NULL, &d);            // NULL: d says NVRTC was not found
 *   CgNvrtcOutput out = {0};
 *   if (cg_nvrtc_compile(nv, src, "model.cu", "sm_90", true, &out, &d)) {
 *     ... out.ptx (text), out.cubin (out.cubin_bytes), out.log ...
 *   }
 *   cg_nvrtc_output_free(&out);
 *   cg_nvrtc_close(nv);
 */
#ifndef KILN_CG_NVRTC_H
#define KILN_CG_NVRTC_H

#include <stddef.h>

#include "ir.h"

typedef struct CgNvrtc CgNvrtc;

typedef struct {
  char *ptx;          /* for compute_XX (the virtual architecture of the target) */
  char *cubin;        /* for sm_XX, or NULL when not asked for */
  size_t cubin_bytes;
  char *log;          /* NVRTC's messages (warnings), possibly empty */
} CgNvrtcOutput;

/* Loads NVRTC. `path` may name the library; NULL tries the sonames.
 * Fails with "NVRTC (libnvrtc.so.13 or .so.12) was not found: ...". */
CgNvrtc *cg_nvrtc_open(const char *path, IrDiag *d);
/* Frees nv; the library itself stays loaded for the process. */
void cg_nvrtc_close(CgNvrtc *nv);
/* NVRTC's version, e.g. 13.0. */
void cg_nvrtc_version(const CgNvrtc *nv, int *major, int *minor);
/* Whether `arch` is "sm_NN" or "sm_NNa" with NN >= 50: "sm_90" -> true. */
bool cg_nvrtc_arch_valid(const char *arch);

/* Compiles src for arch ("sm_90"): PTX for the matching compute_ arch,
 * and the CUBIN when `want_cubin`. On a compile error d holds the first
 * lines of NVRTC's log. */
bool cg_nvrtc_compile(CgNvrtc *nv, const char *src, const char *name, const char *arch, bool want_cubin,
                      CgNvrtcOutput *out, IrDiag *d);
void cg_nvrtc_output_free(CgNvrtcOutput *out);

#endif
