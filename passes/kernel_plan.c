/* kernel_plan.c: the trivial kernel plan and buffer lookup. */
#include <stdlib.h>
#include <string.h>

#include "kernel_plan.h"

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

uint64_t kplan_type_max_bytes(const IrModule *m, const IrType *t) {
  int64_t bounds[IR_MAX_SYMS];
  ir_module_sym_bounds(m, bounds);
  uint64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= (uint64_t)ir_dim_max(t->dims[i], bounds);
  return (n * (uint64_t)ir_dtype_bits(t->dtype) + 7) / 8;
}

/* ---- value -> buffer map: open addressing on the pointer ---- */

static size_t slot_of(const KernelPlan *p, const IrValue *v) {
  size_t h = ((uintptr_t)v >> 4) * 0x9e3779b97f4a7c15ull;
  size_t mask = (size_t)p->cap_bufs - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask)
    if (p->buf_values[i] == v || p->buf_values[i] == NULL) return i;
}

static void map_grow(KernelPlan *p) {
  int old_cap = p->cap_bufs;
  const IrValue **old_vals = p->buf_values;
  KBuffer *old_bufs = p->bufs;
  p->cap_bufs = old_cap ? old_cap * 2 : 1024;
  p->buf_values = calloc((size_t)p->cap_bufs, sizeof *p->buf_values);
  p->bufs = calloc((size_t)p->cap_bufs, sizeof *p->bufs);
  if (!p->buf_values || !p->bufs) abort(); /* out of memory */
  for (int i = 0; i < old_cap; i++) {
    if (!old_vals[i]) continue;
    size_t s = slot_of(p, old_vals[i]);
    p->buf_values[s] = old_vals[i];
    p->bufs[s] = old_bufs[i];
  }
  free(old_vals);
  free(old_bufs);
}

static KBuffer *map_put(KernelPlan *p, const IrValue *v) {
  if ((p->nbufs + 1) * 2 > p->cap_bufs) map_grow(p);
  size_t s = slot_of(p, v);
  if (!p->buf_values[s]) {
    p->buf_values[s] = v;
    p->nbufs++;
  }
  return &p->bufs[s];
}

const KBuffer *kplan_buffer(const KernelPlan *p, const IrValue *v) {
  static const KBuffer none = {KBUF_NONE, 0, 0, 0, {0}};
  if (!p->cap_bufs) return &none;
  size_t s = slot_of(p, v);
  return p->buf_values[s] ? &p->bufs[s] : &none;
}

bool kplan_kernel_is_view(const KernelPlan *p, const KEntryPlan *e, int k) {
  const KKernel *kk = &e->kernels[k];
  const IrOp *op = e->func->ops[kk->first_op];
  if (kk->nops != 1 || op->kind != IR_OP_RESHAPE) return false;
  const KBuffer *in = kplan_buffer(p, op->in[0]), *out = kplan_buffer(p, op->out[0]);
  return in->kind == KBUF_ARENA && out->kind == KBUF_ARENA && in->offset == out->offset;
}

/* ---- building ---- */

static void place(KernelPlan *p, const IrValue *v, KBufKind kind, int index, uint64_t *cursor) {
  KBuffer *b = map_put(p, v);
  b->kind = kind;
  b->index = index;
  b->type = v->type;
  b->max_bytes = kplan_type_max_bytes(p->module, &v->type);
  if (v->kind == IR_VAL_PARAM && v->layout.panel > 0) { /* panels padded to a whole width */
    uint64_t n = (uint64_t)ir_layout_numel(&v->layout, &v->type);
    b->max_bytes = (n * (uint64_t)ir_dtype_bits(v->type.dtype) + 7) / 8;
  }
  if (cursor) {
    b->offset = *cursor;
    *cursor = align64(*cursor + b->max_bytes);
  }
}

static bool plan_entry(KernelPlan *p, IrFunc *f, KEntryPlan *e, IrDiag *d) {
  e->func = f;
  e->nkernels = f->nops;
  e->kernels = calloc((size_t)(f->nops ? f->nops : 1), sizeof *e->kernels);
  if (!e->kernels) abort();
  for (int i = 0; i < f->nargs; i++) place(p, f->args[i], KBUF_INPUT, i, NULL);
  for (int i = 0; i < f->nresults; i++) {
    const IrValue *r = f->results[i];
    if (r->kind != IR_VAL_RESULT || kplan_buffer(p, r)->kind == KBUF_OUTPUT)
      return ir_error(d, f->loc, "@%s: result %d must be a value computed by the function, "
                      "returned once", f->name, i);
    place(p, r, KBUF_OUTPUT, i, NULL);
  }
  uint64_t cursor = 0;
  for (int i = 0; i < f->nops; i++) {
    IrOp *op = f->ops[i];
    for (int j = 0; j < op->nout; j++)
      if (kplan_buffer(p, op->out[j])->kind != KBUF_OUTPUT) place(p, op->out[j], KBUF_ARENA, 0, &cursor);
    KKernel *k = &e->kernels[i];
    k->first_op = i;
    k->nops = 1;
    k->name = ir_arena_printf(&p->module->arena, "%s.k%d.%s", f->name, i, ir_op_spec(op->kind)->name);
    k->parallel_axis = 0;
    k->chunk = 1;
    k->vector_width = 1;
  }
  if (cursor > p->arena_bytes) p->arena_bytes = cursor;
  return true;
}

KernelPlan *kplan_build(IrModule *m, IrDiag *d) {
  KernelPlan *p = calloc(1, sizeof *p);
  if (!p) abort();
  p->module = m;
  for (int i = 0; i < m->nparams; i++) place(p, m->params[i], KBUF_WEIGHT, i, &p->weights_bytes);
  for (int i = 0; i < m->nstates; i++) place(p, m->states[i], KBUF_STATE, i, &p->state_bytes);
  p->nentries = m->nfuncs;
  p->entries = calloc((size_t)(m->nfuncs ? m->nfuncs : 1), sizeof *p->entries);
  if (!p->entries) abort();
  for (int i = 0; i < m->nfuncs; i++) {
    if (!plan_entry(p, m->funcs[i], &p->entries[i], d)) {
      kplan_free(p);
      return NULL;
    }
  }
  return p;
}

void kplan_free(KernelPlan *p) {
  if (!p) return;
  for (int i = 0; i < p->nentries; i++) free(p->entries[i].kernels);
  free(p->entries);
  free(p->buf_values);
  free(p->bufs);
  free(p);
}

static const char *kind_name(KBufKind k) {
  static const char *names[] = {"none", "arena", "weights", "state", "input", "output"};
  return names[k];
}

void kplan_print(IrBuf *b, const KernelPlan *p) {
  ir_buf_printf(b, "// kernel plan: arena %llu bytes, state %llu bytes, weights %llu bytes\n",
                (unsigned long long)p->arena_bytes, (unsigned long long)p->state_bytes,
                (unsigned long long)p->weights_bytes);
  for (int e = 0; e < p->nentries; e++) {
    const KEntryPlan *ep = &p->entries[e];
    ir_buf_printf(b, "entry @%s: %d kernels\n", ep->func->name, ep->nkernels);
    for (int k = 0; k < ep->nkernels; k++) {
      const KKernel *kk = &ep->kernels[k];
      ir_buf_printf(b, "  %s: ops %d..%d axis %d chunk %lld vector %d\n", kk->name, kk->first_op,
                    kk->first_op + kk->nops - 1, kk->parallel_axis, (long long)kk->chunk,
                    kk->vector_width);
      for (int i = 0; i < kk->nops; i++) {
        const IrOp *op = ep->func->ops[kk->first_op + i];
        for (int j = 0; j < op->nout; j++) {
          const KBuffer *buf = kplan_buffer(p, op->out[j]);
          ir_buf_printf(b, "    %%%s -> %s +%llu (%llu bytes)\n", op->out[j]->name,
                        kind_name(buf->kind), (unsigned long long)buf->offset,
                        (unsigned long long)buf->max_bytes);
        }
      }
    }
  }
}
