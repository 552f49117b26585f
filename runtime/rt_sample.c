/* rt_sample.c: choosing the next token from the logits.
 *
 * In order: repetition penalty, then greedy (argmax) when the temperature
 * is 0, else top-k, softmax of logit/temperature over the survivors,
 * top-p (nucleus) and one draw. Candidates are ordered by logit and then
 * by id, so every step, ties included, is deterministic; the only
 * randomness is one xoshiro256** draw per token, seeded by splitmix64.
 *
 * Worked example: logits {2, 1, 0, -1}, temperature 1, top_k 3, top_p 0.9:
 * top-k keeps ids 0, 1, 2 with probabilities .665 .245 .090; top-p keeps
 * 0 and 1 (.665 + .245 = .910 >= .9); the draw picks 0 with .731, 1 with .269.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

typedef struct {
  float logit;
  int32_t id;
} RtCandidate;

struct KilnSampler {
  KilnSamplerParams p;
  int64_t vocab;
  uint64_t rng[4];     /* xoshiro256** state */
  float *logits;       /* [vocab] the working copy: NaN cleared, penalty applied */
  RtCandidate *cand;   /* [vocab] */
  double *weights;     /* [vocab] unnormalized probabilities of the candidates */
  uint8_t *seen;       /* [vocab] tokens penalized in this call; all 0 between calls */
};

/* ---- random numbers ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(KilnSampler *s) { return (double)(xoshiro_next(s->rng) >> 11) * 0x1.0p-53; }

/* ---- parameters ------------------------------------------------------------ */

KilnSamplerParams kiln_sampler_defaults(void) {
  return (KilnSamplerParams){
      .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .repeat_penalty = 1.0f, .seed = 0};
}

static int check_params(const KilnSamplerParams *p, int64_t vocab, char *err, size_t n) {
  if (!(p->temperature >= 0 && isfinite(p->temperature)))
    return rt_fail(err, n, KILN_ERR_INVALID, "temperature must be >= 0, got %g",
                   (double)p->temperature);
  if (p->top_k < 0)
    return rt_fail(err, n, KILN_ERR_INVALID, "top_k must be >= 0, got %d", (int)p->top_k);
  if (!(p->top_p > 0 && p->top_p <= 1))
    return rt_fail(err, n, KILN_ERR_INVALID, "top_p must be in (0, 1], got %g",
                   (double)p->top_p);
  if (!(p->repeat_penalty > 0 && isfinite(p->repeat_penalty)))
    return rt_fail(err, n, KILN_ERR_INVALID, "repeat_penalty must be > 0, got %g",
                   (double)p->repeat_penalty);
  if (vocab < 1 || (uint64_t)vocab > SIZE_MAX / sizeof(double))
    return rt_fail(err, n, KILN_ERR_INVALID, "vocab must be >= 1, got %lld", (long long)vocab);
  return KILN_OK;
}

KilnSampler *kiln_sampler_new(const KilnSamplerParams *p, int64_t vocab, char *err,
                              size_t err_size) {
  if (!p) {
    rt_fail(err, err_size, KILN_ERR_INVALID, "no sampler parameters");
    return NULL;
  }
  if (check_params(p, vocab, err, err_size) != KILN_OK) return NULL;
  KilnSampler *s = calloc(1, sizeof *s);
  if (s) {
    s->logits = malloc((size_t)vocab * sizeof *s->logits);
    s->cand = malloc((size_t)vocab * sizeof *s->cand);
    s->weights = malloc((size_t)vocab * sizeof *s->weights);
    s->seen = calloc((size_t)vocab, 1);
  }
  if (!s || !s->logits || !s->cand || !s->weights || !s->seen) {
    kiln_sampler_free(s);
    rt_fail(err, err_size, KILN_ERR_NOMEM, "out of memory for a sampler of %lld tokens",
            (long long)vocab);
    return NULL;
  }
  s->p = *p;
  s->vocab = vocab;
  uint64_t x = p->seed;
  for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
  return s;
}

void kiln_sampler_free(KilnSampler *s) {
  if (!s) return;
  free(s->logits);
  free(s->cand);
  free(s->weights);
  free(s->seen);
  free(s);
}

int64_t rt_sampler_vocab(const KilnSampler *s) { return s->vocab; }

/* ---- the steps --------------------------------------------------------------- */

/* CTRL (Keskar et al. 2019), as llama.cpp: once per distinct token of the
 * context, a positive logit is divided by the penalty, a negative one
 * multiplied, so a penalty > 1 always makes the token less likely. */
static void apply_repeat_penalty(KilnSampler *s, const int32_t *context, int64_t n) {
  float pen = s->p.repeat_penalty;
  if (pen == 1.0f || !context) return;
  for (int64_t i = 0; i < n; i++) {
    int32_t t = context[i];
    if (t < 0 || t >= s->vocab || s->seen[t]) continue;
    s->seen[t] = 1;
    s->logits[t] = s->logits[t] > 0 ? s->logits[t] / pen : s->logits[t] * pen;
  }
  for (int64_t i = 0; i < n; i++)
    if (context[i] >= 0 && context[i] < s->vocab) s->seen[context[i]] = 0;
}

/* a before b: the higher logit, or on a tie the lower id. */
static int better(RtCandidate a, RtCandidate b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int compare_candidates(const void *pa, const void *pb) {
  RtCandidate a = *(const RtCandidate *)pa, b = *(const RtCandidate *)pb;
  return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static int32_t argmax(const float *x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return (int32_t)best;
}

/* Restores the min-heap (the worst candidate at the root) below i. */
static void sift_down(RtCandidate *h, int64_t k, int64_t i) {
  for (;;) {
    int64_t worst = i, l = 2 * i + 1, r = l + 1;
    if (l < k && better(h[worst], h[l])) worst = l;
    if (r < k && better(h[worst], h[r])) worst = r;
    if (worst == i) return;
    RtCandidate t = h[i];
    h[i] = h[worst], h[worst] = t;
    i = worst;
  }
}

/* Fills cand with the k best tokens (all with k = 0), best first. A heap
 * of k keeps this O(vocab log k) for the usual k of 40 and vocab of 100k. */
static int64_t top_k(KilnSampler *s) {
  int64_t v = s->vocab, k = s->p.top_k > 0 && s->p.top_k < v ? s->p.top_k : v;
  RtCandidate *c = s->cand;
  for (int64_t i = 0; i < k; i++) c[i] = (RtCandidate){s->logits[i], (int32_t)i};
  if (k < v) {
    for (int64_t i = k / 2; i-- > 0;) sift_down(c, k, i);
    for (int64_t i = k; i < v; i++) {
      RtCandidate x = {s->logits[i], (int32_t)i};
      if (better(x, c[0])) c[0] = x, sift_down(c, k, 0);
    }
  }
  qsort(c, (size_t)k, sizeof *c, compare_candidates);
  return k;
}

/* Draws from softmax(logit / temperature) over the n best candidates,
 * cut to the smallest prefix whose probability reaches top_p. */
static int32_t draw(KilnSampler *s, int64_t n) {
  RtCandidate *c = s->cand;
  double *w = s->weights, total = 0;
  /* All -inf (nothing possible) or a +inf (certain): the best, lowest id. */
  if (!isfinite(c[0].logit)) return c[0].id;
  for (int64_t i = 0; i < n; i++) {
    w[i] = exp(((double)c[i].logit - c[0].logit) / s->p.temperature);
    total += w[i];
  }
  double cut = s->p.top_p >= 1.0f ? total : s->p.top_p * total, kept = 0;
  int64_t m = 0;
  do kept += w[m++];
  while (m < n && kept < cut);
  double r = uniform(s) * kept, acc = 0;
  for (int64_t i = 0; i < m; i++) {
    acc += w[i];
    if (r < acc) return c[i].id;
  }
  return c[m - 1].id;
}

int32_t kiln_sample(KilnSampler *s, const float *logits, const int32_t *context,
                    int64_t n_context) {
  for (int64_t i = 0; i < s->vocab; i++)
    s->logits[i] = isnan(logits[i]) ? -INFINITY : logits[i];
  apply_repeat_penalty(s, context, n_context);
  if (s->p.temperature == 0) return argmax(s->logits, s->vocab);
  return draw(s, top_k(s));
}
