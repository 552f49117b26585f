/* rt_generate.c: the generate loop.
 *
 *   prefill(prompt)                      in calls of at most max_tokens
 *   loop: t = sample(logits, context)
 *         stop at EOS (t is not reported)
 *         report t; stop at the limit, a full context or when told
 *         decode(t)
 *
 * So n generated tokens cost n - 1 decode calls: the last one is reported
 * but never run. Prefill and decode are timed apart (CLOCK_MONOTONIC).
 */
#include <string.h>
#include <time.h>

#include "rt_internal.h"

typedef long long ll;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check_prompt(KilnModel *m, int64_t n_prompt) {
  const KilnModelDesc *d = kiln_desc(m);
  int64_t free_positions = d->max_context - kiln_position(m);
  if (n_prompt < 1) return rt_model_fail(m, KILN_ERR_INVALID, "the prompt is empty");
  if (n_prompt <= free_positions) return KILN_OK;
  if (kiln_position(m) == 0)
    return rt_model_fail(m, KILN_ERR_CONTEXT,
                         "the prompt has %lld tokens, more than the %lld positions of this "
                         "model's context",
                         (ll)n_prompt, (ll)d->max_context);
  return rt_model_fail(m, KILN_ERR_CONTEXT,
                       "the prompt has %lld tokens, more than the %lld positions left in the "
                       "context (%lld of %lld used)",
                       (ll)n_prompt, (ll)free_positions, (ll)kiln_position(m),
                       (ll)d->max_context);
}

static int prefill_prompt(KilnModel *m, const int32_t *prompt, int64_t n, KilnGenerateStats *st) {
  int64_t step = kiln_desc(m)->max_tokens;
  double t0 = now_seconds();
  for (int64_t i = 0; i < n; i += step) {
    int status = kiln_prefill(m, prompt + i, n - i < step ? n - i : step);
    if (status != KILN_OK) return status;
  }
  st->prompt_tokens = n;
  st->prefill_seconds = now_seconds() - t0;
  return KILN_OK;
}

/* Samples, reports, decodes; returns a status, the reason in st->stop. */
static int generate_tokens(KilnModel *m, int64_t max_new, KilnSampler *sampler,
                           KilnTokenFn on_token, void *user, KilnGenerateStats *st) {
  const KilnModelDesc *d = kiln_desc(m);
  st->stop = KILN_STOP_LIMIT;
  while (max_new < 0 || st->generated < max_new) {
    int32_t t = kiln_sample(sampler, kiln_logits(m), kiln_context(m), kiln_position(m));
    if (t == d->eos_id) {
      st->stop = KILN_STOP_EOS;
      return KILN_OK;
    }
    st->generated++;
    if (on_token && on_token(user, t) != 0) {
      st->stop = KILN_STOP_CALLBACK;
      return KILN_OK;
    }
    if (st->generated == max_new) return KILN_OK;
    if (kiln_position(m) >= d->max_context) {
      st->stop = KILN_STOP_CONTEXT;
      return KILN_OK;
    }
    double t0 = now_seconds();
    int status = kiln_decode(m, t);
    st->decode_seconds += now_seconds() - t0;
    if (status != KILN_OK) return status;
    st->decode_tokens++;
  }
  return KILN_OK;
}

int kiln_generate(KilnModel *m, const int32_t *prompt, int64_t n_prompt, int64_t max_new_tokens,
                  KilnSampler *sampler, KilnTokenFn on_token, void *user,
                  KilnGenerateStats *stats) {
  KilnGenerateStats local;
  KilnGenerateStats *st = stats ? stats : &local;
  memset(st, 0, sizeof *st);
  if (!sampler) return rt_model_fail(m, KILN_ERR_INVALID, "no sampler");
  if (rt_sampler_vocab(sampler) != kiln_desc(m)->vocab)
    return rt_model_fail(m, KILN_ERR_INVALID,
                         "the sampler was made for a vocabulary of %lld; this model's has %lld",
                         (ll)rt_sampler_vocab(sampler), (ll)kiln_desc(m)->vocab);
  if (!prompt) return rt_model_fail(m, KILN_ERR_INVALID, "the prompt is empty");
  int status = check_prompt(m, n_prompt);
  if (status == KILN_OK) status = prefill_prompt(m, prompt, n_prompt, st);
  if (status == KILN_OK) status = generate_tokens(m, max_new_tokens, sampler, on_token, user, st);
  return status;
}
