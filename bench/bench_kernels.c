/* bench_kernels.c: the machine's limits, measured in the same run as the
 * model, and OpenBLAS on the model's matmul shapes.
 *
 *   bench_kernels membw [--threads 2] [--mib 1024] [--reps 5]
 *   bench_kernels fma [--threads 2] [--seconds 0.5]
 *   bench_kernels sgemm M N K [--threads 2] [--reps 5]   (needs -DBENCH_OPENBLAS)
 *
 * Prints "key value" lines, like bench_model:
 *   membw: mem_bw_gb_s (best pass: every thread sums its half of one buffer,
 *          far larger than the last-level cache, with wide vector loads)
 *   fma:   fma_peak_gflop_s (every thread runs 12 independent chains of
 *          vector FMAs: enough to cover the FMA latency on 2 pipes)
 *   sgemm: openblas_gflop_s, openblas_core (openblas_get_corename()), for
 *          C[M x N] = A[M x K] * B[N x K]^T, row-major: kiln's matmul with
 *          transpose_b, which is how a Linear weight [out, in] is stored.
 * Built with -O3 -march=native: AVX-512 where the CPU has it.
 */
#include <immintrin.h>
#include <pthread.h>

#include "bench_common.h"
#ifdef BENCH_OPENBLAS
#include <cblas.h>
#endif

#if defined(__AVX512F__)
typedef __m512 Vec;
#define VEC_LANES 16
#define vec_set1 _mm512_set1_ps
#define vec_fma _mm512_fmadd_ps
#define vec_add _mm512_add_ps
#define vec_load _mm512_load_ps
#define VEC_NAME "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 Vec;
#define VEC_LANES 8
#define vec_set1 _mm256_set1_ps
#define vec_fma _mm256_fmadd_ps
#define vec_add _mm256_add_ps
#define vec_load _mm256_load_ps
#define VEC_NAME "avx2"
#else
#error "bench_kernels needs AVX2+FMA or AVX-512 (x86-64); build with -march=native"
#endif

/* ---- threads: run fn(i) on n threads at once ----------------------------------- */

static void run_threads(int n, void *(*fn)(void *), void *args, size_t arg_size) {
  pthread_t tid[64];
  for (int i = 1; i < n; i++) pthread_create(&tid[i], NULL, fn, (char *)args + i * arg_size);
  fn(args);
  for (int i = 1; i < n; i++) pthread_join(tid[i], NULL);
}

/* ---- read bandwidth ------------------------------------------------------------- */

typedef struct {
  const float *p;
  size_t n;       /* floats, a multiple of 4 * VEC_LANES */
  float sum;      /* kept so the loads are not dead */
  pthread_barrier_t *go;
  double t0, t1;
} Sum;

static void *sum_part(void *arg) {
  Sum *s = arg;
  pthread_barrier_wait(s->go);
  s->t0 = bench_now();
  Vec a = vec_set1(0), b = vec_set1(0), c = vec_set1(0), d = vec_set1(0);
  for (size_t i = 0; i < s->n; i += 4 * VEC_LANES) {
    a = vec_add(a, vec_load(s->p + i));
    b = vec_add(b, vec_load(s->p + i + VEC_LANES));
    c = vec_add(c, vec_load(s->p + i + 2 * VEC_LANES));
    d = vec_add(d, vec_load(s->p + i + 3 * VEC_LANES));
  }
  float out[VEC_LANES];
  Vec t = vec_add(vec_add(a, b), vec_add(c, d));
  memcpy(out, &t, sizeof out);
  for (int i = 0; i < VEC_LANES; i++) s->sum += out[i];
  s->t1 = bench_now();
  return NULL;
}

static int membw(int threads, size_t mib, int reps) {
  size_t n = mib << 18, chunk = n / (size_t)threads / (4 * VEC_LANES) * (4 * VEC_LANES);
  float *buf = aligned_alloc(4096, n * sizeof *buf);
  if (!buf) return fprintf(stderr, "bench_kernels: out of memory\n"), 1;
  for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7); /* touch every page */
  double best = 0;
  float total = 0;
  for (int r = 0; r <= reps; r++) {
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)threads);
    Sum s[64];
    for (int i = 0; i < threads; i++) s[i] = (Sum){buf + chunk * (size_t)i, chunk, 0, &go, 0, 0};
    run_threads(threads, sum_part, s, sizeof s[0]);
    double t0 = s[0].t0, t1 = s[0].t1;
    for (int i = 0; i < threads; i++) {
      t0 = s[i].t0 < t0 ? s[i].t0 : t0;
      t1 = s[i].t1 > t1 ? s[i].t1 : t1;
      total += s[i].sum;
    }
    double gbs = (double)(chunk * (size_t)threads * sizeof(float)) / (t1 - t0) / 1e9;
    if (r && gbs > best) best = gbs; /* r == 0: warm-up */
    pthread_barrier_destroy(&go);
  }
  printf("mem_bw_gb_s %.6g\nmem_bw_buffer_mib %zu\nmem_bw_checksum %g\n", best, mib, total);
  free(buf);
  return 0;
}

/* ---- FMA peak ----------------------------------------------------------------------- */

typedef struct {
  long iters;
  float out;
  double t;
} Fma;

/* 12 accumulators in named variables (an array would live on the stack):
 * 12 chains x 4-cycle FMA latency covers 2 FMA pipes with room to spare. */
#define CHAINS 12
#define FMA_STEP(a) a = vec_fma(a, m, c)

static void *fma_loop(void *arg) {
  Fma *f = arg;
  Vec m = vec_set1(0.999999f), c = vec_set1(1e-7f);
  Vec a0 = vec_set1(0), a1 = vec_set1(1), a2 = vec_set1(2), a3 = vec_set1(3);
  Vec a4 = vec_set1(4), a5 = vec_set1(5), a6 = vec_set1(6), a7 = vec_set1(7);
  Vec a8 = vec_set1(8), a9 = vec_set1(9), a10 = vec_set1(10), a11 = vec_set1(11);
  double t0 = bench_now();
  for (long it = 0; it < f->iters; it++) {
    FMA_STEP(a0), FMA_STEP(a1), FMA_STEP(a2), FMA_STEP(a3), FMA_STEP(a4), FMA_STEP(a5);
    FMA_STEP(a6), FMA_STEP(a7), FMA_STEP(a8), FMA_STEP(a9), FMA_STEP(a10), FMA_STEP(a11);
  }
  f->t = bench_now() - t0;
  Vec s = vec_add(vec_add(vec_add(a0, a1), vec_add(a2, a3)), vec_add(a4, a5));
  s = vec_add(vec_add(s, vec_add(a6, a7)), vec_add(vec_add(a8, a9), vec_add(a10, a11)));
  float out[VEC_LANES];
  memcpy(out, &s, sizeof out);
  f->out = out[0];
  return NULL;
}

static int fma_peak(int threads, double seconds) {
  Fma probe = {1000000, 0, 0};
  fma_loop(&probe);
  long iters = (long)(1000000 * seconds / (probe.t > 1e-6 ? probe.t : 1e-6));
  double best = 0;
  for (int r = 0; r < 3; r++) {
    Fma f[64];
    for (int i = 0; i < threads; i++) f[i] = (Fma){iters, 0, 0};
    run_threads(threads, fma_loop, f, sizeof f[0]);
    double t = 0;
    for (int i = 0; i < threads; i++) t = f[i].t > t ? f[i].t : t;
    double gf = 2.0 * VEC_LANES * CHAINS * (double)iters * threads / t / 1e9;
    if (gf > best) best = gf;
  }
  printf("fma_peak_gflop_s %.6g\nfma_isa %s\n", best, VEC_NAME);
  return 0;
}

/* ---- OpenBLAS --------------------------------------------------------------------- */

/* n floats, 64-byte aligned (aligned_alloc wants a multiple of the alignment). */
static float *alloc_floats(int64_t n) {
  return aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
}

static int sgemm(int threads, int64_t m, int64_t n, int64_t k, int reps) {
#ifdef BENCH_OPENBLAS
  openblas_set_num_threads(threads);
  float *a = alloc_floats(m * k), *b = alloc_floats(n * k), *c = alloc_floats(m * n);
  if (!a || !b || !c) return fprintf(stderr, "bench_kernels: out of memory\n"), 1;
  for (int64_t i = 0; i < m * k; i++) a[i] = (float)((i * 7) % 3 - 1);
  for (int64_t i = 0; i < n * k; i++) b[i] = (float)((i * 5) % 3 - 1);
  double best = 1e30;
  for (int r = 0; r <= reps; r++) {
    double t0 = bench_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)k,
                b, (int)k, 0.0f, c, (int)n);
    double dt = bench_now() - t0;
    if (r && dt < best) best = dt;
  }
  printf("openblas_gflop_s %.6g\nopenblas_s %.9g\nopenblas_core %s\nopenblas_threads %d\n",
         2.0 * (double)(m * n * k) / best / 1e9, best, openblas_get_corename(),
         openblas_get_num_threads());
  free(a), free(b), free(c);
  return 0;
#else
  (void)threads, (void)m, (void)n, (void)k, (void)reps;
  fprintf(stderr, "bench_kernels: built without OpenBLAS (libopenblas-dev)\n");
  return 3;
#endif
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_kernels membw|fma|sgemm M N K [--threads N] [--mib N] "
                    "[--seconds S] [--reps N]\n");
    return 2;
  }
  int threads = 2, reps = 5, first = 2;
  size_t mib = 1024;
  double seconds = 0.5;
  int64_t dims[3] = {0};
  if (!strcmp(argv[1], "sgemm")) {
    for (int i = 0; i < 3; i++) dims[i] = 2 + i < argc ? atoll(argv[2 + i]) : 0;
    first = 5;
  }
  for (int i = first; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mib")) mib = (size_t)atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    else return fprintf(stderr, "bench_kernels: unknown flag %s\n", argv[i]), 2;
  }
  if (threads < 1 || threads > 64) threads = 2;
  if (!strcmp(argv[1], "membw")) return membw(threads, mib, reps);
  if (!strcmp(argv[1], "fma")) return fma_peak(threads, seconds);
  if (!strcmp(argv[1], "sgemm")) {
    if (dims[0] > 0 && dims[1] > 0 && dims[2] > 0)
      return sgemm(threads, dims[0], dims[1], dims[2], reps);
    fprintf(stderr, "bench_kernels: sgemm needs M N K, each at least 1\n");
    return 2;
  }
  fprintf(stderr, "bench_kernels: unknown mode '%s'\n", argv[1]);
  return 2;
}
