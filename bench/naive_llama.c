/* naive_llama.c: the reference for the benchmark: a plain C Llama, llama2.c
 * style, reading the same config.json and model.safetensors as kiln.
 *
 *   naive_llama MODEL_DIR [--threads 2] [--prefill 128]
 *               [--decode-prompt 64 --decode-steps 64] [--reps 3]
 *               [--logits FILE --sanity-len 16]
 *
 * What "naive" means here: weights converted to f32 at load (f32 compute
 * whatever the checkpoint's dtype), straightforward loops that the compiler
 * (-O3 -march=native) may vectorize, no blocking, no packing, no fusion.
 * A prefill runs the T tokens through each matmul together (rows of W
 * outer, tokens inner: the loop nest llama2.c's matmul becomes with a batch),
 * attention one query at a time over the KV cache. For fairness with kiln's
 * 2 threads, matmul rows and attention heads are split across --threads
 * pthreads (a persistent pool; no OpenMP).
 *
 * Output and options: bench_common.h. The semantics are those of
 * transformers' Llama (and kiln's IR): RMSNorm, RoPE on halves ("rotate
 * half"), GQA, causal softmax attention scaled by 1/sqrt(head_dim), SwiGLU.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

/* ---- a small thread pool: parallel_for over [0, n) ------------------------ */

typedef void (*RangeFn)(void *ctx, int64_t lo, int64_t hi);

typedef struct {
  int n;                   /* threads, the caller included */
  pthread_t *tid;
  pthread_barrier_t start, done;
  RangeFn fn;
  void *ctx;
  int64_t count;
  int quit;
} Pool;

static Pool pool;

static void pool_run_share(int w) {
  int64_t lo = pool.count * w / pool.n, hi = pool.count * (w + 1) / pool.n;
  if (hi > lo) pool.fn(pool.ctx, lo, hi);
}

static void *pool_worker(void *arg) {
  int w = (int)(intptr_t)arg;
  for (;;) {
    pthread_barrier_wait(&pool.start);
    if (pool.quit) return NULL;
    pool_run_share(w);
    pthread_barrier_wait(&pool.done);
  }
}

static void pool_start(int n) {
  pool.n = n;
  pool.tid = calloc((size_t)n, sizeof *pool.tid);
  pthread_barrier_init(&pool.start, NULL, (unsigned)n);
  pthread_barrier_init(&pool.done, NULL, (unsigned)n);
  for (int w = 1; w < n; w++) pthread_create(&pool.tid[w], NULL, pool_worker, (void *)(intptr_t)w);
}

static void pool_stop(void) {
  pool.quit = 1;
  if (pool.n > 1) pthread_barrier_wait(&pool.start);
  for (int w = 1; w < pool.n; w++) pthread_join(pool.tid[w], NULL);
  free(pool.tid);
}

static void parallel_for(int64_t count, RangeFn fn, void *ctx) {
  pool.fn = fn, pool.ctx = ctx, pool.count = count;
  if (pool.n == 1) {
    fn(ctx, 0, count);
    return;
  }
  pthread_barrier_wait(&pool.start);
  pool_run_share(0);
  pthread_barrier_wait(&pool.done);
}

/* ---- the model -------------------------------------------------------------- */

typedef struct {
  int64_t dim, hidden, layers, heads, kv_heads, head_dim, vocab, max_ctx;
  float eps, theta;
  int tied;
} Config;

typedef struct {
  float *embed;                  /* (vocab, dim) */
  float **attn_norm, **mlp_norm; /* (layer)(dim) */
  float **wq, **wk, **wv, **wo;  /* (layer)(dim, dim) (kv_dim, dim) (kv_dim, dim) (dim, dim) */
  float **w_gate, **w_up;        /* (layer)(hidden, dim) */
  float **w_down;                /* (layer)(dim, hidden) */
  float *final_norm;             /* (dim) */
  float *head;                   /* (vocab, dim): embed when tied */
} Weights;

typedef struct {
  float *x, *xb, *xb2, *q;       /* (T, dim) */
  float *hb, *hb2;               /* (T, hidden) */
  float *att;                    /* (heads, max_ctx) */
  float *kcache, *vcache;        /* (layer, max_ctx, kv_dim) */
  float *logits;                 /* (vocab) */
} State;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "naive_llama: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

static void *xcalloc(int64_t n, size_t size) {
  void *p = calloc((size_t)(n > 0 ? n : 1), size);
  if (!p) die("out of memory", NULL);
  return p;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = xcalloc(n + 1, 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
  fclose(f);
  return s;
}

static double json_num(const cJSON *root, const char *key, double fallback) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (cJSON_IsNumber(v)) return v->valuedouble;
  if (fallback < 0) die("config.json lacks", key);
  return fallback;
}

static Config read_config(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  char *text = read_text(path);
  cJSON *j = cJSON_Parse(text);
  if (!j) die("cannot parse", path);
  Config c = {0};
  c.dim = (int64_t)json_num(j, "hidden_size", -1);
  c.hidden = (int64_t)json_num(j, "intermediate_size", -1);
  c.layers = (int64_t)json_num(j, "num_hidden_layers", -1);
  c.heads = (int64_t)json_num(j, "num_attention_heads", -1);
  c.kv_heads = (int64_t)json_num(j, "num_key_value_heads", (double)c.heads);
  c.vocab = (int64_t)json_num(j, "vocab_size", -1);
  c.max_ctx = (int64_t)json_num(j, "max_position_embeddings", -1);
  c.eps = (float)json_num(j, "rms_norm_eps", 1e-6);
  c.theta = (float)json_num(j, "rope_theta", 10000.0);
  c.tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings"));
  c.head_dim = c.dim / c.heads;
  cJSON_Delete(j);
  free(text);
  return c;
}

/* ---- safetensors: every tensor converted to f32 ------------------------------ */

typedef struct {
  const uint8_t *data;  /* the mapped file */
  size_t size;
  uint64_t header_len;
  cJSON *header;
} SafeTensors;

static float half_to_float(uint16_t h) {
  uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, u;
  if (e == 0) { /* zero or subnormal: m * 2^-24 */
    float f = ldexpf((float)m, -24);
    return s ? -f : f;
  }
  u = e == 31 ? s | 0x7F800000u | (m << 13) : s | ((e + 112) << 23) | (m << 13);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static float bf16_to_float(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static SafeTensors st_open(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  int fd = open(path, O_RDONLY);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb)) die("cannot open", path);
  SafeTensors st = {.size = (size_t)sb.st_size};
  st.data = mmap(NULL, st.size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (st.data == MAP_FAILED || st.size < 8) die("cannot map", path);
  memcpy(&st.header_len, st.data, 8);
  if (st.header_len > st.size - 8) die("bad header length in", path);
  st.header = cJSON_ParseWithLength((const char *)st.data + 8, (size_t)st.header_len);
  if (!st.header) die("cannot parse the header of", path);
  return st;
}

/* The tensor `name` as a new f32 array of `numel` elements. */
static float *st_load(const SafeTensors *st, const char *name, int64_t numel) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(st->header, name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
  if (!cJSON_IsString(dt) || cJSON_GetArraySize(off) != 2) die("no tensor", name);
  uint64_t begin = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
  uint64_t end = (uint64_t)cJSON_GetArrayItem(off, 1)->valuedouble;
  int esize = !strcmp(dt->valuestring, "F32") ? 4 : 2;
  if (end - begin != (uint64_t)numel * (uint64_t)esize ||
      8 + st->header_len + end > st->size)
    die("unexpected size of", name);
  const uint8_t *src = st->data + 8 + st->header_len + begin;
  float *out = xcalloc(numel, sizeof *out);
  for (int64_t i = 0; i < numel; i++) {
    uint16_t h;
    if (esize == 4) memcpy(&out[i], src + 4 * i, 4);
    else if (memcpy(&h, src + 2 * i, 2), !strcmp(dt->valuestring, "F16")) out[i] = half_to_float(h);
    else if (!strcmp(dt->valuestring, "BF16")) out[i] = bf16_to_float(h);
    else die("unsupported dtype of", name);
  }
  return out;
}

static float *layer_tensor(const SafeTensors *st, int64_t l, const char *what, int64_t numel) {
  char name[256];
  snprintf(name, sizeof name, "model.layers.%lld.%s.weight", (long long)l, what);
  return st_load(st, name, numel);
}

static Weights load_weights(const char *dir, const Config *c) {
  SafeTensors st = st_open(dir);
  int64_t d = c->dim, kv = c->kv_heads * c->head_dim, h = c->hidden, L = c->layers;
  Weights w = {0};
  w.embed = st_load(&st, "model.embed_tokens.weight", c->vocab * d);
  float ***lists[] = {&w.attn_norm, &w.mlp_norm, &w.wq, &w.wk, &w.wv,
                      &w.wo, &w.w_gate, &w.w_up, &w.w_down};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    *lists[i] = xcalloc(L, sizeof(float *));
  for (int64_t l = 0; l < L; l++) {
    w.attn_norm[l] = layer_tensor(&st, l, "input_layernorm", d);
    w.mlp_norm[l] = layer_tensor(&st, l, "post_attention_layernorm", d);
    w.wq[l] = layer_tensor(&st, l, "self_attn.q_proj", d * d);
    w.wk[l] = layer_tensor(&st, l, "self_attn.k_proj", kv * d);
    w.wv[l] = layer_tensor(&st, l, "self_attn.v_proj", kv * d);
    w.wo[l] = layer_tensor(&st, l, "self_attn.o_proj", d * d);
    w.w_gate[l] = layer_tensor(&st, l, "mlp.gate_proj", h * d);
    w.w_up[l] = layer_tensor(&st, l, "mlp.up_proj", h * d);
    w.w_down[l] = layer_tensor(&st, l, "mlp.down_proj", d * h);
  }
  w.final_norm = st_load(&st, "model.norm.weight", d);
  w.head = c->tied ? w.embed : st_load(&st, "lm_head.weight", c->vocab * d);
  cJSON_Delete(st.header);
  munmap((void *)st.data, st.size);
  return w;
}

static void free_weights(Weights *w, const Config *c) {
  float **lists[] = {w->attn_norm, w->mlp_norm, w->wq, w->wk, w->wv,
                     w->wo, w->w_gate, w->w_up, w->w_down};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    for (int64_t l = 0; l < c->layers; l++) free(lists[i][l]);
    free(lists[i]);
  }
  if (w->head != w->embed) free(w->head);
  free(w->embed);
  free(w->final_norm);
}

static State new_state(const Config *c, int64_t max_t) {
  int64_t kv = c->kv_heads * c->head_dim;
  State s;
  s.x = xcalloc(max_t * c->dim, sizeof(float));
  s.xb = xcalloc(max_t * c->dim, sizeof(float));
  s.xb2 = xcalloc(max_t * c->dim, sizeof(float));
  s.q = xcalloc(max_t * c->dim, sizeof(float));
  s.hb = xcalloc(max_t * c->hidden, sizeof(float));
  s.hb2 = xcalloc(max_t * c->hidden, sizeof(float));
  s.att = xcalloc(c->heads * c->max_ctx, sizeof(float));
  s.kcache = xcalloc(c->layers * c->max_ctx * kv, sizeof(float));
  s.vcache = xcalloc(c->layers * c->max_ctx * kv, sizeof(float));
  s.logits = xcalloc(c->vocab, sizeof(float));
  return s;
}

static void free_state(State *s) {
  float *all[] = {s->x, s->xb, s->xb2, s->q, s->hb,
                  s->hb2, s->att, s->kcache, s->vcache, s->logits};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* ---- the kernels -------------------------------------------------------------- */

/* out[t, i] = sum_k in[t, k] * w[i, k] for t < n, i < d: rows of w split over threads. */
typedef struct {
  float *out;
  const float *in, *w;
  int64_t n, k, d, out_stride;
} Matmul;

static void matmul_rows(void *ctx, int64_t lo, int64_t hi) {
  const Matmul *m = ctx;
  for (int64_t i = lo; i < hi; i++) {
    const float *wi = m->w + i * m->k;
    for (int64_t t = 0; t < m->n; t++) {
      const float *x = m->in + t * m->k;
      float sum = 0.0f;
      for (int64_t j = 0; j < m->k; j++) sum += wi[j] * x[j];
      m->out[t * m->out_stride + i] = sum;
    }
  }
}

static void matmul(float *out, int64_t out_stride, const float *in, const float *w, int64_t n,
                   int64_t k, int64_t d) {
  Matmul m = {out, in, w, n, k, d, out_stride};
  parallel_for(d, matmul_rows, &m);
}

static void rmsnorm(float *o, const float *x, const float *g, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t j = 0; j < n; j++) ss += x[j] * x[j];
  float r = 1.0f / sqrtf(ss / (float)n + eps);
  for (int64_t j = 0; j < n; j++) o[j] = x[j] * r * g[j];
}

/* Rotates each head of v[nh * hd] for position pos: lanes i and i + hd/2. */
static void rope(float *v, int64_t nh, int64_t hd, int64_t pos, float theta) {
  for (int64_t h = 0; h < nh; h++) {
    float *x = v + h * hd;
    for (int64_t i = 0; i < hd / 2; i++) {
      float freq = powf(theta, -2.0f * (float)i / (float)hd), a = (float)pos * freq;
      float c = cosf(a), s = sinf(a), x0 = x[i], x1 = x[i + hd / 2];
      x[i] = x0 * c - x1 * s;
      x[i + hd / 2] = x1 * c + x0 * s;
    }
  }
}

typedef struct {
  const Config *c;
  State *s;
  int64_t layer, pos; /* the query's position */
  const float *q;     /* (dim) */
  float *out;         /* (dim) */
} Attention;

/* Heads [lo, hi) of one query against positions 0..pos of the cache. */
static void attention_heads(void *ctx, int64_t lo, int64_t hi) {
  const Attention *a = ctx;
  const Config *c = a->c;
  int64_t hd = c->head_dim, kv = c->kv_heads * hd, group = c->heads / c->kv_heads;
  const float *kc = a->s->kcache + a->layer * c->max_ctx * kv;
  const float *vc = a->s->vcache + a->layer * c->max_ctx * kv;
  float scale = 1.0f / sqrtf((float)hd);
  for (int64_t h = lo; h < hi; h++) {
    const float *q = a->q + h * hd;
    float *att = a->s->att + h * c->max_ctx, *out = a->out + h * hd, mx = -INFINITY, sum = 0;
    int64_t kvo = (h / group) * hd;
    for (int64_t p = 0; p <= a->pos; p++) {
      float dot = 0.0f;
      for (int64_t i = 0; i < hd; i++) dot += q[i] * kc[p * kv + kvo + i];
      att[p] = dot * scale;
      mx = att[p] > mx ? att[p] : mx;
    }
    for (int64_t p = 0; p <= a->pos; p++) sum += att[p] = expf(att[p] - mx);
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int64_t p = 0; p <= a->pos; p++)
      for (int64_t i = 0; i < hd; i++) out[i] += att[p] / sum * vc[p * kv + kvo + i];
  }
}

/* ---- forward -------------------------------------------------------------------- */

/* The attention half of layer l for tokens at positions pos0..pos0+n-1. */
static void attention_block(const Config *c, const Weights *w, State *s, int64_t l, int64_t n,
                            int64_t pos0) {
  int64_t d = c->dim, kv = c->kv_heads * c->head_dim;
  float *kc = s->kcache + l * c->max_ctx * kv, *vc = s->vcache + l * c->max_ctx * kv;
  for (int64_t t = 0; t < n; t++) rmsnorm(s->xb + t * d, s->x + t * d, w->attn_norm[l], d, c->eps);
  matmul(s->q, d, s->xb, w->wq[l], n, d, d);
  matmul(kc + pos0 * kv, kv, s->xb, w->wk[l], n, d, kv);
  matmul(vc + pos0 * kv, kv, s->xb, w->wv[l], n, d, kv);
  for (int64_t t = 0; t < n; t++) {
    rope(s->q + t * d, c->heads, c->head_dim, pos0 + t, c->theta);
    rope(kc + (pos0 + t) * kv, c->kv_heads, c->head_dim, pos0 + t, c->theta);
  }
  for (int64_t t = 0; t < n; t++) {
    Attention a = {c, s, l, pos0 + t, s->q + t * d, s->xb2 + t * d};
    parallel_for(c->heads, attention_heads, &a);
  }
  matmul(s->xb, d, s->xb2, w->wo[l], n, d, d);
  for (int64_t i = 0; i < n * d; i++) s->x[i] += s->xb[i];
}

static void mlp_block(const Config *c, const Weights *w, State *s, int64_t l, int64_t n) {
  int64_t d = c->dim, h = c->hidden;
  for (int64_t t = 0; t < n; t++) rmsnorm(s->xb + t * d, s->x + t * d, w->mlp_norm[l], d, c->eps);
  matmul(s->hb, h, s->xb, w->w_gate[l], n, d, h);
  matmul(s->hb2, h, s->xb, w->w_up[l], n, d, h);
  for (int64_t i = 0; i < n * h; i++) s->hb[i] = s->hb[i] / (1.0f + expf(-s->hb[i])) * s->hb2[i];
  matmul(s->xb, d, s->hb, w->w_down[l], n, h, d);
  for (int64_t i = 0; i < n * d; i++) s->x[i] += s->xb[i];
}

/* tokens[0..n) at positions pos0..: the last one's logits in s->logits. */
static void forward(const Config *c, const Weights *w, State *s, const int32_t *tokens, int64_t n,
                    int64_t pos0) {
  int64_t d = c->dim;
  for (int64_t t = 0; t < n; t++) memcpy(s->x + t * d, w->embed + tokens[t] * d, (size_t)d * 4);
  for (int64_t l = 0; l < c->layers; l++) {
    attention_block(c, w, s, l, n, pos0);
    mlp_block(c, w, s, l, n);
  }
  rmsnorm(s->xb, s->x + (n - 1) * d, w->final_norm, d, c->eps);
  matmul(s->logits, c->vocab, s->xb, w->head, 1, d, c->vocab);
}

/* ---- timing ----------------------------------------------------------------------- */

static double time_prefill(const Config *c, const Weights *w, State *s, const int32_t *tok,
                           int64_t n, int reps) {
  double best = 1e30;
  for (int r = 0; r <= reps; r++) {
    double t0 = bench_now();
    forward(c, w, s, tok, n, 0);
    double dt = bench_now() - t0;
    if (r && dt < best) best = dt;
  }
  return best;
}

static double time_decode(const Config *c, const Weights *w, State *s, const int32_t *tok,
                          int64_t np, int64_t steps, int reps) {
  double best = 1e30;
  for (int r = 0; r <= reps; r++) {
    forward(c, w, s, tok, np, 0);
    double t0 = bench_now();
    for (int64_t i = 0; i < steps; i++) forward(c, w, s, tok + np + i, 1, np + i);
    double dt = bench_now() - t0;
    if (r && dt < best) best = dt;
  }
  return best;
}

static void write_logits(const Config *c, const Weights *w, State *s, const BenchOpts *o) {
  FILE *f = fopen(o->logits, "wb");
  if (!f) die("cannot write", o->logits);
  int32_t *tok = xcalloc(o->sanity_len + 1, sizeof *tok);
  for (int64_t i = 0; i <= o->sanity_len; i++) tok[i] = bench_token(i, c->vocab);
  forward(c, w, s, tok, o->sanity_len, 0);
  int bad = bench_write_floats(f, s->logits, c->vocab);
  forward(c, w, s, tok + o->sanity_len, 1, o->sanity_len);
  bad |= bench_write_floats(f, s->logits, c->vocab);
  if (fclose(f) || bad) die("cannot write", o->logits);
  free(tok);
}

int main(int argc, char **argv) {
  BenchOpts o;
  if (argc < 2 || bench_parse(argc, argv, 2, &o) != argc) {
    fprintf(stderr, "usage: naive_llama MODEL_DIR [--threads N] [--prefill N] "
                    "[--decode-prompt N --decode-steps N] [--reps N] "
                    "[--logits FILE --sanity-len N]\n");
    return 2;
  }
  Config c = read_config(argv[1]);
  int64_t need = o.prefill > o.decode_prompt + o.decode_steps ? o.prefill
                                                             : o.decode_prompt + o.decode_steps;
  if (o.sanity_len + 1 > need) need = o.sanity_len + 1;
  if (need > c.max_ctx) die("the benchmark needs more positions than max_position_embeddings",
                            NULL);
  Weights w = load_weights(argv[1], &c);
  State s = new_state(&c, need);
  pool_start(o.threads);
  int32_t *tok = xcalloc(need, sizeof *tok);
  for (int64_t i = 0; i < need; i++) tok[i] = bench_token(i, c.vocab);
  printf("vocab %lld\nthreads %d\n", (long long)c.vocab, o.threads);
  if (o.prefill > 0) {
    double t = time_prefill(&c, &w, &s, tok, o.prefill, o.reps);
    printf("prefill_s %.9g\nprefill_tok_s %.9g\n", t, (double)o.prefill / t);
  }
  if (o.decode_steps > 0) {
    double t = time_decode(&c, &w, &s, tok, o.decode_prompt, o.decode_steps, o.reps);
    printf("decode_s %.9g\ndecode_tok_s %.9g\n", t, (double)o.decode_steps / t);
  }
  if (o.logits) write_logits(&c, &w, &s, &o);
  pool_stop();
  free(tok);
  free_state(&s);
  free_weights(&w, &c);
  return 0;
}
