/* interp.h: the reference interpreter, kiln's oracle.
 *
 * Runs any verified module on concrete inputs, op by op, in plain C: f32
 * arithmetic (f64 where docs/ir.md says so), every result rounded to its
 * declared dtype. It is written to be obviously correct, not fast. State
 * (the KV cache) lives in the interpreter and persists across calls.
 *
 *   IrInterp *it = ir_interp_new(m, &d);
 *   ir_interp_bind_param(it, "embed", &table, &d);   // unless inline
 *   IrTensor tok = ir_tensor_new(IR_I32, 1, (int64_t[]){3});
 *   ... fill tok.i ...
 *   int64_t syms[IR_MAX_SYMS]; ir_interp_syms_unset(syms); syms[P] = 0;
 *   IrTensor *outs; int nout;
 *   ir_interp_call(it, "prefill", syms, &tok, 1, &outs, &nout, &d);
 *   ... ir_tensors_free(outs, nout); ir_interp_free(it);
 */
#ifndef KILN_INTERP_H
#define KILN_INTERP_H

#include "ir.h"

/* A concrete tensor. Float dtypes keep their values in `f` (already
 * rounded to the dtype), integer dtypes in `i`; the other pointer is NULL.
 * Owned by whoever created it; free with ir_tensor_free. */
typedef struct {
  IrDType dtype;
  int rank;
  int64_t shape[IR_MAX_RANK];
  float *f;
  int64_t *i;
} IrTensor;

IrTensor ir_tensor_new(IrDType dtype, int rank, const int64_t *shape); /* zeroed */
int64_t ir_tensor_numel(const IrTensor *t);
void ir_tensor_free(IrTensor *t);
void ir_tensors_free(IrTensor *ts, int n); /* frees each, then the array */
/* Rounds v to the precision of a float dtype (bf16/f16 nearest even). */
float ir_round_to_dtype(float v, IrDType t);

typedef struct IrInterp IrInterp;

/* The module must outlive the interpreter and have passed ir_verify.
 * Parameters with inline initializers are bound now; the rest must be
 * bound before the first call. Returns NULL and fills d on error. */
IrInterp *ir_interp_new(const IrModule *m, IrDiag *d);
void ir_interp_free(IrInterp *it);

/* Copies t as the value of parameter `name`; its shape must equal the
 * declared (constant) shape. Float data is rounded to the declared dtype. */
bool ir_interp_bind_param(IrInterp *it, const char *name, const IrTensor *t, IrDiag *d);

/* Marks every symbol as "infer from the inputs". */
void ir_interp_syms_unset(int64_t *syms);
#define IR_SYM_UNSET INT64_MIN

/* Calls entry `name`. syms[s] gives symbol s's value for this call or
 * IR_SYM_UNSET to infer it from the shapes of the inputs (a symbol that
 * appears alone as a dim of an argument's type); a symbol the function
 * never mentions may stay unset (it reads as 0). Inputs are checked
 * against the argument types; a value outside a symbol's bound is an
 * error. On success *outs is a new array of *nout tensors, owned by the
 * caller. Run-time errors (id out of range, KV cache overflow) name the
 * op's location. */
bool ir_interp_call(IrInterp *it, const char *name, const int64_t *syms, const IrTensor *inputs,
                    int nin, IrTensor **outs, int *nout, IrDiag *d);

/* Read access to a state tensor (for tests), or NULL. */
const IrTensor *ir_interp_state(const IrInterp *it, const char *name);
/* Zeroes every state tensor (a new conversation). */
void ir_interp_reset_state(IrInterp *it);

#endif
