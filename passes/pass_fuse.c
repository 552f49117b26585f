/* pass_fuse.c: fusion of elementwise ops (docs/passes.md, "fuse").
 *
 * A tree is a maximal set of f32 elementwise ops (not cast) where every
 * value but the root's has exactly one use, an op of the tree. Each tree
 * becomes one op, the root rewritten in place (its result keeps its name
 * and uses):
 *
 *   - matmul epilogue: when a leaf is the f32 result of a plain matmul
 *     used only there, of the root's type, and the other leaves broadcast
 *     to it, the root becomes that matmul with the tree as its epilogue
 *     (the leaf is `acc`, the other leaves extra operands $2, $3, ...):
 *       %y = add(matmul(%x, @w), @b)  ->  %y = matmul(%x, @w, @b) {epilogue = "add(acc, $2)"}
 *     SwiGLU's silu(gate) * up is the case with two matmul leaves: the
 *     one nearer the root (up) takes the epilogue, the gate is $2.
 *   - otherwise, a tree of two ops or more becomes a `fused` op over its
 *     distinct leaves, splat f32 constants written into the expression.
 *
 * Only pure values are involved, and the rewritten root stays where it
 * was, after every leaf; kv_read/kv_write are never part of a tree.
 */
#include <stdlib.h>
#include <string.h>

#include "ir_expr.h"
#include "pass.h"

/* At most this many ops a tree: a tree of n unary/binary ops has at most
 * n + 1 leaf references, so 2n + 1 <= IR_EXPR_MAX_NODES nodes. */
#define MAX_TREE_OPS ((IR_EXPR_MAX_NODES - 1) / 2)

typedef struct {
  IrModule *m;
  IrFunc *f;
  PassMap uses;  /* value -> uses (operands and function results) */
  PassMap index; /* op -> position in f */
  bool *dead;    /* [f->nops]: ops absorbed into a tree */
  bool *inlined; /* [f->nops]: const ops written into an expression */
} Fuser;

/* One tree under construction. Leaf references are OPERAND nodes whose
 * `operand` is an index into leaf[] until finish_* renumbers them. */
typedef struct {
  IrExpr e;
  int nops;
  IrOp *ops[MAX_TREE_OPS]; /* the tree's ops, root first */
  int nleaves;
  IrValue *leaf[IR_EXPR_MAX_NODES];
  int depth[IR_EXPR_MAX_NODES]; /* ops between the root and the leaf */
} Tree;

static int64_t uses_of(const Fuser *fz, const IrValue *v) {
  intptr_t n = 0;
  pass_map_get(&fz->uses, v, &n);
  return n;
}

static int position(const Fuser *fz, const IrOp *op) {
  intptr_t i = -1;
  pass_map_get(&fz->index, op, &i);
  return (int)i;
}

/* An f32 elementwise op (cast aside) over f32 operands. */
static bool fusible(const IrOp *op) {
  if (op->kind == IR_OP_CAST || !(ir_op_spec(op->kind)->flags & IR_OPF_ELEMENTWISE)) return false;
  if (op->nout != 1 || op->out[0]->type.dtype != IR_F32) return false;
  for (int i = 0; i < op->nin; i++)
    if (op->in[i]->type.dtype != IR_F32) return false;
  return true;
}

/* v joins the tree as an interior value: made by a fusible op, used once. */
static bool absorbable(const Fuser *fz, const Tree *t, const IrValue *v) {
  return v->kind == IR_VAL_RESULT && fusible(v->def) && uses_of(fz, v) == 1 &&
         !fz->dead[position(fz, v->def)] && t->nops < MAX_TREE_OPS;
}

static int add_node(Tree *t, IrExprNode nd) {
  t->e.node[t->e.n] = nd;
  return t->e.n++;
}

static int leaf_node(Tree *t, IrValue *v, int depth) {
  int k = 0;
  while (k < t->nleaves && t->leaf[k] != v) k++;
  if (k == t->nleaves) {
    t->leaf[t->nleaves] = v;
    t->depth[t->nleaves++] = depth;
  } else if (depth < t->depth[k]) {
    t->depth[k] = depth;
  }
  return add_node(t, (IrExprNode){.kind = IR_EXPR_OPERAND, .operand = k, .arg = {-1, -1}});
}

/* Adds op and, depth first, its absorbable operands; returns op's node. */
static int build(Fuser *fz, Tree *t, IrOp *op, int depth) {
  t->ops[t->nops++] = op;
  int arg[2] = {-1, -1};
  for (int i = 0; i < op->nin; i++) {
    IrValue *v = op->in[i];
    arg[i] = absorbable(fz, t, v) ? build(fz, t, v->def, depth + 1) : leaf_node(t, v, depth + 1);
  }
  bool tanh_gelu =
      op->kind == IR_OP_GELU && strcmp(ir_op_str(op, "approx", "none"), "tanh") == 0;
  return add_node(t, (IrExprNode){.kind = IR_EXPR_OP, .op = op->kind, .gelu_tanh = tanh_gelu,
                                  .arg = {arg[0], arg[1]}});
}

/* A splat f32 constant the expression can hold as a number. */
static bool inlinable_const(const IrValue *v, double *value) {
  return v->type.dtype == IR_F32 && ir_type_const_numel(&v->type) == 1 &&
         pass_const_value(v, value);
}


/* Leaf k's node form: slot[k] >= 0 is operand $slot[k]; -1 an inlined
 * constant; -2 the accumulator. */
static void renumber(Tree *t, const int *slot) {
  for (int i = 0; i < t->e.n; i++) {
    IrExprNode *nd = &t->e.node[i];
    if (nd->kind != IR_EXPR_OPERAND) continue;
    int k = nd->operand;
    if (slot[k] == -2) {
      *nd = (IrExprNode){.kind = IR_EXPR_ACC, .arg = {-1, -1}};
    } else if (slot[k] == -1) {
      double v = 0;
      inlinable_const(t->leaf[k], &v);
      *nd = (IrExprNode){.kind = IR_EXPR_CONST, .value = v, .arg = {-1, -1}};
    } else {
      nd->operand = slot[k];
    }
  }
}

/* Turns the root into `kind` over operands in[0..nin) with expression
 * attribute `attr`; the other ops of the tree die. */
static void rewrite_root(Fuser *fz, Tree *t, IrOpKind kind, IrValue **in, int nin,
                         const char *attr) {
  IrOp *root = t->ops[0];
  IrBuf b = {0};
  ir_expr_print(&b, &t->e);
  root->kind = kind;
  memset(root->attrs, 0, sizeof root->attrs);
  root->nin = nin;
  root->in = ir_arena_alloc(&fz->m->arena, sizeof(IrValue *) * (size_t)nin);
  memcpy(root->in, in, sizeof(IrValue *) * (size_t)nin);
  ir_op_set_str(fz->m, root, attr, b.data);
  ir_buf_free(&b);
  for (int i = 1; i < t->nops; i++) fz->dead[position(fz, t->ops[i])] = true;
}

static void mark_inlined(Fuser *fz, const Tree *t, const int *slot) {
  for (int k = 0; k < t->nleaves; k++)
    if (slot[k] == -1) fz->inlined[position(fz, t->leaf[k]->def)] = true;
}

/* ---- matmul epilogues ---- */

/* Leaf k is a plain f32 matmul result, used only here, of the root's type. */
static bool epilogue_candidate(const Fuser *fz, const Tree *t, int k) {
  const IrValue *v = t->leaf[k];
  if (v->kind != IR_VAL_RESULT || v->def->kind != IR_OP_MATMUL || v->def->nin != 2) return false;
  if (ir_op_str(v->def, "epilogue", NULL) || uses_of(fz, v) != 1) return false;
  return ir_type_eq(&v->type, &t->ops[0]->out[0]->type);
}

/* The candidate nearest the root (SwiGLU: up, not the gate under silu);
 * ties to the later matmul. -1 if none. */
static int pick_matmul(const Fuser *fz, const Tree *t) {
  int best = -1;
  for (int k = 0; k < t->nleaves; k++) {
    if (!epilogue_candidate(fz, t, k)) continue;
    if (best < 0 || t->depth[k] < t->depth[best] ||
        (t->depth[k] == t->depth[best] &&
         position(fz, t->leaf[k]->def) > position(fz, t->leaf[best]->def)))
      best = k;
  }
  return best;
}

/* mul(silu($g), acc) or mul(acc, silu($g)): SwiGLU's gate times up. */
static bool is_swiglu(const IrExpr *e) {
  const IrExprNode *root = &e->node[e->n - 1];
  if (root->kind != IR_EXPR_OP || root->op != IR_OP_MUL) return false;
  const IrExprNode *a = &e->node[root->arg[0]], *b = &e->node[root->arg[1]];
  if (a->kind == IR_EXPR_ACC) a = b;
  else if (b->kind != IR_EXPR_ACC) return false;
  return a->kind == IR_EXPR_OP && a->op == IR_OP_SILU && e->node[a->arg[0]].kind == IR_EXPR_OPERAND;
}

static bool fuse_epilogue(Fuser *fz, Tree *t, PassContext *ctx) {
  int mk = pick_matmul(fz, t);
  if (mk < 0) return false;
  IrOp *mm = t->leaf[mk]->def;
  const IrType *out = &mm->out[0]->type;
  IrValue *in[2 + IR_EXPR_MAX_NODES] = {mm->in[0], mm->in[1]};
  int slot[IR_EXPR_MAX_NODES], nin = 2;
  for (int k = 0; k < t->nleaves; k++) {
    double v;
    IrType b = *out;
    if (k == mk) {
      slot[k] = -2;
    } else if (inlinable_const(t->leaf[k], &v) && t->leaf[k]->type.rank <= out->rank) {
      slot[k] = -1;
    } else if (ir_type_broadcast_into(&b, &t->leaf[k]->type) && ir_shape_eq(&b, out)) {
      slot[k] = nin;
      in[nin++] = t->leaf[k];
    } else {
      return false; /* an extra operand would grow the result */
    }
  }
  renumber(t, slot);
  bool transpose_a = ir_op_bool(mm, "transpose_a"), transpose_b = ir_op_bool(mm, "transpose_b");
  mark_inlined(fz, t, slot);
  rewrite_root(fz, t, IR_OP_MATMUL, in, nin, "epilogue");
  if (transpose_a) ir_op_set_bool(t->ops[0], "transpose_a", true);
  if (transpose_b) ir_op_set_bool(t->ops[0], "transpose_b", true);
  fz->dead[position(fz, mm)] = true;
  pass_count(ctx, "matmul-epilogues", 1);
  if (is_swiglu(&t->e)) pass_count(ctx, "swiglu", 1);
  pass_count(ctx, "ops-fused", t->nops);
  return true;
}

/* ---- fused elementwise ops ---- */

/* Leaves become operands, splat constants numbers when the rest still
 * broadcast to the root's type. */
static bool fuse_chain(Fuser *fz, Tree *t, PassContext *ctx) {
  if (t->nops < 2) return false;
  const IrType *want = &t->ops[0]->out[0]->type;
  IrValue *in[IR_EXPR_MAX_NODES];
  int slot[IR_EXPR_MAX_NODES], nin = 0;
  IrType shape = {.dtype = IR_F32, .rank = 0};
  for (int k = 0; k < t->nleaves; k++) {
    double v;
    if (inlinable_const(t->leaf[k], &v)) continue;
    ir_type_broadcast_into(&shape, &t->leaf[k]->type);
    slot[k] = nin;
    in[nin++] = t->leaf[k];
  }
  bool inline_consts = nin > 0 && ir_type_eq(&shape, want);
  if (!inline_consts) { /* every leaf an operand */
    nin = 0;
    for (int k = 0; k < t->nleaves; k++) {
      slot[k] = nin;
      in[nin++] = t->leaf[k];
    }
  } else {
    for (int k = 0; k < t->nleaves; k++) {
      double v;
      if (inlinable_const(t->leaf[k], &v)) slot[k] = -1;
    }
  }
  renumber(t, slot);
  mark_inlined(fz, t, slot);
  rewrite_root(fz, t, IR_OP_FUSED, in, nin, "expr");
  pass_count(ctx, "fused-chains", 1);
  pass_count(ctx, "ops-fused", t->nops);
  return true;
}

/* ---- driver ---- */

/* Uses by the ops that stay (all of them before any tree is made). */
static void count_uses(Fuser *fz) {
  IrFunc *f = fz->f;
  pass_map_free(&fz->uses);
  for (int i = 0; i < f->nops; i++) {
    for (int j = 0; !fz->dead[i] && j < f->ops[i]->nin; j++) {
      intptr_t n = 0;
      pass_map_get(&fz->uses, f->ops[i]->in[j], &n);
      pass_map_put(&fz->uses, f->ops[i]->in[j], n + 1);
    }
  }
  for (int i = 0; i < f->nresults; i++) {
    intptr_t n = 0;
    if (!f->results[i]) continue;
    pass_map_get(&fz->uses, f->results[i], &n);
    pass_map_put(&fz->uses, f->results[i], n + 1);
  }
}

/* Inlined constants nobody uses any more go too (the pass runs last in
 * the pipeline, after dce). */
static void drop_unused_consts(Fuser *fz) {
  count_uses(fz);
  for (int i = 0; i < fz->f->nops; i++)
    if (fz->inlined[i] && uses_of(fz, fz->f->ops[i]->out[0]) == 0) fz->dead[i] = true;
}

static bool fuse_func(IrModule *m, IrFunc *f, PassContext *ctx) {
  Fuser fz = {.m = m, .f = f};
  fz.dead = pass_calloc((size_t)f->nops, sizeof(bool));
  fz.inlined = pass_calloc((size_t)f->nops, sizeof(bool));
  count_uses(&fz);
  for (int i = 0; i < f->nops; i++) pass_map_put(&fz.index, f->ops[i], i);
  bool changed = false;
  /* From the last op back: the first fusible op met that no tree holds
   * yet is a root, since its users come after it. */
  Tree *t = pass_calloc(1, sizeof *t);
  for (int i = f->nops - 1; i >= 0; i--) {
    if (fz.dead[i] || !fusible(f->ops[i])) continue;
    memset(t, 0, sizeof *t);
    t->e.max_operand = -1;
    build(&fz, t, f->ops[i], 0);
    /* a lone op without a matmul leaf stays as it is */
    changed |= fuse_epilogue(&fz, t, ctx) || fuse_chain(&fz, t, ctx);
  }
  free(t);
  if (changed) {
    drop_unused_consts(&fz);
    pass_remove_ops(f, fz.dead);
  }
  free(fz.dead);
  free(fz.inlined);
  pass_map_free(&fz.uses);
  pass_map_free(&fz.index);
  return changed;
}

bool pass_fuse(IrModule *m, PassContext *ctx, IrDiag *d) {
  (void)d;
  bool changed = false;
  for (int i = 0; i < m->nfuncs; i++) changed |= fuse_func(m, m->funcs[i], ctx);
  return changed;
}
