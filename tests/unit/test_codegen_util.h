/* test_codegen_util.h: compiling IR modules with the CPU backend and
 * running them next to the interpreter (test_codegen*.c).
 *
 *   CgtModel *cm = cgt_from_text("softmax", SRC);   // parse, plan, compile, link, dlopen
 *   CgtCall calls[] = {{"prefill", 5, 0}, {"decode", 1, 5}};
 *   cgt_check(cm, calls, 2, CGT_SUM_TOL);          // vs the interpreter, every schedule
 *   cgt_free(cm);
 *
 * A module is compiled to an object (cg_llvm_compile), linked into a
 * shared library with the system's cc, loaded with dlopen, and its
 * KilnModelDesc entries are called with a KilnExec set up here: the
 * weight blob packed by cg_pack_weights at the plan's offsets, the arena
 * filled with 0xff bytes (NaN as f32) so a kernel that leaves an element
 * unwritten shows, a zeroed state. Parameters without an initializer get
 * pseudo-random values in [-1, 1) (ints in [0, 8)), bound to the
 * interpreter and packed into the blob alike.
 *
 * Every sequence of calls runs under each parallel_for schedule: chunk by
 * chunk in order, in reverse interleaved order, all chunks in one call,
 * and on a pool of 3 threads. The first is compared with the interpreter,
 * the others must give the same bits.
 *
 * Tolerance: |compiled - interpreter| <= tol * max(1, max |interpreter|
 * over the result), NaN only where the interpreter has NaN, infinities
 * equal; tol 0 demands exact equality (+0 and -0 compare equal).
 */
#ifndef KILN_TEST_CODEGEN_UTIL_H
#define KILN_TEST_CODEGEN_UTIL_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_llvm.h"
#include "cg_weights.h"
#include "check.h"
#include "interp.h"
#include "kernel_plan.h"
#include "kiln_abi.h"
#include "rt_internal.h"

/* Exact: data movement, sources, and ops computed in the interpreter's
 * order with the same libm calls (embedding, rope, topk, scatter, max). */
#define CGT_EXACT 0.0
/* Reordered f32 sums (vectorized, with FMA): matmul, norms, softmax,
 * attention, sum and mean. The error of a reordered sum of n products is
 * below n * 2^-24 * sum|terms|; with n <= 256 and terms of O(1) that is
 * < 2e-5 in the worst case and ~1e-6 typically, against a scale of
 * max(1, max|result|). */
#define CGT_SUM_TOL 1e-5
/* A reordered sum rounded to bf16 or f16 may land one ulp of the result
 * dtype away: at most 2^-7 (bf16) or 2^-10 (f16) of the largest value. */
#define CGT_BF16_ULP 0x1p-7
#define CGT_F16_ULP 0x1p-10

typedef struct {
  const char *entry;
  int64_t T, P;
  const int32_t *tokens; /* NULL: cgt_default_tokens */
} CgtCall;

typedef struct {
  const char *name;
  IrModule *m;       /* what is compiled */
  IrModule *ref;     /* what the interpreter runs, when not m (owned), or NULL */
  KernelPlan *plan;
  IrInterp *it;
  void *so;
  const KilnModelDesc *desc;
  uint8_t *weights, *arena, *state;
  float **rand_f;   /* [nparams]: random float values, or NULL */
  int64_t **rand_i; /* [nparams]: random int values, or NULL */
  int64_t vocab;    /* default tokens lie in [0, vocab) */
  int opt_level;
  const KTarget *ktarget; /* tiles for the backend; NULL: ktarget_default() */
} CgtModel;

static char cgt_dir[64];
static RtPool *cgt_pool;
/* The largest |compiled - reference| / scale cgt_compare has seen. */
static double cgt_worst;

static inline void *cgt_alloc(uint64_t bytes) {
  size_t n = (size_t)((bytes + 63) / 64 * 64);
  void *p = aligned_alloc(64, n ? n : 64);
  if (!p) abort();
  return p;
}

static inline void cgt_setup(void) {
  strcpy(cgt_dir, "/tmp/kiln-cgtest-XXXXXX");
  CHECK(mkdtemp(cgt_dir) != NULL);
  char err[256];
  cgt_pool = rt_pool_new(3, err, sizeof err);
  CHECK(cgt_pool != NULL);
}

static inline void cgt_teardown(void) {
  rmdir(cgt_dir);
  if (cgt_pool) rt_pool_free(cgt_pool);
}

/* ---- parameters ---- */

static inline uint32_t cgt_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static inline float cgt_rand_unit(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)((*state >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

static inline int64_t cgt_param_numel(const IrValue *p) {
  int64_t n = 1;
  for (int i = 0; i < p->type.rank; i++) n *= p->type.dims[i].c;
  return n;
}

/* Random values for every parameter without an initializer, bound to the
 * interpreter. */
static inline bool cgt_random_params(CgtModel *cm) {
  const IrModule *m = cm->m;
  cm->rand_f = calloc((size_t)m->nparams + 1, sizeof *cm->rand_f);
  cm->rand_i = calloc((size_t)m->nparams + 1, sizeof *cm->rand_i);
  for (int k = 0; k < m->nparams; k++) {
    const IrValue *p = m->params[k];
    if (p->init) continue;
    int64_t n = cgt_param_numel(p), shape[IR_MAX_RANK];
    for (int i = 0; i < p->type.rank; i++) shape[i] = p->type.dims[i].c;
    uint32_t seed = cgt_hash(p->name);
    bool is_float = ir_dtype_is_float(p->type.dtype);
    IrTensor t = ir_tensor_new(is_float ? IR_F32 : IR_I64, p->type.rank, shape);
    if (is_float)
      cm->rand_f[k] = malloc(sizeof(float) * (size_t)(n ? n : 1));
    else
      cm->rand_i[k] = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t e = 0; e < n; e++) {
      float u = cgt_rand_unit(&seed);
      if (is_float)
        t.f[e] = cm->rand_f[k][e] = u;
      else
        t.i[e] = cm->rand_i[k][e] = (int64_t)((u + 1) * 4) % 8;
    }
    IrDiag d = {0};
    bool ok = ir_interp_bind_param(cm->it, p->name, &t, &d);
    ir_tensor_free(&t);
    if (!ok) {
      fprintf(stderr, "%s: binding @%s: %s\n", cm->name, p->name, d.msg);
      return false;
    }
  }
  return true;
}

static inline bool cgt_random_source(void *user, const IrValue *param, CgParamData *out,
                                     IrDiag *d) {
  CgtModel *cm = user;
  for (int k = 0; k < cm->m->nparams; k++) {
    if (cm->m->params[k] != param) continue;
    out->count = cgt_param_numel(param);
    out->dtype = cm->rand_f[k] ? IR_F32 : IR_I64;
    out->data = cm->rand_f[k] ? (const void *)cm->rand_f[k] : (const void *)cm->rand_i[k];
    return out->data != NULL;
  }
  return ir_error_at(d, param->name, "not a parameter of the module");
}

/* ---- compiling and loading ---- */

static inline int64_t cgt_sym_bound(const IrModule *m, const char *name) {
  int s = ir_module_find_sym(m, name, strlen(name));
  return s < 0 ? 0 : m->syms[s].max;
}

/* Compiles cm->m, links and loads it, packs the weights. */
static inline bool cgt_compile(CgtModel *cm, CgParamSource get, void *user) {
  IrDiag d = {0};
  cm->plan = kplan_build(cm->m, &d);
  if (!cm->plan) {
    fprintf(stderr, "%s: plan: %s\n", cm->name, d.msg);
    return false;
  }
  char obj[128], so[128], cmd[512];
  snprintf(obj, sizeof obj, "%s/%s.o", cgt_dir, cm->name);
  snprintf(so, sizeof so, "%s/%s.so", cgt_dir, cm->name);
  int64_t max_t = cgt_sym_bound(cm->m, "T");
  CgModuleInfo info = {.symbol = "kiln_model",
                       .model_name = cm->name,
                       .vocab = 1,
                       .max_context = max_t + cgt_sym_bound(cm->m, "P"),
                       .max_tokens = max_t,
                       .bos_id = -1,
                       .eos_id = -1};
  CgTarget target = {.opt_level = cm->opt_level, .ktarget = cm->ktarget};
  if (!cg_llvm_compile(cm->plan, &info, &target, CG_EMIT_OBJ, obj, &d)) {
    fprintf(stderr, "%s: compile: %s\n", cm->name, d.msg);
    unlink(obj);
    return false;
  }
  snprintf(cmd, sizeof cmd, "cc -shared -o %s %s -lm", so, obj);
  int rc = system(cmd);
  unlink(obj);
  if (rc != 0) {
    unlink(so);
    fprintf(stderr, "%s: '%s' failed\n", cm->name, cmd);
    return false;
  }
  cm->so = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  unlink(so);
  cm->desc = cm->so ? dlsym(cm->so, "kiln_model") : NULL;
  if (!cm->desc) {
    fprintf(stderr, "%s: dlopen: %s\n", cm->name, dlerror());
    return false;
  }
  cm->weights = cgt_alloc(cm->plan->weights_bytes);
  cm->arena = cgt_alloc(cm->plan->arena_bytes);
  cm->state = cgt_alloc(cm->plan->state_bytes);
  if (!cg_pack_weights(cm->plan, get, user, cm->weights, &d)) {
    fprintf(stderr, "%s: weights: %s\n", cm->name, d.msg);
    return false;
  }
  return true;
}

static inline void cgt_free(CgtModel *cm) {
  if (!cm) return;
  if (cm->so) dlclose(cm->so);
  free(cm->weights);
  free(cm->arena);
  free(cm->state);
  for (int k = 0; cm->m && k < cm->m->nparams; k++) {
    if (cm->rand_f) free(cm->rand_f[k]);
    if (cm->rand_i) free(cm->rand_i[k]);
  }
  free(cm->rand_f);
  free(cm->rand_i);
  kplan_free(cm->plan);
  ir_interp_free(cm->it);
  ir_module_free(cm->ref);
  ir_module_free(cm->m);
  free(cm);
}

/* A module from IR text with random parameters, compiled at opt_level
 * (3 unless given); NULL after a failed check. */
static inline CgtModel *cgt_from_text_opt(const char *name, const char *src, int opt_level) {
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = name;
  cm->vocab = 8;
  cm->opt_level = opt_level;
  IrDiag d = {0};
  cm->m = ir_parse(src, strlen(src), name, &d);
  if (cm->m) cm->it = ir_interp_new(cm->m, &d);
  bool ok = cm->it != NULL;
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  ok = ok && cgt_random_params(cm) && cgt_compile(cm, cgt_random_source, cm);
  CHECK(ok);
  if (!ok) {
    cgt_free(cm);
    return NULL;
  }
  return cm;
}

static inline CgtModel *cgt_from_text(const char *name, const char *src) {
  return cgt_from_text_opt(name, src, 3);
}

/* Compiles src, which must fail; returns the message (static storage). */
static inline const char *cgt_compile_error(const char *name, const char *src) {
  static IrDiag d;
  memset(&d, 0, sizeof d);
  IrModule *m = ir_parse(src, strlen(src), name, &d);
  bool verified = m && ir_verify(m, &d);
  CHECK(verified);
  KernelPlan *plan = verified ? kplan_build(m, &d) : NULL;
  char obj[128];
  snprintf(obj, sizeof obj, "%s/%s.o", cgt_dir, name);
  CgModuleInfo info = {.symbol = "kiln_model",
                       .vocab = 1,
                       .max_context = 32,
                       .max_tokens = 16,
                       .bos_id = -1,
                       .eos_id = -1};
  CgTarget target = {.opt_level = 3};
  bool ok = plan && cg_llvm_compile(plan, &info, &target, CG_EMIT_OBJ, obj, &d);
  CHECK(plan && !ok && d.failed);
  unlink(obj);
  kplan_free(plan);
  ir_module_free(m);
  return d.msg;
}

/* ---- schedules ---- */

static inline void cgt_pf_serial(KilnExec *ex, KilnKernelFn fn, const void *args, int64_t n,
                                 int64_t chunk) {
  (void)ex;
  for (int64_t b = 0; b < n; b += chunk) fn(args, b, b + chunk < n ? b + chunk : n);
}

/* The odd chunks from the last down, then the even ones. */
static inline void cgt_pf_shuffled(KilnExec *ex, KilnKernelFn fn, const void *args, int64_t n,
                                   int64_t chunk) {
  (void)ex;
  int64_t nc = (n + chunk - 1) / chunk;
  for (int parity = 1; parity >= 0; parity--)
    for (int64_t c = nc - 1; c >= 0; c--)
      if (c % 2 == parity) fn(args, c * chunk, (c + 1) * chunk < n ? (c + 1) * chunk : n);
}

static inline void cgt_pf_whole(KilnExec *ex, KilnKernelFn fn, const void *args, int64_t n,
                                int64_t chunk) {
  (void)ex;
  (void)chunk;
  if (n > 0) fn(args, 0, n);
}

typedef void (*CgtParallelFor)(KilnExec *, KilnKernelFn, const void *, int64_t, int64_t);
static const CgtParallelFor cgt_schedules[] = {cgt_pf_serial, cgt_pf_shuffled, cgt_pf_whole,
                                               rt_parallel_for};
static const char *const cgt_schedule_names[] = {"serial", "shuffled", "whole", "pool of 3"};
#define CGT_NSCHEDULES 4

/* ---- calls ---- */

static inline const int32_t *cgt_default_tokens(const CgtModel *cm, const CgtCall *c,
                                                int32_t *buf) {
  if (c->tokens) return c->tokens;
  for (int64_t i = 0; i < c->T; i++) buf[i] = (int32_t)((i * 5 + 3 + c->P * 3) % cm->vocab);
  return buf;
}

static inline void cgt_syms(const CgtModel *cm, const CgtCall *c, int64_t *syms) {
  for (int s = 0; s < IR_MAX_SYMS; s++) syms[s] = 0;
  for (int s = 0; s < cm->m->nsyms; s++) {
    if (strcmp(cm->m->syms[s].name, "T") == 0) syms[s] = c->T;
    if (strcmp(cm->m->syms[s].name, "P") == 0) syms[s] = c->P;
  }
}

/* Elements of the entry's (single) result for this call. */
static inline int64_t cgt_result_numel(const CgtModel *cm, const CgtCall *c) {
  const IrFunc *f = ir_module_find_func(cm->m, c->entry);
  int64_t syms[IR_MAX_SYMS], n = 1;
  cgt_syms(cm, c, syms);
  for (int i = 0; i < f->result_types[0].rank; i++)
    n *= ir_dim_eval(f->result_types[0].dims[i], syms);
  return n;
}

/* The interpreter's result as floats (ints converted), or NULL. */
static inline float *cgt_interp_call(CgtModel *cm, const CgtCall *c, int64_t *n) {
  int32_t buf[4096];
  const int32_t *tok = cgt_default_tokens(cm, c, buf);
  const IrFunc *f = ir_module_find_func(cm->m, c->entry);
  int64_t syms[IR_MAX_SYMS];
  cgt_syms(cm, c, syms);
  int64_t len = ir_dim_eval(f->args[0]->type.dims[0], syms);
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){len});
  for (int64_t i = 0; i < len; i++) in.i[i] = tok[i];
  IrTensor *outs = NULL;
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(cm->it, c->entry, syms, &in, 1, &outs, &nout, &d);
  ir_tensor_free(&in);
  if (!ok) {
    fprintf(stderr, "%s: interpreter @%s: %s\n", cm->name, c->entry, d.msg);
    return NULL;
  }
  *n = ir_tensor_numel(&outs[0]);
  float *r = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
  for (int64_t e = 0; e < *n; e++) r[e] = outs[0].f ? outs[0].f[e] : (float)outs[0].i[e];
  ir_tensors_free(outs, nout);
  return r;
}

/* The compiled entry's result under schedule pf, or NULL. */
static inline float *cgt_compiled_call(CgtModel *cm, const CgtCall *c, CgtParallelFor pf) {
  int32_t buf[4096];
  const int32_t *tok = cgt_default_tokens(cm, c, buf);
  int64_t n = cgt_result_numel(cm, c);
  float *out = malloc(sizeof(float) * (size_t)(n ? n : 1));
  memset(out, 0xff, sizeof(float) * (size_t)n); /* NaN: unwritten logits show */
  memset(cm->arena, 0xff, (size_t)cm->plan->arena_bytes);
  KilnExec ex = {cm->weights, cm->arena, cm->state, pf, cgt_pool};
  KilnEntryFn fn = strcmp(c->entry, "decode") == 0 ? cm->desc->decode : cm->desc->prefill;
  int status = fn ? fn(&ex, tok, c->T, c->P, out) : -1;
  if (status != 0) {
    fprintf(stderr, "%s: compiled @%s returned %d\n", cm->name, c->entry, status);
    free(out);
    return NULL;
  }
  return out;
}

/* Compares n floats under the tolerance rule above; reports the worst. */
static inline bool cgt_compare(const char *what, const float *got, const float *want, int64_t n,
                               double tol) {
  double scale = 1;
  for (int64_t e = 0; e < n; e++)
    if (isfinite(want[e]) && fabs(want[e]) > scale) scale = fabs(want[e]);
  int64_t bad = -1;
  double worst = 0;
  for (int64_t e = 0; e < n; e++) {
    double g = got[e], w = want[e];
    bool same = (isnan(g) && isnan(w)) || (isinf(g) && isinf(w) && (g > 0) == (w > 0)) ||
                (isfinite(g) && isfinite(w) && fabs(g - w) <= tol * scale);
    if (!same && bad < 0) bad = e;
    if (isfinite(g) && isfinite(w) && fabs(g - w) > worst) worst = fabs(g - w);
  }
  if (worst / scale > cgt_worst) cgt_worst = worst / scale;
  check_count++;
  if (bad < 0) return true;
  check_failures++;
  fprintf(stderr,
          "%s: element %lld is %.9g, the interpreter gives %.9g (tolerance %g x %g; "
          "largest difference %.3g)\n",
          what, (long long)bad, got[bad], want[bad], tol, scale, worst);
  return false;
}

/* Runs the calls in order (the state carries over) on the interpreter and
 * under every schedule; compares as described at the top. */
static inline void cgt_check(CgtModel *cm, const CgtCall *calls, int ncalls, double tol) {
  if (!cm) return;
  float *want[16] = {0}, *first[16] = {0};
  int64_t n[16] = {0};
  ir_interp_reset_state(cm->it);
  for (int i = 0; i < ncalls; i++) want[i] = cgt_interp_call(cm, &calls[i], &n[i]);
  for (int s = 0; s < CGT_NSCHEDULES; s++) {
    memset(cm->state, 0, (size_t)cm->plan->state_bytes);
    for (int i = 0; i < ncalls; i++) {
      char what[256];
      snprintf(what, sizeof what, "%s: call %d (@%s T=%lld P=%lld), %s schedule", cm->name, i,
               calls[i].entry, (long long)calls[i].T, (long long)calls[i].P, cgt_schedule_names[s]);
      float *got = cgt_compiled_call(cm, &calls[i], cgt_schedules[s]);
      CHECK(got != NULL && want[i] != NULL && n[i] == cgt_result_numel(cm, &calls[i]));
      if (!got || !want[i]) {
        free(got);
        continue;
      }
      if (s == 0) {
        cgt_compare(what, got, want[i], n[i], tol);
        first[i] = got;
        continue;
      }
      check_count++;
      if (first[i] && memcmp(got, first[i], sizeof(float) * (size_t)n[i]) != 0) {
        check_failures++;
        fprintf(stderr, "%s: not bit-identical to the serial schedule\n", what);
      }
      free(got);
    }
  }
  for (int i = 0; i < ncalls; i++) {
    free(want[i]);
    free(first[i]);
  }
}

/* One prefill call at each (T, P) pair, each from a fresh state. */
static inline void cgt_check_prefills(CgtModel *cm, const int64_t (*tp)[2], int n, double tol) {
  for (int i = 0; i < n; i++) {
    CgtCall c = {"prefill", tp[i][0], tp[i][1], NULL};
    cgt_check(cm, &c, 1, tol);
  }
}

#endif
