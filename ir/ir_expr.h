/* ir_expr.h: elementwise expressions, the body of fused ops.
 *
 * The fusion pass turns a chain of elementwise ops into one `fused` op,
 * and folds elementwise consumers of a matmul into its `epilogue`; both
 * carry the computation as a small expression in a string attribute:
 *
 *   %y = fused(%g, %u) {expr = "mul(silu($0), $1)"} : f32[T, 2048]
 *   %o = matmul(%h, @w, %x) {transpose_b, epilogue = "add(acc, $2)"} : f32[T, 768]
 *
 * Grammar (whitespace between tokens is ignored):
 *
 *   expr    := call | operand | number | "acc"
 *   call    := NAME "(" expr ("," expr)* ")"
 *   operand := "$" DIGITS          operand index of the op
 *   number  := a float literal as the IR prints floats ("1.5", "-inf")
 *
 * NAME is an elementwise op of ir_ops.def other than cast (add, sub, mul,
 * div, max, min, pow, neg, exp, log, sqrt, rsqrt, tanh, sigmoid, silu,
 * relu, gelu) or "gelu_tanh" (gelu {approx = "tanh"}), with that op's
 * operand count. "acc" is the matmul's f32 accumulator and is only valid
 * in an epilogue. Every value is f32 and every step rounds to f32, so a
 * fused op computes exactly what the unfused chain of f32 ops computed.
 *
 * A parsed expression is a flat program in evaluation order (postfix):
 * node i's arguments are earlier nodes; the last node is the result.
 */
#ifndef KILN_IR_EXPR_H
#define KILN_IR_EXPR_H

#include "ir.h"

#define IR_EXPR_MAX_NODES 64

typedef enum {
  IR_EXPR_OPERAND, /* $i */
  IR_EXPR_ACC,     /* acc (matmul epilogue) */
  IR_EXPR_CONST,   /* a number */
  IR_EXPR_OP,      /* an elementwise op on earlier nodes */
} IrExprKind;

typedef struct {
  IrExprKind kind;
  IrOpKind op;     /* IR_EXPR_OP */
  bool gelu_tanh;  /* IR_EXPR_OP with op == IR_OP_GELU: the tanh approximation */
  int operand;     /* IR_EXPR_OPERAND */
  double value;    /* IR_EXPR_CONST (already an f32 value) */
  int arg[2];      /* IR_EXPR_OP: node indices of the arguments */
} IrExprNode;

typedef struct {
  int n;
  IrExprNode node[IR_EXPR_MAX_NODES];
  int max_operand; /* highest $i used, -1 if none */
  bool uses_acc;
} IrExpr;

/* Parses `text`. Errors name the column in the string and what was
 * expected ("expr column 5: expected ',' or ')' after an argument").
 * `allow_acc`: whether "acc" may appear. */
bool ir_expr_parse(const char *text, bool allow_acc, IrExpr *out, IrLoc loc, IrDiag *d);

/* Prints e in the grammar above (canonical form: ", " between arguments,
 * floats in the IR's shortest round-trip form). */
void ir_expr_print(IrBuf *b, const IrExpr *e);

/* Evaluates e for one element: operands[i] is $i's value, acc the
 * accumulator. f32 rounding after every node, as the interpreter's
 * elementwise ops do. */
float ir_expr_eval(const IrExpr *e, const float *operands, float acc);

/* One elementwise step on f32 values, shared by the interpreter's
 * elementwise ops and ir_expr_eval: op is an elementwise kind, b is
 * ignored for unary ops. */
float ir_expr_apply(IrOpKind op, bool gelu_tanh, float a, float b);

#endif
