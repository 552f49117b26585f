/* rt_cuda.h: the CUDA driver API, loaded at run time (dlopen), so an
 * executable built with CUDA support still starts where there is no GPU
 * and says so.
 *
 *   char err[256];
 *   RtCuda *cu = rt_cuda_open(NULL, 0, err, sizeof err);   // "no CUDA driver found ..."
 *   rt_cuda_load(cu, cubin_or_ptx, err, sizeof err);          // CUBIN, or PTX to JIT
 *   rt_cuda_alloc(cu, plan_weights_bytes, &b.weights, ...); rt_cuda_copy_to(cu, b.weights, blob, ...);
 *   rt_cuda_launch(cu, "kiln_k0", grid, 256, &b, syms, offsets, err, sizeof err);  // in order, one stream
 *   rt_cuda_sync(cu, ...); rt_cuda_copy_from(cu, logits, b.logits, ...);
 *   rt_cuda_close(cu);
 *
 * Kernels are those of codegen/cuda (cg_cuda.h): every one takes
 * (weights, arena, state, tokens, logits, KilnSyms, KilnOffs) and the
 * launch record (KilnCudaLaunch, or the manifest) gives its grid, block
 * and buffer offsets; one function may serve many launches with different
 * offsets. Errors are written to err; nothing is printed.
 */
#ifndef KILN_RT_CUDA_H
#define KILN_RT_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln_abi.h" /* KILN_CUDA_MAX_OFFSETS */

typedef struct RtCuda RtCuda;

/* Device addresses of the buffers every kernel takes. */
typedef struct {
  unsigned long long weights, arena, state, tokens, logits;
} RtCudaBuffers;

/* Loads the driver (lib_path, or libcuda.so.1 when NULL), initializes it
 * and makes device `ordinal`'s primary context current. NULL with
 * "no CUDA driver found (...)" or "no CUDA GPU found (...)" in err. */
RtCuda *rt_cuda_open(const char *lib_path, int ordinal, char *err, size_t errlen);
/* Releases the module and the context; the driver library stays loaded. */
void rt_cuda_close(RtCuda *cu);
const char *rt_cuda_device_name(const RtCuda *cu);

/* Loads a CUBIN or a NUL-terminated PTX image (the driver JITs PTX). */
bool rt_cuda_load(RtCuda *cu, const void *image, char *err, size_t errlen);
bool rt_cuda_alloc(RtCuda *cu, size_t bytes, unsigned long long *dptr, char *err, size_t errlen);
void rt_cuda_free(RtCuda *cu, unsigned long long dptr);
bool rt_cuda_copy_to(RtCuda *cu, unsigned long long dst, const void *src, size_t bytes, char *err,
                     size_t errlen);
bool rt_cuda_copy_from(RtCuda *cu, void *dst, unsigned long long src, size_t bytes, char *err,
                       size_t errlen);
/* Launches kernel `name` of the loaded image on the context's stream with
 * the symbol values and the launch's buffer offsets (the kernel's koff:
 * KilnCudaLaunch.offsets, zeros past the ones it uses); a grid with a zero
 * dimension launches nothing. */
bool rt_cuda_launch(RtCuda *cu, const char *name, const int64_t grid[3], int block, const RtCudaBuffers *b,
                    const int64_t syms[8], const uint64_t offsets[KILN_CUDA_MAX_OFFSETS], char *err,
                    size_t errlen);
bool rt_cuda_sync(RtCuda *cu, char *err, size_t errlen);

/* ---- for benchmarks and test scaffolding (tests/gpu) ------------------ */

/* An integer attribute of the device (CUdevice_attribute: 75/76 compute
 * capability major/minor, 16 SMs, 36 memory clock kHz, 37 bus width bits). */
bool rt_cuda_device_attr(RtCuda *cu, int attr, int *value, char *err, size_t errlen);
/* Free and total device memory in bytes. */
bool rt_cuda_mem_info(RtCuda *cu, size_t *free_bytes, size_t *total_bytes, char *err, size_t errlen);
/* The driver's version, e.g. 13000 for CUDA 13.0. */
bool rt_cuda_driver_version(RtCuda *cu, int *version, char *err, size_t errlen);
bool rt_cuda_memset(RtCuda *cu, unsigned long long dst, unsigned char byte, size_t bytes, char *err,
                    size_t errlen);
bool rt_cuda_copy_dtod(RtCuda *cu, unsigned long long dst, unsigned long long src, size_t bytes, char *err,
                       size_t errlen);
/* Launches kernel `name` of the loaded image with any arguments: params[i]
 * points at argument i's value (cuLaunchKernel's kernelParams); smem bytes
 * of dynamic shared memory. A grid with a zero dimension launches nothing. */
bool rt_cuda_launch_params(RtCuda *cu, const char *name, const int64_t grid[3], int block, unsigned smem,
                           void **params, char *err, size_t errlen);

#endif
