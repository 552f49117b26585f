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
 * attention: one (batch, head, query) an iteration; two passes over the
 * visible keys (the max score, then exp, sum and the weighted sum of the
 * values), no scratch of the sequence length. */
#include <math.h>
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

/* ---- attention ---- */

/* One query row's addressing: q row, its kv head's k and v, the output. */
typedef struct {
  LLVMValueRef d, dv, s; /* head dim, value head dim, keys */
  LLVMValueRef q_off, k_off, v_off, o_off;
  LLVMValueRef lo, hi; /* visible keys [lo, hi) */
  LLVMValueRef scale;
} AttnRow;

/* scale * (q . k[j]) */
static LLVMValueRef score(CgLlvm *cg, const IrOp *op, const AttnRow *r, LLVMValueRef j) {
  LLVMValueRef acc = cg_f32_var(cg, 0.0, "dot");
  LLVMValueRef k_row = cg_iadd(cg, r->k_off, cg_imul(cg, j, r->d));
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), r->d, "dot");
  LLVMValueRef qv = cg_load(cg, op->in[0], cg_iadd(cg, r->q_off, c.iv));
  LLVMValueRef kv = cg_load(cg, op->in[1], cg_iadd(cg, k_row, c.iv));
  cg_accumulate(cg, acc, cg_fast(LLVMBuildFMul(cg->b, qv, kv, "")));
  cg_loop_end(cg, &c);
  return LLVMBuildFMul(cg->b, r->scale, load_f32(cg, acc), "");
}

/* Visible keys of the query at absolute position pos: all S without
 * `causal`; else j <= pos, and with a window also j > pos - window. */
static void visible_keys(CgLlvm *cg, const IrOp *op, LLVMValueRef t, AttnRow *r) {
  r->lo = cg_i64(cg, 0);
  r->hi = r->s;
  if (!ir_op_bool(op, "causal")) return;
  LLVMValueRef pos = cg_iadd(cg, t, cg_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0))));
  r->hi = cg_smin(cg, r->s, cg_iadd(cg, pos, cg_i64(cg, 1)));
  int64_t window = ir_op_int(op, "window", 0);
  if (window > 0) r->lo = cg_smax(cg, r->lo, cg_iadd(cg, pos, cg_i64(cg, 1 - window)));
}

/* Pass 2 and the division: out = sum_j e_j v[j] / sum_j e_j, e_j = exp(s_j - max). */
static void attention_values(CgLlvm *cg, const IrOp *op, const AttnRow *r, LLVMValueRef mx,
                             LLVMValueRef acc) {
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), r->dv, "zero");
  LLVMBuildStore(cg->b, cg_f32(cg, 0.0), elem(cg, cg->f32, acc, z.iv));
  cg_loop_end(cg, &z);
  LLVMValueRef sum = cg_f32_var(cg, 0.0, "sum");
  CgLoop j = cg_loop_begin(cg, r->lo, r->hi, "key");
  LLVMValueRef e =
      cg_call_f32(cg, "llvm.exp", LLVMBuildFSub(cg->b, score(cg, op, r, j.iv), mx, ""));
  cg_accumulate(cg, sum, e);
  LLVMValueRef v_row = cg_iadd(cg, r->v_off, cg_imul(cg, j.iv, r->dv));
  CgLoop c = cg_loop_begin(cg, cg_i64(cg, 0), r->dv, "c");
  LLVMValueRef vv = cg_load(cg, op->in[2], cg_iadd(cg, v_row, c.iv));
  cg_accumulate(cg, elem(cg, cg->f32, acc, c.iv), cg_fast(LLVMBuildFMul(cg->b, e, vv, "")));
  cg_loop_end(cg, &c);
  cg_loop_end(cg, &j);
  LLVMValueRef total = load_f32(cg, sum);
  CgLoop o = cg_loop_begin(cg, cg_i64(cg, 0), r->dv, "out");
  LLVMValueRef v = LLVMBuildFDiv(cg->b, load_f32(cg, elem(cg, cg->f32, acc, o.iv)), total, "");
  cg_store(cg, op->out[0], cg_iadd(cg, r->o_off, o.iv), v);
  cg_loop_end(cg, &o);
}

static void attention_row(CgLlvm *cg, const IrOp *op, const AttnRow *r, LLVMValueRef acc) {
  LLVMValueRef mx = cg_f32_var(cg, -INFINITY, "max");
  CgLoop j = cg_loop_begin(cg, r->lo, r->hi, "key");
  update_max(cg, mx, score(cg, op, r, j.iv));
  cg_loop_end(cg, &j);
  LLVMValueRef m = load_f32(cg, mx);
  CgIf masked =
      cg_if_begin(cg, LLVMBuildFCmp(cg->b, LLVMRealOEQ, m, cg_f32(cg, -INFINITY), ""), "masked");
  CgLoop z = cg_loop_begin(cg, cg_i64(cg, 0), r->dv, "zero");
  cg_store(cg, op->out[0], cg_iadd(cg, r->o_off, z.iv), cg_f32(cg, 0.0));
  cg_loop_end(cg, &z);
  cg_if_else(cg, &masked);
  attention_values(cg, op, r, m, acc);
  cg_if_end(cg, &masked);
}

static bool emit_attention(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  if (!cg_refuse_i4(cg, op)) return false;
  const IrType *q = &op->in[0]->type, *k = &op->in[1]->type, *v = &op->in[2]->type;
  int n = q->rank;
  IrDim dv = v->dims[n - 1];
  if (!ir_dim_is_const(dv))
    return ir_error(cg->d, op->loc,
                    "attention: the CPU backend needs a constant value head dim "
                    "(the last dim of operand 2)");
  AttnRow r = {
      .d = cg_dim(cg, q->dims[n - 1]), .dv = cg_i64(cg, dv.c), .s = cg_dim(cg, k->dims[n - 2])};
  r.scale = cg_f32(cg, (float)ir_op_float(op, "scale", 1));
  LLVMValueRef hq = cg_dim(cg, q->dims[n - 3]), tlen = cg_dim(cg, q->dims[n - 2]);
  LLVMValueRef hkv = cg_dim(cg, k->dims[n - 3]);
  LLVMValueRef nonzero = cg_smax(cg, hkv, cg_i64(cg, 1));
  LLVMValueRef group = cg_smax(cg, LLVMBuildSDiv(cg->b, hq, nonzero, ""), cg_i64(cg, 1));
  LLVMValueRef acc = cg_var(cg, LLVMArrayType2(cg->f32, (uint64_t)dv.c), "acc");
  CgLoop it = cg_loop_begin(cg, begin, end, "query");
  LLVMValueRef t = LLVMBuildSRem(cg->b, it.iv, tlen, ""),
               bh = LLVMBuildSDiv(cg->b, it.iv, tlen, "");
  LLVMValueRef h = LLVMBuildSRem(cg->b, bh, hq, ""), batch = LLVMBuildSDiv(cg->b, bh, hq, "");
  LLVMValueRef kvh = cg_iadd(cg, cg_imul(cg, batch, hkv), LLVMBuildSDiv(cg->b, h, group, ""));
  r.q_off = cg_imul(cg, it.iv, r.d);
  r.k_off = cg_imul(cg, cg_imul(cg, kvh, r.s), r.d);
  r.v_off = cg_imul(cg, cg_imul(cg, kvh, r.s), r.dv);
  r.o_off = cg_imul(cg, it.iv, r.dv);
  visible_keys(cg, op, t, &r);
  attention_row(cg, op, &r, acc);
  cg_loop_end(cg, &it);
  return true;
}

const CgOpEmitter cg_rope_emitter = {IR_OP_ROPE, rows_of_input, emit_rope};
const CgOpEmitter cg_softmax_emitter = {IR_OP_SOFTMAX, softmax_iterations, emit_softmax};
const CgOpEmitter cg_attention_emitter = {IR_OP_ATTENTION, rows_of_input, emit_attention};
