/* test_tiny.h: what the pass tests share. The tiny models of
 * tests/data/tiny run through the interpreter (a prefill of TT_PROMPT
 * tokens, then decodes), pipelines run pass by pass with the verifier,
 * pass counters, and output comparisons with a stated tolerance. */
#ifndef KILN_TEST_TINY_H
#define KILN_TEST_TINY_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fe.h"
#include "interp.h"
#include "pass.h"

#define TT_PROMPT 6

/* The value of counter `name`, 0 when the pass never bumped it. */
static inline int64_t tt_stat(const PassContext *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->c[i].name, name) == 0) return s->c[i].value;
  return 0;
}

/* Runs spec's passes over m in order, verifying after each. */
static inline bool tt_run_pipeline(IrModule *m, const char *spec, PassContext *ctx) {
  IrDiag d = {0};
  PassPipeline p;
  bool ok = pass_pipeline_parse(spec, &p, &d);
  for (int i = 0; ok && i < p.n; i++) {
    p.passes[i]->run(m, ctx, &d);
    ok = !d.failed && ir_verify(m, &d);
  }
  if (!ok) fprintf(stderr, "%s: %s\n", spec, d.msg);
  return ok;
}

/* One call of `entry`; its first output, or an empty tensor after a
 * failed check. */
static inline IrTensor tt_call(IrInterp *it, const char *entry, const int64_t *syms,
                               const IrTensor *in, int nin) {
  IrTensor *outs = NULL, out = {0};
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(it, entry, syms, in, nin, &outs, &nout, &d);
  CHECK(ok && nout >= 1);
  if (!ok) fprintf(stderr, "%s: %s\n", entry, d.msg);
  if (ok && nout >= 1) {
    out = outs[0];
    outs[0] = (IrTensor){0};
  }
  ir_tensors_free(outs, nout);
  return out;
}

/* On a fresh interpreter: prefill of TT_PROMPT tokens, then steps - 1
 * decodes; out[step] is each call's logits. */
static inline bool tt_run_model(const IrModule *m, const FeWeights *w, int64_t vocab, int steps,
                                IrTensor *out) {
  IrDiag d = {0};
  IrInterp *it = ir_interp_new(m, &d);
  bool ok = it && fe_bind_weights(it, m, w, &d);
  CHECK(ok);
  if (!ok) fprintf(stderr, "%s: %s\n", m->name, d.msg);
  int sym_t = ir_module_find_sym(m, "T", 1), sym_p = ir_module_find_sym(m, "P", 1);
  for (int step = 0; ok && step < steps; step++) {
    int64_t n = step == 0 ? TT_PROMPT : 1, pos = step == 0 ? 0 : TT_PROMPT + step - 1;
    IrTensor tok = ir_tensor_new(IR_I32, 1, (int64_t[]){n});
    for (int64_t i = 0; i < n; i++) tok.i[i] = (int32_t)((5 * (pos + i) + 1) % vocab);
    int64_t syms[IR_MAX_SYMS];
    ir_interp_syms_unset(syms);
    syms[sym_t] = n;
    syms[sym_p] = pos;
    out[step] = tt_call(it, step == 0 ? "prefill" : "decode", syms, &tok, 1);
    ir_tensor_free(&tok);
  }
  ir_interp_free(it);
  return ok;
}

/* a and b agree: NaN with NaN, infinities exactly, the rest within
 * rel_tol relative (to max(1, |b|)); rel_tol 0 asks for the same bits. */
static inline bool tt_same_value(float a, float b, double rel_tol) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  if (rel_tol == 0) return memcmp(&a, &b, sizeof a) == 0;
  if (isinf(a) || isinf(b)) return a == b;
  return fabs((double)a - (double)b) <= rel_tol * fmax(1.0, fabs((double)b));
}

/* after == before within rel_tol (tt_same_value); one check, reporting
 * the first element that differs. */
static inline void tt_check_close(const char *what, const IrTensor *after,
                                  const IrTensor *before, double rel_tol) {
  bool shape = after->rank == before->rank && after->dtype == before->dtype &&
               memcmp(after->shape, before->shape, sizeof(int64_t) * (size_t)after->rank) == 0;
  CHECK(shape);
  if (!shape || !after->f || !before->f) return;
  int64_t n = ir_tensor_numel(after), bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (!tt_same_value(after->f[i], before->f[i], rel_tol)) bad = i;
  check_count++;
  if (bad >= 0) {
    check_failures++;
    fprintf(stderr, "%s: element %lld is %.9g after the pass, %.9g before\n", what,
            (long long)bad, after->f[bad], before->f[bad]);
  }
}

/* fn(name, path) for every model directory under tests/data/tiny; checks
 * that there are at least 7. */
static inline void tt_for_each_tiny(void (*fn)(const char *name, const char *path)) {
  const char *root = KILN_TEST_DATA "/tiny";
  DIR *dir = opendir(root);
  CHECK(dir != NULL);
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir));) {
    if (e->d_name[0] == '.') continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, e->d_name);
    fn(e->d_name, path);
    n++;
  }
  if (dir) closedir(dir);
  CHECK(n >= 7);
}

/* Parses and verifies IR text (a failed CHECK with the message if not). */
static inline IrModule *tt_parse_verified(const char *text, const char *name) {
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), name, &d);
  bool ok = m && ir_verify(m, &d);
  CHECK(ok);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  return m;
}

/* Deterministic values in [-2, 2) from the generator state *rng. */
static inline float tt_random(uint32_t *rng) {
  *rng = *rng * 1664525u + 1013904223u;
  return (float)(*rng >> 8) / (float)(1 << 22) - 2.0f;
}

/* A tensor of type t (dims at syms) of tt_random values rounded to its
 * dtype; i4 is held as i8, as the interpreter does. */
static inline IrTensor tt_random_tensor(const IrType *t, const int64_t *syms, uint32_t *rng) {
  int64_t shape[IR_MAX_RANK];
  for (int j = 0; j < t->rank; j++) shape[j] = ir_dim_eval(t->dims[j], syms);
  IrTensor x = ir_tensor_new(t->dtype == IR_I4 ? IR_I8 : t->dtype, t->rank, shape);
  for (int64_t j = 0; x.f && j < ir_tensor_numel(&x); j++)
    x.f[j] = ir_round_to_dtype(tt_random(rng), t->dtype);
  return x;
}

/* Random arguments for f (calloc'd, f->nargs + 1 of them). */
static inline IrTensor *tt_random_args(const IrFunc *f, const int64_t *syms, uint32_t *rng) {
  IrTensor *args = calloc((size_t)f->nargs + 1, sizeof *args);
  for (int i = 0; i < f->nargs; i++) args[i] = tt_random_tensor(&f->args[i]->type, syms, rng);
  return args;
}

/* The whole file, NUL-terminated (malloc'd), or NULL. */
static inline char *tt_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  if (buf) buf[got] = 0;
  fclose(f);
  return buf;
}

#endif
