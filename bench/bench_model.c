/* bench_model.c: times a model that `kiln compile --emit=shared` produced.
 *
 *   bench_model LIB.so WEIGHTS.kw [--symbol NAME] [--threads 2] [--prefill 128]
 *               [--decode-prompt 64 --decode-steps 64] [--reps 3]
 *               [--logits FILE --sanity-len 16] [--token-limit N]
 *
 * The library is dlopen()ed and driven through the runtime API it carries
 * (runtime/kiln.h): kiln_init, kiln_prefill, kiln_decode, kiln_reset. One
 * program serves every model and every matmul module of the harness.
 *
 * Prints (bench_common.h):
 *   prefill_s S, prefill_tok_s X        a prefill of --prefill tokens from position 0
 *   decode_s S, decode_tok_s X          --decode-steps decode steps after a prefill of
 *                                       --decode-prompt tokens (only the steps timed)
 * With --logits: writes the logits after a prefill of the --sanity-len tokens
 * of the benchmark prompt, then after one decode step of the next token, as
 * raw f32 (2 x vocab floats), for the comparison with naive_llama.
 */
#include <dlfcn.h>

#include "bench_common.h"
#include "kiln.h"

typedef struct {
  KilnModel *(*init)(const KilnModelDesc *, const KilnOptions *, char *, size_t);
  void (*free_model)(KilnModel *);
  int (*prefill)(KilnModel *, const int32_t *, int64_t);
  int (*decode)(KilnModel *, int32_t);
  const float *(*logits)(const KilnModel *);
  void (*reset)(KilnModel *);
  const char *(*last_error)(const KilnModel *);
} Api;

static void *sym(void *lib, const char *name) {
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "bench_model: %s\n", dlerror());
    exit(1);
  }
  return p;
}

static Api load_api(void *lib) {
  Api a;
  *(void **)&a.init = sym(lib, "kiln_init");
  *(void **)&a.free_model = sym(lib, "kiln_free");
  *(void **)&a.prefill = sym(lib, "kiln_prefill");
  *(void **)&a.decode = sym(lib, "kiln_decode");
  *(void **)&a.logits = sym(lib, "kiln_logits");
  *(void **)&a.reset = sym(lib, "kiln_reset");
  *(void **)&a.last_error = sym(lib, "kiln_last_error");
  return a;
}

static void check(const Api *a, KilnModel *m, int status, const char *what) {
  if (status == KILN_OK) return;
  fprintf(stderr, "bench_model: %s failed: %s\n", what, a->last_error(m));
  exit(1);
}

static int32_t *prompt(int64_t n, int64_t vocab) {
  int32_t *t = malloc((size_t)(n > 0 ? n : 1) * sizeof *t);
  if (!t) abort();
  for (int64_t i = 0; i < n; i++) t[i] = bench_token(i, vocab);
  return t;
}

/* Best seconds of a prefill of n tokens from position 0. */
static double time_prefill(const Api *a, KilnModel *m, const int32_t *tok, int64_t n, int reps) {
  double best = 1e30;
  for (int r = 0; r <= reps; r++) { /* r == 0: warm-up */
    a->reset(m);
    double t0 = bench_now();
    check(a, m, a->prefill(m, tok, n), "prefill");
    double dt = bench_now() - t0;
    if (r && dt < best) best = dt;
  }
  return best;
}

/* Best seconds of `steps` decode steps after a prefill of `np` tokens. */
static double time_decode(const Api *a, KilnModel *m, const int32_t *tok, int64_t np,
                          int64_t steps, int reps) {
  double best = 1e30;
  for (int r = 0; r <= reps; r++) {
    a->reset(m);
    check(a, m, a->prefill(m, tok, np), "prefill");
    double t0 = bench_now();
    for (int64_t s = 0; s < steps; s++) check(a, m, a->decode(m, tok[np + s]), "decode");
    double dt = bench_now() - t0;
    if (r && dt < best) best = dt;
  }
  return best;
}

static void write_logits(const Api *a, KilnModel *m, const KilnModelDesc *d, const BenchOpts *o) {
  FILE *f = fopen(o->logits, "wb");
  if (!f) {
    perror(o->logits);
    exit(1);
  }
  int32_t *tok = prompt(o->sanity_len + 1, d->vocab);
  a->reset(m);
  check(a, m, a->prefill(m, tok, o->sanity_len), "prefill");
  int bad = bench_write_floats(f, a->logits(m), d->vocab);
  check(a, m, a->decode(m, tok[o->sanity_len]), "decode");
  bad |= bench_write_floats(f, a->logits(m), d->vocab);
  if (fclose(f) || bad) {
    fprintf(stderr, "bench_model: cannot write %s\n", o->logits);
    exit(1);
  }
  free(tok);
}

int main(int argc, char **argv) {
  const char *symbol = "kiln_model";
  int i = 3;
  if (argc > 4 && !strcmp(argv[3], "--symbol")) symbol = argv[4], i = 5;
  BenchOpts o;
  if (argc < 3 || bench_parse(argc, argv, i, &o) != argc) {
    fprintf(stderr, "usage: bench_model LIB.so WEIGHTS.kw|- [--symbol NAME] [--threads N] "
                    "[--prefill N] [--decode-prompt N --decode-steps N] [--reps N] "
                    "[--logits FILE --sanity-len N] [--token-limit N]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "bench_model: %s\n", dlerror());
    return 1;
  }
  Api a = load_api(lib);
  const KilnModelDesc *desc = sym(lib, symbol);
  char err[512];
  KilnOptions opts = {.weights_path = strcmp(argv[2], "-") ? argv[2] : NULL,
                      .n_threads = o.threads};
  KilnModel *m = a.init(desc, &opts, err, sizeof err);
  if (!m) {
    fprintf(stderr, "bench_model: %s\n", err);
    return 1;
  }
  printf("vocab %lld\nthreads %d\n", (long long)desc->vocab, o.threads);
  int64_t need = o.prefill > o.decode_prompt + o.decode_steps ? o.prefill
                                                               : o.decode_prompt + o.decode_steps;
  int64_t range = o.token_limit > 0 && o.token_limit < desc->vocab ? o.token_limit : desc->vocab;
  int32_t *tok = prompt(need, range);
  if (o.prefill > 0) {
    double s = time_prefill(&a, m, tok, o.prefill, o.reps);
    printf("prefill_s %.9g\nprefill_tok_s %.9g\n", s, (double)o.prefill / s);
  }
  if (o.decode_steps > 0) {
    double s = time_decode(&a, m, tok, o.decode_prompt, o.decode_steps, o.reps);
    printf("decode_s %.9g\ndecode_tok_s %.9g\n", s, (double)o.decode_steps / s);
  }
  if (o.logits) write_logits(&a, m, desc, &o);
  free(tok);
  a.free_model(m);
  dlclose(lib);
  return 0;
}
