/* cg_llvm_ops_attn.c: the attention family: rope, softmax and the fused
 * attention op. Their emitters are listed in cg_llvm_ops_nn.c.
 *
 * rope: one row an iteration; the frequencies are constants computed at
 * compile time in f64 with the interpreter's formula, the angle and its
 * cos/sin in f64 (llvm.cos/llvm.sin: libm's cos and sin, as the
 * interpreter calls), the rotation in f32: bit-identical to the
 * interpreter.
 * softmax: one row (any axis) an iteration; max, then exp and sum, then
 * the division. A row that is all -inf gives zeros.
 * attention: FlashAttention-2. One (batch, head, block of attn_block_q
 * query rows) an iteration; the keys in blocks of attn_block_kv, each row
 * of the tile updating its running max m, sum l and output accumulator O
 * (rescaled by e^(m_old - m_new) when the max grows); O / l at the end.
 * Only keys some row of the tile sees are visited, and each row only its
 * own; scratch is one tile, never T x S (docs/codegen.md).
 * attention_split: the same tile per (batch, chunk, head) over the
 * chunk's keys, writing O / l and m + log l; attention_merge: one
 * (batch, head, query) row an iteration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_llvm_ops.h"

static LLVMValueRef load_f32(CgLlvm *cg, LLVMValueRef ptr) {
  return LLVMBuildLoad2(cg->b, cg->f32, ptr, "");
}

/* &array[i] of a scratch array of f32 (or f64). */
static LLVMValueRef elem(CgLlvm *cg, LLVMTypeRef t, LLVMValueRef array, LLVMValueRef i) {
  return LLVMBuildInBoundsGEP2(cg->b, t, array, &i, 1, "");
}

static LLVMValueRef update_max(CgLlvm *cg, LLVMValueRef mx, LLVMValueRef x) {
  LLVMBuildStore(cg->b, cg_call_f32_2(cg, "llvm.maximum", load_f32(cg, mx), x), mx);
  return mx;
}

static LLVMValueRef rows_of(CgLlvm *cg, const IrType *t) {
  return cg_numel_range(cg, t, 0, t->rank - 1);
}

static LLVMValueRef rows_of_input(CgLlvm *cg, const IrOp *op) {
  return rows_of(cg, &op->in[0]->type);
}

/* ---- rope ---- */

/* inv_freq[i] = theta^(-2i/r), scaled as docs/ir.md says: the same
 * expression, in the same order, as the interpreter's. */
static double rope_inv_freq(const IrOp *op, int64_t i, int64_t rotary_dim) {
  double theta = ir_op_float(op, "theta", 10000.0), factor = ir_op_float(op, "factor", 1);
  double low = ir_op_float(op, "low_freq_factor", 1), high = ir_op_float(op, "high_freq_factor", 4);
  double orig = (double)ir_op_int(op, "original_max_position", 8192);
  const char *scaling = ir_op_str(op, "scaling", "none");
  double f = pow(theta, -2.0 * (double)i / (double)rotary_dim);
  if (strcmp(scaling, "linear") == 0) return f / factor;
  if (strcmp(scaling, "llama3") != 0) return f;
  double wavelen = 2 * M_PI / f;
  if (wavelen < orig / high) return f;
  if (wavelen > orig / low) return f / factor;
  double s = (orig / wavelen - low) / (high - low);
  return (1 - s) * f / factor + s * f;
}

/* The frequencies as a private constant global [half x double]. */
static LLVMValueRef inv_freq_table(CgLlvm *cg, const IrOp *op, int64_t rotary_dim) {
  int64_t half = rotary_dim / 2;
  LLVMValueRef *vals = calloc((size_t)half, sizeof *vals);
  if (!vals) abort(); /* out of memory */
  for (int64_t i = 0; i < half; i++) vals[i] = cg_f64(cg, rope_inv_freq(op, i, rotary_dim));
  LLVMValueRef init = LLVMConstArray2(cg->f64, vals, (uint64_t)half);
  free(vals);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), "rope.inv_freq");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

/* cos and sin of pos * inv_freq[i] for i < half, into two f32 arrays. */
static void rope_angles(CgLlvm *cg, LLVMValueRef table, LLVMValueRef pos, int64_t half,
                        LLVMValueRef cs, LLVMValueRef sn) {
  LLVMValueRef p = LLVMBuildSIToFP(cg->b, pos, cg->f64, "");
  CgLoop i = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, half), "freq");
  LLVMValueRef f = LLVMBuildLoad2(cg->b, cg->f64, elem(cg, cg->f64, table, i.iv), "");
  LLVMValueRef a = LLVMBuildFMul(cg->b, p, f, "");
  LLVMBuildStore(cg->b, LLVMBuildFPTrunc(cg->b, cg_call_f64(cg, "llvm.cos", a), cg->f32, ""),
                 elem(cg, cg->f32, cs, i.iv));
  LLVMBuildStore(cg->b, LLVMBuildFPTrunc(cg->b, cg_call_f64(cg, "llvm.sin", a), cg->f32, ""),
                 elem(cg, cg->f32, sn, i.iv));
  cg_loop_end(cg, &i);
}

/* Rotates the pairs of one head starting at element `base`, then copies
 * the lanes past rotary_dim. */
static void rope_head(CgLlvm *cg, const IrOp *op, LLVMValueRef base, int64_t head_dim,
                      int64_t rotary_dim, LLVMValueRef cs, LLVMValueRef sn) {
  const IrValue *x = op->in[0], *out = op->out[0];
  bool interleaved = strcmp(ir_op_str(op, "pairing", "half"), "interleaved") == 0;
  int64_t half = rotary_dim / 2;
  CgLoop i = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, half), "pair");
  LLVMValueRef i0 = interleaved ? cg_imul(cg, i.iv, cg_i64(cg, 2)) : i.iv;
  LLVMValueRef i1 = cg_iadd(cg, i0, cg_i64(cg, interleaved ? 1 : half));
  i0 = cg_iadd(cg, base, i0);
  i1 = cg_iadd(cg, base, i1);
  LLVMValueRef x0 = cg_load(cg, x, i0), x1 = cg_load(cg, x, i1);
  LLVMValueRef c = load_f32(cg, elem(cg, cg->f32, cs, i.iv)),
               s = load_f32(cg, elem(cg, cg->f32, sn, i.iv));
  LLVMBuilderRef b = cg->b;
  cg_store(cg, out, i0,
           LLVMBuildFSub(b, LLVMBuildFMul(b, x0, c, ""), LLVMBuildFMul(b, x1, s, ""), ""));
  cg_store(cg, out, i1,
           LLVMBuildFAdd(b, LLVMBuildFMul(b, x1, c, ""), LLVMBuildFMul(b, x0, s, ""), ""));
  cg_loop_end(cg, &i);
  CgLoop rest = cg_loop_begin(cg, cg_i64(cg, rotary_dim), cg_i64(cg, head_dim), "pass");
  cg_copy(cg, out, cg_iadd(cg, base, rest.iv), x, cg_iadd(cg, base, rest.iv));
  cg_loop_end(cg, &rest);
}

static bool emit_rope(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrType *t = &op->in[0]->type;
  int64_t head_dim = ir_op_int(op, "head_dim", 0);
  int64_t rotary_dim = ir_op_int(op, "rotary_dim", head_dim);
  if (head_dim < 1 || rotary_dim < 2 || rotary_dim % 2 || rotary_dim > head_dim)
    return ir_error(cg->d, op->loc, "rope: rotary_dim %lld must be even and in [2, head_dim %lld]",
                    (long long)rotary_dim, (long long)head_dim);
  int64_t half = rotary_dim / 2;
  LLVMValueRef table = inv_freq_table(cg, op, rotary_dim);
  LLVMValueRef cs = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)half), "cos");
  LLVMValueRef sn = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)half), "sin");
  LLVMValueRef n = cg_dim(cg, t->dims[t->rank - 1]), tlen = cg_dim(cg, t->dims[t->rank - 2]);
  LLVMValueRef heads = LLVMBuildSDiv(cg->b, n, cg_i64(cg, head_dim), "");
  CgLoop row = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef pos = cg_load(cg, op->in[1], LLVMBuildSRem(cg->b, row.iv, tlen, ""));
  rope_angles(cg, table, pos, half, cs, sn);
  CgLoop h = cg_loop_begin(cg, cg_i64(cg, 0), heads, "head");
  rope_head(cg, op, cg_iadd(cg, cg_imul(cg, row.iv, n), cg_imul(cg, h.iv, cg_i64(cg, head_dim))),
            head_dim, rotary_dim, cs, sn);
  cg_loop_end(cg, &h);
  cg_loop_end(cg, &row);
  return true;
}

/* ---- softmax ---- */

static CgAxisSplit softmax_split(CgLlvm *cg, const IrOp *op) {
  const IrType *t = &op->in[0]->type;
  return cg_axis_split(cg, t, cg_axis(ir_op_int(op, "axis", -1), t->rank));
}

static LLVMValueRef softmax_iterations(CgLlvm *cg, const IrOp *op) {
  CgAxisSplit s = softmax_split(cg, op);
  return cg_imul(cg, s.outer, s.inner);
}

/* exp(x[idx] - mx) */
static LLVMValueRef shifted_exp(CgLlvm *cg, const IrValue *x, LLVMValueRef idx, LLVMValueRef mx) {
  return cg_call_f32(cg, "llvm.exp", LLVMBuildFSub(cg->b, cg_load(cg, x, idx), mx, ""));
}

/* The row is elements base + j*stride, j < len. An f32 result keeps the
 * exponentials in the output between the passes; a narrower one
 * recomputes them, so the division sees the unrounded values, as in the
 * interpreter. */
static void softmax_row(CgLlvm *cg, const IrOp *op, LLVMValueRef base, LLVMValueRef stride,
                        LLVMValueRef len) {
  const IrValue *x = op->in[0], *out = op->out[0];
  bool keep = out->type.dtype == IR_F32;
  LLVMValueRef mx = cg_f32_var(cg, -INFINITY, "max");
  CgLoop j = cg_loop_begin(cg, cg_i64(cg, 0), len, "max");
  update_max(cg, mx, cg_load(cg, x, cg_iadd(cg, base, cg_imul(cg, j.iv, stride))));
  cg_loop_end(cg, &j);
  LLVMValueRef m = load_f32(cg, mx);
  CgIf masked =
      cg_if_begin(cg, LLVMBuildFCmp(cg->b, LLVMRealOEQ, m, cg_f32(cg, -INFINITY), ""), "masked");
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), len, "zero");
  cg_store(cg, out, cg_iadd(cg, base, cg_imul(cg, z.iv, stride)), cg_f32(cg, 0.0));
  cg_loop_end(cg, &z);
  cg_if_else(cg, &masked);
  LLVMValueRef sum = cg_f32_var(cg, 0.0, "sum");
  CgLoop e = cg_loop_begin(cg, cg_i64(cg, 0), len, "exp");
  LLVMValueRef idx = cg_iadd(cg, base, cg_imul(cg, e.iv, stride)), v = shifted_exp(cg, x, idx, m);
  cg_accumulate(cg, sum, v);
  if (keep) cg_store(cg, out, idx, v);
  cg_loop_end(cg, &e);
  LLVMValueRef total = load_f32(cg, sum);
  CgLoop d = cg_loop_begin(cg, cg_i64(cg, 0), len, "div");
  idx = cg_iadd(cg, base, cg_imul(cg, d.iv, stride));
  v = keep ? cg_load(cg, out, idx) : shifted_exp(cg, x, idx, m);
  cg_store(cg, out, idx, LLVMBuildFDiv(cg->b, v, total, ""));
  cg_loop_end(cg, &d);
  cg_if_end(cg, &masked);
}

static bool emit_softmax(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  CgAxisSplit s = softmax_split(cg, op);
  CgLoop it = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef a = LLVMBuildSDiv(cg->b, it.iv, s.inner, ""),
               c = LLVMBuildSRem(cg->b, it.iv, s.inner, "");
  softmax_row(cg, op, cg_iadd(cg, cg_imul(cg, cg_imul(cg, a, s.len), s.inner), c), s.inner, s.len);
  cg_loop_end(cg, &it);
  return true;
}

/* ---- attention: the FlashAttention-2 kernel ---- */

/* One attention (or attention_split) op being emitted: shapes, masks,
 * this iteration's head, the scratch of one iteration and the vector
 * widths. q, k, v are [B.., Hq|Hkv, T|S, D|Dv]; D and Dv are constants. */
typedef struct {
  const IrOp *op;
  const IrValue *q, *k, *v;
  int64_t d, dv;  /* head dims */
  int wd, wv;     /* vector widths for D and Dv (see vector_width) */
  int wmax;       /* vector width of the max over a block of scores: f32_lanes */
  int64_t bq, bk; /* query rows per tile, keys per block */
  int64_t window;
  bool causal;
  LLVMValueRef hq, hkv, group, t, s, off; /* run-time: heads, T, S, position of query row 0 */
  LLVMValueRef scale;
  LLVMValueRef q_base, k_base, v_base; /* element offsets of this head's row 0 */
  /* scratch: sc [bk] scores (then weights) of one row; oacc [bq][dv]
   * unnormalized outputs; m, l [bq] running max and sum; orow one row of
   * O as dv/wv vectors (constant indices, so SROA keeps it in registers) */
  LLVMValueRef sc, oacc, m, l, orow;
} Flash;

/* The widest power of two <= lanes that divides n: (64, 16) -> 16,
 * (6, 16) -> 2, (7, 8) -> 1. No remainder loops this way. */
static int vector_width(int64_t n, int lanes) {
  int w = lanes > 0 ? lanes : 1;
  while (w > 1 && n % w) w /= 2;
  return w;
}

static LLVMTypeRef vec_t(CgLlvm *cg, int w) { return LLVMVectorType(cg->f32, (unsigned)w); }

static LLVMValueRef splat(CgLlvm *cg, LLVMValueRef x, int w) {
  LLVMValueRef v = LLVMBuildInsertElement(cg->b, LLVMGetUndef(vec_t(cg, w)), x, cg_i64(cg, 0), "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(cg->i32, (unsigned)w));
  return LLVMBuildShuffleVector(cg->b, v, LLVMGetUndef(vec_t(cg, w)), zeros, "");
}

static LLVMTypeRef storage_t(CgLlvm *cg, IrDType t) {
  return t == IR_F32 ? cg->f32 : t == IR_F16 ? LLVMHalfTypeInContext(cg->ctx) : cg->i16;
}

/* w consecutive elements of float value v from element idx, as <w x float>. */
static LLVMValueRef vload(CgLlvm *cg, const IrValue *v, LLVMValueRef idx, int w) {
  IrDType t = v->type.dtype;
  LLVMTypeRef et = storage_t(cg, t);
  LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, et, cg_buffer_base(cg, v), &idx, 1, "");
  LLVMValueRef x = LLVMBuildLoad2(cg->b, LLVMVectorType(et, (unsigned)w), p, "");
  LLVMSetAlignment(x, t == IR_F32 ? 4 : 2);
  if (t == IR_F32) return x;
  if (t == IR_F16) return LLVMBuildFPExt(cg->b, x, vec_t(cg, w), "");
  /* bf16: its bits are the top half of the f32's */
  LLVMTypeRef iv = LLVMVectorType(cg->i32, (unsigned)w);
  LLVMValueRef wide = LLVMBuildZExt(cg->b, x, iv, "");
  LLVMValueRef sixteen = LLVMConstInt(cg->i32, 16, 0);
  LLVMValueRef shift = LLVMBuildShuffleVector(
      cg->b, LLVMBuildInsertElement(cg->b, LLVMGetUndef(iv), sixteen, cg_i64(cg, 0), ""),
      LLVMGetUndef(iv), LLVMConstNull(iv), "");
  return LLVMBuildBitCast(cg->b, LLVMBuildShl(cg->b, wide, shift, ""), vec_t(cg, w), "");
}

/* Stores <w x float> x at element idx of v (rounded to v's dtype). */
static void vstore(CgLlvm *cg, const IrValue *v, LLVMValueRef idx, LLVMValueRef x, int w) {
  if (v->type.dtype != IR_F32) {
    for (int i = 0; i < w; i++)
      cg_store(cg, v, cg_iadd(cg, idx, cg_i64(cg, i)),
               LLVMBuildExtractElement(cg->b, x, cg_i64(cg, i), ""));
    return;
  }
  LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->f32, cg_buffer_base(cg, v), &idx, 1, "");
  LLVMSetAlignment(LLVMBuildStore(cg->b, x, p), 4);
}

/* &scratch[i] of an alloca of <w x float> vectors laid out as floats. */
static LLVMValueRef vslot(CgLlvm *cg, LLVMValueRef array, LLVMValueRef float_index) {
  return elem(cg, cg->f32, array, float_index);
}

static LLVMValueRef load_vec(CgLlvm *cg, LLVMValueRef ptr, int w) {
  LLVMValueRef x = LLVMBuildLoad2(cg->b, vec_t(cg, w), ptr, "");
  LLVMSetAlignment(x, 4);
  return x;
}

static void store_vec(CgLlvm *cg, LLVMValueRef x, LLVMValueRef ptr) {
  LLVMSetAlignment(LLVMBuildStore(cg->b, x, ptr), 4);
}

/* Sum of the lanes of x (reassociable: a shuffle tree). */
static LLVMValueRef hsum(CgLlvm *cg, LLVMValueRef x, int w) {
  char name[64];
  snprintf(name, sizeof name, "llvm.vector.reduce.fadd.v%df32", w);
  LLVMTypeRef params[2] = {cg->f32, vec_t(cg, w)};
  LLVMTypeRef fty = LLVMFunctionType(cg->f32, params, 2, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
  if (!fn) fn = LLVMAddFunction(cg->mod, name, fty);
  LLVMValueRef args[2] = {cg_f32(cg, -0.0), x};
  return cg_fast(LLVMBuildCall2(cg->b, fty, fn, args, 2, ""));
}

static LLVMValueRef fmul_c(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return cg_fast(LLVMBuildFMul(cg->b, a, b, ""));
}

static LLVMValueRef fadd_c(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return cg_fast(LLVMBuildFAdd(cg->b, a, b, ""));
}

/* e^x for x <= 0 (or NaN) in straight-line f32 arithmetic, so that the
 * loop computing a row's weights vectorizes (a libm call would not):
 * Cephes' expf, within 2 ulp of it; below -87.33 (e^x < 2^-126) it
 * gives 0, and e^-inf = 0; NaN stays NaN. */
static LLVMValueRef exp_nonpositive(CgLlvm *cg, LLVMValueRef x) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef lo = cg_f32(cg, -87.33654);
  LLVMValueRef under = LLVMBuildFCmp(b, LLVMRealOLT, x, lo, "");
  LLVMValueRef xc = LLVMBuildSelect(b, under, lo, x, "");
  LLVMValueRef fx =
      cg_call_f32(cg, "llvm.floor",
                  LLVMBuildFAdd(b, LLVMBuildFMul(b, xc, cg_f32(cg, 1.44269504088896341), ""),
                                cg_f32(cg, 0.5), ""));
  LLVMValueRef r = LLVMBuildFSub(b, xc, LLVMBuildFMul(b, fx, cg_f32(cg, 0.693359375), ""), "");
  r = LLVMBuildFSub(b, r, LLVMBuildFMul(b, fx, cg_f32(cg, -2.12194440e-4), ""), "");
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef y = cg_f32(cg, p[0]);
  for (int i = 1; i < 6; i++)
    y = LLVMBuildFAdd(b, LLVMBuildFMul(b, y, r, ""), cg_f32(cg, p[i]), "");
  y = LLVMBuildFMul(b, y, LLVMBuildFMul(b, r, r, ""), "");
  y = LLVMBuildFAdd(b, LLVMBuildFAdd(b, y, r, ""), cg_f32(cg, 1.0), "");
  /* 2^fx from the exponent bits; fx is in [-126, 0] */
  LLVMValueRef n = LLVMBuildFPToSI(b, fx, cg->i32, "");
  n = LLVMBuildShl(b, LLVMBuildAdd(b, n, LLVMConstInt(cg->i32, 127, 0), ""),
                   LLVMConstInt(cg->i32, 23, 0), "");
  y = LLVMBuildFMul(b, y, LLVMBuildBitCast(b, n, cg->f32, ""), "");
  y = LLVMBuildSelect(b, under, cg_f32(cg, 0.0), y, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
}

/* ---- the tile ---- */

/* Calls a vector intrinsic NAME.v<w>f32 returning ret_w lanes (1: a
 * scalar) on one or two <w x float> arguments. */
static LLVMValueRef vcall(CgLlvm *cg, const char *name, int ret_w, int w, LLVMValueRef x,
                          LLVMValueRef y) {
  char full[96];
  snprintf(full, sizeof full, "%s.v%df32", name, w);
  LLVMTypeRef params[2] = {vec_t(cg, w), vec_t(cg, w)};
  LLVMTypeRef fty = LLVMFunctionType(ret_w == 1 ? cg->f32 : vec_t(cg, ret_w), params, y ? 2 : 1, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, full);
  if (!fn) fn = LLVMAddFunction(cg->mod, full, fty);
  LLVMValueRef args[2] = {x, y};
  return LLVMBuildCall2(cg->b, fty, fn, args, y ? 2 : 1, "");
}

/* max of sc[0 .. n) (NaN if any is NaN, -inf when n = 0): whole vectors
 * of wv lanes, then the tail, so no per-key dependency chain remains in
 * the score loop. */
static LLVMValueRef scores_max(CgLlvm *cg, const Flash *F, LLVMValueRef n) {
  int w = F->wmax;
  LLVMValueRef vmax = cg_var(cg, vec_t(cg, w), "vmax");
  LLVMBuildStore(cg->b, splat(cg, cg_f32(cg, -INFINITY), w), vmax);
  LLVMValueRef nvec = LLVMBuildSDiv(cg->b, n, cg_i64(cg, w), "");
  CgLoop i = cg_loop_begin(cg, cg_i64(cg, 0), nvec, "vmax");
  LLVMValueRef x = load_vec(cg, elem(cg, cg->f32, F->sc, cg_imul(cg, i.iv, cg_i64(cg, w))), w);
  LLVMBuildStore(cg->b,
                 vcall(cg, "llvm.maximum", w, w, LLVMBuildLoad2(cg->b, vec_t(cg, w), vmax, ""), x),
                 vmax);
  cg_loop_end(cg, &i);
  LLVMValueRef mx = cg_var(cg, cg->f32, "tailmax");
  LLVMBuildStore(cg->b,
                 vcall(cg, "llvm.vector.reduce.fmaximum", 1, w,
                       LLVMBuildLoad2(cg->b, vec_t(cg, w), vmax, ""), NULL),
                 mx);
  CgLoop t = cg_loop_begin(cg, cg_imul(cg, nvec, cg_i64(cg, w)), n, "tailmax");
  update_max(cg, mx, load_f32(cg, elem(cg, cg->f32, F->sc, t.iv)));
  cg_loop_end(cg, &t);
  return load_f32(cg, mx);
}

/* Row t's scores against keys [a, b) into sc[0 .. b-a); returns their max.
 * q's row is loaded once as D/wd vectors; each key is D/wd multiply-adds
 * and one horizontal sum. */
static LLVMValueRef row_scores(CgLlvm *cg, const Flash *F, LLVMValueRef t, LLVMValueRef a,
                               LLVMValueRef b) {
  int nq = (int)(F->d / F->wd);
  LLVMValueRef *qv = calloc((size_t)nq, sizeof *qv);
  if (!qv) abort(); /* out of memory */
  LLVMValueRef q_row = cg_iadd(cg, F->q_base, cg_imul(cg, t, cg_i64(cg, F->d)));
  for (int i = 0; i < nq; i++)
    qv[i] = vload(cg, F->q, cg_iadd(cg, q_row, cg_i64(cg, i * F->wd)), F->wd);
  CgLoop j = cg_loop_begin(cg, a, b, "key");
  LLVMValueRef k_row = cg_iadd(cg, F->k_base, cg_imul(cg, j.iv, cg_i64(cg, F->d)));
  /* two chains of multiply-adds, so a key's dot product waits on half the latency */
  LLVMValueRef acc[2] = {LLVMConstNull(vec_t(cg, F->wd)), LLVMConstNull(vec_t(cg, F->wd))};
  for (int i = 0; i < nq; i++)
    acc[i % 2] = fadd_c(
        cg, acc[i % 2],
        fmul_c(cg, qv[i], vload(cg, F->k, cg_iadd(cg, k_row, cg_i64(cg, i * F->wd)), F->wd)));
  LLVMValueRef s = LLVMBuildFMul(cg->b, F->scale, hsum(cg, fadd_c(cg, acc[0], acc[1]), F->wd), "");
  LLVMBuildStore(cg->b, s, elem(cg, cg->f32, F->sc, LLVMBuildNSWSub(cg->b, j.iv, a, "")));
  cg_loop_end(cg, &j);
  free(qv);
  return scores_max(cg, F, LLVMBuildNSWSub(cg->b, b, a, ""));
}

/* sc[i] = e^(sc[i] - mx) for i < n; returns their sum. */
static LLVMValueRef row_weights(CgLlvm *cg, const Flash *F, LLVMValueRef n, LLVMValueRef mx) {
  LLVMValueRef sum = cg_f32_var(cg, 0.0, "rowsum");
  CgLoop i = cg_loop_begin(cg, cg_i64(cg, 0), n, "exp");
  LLVMValueRef p = elem(cg, cg->f32, F->sc, i.iv);
  LLVMValueRef e = exp_nonpositive(cg, LLVMBuildFSub(cg->b, load_f32(cg, p), mx, ""));
  LLVMBuildStore(cg->b, e, p);
  cg_accumulate(cg, sum, e);
  cg_loop_end(cg, &i);
  return load_f32(cg, sum);
}

/* O[r] = O[r] * alpha + sum_j sc[j - a] v[j] over keys [a, b), in orow. */
static void row_values(CgLlvm *cg, const Flash *F, LLVMValueRef r, LLVMValueRef a, LLVMValueRef b,
                       LLVMValueRef alpha) {
  int nv = (int)(F->dv / F->wv);
  LLVMValueRef o_row = cg_imul(cg, r, cg_i64(cg, F->dv));
  LLVMValueRef al = splat(cg, alpha, F->wv);
  for (int i = 0; i < nv; i++) {
    LLVMValueRef src = vslot(cg, F->oacc, cg_iadd(cg, o_row, cg_i64(cg, i * F->wv)));
    store_vec(cg, fmul_c(cg, load_vec(cg, src, F->wv), al),
              vslot(cg, F->orow, cg_i64(cg, i * F->wv)));
  }
  CgLoop j = cg_loop_begin(cg, a, b, "value");
  LLVMValueRef p =
      splat(cg, load_f32(cg, elem(cg, cg->f32, F->sc, LLVMBuildNSWSub(cg->b, j.iv, a, ""))), F->wv);
  LLVMValueRef v_row = cg_iadd(cg, F->v_base, cg_imul(cg, j.iv, cg_i64(cg, F->dv)));
  for (int i = 0; i < nv; i++) {
    LLVMValueRef slot = vslot(cg, F->orow, cg_i64(cg, i * F->wv));
    LLVMValueRef vv = vload(cg, F->v, cg_iadd(cg, v_row, cg_i64(cg, i * F->wv)), F->wv);
    store_vec(cg, fadd_c(cg, load_vec(cg, slot, F->wv), fmul_c(cg, p, vv)), slot);
  }
  cg_loop_end(cg, &j);
  for (int i = 0; i < nv; i++) {
    LLVMValueRef x = load_vec(cg, vslot(cg, F->orow, cg_i64(cg, i * F->wv)), F->wv);
    store_vec(cg, x, vslot(cg, F->oacc, cg_iadd(cg, o_row, cg_i64(cg, i * F->wv))));
  }
}

/* The online-softmax step of tile row r (query t) with keys [a, b):
 * m' = max(m, max_j s_j), l' = l e^(m - m') + sum_j e^(s_j - m'),
 * O' = O e^(m - m') + sum_j e^(s_j - m') v_j. Scores all -inf leave the
 * row as it was (never e^(-inf - -inf)). */
static void row_update(CgLlvm *cg, const Flash *F, LLVMValueRef r, LLVMValueRef t, LLVMValueRef a,
                       LLVMValueRef b) {
  LLVMValueRef mx = row_scores(cg, F, t, a, b);
  LLVMValueRef mp = elem(cg, cg->f32, F->m, r), lp = elem(cg, cg->f32, F->l, r);
  LLVMValueRef m_old = load_f32(cg, mp);
  LLVMValueRef m_new = cg_call_f32_2(cg, "llvm.maximum", m_old, mx);
  CgIf live =
      cg_if_begin(cg, LLVMBuildFCmp(cg->b, LLVMRealUNE, m_new, cg_f32(cg, -INFINITY), ""), "live");
  LLVMValueRef alpha = cg_call_f32(cg, "llvm.exp", LLVMBuildFSub(cg->b, m_old, m_new, ""));
  LLVMValueRef sum = row_weights(cg, F, LLVMBuildNSWSub(cg->b, b, a, ""), m_new);
  LLVMBuildStore(cg->b, fadd_c(cg, LLVMBuildFMul(cg->b, load_f32(cg, lp), alpha, ""), sum), lp);
  LLVMBuildStore(cg->b, m_new, mp);
  row_values(cg, F, r, a, b, alpha);
  cg_if_end(cg, &live);
}

/* Keys query t sees, clipped to [lo, hi): without `causal` all; else
 * j <= t + off, and with a window j > t + off - window. */
static void clip_keys(CgLlvm *cg, const Flash *F, LLVMValueRef t, LLVMValueRef *lo,
                      LLVMValueRef *hi) {
  if (!F->causal) return;
  LLVMValueRef pos = cg_iadd(cg, t, F->off);
  *hi = cg_smin(cg, *hi, cg_iadd(cg, pos, cg_i64(cg, 1)));
  if (F->window > 0) *lo = cg_smax(cg, *lo, cg_iadd(cg, pos, cg_i64(cg, 1 - F->window)));
}

/* Query rows [t0, t1) (at most bq) against keys [klo, khi): m, l and
 * oacc of rows 0 .. t1-t0 hold the result. The key blocks start at the
 * first key any row sees and stop after the last one (past the diagonal
 * nothing is visited); inside a block each row clips to its own keys. */
static void flash_tile(CgLlvm *cg, const Flash *F, LLVMValueRef t0, LLVMValueRef t1,
                       LLVMValueRef klo, LLVMValueRef khi) {
  LLVMValueRef nrows = LLVMBuildNSWSub(cg->b, t1, t0, "");
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), nrows, "init");
  LLVMBuildStore(cg->b, cg_f32(cg, -INFINITY), elem(cg, cg->f32, F->m, z.iv));
  LLVMBuildStore(cg->b, cg_f32(cg, 0.0), elem(cg, cg->f32, F->l, z.iv));
  for (int64_t i = 0; i < F->dv; i += F->wv)
    store_vec(cg, LLVMConstNull(vec_t(cg, F->wv)),
              vslot(cg, F->oacc, cg_iadd(cg, cg_imul(cg, z.iv, cg_i64(cg, F->dv)), cg_i64(cg, i))));
  cg_loop_end(cg, &z);
  LLVMValueRef lo = klo, hi = khi, unused = khi;
  clip_keys(cg, F, LLVMBuildNSWSub(cg->b, t1, cg_i64(cg, 1), ""), &unused, &hi);
  LLVMValueRef hi_first = khi;
  clip_keys(cg, F, t0, &lo, &hi_first);
  LLVMValueRef span = cg_smax(cg, LLVMBuildNSWSub(cg->b, hi, lo, ""), cg_i64(cg, 0));
  LLVMValueRef nblocks =
      LLVMBuildSDiv(cg->b, cg_iadd(cg, span, cg_i64(cg, F->bk - 1)), cg_i64(cg, F->bk), "");
  CgLoop blk = cg_loop_begin(cg, cg_i64(cg, 0), nblocks, "kvblock");
  LLVMValueRef j0 = cg_iadd(cg, lo, cg_imul(cg, blk.iv, cg_i64(cg, F->bk)));
  LLVMValueRef j1 = cg_smin(cg, cg_iadd(cg, j0, cg_i64(cg, F->bk)), hi);
  CgLoop r = cg_loop_begin(cg, cg_i64(cg, 0), nrows, "row");
  LLVMValueRef t = cg_iadd(cg, t0, r.iv), a = j0, b = j1;
  clip_keys(cg, F, t, &a, &b);
  CgIf any = cg_if_begin(cg, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), "any");
  row_update(cg, F, r.iv, t, a, b);
  cg_if_end(cg, &any);
  cg_loop_end(cg, &r);
  cg_loop_end(cg, &blk);
}

/* Row r's output O / l as <wv x float> slice i, zeros when l = 0 (no key
 * seen: a fully masked row or an empty chunk). */
static LLVMValueRef row_output(CgLlvm *cg, const Flash *F, LLVMValueRef r, int64_t i) {
  LLVMValueRef l = load_f32(cg, elem(cg, cg->f32, F->l, r));
  LLVMValueRef x = load_vec(
      cg, vslot(cg, F->oacc, cg_iadd(cg, cg_imul(cg, r, cg_i64(cg, F->dv)), cg_i64(cg, i))), F->wv);
  LLVMValueRef q = LLVMBuildFDiv(cg->b, x, splat(cg, l, F->wv), "");
  LLVMValueRef empty = LLVMBuildFCmp(cg->b, LLVMRealOEQ, l, cg_f32(cg, 0.0), "");
  return LLVMBuildSelect(cg->b, empty, LLVMConstNull(vec_t(cg, F->wv)), q, "");
}

/* ---- setting up an op ---- */

/* Shapes, attributes, tiles and scratch of attention or attention_split. */
static bool flash_setup(CgLlvm *cg, const IrOp *op, Flash *F) {
  const IrType *q = &op->in[0]->type, *k = &op->in[1]->type, *v = &op->in[2]->type;
  int n = q->rank;
  const char *name = ir_op_spec(op->kind)->name;
  IrDim dv = v->dims[n - 1], d = q->dims[n - 1];
  if (!ir_dim_is_const(dv))
    return ir_error(cg->d, op->loc,
                    "%s: the CPU backend needs a constant value head dim (the last dim of "
                    "operand 2)",
                    name);
  if (!ir_dim_is_const(d))
    return ir_error(cg->d, op->loc,
                    "%s: the CPU backend needs a constant head dim (the last dim of operand 0)",
                    name);
  const KTarget *kt = cg->ktarget ? cg->ktarget : ktarget_default();
  *F = (Flash){.op = op, .q = op->in[0], .k = op->in[1], .v = op->in[2], .d = d.c, .dv = dv.c};
  F->wd = vector_width(F->d, kt->f32_lanes);
  F->wv = vector_width(F->dv, kt->f32_lanes);
  F->wmax = kt->f32_lanes > 0 ? kt->f32_lanes : 1;
  F->bq = kt->attn_block_q > 0 ? kt->attn_block_q : 32;
  F->bk = kt->attn_block_kv > 0 ? kt->attn_block_kv : 64;
  F->causal = ir_op_bool(op, "causal");
  F->window = ir_op_int(op, "window", 0);
  F->hq = cg_dim(cg, q->dims[n - 3]);
  F->hkv = cg_dim(cg, k->dims[n - 3]);
  F->group = cg_smax(cg, LLVMBuildSDiv(cg->b, F->hq, cg_smax(cg, F->hkv, cg_i64(cg, 1)), ""),
                     cg_i64(cg, 1));
  F->t = cg_dim(cg, q->dims[n - 2]);
  F->s = cg_dim(cg, k->dims[n - 2]);
  F->off = cg_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0)));
  F->scale = cg_f32(cg, (float)ir_op_float(op, "scale", 1));
  F->sc = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)F->bk), "scores");
  F->oacc = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)(F->bq * (F->dv ? F->dv : 1))), "oacc");
  F->m = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)F->bq), "rowmax");
  F->l = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)F->bq), "rowsum");
  F->orow = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)(F->dv ? F->dv : 1)), "orow");
  return true;
}

/* Points F at query head bh = batch * Hq + h and its kv head. */
static void flash_head(CgLlvm *cg, Flash *F, LLVMValueRef bh) {
  LLVMValueRef h = LLVMBuildSRem(cg->b, bh, F->hq, ""), b = LLVMBuildSDiv(cg->b, bh, F->hq, "");
  LLVMValueRef kvh = cg_iadd(cg, cg_imul(cg, b, F->hkv), LLVMBuildSDiv(cg->b, h, F->group, ""));
  F->q_base = cg_imul(cg, cg_imul(cg, bh, F->t), cg_i64(cg, F->d));
  F->k_base = cg_imul(cg, cg_imul(cg, kvh, F->s), cg_i64(cg, F->d));
  F->v_base = cg_imul(cg, cg_imul(cg, kvh, F->s), cg_i64(cg, F->dv));
}

static LLVMValueRef ceil_div(CgLlvm *cg, LLVMValueRef a, int64_t b) {
  return LLVMBuildSDiv(cg->b, cg_iadd(cg, a, cg_i64(cg, b - 1)), cg_i64(cg, b), "");
}

static int64_t block_q(CgLlvm *cg) {
  const KTarget *kt = cg->ktarget ? cg->ktarget : ktarget_default();
  return kt->attn_block_q > 0 ? kt->attn_block_q : 32;
}

/* ---- attention ---- */

/* (batch, head, block of bq query rows) */
static LLVMValueRef attention_iterations(CgLlvm *cg, const IrOp *op) {
  const IrType *q = &op->in[0]->type;
  LLVMValueRef heads = cg_numel_range(cg, q, 0, q->rank - 2);
  return cg_imul(cg, heads, ceil_div(cg, cg_dim(cg, q->dims[q->rank - 2]), block_q(cg)));
}

static bool emit_attention(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  Flash F;
  if (!flash_setup(cg, op, &F)) return false;
  LLVMValueRef nqb = ceil_div(cg, F.t, F.bq);
  CgLoop it = cg_loop_begin(cg, begin, end, "tile");
  LLVMValueRef bh = LLVMBuildSDiv(cg->b, it.iv, nqb, "");
  LLVMValueRef t0 = cg_imul(cg, LLVMBuildSRem(cg->b, it.iv, nqb, ""), cg_i64(cg, F.bq));
  LLVMValueRef t1 = cg_smin(cg, cg_iadd(cg, t0, cg_i64(cg, F.bq)), F.t);
  flash_head(cg, &F, bh);
  flash_tile(cg, &F, t0, t1, cg_i64(cg, 0), F.s);
  CgLoop r = cg_loop_begin(cg, cg_i64(cg, 0), LLVMBuildNSWSub(cg->b, t1, t0, ""), "out");
  LLVMValueRef o_row =
      cg_imul(cg, cg_iadd(cg, cg_imul(cg, bh, F.t), cg_iadd(cg, t0, r.iv)), cg_i64(cg, F.dv));
  for (int64_t i = 0; i < F.dv; i += F.wv)
    vstore(cg, op->out[0], cg_iadd(cg, o_row, cg_i64(cg, i)), row_output(cg, &F, r.iv, i), F.wv);
  cg_loop_end(cg, &r);
  cg_loop_end(cg, &it);
  return true;
}

/* ---- attention_split: (batch, chunk, head) an iteration ---- */

static LLVMValueRef split_iterations(CgLlvm *cg, const IrOp *op) {
  return cg_numel_range(cg, &op->out[1]->type, 0, op->out[1]->type.rank - 1);
}

/* Writes rows [t0, t1) of chunk c's o and lse; oc_row: element row of
 * (batch, c, head, 0) in lse. */
static void split_outputs(CgLlvm *cg, const Flash *F, LLVMValueRef t0, LLVMValueRef t1,
                          LLVMValueRef lse_row) {
  const IrOp *op = F->op;
  CgLoop r = cg_loop_begin(cg, cg_i64(cg, 0), LLVMBuildNSWSub(cg->b, t1, t0, ""), "out");
  LLVMValueRef row = cg_iadd(cg, lse_row, cg_iadd(cg, t0, r.iv));
  for (int64_t i = 0; i < F->dv; i += F->wv)
    vstore(cg, op->out[0], cg_iadd(cg, cg_imul(cg, row, cg_i64(cg, F->dv)), cg_i64(cg, i)),
           row_output(cg, F, r.iv, i), F->wv);
  LLVMValueRef l = load_f32(cg, elem(cg, cg->f32, F->l, r.iv));
  LLVMValueRef m = load_f32(cg, elem(cg, cg->f32, F->m, r.iv));
  LLVMValueRef lse = LLVMBuildFAdd(cg->b, m, cg_call_f32(cg, "llvm.log", l), "");
  LLVMValueRef empty = LLVMBuildFCmp(cg->b, LLVMRealOEQ, l, cg_f32(cg, 0.0), "");
  cg_store(cg, op->out[1], row, LLVMBuildSelect(cg->b, empty, cg_f32(cg, -INFINITY), lse, ""));
  cg_loop_end(cg, &r);
}

static bool emit_attention_split(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  Flash F;
  if (!flash_setup(cg, op, &F)) return false;
  const IrType *lt = &op->out[1]->type;
  LLVMValueRef nchunks = cg_dim(cg, lt->dims[lt->rank - 3]);
  int64_t chunk = ir_op_int(op, "chunk", 1);
  CgLoop it = cg_loop_begin(cg, begin, end, "chunk");
  LLVMValueRef h = LLVMBuildSRem(cg->b, it.iv, F.hq, ""),
               bc = LLVMBuildSDiv(cg->b, it.iv, F.hq, "");
  LLVMValueRef c = LLVMBuildSRem(cg->b, bc, nchunks, ""), b = LLVMBuildSDiv(cg->b, bc, nchunks, "");
  flash_head(cg, &F, cg_iadd(cg, cg_imul(cg, b, F.hq), h));
  LLVMValueRef klo = cg_imul(cg, c, cg_i64(cg, chunk));
  LLVMValueRef khi = cg_smin(cg, cg_iadd(cg, klo, cg_i64(cg, chunk)), F.s);
  CgLoop qb = cg_loop_begin(cg, cg_i64(cg, 0), ceil_div(cg, F.t, F.bq), "qblock");
  LLVMValueRef t0 = cg_imul(cg, qb.iv, cg_i64(cg, F.bq));
  LLVMValueRef t1 = cg_smin(cg, cg_iadd(cg, t0, cg_i64(cg, F.bq)), F.t);
  flash_tile(cg, &F, t0, t1, klo, khi);
  split_outputs(cg, &F, t0, t1, cg_imul(cg, it.iv, F.t));
  cg_loop_end(cg, &qb);
  cg_loop_end(cg, &it);
  return true;
}

/* ---- attention_merge: one (batch, head, query) row an iteration ---- */

static LLVMValueRef merge_iterations(CgLlvm *cg, const IrOp *op) {
  return rows_of(cg, &op->out[0]->type);
}

static bool emit_attention_merge(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrValue *o = op->in[0], *lse = op->in[1];
  const IrType *ot = &o->type;
  int n = ot->rank;
  IrDim dvd = ot->dims[n - 1];
  if (!ir_dim_is_const(dvd))
    return ir_error(cg->d, op->loc,
                    "attention_merge: the CPU backend needs a constant value head dim (the last "
                    "dim of operand 0)");
  int64_t dv = dvd.c;
  LLVMValueRef nchunks = cg_dim(cg, ot->dims[n - 4]);
  LLVMValueRef rows = cg_imul(cg, cg_dim(cg, ot->dims[n - 3]), cg_dim(cg, ot->dims[n - 2]));
  LLVMValueRef acc = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)(dv ? dv : 1)), "acc");
  CgLoop it = cg_loop_begin(cg, begin, end, "row");
  LLVMValueRef row = LLVMBuildSRem(cg->b, it.iv, rows, ""),
               b = LLVMBuildSDiv(cg->b, it.iv, rows, "");
  LLVMValueRef first = cg_iadd(cg, cg_imul(cg, cg_imul(cg, b, nchunks), rows), row);
  /* the chunk c's row: first + c * rows */
  LLVMValueRef mx = cg_f32_var(cg, -INFINITY, "max");
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), nchunks, "chunkmax");
  update_max(cg, mx, cg_load(cg, lse, cg_iadd(cg, first, cg_imul(cg, c.iv, rows))));
  cg_loop_end(cg, &c);
  LLVMValueRef m = load_f32(cg, mx);
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, dv), "zero");
  LLVMBuildStore(cg->b, cg_f32(cg, 0.0), elem(cg, cg->f32, acc, z.iv));
  cg_loop_end(cg, &z);
  LLVMValueRef sum = cg_f32_var(cg, 0.0, "sum");
  CgIf live =
      cg_if_begin(cg, LLVMBuildFCmp(cg->b, LLVMRealUNE, m, cg_f32(cg, -INFINITY), ""), "live");
  CgLoop c2 = cg_loop_begin(cg, cg_i64(cg, 0), nchunks, "chunk");
  LLVMValueRef at = cg_iadd(cg, first, cg_imul(cg, c2.iv, rows));
  LLVMValueRef w = cg_call_f32(cg, "llvm.exp", LLVMBuildFSub(cg->b, cg_load(cg, lse, at), m, ""));
  cg_accumulate(cg, sum, w);
  CgLoop e = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, dv), "elem");
  LLVMValueRef x = cg_load(cg, o, cg_iadd(cg, cg_imul(cg, at, cg_i64(cg, dv)), e.iv));
  cg_accumulate(cg, elem(cg, cg->f32, acc, e.iv), fmul_c(cg, w, x));
  cg_loop_end(cg, &e);
  cg_loop_end(cg, &c2);
  cg_if_end(cg, &live);
  LLVMValueRef total = load_f32(cg, sum);
  LLVMValueRef empty = LLVMBuildFCmp(cg->b, LLVMRealOEQ, total, cg_f32(cg, 0.0), "");
  CgLoop out = cg_loop_begin(cg, cg_i64(cg, 0), cg_i64(cg, dv), "out");
  LLVMValueRef y = LLVMBuildFDiv(cg->b, load_f32(cg, elem(cg, cg->f32, acc, out.iv)), total, "");
  cg_store(cg, op->out[0], cg_iadd(cg, cg_imul(cg, it.iv, cg_i64(cg, dv)), out.iv),
           LLVMBuildSelect(cg->b, empty, cg_f32(cg, 0.0), y, ""));
  cg_loop_end(cg, &out);
  cg_loop_end(cg, &it);
  return true;
}

const CgOpEmitter cg_rope_emitter = {IR_OP_ROPE, rows_of_input, emit_rope};
const CgOpEmitter cg_softmax_emitter = {IR_OP_SOFTMAX, softmax_iterations, emit_softmax};
const CgOpEmitter cg_attention_emitter = {IR_OP_ATTENTION, attention_iterations, emit_attention};
const CgOpEmitter cg_attention_split_emitter = {IR_OP_ATTENTION_SPLIT, split_iterations,
                                                emit_attention_split};
const CgOpEmitter cg_attention_merge_emitter = {IR_OP_ATTENTION_MERGE, merge_iterations,
                                                emit_attention_merge};
