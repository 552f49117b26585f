/* cg_cuda_ops_attn_tc.c: the fused attention op on tensor cores
 * (FlashAttention-2 manner; mma.sync m16n8k16 with f16 operands and f32
 * accumulators, sm_80+).
 *
 * Taken for `attention` (not the split-KV ops) when q, k, v are f32 and
 * stored row-major, the head dims D and Dv are constant multiples of 16
 * up to 128, and T is not the constant 1 (see cgc_attn_tc_fits).
 *
 * A block of 4 warps per (64 query rows, batch x head); warp w owns rows
 * 16w .. 16w+15 and holds their q fragments, the running max and sum and
 * the f32 output rows in registers. Keys and values stream through
 * shared memory in tiles of BK rows (64 for D, Dv <= 64, else 32, so the
 * static shared memory stays under 48 KiB), as f32, copied with cp.async
 * where the rows are provably 16-byte aligned. Each f32 operand is split
 * as x = hi + lo (both f16) and each product is hi*hi + hi*lo + lo*hi
 * (three mma, f32 accumulation): about 22 bits of the mantissa, so the
 * result stays within reordering error of the interpreter's f32. P (in
 * [0, 1]) is split the same way.
 *
 * Per key tile: S = Q K^T (mma, q from registers), scale and mask on the
 * accumulators, the row max across the 4 lanes of a quad (KILN_QUAD_MAX:
 * shuffles on the GPU), p = exp(s - m) into A fragments in registers,
 * the running sum and output rescaled, O += P V (mma). V's copy overlaps
 * S, the next tile of K's copy overlaps P V. Causal blocks stop at the
 * last key their last query sees and start (with a window) at the first
 * key their first query sees; a warp whose rows see no key of a tile
 * skips its mma; partly visible tiles are masked element by element.
 * A fully masked row gives zeros.
 *
 * The host emulation runs each phase lane by lane, so a value another
 * lane reads (the partial row maxima and sums, the q and p fragments that
 * an mma takes from registers) is written in an earlier phase; between
 * the S and softmax phases that boundary is one for the host only (no
 * barrier on the GPU, where the shuffles exchange the values).
 */
#include <stdio.h>

#include "cg_cuda_internal.h"

#define AT_BQ 64
#define AT_THREADS 128
#define AT_MAX_D 128

static bool dim_fits(IrDim d) { return ir_dim_is_const(d) && d.c >= 16 && d.c <= AT_MAX_D && d.c % 16 == 0; }

bool cgc_attn_tc_fits(const IrOp *op) {
  if (op->kind != IR_OP_ATTENTION) return false;
  const IrValue *q = op->in[0], *k = op->in[1], *v = op->in[2];
  int r = q->type.rank;
  if (r < 3 || k->type.rank != r || v->type.rank != r) return false;
  for (int i = 0; i < 3; i++)
    if (op->in[i]->type.dtype != IR_F32 || op->in[i]->layout.panel > 0) return false;
  IrDim t = q->type.dims[r - 2];
  return dim_fits(q->type.dims[r - 1]) && dim_fits(v->type.dims[r - 1]) && !(ir_dim_is_const(t) && t.c == 1);
}

/* Whether every row of v (rows of `row` f32) starts 16-byte aligned: the
 * plan places buffers at 64-byte multiples and the row is 16 floats or
 * more a multiple of 16 bytes, so each head's and key's row is too. The
 * choice is in the text, so launches that share a function agree on it
 * (the offset is a launch argument; see cg_cuda_ops_matmul_tc.c). */
static bool rows_aligned(const CgCuda *cg, const IrValue *v, long long row) {
  const KBuffer *buf = kplan_buffer(cg->plan, v);
  bool placed = buf->kind == KBUF_WEIGHT || buf->kind == KBUF_ARENA || buf->kind == KBUF_STATE;
  return placed && buf->offset % 16 == 0 && (row * 4) % 16 == 0;
}

/* Stages keys kt .. kt+BK-1 of `p` (rows of n floats at base + key * n)
 * into dst[j * ld + c], zero at keys >= kend. Expects `kt` in scope. */
static void stage(CgCuda *cg, const IrValue *v, const char *p, const char *dst, const char *base, int bk, long long n,
                  int ld, bool vec) {
  if (vec) {
    cgc_printf(cg, "    for (int e = tid; e < %lld; e += %d) {\n", bk * n / 4, AT_THREADS);
    cgc_printf(cg, "      const int j = e / %lld, c = (e %% %lld) * 4;\n      const long long key = kt + j;\n", n / 4,
               n / 4);
    cgc_printf(cg, "      if (key < kend) KILN_CP_ASYNC16(%s + j * %d + c, %s + %s + key * %lldLL + c);\n", dst, ld, p,
               base, n);
    cgc_printf(cg, "      else for (int u = 0; u < 4; u++) %s[j * %d + c + u] = 0.0f;\n    }\n", dst, ld);
    return;
  }
  char at[160];
  snprintf(at, sizeof at, "%s + key * %lldLL + c", base, n);
  cgc_printf(cg, "    for (int e = tid; e < %lld; e += %d) {\n", bk * n, AT_THREADS);
  cgc_printf(cg, "      const int j = e / %lld, c = e %% %lld;\n      const long long key = kt + j;\n", n, n);
  cgc_printf(cg, "      %s[j * %d + c] = key < kend ? %s : 0.0f;\n    }\n", dst, ld, cgc_load(v, p, at).s);
}

/* The lane's coordinates at the start of a phase. */
static void lane_vars(CgCuda *cg) {
  cgc_printf(cg, "  const unsigned int lane = tid & 31u, w = tid >> 5;\n"
                 "  const int g = (int)(lane >> 2), t2 = (int)(lane & 3u) * 2;\n  (void)lane; (void)w; (void)g; (void)t2;\n");
}

/* Whether warp w's rows see any key of the tile at kt (uniform in the
 * warp, so its mma may be skipped). */
static void live_var(CgCuda *cg, bool causal, int bk) {
  cgc_printf(cg, "  const long long rw0 = q0 + 16 * (long long)w, rw1 = (rw0 + 15 < T ? rw0 + 15 : T - 1);\n");
  if (causal)
    cgc_printf(cg, "  const int live = rw0 < T && kt <= rw1 + off && (win <= 0 || kt + %d > rw0 + off - win);\n",
               bk - 1);
  else
    cgc_printf(cg, "  const int live = rw0 < T;\n  (void)rw1;\n");
}

/* S = Q K^T for the warp's 16 rows and the tile's keys, scaled and
 * masked, and each lane's partial row maxima. */
static void emit_scores(CgCuda *cg, long long D, int bk, int ldk, bool causal) {
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  lane_vars(cg);
  live_var(cg, causal, bk);
  cgc_printf(cg, "  KILN_UNROLL\n  for (int n = 0; n < %d; n++) for (int j = 0; j < 4; j++) KILN_P(sc)[n][j] = 0.0f;\n",
             bk / 8);
  cgc_printf(cg, "  if (live) {\n    KILN_UNROLL\n    for (int n = 0; n < %d; n++) {\n", bk / 8);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int kk = 0; kk < %lld; kk++) {\n", D / 16);
  cgc_printf(cg, "        const float *kp = Ks + n * %d + kk * 16;\n        unsigned int bh[2], bl[2];\n", 8 * ldk);
  cgc_printf(cg, "        kiln_frag_b32(kp, %d, lane, 1, bh, bl);\n", ldk);
  cgc_printf(cg, "        KILN_MMA_RB(1, KILN_P(sc)[n], KILN_P(ql)[kk], bh, KILN_PSTRIDE(ql), 1, kp, %d, lane);\n", ldk);
  cgc_printf(cg, "        KILN_MMA_RB(1, KILN_P(sc)[n], KILN_P(qh)[kk], bl, KILN_PSTRIDE(qh), 2, kp, %d, lane);\n", ldk);
  cgc_printf(cg, "        KILN_MMA_RB(1, KILN_P(sc)[n], KILN_P(qh)[kk], bh, KILN_PSTRIDE(qh), 1, kp, %d, lane);\n", ldk);
  cgc_printf(cg, "      }\n    }\n  }\n");
  /* accumulator j of n-tile n: row g + 8 (j / 2), key n * 8 + t2 + j % 2 */
  cgc_printf(cg, "  KILN_UNROLL\n  for (int r = 0; r < 2; r++) {\n"
                 "    const long long qp = rw0 + g + 8 * r + off;\n    float pm = -KILN_INF;\n    (void)qp;\n"
                 "    KILN_UNROLL\n    for (int n = 0; n < %d; n++)\n      KILN_UNROLL\n      for (int h = 0; h < 2; h++) {\n"
                 "        const long long key = kt + n * 8 + t2 + h;\n",
             bk / 8);
  if (causal)
    cgc_printf(cg, "        const int vis = live && key < kend && key <= qp && (win <= 0 || key > qp - win);\n");
  else
    cgc_printf(cg, "        const int vis = live && key < kend;\n");
  cgc_printf(cg, "        const float s = vis ? scale * KILN_P(sc)[n][2 * r + h] : -KILN_INF;\n"
                 "        KILN_P(sc)[n][2 * r + h] = s;\n        pm = kiln_max_keep_nan(pm, s);\n      }\n"
                 "    KILN_P(pmax)[r] = pm;\n  }\n  KILN_THREADS_END\n");
}

/* The online softmax on the S accumulators: new row max (over the quad),
 * p = exp(s - m), running sum and output rescaled, p split into the A
 * fragments of P V (k-step kk holds n-tiles 2 kk and 2 kk + 1). */
static void emit_softmax(CgCuda *cg, long long DV, int bk) {
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  lane_vars(cg);
  cgc_printf(cg, "  KILN_UNROLL\n  for (int r = 0; r < 2; r++) {\n"
                 "    const float mt = KILN_QUAD_MAX(pmax, [r]), mold = KILN_P(mrow)[r];\n"
                 "    const float mnew = kiln_max_keep_nan(mold, mt);\n"
                 "    const float corr = mnew == -KILN_INF ? 1.0f : expf(mold - mnew);\n"
                 "    KILN_P(mrow)[r] = mnew;\n    float sum = 0.0f;\n"
                 "    KILN_UNROLL\n    for (int n = 0; n < %d; n++)\n      KILN_UNROLL\n      for (int h = 0; h < 2; h++) {\n"
                 "        const float s = KILN_P(sc)[n][2 * r + h];\n"
                 "        const float p = s == -KILN_INF ? 0.0f : expf(s - mnew);\n"
                 "        KILN_P(sc)[n][2 * r + h] = p;\n        sum += p;\n      }\n"
                 "    KILN_P(lrow)[r] = KILN_P(lrow)[r] * corr + sum;\n"
                 "    KILN_UNROLL\n    for (int n = 0; n < %lld; n++) { KILN_P(o)[n][2 * r] *= corr; KILN_P(o)[n][2 * r + 1] *= corr; }\n"
                 "  }\n",
             bk / 8, DV / 8);
  cgc_printf(cg, "  KILN_UNROLL\n  for (int kk = 0; kk < %d; kk++)\n    KILN_UNROLL\n    for (int i = 0; i < 4; i++) {\n"
                 "      const float *s = KILN_P(sc)[2 * kk + (i >> 1)] + 2 * (i & 1);\n"
                 "      kiln_split_h2(s[0], s[1], 1, &KILN_P(ph)[kk][i], &KILN_P(pl)[kk][i]);\n    }\n"
                 "  KILN_THREADS_END\n",
             bk / 16);
}

/* O += P V for the warp's rows (V k-major in shared memory). */
static void emit_pv(CgCuda *cg, long long DV, int bk, int ldv, bool causal) {
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  lane_vars(cg);
  live_var(cg, causal, bk);
  cgc_printf(cg, "  if (live) {\n    KILN_UNROLL\n    for (int kk = 0; kk < %d; kk++) {\n", bk / 16);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int n = 0; n < %lld; n++) {\n", DV / 8);
  cgc_printf(cg, "        const float *vp = Vs + kk * %d + n * 8;\n        unsigned int bh[2], bl[2];\n", 16 * ldv);
  cgc_printf(cg, "        kiln_frag_b32t(vp, %d, lane, 1, bh, bl);\n", ldv);
  cgc_printf(cg, "        KILN_MMA_RB(1, KILN_P(o)[n], KILN_P(pl)[kk], bh, KILN_PSTRIDE(pl), 3, vp, %d, lane);\n", ldv);
  cgc_printf(cg, "        KILN_MMA_RB(1, KILN_P(o)[n], KILN_P(ph)[kk], bl, KILN_PSTRIDE(ph), 4, vp, %d, lane);\n", ldv);
  cgc_printf(cg, "        KILN_MMA_RB(1, KILN_P(o)[n], KILN_P(ph)[kk], bh, KILN_PSTRIDE(ph), 3, vp, %d, lane);\n", ldv);
  cgc_printf(cg, "      }\n    }\n  }\n  KILN_THREADS_END\n");
}

/* The final phase: each row's sum over its quad, o / l (0 for a fully
 * masked row), stored at (row, column) of the accumulator layout. */
static void emit_store(CgCuda *cg, const IrValue *y, long long DV) {
  char at[128];
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  lane_vars(cg);
  cgc_printf(cg, "  KILN_UNROLL\n  for (int r = 0; r < 2; r++) {\n"
                 "    const float l = KILN_QUAD_SUM(lrow, [r]);\n"
                 "    const long long row = q0 + 16 * (long long)w + g + 8 * r;\n"
                 "    if (row < T)\n      KILN_UNROLL\n      for (int n = 0; n < %lld; n++)\n"
                 "        for (int h = 0; h < 2; h++) {\n          ",
             DV / 8);
  snprintf(at, sizeof at, "(bh * T + row) * %lldLL + n * 8 + t2 + h", DV);
  cgc_store(cg, y, "y0", at, "(l > 0.0f ? KILN_P(o)[n][2 * r + h] / l : 0.0f)");
  cgc_printf(cg, "        }\n  }\n  KILN_THREADS_END\n");
}

/* Shared memory, in floats: the q tile [64][D + 8] first, then (reusing
 * it) K [BK][D + 8] and V [BK][Dv + 4]. The pads put the 64-bit fragment
 * loads of K and q and the 32-bit ones of V in distinct banks. */
static int smem_floats(long long D, long long DV, int bk, int *ldk, int *ldv) {
  *ldk = (int)D + 8;
  *ldv = (int)DV + 4;
  long long q = (long long)AT_BQ * *ldk, kv = (long long)bk * (*ldk + *ldv);
  return (int)(q > kv ? q : kv);
}

bool cgc_emit_attention_tc(CgCuda *cg, const IrOp *op) {
  const IrValue *q = op->in[0], *k = op->in[1], *v = op->in[2], *y = op->out[0];
  int r = q->type.rank;
  if (!cgc_ptr(cg, op, q, "xq") || !cgc_ptr(cg, op, k, "xk") || !cgc_ptr(cg, op, v, "xv") ||
      !cgc_ptr(cg, op, y, "y0"))
    return false;
  long long D = (long long)q->type.dims[r - 1].c, DV = (long long)v->type.dims[r - 1].c;
  int bk = D <= 64 && DV <= 64 ? 64 : 32, ldk, ldv;
  int nsm = smem_floats(D, DV, bk, &ldk, &ldv);
  bool causal = ir_op_bool(op, "causal");
  bool kvec = rows_aligned(cg, k, D), vvec = rows_aligned(cg, v, DV);
  cg->k->block = AT_THREADS;
  cgc_grid(cg, 0, &q->type, r - 2, r - 1, AT_BQ);
  cgc_grid(cg, 1, &q->type, 0, r - 2, 1);
  cg->k->smem_bytes = (int64_t)nsm * 4;
  cgc_printf(cg, "  /* tensor-core attention: f32 q k v split in f16; BQ %d, BK %d, D %lld, Dv %lld; %s */\n", AT_BQ,
             bk, D, DV, kvec && vvec ? "cp.async k and v" : kvec ? "cp.async k" : vvec ? "cp.async v" : "plain loads");
  cgc_printf(cg, "  const long long T = %s, S = %s, HQ = %s, HKV = %s;\n", cgc_dim(cg, q->type.dims[r - 2]).s,
             cgc_dim(cg, k->type.dims[r - 2]).s, cgc_dim(cg, q->type.dims[r - 3]).s,
             cgc_dim(cg, k->type.dims[r - 3]).s);
  cgc_printf(cg, "  const long long bh = blockIdx.y, kvh = (bh / HQ) * HKV + (bh %% HQ) / (HQ / HKV);\n");
  cgc_printf(cg, "  const long long q0 = (long long)blockIdx.x * %d, off = %s, win = %lldLL;\n", AT_BQ,
             cgc_dim(cg, ir_op_dim(op, "offset", ir_dim_const(0))).s, (long long)ir_op_int(op, "window", 0));
  cgc_printf(cg, "  const long long qbase = bh * T * %lldLL, kbase = kvh * S * %lldLL, vbase = kvh * S * %lldLL;\n", D,
             D, DV);
  cgc_printf(cg, "  const long long qlast = (q0 + %d < T ? q0 + %d : T) - 1;\n", AT_BQ, AT_BQ);
  if (causal)
    cgc_printf(cg, "  const long long kend = qlast + off + 1 < S ? qlast + off + 1 : S;\n"
                   "  const long long kbeg = win > 0 && q0 + off - win + 1 > 0 ? q0 + off - win + 1 : 0;\n");
  else
    cgc_printf(cg, "  const long long kend = S, kbeg = 0;\n");
  cgc_printf(cg, "  const float scale = %s;\n  (void)win; (void)off; (void)qlast; (void)kbase; (void)vbase;\n",
             cgc_float(ir_op_float(op, "scale", 1)).s);
  cgc_printf(cg, "  __shared__ __align__(16) float sm[%d];\n", nsm);
  cgc_printf(cg, "  float *const Qs = sm, *const Ks = sm, *const Vs = sm + %d;\n  (void)Qs;\n", bk * ldk);
  cgc_printf(cg, "  KILN_PRIVATE(unsigned int, qh, [%lld][4]);\n  KILN_PRIVATE(unsigned int, ql, [%lld][4]);\n", D / 16,
             D / 16);
  cgc_printf(cg, "  KILN_PRIVATE(unsigned int, ph, [%d][4]);\n  KILN_PRIVATE(unsigned int, pl, [%d][4]);\n", bk / 16,
             bk / 16);
  cgc_printf(cg, "  KILN_PRIVATE(float, sc, [%d][4]);\n  KILN_PRIVATE(float, o, [%lld][4]);\n", bk / 8, DV / 8);
  cgc_printf(cg, "  KILN_PRIVATE(float, mrow, [2]);\n  KILN_PRIVATE(float, lrow, [2]);\n"
                 "  KILN_PRIVATE(float, pmax, [2]);\n");
  /* the q tile through shared memory into split fragments; the state reset */
  char at[128];
  snprintf(at, sizeof at, "qbase + t * %lldLL + c", D);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  for (int e = tid; e < %lld; e += %d) {\n", AT_BQ * D, AT_THREADS);
  cgc_printf(cg, "    const int c = e %% %lld;\n    const long long t = q0 + e / %lld;\n", D, D);
  cgc_printf(cg, "    Qs[(e / %lld) * %d + c] = t < T ? %s : 0.0f;\n  }\n  KILN_THREADS_END\n  KILN_SYNC\n", D, ldk,
             cgc_load(q, "xq", at).s);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  lane_vars(cg);
  cgc_printf(cg, "  KILN_UNROLL\n  for (int kk = 0; kk < %lld; kk++)\n"
                 "    kiln_frag_a32(Qs + w * %d + kk * 16, %d, lane, 1, KILN_P(qh)[kk], KILN_P(ql)[kk]);\n",
             D / 16, 16 * ldk, ldk);
  cgc_printf(cg, "  for (int r = 0; r < 2; r++) { KILN_P(mrow)[r] = -KILN_INF; KILN_P(lrow)[r] = 0.0f; }\n"
                 "  KILN_UNROLL\n  for (int n = 0; n < %lld; n++) for (int j = 0; j < 4; j++) KILN_P(o)[n][j] = 0.0f;\n"
                 "  KILN_THREADS_END\n  KILN_SYNC\n",
             DV / 8);
  /* the first K tile; then per tile: V, S, softmax, the next K, P V */
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  if (kbeg < kend) {\n    const long long kt = kbeg;\n");
  stage(cg, k, "xk", "Ks", "kbase", bk, D, ldk, kvec);
  cgc_printf(cg, "  }\n  KILN_CP_COMMIT\n  KILN_THREADS_END\n");
  cgc_printf(cg, "  KILN_NO_UNROLL\n  for (long long kt = kbeg; kt < kend; kt += %d) {\n  KILN_THREADS_BEGIN\n  {\n", bk);
  stage(cg, v, "xv", "Vs", "vbase", bk, DV, ldv, vvec);
  cgc_printf(cg, "  }\n  KILN_CP_COMMIT\n  KILN_CP_WAIT1\n  KILN_THREADS_END\n  KILN_SYNC\n");
  emit_scores(cg, D, bk, ldk, causal);
  emit_softmax(cg, DV, bk); /* a phase boundary for the host only: the quad's maxima */
  cgc_printf(cg, "  KILN_SYNC\n  KILN_THREADS_BEGIN\n  if (kt + %d < kend) {\n    const long long kt1 = kt + %d;\n"
                 "    {\n    const long long kt = kt1;\n",
             bk, bk);
  stage(cg, k, "xk", "Ks", "kbase", bk, D, ldk, kvec);
  cgc_printf(cg, "    }\n  }\n  KILN_CP_COMMIT\n  KILN_CP_WAIT1\n  KILN_THREADS_END\n  KILN_SYNC\n");
  emit_pv(cg, DV, bk, ldv, causal);
  cgc_printf(cg, "  KILN_SYNC\n  }\n");
  emit_store(cg, y, DV);
  return true;
}
