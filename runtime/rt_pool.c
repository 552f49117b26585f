/* rt_pool.c: the thread pool behind KilnExec.parallel_for.
 *
 * Persistent workers; one job at a time. A job is a kernel split into
 * fixed chunks; every thread, the caller included, takes the next chunk
 * from an atomic counter until none is left. Which thread runs a chunk
 * varies, what a chunk computes does not, so results are the same for
 * any thread count (kiln_abi.h). With one thread nothing is started and
 * chunks run inline, in order.
 *
 * Hand-off: the caller publishes the job, then bumps `generation`; a
 * worker spins briefly on `generation` (a decode step posts hundreds of
 * small jobs, and a futex wake-up per job would cost more than the job),
 * yielding the CPU after the first few turns so that spinning costs
 * little when there are more threads than free cores, then sleeps on a
 * condition variable. `busy` counts workers still inside
 * the job: the caller returns only when it is 0, so no worker can touch a
 * job after the caller has moved on to the next.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

/* Turns of spinning (RT_PAUSE_ITERS of them with a pause instruction, the
 * rest with sched_yield) before a thread sleeps. */
#define RT_SPIN_ITERS 1024
#define RT_PAUSE_ITERS 64

struct RtPool {
  int n_threads; /* the caller included */
  pthread_t *workers; /* n_threads - 1 */
  int started;
  pthread_mutex_t mu;
  pthread_cond_t start, done;
  atomic_uint_fast64_t generation; /* bumped for every job and for stop */
  atomic_int busy;                 /* workers not yet finished with the job */
  bool stopping;                   /* written before a generation bump */
  /* The current job: written before the generation bump. */
  KilnKernelFn fn;
  const void *args;
  int64_t n, chunk, n_chunks;
  atomic_int_fast64_t next_chunk;
};

/* Set in workers, and in the caller while it runs a job: a parallel_for
 * from inside a kernel runs inline instead of deadlocking. */
static _Thread_local bool rt_in_job;

/* Turn i of a spin. */
static inline void spin_turn(int i) {
  if (i >= RT_PAUSE_ITERS) {
    sched_yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Chunk c covers [c*chunk, min(n, (c+1)*chunk)). */
static void run_chunk(KilnKernelFn fn, const void *args, int64_t n, int64_t chunk, int64_t c) {
  int64_t begin = c * chunk;
  int64_t end = n - begin < chunk ? n : begin + chunk;
  fn(args, begin, end);
}

static void run_chunks(RtPool *p) {
  for (;;) {
    int64_t c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed);
    if (c >= p->n_chunks) return;
    run_chunk(p->fn, p->args, p->n, p->chunk, c);
  }
}

/* Returns the first generation different from `seen`. */
static uint64_t wait_for_job(RtPool *p, uint64_t seen) {
  for (int i = 0; i < RT_SPIN_ITERS; i++) {
    uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
    if (g != seen) return g;
    spin_turn(i);
  }
  pthread_mutex_lock(&p->mu);
  uint64_t g;
  while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
    pthread_cond_wait(&p->start, &p->mu);
  pthread_mutex_unlock(&p->mu);
  return g;
}

static void *worker_main(void *arg) {
  RtPool *p = arg;
  rt_in_job = true;
  uint64_t seen = 0;
  for (;;) {
    seen = wait_for_job(p, seen);
    if (p->stopping) return NULL;
    run_chunks(p);
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

/* Publishes the job (or the stop) to every worker. */
static void post(RtPool *p) {
  atomic_store_explicit(&p->busy, p->started, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
  pthread_cond_broadcast(&p->start);
  pthread_mutex_unlock(&p->mu);
}

static void wait_until_idle(RtPool *p) {
  for (int i = 0; i < RT_SPIN_ITERS; i++) {
    if (atomic_load_explicit(&p->busy, memory_order_acquire) == 0) return;
    spin_turn(i);
  }
  pthread_mutex_lock(&p->mu);
  while (atomic_load_explicit(&p->busy, memory_order_acquire) > 0)
    pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void rt_pool_run(RtPool *p, KilnKernelFn fn, const void *args, int64_t n, int64_t chunk) {
  if (n <= 0) return;
  if (chunk <= 0 || chunk > n) chunk = n;
  int64_t n_chunks = (n - 1) / chunk + 1;
  if (!p || p->started == 0 || n_chunks == 1 || rt_in_job) {
    for (int64_t c = 0; c < n_chunks; c++) run_chunk(fn, args, n, chunk, c);
    return;
  }
  p->fn = fn, p->args = args, p->n = n, p->chunk = chunk, p->n_chunks = n_chunks;
  atomic_store_explicit(&p->next_chunk, 0, memory_order_relaxed);
  post(p);
  rt_in_job = true;
  run_chunks(p);
  wait_until_idle(p);
  rt_in_job = false;
}

void rt_parallel_for(KilnExec *ex, KilnKernelFn fn, const void *args, int64_t n,
                     int64_t chunk) {
  rt_pool_run(ex->pool, fn, args, n, chunk);
}

static void stop_workers(RtPool *p) {
  if (p->started == 0) return;
  p->stopping = true;
  post(p);
  for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
  p->started = 0;
}

RtPool *rt_pool_new(int n_threads, char *err, size_t err_size) {
  if (n_threads < 1) n_threads = 1;
  RtPool *p = calloc(1, sizeof *p);
  if (p) p->workers = calloc((size_t)n_threads, sizeof *p->workers);
  if (!p || !p->workers) {
    if (p) free(p);
    rt_fail(err, err_size, KILN_ERR_NOMEM, "out of memory for a pool of %d threads", n_threads);
    return NULL;
  }
  p->n_threads = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->start, NULL);
  pthread_cond_init(&p->done, NULL);
  for (int i = 0; i < n_threads - 1; i++) {
    int rc = pthread_create(&p->workers[i], NULL, worker_main, p);
    if (rc != 0) {
      rt_fail(err, err_size, KILN_ERR_NOMEM, "cannot start thread %d of %d: %s", i + 2,
              n_threads, strerror(rc));
      rt_pool_free(p);
      return NULL;
    }
    p->started++;
  }
  return p;
}

void rt_pool_free(RtPool *p) {
  if (!p) return;
  stop_workers(p);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->start);
  pthread_mutex_destroy(&p->mu);
  free(p->workers);
  free(p);
}

int rt_pool_threads(const RtPool *p) { return p ? p->n_threads : 1; }
