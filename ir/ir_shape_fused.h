/* ir_shape_fused.h: the shape rules of the fused op and of a matmul's
 * epilogue operands (ir_shape_fused.c), called by ir_shape.c. Errors are
 * located at the op, "fused: ..." / "matmul: ...", and a parse error in
 * the expression names its column: "fused: expr column 5: expected ...". */
#ifndef KILN_IR_SHAPE_FUSED_H
#define KILN_IR_SHAPE_FUSED_H

#include "ir.h"

/* fused(x0, x1, ...) {expr}: every operand f32, every $i of the
 * expression in [0, nin) and every operand used, no acc; the result is
 * the broadcast of all operands, f32. Writes it to *out. */
bool ir_shape_fused(const IrModule *m, const IrOp *op, IrType *out, IrDiag *d);

/* A matmul's operands after the second and its epilogue, given the
 * result type the matmul rule inferred: extras need an epilogue, which
 * must use acc and each of $2..$(nin-1) and nothing else; each extra is
 * f32 and broadcasts to the result's shape without changing it. */
bool ir_shape_matmul_epilogue(const IrModule *m, const IrOp *op, const IrType *out, IrDiag *d);

#endif
