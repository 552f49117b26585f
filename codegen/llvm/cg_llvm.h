/* cg_llvm.h: the CPU backend: kernels -> LLVM IR -> object code.
 *
 * Input is a KernelPlan (passes/kernel.h). For every kernel the backend
 * emits one function
 *
 *   void kN(const KArgs *args, int64_t begin, int64_t end)
 *
 * that computes iterations [begin, end) of the kernel's parallel axis, and
 * for every entry (prefill, decode) a function with the KilnEntryFn
 * signature of runtime/kiln_abi.h that fills a KArgs on its stack and runs
 * the kernels in order through ex->parallel_for. A kernel finds every
 * buffer it touches through KArgs.bufs, which the entry points at the
 * launch's constant slot table before each launch (pairs {KArgs field,
 * byte offset}: the buffer is that base pointer + offset), so kernels that
 * differ only in their buffers (the same op in every layer) are one
 * function; loop extents come from the symbol values in KArgs.
 *
 *   struct KArgs {            // field index in LLVM: see CG_ARG_*
 *     const uint8_t *weights; uint8_t *arena; uint8_t *state;
 *     const int32_t *tokens;  float *logits;
 *     int64_t sym[IR_MAX_SYMS];
 *     const int64_t *bufs;    // CG_ARG_BUFS: this launch's slot table
 *   };
 *
 * Files: cg_llvm_target.c (target machine, O3, writing objects),
 * cg_llvm_module.c (kernels, entries, the KilnModelDesc global),
 * cg_llvm_util.c (loops, addresses, loads/stores with dtype conversion,
 * math), cg_llvm_ops_*.c (one emitter per op family).
 */
#ifndef KILN_CG_LLVM_H
#define KILN_CG_LLVM_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "cg_cuda.h"
#include "ir_expr.h"
#include "kernel.h"
#include "target.h"

enum { CG_ARG_WEIGHTS, CG_ARG_ARENA, CG_ARG_STATE, CG_ARG_TOKENS, CG_ARG_LOGITS, CG_ARG_SYMS };
/* KArgs field after sym[]: the launch's buffer pointers (cg_llvm_module.c). */
#define CG_ARG_BUFS (CG_ARG_SYMS + 1)

typedef struct {
  const char *triple;   /* NULL: the host */
  const char *cpu;      /* NULL: the host's (or "generic" when cross-compiling) */
  const char *features; /* NULL: the host's (or "" when cross-compiling) */
  int opt_level;        /* 0..3; 3 by default */
  const KTarget *ktarget; /* tiles for the kernels; NULL: ktarget_default() */
} CgTarget;

/* The state of emitting one module; the current kernel's values are set
 * while its body is emitted. */
typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTargetMachineRef tm;
  LLVMTypeRef i1, i8, i16, i32, i64, f32, f64, ptr, void_t, kargs_t, kernel_fn_t;
  const KernelPlan *plan;
  const IrModule *m;
  int vector_bits;      /* widest vector register of the target */
  const KTarget *ktarget; /* tiles and panel widths (never NULL while emitting) */
  /* current kernel */
  LLVMValueRef fn;
  LLVMValueRef args;    /* pointer to KArgs */
  LLVMValueRef base[CG_ARG_SYMS]; /* loaded base pointers */
  LLVMValueRef sym[IR_MAX_SYMS];  /* loaded symbol values (i64) */
  /* The current kernel's buffers, in slot order, and their pointers as
   * its launch's slot table gives them; cg_buffer_base returns these, so
   * identical kernels of different layers share one function. */
  int nslots;
  const IrValue **slot_values;
  LLVMValueRef *slot_ptrs;
  bool slot_miss; /* cg_buffer_base baked an offset: the kernel cannot be shared */
  IrDiag *d;
} CgLlvm;

/* ---- cg_llvm_target.c ---- */
bool cg_target_machine(const CgTarget *t, LLVMTargetMachineRef *out, IrDiag *d);
/* The target description (passes/target.h) of the machine t names: the
 * host's features and caches unless t cross-compiles. */
bool cg_target_ktarget(const CgTarget *t, KTarget *out, IrDiag *d);
bool cg_optimize(CgLlvm *cg, int opt_level, IrDiag *d);
typedef enum { CG_EMIT_OBJ, CG_EMIT_ASM, CG_EMIT_LL } CgEmitKind;
bool cg_write(CgLlvm *cg, CgEmitKind kind, const char *path, IrDiag *d);

/* ---- cg_llvm_util.c ---- */
/* A counted loop for (iv = lo; iv < hi; iv++) built with a phi. The body
 * is emitted between cg_loop_begin and cg_loop_end. */
typedef struct {
  LLVMBasicBlockRef head, body, exit;
  LLVMValueRef iv;
  LLVMValueRef hi;
} CgLoop;
CgLoop cg_loop_begin(CgLlvm *cg, LLVMValueRef lo, LLVMValueRef hi, const char *name);
void cg_loop_end(CgLlvm *cg, CgLoop *l);

LLVMValueRef cg_i64(CgLlvm *cg, int64_t v);
LLVMValueRef cg_f32(CgLlvm *cg, double v);
LLVMValueRef cg_dim(CgLlvm *cg, IrDim d); /* the dim's value at run time */
/* Element pointer base of a value's buffer (before the element index). */
LLVMValueRef cg_buffer_base(CgLlvm *cg, const IrValue *v);
/* Loads element `idx` (i64, row-major) of v converted to f32 (float
 * dtypes) or i64 (int dtypes); stores convert back to v's dtype. */
LLVMValueRef cg_load(CgLlvm *cg, const IrValue *v, LLVMValueRef idx);
void cg_store(CgLlvm *cg, const IrValue *v, LLVMValueRef idx, LLVMValueRef x);
/* Row-major strides of a type as run-time values: strides[rank-1] = 1. */
void cg_strides(CgLlvm *cg, const IrType *t, LLVMValueRef *strides);
/* Calls an LLVM intrinsic on f32: "llvm.exp", "llvm.sqrt", ... */
LLVMValueRef cg_call_f32(CgLlvm *cg, const char *intrinsic, LLVMValueRef x);
LLVMValueRef cg_call_f32_2(CgLlvm *cg, const char *intrinsic, LLVMValueRef x, LLVMValueRef y);
/* Calls a libm function float f(float) (tanhf, erff, ...). */
LLVMValueRef cg_call_libm(CgLlvm *cg, const char *name, LLVMValueRef x);
/* Sets reassoc and contract on a floating-point instruction (lets LLVM
 * vectorize reductions and form FMAs; no-NaN/no-Inf stay off since
 * masks use -inf). */
LLVMValueRef cg_fast(LLVMValueRef inst);
/* Calls an LLVM intrinsic on f64 ("llvm.cos", "llvm.sin"). */
LLVMValueRef cg_call_f64(CgLlvm *cg, const char *intrinsic, LLVMValueRef x);
LLVMValueRef cg_f64(CgLlvm *cg, double v);
/* Signed i64 minimum and maximum. */
LLVMValueRef cg_smin(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_smax(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
/* A local variable or scratch array: an alloca in the kernel's entry
 * block, so SROA turns scalars into SSA values (accumulators of loops). */
LLVMValueRef cg_var(CgLlvm *cg, LLVMTypeRef t, const char *name);
/* if (cond) { then } else { otherwise }: cg_if_begin positions the
 * builder in `then`, cg_if_else in `otherwise` (optional), cg_if_end
 * after both. */
typedef struct {
  LLVMBasicBlockRef then, otherwise, done;
} CgIf;
CgIf cg_if_begin(CgLlvm *cg, LLVMValueRef cond, const char *name);
void cg_if_else(CgLlvm *cg, CgIf *c);
void cg_if_end(CgLlvm *cg, CgIf *c);
/* Index arithmetic (i64, no signed wrap). */
LLVMValueRef cg_imul(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_iadd(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
/* A cg_var of type f32 set to v here. */
LLVMValueRef cg_f32_var(CgLlvm *cg, double v, const char *name);
/* *acc += x on an f32 variable, reassociable (a vectorizable reduction). */
void cg_accumulate(CgLlvm *cg, LLVMValueRef acc, LLVMValueRef x);
/* Product of dims [from, to) of t at run time (1 when empty). */
LLVMValueRef cg_numel_range(CgLlvm *cg, const IrType *t, int from, int to);
/* A tensor seen as [outer, len, inner] around one axis (negative axes
 * count from the end: cg_axis(-1, 3) = 2). */
typedef struct {
  LLVMValueRef outer, len, inner;
} CgAxisSplit;
int cg_axis(int64_t axis, int rank);
CgAxisSplit cg_axis_split(CgLlvm *cg, const IrType *t, int axis);
/* Element si of src to element di of dst: bit for bit when the dtypes
 * agree, else converted like cg_load/cg_store. */
void cg_copy(CgLlvm *cg, const IrValue *dst, LLVMValueRef di, const IrValue *src,
             LLVMValueRef si);
/* Zero in the working type of a dtype: f32 0.0 for floats, i64 0 for ints. */
LLVMValueRef cg_zero(CgLlvm *cg, IrDType t);
/* Fails with an error at the op if an operand or result is i4, which
 * kernels cannot address yet. */
bool cg_refuse_i4(CgLlvm *cg, const IrOp *op);

/* ---- cg_llvm_expr.c: fused expressions (ir_expr.h) ---- */
/* The f32 value of operand $i for the element being computed. */
typedef LLVMValueRef (*CgExprOperand)(CgLlvm *cg, void *user, int i);
/* Emits e for one element (f32 scalars) or one vector of elements (all
 * values <N x float>): `acc` is the matmul accumulator (NULL outside an
 * epilogue), operand() supplies $i. Steps round like the interpreter. */
LLVMValueRef cg_expr_emit(CgLlvm *cg, const IrExpr *e, LLVMValueRef acc, CgExprOperand operand,
                          void *user);
/* One elementwise step on f32 scalars or vectors (shared with the
 * elementwise op emitters). */
LLVMValueRef cg_expr_step(CgLlvm *cg, IrOpKind op, bool gelu_tanh, LLVMValueRef a, LLVMValueRef b);

/* ---- op emitters (cg_llvm_ops_*.c) ---- */
/* Number of parallel iterations of an op-kernel (run-time value) and the
 * body for iterations [begin, end). */
typedef struct {
  IrOpKind kind;
  LLVMValueRef (*iterations)(CgLlvm *cg, const IrOp *op);
  bool (*emit)(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end);
} CgOpEmitter;
const CgOpEmitter *cg_op_emitter(IrOpKind kind);

/* ---- cg_llvm_module.c ---- */
/* The CUDA kernels of the same plan (kiln compile --device=cuda), which
 * the object carries beside its CPU code as a KilnCudaDesc (kiln_abi.h). */
typedef struct {
  const char *gpu_arch;         /* "sm_90": what the CUBIN runs on */
  const uint8_t *cubin;         /* the CUBIN (ELF) */
  uint64_t cubin_bytes;
  const char *ptx;              /* NUL-terminated PTX for compute_NN */
  uint64_t ptx_bytes;           /* strlen(ptx) */
  const CgCudaModule *kernels;  /* launch records, entry by entry (cg_cuda_emit) */
} CgCudaImage;

typedef struct {
  const char *symbol;        /* name of the KilnModelDesc global ("kiln_model") */
  const char *model_name;
  uint64_t model_hash;
  uint64_t weights_checksum;
  bool embed_weights;        /* put the blob's data area in the object */
  const uint8_t *weights;    /* the blob's data area (for embedding) */
  const uint8_t *tokenizer;  /* packed tokenizer blob, or NULL */
  uint64_t tokenizer_bytes;
  int64_t vocab, max_context, max_tokens, bos_id, eos_id;
  bool all_logits;
  const CgCudaImage *cuda;   /* NULL: CPU only */
} CgModuleInfo;

/* Emits the whole plan into a new LLVM module for target t, optimizes it
 * and writes `path` in the requested form. */
bool cg_llvm_compile(const KernelPlan *plan, const CgModuleInfo *info, const CgTarget *t,
                     CgEmitKind kind, const char *path, IrDiag *d);
/* A private constant global holding s with its NUL; its address. */
LLVMValueRef cg_const_string(CgLlvm *cg, const char *s, uint64_t len, const char *name);
/* A private constant global holding n bytes, aligned to `align`; a null
 * pointer when n is 0. */
LLVMValueRef cg_const_bytes(CgLlvm *cg, const uint8_t *data, uint64_t n, unsigned align,
                            const char *name);

/* ---- cg_llvm_cuda_desc.c ---- */
/* The KilnCudaDesc global of img (a private constant), or a null pointer
 * when img is NULL: the value of KilnModelDesc.cuda. */
LLVMValueRef cg_llvm_cuda_desc(CgLlvm *cg, const CgCudaImage *img);

#endif
