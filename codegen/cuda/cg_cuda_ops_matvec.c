/* cg_cuda_ops_matvec.c: the decode matmul, one row of activations against
 * weights stored [N, K] (transpose_b): the 64x64 tile kernel would leave
 * 63 of its 64 rows idle.
 *
 * A block of 256 threads computes 8 outputs, one warp each: the warp's 32
 * lanes stride through K (consecutive lanes read consecutive weights, so
 * each load is one 128-byte line), then a shared-memory tree sums the 32
 * partial sums, and lane 0 stores (after the epilogue, if any).
 * Grid: x = ceil(N / 8), z = the batch. Sums are f32, reordered.
 */
#include <stdio.h>

#include "cg_cuda_internal.h"

#define MV_THREADS 256
#define MV_LANES 32

bool cgc_matvec_fits(const IrOp *op) {
  const IrType *o = &op->out[0]->type;
  IrDim m = o->dims[o->rank - 2];
  return ir_op_bool(op, "transpose_b") && ir_dim_is_const(m) && m.c == 1;
}

bool cgc_emit_matvec(CgCuda *cg, const IrOp *op) {
  if (!cgc_mm_operands(cg, op)) return false;
  const IrValue *a = op->in[0], *b = op->in[1], *y = op->out[0];
  const IrType *o = &y->type;
  const char *epilogue = ir_op_str(op, "epilogue", NULL);
  int rows = MV_THREADS / MV_LANES;
  cg->k->block = MV_THREADS;
  cgc_grid(cg, 0, o, o->rank - 1, o->rank, rows);
  cgc_grid(cg, 2, o, 0, o->rank - 2, 1);
  cg->k->smem_bytes = MV_THREADS * (int64_t)sizeof(float);
  cgc_printf(cg, "  const long long N = %s, K = %s;\n", cgc_dim(cg, o->dims[o->rank - 1]).s,
             cgc_dim(cg, b->type.dims[b->type.rank - 1]).s);
  cgc_printf(cg, "  const long long n0 = (long long)blockIdx.x * %d;\n", rows);
  cgc_mm_batch_bases(cg, o, &a->type, &b->type);
  cgc_printf(cg, "  const long long obase = (long long)blockIdx.z * N;\n");
  cgc_printf(cg, "  __shared__ float red[%d];\n", MV_THREADS);
  /* a's row is contiguous in k whether or not it is transposed (M = 1) */
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const long long n = n0 + tid / %d;\n  float s = 0.0f;\n", MV_LANES);
  cgc_printf(cg, "  if (n < N) for (long long k = tid %% %d; k < K; k += %d) s += %s * %s;\n", MV_LANES, MV_LANES,
             cgc_load(a, "x0", "abase + k").s, cgc_load(b, "x1", "bbase + n * K + k").s);
  cgc_printf(cg, "  red[tid] = s;\n  KILN_THREADS_END\n  KILN_SYNC\n");
  for (int w = MV_LANES / 2; w > 0; w /= 2)
    cgc_printf(cg, "  KILN_THREADS_BEGIN\n  if (tid %% %d < %d) red[tid] += red[tid + %d];\n  KILN_THREADS_END\n  KILN_SYNC\n",
               MV_LANES, w, w);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const long long n = n0 + tid / %d, m = 0;\n", MV_LANES);
  cgc_printf(cg, "  if (tid %% %d == 0 && n < N) {\n", MV_LANES);
  if (epilogue && !cgc_mm_epilogue(cg, op, epilogue, "red[tid]")) return false;
  cgc_printf(cg, "    (void)m;\n    ");
  cgc_store(cg, y, "y0", "obase + n", epilogue ? "v" : "red[tid]");
  cgc_printf(cg, "  }\n  KILN_THREADS_END\n");
  return true;
}
