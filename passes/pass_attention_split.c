/* pass_attention_split.c: split-KV decode (docs/passes.md,
 * "attention-split").
 *
 * A decode step has one query row per head, so an `attention` op there
 * gives a kernel only Hq iterations of work, each a walk over the whole
 * KV cache: on a long context most threads idle. This pass cuts the keys
 * into chunks of ctx->target->attn_split_chunk positions, computes each
 * chunk's partial result in parallel, and merges them:
 *
 *   %o = attention(%q, %k, %v) {scale = 0.125, causal, offset = P} : f32[8, 1, 64]
 * becomes (k f32[8, P+1, 64] with P <= 2047, chunk 512: C = 4)
 *   %t0, %t1 = attention_split(%q, %k, %v) {scale = 0.125, causal, offset = P, chunk = 512}
 *                : f32[4, 8, 1, 64], f32[4, 8, 1]
 *   %o = attention_merge(%t0, %t1) : f32[8, 1, 64]
 *
 * It fires where the query length is the constant 1 (the decode entry)
 * and the KV length's upper bound spans more than one chunk.
 */
#include "pass.h"
#include "target.h"

static int64_t split_chunk(const PassContext *ctx) {
  const KTarget *t = ctx && ctx->target ? ctx->target : ktarget_default();
  return t->attn_split_chunk > 0 ? t->attn_split_chunk : 256;
}

/* One query row, and more keys (at the bounds) than one chunk holds. */
static bool worth_splitting(const IrModule *m, const IrOp *op, int64_t chunk) {
  const IrType *q = &op->in[0]->type, *k = &op->in[1]->type;
  if (q->rank < 3 || k->rank != q->rank) return false;
  IrDim t = q->dims[q->rank - 2];
  if (!ir_dim_is_const(t) || t.c != 1) return false;
  int64_t bounds[IR_MAX_SYMS];
  ir_module_sym_bounds(m, bounds);
  return ir_dim_max(k->dims[k->rank - 2], bounds) > chunk;
}

static void copy_attrs(IrOp *to, const IrOp *from, int64_t chunk) {
  ir_op_set_float(to, "scale", ir_op_float(from, "scale", 1));
  if (ir_op_bool(from, "causal")) ir_op_set_bool(to, "causal", true);
  if (ir_op_attr(from, "offset"))
    ir_op_set_dim(to, "offset", ir_op_dim(from, "offset", ir_dim_const(0)));
  if (ir_op_attr(from, "window")) ir_op_set_int(to, "window", ir_op_int(from, "window", 0));
  ir_op_set_int(to, "chunk", chunk);
}

/* Inserts the split before ops[at] and turns that attention op into the
 * merge, so its result keeps its name, location and uses. */
static bool rewrite(IrModule *m, IrFunc *f, int at, int64_t chunk, IrDiag *d) {
  IrOp *att = f->ops[at];
  IrType types[2] = {att->out[0]->type, att->out[0]->type};
  IrOp *split = ir_op_new(m, f, IR_OP_ATTENTION_SPLIT, 3, att->in, 2, types);
  split->loc = att->loc;
  copy_attrs(split, att, chunk);
  if (!ir_infer_types(m, split, types, d)) return false;
  split->out[0]->type = types[0];
  split->out[1]->type = types[1];
  ir_func_insert_op(m, f, at, split);
  att->kind = IR_OP_ATTENTION_MERGE;
  att->nin = 2;
  att->in = ir_arena_alloc(&m->arena, 2 * sizeof *att->in);
  att->in[0] = split->out[0];
  att->in[1] = split->out[1];
  for (int i = 0; i < IR_MAX_ATTRS; i++) att->attrs[i] = (IrAttr){0};
  return true;
}

bool pass_attention_split(IrModule *m, PassContext *ctx, IrDiag *d) {
  int64_t chunk = split_chunk(ctx), n = 0;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    IrFunc *f = m->funcs[fi];
    for (int i = 0; i < f->nops; i++) {
      if (f->ops[i]->kind != IR_OP_ATTENTION || !worth_splitting(m, f->ops[i], chunk)) continue;
      if (!rewrite(m, f, i, chunk, d)) return false;
      i++; /* past the merge */
      n++;
    }
  }
  if (n) pass_count(ctx, "split", n);
  return n > 0;
}
