/* test_sampler.c: runtime/rt_sample.c through kiln.h.
 *
 * Greedy (ties, NaN, -inf), the distribution of many draws against the
 * softmax computed here (temperature, top-k, top-p, and top-p applied after
 * top-k), the repetition penalty, seeds, and parameter errors. Frequencies
 * come from 200000 draws: a standard deviation of at most 0.0012, checked
 * at 0.006.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kiln.h"

#define DRAWS 200000

static KilnSampler *make(float temp, int top_k, float top_p, float penalty, uint64_t seed,
                         int64_t vocab) {
  KilnSamplerParams p = {.temperature = temp, .top_k = top_k, .top_p = top_p,
                         .repeat_penalty = penalty, .seed = seed};
  char err[256];
  KilnSampler *s = kiln_sampler_new(&p, vocab, err, sizeof err);
  if (!s) fprintf(stderr, "kiln_sampler_new: %s\n", err);
  return s;
}

/* Frequencies of each id over DRAWS draws. */
static void frequencies(KilnSampler *s, const float *logits, int n, double *freq) {
  int *count = calloc((size_t)n, sizeof *count), outside = 0;
  for (int i = 0; i < DRAWS; i++) {
    int32_t t = kiln_sample(s, logits, NULL, 0);
    if (t >= 0 && t < n) count[t]++;
    else outside++;
  }
  CHECK(outside == 0);
  for (int i = 0; i < n; i++) freq[i] = (double)count[i] / DRAWS;
  free(count);
}

/* softmax(logits[ids] / temp), renormalized over the listed ids. */
static void softmax_of(const float *logits, const int *ids, int n, double temp, double *p) {
  double sum = 0;
  for (int i = 0; i < n; i++) sum += p[i] = exp(logits[ids[i]] / temp);
  for (int i = 0; i < n; i++) p[i] /= sum;
}

static void check_distribution(float temp, int top_k, float top_p, const float *logits, int n,
                               const int *kept, int n_kept) {
  KilnSampler *s = make(temp, top_k, top_p, 1, 123, n);
  if (!s) return;
  double freq[16] = {0}, want[16] = {0}, p[16];
  frequencies(s, logits, n, freq);
  softmax_of(logits, kept, n_kept, temp, p);
  for (int i = 0; i < n_kept; i++) want[kept[i]] = p[i];
  for (int i = 0; i < n; i++) CHECK_NEAR(freq[i], want[i], 0.006);
  kiln_sampler_free(s);
}

static void test_defaults(void) {
  KilnSamplerParams d = kiln_sampler_defaults();
  CHECK_NEAR(d.temperature, 0.8, 1e-7);
  CHECK(d.top_k == 40);
  CHECK_NEAR(d.top_p, 0.95, 1e-7);
  CHECK(d.repeat_penalty == 1.0f && d.seed == 0);
}

static void test_greedy(void) {
  KilnSampler *s = make(0, 40, 0.9f, 1, 1, 6);
  float x[] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, NAN};
  CHECK(kiln_sample(s, x, NULL, 0) == 1); /* tie 1/3: the lower id */
  float nan_first[] = {NAN, -3.0f, -2.0f, -INFINITY, -2.0f, -5.0f};
  CHECK(kiln_sample(s, nan_first, NULL, 0) == 2);
  float none[] = {-INFINITY, -INFINITY, NAN, -INFINITY, -INFINITY, -INFINITY};
  CHECK(kiln_sample(s, none, NULL, 0) == 0);
  kiln_sampler_free(s);
  /* Non-greedy with only one possible token, or an infinite one. */
  s = make(1, 0, 1, 1, 1, 6);
  float one[] = {-INFINITY, -INFINITY, -INFINITY, 4.0f, -INFINITY, NAN};
  for (int i = 0; i < 100; i++) CHECK(kiln_sample(s, one, NULL, 0) == 3);
  float inf[] = {1.0f, INFINITY, 3.0f, INFINITY, 0.0f, 0.0f};
  CHECK(kiln_sample(s, inf, NULL, 0) == 1);
  CHECK(kiln_sample(s, none, NULL, 0) == 0);
  kiln_sampler_free(s);
  /* top_k = 1 is greedy at any temperature. */
  s = make(5, 1, 1, 1, 9, 6);
  for (int i = 0; i < 100; i++) CHECK(kiln_sample(s, x, NULL, 0) == 1);
  kiln_sampler_free(s);
}

static void test_distributions(void) {
  float l[] = {logf(0.5f), logf(0.3f), logf(0.2f)};
  int all[] = {0, 1, 2}, two[] = {0, 1}, top[] = {0};
  check_distribution(1, 0, 1, l, 3, all, 3);
  check_distribution(2, 0, 1, l, 3, all, 3);   /* flatter */
  check_distribution(0.5f, 0, 1, l, 3, all, 3); /* sharper */
  check_distribution(1, 2, 1, l, 3, two, 2);    /* top-k 2: .625 .375 */
  check_distribution(1, 0, 0.7f, l, 3, two, 2); /* .5 + .3 >= .7 */
  check_distribution(1, 0, 0.45f, l, 3, top, 1);
  /* top-p on the survivors of top-k: .625 >= .6 keeps one token (on all
   * three tokens, .5 < .6 would keep two). */
  check_distribution(1, 2, 0.6f, l, 3, top, 1);
  /* The worked example of rt_sample.c. */
  float w[] = {2, 1, 0, -1};
  check_distribution(1, 3, 0.9f, w, 4, two, 2);
}

/* top-k against a sort done here, on a vocabulary with ties. */
static void test_top_k_large(void) {
  enum { V = 1000, K = 10 };
  static float l[V];
  uint64_t x = 7;
  for (int i = 0; i < V; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    l[i] = (float)((x >> 40) % 50) / 8.0f; /* 50 values: many ties */
  }
  /* The K best by (logit desc, id asc). */
  int best[K], taken[V] = {0};
  for (int k = 0; k < K; k++) {
    int b = -1;
    for (int i = 0; i < V; i++)
      if (!taken[i] && (b < 0 || l[i] > l[b])) b = i;
    best[k] = b;
    taken[b] = 1;
  }
  KilnSampler *s = make(100, K, 1, 1, 5, V); /* nearly uniform over the K */
  int hits[V] = {0}, outside = 0;
  for (int i = 0; i < 20000; i++) hits[kiln_sample(s, l, NULL, 0)]++;
  for (int i = 0; i < V; i++) outside += hits[i] && !taken[i];
  CHECK(outside == 0);
  for (int k = 0; k < K; k++) CHECK(hits[best[k]] > 1500);
  kiln_sampler_free(s);
  /* All equal: the K lowest ids. */
  static float flat[V];
  s = make(1, 3, 1, 1, 5, V);
  int low = 1;
  for (int i = 0; i < 1000; i++) low &= kiln_sample(s, flat, NULL, 0) < 3;
  CHECK(low);
  kiln_sampler_free(s);
}

static void test_repeat_penalty(void) {
  float l[] = {3.0f, 2.0f, 1.0f, -1.0f, -1.2f, -5.0f};
  float copy[6];
  memcpy(copy, l, sizeof l);
  int32_t ctx[] = {0, 0, 0, -1, 99};
  /* Once per distinct token: 3 / 1.4 = 2.14 > 2 (three times would be 1.09). */
  KilnSampler *s = make(0, 0, 1, 1.4f, 1, 6);
  CHECK(kiln_sample(s, l, ctx, 5) == 0);
  CHECK(memcmp(l, copy, sizeof l) == 0); /* the caller's logits are left alone */
  kiln_sampler_free(s);
  s = make(0, 0, 1, 1.6f, 1, 6); /* 3 / 1.6 = 1.875 < 2 */
  CHECK(kiln_sample(s, l, ctx, 5) == 1);
  CHECK(kiln_sample(s, l, NULL, 0) == 0); /* no context, no penalty */
  kiln_sampler_free(s);
  /* Negative logits are multiplied: -1 * 1.5 = -1.5 < -1.2. */
  float neg[] = {-1.0f, -1.2f, -5.0f};
  int32_t ctx0[] = {0};
  s = make(0, 0, 1, 1.5f, 1, 3);
  CHECK(kiln_sample(s, neg, ctx0, 1) == 1);
  kiln_sampler_free(s);
  /* A penalty < 1 favours repeats. */
  float up[] = {1.0f, 2.0f};
  s = make(0, 0, 1, 0.25f, 1, 2);
  CHECK(kiln_sample(s, up, ctx0, 1) == 0);
  kiln_sampler_free(s);
}

static void test_seeds(void) {
  float l[16];
  for (int i = 0; i < 16; i++) l[i] = (float)(i % 5) * 0.3f;
  int32_t a[200], b[200], c[200];
  KilnSampler *sa = make(1, 0, 1, 1, 77, 16), *sb = make(1, 0, 1, 1, 77, 16),
              *sc = make(1, 0, 1, 1, 78, 16);
  for (int i = 0; i < 200; i++) {
    a[i] = kiln_sample(sa, l, NULL, 0);
    b[i] = kiln_sample(sb, l, NULL, 0);
    c[i] = kiln_sample(sc, l, NULL, 0);
  }
  CHECK(memcmp(a, b, sizeof a) == 0);
  CHECK(memcmp(a, c, sizeof a) != 0);
  kiln_sampler_free(sa);
  kiln_sampler_free(sb);
  kiln_sampler_free(sc);
}

static void expect_params_error(KilnSamplerParams p, int64_t vocab, const char *want) {
  char err[256] = "";
  KilnSampler *s = kiln_sampler_new(&p, vocab, err, sizeof err);
  CHECK(s == NULL);
  kiln_sampler_free(s);
  CHECK(strcmp(err, want) == 0);
  if (strcmp(err, want) != 0) fprintf(stderr, "  got '%s'\n", err);
}

static void test_param_errors(void) {
  KilnSamplerParams d = kiln_sampler_defaults(), p;
  p = d, p.temperature = -1;
  expect_params_error(p, 10, "temperature must be >= 0, got -1");
  p = d, p.temperature = NAN;
  expect_params_error(p, 10, "temperature must be >= 0, got nan");
  p = d, p.top_k = -3;
  expect_params_error(p, 10, "top_k must be >= 0, got -3");
  p = d, p.top_p = 0;
  expect_params_error(p, 10, "top_p must be in (0, 1], got 0");
  p = d, p.top_p = 1.5f;
  expect_params_error(p, 10, "top_p must be in (0, 1], got 1.5");
  p = d, p.repeat_penalty = 0;
  expect_params_error(p, 10, "repeat_penalty must be > 0, got 0");
  expect_params_error(d, 0, "vocab must be >= 1, got 0");
  char err[64];
  CHECK(kiln_sampler_new(NULL, 10, err, sizeof err) == NULL);
  CHECK(strcmp(err, "no sampler parameters") == 0);
  kiln_sampler_free(NULL);
}

int main(void) {
  test_defaults();
  test_greedy();
  test_distributions();
  test_top_k_large();
  test_repeat_penalty();
  test_seeds();
  test_param_errors();
  return check_report();
}
