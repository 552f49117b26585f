/* kiln.h: the public C API of kiln's runtime (libkiln_rt).
 *
 * A compiled model is an object that defines `const KilnModelDesc
 * kiln_model` (see kiln_abi.h). This header runs it: load the weights,
 * feed tokens, read logits, sample, generate.
 *
 *   extern const KilnModelDesc kiln_model;
 *   char err[512];
 *   KilnOptions opts = {.weights_path = "tiny.kw", .n_threads = 4};
 *   KilnModel *m = kiln_init(&kiln_model, &opts, err, sizeof err);
 *   if (!m) { fprintf(stderr, "%s\n", err); return 1; }
 *   int32_t prompt[] = {1, 15043, 29892};
 *   KilnSamplerParams sp = kiln_sampler_defaults();
 *   KilnSampler *s = kiln_sampler_new(&sp, kiln_model.vocab, err, sizeof err);
 *   KilnGenerateStats st;
 *   if (kiln_generate(m, prompt, 3, 64, s, print_token, NULL, &st) != KILN_OK)
 *     fprintf(stderr, "%s\n", kiln_last_error(m));
 *   kiln_sampler_free(s);
 *   kiln_free(m);
 *
 * Sections: status codes, the model (rt_model.c), sampling (rt_sample.c),
 * generation (rt_generate.c). Functions that can fail return a status
 * (0 is KILN_OK) and leave a message in kiln_last_error(); nothing here
 * prints or exits. A model is used by one thread at a time; it runs its
 * kernels on its own thread pool.
 */
#ifndef KILN_H
#define KILN_H

#include "kiln_abi.h"

/* ---- status codes ------------------------------------------------------ */

/* KILN_OK .. KILN_ERR_CONTEXT come from kiln_abi.h (what model code may
 * return); the runtime adds its own from 16 on. */
enum {
  KILN_ERR_INVALID = 16,         /* a bad argument: NULL, empty prompt, bad parameters */
  KILN_ERR_MODEL = 17,           /* model code returned a status the runtime does not know */
  KILN_ERR_VERSION = 18,         /* model code of another ABI or kiln version */
  KILN_ERR_WEIGHTS_IO = 19,      /* the weight file cannot be opened or mapped */
  KILN_ERR_WEIGHTS_FORMAT = 20,  /* not a weight file, another format version, wrong size */
  KILN_ERR_WEIGHTS_MODEL = 21,   /* a weight file of another model (hash) */
  KILN_ERR_WEIGHTS_CORRUPT = 22, /* the checksum does not match */
  KILN_ERR_NOMEM = 23,           /* out of memory, or threads could not start */
  KILN_ERR_DEVICE = 24,          /* no such device here, or the GPU failed (the message says) */
};

/* "ok", "token count or position outside the compiled bounds", ... */
const char *kiln_status_string(int status);

/* The kiln version this runtime belongs to ("0.1.0"). */
const char *kiln_runtime_version(void);

/* ---- the model (rt_model.c) ------------------------------------------- */

typedef struct KilnModel KilnModel;

typedef enum { KILN_DEVICE_CPU = 0, KILN_DEVICE_CUDA = 1 } KilnDevice;

typedef struct {
  /* The weight file NAME.kw. NULL: use desc->embedded_weights. */
  const char *weights_path;
  /* Threads for the kernels, the calling thread included. <= 0 means 1. */
  int n_threads;
  /* Where the kernels run. KILN_DEVICE_CUDA needs a model compiled with
   * --device=cuda (desc->cuda), the CUDA driver and a GPU; kiln_init says
   * which is missing ("no CUDA driver found (...)"). */
  KilnDevice device;
  int gpu;                 /* CUDA device ordinal (0) */
  const char *cuda_driver; /* the driver library; NULL: "libcuda.so.1" */
} KilnOptions;

#define KILN_MAX_THREADS 1024

/* Checks desc (ABI and kiln versions, bounds), opens and verifies the
 * weights (magic, format version, model hash, size, checksum), allocates
 * the arena and a zeroed KV cache, starts the threads. Returns NULL on
 * failure with the reason in err (err_size bytes, always terminated), e.g.
 * "weights file 'x.kw' was built for another model (hash 0x..., this
 * executable expects 0x...)". */
KilnModel *kiln_init(const KilnModelDesc *desc, const KilnOptions *opts, char *err,
                     size_t err_size);
void kiln_free(KilnModel *m);

/* Runs tokens[0..n) at positions [P, P+n), P = kiln_position(). Needs
 * 1 <= n <= max_tokens, P + n <= max_context and every id in [0, vocab).
 * On success P grows by n and kiln_logits() holds the last position's
 * logits. On failure the position and the context stay as they were. */
int kiln_prefill(KilnModel *m, const int32_t *tokens, int64_t n);
/* One token at position P: the decode entry. */
int kiln_decode(KilnModel *m, int32_t token);
/* vocab floats: the logits of the last position of the last successful
 * prefill/decode (zeros before the first). */
const float *kiln_logits(const KilnModel *m);
/* Tokens in the KV cache (the next position). */
int64_t kiln_position(const KilnModel *m);
/* The tokens in the KV cache, kiln_position() of them, oldest first. */
const int32_t *kiln_context(const KilnModel *m);
/* Forgets the context: the position goes back to 0. The KV cache is not
 * cleared; model code never reads past the position. */
void kiln_reset(KilnModel *m);
const KilnModelDesc *kiln_desc(const KilnModel *m);
int kiln_threads(const KilnModel *m);
KilnDevice kiln_device(const KilnModel *m);
/* "cpu", or the GPU's name ("NVIDIA H200"). */
const char *kiln_device_name(const KilnModel *m);
/* The message of the last failed call ("" if none failed). */
const char *kiln_last_error(const KilnModel *m);

/* ---- sampling (rt_sample.c) ------------------------------------------- */

typedef struct {
  float temperature;    /* 0: greedy (argmax, ties to the lower id) */
  int32_t top_k;        /* keep the k most likely tokens; 0: all */
  float top_p;          /* then the smallest set with probability >= top_p; 1: all */
  float repeat_penalty; /* CTRL-style, on tokens of the context; 1: off */
  uint64_t seed;        /* same seed, same logits: same tokens */
} KilnSamplerParams;

typedef struct KilnSampler KilnSampler;

/* temperature 0.8, top_k 40, top_p 0.95, repeat_penalty 1, seed 0. */
KilnSamplerParams kiln_sampler_defaults(void);
/* Returns NULL with the reason in err when a parameter is out of range
 * ("top_p must be in (0, 1], got 1.5") or vocab < 1. */
KilnSampler *kiln_sampler_new(const KilnSamplerParams *p, int64_t vocab, char *err,
                              size_t err_size);
void kiln_sampler_free(KilnSampler *s);
/* Draws the next token from logits[vocab]. context[0..n_context) are the
 * tokens the repetition penalty applies to (ids outside the vocabulary
 * are ignored). Consumes one random number unless greedy. NaN logits
 * count as -inf. */
int32_t kiln_sample(KilnSampler *s, const float *logits, const int32_t *context,
                    int64_t n_context);

/* ---- generation (rt_generate.c) --------------------------------------- */

typedef enum {
  KILN_STOP_LIMIT,    /* max_new_tokens were generated */
  KILN_STOP_EOS,      /* the model chose eos_id (not passed to the callback) */
  KILN_STOP_CONTEXT,  /* the KV cache is full */
  KILN_STOP_CALLBACK, /* the callback returned nonzero */
} KilnStopReason;

typedef struct {
  int64_t prompt_tokens;  /* prefilled */
  double prefill_seconds;
  int64_t decode_tokens;  /* decode calls */
  double decode_seconds;
  int64_t generated;      /* tokens passed to the callback */
  KilnStopReason stop;
} KilnGenerateStats;

/* Called with each generated token as soon as it is sampled; returns
 * nonzero to stop. */
typedef int (*KilnTokenFn)(void *user, int32_t token);

/* Prefills prompt[0..n_prompt) after the current context (in calls of at
 * most max_tokens), then samples, reports and decodes tokens until EOS,
 * max_new_tokens (< 0: no limit), a full context or the callback says
 * stop. The last token sampled is reported but not decoded. on_token and
 * stats may be NULL. A prompt that does not fit the free context is
 * refused before any work: "the prompt has 30 tokens, more than the 24
 * positions of this model's context". */
int kiln_generate(KilnModel *m, const int32_t *prompt, int64_t n_prompt, int64_t max_new_tokens,
                  KilnSampler *sampler, KilnTokenFn on_token, void *user,
                  KilnGenerateStats *stats);

#endif
