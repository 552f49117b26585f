/* ir_verify.c: the module verifier (docs/ir.md, "Verifier").
 *
 * Walks a module in order and stops at the first error: symbols, then
 * params and states, then each function (arguments, ops in program order,
 * the return). For each op it checks that the operands are defined earlier
 * and of the right kind (@ states only as operand 0 of kv_read/kv_write),
 * runs the op's shape rule (ir_infer_types, ir_shape.c) and compares the
 * declared result types with the inferred ones. Every type it meets must
 * be well formed: a known dtype, rank <= 8, dims over declared symbols that
 * are non-negative for every symbol value in [0, max].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* Symbol bounds are capped so that dim arithmetic in 128 bits cannot
 * overflow (2^40 is far beyond any context length). */
#define SYM_MAX_LIMIT ((int64_t)1 << 40)
/* A dim's magnitude over the symbol box must stay far inside int64, so
 * that ir_dim_min/ir_dim_max/ir_dim_eval never overflow on a valid module. */
#define DIM_LIMIT ((int64_t)1 << 60)

/* ---- a set of pointers or of names (open addressing) ------------------- */

typedef struct {
  const void **keys;
  size_t cap, n;
  bool by_name; /* keys are C strings compared by content */
} Set;

static size_t set_hash(const Set *s, const void *k) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  if (s->by_name)
    for (const char *c = k; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211u;
  else
    h = (uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15u;
  return (size_t)(h ^ (h >> 29));
}

static bool set_same(const Set *s, const void *a, const void *b) {
  return s->by_name ? strcmp(a, b) == 0 : a == b;
}

static size_t set_slot(const Set *s, const void *k) {
  size_t i = set_hash(s, k) & (s->cap - 1);
  while (s->keys[i] && !set_same(s, s->keys[i], k)) i = (i + 1) & (s->cap - 1);
  return i;
}

static bool set_has(const Set *s, const void *k) { return s->cap && s->keys[set_slot(s, k)]; }

/* Adds k; returns false if it was already there. */
static bool set_add(Set *s, const void *k) {
  if (2 * (s->n + 1) > s->cap) {
    Set bigger = {calloc(s->cap ? 2 * s->cap : 64, sizeof(void *)), s->cap ? 2 * s->cap : 64, 0,
                  s->by_name};
    if (!bigger.keys) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    for (size_t i = 0; i < s->cap; i++)
      if (s->keys[i]) bigger.keys[set_slot(&bigger, s->keys[i])] = s->keys[i], bigger.n++;
    free(s->keys);
    *s = bigger;
  }
  size_t i = set_slot(s, k);
  if (s->keys[i]) return false;
  s->keys[i] = k;
  s->n++;
  return true;
}

static void set_clear(Set *s) {
  if (s->cap) memset(s->keys, 0, s->cap * sizeof(void *));
  s->n = 0;
}

static void set_free(Set *s) {
  free(s->keys);
  *s = (Set){.by_name = s->by_name};
}

/* ---- the verifier's state and message helpers --------------------------- */

typedef struct {
  const IrModule *m;
  IrDiag *d;
  int64_t bounds[IR_MAX_SYMS];
  Set globals;      /* the module's param and state values */
  Set locals;       /* arguments and op results defined so far in a function */
  Set local_names;  /* their names */
} Verifier;


/* "%x" or "@w", as the user wrote it. */
static IrText value_text(const IrValue *v) {
  IrText x;
  bool global = v->kind == IR_VAL_PARAM || v->kind == IR_VAL_STATE;
  snprintf(x.s, sizeof x.s, "%c%s", global ? '@' : '%', v->name ? v->name : "<unnamed>");
  return x;
}

static const char *kind_text(IrValueKind k) {
  switch (k) {
  case IR_VAL_PARAM: return "a param";
  case IR_VAL_STATE: return "a state";
  case IR_VAL_ARG: return "an argument";
  case IR_VAL_RESULT: return "an op result";
  }
  return "an unknown kind of value";
}

static const char *op_name(const IrOp *op) { return ir_op_spec(op->kind)->name; }

/* Names of @ and % values: letters, digits, '_' and '.'. */
static bool valid_value_name(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++)
    if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') ||
          *s == '_' || *s == '.'))
      return false;
  return true;
}

/* Symbol names are identifiers: a letter or '_', then letters, digits, '_'. */
static bool valid_sym_name(const char *s) {
  if (!s || !*s || ('0' <= *s && *s <= '9')) return false;
  for (; *s; s++)
    if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') ||
          *s == '_'))
      return false;
  return true;
}

/* ---- types --------------------------------------------------------------- */

/* Smallest or largest value of d over the symbol box (bounds <= 2^40, so
 * no 128-bit overflow). */
static __int128 dim_extreme(const Verifier *v, IrDim d, bool largest) {
  __int128 x = d.c;
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (d.k[s] && (d.k[s] > 0) == largest) x += (__int128)d.k[s] * v->bounds[s];
  return x;
}

/* A known dtype, rank <= 8, dims over declared symbols and within int64.
 * `what` names the value: "param @w", "matmul: result %y". */
static bool check_type_form(Verifier *v, IrLoc loc, const char *what, const IrType *t) {
  if ((unsigned)t->dtype >= IR_DTYPE_COUNT)
    return ir_error(v->d, loc, "%s has an unknown dtype (%d)", what, (int)t->dtype);
  if (t->rank < 0 || t->rank > IR_MAX_RANK)
    return ir_error(v->d, loc, "%s has rank %d, expected 0 to %d", what, t->rank, IR_MAX_RANK);
  for (int i = 0; i < t->rank; i++) {
    for (int s = v->m->nsyms; s < IR_MAX_SYMS; s++)
      if (t->dims[i].k[s])
        return ir_error(v->d, loc, "%s: dim %d uses undeclared symbol #%d (%d declared)", what, i,
                        s, v->m->nsyms);
    if (dim_extreme(v, t->dims[i], true) > DIM_LIMIT ||
        dim_extreme(v, t->dims[i], false) < -DIM_LIMIT)
      return ir_error(v->d, loc, "%s: dim %d = %s is out of range (beyond 2^60)", what, i,
                      ir_dim_text(v->m, t->dims[i]).s);
  }
  return true;
}

/* Every dim >= 0 for every symbol value in [0, max]. A linear dim is
 * smallest with each symbol at 0 (positive coefficient) or at its bound
 * (negative coefficient); the message names that corner. */
static bool check_dims_nonneg(Verifier *v, IrLoc loc, const char *what, const IrType *t) {
  for (int i = 0; i < t->rank; i++) {
    IrDim d = t->dims[i];
    if (dim_extreme(v, d, false) >= 0) continue;
    if (ir_dim_is_const(d))
      return ir_error(v->d, loc, "%s has dim %d = %lld, expected a dim >= 0", what, i,
                      (long long)d.c);
    char corner[256] = "";
    for (int s = 0; s < v->m->nsyms; s++) {
      if (!d.k[s]) continue;
      size_t n = strlen(corner);
      snprintf(corner + n, sizeof corner - n, "%s%s = %lld", n ? ", " : "", v->m->syms[s].name,
               (long long)(d.k[s] < 0 ? v->bounds[s] : 0));
    }
    return ir_error(v->d, loc, "%s has dim %d = %s, which is negative when %s", what, i,
                    ir_dim_text(v->m, d).s, corner);
  }
  return true;
}

static bool check_type(Verifier *v, IrLoc loc, const char *what, const IrType *t) {
  return check_type_form(v, loc, what, t) && check_dims_nonneg(v, loc, what, t);
}

/* ---- symbols, params, states --------------------------------------------- */

static bool check_symbols(Verifier *v) {
  const IrModule *m = v->m;
  if (m->nsyms < 0 || m->nsyms > IR_MAX_SYMS)
    return ir_error(v->d, m->loc, "module declares %d symbols, at most %d are allowed", m->nsyms,
                    IR_MAX_SYMS);
  for (int s = 0; s < m->nsyms; s++) {
    const IrSym *sym = &m->syms[s];
    if (!valid_sym_name(sym->name))
      return ir_error(v->d, sym->loc, "symbol #%d has an invalid name '%s'", s,
                      sym->name ? sym->name : "");
    for (int t = 0; t < s; t++)
      if (strcmp(m->syms[t].name, sym->name) == 0)
        return ir_error(v->d, sym->loc, "symbol %s is already declared", sym->name);
    if (sym->max < 0 || sym->max > SYM_MAX_LIMIT)
      return ir_error(v->d, sym->loc, "symbol %s has bound %lld, expected 0 <= bound <= 2^40",
                      sym->name, (long long)sym->max);
  }
  return true;
}

/* Element count of a constant shape, or -1 when it overflows. */
static int64_t const_numel(const IrType *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++)
    if (__builtin_mul_overflow(n, t->dims[i].c, &n)) return -1;
  return n;
}

/* One param or state: a fresh @name, a well-formed constant type, and for
 * params an initializer with exactly one value per element. */
static bool check_global(Verifier *v, Set *names, const IrValue *g, IrValueKind kind) {
  const char *what = kind == IR_VAL_PARAM ? "param" : "state";
  char label[512];
  snprintf(label, sizeof label, "%s %s", what, value_text(g).s);
  if (g->kind != kind)
    return ir_error(v->d, g->loc, "%s is %s, but is listed as a %s", label, kind_text(g->kind),
                    what);
  if (!valid_value_name(g->name))
    return ir_error(v->d, g->loc, "%s has an invalid name", label);
  if (!set_add(names, g->name))
    return ir_error(v->d, g->loc, "%s: the name @%s is already declared", label, g->name);
  set_add(&v->globals, g);
  if (!check_type_form(v, g->loc, label, &g->type)) return false;
  for (int i = 0; i < g->type.rank; i++)
    if (!ir_dim_is_const(g->type.dims[i]))
      return ir_error(v->d, g->loc, "%s has type %s; %ss need constant dims", label,
                      ir_type_text(v->m, &g->type).s, what);
  if (!check_dims_nonneg(v, g->loc, label, &g->type)) return false;
  if (g->init && kind == IR_VAL_STATE)
    return ir_error(v->d, g->loc, "%s has an initializer; states start at zero", label);
  if (g->init && g->ninit != const_numel(&g->type))
    return ir_error(v->d, g->loc,
                    "%s has %lld initial values, expected %lld (the element count of %s)", label,
                    (long long)g->ninit, (long long)const_numel(&g->type),
                    ir_type_text(v->m, &g->type).s);
  return ir_verify_layout(v->m, g, v->d);
}

static bool check_globals(Verifier *v) {
  Set names = {.by_name = true};
  bool ok = true;
  for (int i = 0; ok && i < v->m->nparams; i++)
    ok = check_global(v, &names, v->m->params[i], IR_VAL_PARAM);
  for (int i = 0; ok && i < v->m->nstates; i++)
    ok = check_global(v, &names, v->m->states[i], IR_VAL_STATE);
  set_free(&names);
  return ok;
}

/* ---- functions ------------------------------------------------------------ */

/* A new local (argument or op result): a valid name not used before in
 * the function, a value not defined twice. `what`: "argument",
 * "matmul: result". */
static bool define_local(Verifier *v, const IrFunc *f, IrLoc loc, const char *what,
                         const IrValue *val) {
  if (!valid_value_name(val->name))
    return ir_error(v->d, loc, "%s %s has an invalid name", what, value_text(val).s);
  if (!set_add(&v->locals, val))
    return ir_error(v->d, loc, "%s %s is defined twice", what, value_text(val).s);
  if (!set_add(&v->local_names, val->name))
    return ir_error(v->d, loc, "%s %s: the name is already taken in function @%s", what,
                    value_text(val).s, f->name);
  return true;
}

static bool check_args(Verifier *v, const IrFunc *f) {
  for (int i = 0; i < f->nargs; i++) {
    const IrValue *a = f->args[i];
    char label[512];
    if (!a) return ir_error(v->d, f->loc, "function @%s: argument %d is missing", f->name, i);
    snprintf(label, sizeof label, "function @%s: argument %s", f->name, value_text(a).s);
    if (a->kind != IR_VAL_ARG)
      return ir_error(v->d, a->loc, "%s is %s, not an argument", label, kind_text(a->kind));
    if (!check_type(v, a->loc, label, &a->type)) return false;
    if (!define_local(v, f, a->loc, "argument", a)) return false;
  }
  return true;
}

/* Index of op in f, or -1. Only used on the error path. */
static int op_index(const IrFunc *f, const IrOp *op) {
  for (int i = 0; i < f->nops; i++)
    if (f->ops[i] == op) return i;
  return -1;
}

/* `what` reads "matmul: operand 1" or "function @f: return value 0". */
static bool check_defined(Verifier *v, const IrFunc *f, IrLoc loc, const char *what,
                          const IrValue *val) {
  if (val->kind == IR_VAL_PARAM || val->kind == IR_VAL_STATE) {
    if (set_has(&v->globals, val)) return true;
    return ir_error(v->d, loc, "%s %s is not a param or state of this module", what,
                    value_text(val).s);
  }
  if (set_has(&v->locals, val)) return true;
  if (val->kind == IR_VAL_RESULT && val->def && op_index(f, val->def) >= 0)
    return ir_error(v->d, loc, "%s %s is used before its definition", what, value_text(val).s);
  return ir_error(v->d, loc, "%s %s is not defined in function @%s", what, value_text(val).s,
                  f->name);
}

/* Defined earlier, and states exactly where kv_read/kv_write take them. */
static bool check_operand(Verifier *v, const IrFunc *f, const IrOp *op, int i) {
  const IrValue *val = op->in[i];
  char what[64];
  snprintf(what, sizeof what, "%s: operand %d", op_name(op), i);
  if (!val) return ir_error(v->d, op->loc, "%s is missing", what);
  if (!check_defined(v, f, op->loc, what, val)) return false;
  unsigned flags = ir_op_spec(op->kind)->flags;
  bool state_slot = i == 0 && (flags & (IR_OPF_READS_STATE | IR_OPF_WRITES_STATE));
  if (state_slot && val->kind != IR_VAL_STATE)
    return ir_error(v->d, op->loc, "%s %s must be a state, found %s", what, value_text(val).s,
                    kind_text(val->kind));
  if (!state_slot && val->kind == IR_VAL_STATE)
    return ir_error(v->d, op->loc,
                    "%s %s is a state; states are used only as operand 0 of kv_read and kv_write",
                    what, value_text(val).s);
  return true;
}

/* Result i of op: linked to op, well formed, not yet defined. */
static bool check_result_form(Verifier *v, const IrOp *op, int i) {
  const IrValue *r = op->out[i];
  char what[512];
  if (!r) return ir_error(v->d, op->loc, "%s: result %d is missing", op_name(op), i);
  snprintf(what, sizeof what, "%s: result %s", op_name(op), value_text(r).s);
  if (r->kind != IR_VAL_RESULT || r->def != op || r->def_index != i)
    return ir_error(v->d, op->loc, "%s is not linked to its op (kind, def or index)", what);
  return check_type_form(v, op->loc, what, &r->type);
}

static bool check_op(Verifier *v, const IrFunc *f, const IrOp *op) {
  if ((unsigned)op->kind >= IR_OP_COUNT)
    return ir_error(v->d, op->loc, "unknown op kind %d", (int)op->kind);
  for (int i = 0; i < op->nin; i++)
    if (!check_operand(v, f, op, i)) return false;
  for (int i = 0; i < op->nout; i++)
    if (!check_result_form(v, op, i)) return false;
  IrType inferred[4]; /* no op has more than 2 results */
  if (!ir_infer_types(v->m, op, inferred, v->d)) return false;
  for (int i = 0; i < op->nout; i++) {
    const IrValue *r = op->out[i];
    if (!ir_type_eq(&r->type, &inferred[i]))
      return ir_error(v->d, op->loc, "%s: result type %s does not match the inferred %s for %s",
                      op_name(op), ir_type_text(v->m, &r->type).s, ir_type_text(v->m, &inferred[i]).s,
                      value_text(r).s);
    char what[512], prefix[64];
    snprintf(prefix, sizeof prefix, "%s: result", op_name(op));
    snprintf(what, sizeof what, "%s %s", prefix, value_text(r).s);
    if (!check_dims_nonneg(v, op->loc, what, &r->type)) return false;
    if (!define_local(v, f, op->loc, prefix, r)) return false;
  }
  return true;
}

/* The values of `return`: present, defined, of the declared types. */
static bool check_return(Verifier *v, const IrFunc *f) {
  if (f->nresults > 0 && !f->result_types)
    return ir_error(v->d, f->loc, "function @%s has no result types", f->name);
  for (int i = 0; i < f->nresults; i++) {
    char what[512];
    snprintf(what, sizeof what, "function @%s: result type %d", f->name, i);
    if (!check_type(v, f->loc, what, &f->result_types[i])) return false;
  }
  for (int i = 0; i < f->nresults; i++) {
    const IrValue *r = f->results ? f->results[i] : NULL;
    char what[512];
    if (!r) return ir_error(v->d, f->loc, "function @%s does not return result %d", f->name, i);
    snprintf(what, sizeof what, "function @%s: return value %d", f->name, i);
    if (!check_defined(v, f, f->loc, what, r)) return false;
    if (r->kind == IR_VAL_STATE)
      return ir_error(v->d, f->loc, "%s %s is a state; read it with kv_read", what,
                      value_text(r).s);
    if (!ir_type_eq(&r->type, &f->result_types[i]))
      return ir_error(v->d, f->loc, "%s %s has type %s, expected %s (the declared result type)",
                      what, value_text(r).s, ir_type_text(v->m, &r->type).s,
                      ir_type_text(v->m, &f->result_types[i]).s);
  }
  return true;
}

static bool check_func(Verifier *v, const IrFunc *f) {
  set_clear(&v->locals);
  set_clear(&v->local_names);
  if (!check_args(v, f)) return false;
  for (int i = 0; i < f->nops; i++) {
    if (!f->ops[i])
      return ir_error(v->d, f->loc, "function @%s: op %d is missing", f->name, i);
    if (!check_op(v, f, f->ops[i])) return false;
  }
  return check_return(v, f);
}

static bool check_funcs(Verifier *v) {
  Set names = {.by_name = true};
  bool ok = true;
  for (int i = 0; ok && i < v->m->nfuncs; i++) {
    const IrFunc *f = v->m->funcs[i];
    if (!valid_value_name(f->name))
      ok = ir_error(v->d, f->loc, "function #%d has an invalid name '%s'", i,
                    f->name ? f->name : "");
    else if (!set_add(&names, f->name))
      ok = ir_error(v->d, f->loc, "function @%s is already defined", f->name);
    else
      ok = check_func(v, f);
  }
  set_free(&names);
  return ok;
}

bool ir_verify(const IrModule *m, IrDiag *d) {
  Verifier v = {.m = m, .d = d, .local_names = {.by_name = true}};
  ir_module_sym_bounds(m, v.bounds);
  bool ok = check_symbols(&v) && check_globals(&v) && check_funcs(&v);
  set_free(&v.globals);
  set_free(&v.locals);
  set_free(&v.local_names);
  return ok;
}
