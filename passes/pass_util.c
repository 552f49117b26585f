/* pass_util.c: small helpers the passes share: a pointer map, value
 * replacement, constants and op removal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "pass.h"

void pass_count(PassContext *s, const char *name, int64_t n) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) {
    if (strcmp(s->c[i].name, name) == 0) {
      s->c[i].value += n;
      return;
    }
  }
  if (s->n < PASS_MAX_COUNTERS) s->c[s->n++] = (PassCounter){name, n};
}

/* ---- pointer map: open addressing, linear probing ---- */

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

void *pass_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) {
    fprintf(stderr, "kiln: out of memory\n");
    abort();
  }
  return p;
}

void pass_map_free(PassMap *pm) {
  free(pm->keys);
  free(pm->vals);
  *pm = (PassMap){0};
}

static size_t find_slot(const PassMap *pm, const void *key) {
  size_t i = hash_ptr(key) & (pm->cap - 1);
  while (pm->keys[i] && pm->keys[i] != key) i = (i + 1) & (pm->cap - 1);
  return i;
}

bool pass_map_get(const PassMap *pm, const void *key, intptr_t *val) {
  if (!pm->cap) return false;
  size_t i = find_slot(pm, key);
  if (!pm->keys[i]) return false;
  if (val) *val = pm->vals[i];
  return true;
}

static void grow(PassMap *pm) {
  PassMap big = {pass_calloc(pm->cap ? pm->cap * 2 : 64, sizeof(void *)),
                 pass_calloc(pm->cap ? pm->cap * 2 : 64, sizeof(intptr_t)),
                 pm->cap ? pm->cap * 2 : 64, 0};
  for (size_t i = 0; i < pm->cap; i++)
    if (pm->keys[i]) pass_map_put(&big, pm->keys[i], pm->vals[i]);
  pass_map_free(pm);
  *pm = big;
}

void pass_map_put(PassMap *pm, const void *key, intptr_t val) {
  if ((pm->n + 1) * 2 > pm->cap) grow(pm);
  size_t i = find_slot(pm, key);
  if (!pm->keys[i]) {
    pm->keys[i] = key;
    pm->n++;
  }
  pm->vals[i] = val;
}

/* ---- replacements ---- */

IrValue *pass_map_resolve(const PassMap *repl, IrValue *v) {
  intptr_t to;
  while (pass_map_get(repl, v, &to)) v = (IrValue *)to;
  return v;
}

void pass_apply_replacements(IrFunc *f, const PassMap *repl) {
  if (!repl->n) return;
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nin; j++)
      f->ops[i]->in[j] = pass_map_resolve(repl, f->ops[i]->in[j]);
  for (int i = 0; i < f->nresults; i++)
    if (f->results[i]) f->results[i] = pass_map_resolve(repl, f->results[i]);
}

/* ---- constants ---- */

/* Wraps an integer to the width of t: two's complement, like a C cast. */
static int64_t wrap_int(int64_t v, IrDType t) {
  switch (t) {
  case IR_I32: return (int32_t)(uint32_t)(uint64_t)v;
  case IR_I8: return (int8_t)(uint8_t)(uint64_t)v;
  case IR_I4: return ((int64_t)((uint64_t)v << 60)) >> 60;
  default: return v;
  }
}

double pass_round_value(double v, IrDType t) {
  if (ir_dtype_is_float(t)) return ir_round_to_dtype((float)v, t);
  if (isnan(v)) return 0;
  double tv = trunc(v);
  /* Out of int64 range: saturate, then wrap; the interpreter's result is
   * unspecified there and no pass folds such values. */
  int64_t i = tv >= 9.2233720368547758e18 ? INT64_MAX : tv <= -9.2233720368547758e18 ? INT64_MIN
                                                                                    : (int64_t)tv;
  return (double)wrap_int(i, t);
}

bool pass_const_value(const IrValue *v, double *out) {
  if (v->kind != IR_VAL_RESULT || v->def->kind != IR_OP_CONST) return false;
  *out = pass_round_value(ir_op_float(v->def, "value", 0), v->type.dtype);
  return true;
}

void pass_make_const(IrOp *op, double value) {
  op->kind = IR_OP_CONST;
  op->nin = 0;
  memset(op->attrs, 0, sizeof op->attrs);
  ir_op_set_float(op, "value", value);
}

bool pass_op_has_effect(const IrOp *op) {
  return (ir_op_spec(op->kind)->flags & (IR_OPF_READS_STATE | IR_OPF_WRITES_STATE)) != 0;
}

void pass_remove_ops(IrFunc *f, const bool *dead) {
  int n = 0;
  for (int i = 0; i < f->nops; i++)
    if (!dead[i]) f->ops[n++] = f->ops[i];
  f->nops = n;
}
