/* pass_pack_weights.c: stores matmul weights in the panels the matmul
 * micro-kernel reads (docs/ir.md, "Weight layouts").
 *
 * A param qualifies when it is 2-D, of a float dtype, without a layout
 * yet (inline values are packed too: they are logical), and every use in
 * every function is operand 1
 * (`b`) of a matmul with the same transpose_b, or operand 0 (the table)
 * of an embedding (tied embeddings: the embedding reads through the
 * layout, so it stays correct). Either way the stored form is
 * [ceil(N/W)][K][W] with W the target's panel width: axis 0 of a
 * transpose_b weight [N, K], axis 1 of a plain [K, N] one.
 *
 *   param @w : f32[96, 64]          ->  param @w : f32[96, 64] layout(panels, axis = 0, width = 32)
 *   %y = matmul(%x, @w) {transpose_b}   (unchanged: a layout is storage only)
 */
#include "pass.h"
#include "target.h"

/* How one param is used, gathered over all functions. */
typedef struct {
  int matmuls;     /* uses as matmul operand 1 */
  int transposed;  /* of those, with transpose_b */
  bool other;      /* any use the panels do not serve */
} WeightUses;

static void note_use(const IrOp *op, int i, WeightUses *u) {
  if (op->kind == IR_OP_MATMUL && i == 1) {
    u->matmuls++;
    u->transposed += ir_op_bool(op, "transpose_b");
  } else if (op->kind != IR_OP_EMBEDDING || i != 0) {
    u->other = true;
  }
}

static WeightUses uses_of(const IrModule *m, const IrValue *p) {
  WeightUses u = {0};
  for (int f = 0; f < m->nfuncs; f++) {
    const IrFunc *fn = m->funcs[f];
    for (int k = 0; k < fn->nops; k++)
      for (int i = 0; i < fn->ops[k]->nin; i++)
        if (fn->ops[k]->in[i] == p) note_use(fn->ops[k], i, &u);
    for (int r = 0; r < fn->nresults && fn->results; r++)
      if (fn->results[r] == p) u.other = true;
  }
  return u;
}

static bool packable(const IrValue *p) {
  return p->type.rank == 2 && ir_dtype_is_float(p->type.dtype) &&
         p->layout.panel == 0 && ir_type_const_numel(&p->type) >= 0;
}

bool pass_pack_weights(IrModule *m, PassContext *ctx, IrDiag *d) {
  (void)d;
  const KTarget *t = ctx && ctx->target ? ctx->target : ktarget_default();
  int packed = 0;
  for (int i = 0; i < m->nparams; i++) {
    IrValue *p = m->params[i];
    if (!packable(p)) continue;
    WeightUses u = uses_of(m, p);
    /* Mixed transpose_b would need two layouts at once. */
    if (u.other || u.matmuls == 0 || (u.transposed != 0 && u.transposed != u.matmuls)) continue;
    p->layout = (IrLayout){.panel = t->panel, .axis = u.transposed ? 0 : 1};
    packed++;
  }
  if (packed) pass_count(ctx, "packed", packed);
  return packed > 0;
}
