/* kiln_cuda_host.h: runs kiln's generated CUDA C on the CPU, to check the
 * kernels' values without a GPU.
 *
 *   cc -std=c11 -shared -fPIC -include kiln_cuda_host.h -x c model.cu -o model.so -lm
 *
 * How barriers work here: kiln writes every kernel as phases separated by
 * barriers (cg_cuda.h). On the GPU a phase is code for one thread. Here a
 * phase is a loop over all threads of the block, run one after the other;
 * the barrier between two phases is then simply the end of one loop and
 * the start of the next. This is exact (not a model of a race), needs no
 * OS threads or coroutines, and is deterministic. It relies on the
 * generator's rules: a value that lives across a barrier is KILN_PRIVATE
 * (one copy per thread here), loops around barriers are uniform across
 * the block, and no thread returns early. Warp-level primitives (shuffles,
 * mma) have no host form: kiln keeps them behind macros with a scalar
 * version, and this header selects the scalar one.
 *
 * Blocks run one at a time in order, so __shared__ variables become
 * static ones. Everything is single-threaded: launch from one thread.
 */
#ifndef KILN_CUDA_HOST_H
#define KILN_CUDA_HOST_H

#define KILN_HOST_EMU 1

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  unsigned x, y, z;
} kiln_dim3;

static kiln_dim3 blockIdx, blockDim, gridDim;

#define KILN_MAX_THREADS 1024
#define KILN_EXTERN_C
#define KILN_FN static inline
#define KILN_RESTRICT restrict
#define KILN_THREADS_BEGIN for (unsigned tid = 0; tid < blockDim.x; tid++) {
#define KILN_THREADS_END }
#define KILN_SYNC
#define KILN_UNROLL
#define KILN_NO_UNROLL
#define KILN_PRIVATE(T, name, dims) static T name[KILN_MAX_THREADS] dims
#define KILN_P(name) name[tid]
#define __global__
#define __shared__ static
#define __launch_bounds__(...)

typedef struct {
  long long s[8];
} KilnSyms;

static inline float kiln_as_float(unsigned int u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline unsigned int kiln_as_uint(float f) {
  unsigned int u;
  memcpy(&u, &f, sizeof u);
  return u;
}

typedef void (*KilnEmuKernel)(const unsigned char *kw, unsigned char *ka, unsigned char *ks,
                              const int *ktok, float *kout, KilnSyms ksym);

/* Runs kernel k over grid[0] x grid[1] x grid[2] blocks of `block` threads. */
void kiln_emu_launch(KilnEmuKernel k, const long long grid[3], unsigned block, const unsigned char *kw,
                     unsigned char *ka, unsigned char *ks, const int *ktok, float *kout,
                     KilnSyms ksym);
void kiln_emu_launch(KilnEmuKernel k, const long long grid[3], unsigned block, const unsigned char *kw,
                     unsigned char *ka, unsigned char *ks, const int *ktok, float *kout,
                     KilnSyms ksym) {
  gridDim = (kiln_dim3){(unsigned)grid[0], (unsigned)grid[1], (unsigned)grid[2]};
  blockDim = (kiln_dim3){block, 1, 1};
  for (unsigned z = 0; z < gridDim.z; z++)
    for (unsigned y = 0; y < gridDim.y; y++)
      for (unsigned x = 0; x < gridDim.x; x++) {
        blockIdx = (kiln_dim3){x, y, z};
        k(kw, ka, ks, ktok, kout, ksym);
      }
}

#endif
