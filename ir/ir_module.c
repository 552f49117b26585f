/* ir_module.c: creating and editing modules, functions, values and ops. */
#include <stdio.h>
#include <string.h>

#include "ir.h"

/* Grows an arena-backed pointer array; the old storage stays in the arena
 * (arenas never free single blocks), which is fine for IR sizes. */
static void **grow(IrArena *a, void **items, int n, int *cap) {
  if (n < *cap) return items;
  int ncap = *cap ? *cap * 2 : 16;
  void **p = ir_arena_alloc(a, sizeof(void *) * (size_t)ncap);
  if (n) memcpy(p, items, sizeof(void *) * (size_t)n);
  *cap = ncap;
  return p;
}

IrModule *ir_module_new(const char *name) {
  IrArena arena = {0};
  IrModule *m = ir_arena_alloc(&arena, sizeof *m);
  m->arena = arena;
  m->name = ir_arena_strdup(&m->arena, name);
  return m;
}

void ir_module_free(IrModule *m) {
  if (!m) return;
  IrArena a = m->arena; /* m itself lives in the arena */
  ir_arena_free(&a);
}

int ir_module_add_sym(IrModule *m, const char *name, int64_t max) {
  if (m->nsyms >= IR_MAX_SYMS) return -1;
  IrSym *s = &m->syms[m->nsyms];
  s->name = ir_arena_strdup(&m->arena, name);
  s->max = max;
  return m->nsyms++;
}

int ir_module_find_sym(const IrModule *m, const char *name, size_t n) {
  for (int s = 0; s < m->nsyms; s++)
    if (strlen(m->syms[s].name) == n && memcmp(m->syms[s].name, name, n) == 0) return s;
  return -1;
}

void ir_module_sym_bounds(const IrModule *m, int64_t *bounds) {
  for (int s = 0; s < IR_MAX_SYMS; s++) bounds[s] = s < m->nsyms ? m->syms[s].max : 0;
}

static IrValue *new_value(IrModule *m, IrValueKind kind, const char *name, IrType type) {
  IrValue *v = ir_arena_alloc(&m->arena, sizeof *v);
  v->kind = kind;
  v->name = name ? ir_arena_strdup(&m->arena, name) : NULL;
  v->type = type;
  return v;
}

IrValue *ir_module_add_param(IrModule *m, const char *name, IrType type) {
  m->params = (IrValue **)grow(&m->arena, (void **)m->params, m->nparams, &m->cap_params);
  return m->params[m->nparams++] = new_value(m, IR_VAL_PARAM, name, type);
}

IrValue *ir_module_add_state(IrModule *m, const char *name, IrType type) {
  m->states = (IrValue **)grow(&m->arena, (void **)m->states, m->nstates, &m->cap_states);
  return m->states[m->nstates++] = new_value(m, IR_VAL_STATE, name, type);
}

static bool name_is(const char *name, const char *s, size_t n) {
  return name && strlen(name) == n && memcmp(name, s, n) == 0;
}

IrValue *ir_module_find_global(const IrModule *m, const char *name, size_t n) {
  for (int i = 0; i < m->nparams; i++)
    if (name_is(m->params[i]->name, name, n)) return m->params[i];
  for (int i = 0; i < m->nstates; i++)
    if (name_is(m->states[i]->name, name, n)) return m->states[i];
  return NULL;
}

IrFunc *ir_module_add_func(IrModule *m, const char *name) {
  m->funcs = (IrFunc **)grow(&m->arena, (void **)m->funcs, m->nfuncs, &m->cap_funcs);
  IrFunc *f = ir_arena_alloc(&m->arena, sizeof *f);
  f->name = ir_arena_strdup(&m->arena, name);
  return m->funcs[m->nfuncs++] = f;
}

IrFunc *ir_module_find_func(const IrModule *m, const char *name) {
  for (int i = 0; i < m->nfuncs; i++)
    if (strcmp(m->funcs[i]->name, name) == 0) return m->funcs[i];
  return NULL;
}

IrValue *ir_func_add_arg(IrModule *m, IrFunc *f, const char *name, IrType type) {
  f->args = (IrValue **)grow(&m->arena, (void **)f->args, f->nargs, &f->cap_args);
  return f->args[f->nargs++] = new_value(m, IR_VAL_ARG, name, type);
}

IrValue *ir_func_find_value(const IrFunc *f, const char *name, size_t n) {
  for (int i = 0; i < f->nargs; i++)
    if (name_is(f->args[i]->name, name, n)) return f->args[i];
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nout; j++)
      if (name_is(f->ops[i]->out[j]->name, name, n)) return f->ops[i]->out[j];
  return NULL;
}

void ir_func_set_results(IrModule *m, IrFunc *f, int n, const IrType *types) {
  f->nresults = n;
  f->result_types = ir_arena_alloc(&m->arena, sizeof(IrType) * (size_t)(n ? n : 1));
  if (n) memcpy(f->result_types, types, sizeof(IrType) * (size_t)n);
  f->results = ir_arena_alloc(&m->arena, sizeof(IrValue *) * (size_t)(n ? n : 1));
}

/* The N of a name "t<N>", or -1. */
static int fresh_number(const char *name) {
  if (!name || name[0] != 't' || !name[1]) return -1;
  int n = 0;
  for (const char *p = name + 1; *p; p++) {
    if (*p < '0' || *p > '9' || n > 100000000) return -1;
    n = n * 10 + (*p - '0');
  }
  return n;
}

/* Fresh names are "t<N>". The first call scans the function once and
 * starts past every "t<N>" already there, so a parsed function that uses
 * %t3 never gets a duplicate and each later call is O(1). (Names set by
 * hand afterwards should not take the "t<N>" form.) */
const char *ir_func_fresh_name(IrModule *m, IrFunc *f) {
  if (!f->fresh_ready) {
    f->fresh_ready = true;
    for (int i = 0; i < f->nargs; i++) {
      int n = fresh_number(f->args[i]->name);
      if (n >= f->next_name) f->next_name = n + 1;
    }
    for (int i = 0; i < f->nops; i++)
      for (int j = 0; j < f->ops[i]->nout; j++) {
        int n = fresh_number(f->ops[i]->out[j]->name);
        if (n >= f->next_name) f->next_name = n + 1;
      }
  }
  return ir_arena_printf(&m->arena, "t%d", f->next_name++);
}

IrOp *ir_op_new(IrModule *m, IrFunc *f, IrOpKind kind, int nin, IrValue *const *in, int nout,
                const IrType *out_types) {
  IrOp *op = ir_arena_alloc(&m->arena, sizeof *op);
  op->kind = kind;
  op->nin = nin;
  op->in = ir_arena_alloc(&m->arena, sizeof(IrValue *) * (size_t)(nin ? nin : 1));
  if (nin) memcpy(op->in, in, sizeof(IrValue *) * (size_t)nin);
  op->nout = nout;
  op->out = ir_arena_alloc(&m->arena, sizeof(IrValue *) * (size_t)(nout ? nout : 1));
  for (int i = 0; i < nout; i++) {
    IrValue *v = new_value(m, IR_VAL_RESULT, NULL, out_types[i]);
    v->name = f ? ir_func_fresh_name(m, f) : NULL;
    v->def = op;
    v->def_index = i;
    op->out[i] = v;
  }
  return op;
}

void ir_func_insert_op(IrModule *m, IrFunc *f, int at, IrOp *op) {
  f->ops = (IrOp **)grow(&m->arena, (void **)f->ops, f->nops, &f->cap_ops);
  memmove(f->ops + at + 1, f->ops + at, sizeof(IrOp *) * (size_t)(f->nops - at));
  f->ops[at] = op;
  f->nops++;
}

void ir_func_append_op(IrModule *m, IrFunc *f, IrOp *op) { ir_func_insert_op(m, f, f->nops, op); }

void ir_func_remove_op(IrFunc *f, int at) {
  memmove(f->ops + at, f->ops + at + 1, sizeof(IrOp *) * (size_t)(f->nops - at - 1));
  f->nops--;
}

void ir_value_set_name(IrModule *m, IrValue *v, const char *name) {
  v->name = ir_arena_strdup(&m->arena, name);
}

/* ---- attributes ---- */

static IrAttr *slot(IrOp *op, const char *name, IrAttrKind kind) {
  int i = ir_op_attr_index(op->kind, name);
  if (i < 0 || ir_op_spec(op->kind)->attrs[i].kind != kind) return NULL;
  return &op->attrs[i];
}

const IrAttr *ir_op_attr(const IrOp *op, const char *name) {
  int i = ir_op_attr_index(op->kind, name);
  return i >= 0 && op->attrs[i].set ? &op->attrs[i] : NULL;
}

bool ir_op_set_int(IrOp *op, const char *name, int64_t v) {
  IrAttr *a = slot(op, name, IR_ATTR_INT);
  if (!a) return false;
  a->set = true;
  a->i = v;
  return true;
}

bool ir_op_set_float(IrOp *op, const char *name, double v) {
  IrAttr *a = slot(op, name, IR_ATTR_FLOAT);
  if (!a) return false;
  a->set = true;
  a->f = v;
  return true;
}

bool ir_op_set_bool(IrOp *op, const char *name, bool v) {
  IrAttr *a = slot(op, name, IR_ATTR_BOOL);
  if (!a) return false;
  a->set = v;
  a->i = v;
  return true;
}

bool ir_op_set_str(IrModule *m, IrOp *op, const char *name, const char *v) {
  IrAttr *a = slot(op, name, IR_ATTR_STR);
  if (!a) return false;
  a->set = true;
  a->s = ir_arena_strdup(&m->arena, v);
  return true;
}

bool ir_op_set_ints(IrModule *m, IrOp *op, const char *name, const int64_t *v, int n) {
  IrAttr *a = slot(op, name, IR_ATTR_INTS);
  if (!a) return false;
  a->set = true;
  a->nints = n;
  a->ints = ir_arena_alloc(&m->arena, sizeof(int64_t) * (size_t)(n ? n : 1));
  if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  return true;
}

bool ir_op_set_dim(IrOp *op, const char *name, IrDim v) {
  IrAttr *a = slot(op, name, IR_ATTR_DIM);
  if (!a) return false;
  a->set = true;
  a->dim = v;
  return true;
}

int64_t ir_op_int(const IrOp *op, const char *name, int64_t dflt) {
  const IrAttr *a = ir_op_attr(op, name);
  return a ? a->i : dflt;
}

double ir_op_float(const IrOp *op, const char *name, double dflt) {
  const IrAttr *a = ir_op_attr(op, name);
  return a ? a->f : dflt;
}

bool ir_op_bool(const IrOp *op, const char *name) { return ir_op_attr(op, name) != NULL; }

const char *ir_op_str(const IrOp *op, const char *name, const char *dflt) {
  const IrAttr *a = ir_op_attr(op, name);
  return a ? a->s : dflt;
}

IrDim ir_op_dim(const IrOp *op, const char *name, IrDim dflt) {
  const IrAttr *a = ir_op_attr(op, name);
  return a ? a->dim : dflt;
}

/* ---- uses ---- */

void ir_func_replace_uses(IrFunc *f, IrValue *from, IrValue *to) {
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nin; j++)
      if (f->ops[i]->in[j] == from) f->ops[i]->in[j] = to;
  for (int i = 0; i < f->nresults; i++)
    if (f->results[i] == from) f->results[i] = to;
}

int ir_func_count_uses(const IrFunc *f, const IrValue *v) {
  int n = 0;
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nin; j++) n += f->ops[i]->in[j] == v;
  for (int i = 0; i < f->nresults; i++) n += f->results[i] == v;
  return n;
}
