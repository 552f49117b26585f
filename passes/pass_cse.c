/* pass_cse.c: common subexpression elimination.
 *
 * Two ops with the same kind, operands, attributes and result types
 * compute the same thing; the later one is removed and its uses take the
 * earlier one's results. Functions are straight-line SSA, so the earlier
 * op is always available at the later one. kv_read and kv_write are never
 * merged: they touch state, whose contents change between them. No other
 * op reads state, so nothing else needs to care about kv_write.
 *
 *   %a = exp(%x) : f32[4]            %a = exp(%x) : f32[4]
 *   %b = exp(%x) : f32[4]      ->    %c = add(%a, %a) : f32[4]
 *   %c = add(%a, %b) : f32[4]
 *
 * Ops are found through a hash table keyed by a hash of all of the above.
 */
#include <stdlib.h>
#include <string.h>

#include "pass.h"

/* ---- the op key ---- */

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = mix(h, b[i]);
  return h;
}

static uint64_t hash_attr(uint64_t h, const IrAttr *a, IrAttrKind kind) {
  if (!a->set) return mix(h, 0);
  switch (kind) {
  case IR_ATTR_FLOAT: return hash_bytes(h, &a->f, sizeof a->f);
  case IR_ATTR_STR: return hash_bytes(h, a->s, strlen(a->s));
  case IR_ATTR_INTS: return hash_bytes(mix(h, (uint64_t)a->nints), a->ints, sizeof(int64_t) * (size_t)a->nints);
  case IR_ATTR_DIM: return hash_bytes(h, &a->dim, sizeof a->dim);
  default: return mix(h, (uint64_t)a->i); /* INT, BOOL */
  }
}

/* Types hash by dtype and dims only (IrType may have padding). */
static uint64_t hash_type(uint64_t h, const IrType *t) {
  h = mix(mix(h, (uint64_t)t->dtype), (uint64_t)t->rank);
  return hash_bytes(h, t->dims, sizeof(IrDim) * (size_t)t->rank);
}

static uint64_t hash_op(const IrOp *op) {
  const IrOpSpec *spec = ir_op_spec(op->kind);
  uint64_t h = mix(mix(1469598103934665603ULL, (uint64_t)op->kind), (uint64_t)op->nin);
  for (int i = 0; i < op->nin; i++) h = mix(h, (uint64_t)(uintptr_t)op->in[i]);
  for (int i = 0; i < spec->nattrs; i++) h = hash_attr(h, &op->attrs[i], spec->attrs[i].kind);
  for (int i = 0; i < op->nout; i++) h = hash_type(h, &op->out[i]->type);
  return h;
}

/* Attributes compare by bits for floats: -0.0 and 0.0 differ, and a NaN
 * equals the same NaN. */
static bool attr_eq(const IrAttr *a, const IrAttr *b, IrAttrKind kind) {
  if (a->set != b->set) return false;
  if (!a->set) return true;
  switch (kind) {
  case IR_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
  case IR_ATTR_STR: return strcmp(a->s, b->s) == 0;
  case IR_ATTR_INTS:
    return a->nints == b->nints &&
           (a->nints == 0 || memcmp(a->ints, b->ints, sizeof(int64_t) * (size_t)a->nints) == 0);
  case IR_ATTR_DIM: return ir_dim_eq(a->dim, b->dim);
  default: return a->i == b->i;
  }
}

static bool ops_equal(const IrOp *a, const IrOp *b) {
  if (a->kind != b->kind || a->nin != b->nin || a->nout != b->nout) return false;
  for (int i = 0; i < a->nin; i++)
    if (a->in[i] != b->in[i]) return false;
  const IrOpSpec *spec = ir_op_spec(a->kind);
  for (int i = 0; i < spec->nattrs; i++)
    if (!attr_eq(&a->attrs[i], &b->attrs[i], spec->attrs[i].kind)) return false;
  for (int i = 0; i < a->nout; i++)
    if (!ir_type_eq(&a->out[i]->type, &b->out[i]->type)) return false;
  return true;
}

/* ---- a hash set of ops, open addressing ---- */

typedef struct {
  uint64_t *hash;
  const IrOp **op;
  size_t cap;
} OpTable;

/* The earlier op equal to op, or NULL after inserting op. cap is a power
 * of two at least twice the number of ops, so the table never fills. */
static const IrOp *find_or_insert(OpTable *t, const IrOp *op) {
  uint64_t h = hash_op(op);
  size_t i = (size_t)h & (t->cap - 1);
  for (; t->op[i]; i = (i + 1) & (t->cap - 1))
    if (t->hash[i] == h && ops_equal(t->op[i], op)) return t->op[i];
  t->hash[i] = h;
  t->op[i] = op;
  return NULL;
}

/* ---- the pass ---- */

static int cse_func(IrFunc *f) {
  OpTable t = {0};
  t.cap = 16;
  while (t.cap < (size_t)f->nops * 2) t.cap *= 2;
  t.hash = pass_calloc(t.cap, sizeof *t.hash);
  t.op = pass_calloc(t.cap, sizeof *t.op);
  bool *dead = pass_calloc((size_t)f->nops, sizeof *dead);
  PassMap repl = {0};
  int n = 0;
  for (int i = 0; i < f->nops; i++) {
    IrOp *op = f->ops[i];
    for (int j = 0; j < op->nin; j++) op->in[j] = pass_map_resolve(&repl, op->in[j]);
    if (pass_op_has_effect(op)) continue;
    const IrOp *same = find_or_insert(&t, op);
    if (!same) continue;
    for (int j = 0; j < op->nout; j++) pass_map_put(&repl, op->out[j], (intptr_t)same->out[j]);
    dead[i] = true;
    n++;
  }
  pass_apply_replacements(f, &repl);
  pass_remove_ops(f, dead);
  free(t.hash);
  free(t.op);
  free(dead);
  pass_map_free(&repl);
  return n;
}

bool pass_cse(IrModule *m, PassContext *ctx, IrDiag *d) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++) n += cse_func(m->funcs[i]);
  if (n) pass_count(ctx, "merged", n);
  return n > 0;
}
