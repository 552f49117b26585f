/* cg_llvm_ops_data.c: sources and data movement: const, iota,
 * causal_mask, reshape, transpose, slice, concat, topk, scatter, kv ops.
 *
 * Copies move the stored bits (cg_copy), so they are exact for every
 * dtype. Iterations are blocks of elements (const, iota, reshape), rows
 * (causal_mask, transpose, slice, kv_read, kv_write, topk, scatter) or
 * outer slabs (concat). Run-time range errors that the interpreter
 * reports (a slice or KV range outside its tensor, a scatter index
 * outside [0, size)) cannot stop a kernel; the kernels never touch memory
 * outside a tensor and write zeros (or skip the element) instead. */
#include <math.h>

#include "cg_llvm_ops.h"

/* Elements per iteration of the flat kernels. */
#define CG_DATA_BLOCK 4096

static LLVMValueRef numel(CgLlvm *cg, const IrType *t) { return cg_numel_range(cg, t, 0, t->rank); }

/* 0 <= i < n, for a signed i. */
static LLVMValueRef in_range(CgLlvm *cg, LLVMValueRef i, LLVMValueRef n) {
  return LLVMBuildICmp(cg->b, LLVMIntULT, i, n, "");
}

/* ---- flat kernels: blocks of CG_DATA_BLOCK elements ---- */

static LLVMValueRef blocks(CgLlvm *cg, LLVMValueRef n) {
  return LLVMBuildSDiv(cg->b, cg_iadd(cg, n, cg_i64(cg, CG_DATA_BLOCK - 1)),
                       cg_i64(cg, CG_DATA_BLOCK), "");
}

static LLVMValueRef flat_iterations(CgLlvm *cg, const IrOp *op) {
  return blocks(cg, numel(cg, &op->out[0]->type));
}

/* The loop over the elements of blocks [begin, end). */
static CgLoop flat_loop(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  LLVMValueRef lo = cg_imul(cg, begin, cg_i64(cg, CG_DATA_BLOCK));
  LLVMValueRef hi =
      cg_smin(cg, cg_imul(cg, end, cg_i64(cg, CG_DATA_BLOCK)), numel(cg, &op->out[0]->type));
  return cg_loop_begin(cg, lo, hi, "e");
}

/* float to int as the interpreter converts: truncate, saturate to int64
 * (NaN gives 0); the store wraps it to the dtype. */
static int64_t float_to_int(double v) {
  if (isnan(v)) return 0;
  v = trunc(v);
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

static bool emit_const(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *out = op->out[0];
  double v = ir_op_float(op, "value", 0);
  LLVMValueRef x =
      ir_dtype_is_float(out->type.dtype) ? cg_f32(cg, (float)v) : cg_i64(cg, float_to_int(v));
  CgLoop e = flat_loop(cg, op, begin, end);
  cg_store(cg, out, e.iv, x);
  cg_loop_end(cg, &e);
  return true;
}

static bool emit_iota(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *out = op->out[0];
  LLVMValueRef start = cg_dim(cg, ir_op_dim(op, "start", ir_dim_const(0)));
  CgLoop e = flat_loop(cg, op, begin, end);
  LLVMValueRef v = cg_iadd(cg, start, e.iv);
  if (ir_dtype_is_float(out->type.dtype)) v = LLVMBuildSIToFP(cg->b, v, cg->f32, "");
  cg_store(cg, out, e.iv, v);
  cg_loop_end(cg, &e);
  return true;
}

static bool emit_reshape(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  CgLoop e = flat_loop(cg, op, begin, end);
  cg_copy(cg, op->out[0], e.iv, op->in[0], e.iv);
  cg_loop_end(cg, &e);
  return true;
}

/* ---- causal_mask: one row an iteration ---- */

static LLVMValueRef outer_iterations(CgLlvm *cg, const IrOp *op) {
  return cg_iterations_outer(cg, op);
}

static bool emit_causal_mask(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  const IrValue *out = op->out[0];
  LLVMValueRef cols = cg_dim(cg, out->type.dims[1]);
  LLVMValueRef offset = cg_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0)));
  int64_t window = ir_op_int(op, "window", 0);
  CgLoop i = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef q = cg_iadd(cg, i.iv, offset);
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), cols, "col");
  LLVMValueRef visible = LLVMBuildICmp(cg->b, LLVMIntSLE, j.iv, q, "");
  if (window > 0)
    visible = LLVMBuildAnd(cg->b, visible,
                           LLVMBuildICmp(cg->b, LLVMIntSGT, j.iv,
                                         LLVMBuildNSWSub(cg->b, q, cg_i64(cg, window), ""), ""),
                           "");
  LLVMValueRef v = LLVMBuildSelect(cg->b, visible, cg_f32(cg, 0.0), cg_f32(cg, -INFINITY), "");
  cg_store(cg, out, cg_iadd(cg, cg_imul(cg, i.iv, cols), j.iv), v);
  cg_loop_end(cg, &j);
  cg_loop_end(cg, &i);
  return true;
}

/* ---- transpose: one row of the result's last dim an iteration ---- */

static LLVMValueRef row_iterations(CgLlvm *cg, const IrOp *op) {
  const IrType *t = &op->out[0]->type;
  return cg_numel_range(cg, t, 0, t->rank ? t->rank - 1 : 0);
}

static bool emit_transpose(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *x = op->in[0], *out = op->out[0];
  const IrAttr *perm = ir_op_attr(op, "perm");
  int rank = out->type.rank;
  if (rank == 0) return emit_reshape(cg, op, begin, end); /* a scalar: one element */
  LLVMValueRef stride[IR_MAX_RANK];
  cg_strides(cg, &x->type, stride);
  LLVMValueRef last = cg_dim(cg, out->type.dims[rank - 1]);
  CgLoop r = cg_loop_begin(cg, begin, end, "row");
  /* The source offset of the row: peel the result's index from the right. */
  LLVMValueRef rest = r.iv, src = cg_i64(cg, 0);
  for (int i = rank - 2; i >= 0; i--) {
    LLVMValueRef dim = cg_dim(cg, out->type.dims[i]);
    LLVMValueRef idx = LLVMBuildSRem(cg->b, rest, dim, "");
    rest = LLVMBuildSDiv(cg->b, rest, dim, "");
    src = cg_iadd(cg, src, cg_imul(cg, idx, stride[perm->ints[i]]));
  }
  LLVMValueRef step = stride[perm->ints[rank - 1]];
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), last, "col");
  cg_copy(cg, out, cg_iadd(cg, cg_imul(cg, r.iv, last), c.iv), x,
          cg_iadd(cg, src, cg_imul(cg, c.iv, step)));
  cg_loop_end(cg, &c);
  cg_loop_end(cg, &r);
  return true;
}

/* ---- slice, kv_read, kv_write: one row [inner] of the moved range an
 * iteration. Row j goes from row s_at + j of the source to row d_at + j of
 * the destination; a row outside either tensor is not copied: a result
 * gets zeros there, a state keeps what it had. ---- */

typedef struct {
  const IrValue *dst, *src;
  CgAxisSplit d, s;        /* dst and src around the axis */
  LLVMValueRef n;          /* rows moved per outer index */
  LLVMValueRef d_at, s_at; /* first row in dst and in src */
} RowCopy;

static void copy_rows(CgLlvm *cg, const RowCopy *rc, LLVMValueRef begin, LLVMValueRef end) {
  CgLoop it = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef a = LLVMBuildSDiv(cg->b, it.iv, rc->n, ""),
               j = LLVMBuildSRem(cg->b, it.iv, rc->n, "");
  LLVMValueRef d_row = cg_iadd(cg, rc->d_at, j), s_row = cg_iadd(cg, rc->s_at, j);
  LLVMValueRef ok =
      LLVMBuildAnd(cg->b, in_range(cg, d_row, rc->d.len), in_range(cg, s_row, rc->s.len), "");
  LLVMValueRef d_base = cg_imul(cg, cg_iadd(cg, cg_imul(cg, a, rc->d.len), d_row), rc->d.inner);
  LLVMValueRef s_base = cg_imul(cg, cg_iadd(cg, cg_imul(cg, a, rc->s.len), s_row), rc->s.inner);
  CgIf inside = cg_if_begin(cg, ok, "inside");
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), rc->d.inner, "c");
  cg_copy(cg, rc->dst, cg_iadd(cg, d_base, c.iv), rc->src, cg_iadd(cg, s_base, c.iv));
  cg_loop_end(cg, &c);
  if (rc->dst->kind != IR_VAL_STATE) { /* a result: zeros where the source has no row */
    cg_if_else(cg, &inside);
    LLVMValueRef d_row_ok = in_range(cg, d_row, rc->d.len);
    CgIf zero = cg_if_begin(cg, d_row_ok, "zero");
    CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), rc->d.inner, "z");
    cg_store(cg, rc->dst, cg_iadd(cg, d_base, z.iv), cg_zero(cg, rc->dst->type.dtype));
    cg_loop_end(cg, &z);
    cg_if_end(cg, &zero);
  }
  cg_if_end(cg, &inside);
  cg_loop_end(cg, &it);
}

/* What slice, kv_read (state -> result) and kv_write (tensor -> state)
 * move: along `axis` (default 0 for slice, -2 for the KV ops), rows from
 * `start` of the source, or to `offset` of the state. */
static RowCopy range_copy(CgLlvm *cg, const IrOp *op) {
  RowCopy rc = {0};
  if (op->kind == IR_OP_KV_WRITE) {
    rc.dst = op->in[0];
    rc.src = op->in[1];
  } else {
    rc.dst = op->out[0];
    rc.src = op->in[0];
  }
  const IrType *state_or_x = &op->in[0]->type,
               *moved = op->kind == IR_OP_KV_WRITE ? &op->in[1]->type : &op->out[0]->type;
  int axis = cg_axis(ir_op_int(op, "axis", op->kind == IR_OP_SLICE ? 0 : -2), state_or_x->rank);
  rc.d = cg_axis_split(cg, &rc.dst->type, axis);
  rc.s = cg_axis_split(cg, &rc.src->type, axis);
  rc.n = cg_dim(cg, moved->dims[axis]);
  LLVMValueRef zero = cg_i64(cg, 0);
  if (op->kind == IR_OP_KV_WRITE) {
    rc.d_at = cg_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0)));
    rc.s_at = zero;
  } else { /* slice, kv_read */
    rc.d_at = zero;
    rc.s_at = cg_dim(cg, ir_op_dim(op, "start", ir_dim_const(0)));
  }
  return rc;
}

static LLVMValueRef range_iterations(CgLlvm *cg, const IrOp *op) {
  RowCopy rc = range_copy(cg, op);
  return cg_imul(cg, rc.d.outer, rc.n);
}

static bool emit_range(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  RowCopy rc = range_copy(cg, op);
  copy_rows(cg, &rc, begin, end);
  return true;
}

/* ---- concat: one outer slab an iteration, every operand's block ---- */

static LLVMValueRef concat_iterations(CgLlvm *cg, const IrOp *op) {
  const IrType *t = &op->out[0]->type;
  return cg_numel_range(cg, t, 0, cg_axis(ir_op_int(op, "axis", 0), t->rank));
}

static bool emit_concat(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *out = op->out[0];
  int axis = cg_axis(ir_op_int(op, "axis", 0), out->type.rank);
  CgAxisSplit os = cg_axis_split(cg, &out->type, axis);
  CgLoop a = cg_loop_begin(cg, begin, end, "slab");
  LLVMValueRef at = cg_i64(cg, 0);
  for (int k = 0; k < op->nin; k++) {
    CgAxisSplit xs = cg_axis_split(cg, &op->in[k]->type, axis);
    LLVMValueRef block = cg_imul(cg, xs.len, xs.inner); /* contiguous in both */
    LLVMValueRef dst = cg_imul(cg, cg_iadd(cg, cg_imul(cg, a.iv, os.len), at), os.inner);
    LLVMValueRef src = cg_imul(cg, a.iv, block);
    CgLoop e = cg_loop_begin(cg, cg_i64(cg, 0), block, "e");
    cg_copy(cg, out, cg_iadd(cg, dst, e.iv), op->in[k], cg_iadd(cg, src, e.iv));
    cg_loop_end(cg, &e);
    at = cg_iadd(cg, at, xs.len);
  }
  cg_loop_end(cg, &a);
  return true;
}

/* ---- topk: one row an iteration ---- */

/* a ranks above b: larger, NaN above every number (as torch.topk). */
static LLVMValueRef greater(CgLlvm *cg, bool is_float, LLVMValueRef a, LLVMValueRef b) {
  if (!is_float) return LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, "");
  LLVMValueRef nan_a = LLVMBuildFCmp(cg->b, LLVMRealUNO, a, a, "");
  LLVMValueRef num_b = LLVMBuildFCmp(cg->b, LLVMRealORD, b, b, "");
  return LLVMBuildOr(cg->b, LLVMBuildAnd(cg->b, nan_a, num_b, ""),
                     LLVMBuildFCmp(cg->b, LLVMRealOGT, a, b, ""), "");
}

/* Element (x, j) comes after the previous pick (pv, pi) in the order
 * "ranks higher, then lower index": it ranks lower, or ties and has a
 * higher index. Picking the first best element after the previous pick,
 * k times, is the interpreter's repeated selection without its "taken"
 * array. */
static LLVMValueRef after_pick(CgLlvm *cg, bool is_float, LLVMValueRef x, LLVMValueRef j,
                               LLVMValueRef pv, LLVMValueRef pi) {
  LLVMValueRef below = greater(cg, is_float, pv, x);
  LLVMValueRef tie =
      LLVMBuildNot(cg->b, LLVMBuildOr(cg->b, below, greater(cg, is_float, x, pv), ""), "");
  LLVMValueRef later = LLVMBuildAnd(cg->b, tie, LLVMBuildICmp(cg->b, LLVMIntSGT, j, pi, ""), "");
  LLVMValueRef first = LLVMBuildICmp(cg->b, LLVMIntSLT, pi, cg_i64(cg, 0), "");
  return LLVMBuildOr(cg->b, first, LLVMBuildOr(cg->b, below, later, ""), "");
}

static bool emit_topk(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *x = op->in[0], *vals = op->out[0], *idx = op->out[1];
  bool is_float = ir_dtype_is_float(x->type.dtype);
  LLVMTypeRef wt = is_float ? cg->f32 : cg->i64;
  int64_t k = ir_op_int(op, "k", 1);
  LLVMValueRef n = cg_dim(cg, x->type.dims[x->type.rank - 1]);
  LLVMValueRef pv = cg_var(cg, wt, "prev"), pi = cg_var(cg, cg->i64, "prev_i");
  LLVMValueRef bv = cg_var(cg, wt, "best"), bi = cg_var(cg, cg->i64, "best_i");
  CgLoop row = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef base = cg_imul(cg, row.iv, n);
  LLVMBuildStore(cg->b, cg_i64(cg, -1), pi);
  LLVMBuildStore(cg->b, cg_zero(cg, x->type.dtype), pv);
  CgLoop p = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, k), "pick");
  LLVMBuildStore(cg->b, cg_i64(cg, -1), bi);
  LLVMBuildStore(cg->b, cg_zero(cg, x->type.dtype), bv);
  LLVMValueRef prev_v = LLVMBuildLoad2(cg->b, wt, pv, ""),
               prev_i = LLVMBuildLoad2(cg->b, cg->i64, pi, "");
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), n, "j");
  LLVMValueRef v = cg_load(cg, x, cg_iadd(cg, base, j.iv));
  LLVMValueRef cur_v = LLVMBuildLoad2(cg->b, wt, bv, ""),
               cur_i = LLVMBuildLoad2(cg->b, cg->i64, bi, "");
  LLVMValueRef better =
      LLVMBuildOr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, cur_i, cg_i64(cg, 0), ""),
                  greater(cg, is_float, v, cur_v), "");
  LLVMValueRef take =
      LLVMBuildAnd(cg->b, after_pick(cg, is_float, v, j.iv, prev_v, prev_i), better, "");
  LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, v, cur_v, ""), bv);
  LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, j.iv, cur_i, ""), bi);
  cg_loop_end(cg, &j);
  LLVMValueRef best_i = LLVMBuildLoad2(cg->b, cg->i64, bi, "");
  LLVMValueRef dst = cg_iadd(cg, cg_imul(cg, row.iv, cg_i64(cg, k)), p.iv);
  CgIf found =
      cg_if_begin(cg, LLVMBuildICmp(cg->b, LLVMIntSGE, best_i, cg_i64(cg, 0), ""), "found");
  cg_copy(cg, vals, dst, x, cg_iadd(cg, base, best_i));
  cg_if_else(cg, &found); /* k > n at run time: nothing left to pick */
  cg_store(cg, vals, dst, cg_zero(cg, vals->type.dtype));
  cg_if_end(cg, &found);
  cg_store(cg, idx, dst, best_i);
  LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, wt, bv, ""), pv);
  LLVMBuildStore(cg->b, best_i, pi);
  cg_loop_end(cg, &p);
  cg_loop_end(cg, &row);
  return true;
}

/* ---- scatter: one row an iteration ---- */

/* out[row, c] = sum of w[row, j] over the j with idx[row, j] == c, in j
 * order from 0: the interpreter's accumulation, without read-modify-write
 * of a narrow result. An index outside [0, size) matches no column. */
static bool emit_scatter(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *idx = op->in[0], *w = op->in[1], *out = op->out[0];
  LLVMValueRef k = cg_dim(cg, idx->type.dims[idx->type.rank - 1]);
  int64_t size = ir_op_int(op, "size", 1);
  LLVMValueRef acc = cg_var(cg, cg->f32, "acc");
  CgLoop row = cg_loop_begin(cg, begin, end, "row");
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, size), "c");
  LLVMBuildStore(cg->b, cg_f32(cg, 0.0), acc);
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), k, "j");
  LLVMValueRef at = cg_iadd(cg, cg_imul(cg, row.iv, k), j.iv);
  LLVMValueRef match = LLVMBuildICmp(cg->b, LLVMIntEQ, cg_load(cg, idx, at), c.iv, "");
  CgIf hit = cg_if_begin(cg, match, "hit");
  LLVMValueRef old = LLVMBuildLoad2(cg->b, cg->f32, acc, "");
  LLVMBuildStore(cg->b, LLVMBuildFAdd(cg->b, old, cg_load(cg, w, at), ""), acc);
  cg_if_end(cg, &hit);
  cg_loop_end(cg, &j);
  cg_store(cg, out, cg_iadd(cg, cg_imul(cg, row.iv, cg_i64(cg, size)), c.iv),
           LLVMBuildLoad2(cg->b, cg->f32, acc, ""));
  cg_loop_end(cg, &c);
  cg_loop_end(cg, &row);
  return true;
}

static LLVMValueRef rows_of_input(CgLlvm *cg, const IrOp *op) {
  const IrType *t = &op->in[0]->type;
  return cg_numel_range(cg, t, 0, t->rank - 1);
}

static const CgOpEmitter em_const = {IR_OP_CONST, flat_iterations, emit_const};
static const CgOpEmitter em_iota = {IR_OP_IOTA, flat_iterations, emit_iota};
static const CgOpEmitter em_causal_mask = {IR_OP_CAUSAL_MASK, outer_iterations, emit_causal_mask};
static const CgOpEmitter em_reshape = {IR_OP_RESHAPE, flat_iterations, emit_reshape};
static const CgOpEmitter em_transpose = {IR_OP_TRANSPOSE, row_iterations, emit_transpose};
static const CgOpEmitter em_slice = {IR_OP_SLICE, range_iterations, emit_range};
static const CgOpEmitter em_concat = {IR_OP_CONCAT, concat_iterations, emit_concat};
static const CgOpEmitter em_topk = {IR_OP_TOPK, rows_of_input, emit_topk};
static const CgOpEmitter em_scatter = {IR_OP_SCATTER, rows_of_input, emit_scatter};
static const CgOpEmitter em_kv_write = {IR_OP_KV_WRITE, range_iterations, emit_range};
static const CgOpEmitter em_kv_read = {IR_OP_KV_READ, range_iterations, emit_range};

const CgOpEmitter *const cg_data_emitters[] = {
    &em_const,  &em_iota, &em_causal_mask, &em_reshape,  &em_transpose, &em_slice,
    &em_concat, &em_topk, &em_scatter,     &em_kv_write, &em_kv_read,   NULL};
