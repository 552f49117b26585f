/* cg_cuda_ops_attn.c: the fused attention op as a tiled online-softmax
 * kernel (FlashAttention manner).
 *
 * One block per (query tile, batch x query head): BQ threads, one query
 * row each. The block's queries sit in shared memory (rows padded by one
 * float against bank conflicts); keys and values stream through shared
 * memory in tiles of BK rows, and each thread keeps its running maximum,
 * running sum and f32 output row across tiles. With `causal` the key loop
 * stops after the last key the tile's last query may see.
 *
 *   BQ = 64, BK = 32 for head dims up to 64; BQ = 32, BK = 16 above,
 *   so the static shared memory stays under 48 KiB up to D = Dv = 128.
 *
 * The softmax is computed online, so sums differ from the interpreter's
 * by rounding only; a fully masked row gives zeros.
 * attention_split is the same kernel over one chunk of keys per
 * blockIdx.z (FlashDecoding), writing each chunk's normalized output and
 * its log-sum-exp; attention_merge combines the chunks, one thread per
 * output element.
 * Prefill attention with f32 operands and head dims that are multiples of
 * 16 up to 128 takes the tensor-core kernel instead (cg_cuda_ops_attn_tc.c);
 * this one keeps decode (T the constant 1), split-KV and the rest.
 */
#include <stdio.h>

#include "cg_cuda_internal.h"

/* The attention kernel; `split`: attention_split, one chunk of keys per
 * blockIdx.z, writing the normalized partial output and its lse. */
static bool emit_attention(CgCuda *cg, const IrOp *op, bool split) {
  const IrValue *q = op->in[0], *k = op->in[1], *v = op->in[2], *y = op->out[0];
  int r = q->type.rank;
  IrDim dd = q->type.dims[r - 1], dvd = v->type.dims[r - 1];
  if (r < 3 || !ir_dim_is_const(dd) || !ir_dim_is_const(dvd))
    return cgc_refuse(cg, op, "a symbolic head dim");
  for (int i = 0; i < 3; i++)
    if (!ir_dtype_is_float(op->in[i]->type.dtype)) return cgc_refuse(cg, op, "integer operands");
  if (!cgc_ptr(cg, op, q, "xq") || !cgc_ptr(cg, op, k, "xk") || !cgc_ptr(cg, op, v, "xv") ||
      !cgc_ptr(cg, op, y, "y0") || (split && !cgc_ptr(cg, op, op->out[1], "y1")))
    return false;
  long long D = (long long)dd.c, DV = (long long)dvd.c;
  int bq = D <= 64 && DV <= 64 ? 64 : 32, bk = bq / 2;
  bool causal = ir_op_bool(op, "causal");
  cg->k->block = bq;
  cgc_grid(cg, 0, &q->type, r - 2, r - 1, bq);
  cgc_grid(cg, 1, &q->type, 0, r - 2, 1);
  if (split) cgc_grid(cg, 2, &y->type, r - 3, r - 2, 1); /* o is [..., C, Hq, T, Dv] */
  cg->k->smem_bytes = (int64_t)sizeof(float) * (bq * (D + 1) + bk * (D + DV));
  cgc_printf(cg, "  const long long T = %s, S = %s, HQ = %s, HKV = %s;\n", cgc_dim(cg, q->type.dims[r - 2]).s,
             cgc_dim(cg, k->type.dims[r - 2]).s, cgc_dim(cg, q->type.dims[r - 3]).s,
             cgc_dim(cg, k->type.dims[r - 3]).s);
  cgc_printf(cg, "  const long long bh = blockIdx.y, kvh = (bh / HQ) * HKV + (bh %% HQ) / (HQ / HKV);\n");
  cgc_printf(cg, "  const long long q0 = (long long)blockIdx.x * %d, off = %s, win = %lldLL;\n", bq,
             cgc_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0))).s, (long long)ir_op_int(op, "window", 0));
  cgc_printf(cg, "  const long long qbase = bh * T * %lld, kbase = kvh * S * %lld, vbase = kvh * S * %lld;\n",
             D, D, DV);
  cgc_printf(cg, "  const long long qlast = (q0 + %d < T ? q0 + %d : T) - 1;\n", bq, bq);
  if (causal)
    cgc_printf(cg, "  long long kend = qlast + off + 1 < S ? qlast + off + 1 : S;\n");
  else
    cgc_printf(cg, "  long long kend = S;\n");
  if (split) {
    long long chunk = (long long)ir_op_int(op, "chunk", 1);
    cgc_printf(cg, "  const long long C = %s, cz = blockIdx.z, kstart = cz * %lldLL;\n",
               cgc_dim(cg, y->type.dims[r - 3]).s, chunk);
    cgc_printf(cg, "  if (kend > kstart + %lldLL) kend = kstart + %lldLL;\n", chunk, chunk);
  } else {
    cgc_printf(cg, "  const long long kstart = 0;\n");
  }
  cgc_printf(cg, "  const float scale = %s;\n  (void)win; (void)off;\n", cgc_float(ir_op_float(op, "scale", 1)).s);
  cgc_printf(cg, "  __shared__ float Qs[%d][%lld];\n  __shared__ float Ks[%d][%lld];\n  __shared__ float Vs[%d][%lld];\n",
             bq, D + 1, bk, D, bk, DV);
  cgc_printf(cg, "  KILN_PRIVATE(float, o, [%lld]);\n  KILN_PRIVATE(float, mrun, );\n  KILN_PRIVATE(float, lrun, );\n", DV);
  /* phase: load the queries, reset the running state */
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  cgc_printf(cg, "  for (long long e = tid; e < %lldLL; e += %d) {\n", (long long)bq * D, bq);
  cgc_printf(cg, "    const long long t = q0 + e / %lld, c = e %% %lld;\n", D, D);
  char at[128];
  snprintf(at, sizeof at, "qbase + t * %lld + c", D);
  cgc_printf(cg, "    Qs[e / %lld][c] = t < T ? %s : 0.0f;\n  }\n", D, cgc_load(q, "xq", at).s);
  cgc_printf(cg, "  KILN_P(mrun) = -KILN_INF; KILN_P(lrun) = 0.0f;\n");
  cgc_printf(cg, "  for (int c = 0; c < %lld; c++) KILN_P(o)[c] = 0.0f;\n  KILN_THREADS_END\n  KILN_SYNC\n", DV);
  /* key tiles */
  cgc_printf(cg, "  for (long long kt = kstart; kt < kend; kt += %d) {\n  KILN_THREADS_BEGIN\n", bk);
  cgc_printf(cg, "  for (long long e = tid; e < %lldLL; e += %d) {\n", (long long)bk * D, bq);
  cgc_printf(cg, "    const long long j = e / %lld, c = e %% %lld, key = kt + j;\n", D, D);
  snprintf(at, sizeof at, "kbase + key * %lld + c", D);
  cgc_printf(cg, "    Ks[j][c] = key < kend ? %s : 0.0f;\n  }\n", cgc_load(k, "xk", at).s);
  cgc_printf(cg, "  for (long long e = tid; e < %lldLL; e += %d) {\n", (long long)bk * DV, bq);
  cgc_printf(cg, "    const long long j = e / %lld, c = e %% %lld, key = kt + j;\n", DV, DV);
  snprintf(at, sizeof at, "vbase + key * %lld + c", DV);
  cgc_printf(cg, "    Vs[j][c] = key < kend ? %s : 0.0f;\n  }\n", cgc_load(v, "xv", at).s);
  cgc_printf(cg, "  KILN_THREADS_END\n  KILN_SYNC\n  KILN_THREADS_BEGIN\n");
  cgc_printf(cg, "  const long long t = q0 + tid, qp = t + off;\n");
  cgc_printf(cg, "  if (t < T) for (int j = 0; j < %d && kt + j < kend; j++) {\n", bk);
  cgc_printf(cg, "    const long long key = kt + j;\n");
  if (causal) cgc_printf(cg, "    if (!(key <= qp && (win <= 0 || key > qp - win))) continue;\n");
  else cgc_printf(cg, "    (void)qp;\n");
  cgc_printf(cg, "    float dot = 0.0f;\n");
  cgc_printf(cg, "    for (int c = 0; c < %lld; c++) dot += Qs[tid][c] * Ks[j][c];\n", D);
  cgc_printf(cg, "    const float s = scale * dot;\n");
  cgc_printf(cg, "    if (s > KILN_P(mrun)) {\n"
                 "      const float corr = expf(KILN_P(mrun) - s);\n"
                 "      KILN_P(lrun) *= corr;\n"
                 "      for (int c = 0; c < %lld; c++) KILN_P(o)[c] *= corr;\n"
                 "      KILN_P(mrun) = s;\n    }\n", DV);
  cgc_printf(cg, "    if (s == -KILN_INF) continue;\n");
  cgc_printf(cg, "    const float p = expf(s - KILN_P(mrun));\n    KILN_P(lrun) += p;\n");
  cgc_printf(cg, "    for (int c = 0; c < %lld; c++) KILN_P(o)[c] += p * Vs[j][c];\n  }\n", DV);
  cgc_printf(cg, "  KILN_THREADS_END\n  KILN_SYNC\n  }\n");
  /* phase: normalize and store (split: the chunk's row of o, and lse) */
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const long long t = q0 + tid;\n");
  if (split)
    cgc_printf(cg, "  const long long row = ((bh / HQ * C + cz) * HQ + bh %% HQ) * T + t;\n");
  else
    cgc_printf(cg, "  const long long row = bh * T + t;\n");
  cgc_printf(cg, "  const float l = KILN_P(lrun);\n");
  if (split) {
    cgc_printf(cg, "  if (t < T) { ");
    cgc_store(cg, op->out[1], "y1", "row", "(l > 0.0f ? KILN_P(mrun) + logf(l) : -KILN_INF)");
    cgc_printf(cg, "  }\n");
  }
  cgc_printf(cg, "  if (t < T) for (int c = 0; c < %lld; c++) {\n    ", DV);
  snprintf(at, sizeof at, "row * %lld + c", DV);
  cgc_store(cg, y, "y0", at, "(l > 0.0f ? KILN_P(o)[c] / l : 0.0f)");
  cgc_printf(cg, "  }\n  KILN_THREADS_END\n");
  return true;
}

bool cgc_emit_attention(CgCuda *cg, const IrOp *op) {
  if (cgc_attn_tc_fits(op)) return cgc_emit_attention_tc(cg, op);
  return emit_attention(cg, op, op->kind == IR_OP_ATTENTION_SPLIT);
}

/* One thread per output element: out = sum_c exp(lse_c - M) o_c /
 * sum_c exp(lse_c - M), M = max_c lse_c; zero where every lse_c is -inf. */
bool cgc_emit_attention_merge(CgCuda *cg, const IrOp *op) {
  const IrValue *o = op->in[0], *lse = op->in[1], *y = op->out[0];
  int r = y->type.rank, lead = r - 3;
  if (r < 3 || o->type.rank != r + 1) return cgc_refuse(cg, op, "these operand ranks");
  if (!cgc_ptr(cg, op, o, "x0") || !cgc_ptr(cg, op, lse, "x1") || !cgc_ptr(cg, op, y, "y0")) return false;
  cgc_flat_begin(cg, &y->type);
  cgc_coords(cg, &y->type, "i");
  /* coordinates in o and lse: the output's with the chunk `cc` before Hq */
  char names[IR_MAX_RANK + 1][16];
  const char *co[IR_MAX_RANK + 1];
  for (int a = 0, j = 0; a <= r; a++) {
    if (a == lead) snprintf(names[a], sizeof names[a], "cc");
    else snprintf(names[a], sizeof names[a], "c%d", j++);
    co[a] = names[a];
  }
  CgcText oi = cgc_index(cg, &o->type, co), li = cgc_index(cg, &lse->type, co);
  cgc_printf(cg, "    const long long C = %s;\n    float M = -KILN_INF;\n", cgc_dim(cg, o->type.dims[lead]).s);
  cgc_printf(cg, "    for (long long cc = 0; cc < C; cc++) M = kiln_max_keep_nan(M, %s);\n", cgc_load(lse, "x1", li.s).s);
  cgc_printf(cg, "    float num = 0.0f, den = 0.0f;\n");
  cgc_printf(cg, "    if (M != -KILN_INF) for (long long cc = 0; cc < C; cc++) {\n");
  cgc_printf(cg, "      const float w = expf(%s - M);\n", cgc_load(lse, "x1", li.s).s);
  cgc_printf(cg, "      if (w != 0.0f) { num += w * %s; den += w; }\n    }\n    ", cgc_load(o, "x0", oi.s).s);
  cgc_store(cg, y, "y0", "i", "(den > 0.0f ? num / den : 0.0f)");
  cgc_flat_end(cg);
  return true;
}
