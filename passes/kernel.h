/* kernel.h: the kernel level, between the graph passes and the backends.
 *
 * The graph level says what is computed; a KernelPlan says how: which
 * graph ops form each kernel (one op, or a fused chain), each kernel's
 * schedule (parallel axis, fixed chunk, vector width, tiles), and where
 * every value lives (arena offset, weight blob offset, state offset, the
 * entry's token input or logits output). Backends read only this.
 *
 * The unoptimized pipeline builds the trivial plan: one op a kernel, the
 * outermost output axis parallel, plain loops, every value its own arena
 * slot. The optimizing passes change groups, schedules and offsets; they
 * never add a second way to generate code.
 *
 * Symbolic sizes are resolved at the symbols' upper bounds, so offsets are
 * constants; loop extents stay symbolic and are evaluated at run time from
 * the call's symbol values.
 */
#ifndef KILN_KERNEL_H
#define KILN_KERNEL_H

#include "ir.h"

typedef enum {
  KBUF_NONE,    /* no storage: a view folded into its consumer, or unused */
  KBUF_ARENA,   /* activations: ex->arena + offset */
  KBUF_WEIGHT,  /* parameters: ex->weights + offset */
  KBUF_STATE,   /* KV cache: ex->state + offset */
  KBUF_INPUT,   /* the entry's token ids (argument index) */
  KBUF_OUTPUT,  /* the entry's logits (result index) */
} KBufKind;

typedef struct {
  KBufKind kind;
  int index;          /* KBUF_INPUT/OUTPUT: argument or result index */
  uint64_t offset;    /* bytes from the base; 64-byte aligned */
  uint64_t max_bytes; /* size at the symbol bounds */
  IrType type;        /* dtype and row-major (symbolic) shape as stored */
} KBuffer;

typedef struct {
  int first_op, nops;   /* ops [first_op, first_op + nops) of the function */
  const char *name;     /* "k12_matmul": stable, used in dumps and symbols */
  /* schedule */
  int parallel_axis;    /* axis of the last op's output split over threads */
  int64_t chunk;        /* iterations of that axis per chunk (fixed) */
  int vector_width;     /* lanes (f32) for the innermost loop; 1 = scalar */
  int64_t tile_m, tile_n, tile_k; /* matmul register/cache tiles; 0 = none */
} KKernel;

typedef struct {
  IrFunc *func;
  int nkernels;
  KKernel *kernels;
} KEntryPlan;

typedef struct {
  IrModule *module;       /* the graph the plan refers to (not owned) */
  int nentries;
  KEntryPlan *entries;    /* one per function, same order */
  /* Buffer of each value, looked up by pointer (kplan_buffer). */
  int nbufs, cap_bufs;
  const IrValue **buf_values;
  KBuffer *bufs;
  uint64_t arena_bytes;   /* max over entries */
  uint64_t state_bytes;
  uint64_t weights_bytes;
} KernelPlan;

#endif
