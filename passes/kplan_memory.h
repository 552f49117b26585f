/* kplan_memory.h: memory planning: the arena offsets of a KernelPlan.
 *
 * The trivial plan (kplan_build) gives every activation its own arena
 * slot. kplan_plan_memory packs them into one arena instead:
 *
 *   1. liveness: a value lives from the kernel that writes it to the last
 *      kernel that reads it, in the entry's kernel order, both included;
 *   2. in place: the result of a one-op elementwise kernel takes the bytes
 *      of an operand that dies in that kernel and has its shape and element
 *      size (out[i] is written after in[i] is read, at the same index, and
 *      only there); the two are then one buffer with the union of their
 *      lifetimes;
 *      A one-op `reshape` kernel whose operand is an arena value of the
 *      entry is a view: its result takes the operand's bytes whatever
 *      their lifetimes (a row-major reshape keeps every element at its
 *      byte offset), the two are one buffer, and the backends launch
 *      nothing for it (kplan_kernel_is_view);
 *   3. offsets: buffers sorted by size (largest first), then by first
 *      kernel, each placed in the smallest gap between the buffers already
 *      placed whose lifetimes overlap its own, or above them all ("greedy
 *      by size", as TensorFlow Lite plans its arena). Offsets are 64-byte
 *      aligned; sizes are taken at the symbols' upper bounds.
 *
 * Entries (prefill, decode) run one at a time and share the arena, so the
 * arena is the largest entry's. The result is deterministic: it depends
 * only on the ops, their order and their types.
 *
 *   KMemoryReport r;
 *   if (!kplan_plan_memory(plan, &(KMemoryOptions){.in_place = true}, &r, &d)) ...
 *   // r.arena_bytes <= r.naive_bytes, r.arena_bytes >= r.lower_bound
 */
#ifndef KILN_KPLAN_MEMORY_H
#define KILN_KPLAN_MEMORY_H

#include "kernel.h"

typedef struct {
  bool in_place;     /* let elementwise results reuse a dying operand's bytes, and
                        reshapes of arena values become views */
  bool measure_only; /* fill the report, leave the offsets as they are */
} KMemoryOptions;

/* Bytes are 64-byte aligned sizes at the symbol bounds; each figure is the
 * largest over the entries. */
typedef struct {
  uint64_t arena_bytes; /* the plan's arena after planning (as is, with measure_only) */
  uint64_t naive_bytes; /* every arena value its own slot: the trivial plan's arena */
  uint64_t lower_bound; /* the most bytes live at once in one kernel step: no
                         * placement of these buffers can use less */
  int nvalues;          /* arena values, all entries */
  int nbuffers;         /* buffers after in-place merging, all entries */
  int in_place;         /* values that took an operand's bytes */
  int views;            /* reshape kernels turned into views (nothing to run) */
} KMemoryReport;

/* Plans the arena of every entry of p (see above) and sets p->arena_bytes;
 * opt NULL means in place on, report may be NULL. Fails when a kernel's ops do not cover the
 * function's ops in order (the plan is then left unchanged). */
bool kplan_plan_memory(KernelPlan *p, const KMemoryOptions *opt, KMemoryReport *report, IrDiag *d);

#endif
