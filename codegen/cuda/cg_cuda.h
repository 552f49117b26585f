/* cg_cuda.h: the CUDA backend: a KernelPlan -> CUDA C source text.
 *
 * Every kernel of the plan becomes a __global__ function with the same
 * arguments, the device twin of the CPU backend's KArgs:
 *
 *   extern "C" __global__ void kiln_k7(const unsigned char *kw,  // weights
 *                                      unsigned char *ka,        // arena
 *                                      unsigned char *ks,        // state (KV cache)
 *                                      const int *ktok,          // the entry's token ids
 *                                      float *kout,              // the entry's logits
 *                                      KilnSyms ksym,            // symbol values, by index
 *                                      KilnOffs koff)            // buffer offsets, by slot
 *
 * Each value a kernel touches is a base pointer plus koff.o[i], i the
 * kernel's i-th buffer slot; the launch record holds the plan's offsets
 * for the slots (offs). Kernels whose text is then the same (the layers
 * of a model) share one function: there is one record per launch, and
 * records of launches that share a function carry its name. Loop extents
 * come from ksym. Launch dimensions depend on the symbols, so each
 * record gives its grid as products of dims divided (rounding up) by a
 * constant, and a fixed block size; cg_cuda_grid() evaluates them for a
 * call. Kernels of one entry run in order on one stream.
 *
 * Identifiers in the source are generated (kiln_k0, x0, y0, c0, ...);
 * names from the model (function, value, parameter names) appear only in
 * comments, sanitized to [A-Za-z0-9_.@%+*-] (no slash: a comment cannot end early).
 *
 * Barriers: every kernel is written as phases (KILN_THREADS_BEGIN ...
 * KILN_THREADS_END) separated by KILN_SYNC; a variable that lives across
 * a barrier is declared KILN_PRIVATE and used as KILN_P(name). On the GPU
 * a phase is plain code for threadIdx.x and KILN_SYNC is __syncthreads();
 * kiln_cuda_host.h turns a phase into a loop over the block's threads so
 * the same text runs on the CPU (tests/unit/test_cuda_host.c).
 *
 *   IrBuf src = {0};
 *   CgCudaModule cm;
 *   if (cg_cuda_emit(plan, NULL, &src, &cm, &d)) { ... cm.kernels[i].name ... }
 *   cg_cuda_module_free(&cm); ir_buf_free(&src);
 */
#ifndef KILN_CG_CUDA_H
#define KILN_CG_CUDA_H

#include "../../runtime/kiln_abi.h" /* KILN_CUDA_MAX_OFFSETS */
#include "kernel.h"

/* The symbol values of a call, indexed like the module's symbols. The
 * same layout as the KilnSyms struct in the emitted source. */
typedef struct {
  long long s[IR_MAX_SYMS];
} KilnSyms;

/* The buffer offsets of a launch, by slot: the KilnOffs of the source. */
typedef struct {
  unsigned long long o[KILN_CUDA_MAX_OFFSETS];
} KilnOffs;

/* ceil(f[0] * f[1] * ... * f[n-1] / div): one grid dimension. */
#define CG_CUDA_MAX_FACTORS (IR_MAX_RANK + 2)
typedef struct {
  int n;
  IrDim f[CG_CUDA_MAX_FACTORS];
  int64_t div;
} CgCudaExtent;

typedef struct {
  char name[32];        /* "kiln_k7": the __global__ function (shared by launches) */
  int func;             /* its index: kiln_k<func> */
  int entry;            /* index of the plan entry (function) it belongs to */
  const char *plan_name;/* the plan's kernel name ("prefill.k3.matmul"), not sanitized */
  const char *op;       /* op name of its first op ("matmul") */
  CgCudaExtent grid[3]; /* x, y, z */
  int block;            /* threads per block (x only) */
  int64_t smem_bytes;   /* static shared memory */
  int noffs;            /* buffer slots in use */
  uint64_t offs[KILN_CUDA_MAX_OFFSETS]; /* the launch's KilnOffs: the slots' buffer offsets */
} CgCudaKernel;

typedef struct {
  int nkernels;
  CgCudaKernel *kernels; /* one per launch: every entry's, entry by entry, in launch order */
  int nfuncs;            /* distinct __global__ functions (kiln_k0 .. kiln_k<nfuncs-1>) */
} CgCudaModule;

typedef struct {
  int block;            /* threads per block of elementwise and row kernels: a power of
                           two, 32..1024 (256); matmul and attention choose their own */
} CgCudaOptions;

/* Emits the CUDA C source of every kernel of plan into src and fills
 * out (freed with cg_cuda_module_free, also after a failure). opts may be
 * NULL for the defaults. Returns false with an error naming the op when an
 * op has no CUDA kernel yet. */
bool cg_cuda_emit(const KernelPlan *plan, const CgCudaOptions *opts, IrBuf *src,
                  CgCudaModule *out, IrDiag *d);
void cg_cuda_module_free(CgCudaModule *m);

/* Value of an extent for a call (sym[s] for each symbol s). 0 when a
 * factor is 0: such a launch is skipped. */
int64_t cg_cuda_extent_eval(const CgCudaExtent *e, const int64_t *sym);
void cg_cuda_grid(const CgCudaKernel *k, const int64_t *sym, int64_t grid[3]);

/* The JSON manifest: per entry its launches (function name, buffer
 * offsets, launch dimensions as expressions over the symbols, block size,
 * shared memory), the count of distinct functions, the argument layout and
 * the plan's buffer sizes. */
void cg_cuda_manifest(const KernelPlan *plan, const CgCudaModule *m, const char *gpu_arch,
                      IrBuf *out);

/* What `kiln compile --device=cuda --emit=cu|ptx|cubin` writes: the
 * kernels as CUDA C (STEM.cu), PTX (STEM.ptx, for the compute_ arch of
 * gpu_arch) or CUBIN (STEM.cubin for gpu_arch, with STEM.ptx beside it for
 * newer GPUs), and always the manifest STEM.json. PTX and CUBIN need NVRTC
 * (cg_nvrtc.h), loaded here from nvrtc_path (NULL: the sonames
 * cg_nvrtc_open tries); without it the error says so. gpu_arch NULL means
 * "sm_90". */
typedef enum { CG_CUDA_EMIT_CU, CG_CUDA_EMIT_PTX, CG_CUDA_EMIT_CUBIN } CgCudaEmitKind;
bool cg_cuda_write_files(const KernelPlan *plan, CgCudaEmitKind kind, const char *gpu_arch,
                         const char *nvrtc_path, const char *stem, IrDiag *d);

/* Copies s into out (size n) keeping [A-Za-z0-9_.@%+*-] and turning
 * anything else into '_': safe inside a C comment. */
void cg_cuda_sanitize(const char *s, char *out, size_t n);

#endif
