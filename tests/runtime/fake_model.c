/* fake_model.c: a tiny model written by hand as `kiln compile` would emit it.
 *
 * Per position p with token t:   x = embed[t] + pos(p)
 *                                 h = tanh(mix x)       -> KV cache row p
 * At the last position q = h:    a = softmax(q . cache[j] / 4), j < P+T
 *                                 c = q + sum_j a_j cache[j]
 *                                 logits = out c
 * Every kernel runs through ex->parallel_for over fixed chunks; each
 * output element is computed by one chunk in a fixed order, so logits do
 * not depend on the thread count. The cache makes the logits depend on
 * every earlier token, so prefill/decode splits and positions matter.
 */
#include "fake_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef KILN_VERSION_STRING
#error "build with -DKILN_VERSION_STRING=\"x.y.z\" (the runtime's version)"
#endif

enum { V = FAKE_VOCAB, D = FAKE_DIM, CTX = FAKE_MAX_CONTEXT, TMAX = FAKE_MAX_TOKENS };

/* Weight offsets in floats. */
enum { W_EMBED = 0, W_MIX = V * D, W_OUT = V * D + D * D };
/* Arena offsets in bytes: x [TMAX, D], scores [CTX], ctx [D]. */
enum { A_X = 0, A_SCORES = TMAX * D * 4, A_CTX = A_SCORES + 128, A_BYTES = A_CTX + D * 4 };

typedef struct {
  const float *w;    /* the weights */
  float *x;          /* [T, D] */
  float *cache;      /* [CTX, D] */
  float *scores;     /* [P+T] */
  float *ctx;        /* [D] */
  float *logits;     /* [V] */
  const int32_t *tokens;
  int64_t T, P;
} FakeArgs;

static void k_embed(const void *args, int64_t begin, int64_t end) {
  const FakeArgs *a = args;
  for (int64_t i = begin; i < end; i++) {
    int64_t t = i / D, d = i % D;
    float pos = 0.125f * (float)((a->P + t) % 5) * (d % 2 ? 1.0f : -1.0f);
    a->x[i] = a->w[W_EMBED + a->tokens[t] * D + d] + pos;
  }
}

static void k_mix(const void *args, int64_t begin, int64_t end) {
  const FakeArgs *a = args;
  for (int64_t i = begin; i < end; i++) {
    int64_t t = i / D, d = i % D;
    float s = 0;
    for (int k = 0; k < D; k++) s += a->w[W_MIX + d * D + k] * a->x[t * D + k];
    a->cache[(a->P + t) * D + d] = tanhf(s);
  }
}

static void k_scores(const void *args, int64_t begin, int64_t end) {
  const FakeArgs *a = args;
  const float *q = a->cache + (a->P + a->T - 1) * D;
  for (int64_t j = begin; j < end; j++) {
    float s = 0;
    for (int d = 0; d < D; d++) s += q[d] * a->cache[j * D + d];
    a->scores[j] = s * 0.25f;
  }
}

/* One chunk: the softmax of scores[0, P+T). */
static void k_softmax(const void *args, int64_t begin, int64_t end) {
  const FakeArgs *a = args;
  int64_t n = a->P + a->T;
  float mx = a->scores[0], sum = 0;
  for (int64_t j = 1; j < n; j++) mx = a->scores[j] > mx ? a->scores[j] : mx;
  for (int64_t j = 0; j < n; j++) sum += a->scores[j] = expf(a->scores[j] - mx);
  for (int64_t j = 0; j < n; j++) a->scores[j] /= sum;
}

static void k_context(const void *args, int64_t begin, int64_t end) {
  const FakeArgs *a = args;
  const float *q = a->cache + (a->P + a->T - 1) * D;
  for (int64_t d = begin; d < end; d++) {
    float c = q[d];
    for (int64_t j = 0; j < a->P + a->T; j++) c += a->scores[j] * a->cache[j * D + d];
    a->ctx[d] = c;
  }
}

static void k_logits(const void *args, int64_t begin, int64_t end) {
  const FakeArgs *a = args;
  for (int64_t v = begin; v < end; v++) {
    float s = 0;
    for (int d = 0; d < D; d++) s += a->w[W_OUT + v * D + d] * a->ctx[d];
    a->logits[v] = s;
  }
}

static int fake_forward(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P,
                        float *logits) {
  if (T < 1 || T > TMAX || P < 0) return KILN_ERR_ARGS;
  if (P + T > CTX) return KILN_ERR_CONTEXT;
  for (int64_t i = 0; i < T; i++)
    if (tokens[i] < 0 || tokens[i] >= V) return KILN_ERR_TOKEN;
  FakeArgs a = {.w = (const float *)ex->weights, .x = (float *)(ex->arena + A_X),
                .cache = (float *)ex->state, .scores = (float *)(ex->arena + A_SCORES),
                .ctx = (float *)(ex->arena + A_CTX), .logits = logits, .tokens = tokens,
                .T = T, .P = P};
  ex->parallel_for(ex, k_embed, &a, T * D, 8);
  ex->parallel_for(ex, k_mix, &a, T * D, 4);
  ex->parallel_for(ex, k_scores, &a, P + T, 4);
  ex->parallel_for(ex, k_softmax, &a, 1, 1);
  ex->parallel_for(ex, k_context, &a, D, 4);
  ex->parallel_for(ex, k_logits, &a, V, 8);
  return KILN_OK;
}

static int fake_decode(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P,
                       float *logits) {
  if (T != 1) return KILN_ERR_ARGS;
  return fake_forward(ex, tokens, T, P, logits);
}

/* Weight i: a fixed pseudo-random value in [-0.5, 0.5), exact in f32. */
static float weight_value(uint32_t i) {
  uint32_t h = (i + 1) * 2654435761u;
  return (float)((int)(h >> 24) - 128) / 256.0f;
}

void fake_model_fill_weights(uint8_t *data) {
  for (uint32_t i = 0; i < FAKE_WEIGHTS_BYTES / 4; i++) {
    float f = weight_value(i);
    memcpy(data + 4 * i, &f, 4);
  }
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int fake_model_write_weights(const char *path, uint64_t model_hash) {
  static uint8_t file[KILN_WEIGHTS_HEADER_BYTES + FAKE_WEIGHTS_BYTES];
  memset(file, 0, sizeof file);
  uint8_t *data = file + KILN_WEIGHTS_HEADER_BYTES;
  fake_model_fill_weights(data);
  memcpy(file, KILN_WEIGHTS_MAGIC, 8);
  put_le(file + 8, KILN_WEIGHTS_VERSION, 4);
  put_le(file + 16, model_hash, 8);
  put_le(file + 24, FAKE_WEIGHTS_BYTES, 8);
  put_le(file + 32, kiln_hash64(data, FAKE_WEIGHTS_BYTES, KILN_HASH_SEED), 8);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(file, 1, sizeof file, f) == sizeof file;
  return fclose(f) == 0 && ok ? 0 : -1;
}

const KilnModelDesc kiln_model = {
    .abi_version = KILN_ABI_VERSION,
    .kiln_version = KILN_VERSION_STRING,
    .model_hash = 0x66616b652d6d646cull, /* "fake-mdl": any fixed stamp */
    .model_name = "fake",
    .vocab = V,
    .max_context = CTX,
    .max_tokens = TMAX,
    .bos_id = -1,
    .eos_id = -1,
    .arena_bytes = A_BYTES,
    .state_bytes = CTX * D * 4,
    .weights_bytes = FAKE_WEIGHTS_BYTES,
    /* kiln_hash64 of fake_model_fill_weights' output (test_runtime checks it). */
    .weights_checksum = 0x117cf2ebe2b81525ull,
    .prefill = fake_forward,
    .decode = fake_decode,
};
