/* rt_model.c: a loaded model: weights, arena, KV cache, threads, position.
 *
 * kiln_init checks the model code (ABI and kiln versions, its bounds),
 * then the weights, then allocates; prefill/decode check what model code
 * must never see (counts, positions, token ids), call the entry, and
 * advance the position P, the number of tokens in the KV cache.
 *
 * On a GPU (KilnOptions.device, rt_cuda_model.c) the weights are checked
 * as on the CPU, uploaded, and unmapped; the arena, the KV cache and the
 * threads then live on the device only, so the host holds just the
 * logits and the context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rt_internal.h"

typedef long long ll;

struct KilnModel {
  const KilnModelDesc *desc;
  RtWeights weights;
  uint8_t *arena, *state; /* arena_bytes, state_bytes: pages, 64-byte aligned */
  RtPool *pool;
  RtGpuModel *gpu;        /* KILN_DEVICE_CUDA: the device side; NULL on the CPU */
  KilnExec ex;
  float *logits;          /* [rows, vocab]: rows = max_tokens with all_logits, else 1 */
  int64_t last_row;       /* the row kiln_logits() returns */
  int32_t *context;       /* [max_context]: the tokens in the KV cache */
  int64_t pos;            /* P */
  char error[1024];
};

int rt_fail(char *err, size_t err_size, int status, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return status;
}

const char *kiln_status_string(int status) {
  switch (status) {
  case KILN_OK: return "ok";
  case KILN_ERR_ARGS: return "token count or position outside the compiled bounds";
  case KILN_ERR_TOKEN: return "token id outside the vocabulary";
  case KILN_ERR_CONTEXT: return "the context is full";
  case KILN_ERR_INVALID: return "invalid argument";
  case KILN_ERR_MODEL: return "unknown status from the model code";
  case KILN_ERR_VERSION: return "model code of another ABI or kiln version";
  case KILN_ERR_WEIGHTS_IO: return "cannot read the weights";
  case KILN_ERR_WEIGHTS_FORMAT: return "not a valid weights file";
  case KILN_ERR_WEIGHTS_MODEL: return "weights of another model";
  case KILN_ERR_WEIGHTS_CORRUPT: return "corrupt weights (checksum)";
  case KILN_ERR_NOMEM: return "out of memory";
  case KILN_ERR_DEVICE: return "no such device, or the GPU failed";
  default: return "unknown status";
  }
}

const char *kiln_runtime_version(void) { return KILN_VERSION_STRING; }

void *rt_pages_alloc(uint64_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes > SIZE_MAX / 2) return NULL;
  void *p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void rt_pages_free(void *p, uint64_t bytes) {
  if (p) munmap(p, bytes ? (size_t)bytes : 1);
}

/* ---- init ---------------------------------------------------------------- */

/* What the runtime relies on before it touches anything else. */
static int check_desc(const KilnModelDesc *d, char *err, size_t n) {
  if (!d) return rt_fail(err, n, KILN_ERR_INVALID, "no model description");
  if (d->abi_version != KILN_ABI_VERSION)
    return rt_fail(err, n, KILN_ERR_VERSION,
                   "the model code uses ABI version %u; this runtime implements version %u",
                   d->abi_version, KILN_ABI_VERSION);
  const char *v = d->kiln_version ? d->kiln_version : "(unknown)";
  if (strcmp(v, KILN_VERSION_STRING) != 0)
    return rt_fail(err, n, KILN_ERR_VERSION,
                   "the model code was compiled by kiln %s; this runtime is kiln %s", v,
                   KILN_VERSION_STRING);
  const char *bad = NULL;
  if (d->vocab < 1) bad = "vocab < 1";
  else if (d->max_context < 1) bad = "max_context < 1";
  else if (d->max_tokens < 1 || d->max_tokens > d->max_context)
    bad = "max_tokens outside [1, max_context]";
  else if (d->bos_id < -1 || d->bos_id >= d->vocab) bad = "bos_id outside [-1, vocab)";
  else if (d->eos_id < -1 || d->eos_id >= d->vocab) bad = "eos_id outside [-1, vocab)";
  else if (!d->prefill || !d->decode) bad = "an entry point is NULL";
  else if ((uint64_t)d->vocab > SIZE_MAX / sizeof(float) / (uint64_t)d->max_tokens)
    bad = "vocab * max_tokens overflows";
  if (bad) return rt_fail(err, n, KILN_ERR_INVALID, "the model description is invalid: %s", bad);
  return d->cuda ? rt_gpu_check_desc(d, err, n) : KILN_OK;
}

/* The device asked for, and whether this model can run there. */
static int check_device(const KilnModelDesc *d, const KilnOptions *o, char *err, size_t n) {
  KilnDevice dev = o ? o->device : KILN_DEVICE_CPU;
  if (dev != KILN_DEVICE_CPU && dev != KILN_DEVICE_CUDA)
    return rt_fail(err, n, KILN_ERR_INVALID, "unknown device %d (expected KILN_DEVICE_CPU or "
                   "KILN_DEVICE_CUDA)", (int)dev);
  if (dev == KILN_DEVICE_CUDA && !d->cuda)
    return rt_fail(err, n, KILN_ERR_DEVICE, "this model was compiled for the CPU only; compile "
                   "it with --device=cuda to run it on a GPU");
  return KILN_OK;
}

static int open_weights(KilnModel *m, const KilnOptions *o, char *err, size_t n) {
  if (o && o->weights_path) return rt_weights_open(&m->weights, m->desc, o->weights_path, err, n);
  return rt_weights_embedded(&m->weights, m->desc, err, n);
}

/* The host's logits and context, and for the CPU the arena and the KV cache. */
static int allocate(KilnModel *m, bool cpu, char *err, size_t n) {
  const KilnModelDesc *d = m->desc;
  int64_t rows = d->all_logits ? d->max_tokens : 1;
  m->logits = calloc((size_t)(rows * d->vocab), sizeof(float));
  m->context = calloc((size_t)d->max_context, sizeof(int32_t));
  if (!m->logits || !m->context)
    return rt_fail(err, n, KILN_ERR_NOMEM, "out of memory for the logits and the context");
  if (!cpu) return KILN_OK;
  m->arena = rt_pages_alloc(d->arena_bytes);
  if (!m->arena)
    return rt_fail(err, n, KILN_ERR_NOMEM, "cannot allocate the activation arena (%llu bytes)",
                   (unsigned long long)d->arena_bytes);
  m->state = rt_pages_alloc(d->state_bytes);
  if (!m->state)
    return rt_fail(err, n, KILN_ERR_NOMEM, "cannot allocate the KV cache (%llu bytes)",
                   (unsigned long long)d->state_bytes);
  return KILN_OK;
}

/* Uploads the checked weights to the GPU, then lets go of the host copy. */
static int open_gpu(KilnModel *m, const KilnOptions *o, char *err, size_t n) {
  int status = KILN_OK;
  m->gpu = rt_gpu_open(m->desc, m->weights.data, o, &status, err, n);
  rt_weights_close(&m->weights);
  return status;
}

/* CPU: the arena, the KV cache, the threads and KilnExec. */
static int open_cpu(KilnModel *m, int threads, char *err, size_t n) {
  if (!(m->pool = rt_pool_new(threads, err, n))) return KILN_ERR_NOMEM;
  m->ex = (KilnExec){.weights = m->weights.data, .arena = m->arena, .state = m->state,
                     .parallel_for = rt_parallel_for, .pool = m->pool};
  return KILN_OK;
}

KilnModel *kiln_init(const KilnModelDesc *desc, const KilnOptions *opts, char *err,
                     size_t err_size) {
  if (check_desc(desc, err, err_size) != KILN_OK ||
      check_device(desc, opts, err, err_size) != KILN_OK)
    return NULL;
  int threads = opts && opts->n_threads > 0 ? opts->n_threads : 1;
  if (threads > KILN_MAX_THREADS) {
    rt_fail(err, err_size, KILN_ERR_INVALID, "%d threads requested; at most %d", threads,
            KILN_MAX_THREADS);
    return NULL;
  }
  KilnModel *m = calloc(1, sizeof *m);
  if (!m) {
    rt_fail(err, err_size, KILN_ERR_NOMEM, "out of memory");
    return NULL;
  }
  m->desc = desc;
  bool cpu = !opts || opts->device == KILN_DEVICE_CPU;
  if (open_weights(m, opts, err, err_size) != KILN_OK || allocate(m, cpu, err, err_size) != KILN_OK ||
      (cpu ? open_cpu(m, threads, err, err_size) : open_gpu(m, opts, err, err_size)) != KILN_OK) {
    kiln_free(m);
    return NULL;
  }
  return m;
}

void kiln_free(KilnModel *m) {
  if (!m) return;
  rt_pool_free(m->pool);
  rt_gpu_close(m->gpu);
  free(m->context);
  free(m->logits);
  rt_pages_free(m->state, m->desc->state_bytes);
  rt_pages_free(m->arena, m->desc->arena_bytes);
  rt_weights_close(&m->weights);
  free(m);
}

/* ---- running --------------------------------------------------------------- */

int rt_model_fail(KilnModel *m, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->error, sizeof m->error, fmt, ap);
  va_end(ap);
  return status;
}

/* The checks that keep model code inside its compiled bounds. */
static int check_call(KilnModel *m, const int32_t *tokens, int64_t n) {
  const KilnModelDesc *d = m->desc;
  if (!tokens || n < 1) return rt_model_fail(m, KILN_ERR_INVALID, "no tokens to run");
  if (n > d->max_tokens)
    return rt_model_fail(m, KILN_ERR_ARGS, "%lld tokens in one call; this model takes at most %lld",
                      (ll)n, (ll)d->max_tokens);
  if (m->pos + n > d->max_context)
    return rt_model_fail(m, KILN_ERR_CONTEXT,
                      "the context is full: %lld tokens in the KV cache + %lld new exceed "
                      "max_context %lld",
                      (ll)m->pos, (ll)n, (ll)d->max_context);
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= d->vocab)
      return rt_model_fail(m, KILN_ERR_TOKEN,
                        "token %lld of %lld is %d, outside the vocabulary [0, %lld)", (ll)i + 1,
                        (ll)n, (int)tokens[i], (ll)d->vocab);
  return KILN_OK;
}

/* The CPU entry; a status model code may return is passed on. */
static int run_cpu(KilnModel *m, bool decode, const int32_t *tokens, int64_t n) {
  KilnEntryFn entry = decode ? m->desc->decode : m->desc->prefill;
  int status = entry(&m->ex, tokens, n, m->pos, m->logits);
  if (status != KILN_OK) {
    int known = status == KILN_ERR_ARGS || status == KILN_ERR_TOKEN || status == KILN_ERR_CONTEXT;
    return rt_model_fail(m, known ? status : KILN_ERR_MODEL,
                      "the model code refused %lld tokens at position %lld: %s (status %d)",
                      (ll)n, (ll)m->pos, kiln_status_string(status), status);
  }
  return KILN_OK;
}

/* Runs the entry on the model's device; on failure P stays as it was. */
static int run_entry(KilnModel *m, bool decode, const int32_t *tokens, int64_t n) {
  int status = check_call(m, tokens, n);
  if (status == KILN_OK)
    status = m->gpu ? rt_gpu_run(m->gpu, decode, tokens, n, m->pos, m->logits, m->error,
                                 sizeof m->error)
                    : run_cpu(m, decode, tokens, n);
  if (status != KILN_OK) return status;
  memcpy(m->context + m->pos, tokens, (size_t)n * sizeof *tokens);
  m->pos += n;
  m->last_row = m->desc->all_logits ? n - 1 : 0;
  return KILN_OK;
}

int kiln_prefill(KilnModel *m, const int32_t *tokens, int64_t n) {
  return run_entry(m, false, tokens, n);
}

int kiln_decode(KilnModel *m, int32_t token) { return run_entry(m, true, &token, 1); }

const float *kiln_logits(const KilnModel *m) { return m->logits + m->last_row * m->desc->vocab; }
int64_t kiln_position(const KilnModel *m) { return m->pos; }
const int32_t *kiln_context(const KilnModel *m) { return m->context; }
void kiln_reset(KilnModel *m) { m->pos = 0; }
const KilnModelDesc *kiln_desc(const KilnModel *m) { return m->desc; }
int kiln_threads(const KilnModel *m) { return rt_pool_threads(m->pool); }
KilnDevice kiln_device(const KilnModel *m) { return m->gpu ? KILN_DEVICE_CUDA : KILN_DEVICE_CPU; }
const char *kiln_device_name(const KilnModel *m) { return m->gpu ? rt_gpu_name(m->gpu) : "cpu"; }
const char *kiln_last_error(const KilnModel *m) { return m->error; }
