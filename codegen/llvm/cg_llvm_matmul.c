/* cg_llvm_matmul.c: matmul kernels.
 *
 * Two ways to compute out[.., M, N] = a[.., M, K] x b (+ epilogue):
 *
 * Packed (b a 2-D param stored in panels, docs/ir.md "Weight layouts"):
 * b lives as [ceil(N/W)][K][W], W = the layout's panel width, whether the
 * matmul reads it as [N, K] (transpose_b) or [K, N]. One iteration is one
 * block of `rows_per_it` rows of a (all batch rows flattened) times one
 * panel of W output columns.
 *   - R > 1 rows (prefill): a register-blocked micro-kernel: mr rows x W
 *     columns of accumulators (mr x W/L vectors of L f32 lanes) stay in
 *     registers over all of K; each k step loads W/L vectors of the panel
 *     row (f16/bf16 widened in vector form) and broadcasts mr elements
 *     of a. A last group of fewer than mr rows recomputes the last valid
 *     row in the spare accumulators and does not store them.
 *   - R == 1 (decode): a matrix-vector product streaming the panel
 *     contiguously, with DECODE_UNROLL independent accumulator sets over k
 *     (hides FMA latency), summed in a fixed order at the end.
 * The finished tile goes through the epilogue and is stored: vector
 * stores for a whole panel of an f32 output, element by element for the
 * partial last panel (its padding columns are zero in the blob) or other
 * output dtypes.
 *
 * Plain loops otherwise (b an activation, transpose_a, unpacked params):
 * one iteration is one output row of one batch times CG_MATMUL_COLS
 * columns, each element a dot product in k order; cg_load reads a packed
 * b through its layout.
 *
 * Every output element is computed by the same instructions whichever
 * iteration chunk it falls in, so results do not depend on the thread
 * count; sums are in f32, with FMAs, in a different order than the
 * interpreter (rounding differences only).
 */
#include <stdio.h>

#include "cg_llvm_ops.h"

/* Output columns one plain-loop iteration computes: decode (M = 1) still
 * splits a [1, N] product into N/64 parallel iterations. */
#define CG_MATMUL_COLS 64
/* Independent accumulator sets of the decode matvec: with FMA latency 4
 * and 2 FMA ports, 8 chains in flight keep both busy. */
#define DECODE_UNROLL 4
/* Most accumulator vectors of one micro-kernel (32 vector registers at
 * most; the target's mr x W/L should stay below its register count). */
#define MAX_ACC 32

/* What is known at compile time about one matmul. */
typedef struct {
  const IrOp *op;
  bool ta, tb;
  bool packed;         /* b in panels matching tb: the vector kernels */
  int w;               /* panel width */
  int lanes;           /* f32 lanes of a vector; divides w */
  int nv;              /* vectors across a panel: w / lanes */
  int mr;              /* rows of the micro-kernel */
  int64_t rows_per_it; /* rows of a per iteration (a multiple of mr) */
  bool has_epilogue;
  IrExpr epilogue;
} MatInfo;

/* Run-time sizes. */
typedef struct {
  LLVMValueRef m, n, k;
  LLVMValueRef rows;    /* packed: all rows of a (batch dims flattened) */
  LLVMValueRef npanels; /* packed: ceil(N / w) */
  LLVMValueRef nblk;    /* plain: column blocks of CG_MATMUL_COLS */
} MatShape;

static LLVMValueRef ceil_div(CgLlvm *cg, LLVMValueRef a, int64_t b) {
  return LLVMBuildSDiv(cg->b, cg_iadd(cg, a, cg_i64(cg, b - 1)), cg_i64(cg, b), "");
}

/* ---- what kind of matmul ---- */

static bool is_packed(const IrOp *op, bool ta, bool tb) {
  const IrValue *b = op->in[1];
  if (ta || b->kind != IR_VAL_PARAM || b->layout.panel <= 0 || b->type.rank != 2) return false;
  if (ir_type_const_numel(&b->type) < 0 || b->layout.axis != (tb ? 0 : 1)) return false;
  IrDType t = b->type.dtype;
  return (t == IR_F32 || t == IR_F16 || t == IR_BF16) && op->out[0]->type.dtype != IR_I4;
}

/* Largest power of two <= lanes that divides w. */
static int lanes_for(int w, int lanes) {
  int l = 1;
  while (l * 2 <= lanes && w % (l * 2) == 0) l *= 2;
  return l;
}

static bool mat_info(CgLlvm *cg, const IrOp *op, MatInfo *mi) {
  const KTarget *kt = cg->ktarget ? cg->ktarget : ktarget_default();
  *mi =
      (MatInfo){.op = op, .ta = ir_op_bool(op, "transpose_a"), .tb = ir_op_bool(op, "transpose_b")};
  mi->packed = is_packed(op, mi->ta, mi->tb);
  if (mi->packed) {
    mi->w = op->in[1]->layout.panel;
    mi->lanes = lanes_for(mi->w, kt->f32_lanes > 0 ? kt->f32_lanes : 1);
    mi->nv = mi->w / mi->lanes;
    mi->mr = kt->mr > 0 ? kt->mr : 1;
    while (mi->mr > 1 && mi->mr * mi->nv > MAX_ACC) mi->mr--;
    if (mi->nv * DECODE_UNROLL > MAX_ACC) mi->packed = false; /* a panel wider than 8 vectors */
    mi->rows_per_it = kt->mc >= mi->mr ? kt->mc / mi->mr * mi->mr : mi->mr;
  }
  const char *text = ir_op_str(op, "epilogue", NULL);
  if (!text) return true;
  mi->has_epilogue = true;
  /* operands $2.. only: the verifier checked (ir_shape_matmul_epilogue) */
  return ir_expr_parse(text, true, &mi->epilogue, op->loc, cg->d);
}

/* The last two dims of a type removed: the batch dims. */
static IrType batch_type(const IrType *t) {
  IrType b = *t;
  b.rank = t->rank - 2;
  return b;
}

static MatShape mat_shape(CgLlvm *cg, const MatInfo *mi) {
  const IrType *a = &mi->op->in[0]->type, *o = &mi->op->out[0]->type;
  MatShape s = {0};
  s.m = cg_dim(cg, o->dims[o->rank - 2]);
  s.n = cg_dim(cg, o->dims[o->rank - 1]);
  s.k = cg_dim(cg, a->dims[a->rank - (mi->ta ? 2 : 1)]);
  if (mi->packed) {
    s.rows = cg_numel_range(cg, o, 0, o->rank - 1);
    s.npanels = ceil_div(cg, s.n, mi->w);
  } else {
    s.nblk = ceil_div(cg, s.n, CG_MATMUL_COLS);
  }
  return s;
}

/* ---- vectors ---- */

static LLVMTypeRef vec_f32(CgLlvm *cg, int lanes) {
  return LLVMVectorType(cg->f32, (unsigned)lanes);
}

static LLVMValueRef splat(CgLlvm *cg, LLVMValueRef x, int lanes) {
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)lanes);
  LLVMValueRef v =
      LLVMBuildInsertElement(cg->b, LLVMGetPoison(vt), x, LLVMConstInt(cg->i32, 0, 0), "");
  LLVMValueRef mask = LLVMConstNull(LLVMVectorType(cg->i32, (unsigned)lanes));
  return LLVMBuildShuffleVector(cg->b, v, LLVMGetPoison(vt), mask, "");
}

static LLVMValueRef vec_zero(CgLlvm *cg, int lanes) { return LLVMConstNull(vec_f32(cg, lanes)); }

/* llvm.fma on <lanes x float>: a * b + c with one rounding. */
static LLVMValueRef vfma(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c, int lanes) {
  char name[32];
  snprintf(name, sizeof name, "llvm.fma.v%df32", lanes);
  LLVMTypeRef vt = vec_f32(cg, lanes), params[3] = {vt, vt, vt};
  LLVMTypeRef fty = LLVMFunctionType(vt, params, 3, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
  if (!fn) fn = LLVMAddFunction(cg->mod, name, fty);
  LLVMValueRef args[3] = {a, b, c};
  return LLVMBuildCall2(cg->b, fty, fn, args, 3, "");
}

/* How a float dtype is stored: f32, half, or bf16 as i16 bits. */
static LLVMTypeRef float_storage(CgLlvm *cg, IrDType t) {
  if (t == IR_F16) return LLVMHalfTypeInContext(cg->ctx);
  if (t == IR_BF16) return cg->i16;
  return cg->f32;
}

/* `lanes` consecutive elements of dtype t at base[idx], as <lanes x float>:
 * f16 widens exactly (vcvtph2ps), bf16 bits shift into the top half. */
static LLVMValueRef load_vec(CgLlvm *cg, IrDType t, LLVMValueRef base, LLVMValueRef idx,
                             int lanes) {
  LLVMTypeRef st = float_storage(cg, t), vt = LLVMVectorType(st, (unsigned)lanes);
  LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, st, base, &idx, 1, "");
  LLVMValueRef x = LLVMBuildLoad2(cg->b, vt, p, "");
  LLVMSetAlignment(x, (unsigned)(ir_dtype_bits(t) / 8));
  if (t == IR_F16) return LLVMBuildFPExt(cg->b, x, vec_f32(cg, lanes), "");
  if (t != IR_BF16) return x;
  LLVMTypeRef vi = LLVMVectorType(cg->i32, (unsigned)lanes);
  LLVMValueRef w = LLVMBuildZExt(cg->b, x, vi, "");
  w = LLVMBuildShl(cg->b, w, splat(cg, LLVMConstInt(cg->i32, 16, 0), lanes), "");
  return LLVMBuildBitCast(cg->b, w, vec_f32(cg, lanes), "");
}

static LLVMValueRef scratch_ptr(CgLlvm *cg, LLVMValueRef scratch, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(cg->b, cg->f32, scratch, &idx, 1, "");
}

static void store_vec_f32(CgLlvm *cg, LLVMValueRef p, LLVMValueRef x) {
  LLVMSetAlignment(LLVMBuildStore(cg->b, x, p), 4);
}

static LLVMValueRef load_vec_f32(CgLlvm *cg, LLVMValueRef p, int lanes) {
  LLVMValueRef x = LLVMBuildLoad2(cg->b, vec_f32(cg, lanes), p, "");
  LLVMSetAlignment(x, 4);
  return x;
}

/* ---- epilogue ---- */

/* Where the element(s) being finished lie: linear index `lin` of the
 * output (row * N + col), and `lanes` consecutive columns (0: a scalar). */
typedef struct {
  const MatInfo *mi;
  LLVMValueRef lin, col;
  int lanes;
} EpiAt;

static LLVMValueRef to_f32(CgLlvm *cg, const IrValue *v, LLVMValueRef x) {
  return ir_dtype_is_float(v->type.dtype) ? x : LLVMBuildSIToFP(cg->b, x, cg->f32, "");
}

/* $i for the element(s) at `at`: the operand broadcast to the output. */
static LLVMValueRef epilogue_operand(CgLlvm *cg, void *user, int i) {
  const EpiAt *at = user;
  const IrValue *v = at->mi->op->in[i];
  const IrType *o = &at->mi->op->out[0]->type, *t = &v->type;
  IrDType dt = t->dtype;
  bool packed = v->kind == IR_VAL_PARAM && v->layout.panel > 0; /* read through cg_load */
  bool vec_ok = (dt == IR_F32 || dt == IR_F16 || dt == IR_BF16) && !packed;
  int64_t numel = ir_type_const_numel(t);
  const IrDim *n = &o->dims[o->rank - 1];
  bool row_vector = t->rank >= 1 && ir_dim_is_const(*n) && numel == n->c &&
                    ir_dim_is_const(t->dims[t->rank - 1]) && t->dims[t->rank - 1].c == n->c;
  if (at->lanes && vec_ok && (ir_shape_eq(o, t) || row_vector))
    return load_vec(cg, dt, cg_buffer_base(cg, v), ir_shape_eq(o, t) ? at->lin : at->col,
                    at->lanes);
  if (at->lanes && numel == 1)
    return splat(cg, to_f32(cg, v, cg_load(cg, v, cg_i64(cg, 0))), at->lanes);
  if (!at->lanes) return to_f32(cg, v, cg_load(cg, v, cg_broadcast_index(cg, o, t, at->lin)));
  LLVMValueRef r = LLVMGetPoison(vec_f32(cg, at->lanes));
  for (int j = 0; j < at->lanes; j++) {
    LLVMValueRef idx = cg_broadcast_index(cg, o, t, cg_iadd(cg, at->lin, cg_i64(cg, j)));
    r = LLVMBuildInsertElement(cg->b, r, to_f32(cg, v, cg_load(cg, v, idx)),
                               LLVMConstInt(cg->i32, (unsigned)j, 0), "");
  }
  return r;
}

/* The finished accumulator x (scalar or vector) through the epilogue. */
static LLVMValueRef finish(CgLlvm *cg, const MatInfo *mi, LLVMValueRef x, LLVMValueRef lin,
                           LLVMValueRef col, int lanes) {
  if (!mi->has_epilogue || !x) return x;
  EpiAt at = {mi, lin, col, lanes};
  return cg_expr_emit(cg, &mi->epilogue, x, epilogue_operand, &at);
}

/* ---- packed: storing a finished tile ---- */

/* A tile of nrows x w accumulators in `scratch` (row stride w) for rows
 * [row0, row0 + nrows) and panel p goes to the output. */
static bool store_tile(CgLlvm *cg, const MatInfo *mi, const MatShape *s, LLVMValueRef scratch,
                       LLVMValueRef row0, LLVMValueRef nrows, LLVMValueRef p) {
  const IrValue *out = mi->op->out[0];
  LLVMValueRef col0 = cg_imul(cg, p, cg_i64(cg, mi->w));
  LLVMValueRef ncols = cg_smin(cg, cg_i64(cg, mi->w), LLVMBuildNSWSub(cg->b, s->n, col0, ""));
  CgLoop r = cg_loop_begin(cg, cg_i64(cg, 0), nrows, "tile_row");
  LLVMValueRef lin0 = cg_iadd(cg, cg_imul(cg, cg_iadd(cg, row0, r.iv), s->n), col0);
  LLVMValueRef srow = cg_imul(cg, r.iv, cg_i64(cg, mi->w));
  CgIf whole = {0};
  bool vector = out->type.dtype == IR_F32;
  if (vector) {
    whole = cg_if_begin(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, ncols, cg_i64(cg, mi->w), ""), "whole");
    LLVMValueRef obase = cg_buffer_base(cg, out);
    for (int v = 0; v < mi->nv; v++) {
      LLVMValueRef off = cg_i64(cg, v * mi->lanes);
      LLVMValueRef x =
          load_vec_f32(cg, scratch_ptr(cg, scratch, cg_iadd(cg, srow, off)), mi->lanes);
      LLVMValueRef lin = cg_iadd(cg, lin0, off);
      x = finish(cg, mi, x, lin, cg_iadd(cg, col0, off), mi->lanes);
      if (!x) return false;
      store_vec_f32(cg, LLVMBuildInBoundsGEP2(cg->b, cg->f32, obase, &lin, 1, ""), x);
    }
    cg_if_else(cg, &whole);
  }
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), ncols, "tile_col");
  LLVMValueRef x =
      LLVMBuildLoad2(cg->b, cg->f32, scratch_ptr(cg, scratch, cg_iadd(cg, srow, c.iv)), "");
  LLVMValueRef lin = cg_iadd(cg, lin0, c.iv);
  x = finish(cg, mi, x, lin, cg_iadd(cg, col0, c.iv), 0);
  if (!x) return false;
  cg_store(cg, out, lin, x);
  cg_loop_end(cg, &c);
  if (vector) cg_if_end(cg, &whole);
  cg_loop_end(cg, &r);
  return true;
}

/* Element index of panel p's row k in b's storage: p * K * w + k * w. */
static LLVMValueRef panel_row(CgLlvm *cg, const MatInfo *mi, const MatShape *s, LLVMValueRef p,
                              LLVMValueRef k) {
  return cg_imul(cg, cg_iadd(cg, cg_imul(cg, p, s->k), k), cg_i64(cg, mi->w));
}

/* Accumulator variables: n vectors of lanes f32, set to zero here. */
static void zero_accs(CgLlvm *cg, LLVMValueRef *acc, int n, int lanes) {
  for (int i = 0; i < n; i++) {
    acc[i] = cg_var(cg, vec_f32(cg, lanes), "acc");
    LLVMBuildStore(cg->b, vec_zero(cg, lanes), acc[i]);
  }
}

/* acc[v] += splat(a) * b-panel row at element index `brow`, v < nv. */
static void fma_row(CgLlvm *cg, const MatInfo *mi, LLVMValueRef a, LLVMValueRef *bv,
                    LLVMValueRef *acc) {
  LLVMValueRef as = splat(cg, a, mi->lanes);
  LLVMTypeRef vt = vec_f32(cg, mi->lanes);
  for (int v = 0; v < mi->nv; v++) {
    LLVMValueRef old = LLVMBuildLoad2(cg->b, vt, acc[v], "");
    LLVMBuildStore(cg->b, vfma(cg, as, bv[v], old, mi->lanes), acc[v]);
  }
}

static void load_panel_row(CgLlvm *cg, const MatInfo *mi, LLVMValueRef bbase, LLVMValueRef brow,
                           LLVMValueRef *bv) {
  for (int v = 0; v < mi->nv; v++)
    bv[v] = load_vec(cg, mi->op->in[1]->type.dtype, bbase,
                     cg_iadd(cg, brow, cg_i64(cg, v * mi->lanes)), mi->lanes);
}

/* Copies nacc accumulator vectors (row-major tile) into scratch. */
static void spill(CgLlvm *cg, const MatInfo *mi, LLVMValueRef *acc, int nacc,
                  LLVMValueRef scratch) {
  for (int i = 0; i < nacc; i++) {
    LLVMValueRef x = LLVMBuildLoad2(cg->b, vec_f32(cg, mi->lanes), acc[i], "");
    store_vec_f32(cg, scratch_ptr(cg, scratch, cg_i64(cg, i * mi->lanes)), x);
  }
}

/* ---- packed: the micro-kernel (R > 1) ---- */

/* Rows [g0, g0 + mr) clamped to the last row times panel p. */
static bool micro_kernel(CgLlvm *cg, const MatInfo *mi, const MatShape *s, LLVMValueRef g0,
                         LLVMValueRef p, LLVMValueRef scratch) {
  const IrValue *a = mi->op->in[0];
  int mr = mi->mr, nacc = mr * mi->nv;
  LLVMValueRef acc[MAX_ACC], arow[MAX_ACC], bv[MAX_ACC];
  LLVMValueRef last = LLVMBuildNSWSub(cg->b, s->rows, cg_i64(cg, 1), "");
  for (int r = 0; r < mr; r++)
    arow[r] = cg_imul(cg, cg_smin(cg, cg_iadd(cg, g0, cg_i64(cg, r)), last), s->k);
  zero_accs(cg, acc, nacc, mi->lanes);
  LLVMValueRef bbase = cg_buffer_base(cg, mi->op->in[1]);
  CgLoop k = cg_loop_begin(cg, cg_i64(cg, 0), s->k, "k");
  load_panel_row(cg, mi, bbase, panel_row(cg, mi, s, p, k.iv), bv);
  for (int r = 0; r < mr; r++)
    fma_row(cg, mi, cg_load(cg, a, cg_iadd(cg, arow[r], k.iv)), bv, &acc[r * mi->nv]);
  cg_loop_end(cg, &k);
  spill(cg, mi, acc, nacc, scratch);
  LLVMValueRef nrows = cg_smin(cg, cg_i64(cg, mr), LLVMBuildNSWSub(cg->b, s->rows, g0, ""));
  return store_tile(cg, mi, s, scratch, g0, nrows, p);
}

/* ---- packed: the decode matvec (R == 1) ---- */

static bool matvec(CgLlvm *cg, const MatInfo *mi, const MatShape *s, LLVMValueRef p,
                   LLVMValueRef scratch) {
  const IrValue *a = mi->op->in[0];
  int nv = mi->nv, nacc = DECODE_UNROLL * nv;
  LLVMValueRef acc[MAX_ACC], bv[MAX_ACC];
  zero_accs(cg, acc, nacc, mi->lanes);
  LLVMValueRef bbase = cg_buffer_base(cg, mi->op->in[1]);
  LLVMValueRef steps = LLVMBuildSDiv(cg->b, s->k, cg_i64(cg, DECODE_UNROLL), "");
  CgLoop k = cg_loop_begin(cg, cg_i64(cg, 0), steps, "k");
  LLVMValueRef k0 = cg_imul(cg, k.iv, cg_i64(cg, DECODE_UNROLL));
  for (int u = 0; u < DECODE_UNROLL; u++) {
    LLVMValueRef ku = cg_iadd(cg, k0, cg_i64(cg, u));
    load_panel_row(cg, mi, bbase, panel_row(cg, mi, s, p, ku), bv);
    fma_row(cg, mi, cg_load(cg, a, ku), bv, &acc[u * nv]);
  }
  cg_loop_end(cg, &k);
  CgLoop t = cg_loop_begin(cg, cg_imul(cg, steps, cg_i64(cg, DECODE_UNROLL)), s->k, "k_tail");
  load_panel_row(cg, mi, bbase, panel_row(cg, mi, s, p, t.iv), bv);
  fma_row(cg, mi, cg_load(cg, a, t.iv), bv, acc);
  cg_loop_end(cg, &t);
  /* (set0 + set1) + (set2 + set3), lane by lane */
  LLVMTypeRef vt = vec_f32(cg, mi->lanes);
  for (int v = 0; v < nv; v++) {
    LLVMValueRef x[DECODE_UNROLL];
    for (int u = 0; u < DECODE_UNROLL; u++) x[u] = LLVMBuildLoad2(cg->b, vt, acc[u * nv + v], "");
    for (int step = 1; step < DECODE_UNROLL; step *= 2)
      for (int u = 0; u + step < DECODE_UNROLL; u += 2 * step)
        x[u] = LLVMBuildFAdd(cg->b, x[u], x[u + step], "");
    store_vec_f32(cg, scratch_ptr(cg, scratch, cg_i64(cg, v * mi->lanes)), x[0]);
  }
  return store_tile(cg, mi, s, scratch, cg_i64(cg, 0), cg_i64(cg, 1), p);
}

/* ---- packed: iterations ---- */

/* One iteration: rows_per_it rows of a times one panel. */
static LLVMValueRef packed_iterations(CgLlvm *cg, const MatInfo *mi, const MatShape *s) {
  return cg_imul(cg, ceil_div(cg, s->rows, mi->rows_per_it), s->npanels);
}

static bool emit_packed(CgLlvm *cg, const MatInfo *mi, LLVMValueRef begin, LLVMValueRef end) {
  MatShape s = mat_shape(cg, mi);
  LLVMValueRef scratch = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)(mi->mr * mi->w)), "tile");
  CgLoop it = cg_loop_begin(cg, begin, end, "it");
  LLVMValueRef p = LLVMBuildSRem(cg->b, it.iv, s.npanels, "");
  LLVMValueRef r0 =
      cg_imul(cg, LLVMBuildSDiv(cg->b, it.iv, s.npanels, ""), cg_i64(cg, mi->rows_per_it));
  CgIf one = cg_if_begin(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, s.rows, cg_i64(cg, 1), ""), "decode");
  if (!matvec(cg, mi, &s, p, scratch)) return false;
  cg_if_else(cg, &one);
  LLVMValueRef r1 = cg_smin(cg, cg_iadd(cg, r0, cg_i64(cg, mi->rows_per_it)), s.rows);
  LLVMValueRef groups = ceil_div(cg, LLVMBuildNSWSub(cg->b, r1, r0, ""), mi->mr);
  CgLoop g = cg_loop_begin(cg, cg_i64(cg, 0), groups, "group");
  if (!micro_kernel(cg, mi, &s, cg_iadd(cg, r0, cg_imul(cg, g.iv, cg_i64(cg, mi->mr))), p, scratch))
    return false;
  cg_loop_end(cg, &g);
  cg_if_end(cg, &one);
  cg_loop_end(cg, &it);
  return true;
}

/* ---- plain loops ---- */

/* One iteration: one output row of one batch, one block of columns. */
static LLVMValueRef plain_iterations(CgLlvm *cg, const IrOp *op, const MatShape *s) {
  const IrType *o = &op->out[0]->type;
  return cg_imul(cg, cg_imul(cg, cg_numel_range(cg, o, 0, o->rank - 2), s->m), s->nblk);
}

/* Element offsets of a[i, p] and b[p, j] given the batch offsets. */
static LLVMValueRef a_index(CgLlvm *cg, const MatInfo *mi, const MatShape *s, LLVMValueRef off,
                            LLVMValueRef i, LLVMValueRef p) {
  return cg_iadd(cg, off,
                 mi->ta ? cg_iadd(cg, cg_imul(cg, p, s->m), i)
                        : cg_iadd(cg, cg_imul(cg, i, s->k), p));
}

/* Logical (row-major) indices: cg_load maps a param stored in panels
 * (a packed b the vector kernels do not take, e.g. with transpose_a). */
static LLVMValueRef b_index(CgLlvm *cg, const MatInfo *mi, const MatShape *s, LLVMValueRef off,
                            LLVMValueRef p, LLVMValueRef j) {
  return cg_iadd(cg, off,
                 mi->tb ? cg_iadd(cg, cg_imul(cg, j, s->k), p)
                        : cg_iadd(cg, cg_imul(cg, p, s->n), j));
}

typedef struct {
  LLVMValueRef a_off, b_off, o_row, i, j0, width;
} MatTile;

static LLVMValueRef fast_mul(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return cg_fast(LLVMBuildFMul(cg->b, a, b, ""));
}

/* Output element o_row + col gets x through the epilogue. */
static bool store_element(CgLlvm *cg, const MatInfo *mi, const MatTile *t, LLVMValueRef col,
                          LLVMValueRef x) {
  LLVMValueRef lin = cg_iadd(cg, t->o_row, col);
  x = finish(cg, mi, x, lin, col, 0);
  if (x) cg_store(cg, mi->op->out[0], lin, x);
  return x != NULL;
}

/* b stored [N, K]: each column is a contiguous dot product over K. */
static bool matmul_dots(CgLlvm *cg, const MatInfo *mi, const MatShape *s, const MatTile *t) {
  const IrOp *op = mi->op;
  LLVMValueRef acc = cg_var(cg, cg->f32, "acc");
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), t->width, "j");
  LLVMValueRef col = cg_iadd(cg, t->j0, j.iv);
  LLVMBuildStore(cg->b, cg_f32(cg, 0.0), acc);
  CgLoop p = cg_loop_begin(cg, cg_i64(cg, 0), s->k, "p");
  LLVMValueRef av = cg_load(cg, op->in[0], a_index(cg, mi, s, t->a_off, t->i, p.iv));
  LLVMValueRef bv = cg_load(cg, op->in[1], b_index(cg, mi, s, t->b_off, p.iv, col));
  cg_accumulate(cg, acc, fast_mul(cg, av, bv));
  cg_loop_end(cg, &p);
  if (!store_element(cg, mi, t, col, LLVMBuildLoad2(cg->b, cg->f32, acc, ""))) return false;
  cg_loop_end(cg, &j);
  return true;
}

/* b stored [K, N]: rows of b are contiguous, so the block's columns
 * accumulate side by side in a scratch row, each in k order. */
static bool matmul_rows(CgLlvm *cg, const MatInfo *mi, const MatShape *s, const MatTile *t) {
  const IrOp *op = mi->op;
  LLVMValueRef acc = cg_var(cg, LLVMArrayType2(cg->f32, CG_MATMUL_COLS), "acc");
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), t->width, "zero");
  LLVMBuildStore(cg->b, cg_f32(cg, 0.0), scratch_ptr(cg, acc, z.iv));
  cg_loop_end(cg, &z);
  CgLoop p = cg_loop_begin(cg, cg_i64(cg, 0), s->k, "p");
  LLVMValueRef av = cg_load(cg, op->in[0], a_index(cg, mi, s, t->a_off, t->i, p.iv));
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), t->width, "j");
  LLVMValueRef bv =
      cg_load(cg, op->in[1], b_index(cg, mi, s, t->b_off, p.iv, cg_iadd(cg, t->j0, j.iv)));
  cg_accumulate(cg, scratch_ptr(cg, acc, j.iv), fast_mul(cg, av, bv));
  cg_loop_end(cg, &j);
  cg_loop_end(cg, &p);
  CgLoop w = cg_loop_begin(cg, cg_i64(cg, 0), t->width, "store");
  LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->f32, scratch_ptr(cg, acc, w.iv), "");
  if (!store_element(cg, mi, t, cg_iadd(cg, t->j0, w.iv), v)) return false;
  cg_loop_end(cg, &w);
  return true;
}

static bool emit_plain(CgLlvm *cg, const MatInfo *mi, LLVMValueRef begin, LLVMValueRef end) {
  const IrOp *op = mi->op;
  const IrType *o = &op->out[0]->type;
  IrType ob = batch_type(o), ab = batch_type(&op->in[0]->type), bb = batch_type(&op->in[1]->type);
  MatShape s = mat_shape(cg, mi);
  CgLoop it = cg_loop_begin(cg, begin, end, "it");
  LLVMValueRef jb = LLVMBuildSRem(cg->b, it.iv, s.nblk, "");
  LLVMValueRef row = LLVMBuildSDiv(cg->b, it.iv, s.nblk, ""); /* batch * M + i */
  LLVMValueRef bt = LLVMBuildSDiv(cg->b, row, s.m, "");
  MatTile t;
  t.i = LLVMBuildSRem(cg->b, row, s.m, "");
  t.a_off = cg_imul(cg, cg_broadcast_index(cg, &ob, &ab, bt), cg_imul(cg, s.m, s.k));
  t.b_off = cg_imul(cg, cg_broadcast_index(cg, &ob, &bb, bt), cg_imul(cg, s.k, s.n));
  t.o_row = cg_imul(cg, row, s.n);
  t.j0 = cg_imul(cg, jb, cg_i64(cg, CG_MATMUL_COLS));
  t.width = cg_smin(cg, cg_i64(cg, CG_MATMUL_COLS), LLVMBuildNSWSub(cg->b, s.n, t.j0, ""));
  if (!(mi->tb ? matmul_dots(cg, mi, &s, &t) : matmul_rows(cg, mi, &s, &t))) return false;
  cg_loop_end(cg, &it);
  return true;
}

/* ---- the emitter ---- */

static LLVMValueRef matmul_iterations(CgLlvm *cg, const IrOp *op) {
  MatInfo mi;
  IrDiag quiet = {0};
  IrDiag *d = cg->d;
  cg->d = &quiet; /* epilogue errors are reported by emit_matmul */
  mat_info(cg, op, &mi);
  cg->d = d;
  MatShape s = mat_shape(cg, &mi);
  return mi.packed ? packed_iterations(cg, &mi, &s) : plain_iterations(cg, op, &s);
}

static bool emit_matmul(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  MatInfo mi;
  if (!mat_info(cg, op, &mi)) return false;
  return mi.packed ? emit_packed(cg, &mi, begin, end) : emit_plain(cg, &mi, begin, end);
}

const CgOpEmitter cg_matmul_emitter = {IR_OP_MATMUL, matmul_iterations, emit_matmul};
