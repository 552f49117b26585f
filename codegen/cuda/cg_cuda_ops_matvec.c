/* cg_cuda_ops_matvec.c: the decode matmul, one row of activations (M the
 * constant 1) against the weights: the 64x64 tile kernel would leave 63 of
 * its 64 rows idle. Decode is memory bound, so the kernels are built to
 * stream the weights at the GPU's bandwidth (docs/cuda.md, "Decode
 * matvec"). Weights stored [K, N] take the kernel further below.
 *
 * Weights stored [N, K] (transpose_b, the usual layout of a linear layer):
 * a block of 256 threads computes 8 outputs, one warp each. Where every
 * weight row starts 16-byte aligned (the buffer's offset is, and K * the
 * weight's bytes is a constant multiple of 16) each lane loads 16 bytes
 * at a time (4 f32 or 8 bf16/f16 weights), 8 loads in flight into 8
 * partial sums: one load instruction of the warp reads 512 contiguous
 * bytes of the row, a step of the loop 4 KiB. The activations (f32, or
 * 16-bit with 16-bit weights) come as 16-byte loads through the read-only
 * cache, where the 8 warps of a block (and the next blocks) find them;
 * the weights bypass L1 so they do not evict them. Otherwise (odd or
 * symbolic K, weights in packed panels, 16-bit activations with f32
 * weights) the lanes stride K one element at a time, still with 8 partial
 * sums. A warp shuffle butterfly (KILN_WARP_SUM) then sums the 32 lanes,
 * and lane 0 stores (after the epilogue, if any).
 * Grid: x = ceil(N / 8), z = the batch. Sums are f32, reordered.
 */
#include <stdio.h>

#include "cg_cuda_internal.h"

#define MV_THREADS 256
#define MV_LANES 32
#define MV_ROWS (MV_THREADS / MV_LANES) /* a warp a row */
#define MV_UNROLL 8                     /* loads in flight a lane, partial sums */
/* a partial sum plus one chunk's dot product: activation bytes a chunk, kinds */
#define MV_DOT "kiln_mv_dot16(w[u], ar + (c + 32 * u) * %d, %d, %d, s[u]);\n"

bool cgc_matvec_fits(const IrOp *op) {
  const IrType *o = &op->out[0]->type;
  IrDim m = o->dims[o->rank - 2];
  return ir_dim_is_const(m) && m.c == 1;
}

/* The dtype codes of kiln_mv_dot16: 0 f32, 1 bf16, 2 f16. */
static int dot_kind(IrDType t) { return t == IR_BF16 ? 1 : t == IR_F16 ? 2 : 0; }

/* v is row-major in a buffer at a 16-byte offset (the plan places every
 * value at a 64-byte multiple; the runtime's bases are at least that
 * aligned). */
static bool aligned_buffer(const CgCuda *cg, const IrValue *v) {
  const KBuffer *buf = kplan_buffer(cg->plan, v);
  bool placed = buf->kind == KBUF_WEIGHT || buf->kind == KBUF_ARENA || buf->kind == KBUF_STATE;
  return placed && buf->offset % 16 == 0 && v->layout.panel == 0;
}

/* Whether the 16-byte loads fit: every weight row (and a's row, batch
 * bases being whole rows) starts 16-byte aligned, and a chunk of 16 bytes
 * of weights meets 16 or 32 bytes of activations. */
static bool vector_fits(const CgCuda *cg, const IrValue *a, const IrValue *b, IrDim k) {
  IrDType ad = a->type.dtype, bd = b->type.dtype;
  bool half_b = bd == IR_BF16 || bd == IR_F16, half_a = ad == IR_BF16 || ad == IR_F16;
  if (!(bd == IR_F32 || half_b) || !(ad == IR_F32 || (half_a && half_b))) return false;
  int bytes = half_b ? 2 : 4;
  return ir_dim_is_const(k) && (k.c * bytes) % 16 == 0 && aligned_buffer(cg, a) && aligned_buffer(cg, b);
}

/* The lane's partial sums s[u] over its 16-byte chunks c, c + 32, ... of
 * weight row n: full steps of MV_UNROLL chunks, then one step masked at
 * nc. */
static void emit_vector_loop(CgCuda *cg, const IrValue *a, const IrValue *b) {
  int wk = dot_kind(b->type.dtype), ak = dot_kind(a->type.dtype);
  int per = wk ? 8 : 4, astep = per * (ak ? 2 : 4); /* weights, activation bytes a chunk */
  cgc_printf(cg, "  if (n < N) {\n"
                 "    const unsigned char *wr = (const unsigned char *)(x1 + bbase + n * K);\n"
                 "    const unsigned char *ar = (const unsigned char *)(x0 + abase);\n"
                 "    const long long nc = K / %d; /* 16-byte chunks of a row */\n"
                 "    long long c = lane;\n"
                 "    for (; c + %d < nc; c += %d) {\n      uint4 w[%d];\n",
             per, MV_LANES * (MV_UNROLL - 1), MV_LANES * MV_UNROLL, MV_UNROLL);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++) w[u] = kiln_ldw16(wr + (c + 32 * u) * 16);\n",
             MV_UNROLL);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++) s[u] = ", MV_UNROLL);
  cgc_printf(cg, MV_DOT, astep, wk, ak);
  cgc_printf(cg, "    }\n    if (c < nc) {\n      uint4 w[%d];\n", MV_UNROLL);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++)\n"
                 "        if (c + 32 * u < nc) w[u] = kiln_ldw16(wr + (c + 32 * u) * 16);\n",
             MV_UNROLL);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++) if (c + 32 * u < nc) s[u] = ", MV_UNROLL);
  cgc_printf(cg, MV_DOT, astep, wk, ak);
  cgc_printf(cg, "    }\n  }\n");
}

/* The same one element a lane at a time (any K, packed weights). */
static void emit_scalar_loop(CgCuda *cg, const IrValue *a, const IrValue *b) {
  cgc_printf(cg, "  if (n < N) {\n    long long k = lane;\n    for (; k + %d < K; k += %d) {\n",
             MV_LANES * (MV_UNROLL - 1), MV_LANES * MV_UNROLL);
  cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++) s[u] += %s * %s;\n    }\n", MV_UNROLL,
             cgc_load(a, "x0", "abase + k + 32 * u").s, cgc_load(b, "x1", "bbase + n * K + k + 32 * u").s);
  cgc_printf(cg, "    for (; k < K; k += 32) s[0] += %s * %s;\n  }\n", cgc_load(a, "x0", "abase + k").s,
             cgc_load(b, "x1", "bbase + n * K + k").s);
}

/* The kernel's comment saying the path it took, which the tests look for:
 * "matvec: f32 x bf16; 16-byte loads, 8 a lane in flight". */
static void path_comment(CgCuda *cg, const char *kind, const IrValue *a, const IrValue *b, bool vec) {
  cgc_printf(cg, "  /* %s: %s x %s; ", kind, ir_dtype_name(a->type.dtype), ir_dtype_name(b->type.dtype));
  if (vec)
    cgc_printf(cg, "16-byte loads, %d a lane in flight */\n", MV_UNROLL);
  else
    cgc_printf(cg, "scalar loads */\n");
}

/* s[from] + .. + s[to - 1] as a balanced tree: (s[0] + s[1]) + (s[2] + s[3]). */
static void emit_pairwise(CgCuda *cg, int from, int to) {
  if (to - from == 1) {
    cgc_printf(cg, "s[%d]", from);
    return;
  }
  cgc_printf(cg, "(");
  emit_pairwise(cg, from, (from + to) / 2);
  cgc_printf(cg, " + ");
  emit_pairwise(cg, (from + to) / 2, to);
  cgc_printf(cg, ")");
}

/* ---- weights stored [K, N] (no transpose_b) ----
 * Lanes run along N: lane r of a group of 8 takes the 16-byte chunk r
 * (MV_KN_LANES x 16 bytes, 128 contiguous bytes of a weight row, a group),
 * the 4 groups of a warp 4 consecutive rows, so the block's 32 groups
 * (k-slices) take rows k = s, s + 32, .., 8 at a time into per-column sums
 * (one chunk's 4 or 8 columns a lane). Then the slices' sums meet in
 * shared memory and thread t sums column t's 32 in order.
 * Grid: x = ceil(N / tile), the tile 64 columns (bf16/f16) or 32 (f32);
 * without 16-byte rows (N * bytes not a constant multiple of 16, packed
 * weights) a lane takes one column and the tile is 8. */
#define MV_KN_LANES 8                           /* lanes along a row */
#define MV_KN_SLICES (MV_THREADS / MV_KN_LANES) /* groups, each its own rows */

/* The lane's column sums acc[0..per) over its rows k of slice s. */
static void emit_kn_loop(CgCuda *cg, const IrValue *a, const IrValue *b, bool vec) {
  int wk = dot_kind(b->type.dtype);
  char at[64], bt[64];
  snprintf(at, sizeof at, "abase + k + %d * u", MV_KN_SLICES);
  snprintf(bt, sizeof bt, "bbase + (k + %d * u) * N + n", MV_KN_SLICES);
  CgcText ak = cgc_load(a, "x0", at);
  cgc_printf(cg, "  if (n < N) {\n    long long k = s;\n");
  for (int pass = 0; pass < 2; pass++) { /* full steps of MV_UNROLL rows, then one masked */
    char guard[32] = "";
    if (pass) snprintf(guard, sizeof guard, "if (k + %d * u < K) ", MV_KN_SLICES);
    if (pass == 0)
      cgc_printf(cg, "    for (; k + %d < K; k += %d) {\n", MV_KN_SLICES * (MV_UNROLL - 1),
                 MV_KN_SLICES * MV_UNROLL);
    else
      cgc_printf(cg, "    if (k < K) {\n");
    if (vec) {
      cgc_printf(cg, "      const unsigned char *wc = (const unsigned char *)(x1 + bbase + n);\n      uint4 w[%d];\n",
                 MV_UNROLL);
      cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++)\n"
                     "        %sw[u] = kiln_ldw16(wc + (k + %d * u) * N * %d);\n",
                 MV_UNROLL, guard, MV_KN_SLICES, wk ? 2 : 4);
      cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++) %skiln_mv_axpy16(w[u], %s, %d, acc);\n",
                 MV_UNROLL, guard, ak.s, wk);
    } else {
      cgc_printf(cg, "      KILN_UNROLL\n      for (int u = 0; u < %d; u++) %sacc[0] += %s * %s;\n", MV_UNROLL, guard,
                 ak.s, cgc_load(b, "x1", bt).s);
    }
    cgc_printf(cg, "    }\n");
  }
  cgc_printf(cg, "  }\n");
}

static bool emit_matvec_kn(CgCuda *cg, const IrOp *op, IrDim kdim) {
  const IrValue *a = op->in[0], *b = op->in[1], *y = op->out[0];
  const IrType *o = &y->type;
  const char *epilogue = ir_op_str(op, "epilogue", NULL);
  IrDim ndim = o->dims[o->rank - 1];
  int bytes = b->type.dtype == IR_F32 ? 4 : 2;
  bool vec = ir_dim_is_const(ndim) && (ndim.c * bytes) % 16 == 0 && aligned_buffer(cg, b);
  int per = vec ? 16 / bytes : 1, tile = MV_KN_LANES * per;
  cg->k->block = MV_THREADS;
  cgc_grid(cg, 0, o, o->rank - 1, o->rank, tile);
  cgc_grid(cg, 2, o, 0, o->rank - 2, 1);
  cg->k->smem_bytes = MV_KN_SLICES * tile * (int64_t)sizeof(float);
  path_comment(cg, "matvec [K, N]", a, b, vec);
  cgc_printf(cg, "  const long long N = %s, K = %s;\n", cgc_dim(cg, ndim).s, cgc_dim(cg, kdim).s);
  cgc_printf(cg, "  const long long n0 = (long long)blockIdx.x * %d;\n", tile);
  cgc_mm_batch_bases(cg, o, &a->type, &b->type);
  cgc_printf(cg, "  const long long obase = (long long)blockIdx.z * N;\n");
  cgc_printf(cg, "  __shared__ float red[%d][%d];\n", MV_KN_SLICES, tile);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const int s = (int)(tid / %du), r = (int)(tid %% %du);\n"
                 "  const long long n = n0 + r * %d;\n  float acc[%d] = {0.0f};\n",
             MV_KN_LANES, MV_KN_LANES, per, per);
  emit_kn_loop(cg, a, b, vec);
  cgc_printf(cg, "  for (int j = 0; j < %d; j++) red[s][r * %d + j] = acc[j];\n  KILN_THREADS_END\n  KILN_SYNC\n",
             per, per);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const long long n = n0 + tid, m = 0;\n  if (tid < %du && n < N) {\n"
                 "    float sum = 0.0f;\n    for (int s = 0; s < %d; s++) sum += red[s][tid];\n",
             tile, MV_KN_SLICES);
  if (epilogue && !cgc_mm_epilogue(cg, op, epilogue, "sum")) return false;
  cgc_printf(cg, "    (void)m;\n    ");
  cgc_store(cg, y, "y0", "obase + n", epilogue ? "v" : "sum");
  cgc_printf(cg, "  }\n  KILN_THREADS_END\n");
  return true;
}

static bool emit_matvec_nk(CgCuda *cg, const IrOp *op) {
  const IrValue *a = op->in[0], *b = op->in[1], *y = op->out[0];
  const IrType *o = &y->type;
  const char *epilogue = ir_op_str(op, "epilogue", NULL);
  IrDim kdim = b->type.dims[b->type.rank - 1];
  bool vec = vector_fits(cg, a, b, kdim);
  cg->k->block = MV_THREADS;
  cgc_grid(cg, 0, o, o->rank - 1, o->rank, MV_ROWS);
  cgc_grid(cg, 2, o, 0, o->rank - 2, 1);
  cg->k->smem_bytes = 0;
  path_comment(cg, "matvec", a, b, vec);
  cgc_printf(cg, "  const long long N = %s, K = %s;\n", cgc_dim(cg, o->dims[o->rank - 1]).s, cgc_dim(cg, kdim).s);
  cgc_printf(cg, "  const long long n0 = (long long)blockIdx.x * %d;\n", MV_ROWS);
  cgc_mm_batch_bases(cg, o, &a->type, &b->type);
  cgc_printf(cg, "  const long long obase = (long long)blockIdx.z * N;\n");
  /* a's row is contiguous in k whether or not it is transposed (M = 1) */
  cgc_printf(cg, "  KILN_PRIVATE(float, part, );\n");
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const long long n = n0 + tid / %d;\n  const unsigned int lane = tid %% %du;\n"
                 "  float s[%d] = {0.0f};\n",
             MV_LANES, MV_LANES, MV_UNROLL);
  if (vec)
    emit_vector_loop(cg, a, b);
  else
    emit_scalar_loop(cg, a, b);
  cgc_printf(cg, "  (void)lane;\n  KILN_P(part) = ");
  emit_pairwise(cg, 0, MV_UNROLL);
  cgc_printf(cg, ";\n  KILN_THREADS_END\n");
  /* a phase boundary, not a barrier: the shuffles exchange the sums on the
   * GPU, and the host twin reads the lanes' copies written above */
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const float sum = KILN_WARP_SUM(part, );\n");
  cgc_printf(cg, "  const long long n = n0 + tid / %d, m = 0;\n  if (tid %% %d == 0 && n < N) {\n", MV_LANES, MV_LANES);
  if (epilogue && !cgc_mm_epilogue(cg, op, epilogue, "sum")) return false;
  cgc_printf(cg, "    (void)m;\n    ");
  cgc_store(cg, y, "y0", "obase + n", epilogue ? "v" : "sum");
  cgc_printf(cg, "  }\n  KILN_THREADS_END\n");
  return true;
}

bool cgc_emit_matvec(CgCuda *cg, const IrOp *op) {
  if (!cgc_mm_operands(cg, op)) return false;
  if (ir_op_bool(op, "transpose_b")) return emit_matvec_nk(cg, op);
  const IrValue *a = op->in[0];
  return emit_matvec_kn(cg, op, a->type.dims[a->type.rank - (ir_op_bool(op, "transpose_a") ? 2 : 1)]);
}
