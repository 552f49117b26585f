/* test_interp_util.h: helpers shared by the interpreter tests.
 *
 *   Run r = run_src(SRC, "f", NULL, (IrTensor[]){tf(SH(2), (float[]){1, 2})}, 1);
 *   CHECK(r.ok);
 *   check_f(&r.outs[0], (float[]){...}, 2, REL_F32);
 *   run_free(&r);
 *
 * Float expectations use a relative tolerance with an absolute floor:
 * |got - want| <= tol * max(1, |want|).
 */
#ifndef KILN_TEST_INTERP_UTIL_H
#define KILN_TEST_INTERP_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "interp.h"

/* f32 results of a few roundings deep. */
#define REL_F32 1e-6

#define SH(...) ((const int64_t[]){__VA_ARGS__})
#define NSH(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static inline uint32_t f32_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static inline float f32_from_bits(uint32_t u) {
  float v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* An f32 tensor of `rank` dims with the given values (numel of them). */
static inline IrTensor tfd(IrDType dt, int rank, const int64_t *shape, const float *vals) {
  IrTensor t = ir_tensor_new(dt, rank, shape);
  int64_t n = ir_tensor_numel(&t);
  for (int64_t e = 0; e < n; e++) t.f[e] = vals[e];
  return t;
}
#define TF(SHAPE, ...) \
  tfd(IR_F32, (int)(sizeof SHAPE / sizeof(int64_t)), SHAPE, (const float[]){__VA_ARGS__})

static inline IrTensor tid(IrDType dt, int rank, const int64_t *shape, const int64_t *vals) {
  IrTensor t = ir_tensor_new(dt, rank, shape);
  int64_t n = ir_tensor_numel(&t);
  for (int64_t e = 0; e < n; e++) t.i[e] = vals[e];
  return t;
}
#define TI(DT, SHAPE, ...) \
  tid(DT, (int)(sizeof SHAPE / sizeof(int64_t)), SHAPE, (const int64_t[]){__VA_ARGS__})

/* A parsed, verified module with its interpreter. */
typedef struct {
  IrModule *m;
  IrInterp *it;
} Ctx;

static inline Ctx ctx_new(const char *src) {
  Ctx c = {0};
  IrDiag d = {0};
  c.m = ir_parse(src, strlen(src), "t.kir", &d);
  if (c.m) c.it = ir_interp_new(c.m, &d); /* verifies first */
  if (!c.it) fprintf(stderr, "ctx_new: %s\n", d.msg);
  CHECK(c.it != NULL);
  return c;
}

static inline void ctx_free(Ctx *c) {
  ir_interp_free(c->it);
  ir_module_free(c->m);
}

typedef struct {
  bool ok;
  IrTensor *outs;
  int nout;
  IrDiag d;
} Run;

/* Calls `fn`; syms may be NULL (all inferred). Frees the inputs. */
static inline Run ctx_call(Ctx *c, const char *fn, const int64_t *syms, IrTensor *in, int nin) {
  Run r = {0};
  int64_t all_unset[IR_MAX_SYMS];
  ir_interp_syms_unset(all_unset);
  if (c->it)
    r.ok = ir_interp_call(c->it, fn, syms ? syms : all_unset, in, nin, &r.outs, &r.nout, &r.d);
  for (int k = 0; k < nin; k++) ir_tensor_free(&in[k]);
  return r;
}

static inline void run_free(Run *r) { ir_tensors_free(r->outs, r->nout); }

/* Parses src and calls fn once. A failure to run prints the message. */
static inline Run run_src(const char *src, const char *fn, const int64_t *syms, IrTensor *in,
                          int nin) {
  Ctx c = ctx_new(src);
  Run r = ctx_call(&c, fn, syms, in, nin);
  if (c.it && !r.ok) fprintf(stderr, "run_src(@%s): %s\n", fn, r.d.msg);
  ctx_free(&c);
  return r;
}

/* Parses src and expects fn to fail with a message containing `want`. */
static inline void expect_run_error(const char *src, const char *fn, const int64_t *syms,
                                    IrTensor *in, int nin, const char *want) {
  Ctx c = ctx_new(src);
  Run r = ctx_call(&c, fn, syms, in, nin);
  CHECK(c.it && !r.ok);
  CHECK_STR_CONTAINS(r.d.msg, want);
  CHECK(r.outs == NULL && r.nout == 0);
  run_free(&r);
  ctx_free(&c);
}

static inline bool shape_is(const IrTensor *t, int rank, const int64_t *shape) {
  if (t->rank != rank) return false;
  for (int i = 0; i < rank; i++)
    if (t->shape[i] != shape[i]) return false;
  return true;
}
#define CHECK_SHAPE(T, ...) CHECK(shape_is((T), NSH(__VA_ARGS__), SH(__VA_ARGS__)))

static inline void check_f_at(const char *file, int line, const IrTensor *t, const float *want,
                              int64_t n, double tol) {
  check_count++;
  if (!t->f || ir_tensor_numel(t) != n) {
    check_failures++;
    fprintf(stderr, "%s:%d: tensor has %lld elements (float: %d), want %lld\n", file, line,
            (long long)ir_tensor_numel(t), t->f != NULL, (long long)n);
    return;
  }
  for (int64_t e = 0; e < n; e++) {
    double g = t->f[e], w = want[e];
    bool same_inf = isinf(g) && isinf(w) && (g > 0) == (w > 0);
    bool both_nan = isnan(g) && isnan(w);
    if (!same_inf && !both_nan && !(fabs(g - w) <= tol * fmax(1.0, fabs(w)))) {
      check_failures++;
      fprintf(stderr, "%s:%d: element %lld = %.9g, want %.9g (rel tol %g)\n", file, line,
              (long long)e, g, w, tol);
      return;
    }
  }
}
#define CHECK_F(T, TOL, ...)                                                        \
  check_f_at(__FILE__, __LINE__, (T), (const float[]){__VA_ARGS__},               \
             (int64_t)(sizeof((const float[]){__VA_ARGS__}) / sizeof(float)), TOL)
#define CHECK_F_ARR(T, WANT, N, TOL) check_f_at(__FILE__, __LINE__, (T), (WANT), (N), TOL)

static inline void check_i_at(const char *file, int line, const IrTensor *t, const int64_t *want,
                              int64_t n) {
  check_count++;
  if (!t->i || ir_tensor_numel(t) != n) {
    check_failures++;
    fprintf(stderr, "%s:%d: tensor has %lld elements (int: %d), want %lld\n", file, line,
            (long long)ir_tensor_numel(t), t->i != NULL, (long long)n);
    return;
  }
  for (int64_t e = 0; e < n; e++) {
    if (t->i[e] != want[e]) {
      check_failures++;
      fprintf(stderr, "%s:%d: element %lld = %lld, want %lld\n", file, line, (long long)e,
              (long long)t->i[e], (long long)want[e]);
      return;
    }
  }
}
#define CHECK_I(T, ...)                                               \
  check_i_at(__FILE__, __LINE__, (T), (const int64_t[]){__VA_ARGS__}, \
             (int64_t)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* Deterministic pseudo-random floats in [-1, 1) (a 32-bit LCG). */
static inline float rand_unit(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)((*state >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

static inline IrTensor trand(int rank, const int64_t *shape, uint32_t seed) {
  IrTensor t = ir_tensor_new(IR_F32, rank, shape);
  int64_t n = ir_tensor_numel(&t);
  for (int64_t e = 0; e < n; e++) t.f[e] = rand_unit(&seed);
  return t;
}

#endif
