/* cg_llvm_ops_nn.c: Transformer ops: embedding, rmsnorm, layernorm and
 * the reductions. Rope, softmax and attention are in cg_llvm_ops_attn.c,
 * matmul in cg_llvm_matmul.c; their emitters are listed here too.
 *
 * Every reduction (a dot product, a row's sum) runs inside one kernel
 * iteration, so a result never depends on how iterations are spread over
 * threads: the code that computes an element is the same whichever chunk
 * it falls in. Sums carry reassoc/contract (cg_fast) so LLVM vectorizes
 * them; they differ from the interpreter's index-order sums by rounding
 * only. Elementwise steps after a reduction (x / denom * g) are plain
 * IEEE operations in the interpreter's order. */
#include <math.h>

#include "cg_llvm_ops.h"

extern const CgOpEmitter cg_rope_emitter, cg_softmax_emitter, cg_attention_emitter;
extern const CgOpEmitter cg_attention_split_emitter, cg_attention_merge_emitter;
extern const CgOpEmitter cg_matmul_emitter;

static LLVMValueRef fast_mul(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return cg_fast(LLVMBuildFMul(cg->b, a, b, ""));
}

/* Rows of a tensor seen as [rows, last]: the product of all but the last dim. */
static LLVMValueRef rows_of(CgLlvm *cg, const IrType *t) {
  return cg_numel_range(cg, t, 0, t->rank ? t->rank - 1 : 0);
}

static LLVMValueRef last_dim(CgLlvm *cg, const IrType *t) {
  return t->rank ? cg_dim(cg, t->dims[t->rank - 1]) : cg_i64(cg, 1);
}

static LLVMValueRef iterations_rows_of_input(CgLlvm *cg, const IrOp *op) {
  return rows_of(cg, &op->in[0]->type);
}

/* ---- embedding ---- */

/* One iteration per id. An id outside [0, V) gives a zero row instead of
 * reading outside the table (the interpreter reports it; the runtime
 * rejects token ids outside the vocabulary before calling). */
static LLVMValueRef embedding_iterations(CgLlvm *cg, const IrOp *op) {
  return cg_numel_range(cg, &op->in[1]->type, 0, op->in[1]->type.rank);
}

static bool emit_embedding(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  const IrValue *table = op->in[0], *ids = op->in[1], *out = op->out[0];
  if (!cg_refuse_i4(cg, op)) return false;
  LLVMValueRef rows = cg_dim(cg, table->type.dims[0]), dim = cg_dim(cg, table->type.dims[1]);
  CgLoop s = cg_loop_begin(cg, begin, end, "id");
  LLVMValueRef id = cg_load(cg, ids, s.iv);
  LLVMValueRef dst = cg_imul(cg, s.iv, dim);
  CgIf ok = cg_if_begin(cg, LLVMBuildICmp(cg->b, LLVMIntULT, id, rows, ""), "in_range");
  LLVMValueRef src = cg_imul(cg, id, dim);
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), dim, "col");
  cg_copy(cg, out, cg_iadd(cg, dst, c.iv), table, cg_iadd(cg, src, c.iv));
  cg_loop_end(cg, &c);
  cg_if_else(cg, &ok);
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), dim, "zero");
  cg_store(cg, out, cg_iadd(cg, dst, z.iv), cg_f32(cg, 0.0));
  cg_loop_end(cg, &z);
  cg_if_end(cg, &ok);
  cg_loop_end(cg, &s);
  return true;
}

/* ---- matmul: cg_llvm_matmul.c ---- */

/* ---- rmsnorm and layernorm: one row an iteration ---- */

/* sum over the row of f(x[row, c]) for f = x^2 (squares) or x - shift. */
static LLVMValueRef row_sum(CgLlvm *cg, const IrValue *x, LLVMValueRef base, LLVMValueRef n,
                            bool squares, LLVMValueRef shift) {
  LLVMValueRef acc = cg_f32_var(cg, 0.0, "sum");
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), n, "c");
  LLVMValueRef v = cg_load(cg, x, cg_iadd(cg, base, c.iv));
  if (shift) v = LLVMBuildFSub(cg->b, v, shift, "");
  cg_accumulate(cg, acc, squares ? fast_mul(cg, v, v) : v);
  cg_loop_end(cg, &c);
  return LLVMBuildLoad2(cg->b, cg->f32, acc, "");
}

/* sqrt(sum / n + eps), as the interpreter computes it. */
static LLVMValueRef norm_denom(CgLlvm *cg, LLVMValueRef sum, LLVMValueRef nf, double eps) {
  LLVMValueRef v =
      LLVMBuildFAdd(cg->b, LLVMBuildFDiv(cg->b, sum, nf, ""), cg_f32(cg, (float)eps), "");
  return cg_call_f32(cg, "llvm.sqrt", v);
}

static bool emit_norm(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *x = op->in[0], *out = op->out[0];
  bool layer = op->kind == IR_OP_LAYERNORM;
  double eps = ir_op_float(op, "eps", 0);
  LLVMValueRef n = last_dim(cg, &x->type);
  LLVMValueRef nf = LLVMBuildSIToFP(cg->b, n, cg->f32, "");
  CgLoop r = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef base = cg_imul(cg, r.iv, n);
  LLVMValueRef mean = NULL, denom;
  if (layer) {
    mean = LLVMBuildFDiv(cg->b, row_sum(cg, x, base, n, false, NULL), nf, "");
    denom = norm_denom(cg, row_sum(cg, x, base, n, true, mean), nf, eps);
  } else {
    denom = norm_denom(cg, row_sum(cg, x, base, n, true, NULL), nf, eps);
  }
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), n, "c");
  LLVMValueRef v = cg_load(cg, x, cg_iadd(cg, base, c.iv));
  if (layer) v = LLVMBuildFSub(cg->b, v, mean, "");
  v = LLVMBuildFMul(cg->b, LLVMBuildFDiv(cg->b, v, denom, ""), cg_load(cg, op->in[1], c.iv), "");
  if (layer) v = LLVMBuildFAdd(cg->b, v, cg_load(cg, op->in[2], c.iv), "");
  cg_store(cg, out, cg_iadd(cg, base, c.iv), v);
  cg_loop_end(cg, &c);
  cg_loop_end(cg, &r);
  return true;
}

/* ---- reductions: one output element an iteration ---- */

static LLVMValueRef reduce_iterations(CgLlvm *cg, const IrOp *op) {
  const IrType *t = &op->in[0]->type;
  CgAxisSplit s = cg_axis_split(cg, t, cg_axis(ir_op_int(op, "axis", -1), t->rank));
  return cg_imul(cg, s.outer, s.inner);
}

/* Float: sum, mean (sum / n: NaN for an empty axis, as 0/0), max
 * (llvm.maximum: NaN if any element is NaN, -inf for an empty axis). */
static LLVMValueRef reduce_float(CgLlvm *cg, IrOpKind k, const IrValue *x, LLVMValueRef base,
                                 const CgAxisSplit *s) {
  bool is_max = k == IR_OP_REDUCE_MAX;
  LLVMValueRef acc = cg_f32_var(cg, is_max ? -INFINITY : 0.0, "acc");
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), s->len, "j");
  LLVMValueRef v = cg_load(cg, x, cg_iadd(cg, base, cg_imul(cg, j.iv, s->inner)));
  if (is_max) {
    LLVMValueRef old = LLVMBuildLoad2(cg->b, cg->f32, acc, "");
    LLVMBuildStore(cg->b, cg_call_f32_2(cg, "llvm.maximum", old, v), acc);
  } else {
    cg_accumulate(cg, acc, v);
  }
  cg_loop_end(cg, &j);
  LLVMValueRef r = LLVMBuildLoad2(cg->b, cg->f32, acc, "");
  if (k == IR_OP_REDUCE_MEAN)
    r = LLVMBuildFDiv(cg->b, r, LLVMBuildSIToFP(cg->b, s->len, cg->f32, ""), "");
  return r;
}

/* Int: the sum wraps (i64 arithmetic, truncated by the store); the mean
 * divides the sum wrapped to the dtype, truncating (an empty axis, which
 * the interpreter rejects at run time, gives 0 here); the max of nothing
 * is INT64_MIN wrapped to the dtype. */
static LLVMValueRef reduce_int(CgLlvm *cg, IrOpKind k, const IrValue *x, LLVMValueRef base,
                               const CgAxisSplit *s) {
  LLVMValueRef acc = cg_var(cg, cg->i64, "acc");
  LLVMBuildStore(cg->b, cg_i64(cg, k == IR_OP_REDUCE_MAX ? INT64_MIN : 0), acc);
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), s->len, "j");
  LLVMValueRef v = cg_load(cg, x, cg_iadd(cg, base, cg_imul(cg, j.iv, s->inner)));
  LLVMValueRef old = LLVMBuildLoad2(cg->b, cg->i64, acc, "");
  LLVMBuildStore(
      cg->b, k == IR_OP_REDUCE_MAX ? cg_smax(cg, old, v) : LLVMBuildAdd(cg->b, old, v, ""), acc);
  cg_loop_end(cg, &j);
  LLVMValueRef r = LLVMBuildLoad2(cg->b, cg->i64, acc, "");
  if (k != IR_OP_REDUCE_MEAN) return r;
  IrDType t = x->type.dtype;
  if (t != IR_I64) { /* wrap to the dtype first */
    LLVMTypeRef narrow = LLVMIntTypeInContext(cg->ctx, (unsigned)ir_dtype_bits(t));
    r = LLVMBuildSExt(cg->b, LLVMBuildTrunc(cg->b, r, narrow, ""), cg->i64, "");
  }
  LLVMValueRef empty = LLVMBuildICmp(cg->b, LLVMIntEQ, s->len, cg_i64(cg, 0), "");
  LLVMValueRef n = LLVMBuildSelect(cg->b, empty, cg_i64(cg, 1), s->len, "");
  return LLVMBuildSelect(cg->b, empty, cg_i64(cg, 0), LLVMBuildSDiv(cg->b, r, n, ""), "");
}

static bool emit_reduce(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *x = op->in[0];
  CgAxisSplit s = cg_axis_split(cg, &x->type, cg_axis(ir_op_int(op, "axis", -1), x->type.rank));
  CgLoop it = cg_loop_begin(cg, begin, end, "out");
  LLVMValueRef a = LLVMBuildSDiv(cg->b, it.iv, s.inner, ""),
               c = LLVMBuildSRem(cg->b, it.iv, s.inner, "");
  LLVMValueRef base = cg_iadd(cg, cg_imul(cg, cg_imul(cg, a, s.len), s.inner), c);
  LLVMValueRef r = ir_dtype_is_float(x->type.dtype) ? reduce_float(cg, op->kind, x, base, &s)
                                                    : reduce_int(cg, op->kind, x, base, &s);
  cg_store(cg, op->out[0], it.iv, r);
  cg_loop_end(cg, &it);
  return true;
}

static const CgOpEmitter em_embedding = {IR_OP_EMBEDDING, embedding_iterations, emit_embedding};
static const CgOpEmitter em_rmsnorm = {IR_OP_RMSNORM, iterations_rows_of_input, emit_norm};
static const CgOpEmitter em_layernorm = {IR_OP_LAYERNORM, iterations_rows_of_input, emit_norm};
static const CgOpEmitter em_reduce_sum = {IR_OP_REDUCE_SUM, reduce_iterations, emit_reduce};
static const CgOpEmitter em_reduce_mean = {IR_OP_REDUCE_MEAN, reduce_iterations, emit_reduce};
static const CgOpEmitter em_reduce_max = {IR_OP_REDUCE_MAX, reduce_iterations, emit_reduce};

const CgOpEmitter *const cg_nn_emitters[] = {&em_embedding,
                                             &cg_matmul_emitter,
                                             &em_rmsnorm,
                                             &em_layernorm,
                                             &cg_rope_emitter,
                                             &cg_softmax_emitter,
                                             &cg_attention_emitter,
                                             &cg_attention_split_emitter,
                                             &cg_attention_merge_emitter,
                                             &em_reduce_sum,
                                             &em_reduce_mean,
                                             &em_reduce_max,
                                             NULL};
