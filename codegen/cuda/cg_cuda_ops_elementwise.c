/* cg_cuda_ops_elementwise.c: kernels with one thread per output element:
 * elementwise ops (with broadcasting), cast, const, iota, causal_mask,
 * embedding, rope, reshape, transpose, slice, concat, kv_read, kv_write
 * (and fused ops, cg_cuda_expr.c).
 * Each computes its element from the output coordinates c0..c{rank-1}
 * (cgc_coords) exactly as the interpreter does, so results match bit for
 * bit on the host (rope and GPU FMA contraction aside). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cg_cuda_internal.h"

/* Integer results wrap (two's complement through unsigned arithmetic). */
static const char *binary_int(IrOpKind k) {
  switch (k) {
  case IR_OP_ADD: return "(long long)((unsigned long long)a + (unsigned long long)b)";
  case IR_OP_SUB: return "(long long)((unsigned long long)a - (unsigned long long)b)";
  case IR_OP_MUL: return "(long long)((unsigned long long)a * (unsigned long long)b)";
  case IR_OP_DIV: return "(b ? a / b : 0LL)";
  case IR_OP_MAX: return "(a > b ? a : b)";
  case IR_OP_MIN: return "(a < b ? a : b)";
  default: return NULL;
  }
}

static bool gelu_tanh(const IrOp *op) {
  return op->kind == IR_OP_GELU && strcmp(ir_op_str(op, "approx", "none"), "tanh") == 0;
}

static bool emit_elementwise(CgCuda *cg, const IrOp *op) {
  const IrValue *y = op->out[0];
  bool is_float = ir_dtype_is_float(y->type.dtype);
  const char *expr = op->kind == IR_OP_CAST ? "a"
                     : op->nin == 2         ? (is_float ? cgc_binary_float(op->kind) : binary_int(op->kind))
                     : is_float             ? cgc_unary_float(op->kind, gelu_tanh(op))
                     : op->kind == IR_OP_NEG ? "(long long)(0ULL - (unsigned long long)a)"
                                             : NULL;
  if (!expr) return cgc_refuse(cg, op, "integer operands");
  for (int j = 0; j < op->nin; j++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", j);
    if (!cgc_ptr(cg, op, op->in[j], name)) return false;
  }
  if (!cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  const char *wt = cgc_work_type(y->type.dtype);
  for (int j = 0; j < op->nin; j++) {
    const IrValue *x = op->in[j];
    char p[16];
    snprintf(p, sizeof p, "x%d", j);
    CgcText v = cgc_load(x, p, cgc_broadcast_index(cg, &y->type, &x->type).s);
    bool x_float = ir_dtype_is_float(x->type.dtype);
    if (op->kind == IR_OP_CAST && x_float && !is_float)
      cgc_printf(cg, "    const long long %c = kiln_f2i(%s);\n", 'a' + j, v.s);
    else
      cgc_printf(cg, "    const %s %c = (%s)%s;\n", wt, 'a' + j, wt, v.s);
  }
  cgc_printf(cg, "    ");
  cgc_store(cg, y, "y0", "i", expr);
  cgc_flat_end(cg);
  return true;
}

static bool emit_const(CgCuda *cg, const IrOp *op) {
  const IrValue *y = op->out[0];
  double v = ir_op_float(op, "value", 0);
  if (!cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_printf(cg, "    ");
  if (ir_dtype_is_float(y->type.dtype)) {
    cgc_store(cg, y, "y0", "i", cgc_float(v).s);
  } else {
    double t = isnan(v) ? 0 : trunc(v);
    long long iv = t >= 9.2e18 ? INT64_MAX : t <= -9.2e18 ? INT64_MIN : (long long)t;
    char lit[48];
    snprintf(lit, sizeof lit, "(%lldLL)", iv);
    cgc_store(cg, y, "y0", "i", lit);
  }
  cgc_flat_end(cg);
  return true;
}

static bool emit_iota(CgCuda *cg, const IrOp *op) {
  const IrValue *y = op->out[0];
  if (!cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  char x[600];
  snprintf(x, sizeof x, "(%s)(%s + i)", cgc_work_type(y->type.dtype),
           cgc_dim(cg, ir_op_dim(op, "start", ir_dim_const(0))).s);
  cgc_printf(cg, "    ");
  cgc_store(cg, y, "y0", "i", x);
  cgc_flat_end(cg);
  return true;
}

static bool emit_causal_mask(CgCuda *cg, const IrOp *op) {
  const IrValue *y = op->out[0];
  if (!cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  cgc_printf(cg, "    const long long q = c0 + %s, w = %lldLL;\n",
             cgc_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0))).s,
             (long long)ir_op_int(op, "window", 0));
  cgc_printf(cg, "    const int visible = c1 <= q && (w <= 0 || c1 > q - w);\n    ");
  cgc_store(cg, y, "y0", "i", "(visible ? 0.0f : -KILN_INF)");
  cgc_flat_end(cg);
  return true;
}

/* y[i] = x[src], with src an index expression over c0.. and i. */
static bool emit_gather(CgCuda *cg, const IrOp *op, const IrValue *x, const IrValue *y,
                        const char *src) {
  CgcText v = cgc_load(x, "x0", src);
  if (ir_dtype_is_float(y->type.dtype) != ir_dtype_is_float(x->type.dtype))
    return cgc_refuse(cg, op, "operand and result of different dtype kinds");
  cgc_printf(cg, "    ");
  cgc_store(cg, y, "y0", "i", v.s);
  cgc_flat_end(cg);
  return true;
}

static bool begin_copy(CgCuda *cg, const IrOp *op, const IrValue *x, const IrValue *y) {
  if (!cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  return true;
}

static bool emit_reshape(CgCuda *cg, const IrOp *op) {
  return begin_copy(cg, op, op->in[0], op->out[0]) && emit_gather(cg, op, op->in[0], op->out[0], "i");
}

static bool emit_transpose(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  const IrAttr *perm = ir_op_attr(op, "perm");
  if (!begin_copy(cg, op, x, y)) return false;
  char names[IR_MAX_RANK][16];
  const char *coords[IR_MAX_RANK];
  for (int a = 0; a < y->type.rank; a++) {
    int from = perm && a < perm->nints ? (int)perm->ints[a] : a;
    snprintf(names[from], sizeof names[from], "c%d", a);
    coords[from] = names[from];
  }
  return emit_gather(cg, op, x, y, cgc_index(cg, &x->type, coords).s);
}

/* Coordinates c0.. with axis `ax` shifted by `shift` (an expression). */
static CgcText shifted_index(const CgCuda *cg, const IrType *t, int ax, const char *shift) {
  char names[IR_MAX_RANK][600];
  const char *coords[IR_MAX_RANK];
  for (int a = 0; a < t->rank; a++) {
    if (a == ax)
      snprintf(names[a], sizeof names[a], "c%d + %s", a, shift);
    else
      snprintf(names[a], sizeof names[a], "c%d", a);
    coords[a] = names[a];
  }
  return cgc_index(cg, t, coords);
}

static bool emit_slice(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  int ax = cgc_axis(ir_op_int(op, "axis", 0), x->type.rank);
  if (!begin_copy(cg, op, x, y)) return false;
  CgcText start = cgc_dim(cg, ir_op_dim(op, "start", ir_dim_const(0)));
  return emit_gather(cg, op, x, y, shifted_index(cg, &x->type, ax, start.s).s);
}

static bool emit_kv_read(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *y = op->out[0];
  int ax = cgc_axis(ir_op_int(op, "axis", -2), x->type.rank);
  if (!begin_copy(cg, op, x, y)) return false;
  CgcText start = cgc_dim(cg, ir_op_dim(op, "start", ir_dim_const(0)));
  return emit_gather(cg, op, x, y, shifted_index(cg, &x->type, ax, start.s).s);
}

/* One thread per element of the written tensor; the entry has checked
 * that P + T fits the cache. */
static bool emit_kv_write(CgCuda *cg, const IrOp *op) {
  const IrValue *st = op->in[0], *x = op->in[1];
  int ax = cgc_axis(ir_op_int(op, "axis", -2), st->type.rank);
  if (!cgc_ptr(cg, op, st, "y0") || !cgc_ptr(cg, op, x, "x0")) return false;
  cgc_flat_begin(cg, &x->type);
  cgc_coords(cg, &x->type, "i");
  CgcText off = cgc_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0)));
  CgcText dst = shifted_index(cg, &st->type, ax, off.s);
  cgc_printf(cg, "    ");
  cgc_store(cg, st, "y0", dst.s, cgc_load(x, "x0", "i").s);
  cgc_flat_end(cg);
  return true;
}

static bool emit_concat(CgCuda *cg, const IrOp *op) {
  const IrValue *y = op->out[0];
  int ax = cgc_axis(ir_op_int(op, "axis", 0), y->type.rank);
  for (int j = 0; j < op->nin; j++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", j);
    if (!cgc_ptr(cg, op, op->in[j], name)) return false;
  }
  if (!cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  cgc_printf(cg, "    long long ca = c%d;\n", ax);
  for (int j = 0; j < op->nin; j++) {
    const IrValue *x = op->in[j];
    CgcText len = cgc_dim(cg, x->type.dims[ax]);
    char p[16], shift[32];
    snprintf(p, sizeof p, "x%d", j);
    snprintf(shift, sizeof shift, "(ca - c%d)", ax);
    cgc_printf(cg, "    if (ca >= 0 && ca < %s) {\n      ", len.s);
    cgc_store(cg, y, "y0", "i", cgc_load(x, p, shifted_index(cg, &x->type, ax, shift).s).s);
    cgc_printf(cg, "    }\n    ca -= %s;\n", len.s);
  }
  cgc_flat_end(cg);
  return true;
}

/* One thread per output element; an id outside [0, V) gives 0 (the
 * runtime rejects such token ids before calling). */
static bool emit_embedding(CgCuda *cg, const IrOp *op) {
  const IrValue *table = op->in[0], *ids = op->in[1], *y = op->out[0];
  if (!cgc_ptr(cg, op, table, "x0") || !cgc_ptr(cg, op, ids, "x1") || !cgc_ptr(cg, op, y, "y0"))
    return false;
  cgc_flat_begin(cg, &y->type);
  CgcText rows = cgc_dim(cg, table->type.dims[0]), dim = cgc_dim(cg, table->type.dims[1]);
  cgc_printf(cg, "    const long long row = i / %s, col = i %% %s;\n", dim.s, dim.s);
  cgc_printf(cg, "    const long long id = %s;\n", cgc_load(ids, "x1", "row").s);
  char src[1200], idx[600]; /* the table element (id, col) */
  snprintf(idx, sizeof idx, "id * %s + col", dim.s);
  snprintf(src, sizeof src, "(id >= 0 && id < %s ? %s : 0.0f)", rows.s, cgc_load(table, "x0", idx).s);
  cgc_printf(cg, "    ");
  cgc_store(cg, y, "y0", "i", src);
  cgc_flat_end(cg);
  return true;
}

/* inv_freq of lane pair p as a double expression (docs/ir.md, rope). */
static void rope_inv_freq(CgCuda *cg, const IrOp *op, int64_t rot) {
  const char *scaling = ir_op_str(op, "scaling", "none");
  double factor = ir_op_float(op, "factor", 1);
  cgc_printf(cg, "    double f = pow(%a, -2.0 * (double)p / %lld.0);\n", ir_op_float(op, "theta", 10000.0),
             (long long)rot);
  if (strcmp(scaling, "linear") == 0) cgc_printf(cg, "    f = f / %a;\n", factor);
  if (strcmp(scaling, "llama3") != 0) return;
  double lf = ir_op_float(op, "low_freq_factor", 1), hf = ir_op_float(op, "high_freq_factor", 4);
  double omp = (double)ir_op_int(op, "original_max_position", 8192);
  cgc_printf(cg,
             "    {\n      const double wl = 2 * 3.14159265358979323846 / f, lo = %a / %a, hi = %a / %a;\n"
             "      if (wl >= hi) {\n        if (wl > lo) f = f / %a;\n"
             "        else { const double s = (%a / wl - %a) / (%a - %a); f = (1 - s) * f / %a + s * f; }\n"
             "      }\n    }\n",
             omp, lf, omp, hf, factor, omp, lf, hf, lf, factor);
}

static bool emit_rope(CgCuda *cg, const IrOp *op) {
  const IrValue *x = op->in[0], *pos = op->in[1], *y = op->out[0];
  int64_t hd = ir_op_int(op, "head_dim", 0), rot = ir_op_int(op, "rotary_dim", hd);
  bool inter = strcmp(ir_op_str(op, "pairing", "half"), "interleaved") == 0;
  int r = y->type.rank;
  if (hd <= 0 || rot % 2 || rot > hd || r < 2) return cgc_refuse(cg, op, "these rope attributes");
  if (!cgc_ptr(cg, op, x, "x0") || !cgc_ptr(cg, op, pos, "x1") || !cgc_ptr(cg, op, y, "y0"))
    return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  cgc_printf(cg, "    const long long lane = c%d %% %lldLL;\n", r - 1, (long long)hd);
  cgc_printf(cg, "    if (lane >= %lldLL) {\n      ", (long long)rot);
  cgc_store(cg, y, "y0", "i", cgc_load(x, "x0", "i").s);
  cgc_printf(cg, "    } else {\n");
  long long half = (long long)rot / 2;
  if (inter)
    cgc_printf(cg, "    const long long p = lane / 2; const int first = lane %% 2 == 0;\n"
                   "    const long long other = first ? i + 1 : i - 1;\n");
  else
    cgc_printf(cg, "    const int first = lane < %lldLL; const long long p = first ? lane : lane - %lldLL;\n"
                   "    const long long other = first ? i + %lldLL : i - %lldLL;\n",
               half, half, half, half);
  rope_inv_freq(cg, op, rot);
  char t_idx[16]; /* the position of row c{r-2}: pos is [T] */
  snprintf(t_idx, sizeof t_idx, "c%d", r - 2);
  cgc_printf(cg, "    const double a = (double)%s * f;\n", cgc_load(pos, "x1", t_idx).s);
  cgc_printf(cg, "    const float cs = (float)cos(a), sn = (float)sin(a);\n");
  cgc_printf(cg, "    const float xs = %s, xo = %s;\n", cgc_load(x, "x0", "i").s, cgc_load(x, "x0", "other").s);
  cgc_printf(cg, "    const float x0 = first ? xs : xo, x1 = first ? xo : xs;\n    ");
  cgc_store(cg, y, "y0", "i", "(first ? x0 * cs - x1 * sn : x1 * cs + x0 * sn)");
  cgc_printf(cg, "    }\n");
  cgc_flat_end(cg);
  return true;
}

CgcEmitFn cgc_elementwise_emitter(IrOpKind k) {
  if (ir_op_spec(k)->flags & IR_OPF_ELEMENTWISE) return emit_elementwise;
  switch (k) {
  case IR_OP_CONST: return emit_const;
  case IR_OP_IOTA: return emit_iota;
  case IR_OP_CAUSAL_MASK: return emit_causal_mask;
  case IR_OP_EMBEDDING: return emit_embedding;
  case IR_OP_ROPE: return emit_rope;
  case IR_OP_RESHAPE: return emit_reshape;
  case IR_OP_TRANSPOSE: return emit_transpose;
  case IR_OP_SLICE: return emit_slice;
  case IR_OP_CONCAT: return emit_concat;
  case IR_OP_KV_READ: return emit_kv_read;
  case IR_OP_KV_WRITE: return emit_kv_write;
  case IR_OP_FUSED: return cgc_emit_fused;
  default: return NULL;
  }
}
