/* interp_ops_fused.c: fused elementwise ops and matmul epilogues.
 *
 * Both evaluate an expression (ir_expr.h) once per output element, with
 * every operand broadcast to the output shape (numpy rules). Each step is
 * ir_expr_apply, the same function the plain elementwise ops call, so a
 * fused chain gives exactly the bits of the unfused chain of f32 ops. */
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"
#include "ir_expr.h"

/* Walks the output in row-major order tracking, for each operand, the
 * offset of the element broadcast to the current output element. Like
 * IrBcastIter, for any number of operands. */
typedef struct {
  int rank, nops;
  int64_t shape[IR_MAX_RANK], idx[IR_MAX_RANK];
  int64_t stride[IR_EXPR_MAX_NODES][IR_MAX_RANK];
  int64_t off[IR_EXPR_MAX_NODES];
} MultiIter;

static void multi_init(MultiIter *w, const IrTensor *out) {
  memset(w, 0, sizeof *w);
  w->rank = out->rank;
  for (int i = 0; i < out->rank; i++) w->shape[i] = out->shape[i];
}

/* Operand k (slot k of off[]); a NULL tensor (unused slot) stays at 0. */
static void multi_add(MultiIter *w, int k, const IrTensor *t) {
  if (k >= w->nops) w->nops = k + 1;
  if (!t) return;
  int64_t unit = 1;
  for (int i = w->rank - 1; i >= 0; i--) {
    int ti = i - (w->rank - t->rank); /* dims align at the right */
    if (ti < 0) continue;
    w->stride[k][i] = t->shape[ti] == 1 ? 0 : unit;
    unit *= t->shape[ti];
  }
}

static void multi_next(MultiIter *w) {
  for (int i = w->rank - 1; i >= 0; i--) {
    for (int k = 0; k < w->nops; k++) w->off[k] += w->stride[k][i];
    if (++w->idx[i] < w->shape[i]) return;
    for (int k = 0; k < w->nops; k++) w->off[k] -= w->stride[k][i] * w->shape[i];
    w->idx[i] = 0;
  }
}

/* Parses the op's expression attribute; verified modules always parse. */
static bool op_expr(const IrOpRun *r, const char *attr, bool allow_acc, IrExpr *e) {
  const char *text = ir_op_str(r->op, attr, NULL);
  if (!text) return ir_interp_op_error(r, "missing attribute %s", attr);
  return ir_expr_parse(text, allow_acc, e, r->op->loc, r->d);
}

/* out[e] = expr(operands broadcast at e, acc = out[e]) for every element;
 * operand slots below `first` are not elementwise (a matmul's a and b). */
static bool apply_expr(IrOpRun *r, const IrExpr *e, int first) {
  IrTensor *o = &r->out[0];
  if (r->op->nin > IR_EXPR_MAX_NODES)
    return ir_interp_op_error(r, "more than %d operands", IR_EXPR_MAX_NODES);
  MultiIter *w = malloc(sizeof *w);
  if (!w) abort();
  multi_init(w, o);
  for (int k = 0; k < r->op->nin; k++) multi_add(w, k, k >= first ? r->in[k] : NULL);
  float vals[IR_EXPR_MAX_NODES] = {0};
  int64_t n = ir_tensor_numel(o);
  for (int64_t i = 0; i < n; i++, multi_next(w)) {
    for (int k = first; k < r->op->nin; k++) vals[k] = r->in[k]->f[w->off[k]];
    o->f[i] = ir_expr_eval(e, vals, o->f[i]);
  }
  free(w);
  return true;
}

bool ir_interp_fused(IrOpRun *r) {
  IrExpr e;
  return op_expr(r, "expr", false, &e) && apply_expr(r, &e, 0);
}

bool ir_interp_epilogue(IrOpRun *r) {
  if (!ir_op_str(r->op, "epilogue", NULL)) return true;
  IrExpr e;
  return op_expr(r, "epilogue", true, &e) && apply_expr(r, &e, 2);
}
