/* interp_call.c: one call of an entry function.
 *
 * The steps, in order: settle the symbol values (given or inferred from the
 * inputs' shapes) and check their bounds; check each input against its
 * argument type; check that the params the function reads are bound; run
 * the ops in program order, each result allocated with its evaluated shape
 * and rounded to its dtype; free every value right after its last use; hand
 * the returned values to the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

typedef enum { SLOT_LOCAL, SLOT_PARAM, SLOT_STATE } SlotKind;

/* Where a value's tensor lives. The map is sorted by value address. */
typedef struct {
  const IrValue *v;
  SlotKind kind;
  int idx;
} Slot;

typedef struct {
  IrInterp *it;
  const IrFunc *f;
  int64_t syms[IR_MAX_SYMS];
  int nlocals;
  IrTensor *locals; /* [nlocals]: the arguments, then every op result in order */
  int *last_use;    /* [nlocals]: index of the last op that reads it; nops if returned */
  int nslots;
  Slot *slots; /* [nslots]: locals, params and states */
  IrDiag *d;
} Call;

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) abort(); /* out of memory */
  return p;
}

/* ---- symbols and inputs ---- */

/* The symbol that dim `d` is exactly (coefficient 1, no constant), or -1. */
static int lone_sym(IrDim d) {
  int found = -1;
  if (d.c != 0) return -1;
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    if (d.k[s] == 0) continue;
    if (d.k[s] != 1 || found >= 0) return -1;
    found = s;
  }
  return found;
}

static bool call_error(const Call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool call_error(const Call *c, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ir_error(c->d, c->f->loc, "call @%s: %s", c->f->name, msg);
}

/* Fills unset symbols from the first input whose shape names them alone,
 * remembering which input each came from (for messages). */
static void infer_syms(Call *c, const IrTensor *inputs, int *from) {
  for (int a = 0; a < c->f->nargs; a++) {
    const IrType *t = &c->f->args[a]->type;
    if (inputs[a].rank != t->rank) continue; /* reported by check_input */
    for (int i = 0; i < t->rank; i++) {
      int s = lone_sym(t->dims[i]);
      if (s >= 0 && c->syms[s] == IR_SYM_UNSET) {
        c->syms[s] = inputs[a].shape[i];
        from[s] = a;
      }
    }
  }
}

static void mark_dim(IrDim d, bool *used) {
  for (int s = 0; s < IR_MAX_SYMS; s++) used[s] |= d.k[s] != 0;
}

static void mark_type(const IrType *t, bool *used) {
  for (int i = 0; i < t->rank; i++) mark_dim(t->dims[i], used);
}

/* The symbols the function's types and dim attributes mention. Only
 * these need a value; the others default to 0. */
static void syms_used(const IrFunc *f, bool *used) {
  for (int s = 0; s < IR_MAX_SYMS; s++) used[s] = false;
  for (int a = 0; a < f->nargs; a++) mark_type(&f->args[a]->type, used);
  for (int r = 0; r < f->nresults; r++) mark_type(&f->result_types[r], used);
  for (int j = 0; j < f->nops; j++) {
    const IrOp *op = f->ops[j];
    const IrOpSpec *spec = ir_op_spec(op->kind);
    for (int r = 0; r < op->nout; r++) mark_type(&op->out[r]->type, used);
    for (int a = 0; a < spec->nattrs; a++)
      if (spec->attrs[a].kind == IR_ATTR_DIM && op->attrs[a].set) mark_dim(op->attrs[a].dim, used);
  }
}

static bool settle_syms(Call *c, const int64_t *given, const IrTensor *inputs) {
  const IrModule *m = c->it->m;
  int from[IR_MAX_SYMS];
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    c->syms[s] = s >= m->nsyms ? 0 : given ? given[s] : IR_SYM_UNSET;
    from[s] = -1;
  }
  infer_syms(c, inputs, from);
  bool used[IR_MAX_SYMS];
  syms_used(c->f, used);
  for (int s = 0; s < m->nsyms; s++) {
    const IrSym *sym = &m->syms[s];
    if (c->syms[s] == IR_SYM_UNSET && !used[s]) c->syms[s] = 0;
    if (c->syms[s] == IR_SYM_UNSET)
      return call_error(c, "symbol %s is not given and no input's shape determines it", sym->name);
    if (c->syms[s] >= 0 && c->syms[s] <= sym->max) continue;
    if (from[s] < 0)
      return call_error(c, "symbol %s = %lld is outside its bound [0, %lld]", sym->name,
                        (long long)c->syms[s], (long long)sym->max);
    return call_error(c, "symbol %s = %lld (from input %d (%%%s)) is outside its bound [0, %lld]",
                      sym->name, (long long)c->syms[s], from[s], c->f->args[from[s]]->name,
                      (long long)sym->max);
  }
  return true;
}

/* "[T, 4] = [3, 4]" for a symbolic type, "[3, 4]" for a constant one. */
static void expected_shape(const Call *c, const IrType *t, const int64_t *shape, IrBuf *b) {
  bool symbolic = false;
  ir_buf_printf(b, "[");
  for (int i = 0; i < t->rank; i++) {
    if (i) ir_buf_printf(b, ", ");
    ir_print_dim(b, c->it->m, t->dims[i]);
    symbolic |= !ir_dim_is_const(t->dims[i]);
  }
  ir_buf_printf(b, "]");
  if (symbolic) {
    char s[256];
    ir_buf_printf(b, " = %s", ir_interp_shape_str(shape, t->rank, s, sizeof s));
  }
}

static bool check_input(const Call *c, int a, const IrTensor *in) {
  const IrValue *arg = c->f->args[a];
  const IrType *t = &arg->type;
  if (in->dtype != t->dtype)
    return call_error(c, "input %d (%%%s) has dtype %s, expected %s", a, arg->name,
                      ir_dtype_name(in->dtype), ir_dtype_name(t->dtype));
  if ((ir_dtype_is_float(in->dtype) ? !in->f : !in->i) && ir_tensor_numel(in) > 0)
    return call_error(c, "input %d (%%%s) has no data", a, arg->name);
  int64_t want[IR_MAX_RANK];
  bool same = in->rank == t->rank;
  for (int i = 0; i < t->rank; i++) {
    want[i] = ir_dim_eval(t->dims[i], c->syms);
    same = same && in->shape[i] == want[i];
  }
  if (same) return true;
  char got[256];
  IrBuf exp = {0};
  expected_shape(c, t, want, &exp);
  call_error(c, "input %d (%%%s) has shape %s, expected %s", a, arg->name,
             ir_interp_shape_str(in->shape, in->rank, got, sizeof got), exp.data);
  ir_buf_free(&exp);
  return false;
}

/* ---- value slots ---- */

static int slot_cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const Slot *)a)->v, y = (uintptr_t)((const Slot *)b)->v;
  return x < y ? -1 : x > y;
}

static void build_slots(Call *c) {
  const IrModule *m = c->it->m;
  const IrFunc *f = c->f;
  c->slots = xcalloc((size_t)(c->nlocals + m->nparams + m->nstates), sizeof *c->slots);
  int n = 0, local = 0;
  for (int a = 0; a < f->nargs; a++) c->slots[n++] = (Slot){f->args[a], SLOT_LOCAL, local++};
  for (int j = 0; j < f->nops; j++)
    for (int r = 0; r < f->ops[j]->nout; r++)
      c->slots[n++] = (Slot){f->ops[j]->out[r], SLOT_LOCAL, local++};
  for (int k = 0; k < m->nparams; k++) c->slots[n++] = (Slot){m->params[k], SLOT_PARAM, k};
  for (int k = 0; k < m->nstates; k++) c->slots[n++] = (Slot){m->states[k], SLOT_STATE, k};
  c->nslots = n;
  qsort(c->slots, (size_t)n, sizeof *c->slots, slot_cmp);
}

static const Slot *find_slot(const Call *c, const IrValue *v) {
  Slot key = {v, SLOT_LOCAL, 0};
  return bsearch(&key, c->slots, (size_t)c->nslots, sizeof key, slot_cmp);
}

static IrTensor *slot_tensor(const Call *c, const Slot *s) {
  switch (s->kind) {
  case SLOT_PARAM: return &c->it->params[s->idx];
  case SLOT_STATE: return &c->it->states[s->idx];
  default: return &c->locals[s->idx];
  }
}

/* Last use of every local: the op index that reads it last, its defining
 * op if nothing reads it, -1 for an unread argument, nops if returned. */
static void compute_last_use(Call *c) {
  const IrFunc *f = c->f;
  c->last_use = xcalloc((size_t)c->nlocals, sizeof *c->last_use);
  for (int a = 0; a < f->nargs; a++) c->last_use[a] = -1;
  int local = f->nargs;
  for (int j = 0; j < f->nops; j++)
    for (int r = 0; r < f->ops[j]->nout; r++) c->last_use[local++] = j;
  for (int j = 0; j < f->nops; j++) {
    for (int k = 0; k < f->ops[j]->nin; k++) {
      const Slot *s = find_slot(c, f->ops[j]->in[k]);
      if (s && s->kind == SLOT_LOCAL) c->last_use[s->idx] = j;
    }
  }
  for (int r = 0; r < f->nresults; r++) {
    const Slot *s = find_slot(c, f->results[r]);
    if (s && s->kind == SLOT_LOCAL) c->last_use[s->idx] = f->nops;
  }
}

static bool check_params_bound(const Call *c) {
  const IrFunc *f = c->f;
  for (int j = 0; j < f->nops; j++) {
    for (int k = 0; k < f->ops[j]->nin; k++) {
      const Slot *s = find_slot(c, f->ops[j]->in[k]);
      if (s && s->kind == SLOT_PARAM && !c->it->bound[s->idx])
        return call_error(c, "param @%s is not bound (bind it with ir_interp_bind_param)",
                          f->ops[j]->in[k]->name);
    }
  }
  return true;
}

/* ---- running ops ---- */

/* Allocates the op's results with their evaluated shapes. */
static bool alloc_results(Call *c, const IrOp *op, IrTensor *out) {
  for (int r = 0; r < op->nout; r++) {
    const IrType *t = &op->out[r]->type;
    int64_t shape[IR_MAX_RANK];
    for (int i = 0; i < t->rank; i++) {
      shape[i] = ir_dim_eval(t->dims[i], c->syms);
      if (shape[i] >= 0) continue;
      IrBuf dim = {0};
      ir_print_dim(&dim, c->it->m, t->dims[i]);
      ir_error(c->d, op->loc, "%s: result %%%s has dim %d = %s = %lld, which is negative",
               ir_op_spec(op->kind)->name, op->out[r]->name, i, dim.data, (long long)shape[i]);
      ir_buf_free(&dim);
      return false;
    }
    out[r] = ir_tensor_new(t->dtype, t->rank, shape);
  }
  return true;
}

static void free_if_dead(Call *c, const IrValue *v, int j) {
  const Slot *s = find_slot(c, v);
  if (s && s->kind == SLOT_LOCAL && c->last_use[s->idx] == j) ir_tensor_free(&c->locals[s->idx]);
}

static bool run_op(Call *c, int j, IrTensor **in) {
  const IrOp *op = c->f->ops[j];
  for (int k = 0; k < op->nin; k++) {
    const Slot *s = find_slot(c, op->in[k]);
    if (!s) return ir_error(c->d, op->loc, "%s: operand %d is not defined in @%s",
                            ir_op_spec(op->kind)->name, k, c->f->name);
    in[k] = slot_tensor(c, s);
  }
  IrTensor *out = op->nout ? &c->locals[find_slot(c, op->out[0])->idx] : NULL;
  if (!alloc_results(c, op, out)) return false;
  IrOpRun run = {c->it->m, op, c->syms, in, out, c->d};
  if (!ir_interp_run_op(&run)) return false;
  for (int r = 0; r < op->nout; r++) ir_interp_round_tensor(&out[r]);
  for (int k = 0; k < op->nin; k++) free_if_dead(c, op->in[k], j);
  for (int r = 0; r < op->nout; r++) free_if_dead(c, op->out[r], j);
  return true;
}

static bool run_ops(Call *c) {
  int maxin = 1;
  for (int j = 0; j < c->f->nops; j++)
    if (c->f->ops[j]->nin > maxin) maxin = c->f->ops[j]->nin;
  IrTensor **in = xcalloc((size_t)maxin, sizeof *in);
  for (int a = 0; a < c->f->nargs; a++)
    if (c->last_use[a] < 0) ir_tensor_free(&c->locals[a]);
  bool ok = true;
  for (int j = 0; ok && j < c->f->nops; j++) ok = run_op(c, j, in);
  free(in);
  return ok;
}

/* Moves each returned local to the caller; copies params, states and a
 * value returned twice. */
static IrTensor *take_results(Call *c) {
  const IrFunc *f = c->f;
  IrTensor *outs = xcalloc((size_t)f->nresults, sizeof *outs);
  for (int r = 0; r < f->nresults; r++) {
    int dup = -1;
    for (int q = 0; q < r && dup < 0; q++)
      if (f->results[q] == f->results[r]) dup = q;
    const Slot *s = find_slot(c, f->results[r]);
    if (dup >= 0) {
      outs[r] = ir_interp_tensor_copy(&outs[dup]);
    } else if (s->kind == SLOT_LOCAL) {
      outs[r] = c->locals[s->idx];
      c->locals[s->idx] = (IrTensor){0};
    } else {
      outs[r] = ir_interp_tensor_copy(slot_tensor(c, s));
    }
  }
  return outs;
}

static void call_free(Call *c) {
  for (int k = 0; k < c->nlocals; k++) ir_tensor_free(&c->locals[k]);
  free(c->locals);
  free(c->last_use);
  free(c->slots);
}

static bool prepare(Call *c, const int64_t *syms, const IrTensor *inputs, int nin) {
  if (nin != c->f->nargs)
    return call_error(c, "got %d inputs, expected %d", nin, c->f->nargs);
  if (!settle_syms(c, syms, inputs)) return false;
  for (int a = 0; a < nin; a++)
    if (!check_input(c, a, &inputs[a])) return false;
  c->nlocals = c->f->nargs;
  for (int j = 0; j < c->f->nops; j++) c->nlocals += c->f->ops[j]->nout;
  c->locals = xcalloc((size_t)c->nlocals, sizeof *c->locals);
  build_slots(c);
  if (!check_params_bound(c)) return false;
  for (int r = 0; r < c->f->nresults; r++)
    if (!c->f->results[r] || !find_slot(c, c->f->results[r]))
      return call_error(c, "result %d is not a value of the function", r);
  for (int a = 0; a < nin; a++) {
    /* Inputs should hold values of their dtype already; rounding makes sure. */
    c->locals[a] = ir_interp_tensor_copy(&inputs[a]);
    ir_interp_round_tensor(&c->locals[a]);
  }
  compute_last_use(c);
  return true;
}

bool ir_interp_call(IrInterp *it, const char *name, const int64_t *syms, const IrTensor *inputs,
                    int nin, IrTensor **outs, int *nout, IrDiag *d) {
  *outs = NULL;
  *nout = 0;
  const IrFunc *f = ir_module_find_func(it->m, name);
  if (!f)
    return ir_error_at(d, "ir_interp_call", "module @%s has no function @%s", it->m->name, name);
  Call c = {.it = it, .f = f, .d = d};
  bool ok = prepare(&c, syms, inputs, nin) && run_ops(&c);
  if (ok) {
    *outs = take_results(&c);
    *nout = f->nresults;
  }
  call_free(&c);
  return ok;
}
