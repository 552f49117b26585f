/* cg_cuda_ops_matmul.c: the matmul kernel.
 *
 * A block of 256 threads computes a 64 x 64 tile of one batch's output,
 * each thread a 4 x 4 sub-tile strided by 16 (so neighbouring threads
 * write neighbouring columns). K advances in steps of 16: the A and B
 * slices are staged in shared memory as f32 (weights of any float dtype
 * are converted while staging; accumulation is f32), and each output's
 * sum runs in k order like the interpreter's.
 * Grid: x = ceil(N / 64), y = ceil(M / 64), z = the batch.
 *
 * Staging reads global memory along its contiguous axis: k for A (unless
 * transpose_a) and for B with transpose_b (weights [N, K]), n for B
 * otherwise, so a warp's loads are coalesced.
 *
 * An `epilogue` (ir_expr.h) is applied to each accumulator before the
 * store, its extra operands ($2, ...) broadcast against the output.
 *
 * A matmul of one row (decode), either weight layout, goes to the
 * matvec kernel instead (cg_cuda_ops_matvec.c).
 *
 * Matmuls with bf16 or f16 weights go to the tensor-core kernel
 * (cg_cuda_ops_matmul_tc.c); this one serves f32 x f32 and what that one
 * does not take (packed weights, mixed 16-bit dtypes).
 */
#include <stdio.h>

#include "cg_cuda_internal.h"

#define MM_TILE 64
#define MM_KT 16
#define MM_THREADS 256

/* Declares `abase`, `bbase`: element offsets of batch blockIdx.z's matrix
 * in a and b, the batch dims broadcast like elementwise operands. */
void cgc_mm_batch_bases(CgCuda *cg, const IrType *o, const IrType *a, const IrType *b) {
  int nb = o->rank - 2;
  cgc_printf(cg, "  long long zr = blockIdx.z;\n");
  for (int i = nb - 1; i >= 0; i--) {
    CgcText d = cgc_dim(cg, o->dims[i]);
    cgc_printf(cg, "  const long long z%d = zr %% %s; zr /= %s;\n", i, d.s, d.s);
  }
  cgc_printf(cg, "  (void)zr;\n");
  const IrType *ts[2] = {a, b};
  const char *names[2] = {"abase", "bbase"};
  for (int w = 0; w < 2; w++) {
    const IrType *t = ts[w];
    int shift = nb - (t->rank - 2);
    cgc_printf(cg, "  long long %s = 0;\n", names[w]);
    for (int j = 0; j < t->rank - 2; j++) {
      bool one = ir_dim_is_const(t->dims[j]) && t->dims[j].c == 1;
      char coord[16];
      snprintf(coord, sizeof coord, "z%d", j + shift);
      cgc_printf(cg, "  %s = %s * %s + %s;\n", names[w], names[w], cgc_dim(cg, t->dims[j]).s,
                 one ? "0" : coord);
    }
    cgc_printf(cg, "  %s *= %s;\n", names[w], cgc_numel(cg, t, t->rank - 2, t->rank).s);
  }
}

/* Stages one operand's [16 x 64] slice: `dst[kk][x]` = element (k0 + kk,
 * base0 + x) of the operand seen as k by x, zero outside. `k_fast`: k is
 * the contiguous axis in memory. `at` indexes the operand by (x, k). */
static void stage(CgCuda *cg, const IrValue *v, const char *p, const char *dst, const char *x0,
                  const char *xlen, bool k_fast, const char *at) {
  cgc_printf(cg, "  for (int e = tid; e < %d; e += %d) {\n", MM_KT * MM_TILE, MM_THREADS);
  if (k_fast)
    cgc_printf(cg, "    const int kk = e %% %d, xx = e / %d;\n", MM_KT, MM_KT);
  else
    cgc_printf(cg, "    const int kk = e / %d, xx = e %% %d;\n", MM_TILE, MM_TILE);
  cgc_printf(cg, "    const long long x = %s + xx, k = k0 + kk;\n", x0);
  cgc_printf(cg, "    %s[kk][xx] = (x < %s && k < K) ? %s : 0.0f;\n  }\n", dst, xlen, cgc_load(v, p, at).s);
}

bool cgc_mm_epilogue(CgCuda *cg, const IrOp *op, const char *epilogue, const char *acc) {
  const IrType *o = &op->out[0]->type;
  int nb = o->rank - 2;
  for (int i = 0; i < nb; i++) cgc_printf(cg, "    const long long c%d = z%d;\n", i, i);
  cgc_printf(cg, "    const long long c%d = m, c%d = n;\n", nb, nb + 1);
  return cgc_expr(cg, op, epilogue, o, acc, 2, "v");
}

/* Operand checks and pointers x0, x1, y0, x2.. shared with the matvec. */
bool cgc_mm_operands(CgCuda *cg, const IrOp *op) {
  const IrValue *a = op->in[0], *b = op->in[1], *y = op->out[0];
  if (op->nin > 2 && !ir_op_str(op, "epilogue", NULL)) return cgc_refuse(cg, op, "extra operands but no epilogue");
  if (!ir_dtype_is_float(a->type.dtype) || !ir_dtype_is_float(b->type.dtype))
    return cgc_refuse(cg, op, "integer operands");
  if (!cgc_ptr(cg, op, a, "x0") || !cgc_ptr(cg, op, b, "x1") || !cgc_ptr(cg, op, y, "y0")) return false;
  for (int j = 2; j < op->nin; j++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", j);
    if (!cgc_ptr(cg, op, op->in[j], name)) return false;
  }
  return true;
}

bool cgc_emit_matmul(CgCuda *cg, const IrOp *op) {
  const IrValue *a = op->in[0], *b = op->in[1], *y = op->out[0];
  const char *epilogue = ir_op_str(op, "epilogue", NULL);
  if (cgc_matvec_fits(op)) return cgc_emit_matvec(cg, op);
  if (cgc_mm_tc_fits(op)) return cgc_emit_matmul_tc(cg, op);
  if (!cgc_mm_operands(cg, op)) return false;
  bool ta = ir_op_bool(op, "transpose_a"), tb = ir_op_bool(op, "transpose_b");
  const IrType *o = &y->type;
  int ra = a->type.rank;
  cg->k->block = MM_THREADS;
  cgc_grid(cg, 0, o, o->rank - 1, o->rank, MM_TILE);
  cgc_grid(cg, 1, o, o->rank - 2, o->rank - 1, MM_TILE);
  cgc_grid(cg, 2, o, 0, o->rank - 2, 1);
  cg->k->smem_bytes = 2 * MM_KT * MM_TILE * (int64_t)sizeof(float);
  cgc_printf(cg, "  const long long M = %s, N = %s, K = %s;\n", cgc_dim(cg, o->dims[o->rank - 2]).s,
             cgc_dim(cg, o->dims[o->rank - 1]).s, cgc_dim(cg, a->type.dims[ta ? ra - 2 : ra - 1]).s);
  cgc_printf(cg, "  const long long m0 = (long long)blockIdx.y * %d, n0 = (long long)blockIdx.x * %d;\n",
             MM_TILE, MM_TILE);
  cgc_mm_batch_bases(cg, o, &a->type, &b->type);
  cgc_printf(cg, "  const long long obase = (long long)blockIdx.z * M * N;\n");
  cgc_printf(cg, "  __shared__ float As[%d][%d];\n  __shared__ float Bs[%d][%d];\n", MM_KT, MM_TILE, MM_KT,
             MM_TILE);
  cgc_printf(cg, "  KILN_PRIVATE(float, acc, [4][4]);\n");
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  for (int u = 0; u < 4; u++) for (int v = 0; v < 4; v++) "
                 "KILN_P(acc)[u][v] = 0.0f;\n  KILN_THREADS_END\n");
  cgc_printf(cg, "  KILN_NO_UNROLL\n  for (long long k0 = 0; k0 < K; k0 += %d) {\n  KILN_THREADS_BEGIN\n", MM_KT);
  stage(cg, a, "x0", "As", "m0", "M", !ta, ta ? "abase + k * M + x" : "abase + x * K + k");
  stage(cg, b, "x1", "Bs", "n0", "N", tb, tb ? "bbase + x * K + k" : "bbase + k * N + x");
  cgc_printf(cg, "  KILN_THREADS_END\n  KILN_SYNC\n  KILN_THREADS_BEGIN\n");
  cgc_printf(cg, "  const int tr = tid / 16, tc = tid %% 16;\n"
                 "  KILN_UNROLL\n  for (int kk = 0; kk < %d; kk++) {\n"
                 "    float av[4], bv[4];\n"
                 "    for (int u = 0; u < 4; u++) { av[u] = As[kk][tr + 16 * u]; bv[u] = Bs[kk][tc + 16 * u]; }\n"
                 "    for (int u = 0; u < 4; u++) for (int v = 0; v < 4; v++) KILN_P(acc)[u][v] += av[u] * bv[v];\n"
                 "  }\n",
             MM_KT);
  cgc_printf(cg, "  KILN_THREADS_END\n  KILN_SYNC\n  }\n");
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n  const int tr = tid / 16, tc = tid %% 16;\n"
                 "  for (int u = 0; u < 4; u++) for (int v = 0; v < 4; v++) {\n"
                 "    const long long m = m0 + tr + 16 * u, n = n0 + tc + 16 * v;\n"
                 "    if (m < M && n < N) {\n");
  if (epilogue && !cgc_mm_epilogue(cg, op, epilogue, "KILN_P(acc)[u][v]")) return false;
  cgc_printf(cg, "    ");
  cgc_store(cg, y, "y0", "obase + m * N + n", epilogue ? "v" : "KILN_P(acc)[u][v]");
  cgc_printf(cg, "    }\n  }\n  KILN_THREADS_END\n");
  return true;
}
