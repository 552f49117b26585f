/* cg_cuda_ops_matmul_tc.c: the tensor-core matmul (mma.sync m16n8k16,
 * bf16 or f16 operands, f32 accumulators; sm_80+).
 *
 * Taken when b (the weight) is bf16 or f16 and a is f32 or of b's dtype,
 * neither is stored in packed panels, and M is not the constant 1 (see
 * cgc_mm_tc_fits). An f32 a is split as a = hi + lo with both halves in
 * b's dtype and each k step does two mma (hi * b, lo * b): that keeps ~16
 * (bf16) or ~22 (f16) bits of a's mantissa, so the result stays within
 * reordering error of the interpreter's f32 products.
 *
 * A block of 256 threads (8 warps, 2 x 4) computes a 64 x 128 tile of one
 * batch's output, a warp 32 x 32 (2 x 4 mma tiles of 16 x 8, 32 f32
 * accumulators a lane). K advances in steps of 32, double buffered in
 * shared memory: while the warps multiply one buffer, the next slice is
 * copied into the other with cp.async (16-byte chunks) where the rows are
 * provably 16-byte aligned, else with plain loads. Shared memory holds A
 * as [m][k] (a's dtype) and B as [n][k] (16-bit), rows padded to 40
 * elements so the fragment loads hit distinct banks. Tails (M, N, K not
 * multiples of the tile) are zero-filled there.
 * Grid: x = ceil(N / 128), y = ceil(M / 64), z = the batch.
 *
 * The mma and cp.async sit behind macros (KILN_MMA, KILN_CP_ASYNC16) whose
 * host versions (kiln_cuda_host.h) compute the same values on the CPU.
 */
#include <stdio.h>

#include "cg_cuda_internal.h"

#define TC_BM 64
#define TC_BN 128
#define TC_BK 32
#define TC_LD 40 /* padded row of a shared tile, in elements */
#define TC_THREADS 256

static bool is_half(IrDType t) { return t == IR_BF16 || t == IR_F16; }

bool cgc_mm_tc_fits(const IrOp *op) {
  const IrValue *a = op->in[0], *b = op->in[1];
  const IrType *o = &op->out[0]->type;
  IrDim m = o->dims[o->rank - 2];
  if (!is_half(b->type.dtype) || (a->type.dtype != IR_F32 && a->type.dtype != b->type.dtype)) return false;
  if (a->layout.panel > 0 || b->layout.panel > 0) return false;
  return !(ir_dim_is_const(m) && m.c == 1);
}

/* Whether the rows of v (row length `row` elements of `bytes` each) start
 * 16-byte aligned: its buffer's offset is (the plan aligns to 64) and the
 * row length is a constant multiple of 16 bytes. Batch bases are
 * multiples of whole matrices, so they keep it. The offset itself is a
 * launch argument (koff), but the choice is in the text: launches share
 * a function only when their choices agree, and as every planned offset
 * is a multiple of 64 the layers of a model do. */
static bool rows_aligned(const CgCuda *cg, const IrValue *v, IrDim row, int bytes) {
  const KBuffer *buf = kplan_buffer(cg->plan, v);
  bool placed = buf->kind == KBUF_WEIGHT || buf->kind == KBUF_ARENA || buf->kind == KBUF_STATE;
  return placed && buf->offset % 16 == 0 && ir_dim_is_const(row) && (row.c * bytes) % 16 == 0;
}

/* Stages one operand's slice k0 .. k0+31 into dst[buf][x][kk] (x < rows):
 * element (x0 + x, k0 + kk) of the operand seen as x by k, zero outside.
 * `at` indexes the operand by (x, k); `k_fast`: k is contiguous in memory;
 * `vec`: copy 16-byte chunks with cp.async (k_fast, rows aligned).
 * Expects `kt` (the slice's k0) and `sb` (the buffer) in scope. */
static void stage(CgCuda *cg, const char *p, const char *dst, int rows, const char *x0, const char *xlen,
                  const char *at, bool k_fast, bool vec, int bytes, const char *zero) {
  if (vec) {
    int per = 16 / bytes, chunks = rows * TC_BK / per;
    cgc_printf(cg, "    for (int e = tid; e < %d; e += %d) {\n", chunks, TC_THREADS);
    cgc_printf(cg, "      const int xx = e / %d, kk = (e %% %d) * %d;\n", TC_BK / per, TC_BK / per, per);
    cgc_printf(cg, "      const long long x = %s + xx, k = kt + kk;\n", x0);
    cgc_printf(cg, "      if (x < %s && k < K) KILN_CP_ASYNC16(&%s[sb][xx][kk], %s + (%s));\n", xlen, dst, p, at);
    cgc_printf(cg, "      else for (int u = 0; u < %d; u++) %s[sb][xx][kk + u] = %s;\n    }\n", per, dst, zero);
    return;
  }
  cgc_printf(cg, "    for (int e = tid; e < %d; e += %d) {\n", rows * TC_BK, TC_THREADS);
  if (k_fast)
    cgc_printf(cg, "      const int kk = e %% %d, xx = e / %d;\n", TC_BK, TC_BK);
  else
    cgc_printf(cg, "      const int xx = e %% %d, kk = e / %d;\n", rows, rows);
  cgc_printf(cg, "      const long long x = %s + xx, k = kt + kk;\n", x0);
  cgc_printf(cg, "      %s[sb][xx][kk] = (x < %s && k < K) ? %s[%s] : %s;\n    }\n", dst, xlen, p, at, zero);
}

/* One k slice of the warp's 32 x 32 tile from buffer sb: 2 k16 steps of
 * 2 x 4 mma (twice with a split f32 a). */
static void multiply(CgCuda *cg, bool a32, int f16) {
  cgc_printf(cg, "    const unsigned int lane = tid & 31u, w = tid >> 5;\n"
                 "    const int wm = (int)(w >> 2) * 32, wn = (int)(w & 3u) * 32;\n"
                 "    KILN_UNROLL\n    for (int ks = 0; ks < %d; ks += 16) {\n"
                 "      unsigned int ah[2][4], al[2][4], bf[4][2];\n"
                 "      KILN_UNROLL\n      for (int i = 0; i < 2; i++) ",
             TC_BK);
  if (a32)
    cgc_printf(cg, "kiln_frag_a32(&As[sb][wm + 16 * i][ks], %d, lane, %d, ah[i], al[i]);\n", TC_LD, f16);
  else
    cgc_printf(cg, "kiln_frag_a16(&As[sb][wm + 16 * i][ks], %d, lane, ah[i]);\n", TC_LD);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int j = 0; j < 4; j++) kiln_frag_b16(&Bs[sb][wn + 8 * j][ks], %d, lane, bf[j]);\n",
             TC_LD);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int i = 0; i < 2; i++)\n"
                 "        KILN_UNROLL\n        for (int j = 0; j < 4; j++) {\n"
                 "          KILN_MMA(%d, KILN_P(acc)[i][j], ah[i], bf[j], %d, &As[sb][wm + 16 * i][ks], %d, "
                 "&Bs[sb][wn + 8 * j][ks], %d, lane);\n",
             f16, a32 ? 1 : 0, TC_LD, TC_LD);
  if (a32)
    cgc_printf(cg, "          KILN_MMA(%d, KILN_P(acc)[i][j], al[i], bf[j], 2, &As[sb][wm + 16 * i][ks], %d, "
                   "&Bs[sb][wn + 8 * j][ks], %d, lane);\n",
               f16, TC_LD, TC_LD);
  cgc_printf(cg, "        }\n      (void)al;\n    }\n");
}

/* Stores each accumulator (after the epilogue) at its (m, n): lane holds
 * D[g + 8 (r / 2)][t + r % 2] of each 16 x 8 tile. */
static bool store(CgCuda *cg, const IrOp *op, const char *epilogue) {
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const unsigned int lane = tid & 31u, w = tid >> 5;\n"
                 "  const long long mw = m0 + (long long)(w >> 2) * 32 + (lane >> 2), "
                 "nw = n0 + (long long)(w & 3u) * 32 + (lane & 3u) * 2;\n"
                 "  for (int i = 0; i < 2; i++) for (int j = 0; j < 4; j++) for (int r = 0; r < 4; r++) {\n"
                 "    const long long m = mw + 16 * i + 8 * (r >> 1), n = nw + 8 * j + (r & 1);\n"
                 "    if (m < M && n < N) {\n");
  if (epilogue && !cgc_mm_epilogue(cg, op, epilogue, "KILN_P(acc)[i][j][r]")) return false;
  cgc_printf(cg, "    ");
  cgc_store(cg, op->out[0], "y0", "obase + m * N + n", epilogue ? "v" : "KILN_P(acc)[i][j][r]");
  cgc_printf(cg, "    }\n  }\n  KILN_THREADS_END\n");
  return true;
}

bool cgc_emit_matmul_tc(CgCuda *cg, const IrOp *op) {
  const IrValue *a = op->in[0], *b = op->in[1];
  const char *epilogue = ir_op_str(op, "epilogue", NULL);
  if (!cgc_mm_operands(cg, op)) return false;
  bool ta = ir_op_bool(op, "transpose_a"), tb = ir_op_bool(op, "transpose_b");
  bool a32 = a->type.dtype == IR_F32;
  int f16 = b->type.dtype == IR_F16, abytes = a32 ? 4 : 2;
  const IrType *o = &op->out[0]->type;
  int ra = a->type.rank;
  IrDim kdim = a->type.dims[ta ? ra - 2 : ra - 1];
  bool avec = !ta && rows_aligned(cg, a, kdim, abytes), bvec = tb && rows_aligned(cg, b, kdim, 2);
  const char *aty = a32 ? "float" : "unsigned short", *azero = a32 ? "0.0f" : "(unsigned short)0";
  cg->k->block = TC_THREADS;
  cgc_grid(cg, 0, o, o->rank - 1, o->rank, TC_BN);
  cgc_grid(cg, 1, o, o->rank - 2, o->rank - 1, TC_BM);
  cgc_grid(cg, 2, o, 0, o->rank - 2, 1);
  cg->k->smem_bytes = 2 * TC_LD * (TC_BM * (int64_t)abytes + TC_BN * 2);
  cgc_printf(cg, "  /* tensor cores: %s x %s, %s a; %s */\n", ir_dtype_name(a->type.dtype), ir_dtype_name(b->type.dtype),
             a32 ? "split" : "plain", avec && bvec ? "cp.async a and b" : avec ? "cp.async a" : bvec ? "cp.async b" : "plain loads");
  cgc_printf(cg, "  const long long M = %s, N = %s, K = %s;\n", cgc_dim(cg, o->dims[o->rank - 2]).s,
             cgc_dim(cg, o->dims[o->rank - 1]).s, cgc_dim(cg, kdim).s);
  cgc_printf(cg, "  const long long m0 = (long long)blockIdx.y * %d, n0 = (long long)blockIdx.x * %d;\n", TC_BM,
             TC_BN);
  cgc_mm_batch_bases(cg, o, &a->type, &b->type);
  cgc_printf(cg, "  const long long obase = (long long)blockIdx.z * M * N;\n");
  cgc_printf(cg, "  __shared__ __align__(16) %s As[2][%d][%d];\n", aty, TC_BM, TC_LD);
  cgc_printf(cg, "  __shared__ __align__(16) unsigned short Bs[2][%d][%d];\n", TC_BN, TC_LD);
  cgc_printf(cg, "  KILN_PRIVATE(float, acc, [2][4][4]);\n");
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  for (int i = 0; i < 2; i++) for (int j = 0; j < 4; j++) for (int r = 0; r < 4; r++) "
                 "KILN_P(acc)[i][j][r] = 0.0f;\n  KILN_THREADS_END\n");
  /* the slice at kt into buffer sb: the prologue (slice 0), then each
   * iteration the next one while the current one is multiplied */
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 0)
      cgc_printf(cg, "  KILN_THREADS_BEGIN\n  {\n    const long long kt = 0;\n    const int sb = 0;\n");
    else
      cgc_printf(cg, "  KILN_NO_UNROLL\n  for (long long k0 = 0; k0 < K; k0 += %d) {\n  const int cur = (int)((k0 / %d) & 1);\n"
                     "  KILN_THREADS_BEGIN\n  if (k0 + %d < K) {\n    const long long kt = k0 + %d;\n    const int sb = cur ^ 1;\n",
                 TC_BK, TC_BK, TC_BK, TC_BK);
    stage(cg, "x0", "As", TC_BM, "m0", "M", ta ? "abase + k * M + x" : "abase + x * K + k", !ta, avec, abytes, azero);
    stage(cg, "x1", "Bs", TC_BN, "n0", "N", tb ? "bbase + x * K + k" : "bbase + k * N + x", tb, bvec, 2,
          "(unsigned short)0");
    cgc_printf(cg, "  }\n  KILN_CP_COMMIT\n");
    if (pass == 0) {
      cgc_printf(cg, "  KILN_THREADS_END\n");
      continue;
    }
    cgc_printf(cg, "  KILN_CP_WAIT1\n  KILN_THREADS_END\n  KILN_SYNC\n  KILN_THREADS_BEGIN\n  {\n    const int sb = cur;\n");
    multiply(cg, a32, f16);
    cgc_printf(cg, "  }\n  KILN_THREADS_END\n  KILN_SYNC\n  }\n");
  }
  return store(cg, op, epilogue);
}
