/* cg_cuda_internal.h: what the CUDA op emitters share (cg_cuda_*.c).
 *
 * An emitter writes one kernel's body into cg->b. Before it runs, the
 * module writer has opened the __global__ function; the emitter declares
 * the typed pointers of the values it touches (cgc_ptr), sets the launch
 * record (cg->k->grid, block, smem_bytes) and writes the phases.
 *
 * Text helpers return a CgcText by value: cgc_dim(cg, d).s is "(7 + 2*ksym.s[0])",
 * valid until the end of the full expression that uses it.
 */
#ifndef KILN_CG_CUDA_INTERNAL_H
#define KILN_CG_CUDA_INTERNAL_H

#include "cg_cuda.h"
#include "kernel_plan.h"

typedef struct {
  IrBuf *b;
  const KernelPlan *plan;
  const IrModule *m;
  CgCudaOptions opt;
  CgCudaKernel *k; /* the launch record of the kernel being written */
  const IrValue *slot[KILN_CUDA_MAX_OFFSETS]; /* its buffer slots (k->noffs of them), by value */
  IrDiag *d;
} CgCuda;

typedef struct {
  char s[512];
} CgcText;

/* Appends formatted text to the kernel. */
void cgc_printf(CgCuda *cg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The dim as a long long expression of ksym: "(64)", "(1 + ksym.s[1])". */
CgcText cgc_dim(const CgCuda *cg, IrDim d);
/* Product of dims [from, to) of t: "((T)*(64))", "(1)" when empty. */
CgcText cgc_numel(const CgCuda *cg, const IrType *t, int from, int to);
/* The row-major index of coordinates coords[i] (expressions, "0" for a
 * broadcast axis) in type t: Horner form over t's dims. */
CgcText cgc_index(const CgCuda *cg, const IrType *t, const char *const *coords);

/* Declares `name` as a typed pointer to v's buffer:
 *   float *y0 = (float *)(ka + koff.o[2]);
 * with slot 2 v's (a new slot for a value the kernel has not declared yet;
 * the slot's offset goes into cg->k->offs). The offset is never in the
 * text, so kernels that differ only in their buffers' places emit the same
 * text and share a function. Fails (error at the op) for i4 and for more
 * than KILN_CUDA_MAX_OFFSETS slots. */
bool cgc_ptr(CgCuda *cg, const IrOp *op, const IrValue *v, const char *name);
/* Expressions that load element `idx` (row-major, also for a packed
 * param: cgc_load moves it to its panel) of pointer `p` (holding v's
 * dtype) as float (float dtypes) or long long (int dtypes), and a
 * statement that stores `x` converted to v's dtype. */
CgcText cgc_load(const IrValue *v, const char *p, const char *idx);
void cgc_store(CgCuda *cg, const IrValue *v, const char *p, const char *idx, const char *x);
/* A float literal that reads back to the same f32 in C and CUDA C++:
 * "((float)0x1.99999ap-4)", "-KILN_INF". */
CgcText cgc_float(double v);
/* "float" or "long long": the working type of a dtype. */
const char *cgc_work_type(IrDType t);

/* Launch helpers. One thread per element of n elements: grid.x =
 * ceil(numel(t) / block); opens a phase with `const long long i` and an
 * `if (i < n) {` that cgc_flat_end closes. */
void cgc_flat_begin(CgCuda *cg, const IrType *t);
void cgc_flat_end(CgCuda *cg);
/* Declares c0..c{rank-1}, the coordinates of flat index `i` in t. */
void cgc_coords(CgCuda *cg, const IrType *t, const char *i);
/* Grid dimension `axis` = ceil(numel(t)[from, to) / div). */
void cgc_grid(CgCuda *cg, int axis, const IrType *t, int from, int to, int64_t div);
/* A tree reduction of the float array red[block] in shared memory,
 * combining with `combine` ("a + b"): leaves the result in red[0]. Must be
 * called between phases (after a KILN_SYNC). */
void cgc_block_reduce(CgCuda *cg, const char *red, const char *combine);

/* Fails with "the CUDA backend cannot lower ..." at the op. */
bool cgc_refuse(CgCuda *cg, const IrOp *op, const char *why);
int cgc_axis(int64_t axis, int rank);

/* ---- elementwise expressions (cg_cuda_expr.c) ---- */
/* CUDA expressions of one f32 step over variables `a` (and `b`):
 * "(a + b)", "kiln_silu(a)". */
const char *cgc_binary_float(IrOpKind k);
const char *cgc_unary_float(IrOpKind k, bool gelu_tanh);
/* Index of the element of `in` that broadcasts to output coordinates
 * c0..c{rank-1} of `out` (size-1 and missing leading dims take 0). */
CgcText cgc_broadcast_index(const CgCuda *cg, const IrType *out, const IrType *in);
/* Emits statements that leave in float `result` the value of expression
 * `text` (ir_expr.h) for the element at coordinates c0.. of `out`:
 * operand $i is read from pointer x<i> (op->in[i], broadcast), "acc" is
 * the expression `acc` (a matmul epilogue; NULL elsewhere). Operands
 * below `first_operand` may not appear. */
bool cgc_expr(CgCuda *cg, const IrOp *op, const char *text, const IrType *out, const char *acc,
              int first_operand, const char *result);
bool cgc_emit_fused(CgCuda *cg, const IrOp *op);

/* ---- op emitters (cg_cuda_ops_*.c) ---- */
typedef bool (*CgcEmitFn)(CgCuda *cg, const IrOp *op);
CgcEmitFn cgc_elementwise_emitter(IrOpKind k); /* elementwise, sources, data movement */
CgcEmitFn cgc_rows_emitter(IrOpKind k);        /* norms, softmax, reductions, topk, scatter */
bool cgc_emit_matmul(CgCuda *cg, const IrOp *op);
/* Shared by the matmul kernels (cg_cuda_ops_matmul.c): operand checks and
 * pointers (x0 = a, x1 = b, y0, x2.. epilogue operands); `abase` and
 * `bbase` for batch blockIdx.z (with z0.. its coordinates); the epilogue
 * on accumulator expression `acc` for output (m, n), leaving float v. */
bool cgc_mm_operands(CgCuda *cg, const IrOp *op);
void cgc_mm_batch_bases(CgCuda *cg, const IrType *o, const IrType *a, const IrType *b);
bool cgc_mm_epilogue(CgCuda *cg, const IrOp *op, const char *epilogue, const char *acc);
/* cg_cuda_ops_matmul_tc.c: the tensor-core kernel (b bf16 or f16, a f32
 * or b's dtype, no packed panels, M not the constant 1). */
bool cgc_mm_tc_fits(const IrOp *op);
bool cgc_emit_matmul_tc(CgCuda *cg, const IrOp *op);
/* cg_cuda_ops_matvec.c: one row (M the constant 1) against b stored [N, K] or [K, N]. */
bool cgc_matvec_fits(const IrOp *op);
bool cgc_emit_matvec(CgCuda *cg, const IrOp *op);
bool cgc_emit_attention(CgCuda *cg, const IrOp *op); /* attention and attention_split */
/* cg_cuda_ops_attn_tc.c: attention on tensor cores (f32 q, k, v row-major,
 * head dims constant multiples of 16 up to 128, T not the constant 1). */
bool cgc_attn_tc_fits(const IrOp *op);
bool cgc_emit_attention_tc(CgCuda *cg, const IrOp *op);
bool cgc_emit_attention_merge(CgCuda *cg, const IrOp *op);

/* The prelude every source starts with (cg_cuda_prelude.c). */
extern const char cgc_prelude[];

#endif
