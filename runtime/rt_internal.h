/* rt_internal.h: what the runtime's files share and nobody else sees.
 *
 * rt_weights.c  verifies and maps the weight blob
 * rt_pool.c     runs a kernel's chunks on persistent threads
 * rt_model.c    the KilnModel (init, prefill/decode, errors)
 * rt_cuda_model.c  the KilnModel's GPU side: device buffers, kernel launches
 */
#ifndef KILN_RT_INTERNAL_H
#define KILN_RT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "kiln.h"

#ifndef KILN_VERSION_STRING
#define KILN_VERSION_STRING "0.1.0"
#endif

/* snprintf into err[err_size] when err is not NULL; returns `status`, so
 * callers can write `return rt_fail(err, n, KILN_ERR_INVALID, "...")`. */
int rt_fail(char *err, size_t err_size, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- weights (rt_weights.c) ------------------------------------------- */

typedef struct {
  const uint8_t *data; /* the data area, 64-byte aligned: weights_bytes */
  uint64_t bytes;
  void *map;           /* the whole file's mapping, NULL for embedded weights */
  size_t map_bytes;
} RtWeights;

/* Maps `path` read-only and checks it against desc: magic, format
 * version, model hash, size, checksum. Returns 0 or fails with a message
 * that names the file and says which check failed. */
int rt_weights_open(RtWeights *w, const KilnModelDesc *desc, const char *path, char *err,
                    size_t err_size);
/* Uses desc->embedded_weights after checking alignment and checksum. */
int rt_weights_embedded(RtWeights *w, const KilnModelDesc *desc, char *err, size_t err_size);
void rt_weights_close(RtWeights *w);

/* ---- thread pool (rt_pool.c) ------------------------------------------ */

typedef struct RtPool RtPool;

/* n_threads counts the caller: 1 starts no thread. NULL on failure. */
RtPool *rt_pool_new(int n_threads, char *err, size_t err_size);
void rt_pool_free(RtPool *p);
int rt_pool_threads(const RtPool *p);
/* fn(args, c*chunk, min(n, (c+1)*chunk)) for every chunk c of [0, n), on
 * the pool's threads and the caller's; returns when all are done. */
void rt_pool_run(RtPool *p, KilnKernelFn fn, const void *args, int64_t n, int64_t chunk);
/* KilnExec.parallel_for: rt_pool_run on ex->pool. */
void rt_parallel_for(KilnExec *ex, KilnKernelFn fn, const void *args, int64_t n, int64_t chunk);

/* ---- the GPU side of a model (rt_cuda_model.c) ------------------------- */

typedef struct RtGpuModel RtGpuModel;

/* Checks desc->cuda (not NULL) for what the runtime relies on: counts,
 * names, block sizes, divisors, symbol indexes, an image. Returns 0, or
 * fails with "the CUDA kernels are invalid: ..." (KILN_ERR_INVALID). */
int rt_gpu_check_desc(const KilnModelDesc *desc, char *err, size_t err_size);
/* Opens the driver and the GPU (opts->cuda_driver, opts->gpu), loads the
 * CUBIN or else the PTX, allocates the weights (uploading `weights`,
 * desc->weights_bytes of them), the arena, a zeroed KV cache, the tokens
 * and the logits on the device. NULL with the reason in err: status in
 * *status (KILN_ERR_DEVICE, or KILN_ERR_NOMEM). */
RtGpuModel *rt_gpu_open(const KilnModelDesc *desc, const uint8_t *weights, const KilnOptions *opts,
                        int *status, char *err, size_t err_size);
void rt_gpu_close(RtGpuModel *g);
/* The GPU's name ("NVIDIA H200"). */
const char *rt_gpu_name(const RtGpuModel *g);
/* Runs the prefill (decode false) or decode entry's kernels on tokens[T]
 * at positions [P, P+T) and copies the logits (T*vocab with all_logits,
 * else vocab) to `logits`. Returns 0 or KILN_ERR_DEVICE with err set. */
int rt_gpu_run(RtGpuModel *g, bool decode, const int32_t *tokens, int64_t T, int64_t P,
               float *logits, char *err, size_t err_size);

/* ---- sampling (rt_sample.c) ------------------------------------------ */

int64_t rt_sampler_vocab(const KilnSampler *s);

/* ---- the model (rt_model.c) ------------------------------------------- */

/* Sets kiln_last_error(m); returns status. */
int rt_model_fail(KilnModel *m, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Zeroed, page-aligned (so 64-byte aligned) memory from mmap; NULL when
 * the system refuses. bytes may be 0. */
void *rt_pages_alloc(uint64_t bytes);
void rt_pages_free(void *p, uint64_t bytes);

#endif
