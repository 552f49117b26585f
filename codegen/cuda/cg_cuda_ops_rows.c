/* cg_cuda_ops_rows.c: kernels over rows: rmsnorm, layernorm, softmax and
 * reductions (one block per row, a shared-memory tree reduction), topk
 * and scatter (one thread per row, sequential like the interpreter).
 *
 * A row along axis `ax` of a tensor seen as [outer, len, inner] is row r
 * of outer * inner: it starts at (r / inner) * len * inner + r % inner and
 * its elements are `inner` apart. */
#include <stdio.h>

#include "cg_cuda_internal.h"

/* Declares `base`, `step` and `len` of the block's row. */
static void row_setup(CgCuda *cg, const IrType *t, int ax) {
  CgcText inner = cgc_numel(cg, t, ax + 1, t->rank), len = cgc_dim(cg, t->dims[ax]);
  cgc_printf(cg, "  const long long r = blockIdx.x, step = %s, len = %s;\n", inner.s, len.s);
  cgc_printf(cg, "  const long long base = (r / step) * len * step + r %% step;\n");
  cg->k->block = cg->opt.block;
  cgc_grid(cg, 0, t, 0, ax, 1);
  /* grid.x = outer * inner: append the inner dims */
  CgCudaExtent *e = &cg->k->grid[0];
  for (int i = ax + 1; i < t->rank && e->n < CG_CUDA_MAX_FACTORS; i++) e->f[e->n++] = t->dims[i];
  cgc_printf(cg, "  __shared__ float red[%d];\n  __shared__ float s0, s1;\n", cg->opt.block);
  cg->k->smem_bytes = (int64_t)sizeof(float) * (cg->opt.block + 2);
}

/* red[tid] = combination over this thread's elements of `term` (an
 * expression of v, the element as float), starting from `init`; then the
 * block-wide reduction and s = red[0] (under `finish`, an expression of
 * red0) in shared scalar `s`. */
static void row_reduce(CgCuda *cg, const IrValue *x, const char *init, const char *term,
                       const char *combine, const char *s, const char *finish) {
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  float acc = %s;\n", init);
  cgc_printf(cg, "  for (long long j = tid; j < len; j += %d) {\n", cg->opt.block);
  cgc_printf(cg, "    const float v = %s;\n", cgc_load(x, "x0", "base + j * step").s);
  cgc_printf(cg, "    const float a = acc, b = %s; acc = %s;\n  }\n", term, combine);
  cgc_printf(cg, "  red[tid] = acc;\n  KILN_THREADS_END\n  KILN_SYNC\n");
  cgc_block_reduce(cg, "red", combine);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  if (tid == 0) { const float red0 = red[0]; %s = %s; }\n"
                 "  KILN_THREADS_END\n  KILN_SYNC\n",
             s, finish);
}

/* Writes y at every element of the row: value `x` (an expression of v). */
static void row_write(CgCuda *cg, const IrValue *x, const IrValue *y, const char *value) {
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  for (long long j = tid; j < len; j += %d) {\n", cg->opt.block);
  cgc_printf(cg, "    const long long at = base + j * step;\n");
  cgc_printf(cg, "    const float v = %s;\n    (void)v;\n    ", cgc_load(x, "x0", "at").s);
  cgc_store(cg, y, "y0", "at", value);
  cgc_printf(cg, "  }\n  KILN_THREADS_END\n");
}

static bool float_only(CgCuda *cg, const IrOp *op) {
  for (int i = 0; i < op->nin; i++)
    if (!ir_dtype_is_float(op->in[i]->type.dtype)) return cgc_refuse(cg, op, "integer operands");
  return true;
}

static bool emit_rmsnorm(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  if (!float_only(cg, op) || !cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, op->in[1], "x1") ||
      !cgc_ptr(cg, op, y, "y0"))
    return false;
  row_setup(cg, &x->type, x->type.rank - 1);
  char finish[640];
  snprintf(finish, sizeof finish, "sqrtf(red0 / (float)len + %s)", cgc_float(ir_op_float(op, "eps", 0)).s);
  row_reduce(cg, x, "0.0f", "v * v", "a + b", "s0", finish);
  char value[1200];
  snprintf(value, sizeof value, "v / s0 * %s", cgc_load(op->in[1], "x1", "j").s);
  row_write(cg, x, y, value);
  return true;
}

static bool emit_layernorm(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  if (!float_only(cg, op) || !cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, op->in[1], "x1") ||
      !cgc_ptr(cg, op, op->in[2], "x2") || !cgc_ptr(cg, op, y, "y0"))
    return false;
  row_setup(cg, &x->type, x->type.rank - 1);
  row_reduce(cg, x, "0.0f", "v", "a + b", "s0", "red0 / (float)len");
  char finish[640];
  snprintf(finish, sizeof finish, "sqrtf(red0 / (float)len + %s)", cgc_float(ir_op_float(op, "eps", 0)).s);
  row_reduce(cg, x, "0.0f", "(v - s0) * (v - s0)", "a + b", "s1", finish);
  char value[1200];
  snprintf(value, sizeof value, "(v - s0) / s1 * %s + %s", cgc_load(op->in[1], "x1", "j").s,
           cgc_load(op->in[2], "x2", "j").s);
  row_write(cg, x, y, value);
  return true;
}

/* A fully masked row (max -inf) gives zeros, as in the interpreter. */
static bool emit_softmax(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  if (!float_only(cg, op) || !cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, y, "y0")) return false;
  row_setup(cg, &x->type, cgc_axis(ir_op_int(op, "axis", -1), x->type.rank));
  row_reduce(cg, x, "-KILN_INF", "v", "kiln_max_keep_nan(a, b)", "s0", "red0");
  row_reduce(cg, x, "0.0f", "(s0 == -KILN_INF ? 0.0f : expf(v - s0))", "a + b", "s1", "red0");
  row_write(cg, x, y, "(s0 == -KILN_INF ? 0.0f : expf(v - s0) / s1)");
  return true;
}

static bool emit_reduce(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  if (!float_only(cg, op) || !cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, y, "y0")) return false;
  row_setup(cg, &x->type, cgc_axis(ir_op_int(op, "axis", -1), x->type.rank));
  if (op->kind == IR_OP_REDUCE_MAX)
    row_reduce(cg, x, "-KILN_INF", "v", "kiln_max_keep_nan(a, b)", "s0", "red0");
  else
    row_reduce(cg, x, "0.0f", "v", "a + b", "s0",
               op->kind == IR_OP_REDUCE_MEAN ? "red0 / (float)len" : "red0");
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  if (tid == 0) { ");
  cgc_store(cg, y, "y0", "r", "s0");
  cgc_printf(cg, "  }\n  KILN_THREADS_END\n");
  return true;
}

/* One thread per row of rows = numel(t)[0, rank-1): `row` and `n`. */
static void thread_rows_begin(CgCuda *cg, const IrType *t) {
  cg->k->block = cg->opt.block;
  cgc_grid(cg, 0, t, 0, t->rank - 1, cg->opt.block);
  cgc_printf(cg, "  const long long rows = %s, n = %s;\n", cgc_numel(cg, t, 0, t->rank - 1).s,
             cgc_dim(cg, t->dims[t->rank - 1]).s);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const long long row = (long long)blockIdx.x * %d + tid;\n"
                 "  if (row < rows) {\n",
             cg->opt.block);
}

/* Repeated selection of the best element after the previous pick in the
 * order "larger (NaN above numbers), then lower index": the CPU backend's
 * topk, which equals the interpreter's. */
static bool emit_topk(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *vals = op->out[0], *idx = op->out[1];
  if (!cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, vals, "y0") || !cgc_ptr(cg, op, idx, "y1"))
    return false;
  bool fl = ir_dtype_is_float(x->type.dtype);
  const char *wt = cgc_work_type(x->type.dtype);
  const char *gt = fl ? "((A != A && B == B) || A > B)" : "(A > B)";
  long long k = (long long)ir_op_int(op, "k", 1);
  thread_rows_begin(cg, &x->type);
  cgc_printf(cg, "#define KILN_GT(A, B) %s\n", gt);
  cgc_printf(cg, "    %s pv = 0; long long pi = -1;\n", wt);
  cgc_printf(cg, "    for (long long p = 0; p < %lldLL; p++) {\n", k);
  cgc_printf(cg, "      %s bv = 0; long long bi = -1;\n", wt);
  cgc_printf(cg, "      for (long long j = 0; j < n; j++) {\n");
  cgc_printf(cg, "        const %s v = %s;\n", wt, cgc_load(x, "x0", "row * n + j").s);
  cgc_printf(cg, "        const int after = pi < 0 || KILN_GT(pv, v) || (!KILN_GT(v, pv) && j > pi);\n");
  cgc_printf(cg, "        if (after && (bi < 0 || KILN_GT(v, bv))) { bv = v; bi = j; }\n      }\n");
  char dst[64];
  snprintf(dst, sizeof dst, "row * %lldLL + p", k);
  cgc_printf(cg, "      if (bi >= 0) { ");
  cgc_store(cg, vals, "y0", dst, cgc_load(x, "x0", "row * n + bi").s);
  cgc_printf(cg, "      } else { ");
  cgc_store(cg, vals, "y0", dst, "0");
  cgc_printf(cg, "      }\n      ");
  cgc_store(cg, idx, "y1", dst, "bi");
  cgc_printf(cg, "      pv = bv; pi = bi;\n    }\n#undef KILN_GT\n  }\n  KILN_THREADS_END\n");
  return true;
}

/* out[row, c] = sum of w[row, j] over the j with idx[row, j] == c, in j
 * order (the interpreter's accumulation); indices outside [0, size) match
 * no column. */
static bool emit_scatter(CgCuda *cg, const IrOp *op) {
  const IrValue *idx = op->in[0], *w = op->in[1], *y = op->out[0];
  if (!cgc_ptr(cg, op, idx, "x0") || !cgc_ptr(cg, op, w, "x1") || !cgc_ptr(cg, op, y, "y0"))
    return false;
  long long size = (long long)ir_op_int(op, "size", 1);
  thread_rows_begin(cg, &idx->type);
  cgc_printf(cg, "    for (long long c = 0; c < %lldLL; c++) {\n      float acc = 0.0f;\n", size);
  cgc_printf(cg, "      for (long long j = 0; j < n; j++)\n        if (%s == c) acc += %s;\n      ",
             cgc_load(idx, "x0", "row * n + j").s, cgc_load(w, "x1", "row * n + j").s);
  char dst[64];
  snprintf(dst, sizeof dst, "row * %lldLL + c", size);
  cgc_store(cg, y, "y0", dst, "acc");
  cgc_printf(cg, "    }\n  }\n  KILN_THREADS_END\n");
  return true;
}

CgcEmitFn cgc_rows_emitter(IrOpKind k) {
  switch (k) {
  case IR_OP_RMSNORM: return emit_rmsnorm;
  case IR_OP_LAYERNORM: return emit_layernorm;
  case IR_OP_SOFTMAX: return emit_softmax;
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX: return emit_reduce;
  case IR_OP_TOPK: return emit_topk;
  case IR_OP_SCATTER: return emit_scatter;
  default: return NULL;
  }
}
