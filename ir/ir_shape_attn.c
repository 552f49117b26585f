/* ir_shape_attn.c: the shape rules of split-KV attention (docs/ir.md,
 * "attention_split", "attention_merge").
 *
 * attention_split checks its operands and attributes with attention's own
 * rule first (ir_shape.c calls rule_attention, then this); what is left
 * here is the chunk and the two results. C, the number of chunks, is a
 * constant: ceil(S_max / chunk) with S_max the KV length at the symbols'
 * upper bounds, so a decode with P <= 2047 and chunk 512 always has
 * C = ceil(2048 / 512) = 4 partial results, the last ones empty while the
 * cache is short.
 */
#include <stdio.h>

#include "ir.h"

#define TY(t) ir_type_text(m, (t)).s
#define DIM(x) ir_dim_text(m, (x)).s


/* ceil(S_max / chunk) for k [..., Hkv, S, D]; S_max >= 0 (dims are
 * verified non-negative). split_chunks(S <= 2048, 512) = 4. */
static int64_t split_chunks(const IrType *k, int64_t chunk, const int64_t *bounds) {
  int64_t smax = ir_dim_max(k->dims[k->rank - 2], bounds);
  if (smax < 0) smax = 0;
  return smax / chunk + (smax % chunk != 0);
}

/* out[0] holds attention's result [..., Hq, T, Dv] on entry (the rule of
 * attention checked q, k, v); it becomes o f32[..., C, Hq, T, Dv] and
 * out[1] lse f32[..., C, Hq, T]. */
bool ir_shape_attention_split(const IrModule *m, const IrOp *op, const int64_t *bounds,
                              IrType *out, IrDiag *d) {
  (void)m;
  int64_t chunk = ir_op_int(op, "chunk", 0);
  if (chunk < 1) return ir_op_error(op, d, "chunk %lld must be >= 1", (long long)chunk);
  IrType attn = out[0];
  int n = attn.rank;
  if (n + 1 > IR_MAX_RANK)
    return ir_op_error(op, d, "operand 0 has rank %d; the results would exceed rank %d", n, IR_MAX_RANK);
  IrType o = {.dtype = IR_F32, .rank = n + 1};
  for (int i = 0; i < n - 3; i++) o.dims[i] = attn.dims[i];
  o.dims[n - 3] = ir_dim_const(split_chunks(&op->in[1]->type, chunk, bounds));
  for (int i = n - 3; i < n; i++) o.dims[i + 1] = attn.dims[i];
  IrType lse = o;
  lse.rank = n;
  out[0] = o;
  out[1] = lse;
  return true;
}

/* o f32[..., C, Hq, T, Dv], lse f32[..., C, Hq, T] -> [..., Hq, T, Dv] in
 * the declared float dtype. */
bool ir_shape_attention_merge(const IrModule *m, const IrOp *op, IrType *out, IrDiag *d) {
  const IrType *o = &op->in[0]->type, *lse = &op->in[1]->type;
  if (o->rank < 4) return ir_op_error(op, d, "operand 0 has rank %d, expected rank >= 4", o->rank);
  for (int i = 0; i < 2; i++)
    if (op->in[i]->type.dtype != IR_F32)
      return ir_op_error(op, d, "operand %d has dtype %s, expected f32", i,
                  ir_dtype_name(op->in[i]->type.dtype));
  if (lse->rank != o->rank - 1)
    return ir_op_error(op, d, "operand 1 has type %s, expected rank %d (the rank of operand 0 minus 1)",
                TY(lse), o->rank - 1);
  for (int i = 0; i < lse->rank; i++)
    if (!ir_dim_eq(lse->dims[i], o->dims[i]))
      return ir_op_error(op, d, "operand 1 has dim %d = %s, expected %s (dim %d of operand 0)", i,
                  DIM(lse->dims[i]), DIM(o->dims[i]), i);
  IrDType dt = op->out[0]->type.dtype;
  if (!ir_dtype_is_float(dt))
    return ir_op_error(op, d, "result has dtype %s, expected a float dtype", ir_dtype_name(dt));
  int chunk_axis = o->rank - 4;
  IrType r = {.dtype = dt, .rank = o->rank - 1};
  for (int i = 0, j = 0; i < o->rank; i++)
    if (i != chunk_axis) r.dims[j++] = o->dims[i];
  out[0] = r;
  return true;
}
