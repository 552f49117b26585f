/* rt_cuda_model.c: the GPU side of a KilnModel (kiln_abi.h, KilnCudaDesc).
 *
 * At init the CUDA kernels of the model are loaded (the CUBIN, or the PTX
 * when the driver refuses the CUBIN, e.g. on another architecture), the
 * weights are uploaded once, and the arena, the KV cache (zeroed), the
 * token ids and the logits get device buffers of the sizes the plan
 * gives. A call copies the token ids up, launches the entry's kernels in
 * order on one stream with their grids evaluated for T and P, waits and
 * copies the logits back. The driver is rt_cuda.c (dlopen, so nothing
 * here needs CUDA to build).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cuda.h"
#include "rt_internal.h"

typedef unsigned long long ull;

/* Zeros are copied up in pieces of this size, not from one huge buffer. */
#define ZERO_CHUNK (1u << 20)

struct RtGpuModel {
  const KilnModelDesc *desc;
  const KilnCudaDesc *cuda;
  RtCuda *cu;
  RtCudaBuffers b;
};

/* ---- checking the description -------------------------------------------- */

static const char *check_extent(const KilnCudaExtent *e) {
  if (e->n < 0 || e->n > KILN_CUDA_MAX_FACTORS) return "a grid with a factor count outside [0, 10]";
  if (e->div < 1) return "a grid divisor < 1";
  return NULL;
}

static const char *check_entry(const KilnCudaEntry *e) {
  if (e->n < 0) return "a negative launch count";
  if (e->n > 0 && !e->launches) return "an entry without its launches";
  for (int32_t i = 0; i < e->n; i++) {
    const KilnCudaLaunch *l = &e->launches[i];
    if (!l->name) return "a kernel without a name";
    if (l->block < 1 || l->block > 1024) return "a block size outside [1, 1024]";
    if (l->noffsets < 0 || l->noffsets > KILN_CUDA_MAX_OFFSETS) return "an offset count outside [0, 16]";
    for (int a = 0; a < 3; a++) {
      const char *bad = check_extent(&l->grid[a]);
      if (bad) return bad;
    }
  }
  return NULL;
}

static const char *check_cuda(const KilnCudaDesc *c) {
  if (c->nsyms < 0 || c->nsyms > KILN_CUDA_MAX_SYMS) return "nsyms outside [0, 8]";
  if (c->sym_t < -1 || c->sym_t >= c->nsyms) return "sym_t outside [-1, nsyms)";
  if (c->sym_p < -1 || c->sym_p >= c->nsyms) return "sym_p outside [-1, nsyms)";
  bool cubin = c->cubin && c->cubin_bytes > 0, ptx = c->ptx && c->ptx_bytes > 0;
  if (!cubin && !ptx) return "neither a CUBIN nor PTX";
  if (ptx && strlen(c->ptx) != c->ptx_bytes) return "ptx_bytes is not the PTX's length";
  const char *bad = check_entry(&c->prefill);
  return bad ? bad : check_entry(&c->decode);
}

int rt_gpu_check_desc(const KilnModelDesc *d, char *err, size_t n) {
  const char *bad = check_cuda(d->cuda);
  if (bad) return rt_fail(err, n, KILN_ERR_INVALID, "the CUDA kernels are invalid: %s", bad);
  return KILN_OK;
}

/* ---- opening ------------------------------------------------------------- */

/* The CUBIN, else the PTX; both refused: one message with both reasons. */
static int load_kernels(RtGpuModel *g, char *err, size_t n) {
  const KilnCudaDesc *c = g->cuda;
  const char *arch = c->gpu_arch ? c->gpu_arch : "?";
  char why_cubin[512] = "", why_ptx[512] = "";
  if (c->cubin && c->cubin_bytes > 0) {
    /* a copy in malloc'd memory: the driver reads the ELF headers in place,
     * and the image in the executable need not be aligned for that */
    void *img = malloc((size_t)c->cubin_bytes);
    if (!img) return rt_fail(err, n, KILN_ERR_NOMEM, "out of memory for the CUBIN");
    memcpy(img, c->cubin, (size_t)c->cubin_bytes);
    bool ok = rt_cuda_load(g->cu, img, why_cubin, sizeof why_cubin);
    free(img);
    if (ok) return KILN_OK;
    if (!c->ptx || !c->ptx_bytes)
      return rt_fail(err, n, KILN_ERR_DEVICE, "the GPU (%s) does not run the %s CUBIN (%s)",
                     rt_cuda_device_name(g->cu), arch, why_cubin);
  }
  if (rt_cuda_load(g->cu, c->ptx, why_ptx, sizeof why_ptx)) return KILN_OK;
  if (why_cubin[0])
    return rt_fail(err, n, KILN_ERR_DEVICE,
                   "the GPU (%s) runs neither the %s CUBIN (%s) nor the PTX (%s)",
                   rt_cuda_device_name(g->cu), arch, why_cubin, why_ptx);
  return rt_fail(err, n, KILN_ERR_DEVICE, "the GPU (%s) does not run the PTX (%s)",
                 rt_cuda_device_name(g->cu), why_ptx);
}

static int alloc_one(RtGpuModel *g, uint64_t bytes, ull *dptr, const char *what, char *err,
                     size_t n) {
  char why[512];
  if (bytes > SIZE_MAX || !rt_cuda_alloc(g->cu, (size_t)bytes, dptr, why, sizeof why))
    return rt_fail(err, n, KILN_ERR_DEVICE, "cannot allocate %s on the GPU (%llu bytes): %s", what,
                   (ull)bytes, bytes > SIZE_MAX ? "too large" : why);
  return KILN_OK;
}

/* Copies zeros over bytes at dst, a chunk at a time. */
static int zero_device(RtGpuModel *g, ull dst, uint64_t bytes, char *err, size_t n) {
  if (bytes == 0) return KILN_OK;
  size_t chunk = bytes < ZERO_CHUNK ? (size_t)bytes : ZERO_CHUNK;
  uint8_t *zeros = calloc(1, chunk);
  if (!zeros) return rt_fail(err, n, KILN_ERR_NOMEM, "out of memory");
  char why[512];
  bool ok = true;
  for (uint64_t at = 0; ok && at < bytes; at += chunk) {
    size_t k = bytes - at < chunk ? (size_t)(bytes - at) : chunk;
    ok = rt_cuda_copy_to(g->cu, dst + at, zeros, k, why, sizeof why);
  }
  free(zeros);
  return ok ? KILN_OK
            : rt_fail(err, n, KILN_ERR_DEVICE, "cannot clear the KV cache on the GPU: %s", why);
}

static int allocate(RtGpuModel *g, const uint8_t *weights, char *err, size_t n) {
  const KilnModelDesc *d = g->desc;
  uint64_t rows = d->all_logits ? (uint64_t)d->max_tokens : 1;
  char why[512];
  int st = alloc_one(g, d->weights_bytes, &g->b.weights, "the weights", err, n);
  if (!st) st = alloc_one(g, d->arena_bytes, &g->b.arena, "the activation arena", err, n);
  if (!st) st = alloc_one(g, d->state_bytes, &g->b.state, "the KV cache", err, n);
  if (!st)
    st = alloc_one(g, (uint64_t)d->max_tokens * sizeof(int32_t), &g->b.tokens, "the tokens", err, n);
  if (!st)
    st = alloc_one(g, rows * (uint64_t)d->vocab * sizeof(float), &g->b.logits, "the logits", err, n);
  if (!st && !rt_cuda_copy_to(g->cu, g->b.weights, weights, (size_t)d->weights_bytes, why, sizeof why))
    st = rt_fail(err, n, KILN_ERR_DEVICE, "cannot upload the weights to the GPU: %s", why);
  if (!st) st = zero_device(g, g->b.state, d->state_bytes, err, n);
  return st;
}

RtGpuModel *rt_gpu_open(const KilnModelDesc *desc, const uint8_t *weights, const KilnOptions *opts,
                        int *status, char *err, size_t n) {
  RtGpuModel *g = calloc(1, sizeof *g);
  if (!g) {
    *status = rt_fail(err, n, KILN_ERR_NOMEM, "out of memory");
    return NULL;
  }
  g->desc = desc;
  g->cuda = desc->cuda;
  g->cu = rt_cuda_open(opts ? opts->cuda_driver : NULL, opts ? opts->gpu : 0, err, n);
  *status = g->cu ? load_kernels(g, err, n) : KILN_ERR_DEVICE;
  if (*status == KILN_OK) *status = allocate(g, weights, err, n);
  if (*status != KILN_OK) {
    rt_gpu_close(g);
    return NULL;
  }
  return g;
}

void rt_gpu_close(RtGpuModel *g) {
  if (!g) return;
  if (g->cu) {
    rt_cuda_free(g->cu, g->b.weights);
    rt_cuda_free(g->cu, g->b.arena);
    rt_cuda_free(g->cu, g->b.state);
    rt_cuda_free(g->cu, g->b.tokens);
    rt_cuda_free(g->cu, g->b.logits);
    rt_cuda_close(g->cu);
  }
  free(g);
}

const char *rt_gpu_name(const RtGpuModel *g) { return rt_cuda_device_name(g->cu); }

/* ---- running ------------------------------------------------------------- */

/* ceil(prod f / div); 0 when a factor is <= 0 (the launch is skipped), and
 * INT64_MAX on overflow (the driver shim refuses it as too large). */
static int64_t extent_eval(const KilnCudaExtent *e, const int64_t *syms) {
  int64_t prod = 1;
  for (int i = 0; i < e->n; i++) {
    const KilnCudaDim *f = &e->f[i];
    int64_t v = f->c;
    for (int s = 0; s < KILN_CUDA_MAX_SYMS; s++) v += f->k[s] * syms[s];
    if (v <= 0) return 0;
    if (__builtin_mul_overflow(prod, v, &prod)) return INT64_MAX;
  }
  return prod / e->div + (prod % e->div != 0);
}

int rt_gpu_run(RtGpuModel *g, bool decode, const int32_t *tokens, int64_t T, int64_t P,
               float *logits, char *err, size_t n) {
  const KilnCudaDesc *c = g->cuda;
  const KilnCudaEntry *e = decode ? &c->decode : &c->prefill;
  int64_t syms[KILN_CUDA_MAX_SYMS] = {0};
  if (c->sym_t >= 0) syms[c->sym_t] = T;
  if (c->sym_p >= 0) syms[c->sym_p] = P;
  uint64_t rows = g->desc->all_logits ? (uint64_t)T : 1;
  char why[512];
  bool ok = rt_cuda_copy_to(g->cu, g->b.tokens, tokens, (size_t)T * sizeof *tokens, why, sizeof why);
  for (int32_t i = 0; ok && i < e->n; i++) {
    const KilnCudaLaunch *l = &e->launches[i];
    int64_t grid[3];
    for (int a = 0; a < 3; a++) grid[a] = extent_eval(&l->grid[a], syms);
    ok = rt_cuda_launch(g->cu, l->name, grid, l->block, &g->b, syms, l->offsets, why, sizeof why);
  }
  ok = ok && rt_cuda_sync(g->cu, why, sizeof why) &&
       rt_cuda_copy_from(g->cu, logits, g->b.logits,
                         (size_t)(rows * (uint64_t)g->desc->vocab * sizeof(float)), why, sizeof why);
  if (!ok)
    return rt_fail(err, n, KILN_ERR_DEVICE, "the GPU (%s) failed in the %s entry: %s",
                   rt_cuda_device_name(g->cu), decode ? "decode" : "prefill", why);
  return KILN_OK;
}
