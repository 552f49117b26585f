/* kplan_memory.c: memory planning (kplan_memory.h): liveness over the
 * kernel order, in-place reuse, greedy-by-size offsets in one arena. */
#include <stdlib.h>

#include "kernel_plan.h"
#include "kplan_memory.h"

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) abort(); /* out of memory */
  return p;
}

/* An arena value of the entry being planned. */
typedef struct {
  const IrValue *v;
  int start, end; /* kernels that write it and last read it, both included */
  int buf;        /* its buffer (MBuf index) */
} MValue;

/* A buffer: one value, or an in-place chain of values sharing bytes. */
typedef struct {
  uint64_t size; /* 64-byte aligned, at the symbol bounds */
  int start, end;
  uint64_t offset;
} MBuf;

typedef struct {
  const IrValue *v;
  int index; /* in MEntry.vals */
} MKey;

typedef struct {
  KernelPlan *p;
  const KEntryPlan *e;
  int *kernel_of;    /* [nops]: the kernel of each op */
  MValue *vals;      /* in definition order */
  int nvals;
  MKey *sorted;      /* vals by pointer, for lookup */
  MBuf *bufs;
  int nbufs;
  int in_place;
  int views;
} MEntry;

/* ---- checking the kernel order ------------------------------------------ */

/* The kernels cover the function's ops in order, each at least one. */
static bool check_kernels(const KEntryPlan *e, IrDiag *d) {
  int next = 0;
  for (int k = 0; k < e->nkernels; k++) {
    const KKernel *kk = &e->kernels[k];
    if (kk->first_op != next || kk->nops < 1)
      return ir_error(d, e->func->loc, "memory planning: @%s: kernel %d ('%s') holds ops %d..%d, "
                      "expected ops from %d on: kernels must cover the ops in order",
                      e->func->name, k, kk->name ? kk->name : "?", kk->first_op,
                      kk->first_op + kk->nops - 1, next);
    next += kk->nops;
  }
  if (next != e->func->nops)
    return ir_error(d, e->func->loc, "memory planning: @%s: the kernels hold %d of its %d ops",
                    e->func->name, next, e->func->nops);
  return true;
}

/* ---- value lookup: the values' pointers, sorted --------------------------- */

static int by_pointer(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const MKey *)a)->v, y = (uintptr_t)((const MKey *)b)->v;
  return (x > y) - (x < y);
}

static void index_values(MEntry *me) {
  me->sorted = xcalloc((size_t)me->nvals, sizeof *me->sorted);
  for (int i = 0; i < me->nvals; i++) me->sorted[i] = (MKey){me->vals[i].v, i};
  qsort(me->sorted, (size_t)me->nvals, sizeof *me->sorted, by_pointer);
}

/* The arena value v, or NULL when v is not one of this entry's. */
static MValue *find_value(const MEntry *me, const IrValue *v) {
  MKey key = {v, 0};
  const MKey *hit = bsearch(&key, me->sorted, (size_t)me->nvals, sizeof key, by_pointer);
  return hit ? &me->vals[hit->index] : NULL;
}

/* ---- liveness --------------------------------------------------------------- */

static void collect_values(MEntry *me) {
  const IrFunc *f = me->e->func;
  int nouts = 0;
  for (int i = 0; i < f->nops; i++) nouts += f->ops[i]->nout;
  me->vals = xcalloc((size_t)nouts, sizeof *me->vals);
  me->kernel_of = xcalloc((size_t)f->nops, sizeof *me->kernel_of);
  for (int k = 0; k < me->e->nkernels; k++) {
    const KKernel *kk = &me->e->kernels[k];
    for (int i = 0; i < kk->nops; i++) me->kernel_of[kk->first_op + i] = k;
  }
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nout; j++) {
      const IrValue *v = f->ops[i]->out[j];
      if (kplan_buffer(me->p, v)->kind != KBUF_ARENA) continue;
      int k = me->kernel_of[i];
      me->vals[me->nvals++] = (MValue){v, k, k, -1};
    }
  index_values(me);
}

/* Kernel k reads v. A value with no storage (a view folded into its
 * reader) reads its own operands wherever it is read. */
static void mark_use(MEntry *me, const IrValue *v, int k) {
  if (v->kind != IR_VAL_RESULT) return;
  KBufKind kind = kplan_buffer(me->p, v)->kind;
  if (kind == KBUF_ARENA) {
    MValue *mv = find_value(me, v);
    if (mv && mv->end < k) mv->end = k;
  } else if (kind == KBUF_NONE) {
    for (int i = 0; i < v->def->nin; i++) mark_use(me, v->def->in[i], k);
  }
}

static void compute_liveness(MEntry *me) {
  const IrFunc *f = me->e->func;
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nin; j++) mark_use(me, f->ops[i]->in[j], me->kernel_of[i]);
}

/* ---- in place ------------------------------------------------------------------ */

/* a can be overwritten element by element with b: same dims (so the same
 * index names the same element at any symbol values) and the same bytes
 * per element, so element i of both sits at the same offset. */
static bool same_layout(const IrValue *a, const IrValue *b) {
  int bits = ir_dtype_bits(a->type.dtype);
  return bits >= 8 && bits == ir_dtype_bits(b->type.dtype) && ir_shape_eq(&a->type, &b->type);
}

static bool reads_a_view(const MEntry *me, const IrOp *op) {
  for (int i = 0; i < op->nin; i++)
    if (op->in[i]->kind == IR_VAL_RESULT && kplan_buffer(me->p, op->in[i])->kind == KBUF_NONE)
      return true;
  return false;
}

/* Whether op reads operand i only at the index it is writing: elementwise
 * ops and `fused` read every operand that way; a matmul reads its epilogue
 * operands (2..) that way, unless the same value is also a or b, whose
 * other positions it reads. */
static bool reads_at_write_index(const IrOp *op, int i) {
  if (ir_op_spec(op->kind)->flags & IR_OPF_ELEMENTWISE || op->kind == IR_OP_FUSED) return true;
  return op->kind == IR_OP_MATMUL && i >= 2 && op->in[i] != op->in[0] && op->in[i] != op->in[1];
}

/* Whether op reads buffer `buf` through an operand other than i (a view
 * of operand i, or operand i's value again at a or b): those reads see
 * positions other than the one being written. */
static bool buffer_read_elsewhere(const MEntry *me, const IrOp *op, int i, int buf) {
  for (int j = 0; j < op->nin; j++) {
    if (j == i) continue;
    const MValue *o = find_value(me, op->in[j]);
    if (o && o->buf == buf && !(op->in[j] == op->in[i] && reads_at_write_index(op, j))) return true;
  }
  return false;
}

/* The operand whose buffer kernel k's result may take, or NULL. The rule:
 * the kernel is one op that reads that operand index by index and then
 * writes the same index (reads_at_write_index), none of its operands is a
 * view (which could read other positions of the buffer), and the operand
 * has the result's layout and dies here: no kernel after k reads any
 * value of its buffer. Earlier operands are preferred. Transpose, norms,
 * softmax, rope and the rest read positions other than the one they
 * write, and never qualify. */
static MValue *in_place_operand(MEntry *me, int k) {
  const KKernel *kk = &me->e->kernels[k];
  const IrOp *op = me->e->func->ops[kk->first_op];
  if (kk->nops != 1 || op->nout != 1 || !find_value(me, op->out[0]) || reads_a_view(me, op))
    return NULL;
  for (int i = 0; i < op->nin; i++) {
    if (!reads_at_write_index(op, i)) continue;
    MValue *in = find_value(me, op->in[i]);
    if (in && me->bufs[in->buf].end == k && same_layout(op->in[i], op->out[0]) &&
        !buffer_read_elsewhere(me, op, i, in->buf))
      return in;
  }
  return NULL;
}

/* The operand whose bytes kernel k's result views: a one-op reshape of
 * an arena value of this entry (row-major, so every element keeps its
 * byte offset), or NULL. */
static MValue *viewed_operand(MEntry *me, int k) {
  const KKernel *kk = &me->e->kernels[k];
  const IrOp *op = me->e->func->ops[kk->first_op];
  if (kk->nops != 1 || op->kind != IR_OP_RESHAPE || ir_dtype_bits(op->in[0]->type.dtype) < 8)
    return NULL;
  return find_value(me, op->in[0]);
}

/* Every value its buffer, in definition order; an in-place result or a
 * view joins its operand's. A later in-place writer sees the joined
 * lifetime, so it never overwrites bytes a view still shows. */
static void form_buffers(MEntry *me, bool in_place) {
  me->bufs = xcalloc((size_t)me->nvals, sizeof *me->bufs);
  for (int i = 0; i < me->nvals; i++) {
    MValue *mv = &me->vals[i];
    MValue *view = in_place ? viewed_operand(me, mv->start) : NULL;
    MValue *in = in_place && !view ? in_place_operand(me, mv->start) : NULL;
    if (view) in = view;
    if (in && in->v != mv->v) {
      mv->buf = in->buf;
      MBuf *b = &me->bufs[mv->buf];
      if (mv->end > b->end) b->end = mv->end;
      if (mv->start < b->start) b->start = mv->start;
      if (view) me->views++;
      else me->in_place++;
      continue;
    }
    mv->buf = me->nbufs++;
    uint64_t size = align64(kplan_buffer(me->p, mv->v)->max_bytes);
    me->bufs[mv->buf] = (MBuf){size, mv->start, mv->end, 0};
  }
}

/* ---- offsets: greedy by size ------------------------------------------------- */

/* A buffer in a sorted list: by size or by offset. */
typedef struct {
  uint64_t key;
  int start, index;
} MSlot;

/* Larger first, then the earlier start, then the earlier buffer. */
static int by_size(const void *a, const void *b) {
  const MSlot *x = a, *y = b;
  if (x->key != y->key) return x->key > y->key ? -1 : 1;
  if (x->start != y->start) return x->start < y->start ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

/* Lower offset first, then the earlier buffer. */
static int by_offset(const void *a, const void *b) {
  const MSlot *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

static bool overlap(const MBuf *a, const MBuf *b) {
  return a->start <= b->end && b->start <= a->end;
}

/* b's offset: the smallest gap that holds it between the placed buffers
 * that live at the same time (sorted by offset), else above them all.
 * With live buffers at [0, 64) and [192, 256), a 128-byte buffer goes to
 * 64, a 192-byte one to 256. */
static uint64_t best_fit(const MBuf *bufs, const MSlot *live, int nlive, const MBuf *b) {
  uint64_t top = 0, best = UINT64_MAX, best_gap = UINT64_MAX;
  for (int i = 0; i < nlive; i++) {
    const MBuf *o = &bufs[live[i].index];
    if (o->offset >= top) {
      uint64_t gap = o->offset - top;
      if (gap >= b->size && gap < best_gap) best = top, best_gap = gap;
    }
    if (o->offset + o->size > top) top = o->offset + o->size;
  }
  return best != UINT64_MAX ? best : top;
}

/* Sets every buffer's offset; returns the arena's size. */
static uint64_t place_buffers(MBuf *bufs, int n) {
  MSlot *order = xcalloc((size_t)n, sizeof *order), *live = xcalloc((size_t)n, sizeof *live);
  int *placed = xcalloc((size_t)n, sizeof *placed), nplaced = 0;
  for (int i = 0; i < n; i++) order[i] = (MSlot){bufs[i].size, bufs[i].start, i};
  qsort(order, (size_t)n, sizeof *order, by_size);
  uint64_t arena = 0;
  for (int i = 0; i < n; i++) {
    MBuf *b = &bufs[order[i].index];
    int nlive = 0;
    for (int j = 0; j < nplaced; j++) {
      const MBuf *o = &bufs[placed[j]];
      if (overlap(o, b)) live[nlive++] = (MSlot){o->offset, 0, placed[j]};
    }
    qsort(live, (size_t)nlive, sizeof *live, by_offset);
    b->offset = best_fit(bufs, live, nlive, b);
    placed[nplaced++] = order[i].index;
    if (b->offset + b->size > arena) arena = b->offset + b->size;
  }
  free(order);
  free(live);
  free(placed);
  return arena;
}

/* ---- the figures -------------------------------------------------------------- */

/* The most bytes of buffers live in one kernel step: buffers live at the
 * same time pairwise are live together at one step (intervals), so this is
 * the largest set any placement must hold side by side. */
static uint64_t lower_bound(const MEntry *me) {
  int nk = me->e->nkernels;
  uint64_t *delta = xcalloc((size_t)nk + 1, sizeof *delta);
  uint64_t *drop = xcalloc((size_t)nk + 1, sizeof *drop);
  for (int i = 0; i < me->nbufs; i++) {
    delta[me->bufs[i].start] += me->bufs[i].size;
    drop[me->bufs[i].end + 1] += me->bufs[i].size;
  }
  uint64_t live = 0, most = 0;
  for (int k = 0; k < nk; k++) {
    live = live + delta[k] - drop[k];
    if (live > most) most = live;
  }
  free(delta);
  free(drop);
  return most;
}

static uint64_t naive_bytes(const MEntry *me) {
  uint64_t sum = 0;
  for (int i = 0; i < me->nvals; i++) sum += align64(kplan_buffer(me->p, me->vals[i].v)->max_bytes);
  return sum;
}

/* ---- the whole ------------------------------------------------------------------ */

static void free_entry(MEntry *me) {
  free(me->kernel_of);
  free(me->vals);
  free(me->sorted);
  free(me->bufs);
}

/* Plans one entry; its arena size is returned, the report accumulated. */
static uint64_t plan_entry(KernelPlan *p, const KEntryPlan *e, const KMemoryOptions *opt,
                           KMemoryReport *r) {
  MEntry me = {.p = p, .e = e};
  collect_values(&me);
  compute_liveness(&me);
  form_buffers(&me, opt->in_place);
  uint64_t arena = place_buffers(me.bufs, me.nbufs);
  if (!opt->measure_only)
    for (int i = 0; i < me.nvals; i++) {
      /* kplan_buffer hands out p's own (mutable) storage for a planned value */
      KBuffer *b = (KBuffer *)kplan_buffer(p, me.vals[i].v);
      b->offset = me.bufs[me.vals[i].buf].offset;
    }
  uint64_t naive = naive_bytes(&me), low = lower_bound(&me);
  if (naive > r->naive_bytes) r->naive_bytes = naive;
  if (low > r->lower_bound) r->lower_bound = low;
  r->nvalues += me.nvals;
  r->nbuffers += me.nbufs;
  r->in_place += me.in_place;
  r->views += me.views;
  free_entry(&me);
  return arena;
}

bool kplan_plan_memory(KernelPlan *p, const KMemoryOptions *opt, KMemoryReport *report, IrDiag *d) {
  static const KMemoryOptions defaults = {.in_place = true};
  if (!opt) opt = &defaults;
  for (int i = 0; i < p->nentries; i++)
    if (!check_kernels(&p->entries[i], d)) return false;
  KMemoryReport r = {0};
  uint64_t arena = 0;
  for (int i = 0; i < p->nentries; i++) {
    uint64_t a = plan_entry(p, &p->entries[i], opt, &r);
    if (a > arena) arena = a;
  }
  if (!opt->measure_only) p->arena_bytes = arena;
  r.arena_bytes = p->arena_bytes;
  if (report) *report = r;
  return true;
}
