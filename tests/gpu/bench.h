/* bench.h: kiln_gpu_bench's pieces (tests/gpu/README.md).
 *
 *   bench_runner.c  where kernels run: the GPU (runtime/rt_cuda.h) or the
 *                   host emulation of the emitted source (kiln_cuda_host.h)
 *   bench_model.c   a .kir module -> default pipeline (no pack-weights) ->
 *                   plan -> CUDA C -> NVRTC; parameters filled with
 *                   deterministic pseudo-random values; calls compared with
 *                   the interpreter
 *   bench_cublas.c  cuBLAS through dlopen, the matmul reference
 *   bench_report.c  the JSON and markdown output, the peak table, timers
 *   kiln_gpu_bench.c  the subcommands
 */
#ifndef KILN_GPU_BENCH_H
#define KILN_GPU_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "cg_cuda.h"
#include "cg_nvrtc.h"
#include "interp.h"
#include "kernel_plan.h"
#include "rt_cuda.h"

/* ---- runner ------------------------------------------------------------- */

typedef void (*BenchEmuKernel)(const unsigned char *, unsigned char *, unsigned char *, const int *, float *,
                               KilnSyms, KilnOffs);
typedef void (*BenchEmuLaunch)(BenchEmuKernel, const long long[3], unsigned, const unsigned char *,
                               unsigned char *, unsigned char *, const int *, float *, KilnSyms, KilnOffs);

/* Device memory is an address: a CUdeviceptr, or a host pointer when host. */
typedef struct {
  bool host;
  RtCuda *cu;       /* GPU */
  void *so;         /* host: the emitted source compiled as C, dlopen'd */
  BenchEmuLaunch launch;
  const CgCudaModule *cuda;
  BenchEmuKernel *fns;
  char err[1024];   /* the last error */
} Runner;

bool run_alloc(Runner *r, uint64_t bytes, unsigned long long *p);
void run_free(Runner *r, unsigned long long p);
bool run_to(Runner *r, unsigned long long dst, const void *src, uint64_t bytes);
bool run_from(Runner *r, void *dst, unsigned long long src, uint64_t bytes);
bool run_memset(Runner *r, unsigned long long dst, int byte, uint64_t bytes);
/* Kernel k of the module (its CgCudaKernel) with the model's buffers. */
bool run_kernel(Runner *r, int k, const int64_t *syms, const RtCudaBuffers *b);
bool run_sync(Runner *r);
/* Host: compiles src with cc against kiln_cuda_host.h and binds every
 * kernel of cuda. GPU: loads the image (CUBIN or PTX). */
bool run_load(Runner *r, const char *src, const void *image, const CgCudaModule *cuda);
void run_unload(Runner *r);

/* ---- a model on the runner ------------------------------------------------ */

typedef struct {
  char name[128];
  IrModule *m, *ref; /* optimized (planned, emitted); as read (the interpreter's) */
  KernelPlan *plan;
  IrBuf src;         /* the CUDA C, with the bench's helper kernels appended */
  CgCudaModule cuda;
  CgNvrtcOutput nv;  /* PTX (and CUBIN) */
  double compile_s;  /* NVRTC */
  RtCudaBuffers b;
  uint64_t out_bytes;/* the logits buffer */
} BenchModel;

/* The helper kernels (fill, copy, read), CUDA C guarded by __CUDACC__. */
extern const char bench_helpers_cu[];

/* Parses text (or the file path when text is NULL), keeps only function
 * `only` when not NULL, runs the default pipeline without pack-weights,
 * plans and emits. Errors in err. */
bool bm_build(BenchModel *bm, const char *path, const char *text, const char *only, char *err, size_t errlen);
void bm_free(BenchModel *bm);
/* Allocates the buffers (logits: out_bytes) and zeroes the state. */
bool bm_alloc(BenchModel *bm, Runner *r, uint64_t out_bytes);
void bm_release(BenchModel *bm, Runner *r);
/* Fills every parameter on the host (bench_value) and uploads the blob;
 * binds the same values to it when not NULL. */
bool bm_fill_host(BenchModel *bm, Runner *r, IrInterp *it, char *err, size_t errlen);
/* Fills every parameter on the device with the helper kernel (f32, bf16). */
bool bm_fill_device(BenchModel *bm, Runner *r, char *err, size_t errlen);
/* Launches entry `entry`'s kernels with T and P (tokens already copied). */
bool bm_launch(BenchModel *bm, Runner *r, int entry, int64_t T, int64_t P);
/* Copies tok, launches, syncs and copies n floats of the output back. */
bool bm_call(BenchModel *bm, Runner *r, const char *entry, const int32_t *tok, int64_t T, int64_t P, float *out,
             int64_t n);
int bm_entry(const BenchModel *bm, const char *name);
/* The symbol values of a call: T and P by name, the rest 0. */
void bm_syms(const IrModule *m, int64_t T, int64_t P, int64_t *syms);
/* Element i of parameter p: deterministic, in a range fit for the param
 * (1-D: around 1, like a norm's scale; else uniform with variance 1/cols). */
float bench_value(const IrValue *p, int64_t i);
/* Runs entry on the interpreter; the first result as floats (malloc'd). */
float *bm_interp(const IrModule *ref, IrInterp *it, const char *entry, const int32_t *tok, int64_t T, int64_t P,
                 int64_t *n, char *err, size_t errlen);
/* max |got - want| / max(1, max |want|); NaN where got has a NaN. */
double bench_rel_err(const float *got, const float *want, int64_t n);

/* ---- cuBLAS ------------------------------------------------------------- */

typedef struct BenchCublas BenchCublas;
/* NULL with the reason in err when libcublas is not found. */
BenchCublas *cublas_open(char *err, size_t errlen, char *path, size_t pathlen);
/* C[M, N] (f32, row-major) = A[M, K] * W[N, K]^T, A and W row-major, both
 * bf16 (bf16 = true) or both f32; f32 accumulation. */
bool cublas_matmul(BenchCublas *cb, bool bf16, int M, int N, int K, unsigned long long a, unsigned long long w,
                   unsigned long long c, char *err, size_t errlen);
void cublas_close(BenchCublas *cb);

/* ---- report ------------------------------------------------------------- */

typedef struct {
  const char *match;          /* a substring of the device name */
  double bf16_tflops;         /* dense bf16 tensor-core peak */
  double f32_tflops;          /* f32 on the CUDA cores (no tensor cores) */
  double mem_gbs;             /* memory bandwidth, the data sheet's */
} BenchPeak;
/* The row for the device name, or NULL. */
const BenchPeak *bench_peak(const char *device);

typedef struct {
  IrBuf json; /* the members of one JSON object, comma-separated */
  IrBuf md;   /* markdown */
} Report;
void rep_json(Report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rep_md(Report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal of s (quotes included) into b. */
void rep_str(IrBuf *b, const char *s);
double bench_now(void);
double bench_median(double *v, int n);

#endif
