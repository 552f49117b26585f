/* pass_canonicalize.c: local rewrites to a canonical form, iterated to a
 * fixed point.
 *
 * The rewrites are data: a table of (op kind, name, function). A function
 * looks at one op and either changes it in place (reshape of reshape
 * becomes one reshape) or says that its result equals another value
 * (x + 0 is x); the op is then removed and its uses see the other value.
 * Ops left without uses (the inner reshape, the 0) are left to dce.
 *
 *   %a = reshape(%x) : f32[2, 8]        %b = reshape(%x) : f32[4, 4]
 *   %b = reshape(%a) : f32[4, 4]   ->
 */
#include <stdlib.h>
#include <string.h>

#include "pass.h"

typedef enum {
  RW_NONE,     /* pattern does not apply */
  RW_CHANGED,  /* op rewritten in place */
  RW_REPLACED, /* op's result is *repl; the op goes away */
} RwResult;

typedef RwResult (*RewriteFn)(IrModule *m, IrOp *op, IrValue **repl);

/* Matches any op with the commutative flag. */
#define ANY_COMMUTATIVE (-1)

typedef struct {
  int kind; /* IrOpKind or ANY_COMMUTATIVE */
  const char *name;
  RewriteFn fn;
} Pattern;

/* The op that defines v when it is of kind k, else NULL. */
static IrOp *def_of(const IrValue *v, IrOpKind k) {
  return v->kind == IR_VAL_RESULT && v->def->kind == k ? v->def : NULL;
}

/* reshape/cast to the operand's own type: the operand. */
static RwResult rw_same_type(IrModule *m, IrOp *op, IrValue **repl) {
  if (!ir_type_eq(&op->in[0]->type, &op->out[0]->type)) return RW_NONE;
  *repl = op->in[0];
  return RW_REPLACED;
}

/* reshape(reshape(x)) -> reshape(x): the order of elements is kept. */
static RwResult rw_reshape_chain(IrModule *m, IrOp *op, IrValue **repl) {
  IrOp *inner = def_of(op->in[0], IR_OP_RESHAPE);
  if (!inner) return RW_NONE;
  op->in[0] = inner->in[0];
  return RW_CHANGED;
}

/* transpose with perm [0, 1, ..., n-1]: the operand. */
static RwResult rw_transpose_identity(IrModule *m, IrOp *op, IrValue **repl) {
  const IrAttr *perm = ir_op_attr(op, "perm");
  if (!perm) return RW_NONE;
  for (int i = 0; i < perm->nints; i++)
    if (perm->ints[i] != i) return RW_NONE;
  *repl = op->in[0];
  return RW_REPLACED;
}

/* transpose(transpose(x, p1), p2) -> transpose(x, p) with p[i] = p1[p2[i]]:
 * result dim i is the inner result's dim p2[i], which is x's dim p1[p2[i]]. */
static RwResult rw_transpose_chain(IrModule *m, IrOp *op, IrValue **repl) {
  IrOp *inner = def_of(op->in[0], IR_OP_TRANSPOSE);
  const IrAttr *p2 = ir_op_attr(op, "perm");
  const IrAttr *p1 = inner ? ir_op_attr(inner, "perm") : NULL;
  if (!p1 || !p2 || p1->nints != p2->nints || p2->nints > IR_MAX_RANK) return RW_NONE;
  int64_t p[IR_MAX_RANK];
  for (int i = 0; i < p2->nints; i++) {
    if (p2->ints[i] < 0 || p2->ints[i] >= p1->nints) return RW_NONE;
    p[i] = p1->ints[p2->ints[i]];
  }
  op->in[0] = inner->in[0];
  ir_op_set_ints(m, op, "perm", p, p2->nints);
  return RW_CHANGED;
}

/* A transpose that moves only axes of (constant) size 1 keeps every
 * element at its row-major position: a reshape, which memory planning
 * turns into a view. Decode's [1, H, D] -> [H, 1, D] is one. */
static RwResult rw_transpose_as_reshape(IrModule *m, IrOp *op, IrValue **repl) {
  const IrAttr *perm = ir_op_attr(op, "perm");
  const IrType *out = &op->out[0]->type;
  if (!perm || perm->nints != out->rank) return RW_NONE;
  int64_t last = -1;
  for (int i = 0; i < perm->nints; i++) {
    IrDim d = out->dims[i];
    if (ir_dim_is_const(d) && d.c == 1) continue;
    if (perm->ints[i] <= last) return RW_NONE;
    last = perm->ints[i];
  }
  op->kind = IR_OP_RESHAPE;
  memset(op->attrs, 0, sizeof op->attrs);
  return RW_CHANGED;
}

/* add(c, x) -> add(x, c) for commutative ops: constants go second, so
 * x + 0 and cse see one form. */
static RwResult rw_const_second(IrModule *m, IrOp *op, IrValue **repl) {
  double c;
  if (op->nin != 2 || !pass_const_value(op->in[0], &c) || pass_const_value(op->in[1], &c))
    return RW_NONE;
  IrValue *t = op->in[0];
  op->in[0] = op->in[1];
  op->in[1] = t;
  return RW_CHANGED;
}

/* op(x, c) -> x when c is a splat constant equal to `neutral` and the
 * broadcast leaves x's type unchanged. */
static RwResult neutral_operand(IrOp *op, double neutral, IrValue **repl) {
  double c;
  if (!pass_const_value(op->in[1], &c) || c != neutral) return RW_NONE;
  if (!ir_type_eq(&op->in[0]->type, &op->out[0]->type)) return RW_NONE;
  *repl = op->in[0];
  return RW_REPLACED;
}

/* x + 0, x - 0 -> x (the sign of a zero x may change: -0 + 0 is +0). */
static RwResult rw_add_zero(IrModule *m, IrOp *op, IrValue **repl) {
  return neutral_operand(op, 0.0, repl);
}

/* x * 1, x / 1 -> x. */
static RwResult rw_mul_one(IrModule *m, IrOp *op, IrValue **repl) {
  return neutral_operand(op, 1.0, repl);
}

static const Pattern patterns[] = {
    {IR_OP_RESHAPE, "reshape-identity", rw_same_type},
    {IR_OP_RESHAPE, "reshape-of-reshape", rw_reshape_chain},
    {IR_OP_CAST, "cast-identity", rw_same_type},
    {IR_OP_TRANSPOSE, "transpose-identity", rw_transpose_identity},
    {IR_OP_TRANSPOSE, "transpose-of-transpose", rw_transpose_chain},
    {IR_OP_TRANSPOSE, "transpose-as-reshape", rw_transpose_as_reshape},
    {ANY_COMMUTATIVE, "const-second", rw_const_second},
    {IR_OP_ADD, "add-zero", rw_add_zero},
    {IR_OP_SUB, "sub-zero", rw_add_zero},
    {IR_OP_MUL, "mul-one", rw_mul_one},
    {IR_OP_DIV, "div-one", rw_mul_one},
};

enum { NPATTERNS = sizeof patterns / sizeof patterns[0] };

static bool pattern_matches_kind(const Pattern *p, const IrOp *op) {
  if (p->kind == ANY_COMMUTATIVE) return (ir_op_spec(op->kind)->flags & IR_OPF_COMMUTATIVE) != 0;
  return p->kind == (int)op->kind;
}

/* Applies patterns to op until none applies or it is replaced. Returns
 * the number of rewrites; *repl is set when the op is replaced. */
static int rewrite_op(IrModule *m, IrOp *op, IrValue **repl, PassContext *st) {
  int n = 0;
  /* Every pattern strictly simplifies or orders, so this ends; the cap
   * only guards against a future pattern pair that undo each other. */
  for (int round = 0; round < 64; round++) {
    bool again = false;
    for (int i = 0; i < NPATTERNS && !again; i++) {
      if (!pattern_matches_kind(&patterns[i], op)) continue;
      RwResult r = patterns[i].fn(m, op, repl);
      if (r == RW_NONE) continue;
      pass_count(st, patterns[i].name, 1);
      n++;
      if (r == RW_REPLACED) return n;
      again = true;
    }
    if (!again) break;
  }
  return n;
}

/* One forward sweep over f: operands first see earlier replacements, so a
 * chain collapses in one sweep. Returns the number of rewrites. */
static int sweep(IrModule *m, IrFunc *f, PassContext *st) {
  PassMap repl = {0};
  bool *dead = pass_calloc((size_t)f->nops, sizeof *dead);
  int n = 0;
  for (int i = 0; i < f->nops; i++) {
    IrOp *op = f->ops[i];
    for (int j = 0; j < op->nin; j++) op->in[j] = pass_map_resolve(&repl, op->in[j]);
    IrValue *to = NULL;
    n += rewrite_op(m, op, &to, st);
    if (to) {
      pass_map_put(&repl, op->out[0], (intptr_t)to);
      dead[i] = true;
    }
  }
  pass_apply_replacements(f, &repl);
  pass_remove_ops(f, dead);
  free(dead);
  pass_map_free(&repl);
  return n;
}

bool pass_canonicalize(IrModule *m, PassContext *ctx, IrDiag *d) {
  bool changed = false;
  for (int i = 0; i < m->nfuncs; i++)
    for (int round = 0; round < 64 && sweep(m, m->funcs[i], ctx) > 0; round++) changed = true;
  return changed;
}
