/* kernel_plan.h: building and querying a KernelPlan (kernel.h). */
#ifndef KILN_KERNEL_PLAN_H
#define KILN_KERNEL_PLAN_H

#include "kernel.h"

/* The trivial plan: one op a kernel, parallel over the outermost axis of
 * the op's output in fixed chunks, every value its own 64-byte aligned
 * arena slot sized at the symbol bounds, parameters laid out one after
 * another in the weight blob, states in the state area. The module must be
 * verified; values returned by an entry live in its output buffer and its
 * (single, integer) argument in the input buffer. */
KernelPlan *kplan_build(IrModule *m, IrDiag *d);
void kplan_free(KernelPlan *p);

/* The buffer of v; never NULL for a value of the planned module. */
const KBuffer *kplan_buffer(const KernelPlan *p, const IrValue *v);

/* Whether kernel k of e is a view: one `reshape` whose operand and
 * result are the same arena bytes (memory planning made them one
 * buffer). Backends launch nothing for it. */
bool kplan_kernel_is_view(const KernelPlan *p, const KEntryPlan *e, int k);
/* Bytes of a tensor of type t at the symbol bounds. i4 packs two a byte. */
uint64_t kplan_type_max_bytes(const IrModule *m, const IrType *t);

/* Human-readable dump: kernels with their ops and schedules, buffers. */
void kplan_print(IrBuf *b, const KernelPlan *p);

#endif
