/* test_runtime.c: the runtime through its C API, against the fake model
 * (tests/runtime/fake_model.c, a hand-written stand-in for generated code).
 *
 * Weights: loading, and every check (missing, corrupt, another model,
 * format, size, embedded). Model: the ABI/version checks, bounds of
 * prefill/decode with their messages, the position and the KV cache
 * (split prefill == one prefill, bit for bit), reset, and bit-identical
 * logits for 1, 2 and 3 threads. Pool: every chunk exactly once. Generate:
 * agreement with a hand-written greedy loop, EOS, limits, the context.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fake_model.h"
#include "kiln.h"
#include "rt_internal.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
  static char buf[4][256];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, 256, "%s/%s", tmpdir, name);
  return p;
}

static KilnModel *open_model(const KilnModelDesc *d, const char *weights, int threads) {
  char err[1024];
  KilnOptions o = {.weights_path = weights, .n_threads = threads};
  KilnModel *m = kiln_init(d, &o, err, sizeof err);
  if (!m) fprintf(stderr, "kiln_init: %s\n", err);
  return m;
}

/* kiln_init's message for these options (and that it failed). */
static const char *init_error(const KilnModelDesc *d, const char *weights) {
  static char err[1024];
  KilnOptions o = {.weights_path = weights, .n_threads = 2};
  KilnModel *m = kiln_init(d, &o, err, sizeof err);
  CHECK(m == NULL);
  kiln_free(m);
  return err;
}

static void write_bytes(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(p, 1, n, f) == n);
  if (f) fclose(f);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, cap, f) : 0;
  if (f) fclose(f);
  return n;
}

/* ---- weights --------------------------------------------------------------- */

static void test_checksum_matches_desc(void) {
  static uint8_t w[FAKE_WEIGHTS_BYTES];
  fake_model_fill_weights(w);
  CHECK(kiln_hash64(w, sizeof w, KILN_HASH_SEED) == kiln_model.weights_checksum);
  CHECK(kiln_model.weights_bytes == FAKE_WEIGHTS_BYTES);
}

static void test_weights_errors(const char *good) {
  char want[1024];
  const char *missing = tmp_path("missing.kw");
  snprintf(want, sizeof want, "cannot open weights file '%s': No such file or directory",
           missing);
  CHECK(strcmp(init_error(&kiln_model, missing), want) == 0);

  static uint8_t file[KILN_WEIGHTS_HEADER_BYTES + FAKE_WEIGHTS_BYTES + 1];
  size_t n = read_file(good, file, sizeof file);
  CHECK(n == KILN_WEIGHTS_HEADER_BYTES + FAKE_WEIGHTS_BYTES);

  /* One flipped bit in the data: checksum. */
  const char *corrupt = tmp_path("corrupt.kw");
  file[KILN_WEIGHTS_HEADER_BYTES + 1000] ^= 0x10;
  write_bytes(corrupt, file, n);
  uint64_t sum = kiln_hash64(file + KILN_WEIGHTS_HEADER_BYTES, FAKE_WEIGHTS_BYTES,
                             KILN_HASH_SEED);
  snprintf(want, sizeof want,
           "weights file '%s' is corrupt: checksum 0x%016llx, expected 0x%016llx", corrupt,
           (unsigned long long)sum, (unsigned long long)kiln_model.weights_checksum);
  CHECK(strcmp(init_error(&kiln_model, corrupt), want) == 0);
  file[KILN_WEIGHTS_HEADER_BYTES + 1000] ^= 0x10;

  /* Another model's weights: the hash, reported before anything else. */
  const char *other = tmp_path("other.kw");
  CHECK(fake_model_write_weights(other, 0xabcdef0123456789ull) == 0);
  snprintf(want, sizeof want,
           "weights file '%s' was built for another model (hash 0xabcdef0123456789, this "
           "executable expects 0x%016llx)",
           other, (unsigned long long)kiln_model.model_hash);
  CHECK(strcmp(init_error(&kiln_model, other), want) == 0);

  /* Format: magic, version, sizes. */
  const char *bad = tmp_path("bad.kw");
  file[0] = 'X';
  write_bytes(bad, file, n);
  snprintf(want, sizeof want,
           "weights file '%s' is not a kiln weights file (bad magic; expected \"KILNWTS1\")", bad);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  file[0] = 'K';
  file[8] = 2;
  write_bytes(bad, file, n);
  snprintf(want, sizeof want,
           "weights file '%s' has format version 2; this runtime reads version 1", bad);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  file[8] = 1;
  write_bytes(bad, file, n - 1);
  snprintf(want, sizeof want,
           "weights file '%s' has %zu bytes; its header announces 64 + %d (the file is "
           "truncated or has trailing bytes)",
           bad, n - 1, FAKE_WEIGHTS_BYTES);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  file[n] = 0;
  write_bytes(bad, file, n + 1);
  snprintf(want, sizeof want,
           "weights file '%s' has %zu bytes; its header announces 64 + %d (the file is "
           "truncated or has trailing bytes)",
           bad, n + 1, FAKE_WEIGHTS_BYTES);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  write_bytes(bad, file, 63);
  snprintf(want, sizeof want,
           "weights file '%s' has 63 bytes, too few for the 64-byte header", bad);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  snprintf(want, sizeof want, "weights file '%s' is not a regular file", tmpdir);
  CHECK(strcmp(init_error(&kiln_model, tmpdir), want) == 0);

  /* The header announces another data size than the model's. */
  file[24] ^= 0x40;
  write_bytes(bad, file, n);
  snprintf(want, sizeof want, "weights file '%s' announces %d data bytes; this model expects %d",
           bad, FAKE_WEIGHTS_BYTES ^ 0x40, FAKE_WEIGHTS_BYTES);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  file[24] ^= 0x40;

  /* The header's own checksum disagrees with the executable's. */
  file[32] ^= 1;
  write_bytes(bad, file, n);
  uint64_t recorded = kiln_model.weights_checksum ^ 1;
  snprintf(want, sizeof want,
           "weights file '%s' records checksum 0x%016llx; this model expects 0x%016llx", bad,
           (unsigned long long)recorded, (unsigned long long)kiln_model.weights_checksum);
  CHECK(strcmp(init_error(&kiln_model, bad), want) == 0);
  file[32] ^= 1;
}

static void test_embedded_weights(const char *good) {
  static _Alignas(64) uint8_t w[FAKE_WEIGHTS_BYTES + 64];
  fake_model_fill_weights(w);
  KilnModelDesc d = kiln_model;
  CHECK(strcmp(init_error(&d, NULL),
               "this model has no embedded weights; give the path of its weights file") == 0);
  d.embedded_weights = w;
  KilnModel *a = open_model(&d, NULL, 2), *b = open_model(&kiln_model, good, 1);
  CHECK(a && b);
  if (a && b) {
    int32_t t[] = {4, 5, 6};
    CHECK(kiln_prefill(a, t, 3) == KILN_OK && kiln_prefill(b, t, 3) == KILN_OK);
    CHECK(memcmp(kiln_logits(a), kiln_logits(b), FAKE_VOCAB * sizeof(float)) == 0);
  }
  kiln_free(a);
  kiln_free(b);
  w[7] ^= 1;
  uint64_t sum = kiln_hash64(w, FAKE_WEIGHTS_BYTES, KILN_HASH_SEED);
  char want[256];
  snprintf(want, sizeof want,
           "the embedded weights are corrupt: checksum 0x%016llx, expected 0x%016llx",
           (unsigned long long)sum, (unsigned long long)kiln_model.weights_checksum);
  CHECK(strcmp(init_error(&d, NULL), want) == 0);
  w[7] ^= 1;
  d.embedded_weights = w + 4;
  CHECK(strcmp(init_error(&d, NULL), "the embedded weights are not 64-byte aligned") == 0);
}

/* ---- the model description ----------------------------------------------- */

static void test_desc_checks(const char *good) {
  KilnModelDesc d = kiln_model;
  d.abi_version = 1;
  CHECK(strcmp(init_error(&d, good),
               "the model code uses ABI version 1; this runtime implements version 2") == 0);
  d = kiln_model;
  d.kiln_version = "9.9.9";
  char want[256];
  snprintf(want, sizeof want, "the model code was compiled by kiln 9.9.9; this runtime is kiln %s",
           kiln_runtime_version());
  CHECK(strcmp(init_error(&d, good), want) == 0);
  CHECK(strcmp(kiln_runtime_version(), KILN_VERSION_STRING) == 0);
  d = kiln_model;
  d.max_tokens = d.max_context + 1;
  CHECK(strcmp(init_error(&d, good),
               "the model description is invalid: max_tokens outside [1, max_context]") == 0);
  d = kiln_model;
  d.eos_id = d.vocab;
  CHECK(strcmp(init_error(&d, good),
               "the model description is invalid: eos_id outside [-1, vocab)") == 0);
  d = kiln_model;
  d.decode = NULL;
  CHECK(strcmp(init_error(&d, good), "the model description is invalid: an entry point is NULL") ==
        0);
  CHECK(strcmp(init_error(NULL, good), "no model description") == 0);
  char err[128];
  KilnOptions o = {.weights_path = good, .n_threads = KILN_MAX_THREADS + 1};
  CHECK(kiln_init(&kiln_model, &o, err, sizeof err) == NULL);
  CHECK(strcmp(err, "1025 threads requested; at most 1024") == 0);
}

/* ---- prefill / decode ------------------------------------------------------- */

static void test_bounds(const char *good) {
  KilnModel *m = open_model(&kiln_model, good, 2);
  CHECK(m != NULL);
  if (!m) return;
  int32_t t[FAKE_MAX_CONTEXT + 1];
  for (int i = 0; i <= FAKE_MAX_CONTEXT; i++) t[i] = i % FAKE_VOCAB;
  CHECK(kiln_prefill(m, t, FAKE_MAX_TOKENS + 1) == KILN_ERR_ARGS);
  CHECK(strcmp(kiln_last_error(m), "9 tokens in one call; this model takes at most 8") == 0);
  CHECK(kiln_prefill(m, t, 0) == KILN_ERR_INVALID);
  CHECK(strcmp(kiln_last_error(m), "no tokens to run") == 0);
  int32_t bad[] = {1, 40, 2};
  CHECK(kiln_prefill(m, bad, 3) == KILN_ERR_TOKEN);
  CHECK(strcmp(kiln_last_error(m), "token 2 of 3 is 40, outside the vocabulary [0, 32)") == 0);
  CHECK(kiln_decode(m, -1) == KILN_ERR_TOKEN);
  CHECK(strcmp(kiln_last_error(m), "token 1 of 1 is -1, outside the vocabulary [0, 32)") == 0);
  CHECK(kiln_position(m) == 0);
  /* Fill the context: 8 + 8 + 7 + 1 = 24. */
  CHECK(kiln_prefill(m, t, 8) == KILN_OK && kiln_prefill(m, t + 8, 8) == KILN_OK);
  CHECK(kiln_prefill(m, t + 16, 7) == KILN_OK && kiln_position(m) == 23);
  CHECK(kiln_prefill(m, t, 2) == KILN_ERR_CONTEXT);
  CHECK(strcmp(kiln_last_error(m),
               "the context is full: 23 tokens in the KV cache + 2 new exceed max_context 24") ==
        0);
  CHECK(kiln_position(m) == 23);
  CHECK(kiln_decode(m, 5) == KILN_OK && kiln_position(m) == 24);
  CHECK(kiln_decode(m, 5) == KILN_ERR_CONTEXT);
  CHECK(memcmp(kiln_context(m), t, 23 * sizeof(int32_t)) == 0 && kiln_context(m)[23] == 5);
  kiln_free(m);
}

/* Logits after running `tokens` as the given split of calls (0: decode). */
static void logits_of_split(const char *good, int threads, const int32_t *tokens,
                            const int *split, float *out) {
  KilnModel *m = open_model(&kiln_model, good, threads);
  CHECK(m != NULL);
  if (!m) return;
  int64_t at = 0;
  for (int i = 0; split[i] >= 0; i++) {
    int status = split[i] == 0 ? kiln_decode(m, tokens[at++])
                               : kiln_prefill(m, tokens + at, split[i]);
    if (split[i] > 0) at += split[i];
    CHECK(status == KILN_OK);
  }
  CHECK(kiln_position(m) == at);
  CHECK(kiln_threads(m) == threads);
  memcpy(out, kiln_logits(m), FAKE_VOCAB * sizeof(float));
  kiln_free(m);
}

static void test_splits_and_threads(const char *good) {
  int32_t tokens[12] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
  int whole[] = {8, 4, -1}, pieces[] = {2, 0, 0, 5, 0, 0, 0, -1}, decodes[13];
  for (int i = 0; i < 12; i++) decodes[i] = 0;
  decodes[12] = -1;
  float ref[FAKE_VOCAB], got[FAKE_VOCAB];
  logits_of_split(good, 1, tokens, whole, ref);
  int nonzero = 0;
  for (int v = 0; v < FAKE_VOCAB; v++) nonzero += ref[v] != 0;
  CHECK(nonzero > FAKE_VOCAB / 2);
  for (int threads = 1; threads <= 3; threads++) {
    logits_of_split(good, threads, tokens, whole, got);
    CHECK(memcmp(got, ref, sizeof ref) == 0);
    logits_of_split(good, threads, tokens, pieces, got);
    CHECK(memcmp(got, ref, sizeof ref) == 0);
    logits_of_split(good, threads, tokens, decodes, got);
    CHECK(memcmp(got, ref, sizeof ref) == 0);
  }
  /* The context matters: another first token, other logits. */
  tokens[0] = 7;
  logits_of_split(good, 2, tokens, whole, got);
  CHECK(memcmp(got, ref, sizeof ref) != 0);
}

static void test_reset(const char *good) {
  KilnModel *m = open_model(&kiln_model, good, 3);
  CHECK(m != NULL);
  if (!m) return;
  int32_t a[] = {9, 8, 7}, b[] = {1, 2, 3, 4, 5};
  float first[FAKE_VOCAB];
  CHECK(kiln_prefill(m, a, 3) == KILN_OK);
  memcpy(first, kiln_logits(m), sizeof first);
  CHECK(kiln_prefill(m, b, 5) == KILN_OK && kiln_position(m) == 8);
  kiln_reset(m);
  CHECK(kiln_position(m) == 0);
  CHECK(kiln_prefill(m, a, 3) == KILN_OK);
  CHECK(memcmp(first, kiln_logits(m), sizeof first) == 0);
  kiln_free(m);
}

/* ---- the pool ------------------------------------------------------------------ */

typedef struct {
  atomic_int *hits;
  int64_t n, chunk;
  atomic_int bad_bounds;
} PoolArgs;

static void count_chunk(const void *args, int64_t begin, int64_t end) {
  PoolArgs *a = (PoolArgs *)args;
  int64_t want_end = begin + a->chunk < a->n ? begin + a->chunk : a->n;
  if (begin % a->chunk != 0 || end != want_end) atomic_fetch_add(&a->bad_bounds, 1);
  for (int64_t i = begin; i < end; i++) atomic_fetch_add(&a->hits[i], 1);
}

static RtPool *nested_pool;
static atomic_int nested_hits;
static void inner(const void *args, int64_t begin, int64_t end) {
  atomic_fetch_add(&nested_hits, (int)(end - begin));
}
static void outer(const void *args, int64_t begin, int64_t end) {
  rt_pool_run(nested_pool, inner, NULL, 10, 3); /* from inside a kernel: inline */
}

static void test_pool(void) {
  enum { N = 1000 };
  static atomic_int hits[N];
  int threads[] = {1, 2, 3, 8};
  for (int ti = 0; ti < 4; ti++) {
    char err[128];
    RtPool *p = rt_pool_new(threads[ti], err, sizeof err);
    CHECK(p && rt_pool_threads(p) == threads[ti]);
    if (!p) continue;
    int64_t chunks[] = {1, 7, 64, 1000, 5000, 0};
    for (int ci = 0; ci < 6; ci++) {
      for (int i = 0; i < N; i++) atomic_store(&hits[i], 0);
      PoolArgs a = {.hits = hits, .n = N, .chunk = chunks[ci] > 0 ? chunks[ci] : N};
      atomic_store(&a.bad_bounds, 0);
      for (int rep = 0; rep < 50; rep++) rt_pool_run(p, count_chunk, &a, N, chunks[ci]);
      int wrong = 0;
      for (int i = 0; i < N; i++) wrong += atomic_load(&hits[i]) != 50;
      CHECK(wrong == 0);
      CHECK(atomic_load(&a.bad_bounds) == 0);
    }
    rt_pool_run(p, count_chunk, NULL, 0, 4); /* nothing to do: fn never called */
    nested_pool = p;
    atomic_store(&nested_hits, 0);
    rt_pool_run(p, outer, NULL, 6, 1);
    CHECK(atomic_load(&nested_hits) == 60);
    rt_pool_free(p);
  }
}

/* ---- generate ---------------------------------------------------------------- */

typedef struct {
  int32_t tokens[64];
  int n, stop_after;
} Collected;

static int collect(void *user, int32_t t) {
  Collected *c = user;
  c->tokens[c->n++] = t;
  return c->stop_after && c->n >= c->stop_after;
}

static KilnSampler *greedy_sampler(void) {
  KilnSamplerParams p = kiln_sampler_defaults();
  p.temperature = 0;
  return kiln_sampler_new(&p, FAKE_VOCAB, NULL, 0);
}

static int32_t argmax(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

/* The loop kiln_generate runs, written out with prefill/decode/argmax. */
static int hand_greedy(const char *good, const int32_t *prompt, int n_prompt, int n,
                       int32_t *out) {
  KilnModel *m = open_model(&kiln_model, good, 1);
  if (!m) return 0;
  CHECK(kiln_prefill(m, prompt, n_prompt) == KILN_OK);
  for (int i = 0; i < n; i++) {
    out[i] = argmax(kiln_logits(m), FAKE_VOCAB);
    if (i + 1 < n) CHECK(kiln_decode(m, out[i]) == KILN_OK);
  }
  kiln_free(m);
  return n;
}

static void test_generate_greedy(const char *good) {
  int32_t prompt[] = {1, 2, 3}, want[10];
  hand_greedy(good, prompt, 3, 10, want);
  KilnSampler *s = greedy_sampler();
  for (int threads = 1; threads <= 3; threads++) {
    KilnModel *m = open_model(&kiln_model, good, threads);
    CHECK(m && s);
    if (!m || !s) break;
    Collected c = {0};
    KilnGenerateStats st;
    CHECK(kiln_generate(m, prompt, 3, 10, s, collect, &c, &st) == KILN_OK);
    CHECK(c.n == 10 && memcmp(c.tokens, want, sizeof want) == 0);
    CHECK(st.prompt_tokens == 3 && st.generated == 10 && st.decode_tokens == 9);
    CHECK(st.stop == KILN_STOP_LIMIT);
    CHECK(st.prefill_seconds >= 0 && st.decode_seconds >= 0);
    CHECK(kiln_position(m) == 3 + 9);
    kiln_free(m);
  }
  kiln_sampler_free(s);
}

static void test_generate_stops(const char *good) {
  int32_t prompt[] = {1, 2, 3}, want[10];
  hand_greedy(good, prompt, 3, 10, want);
  /* EOS: the first token that is new in the sequence at step k >= 1. */
  int k = 1;
  while (k < 10) {
    int seen = 0;
    for (int j = 0; j < k; j++) seen |= want[j] == want[k];
    if (!seen) break;
    k++;
  }
  CHECK(k < 10);
  KilnModelDesc d = kiln_model;
  d.eos_id = want[k];
  KilnSampler *s = greedy_sampler();
  KilnModel *m = open_model(&d, good, 2);
  CHECK(m && s);
  if (!m || !s) return;
  Collected c = {0};
  KilnGenerateStats st;
  CHECK(kiln_generate(m, prompt, 3, 10, s, collect, &c, &st) == KILN_OK);
  CHECK(st.stop == KILN_STOP_EOS && c.n == k && st.generated == k);
  CHECK(memcmp(c.tokens, want, (size_t)k * sizeof(int32_t)) == 0);
  kiln_free(m);

  /* The callback stops it. */
  m = open_model(&kiln_model, good, 2);
  c = (Collected){.stop_after = 2};
  CHECK(kiln_generate(m, prompt, 3, 10, s, collect, &c, &st) == KILN_OK);
  CHECK(st.stop == KILN_STOP_CALLBACK && c.n == 2 && st.decode_tokens == 1);

  /* A full context: 20 prompt tokens, 24 positions: 5 tokens, 4 decodes. */
  int32_t long_prompt[FAKE_MAX_CONTEXT + 1];
  for (int i = 0; i <= FAKE_MAX_CONTEXT; i++) long_prompt[i] = (i * 5 + 1) % FAKE_VOCAB;
  kiln_reset(m);
  c = (Collected){0};
  CHECK(kiln_generate(m, long_prompt, 20, -1, s, collect, &c, &st) == KILN_OK);
  CHECK(st.stop == KILN_STOP_CONTEXT && c.n == 5 && st.decode_tokens == 4);
  CHECK(st.prompt_tokens == 20 && kiln_position(m) == FAKE_MAX_CONTEXT);

  /* Too long a prompt: refused before any work. */
  kiln_reset(m);
  CHECK(kiln_generate(m, long_prompt, 25, 4, s, collect, &c, &st) == KILN_ERR_CONTEXT);
  CHECK(strcmp(kiln_last_error(m),
               "the prompt has 25 tokens, more than the 24 positions of this model's context") ==
        0);
  CHECK(kiln_position(m) == 0);
  CHECK(kiln_prefill(m, long_prompt, 4) == KILN_OK);
  CHECK(kiln_generate(m, long_prompt, 21, 4, s, NULL, NULL, NULL) == KILN_ERR_CONTEXT);
  CHECK(strcmp(kiln_last_error(m), "the prompt has 21 tokens, more than the 20 positions left "
                                   "in the context (4 of 24 used)") == 0);
  CHECK(kiln_generate(m, long_prompt, 0, 4, s, NULL, NULL, NULL) == KILN_ERR_INVALID);
  CHECK(strcmp(kiln_last_error(m), "the prompt is empty") == 0);

  /* A long prompt is prefilled in calls of max_tokens: 8 + 8 + 4. */
  kiln_reset(m);
  CHECK(kiln_generate(m, long_prompt, 20, 0, s, NULL, NULL, &st) == KILN_OK);
  CHECK(st.generated == 0 && st.stop == KILN_STOP_LIMIT && kiln_position(m) == 20);
  float got[FAKE_VOCAB], ref[FAKE_VOCAB];
  memcpy(got, kiln_logits(m), sizeof got);
  int split[] = {8, 8, 4, -1};
  logits_of_split(good, 1, long_prompt, split, ref);
  CHECK(memcmp(got, ref, sizeof ref) == 0);

  /* A sampler for another vocabulary. */
  KilnSamplerParams p = kiln_sampler_defaults();
  KilnSampler *wrong = kiln_sampler_new(&p, 100, NULL, 0);
  CHECK(kiln_generate(m, long_prompt, 1, 1, wrong, NULL, NULL, NULL) == KILN_ERR_INVALID);
  CHECK(strcmp(kiln_last_error(m),
               "the sampler was made for a vocabulary of 100; this model's has 32") == 0);
  kiln_sampler_free(wrong);
  kiln_free(m);
  kiln_sampler_free(s);
}

/* Sampling with a seed: the same tokens for 1, 2, 3 threads. */
static void test_generate_sampled_threads(const char *good) {
  KilnSamplerParams p = {.temperature = 1.5f, .top_k = 0, .top_p = 1, .repeat_penalty = 1.2f,
                         .seed = 42};
  int32_t prompt[] = {5, 6}, first[20];
  for (int threads = 1; threads <= 3; threads++) {
    KilnSampler *s = kiln_sampler_new(&p, FAKE_VOCAB, NULL, 0);
    KilnModel *m = open_model(&kiln_model, good, threads);
    CHECK(m && s);
    if (!m || !s) return;
    Collected c = {0};
    CHECK(kiln_generate(m, prompt, 2, 20, s, collect, &c, NULL) == KILN_OK && c.n == 20);
    if (threads == 1) memcpy(first, c.tokens, sizeof first);
    else CHECK(memcmp(first, c.tokens, sizeof first) == 0);
    kiln_free(m);
    kiln_sampler_free(s);
  }
}

static void test_status_strings(void) {
  CHECK(strcmp(kiln_status_string(KILN_OK), "ok") == 0);
  CHECK(strcmp(kiln_status_string(KILN_ERR_WEIGHTS_MODEL), "weights of another model") == 0);
  CHECK(strcmp(kiln_status_string(12345), "unknown status") == 0);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln_rt_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  static char good[256];
  snprintf(good, sizeof good, "%s", tmp_path("fake.kw"));
  CHECK(fake_model_write_weights(good, kiln_model.model_hash) == 0);
  test_checksum_matches_desc();
  test_weights_errors(good);
  test_embedded_weights(good);
  test_desc_checks(good);
  test_bounds(good);
  test_splits_and_threads(good);
  test_reset(good);
  test_pool();
  test_generate_greedy(good);
  test_generate_stops(good);
  test_generate_sampled_threads(good);
  test_status_strings();
  const char *names[] = {"fake.kw", "corrupt.kw", "other.kw", "bad.kw"};
  for (int i = 0; i < 4; i++) unlink(tmp_path(names[i]));
  rmdir(tmpdir);
  return check_report();
}
