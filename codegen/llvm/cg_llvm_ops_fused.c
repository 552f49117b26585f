/* cg_llvm_ops_fused.c: the fused op (docs/ir.md, `fused`). Like a plain
 * elementwise op: one kernel iteration is one row (the outermost output
 * dim), the row's elements a flat inner loop; each element loads every
 * operand at its broadcast index and evaluates the expression with
 * cg_expr_emit. Operands of the output's shape index like the output; a
 * bias-like operand that repeats one row ([N] for [T, N]) indexes by the
 * column, a [T, 1] one by the row, so LLVM vectorizes the loop where every
 * operand is contiguous or constant along the row. */
#include "cg_llvm_ops.h"

typedef struct {
  const IrOp *op;
  LLVMValueRef row, col; /* outer index, index within the row */
  LLVMValueRef idx;      /* linear index of the output element */
} FusedElem;

/* in, right-aligned to out, has out's dims on every axis but the first,
 * where it has 1 or nothing: one row, repeated. */
static bool repeats_row(const IrType *out, const IrType *in) {
  int shift = out->rank - in->rank;
  if (out->rank < 2 || shift < 0 || (shift == 0 && !ir_dim_eq(in->dims[0], ir_dim_const(1))))
    return false;
  for (int i = 1; i < out->rank; i++)
    if (i - shift < 0 || !ir_dim_eq(in->dims[i - shift], out->dims[i])) return false;
  return true;
}

/* in has out's first dim and 1 everywhere else ([T, 1] for [T, N]). */
static bool repeats_column(const IrType *out, const IrType *in) {
  if (out->rank < 2 || in->rank != out->rank || !ir_dim_eq(in->dims[0], out->dims[0]))
    return false;
  for (int i = 1; i < in->rank; i++)
    if (!ir_dim_eq(in->dims[i], ir_dim_const(1))) return false;
  return true;
}

static LLVMValueRef load_operand(CgLlvm *cg, void *user, int i) {
  const FusedElem *fe = user;
  const IrOp *op = fe->op;
  if (i < 0 || i >= op->nin) {
    ir_error(cg->d, op->loc, "fused: expr uses $%d, but the op has %d operands", i, op->nin);
    return NULL;
  }
  const IrType *out = &op->out[0]->type, *in = &op->in[i]->type;
  LLVMValueRef at = ir_shape_eq(out, in)        ? fe->idx
                    : repeats_row(out, in)      ? fe->col
                    : repeats_column(out, in)   ? fe->row
                                                : cg_broadcast_index(cg, out, in, fe->idx);
  return cg_load(cg, op->in[i], at);
}

static bool emit_fused(CgLlvm *cg, const IrOp *op, LLVMValueRef begin, LLVMValueRef end) {
  const IrValue *out = op->out[0];
  IrExpr e;
  if (!ir_expr_parse(ir_op_str(op, "expr", ""), false, &e, op->loc, cg->d)) return false;
  LLVMValueRef inner = cg_inner_numel(cg, &out->type);
  CgLoop row = cg_loop_begin(cg, begin, end, "row");
  CgLoop col = cg_loop_begin(cg, cg_i64(cg, 0), inner, "col");
  FusedElem fe = {op, row.iv, col.iv,
                  LLVMBuildNSWAdd(cg->b, LLVMBuildNSWMul(cg->b, row.iv, inner, ""), col.iv, "")};
  LLVMValueRef r = cg_expr_emit(cg, &e, NULL, load_operand, &fe);
  if (!r) return false;
  cg_store(cg, out, fe.idx, r);
  cg_loop_end(cg, &col);
  cg_loop_end(cg, &row);
  return true;
}

static const CgOpEmitter em_fused = {IR_OP_FUSED, cg_iterations_outer, emit_fused};

const CgOpEmitter *const cg_fused_emitters[] = {&em_fused, NULL};
