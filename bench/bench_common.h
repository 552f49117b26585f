/* bench_common.h: what bench_model.c and naive_llama.c share, so that both
 * time the same work on the same tokens and write the same output.
 *
 * Output: one "key value" line per figure on stdout (bench.py parses it).
 * Times are the best of --reps runs after one warm-up: the machine's
 * capability, less sensitive to a noisy neighbour than a mean.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Token i of the benchmark's prompt: a fixed pseudo-random id in [0, vocab). */
static inline int32_t bench_token(int64_t i, int64_t vocab) {
  uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return (int32_t)(x % (uint64_t)vocab);
}

/* The options both programs take. */
typedef struct {
  int threads;          /* --threads N (2) */
  int64_t prefill;      /* --prefill N: time a prefill of N tokens (0: skip) */
  int64_t decode_prompt;/* --decode-prompt N: prefill N tokens, then */
  int64_t decode_steps; /* --decode-steps N: time N decode steps (0: skip) */
  int reps;             /* --reps N (3) */
  const char *logits;   /* --logits FILE: raw f32 logits for the sanity check */
  int64_t sanity_len;   /* --sanity-len N (16): the prompt of the sanity check */
  int64_t token_limit;  /* --token-limit N: ids in [0, min(vocab, N)) (the matmul
                           modules embed only 16 rows) */
} BenchOpts;

/* Parses "--name=value" and "--name value" flags from argv[first..);
 * returns the index of the first argument it does not know, or argc. */
static inline int bench_parse(int argc, char **argv, int first, BenchOpts *o) {
  *o = (BenchOpts){.threads = 2, .reps = 3, .sanity_len = 16};
  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
#define BENCH_FLAG(name) (n == strlen(name) && !strncmp(a, name, n) && v && (eq || ++i))
    if (BENCH_FLAG("--threads")) o->threads = atoi(v);
    else if (BENCH_FLAG("--prefill")) o->prefill = atoll(v);
    else if (BENCH_FLAG("--decode-prompt")) o->decode_prompt = atoll(v);
    else if (BENCH_FLAG("--decode-steps")) o->decode_steps = atoll(v);
    else if (BENCH_FLAG("--reps")) o->reps = atoi(v);
    else if (BENCH_FLAG("--logits")) o->logits = v;
    else if (BENCH_FLAG("--sanity-len")) o->sanity_len = atoll(v);
    else if (BENCH_FLAG("--token-limit")) o->token_limit = atoll(v);
    else return i;
#undef BENCH_FLAG
  }
  if (o->reps < 1) o->reps = 1;
  if (o->threads < 1) o->threads = 1;
  return argc;
}

/* Appends n floats to f; returns 0 on success. */
static inline int bench_write_floats(FILE *f, const float *x, int64_t n) {
  return fwrite(x, sizeof *x, (size_t)n, f) == (size_t)n ? 0 : 1;
}

#endif
