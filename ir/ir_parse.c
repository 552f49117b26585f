/* ir_parse.c: reads the IR text form (docs/ir.md) into a module.
 *
 * A hand-written parser with one token of lookahead and no recursion: the
 * grammar nests only to a fixed depth (module, func, op, attribute list).
 * It checks what the text alone can tell (names, op and attribute names,
 * operand and result counts, attribute kinds, literal ranges); the shape
 * rules are ir_verify's. Every error reports the offending token as
 * "file:line:col: error: expected X, found 'Y'" and the partial module is
 * freed.
 *
 *   IrModule *m = ir_parse(text, strlen(text), "model.kir", &d);
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "ir_lex.h"

/* ---- growable scratch arrays (malloc-owned, freed with the parser) ---- */

typedef struct {
  void *data;
  size_t n, cap;
} Vec;

static void *vec_push(Vec *v, size_t elem) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    void *p = realloc(v->data, cap * elem);
    if (!p) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    v->data = p;
    v->cap = cap;
  }
  void *slot = (char *)v->data + v->n++ * elem;
  memset(slot, 0, elem);
  return slot;
}

/* ---- name tables: %values of the current function, @globals, funcs ---- */

/* Open addressing with linear probing; names live in the module arena. */
typedef struct {
  const char *name;
  size_t len;
  void *item; /* IrValue or IrFunc */
} NameSlot;

typedef struct {
  NameSlot *slots;
  size_t cap, n; /* cap is 0 or a power of two */
} NameTable;

static uint64_t hash_name(const char *s, size_t n) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  return h;
}

static void *names_find(const NameTable *t, const char *s, size_t n) {
  if (!t->cap) return NULL;
  for (size_t i = hash_name(s, n) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    const NameSlot *slot = &t->slots[i];
    if (!slot->name) return NULL;
    if (slot->len == n && memcmp(slot->name, s, n) == 0) return slot->item;
  }
}

static void names_insert(NameSlot *slots, size_t cap, NameSlot item) {
  size_t i = hash_name(item.name, item.len) & (cap - 1);
  while (slots[i].name) i = (i + 1) & (cap - 1);
  slots[i] = item;
}

/* Keeps the load under one half. The name must outlive the table. */
static void names_put(NameTable *t, const char *name, void *item) {
  if (2 * (t->n + 1) > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    NameSlot *slots = calloc(cap, sizeof *slots);
    if (!slots) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    for (size_t i = 0; i < t->cap; i++)
      if (t->slots[i].name) names_insert(slots, cap, t->slots[i]);
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
  }
  names_insert(t->slots, t->cap, (NameSlot){name, strlen(name), item});
  t->n++;
}

static void names_free(NameTable *t) {
  free(t->slots);
  *t = (NameTable){0};
}

/* ---- parser state, tokens and errors ---- */

/* A result name seen before its op: `%v, %i = topk(...)`. */
typedef struct {
  const char *name;
  size_t len;
  int line, col;
} NameRef;

typedef struct {
  IrLexer lx;
  IrToken tok; /* the current token */
  IrModule *m;
  IrDiag *d;
  IrFunc *f; /* the function being parsed */
  NameTable globals, locals, funcs;
  Vec operands, types, ints, values, results; /* scratch, reused */
} Parser;

static void advance(Parser *p) { p->tok = ir_lex_next(&p->lx); }

static bool at(const Parser *p, IrTokKind k) { return p->tok.kind == k; }

static bool at_keyword(const Parser *p, const char *kw) {
  return p->tok.kind == IR_TOK_IDENT && p->tok.name_len == strlen(kw) &&
         memcmp(p->tok.name, kw, p->tok.name_len) == 0;
}

static IrLoc loc_at(const Parser *p, int line, int col) { return (IrLoc){p->m->file, line, col}; }
static IrLoc tok_loc(const Parser *p, const IrToken *t) { return loc_at(p, t->line, t->col); }

static bool error_at(Parser *p, const IrToken *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool error_at(Parser *p, const IrToken *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(p->d, tok_loc(p, t), fmt, ap);
  va_end(ap);
  return false;
}

/* "expected WHAT, found 'TOKEN'" at the current token; a malformed token
 * reports what is wrong with it instead. */
static bool expected(Parser *p, const char *what) {
  if (at(p, IR_TOK_ERROR)) return error_at(p, &p->tok, "%s", p->tok.msg);
  char found[256];
  ir_lex_describe(&p->tok, found, sizeof found);
  return error_at(p, &p->tok, "expected %s, found %s", what, found);
}

static bool expect(Parser *p, IrTokKind k, const char *what) {
  if (!at(p, k)) return expected(p, what);
  advance(p);
  return true;
}

static char *tok_name(Parser *p, const IrToken *t) {
  return ir_arena_strndup(&p->m->arena, t->name, t->name_len);
}

static const char *plural(int64_t n) { return n == 1 ? "" : "s"; }

/* ---- literals ---- */

/* The current INT token with sign `neg` applied: -9223372036854775808 is
 * fine, 9223372036854775808 is not. */
static bool signed_int(Parser *p, bool neg, int64_t *out) {
  uint64_t mag = p->tok.ival;
  if (!neg && mag > (uint64_t)INT64_MAX) {
    char q[256];
    ir_lex_describe(&p->tok, q, sizeof q);
    return error_at(p, &p->tok, "integer literal %s is out of range", q);
  }
  *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
  return true;
}

/* An integer with an optional '-': 3, -1. */
static bool parse_int(Parser *p, const char *what, int64_t *out) {
  bool neg = at(p, IR_TOK_MINUS);
  if (neg) advance(p);
  if (!at(p, IR_TOK_INT)) return expected(p, what);
  if (!signed_int(p, neg, out)) return false;
  advance(p);
  return true;
}

/* A float: 1.5, -1e-05, 3 (an int), inf, -inf, nan. */
static bool parse_float(Parser *p, const char *what, double *out) {
  bool neg = at(p, IR_TOK_MINUS);
  if (neg) advance(p);
  if (at(p, IR_TOK_FLOAT)) *out = p->tok.fval;
  else if (at(p, IR_TOK_INT)) *out = (double)p->tok.ival;
  else if (at_keyword(p, "inf")) *out = INFINITY;
  else if (at_keyword(p, "nan")) *out = NAN;
  else return expected(p, what);
  if (neg) *out = -*out;
  advance(p);
  return true;
}

/* ---- dims and types ---- */

static bool dim_overflow(Parser *p, const IrToken *t) {
  return error_at(p, t, "dim is out of range (overflows 64 bits)");
}

/* One term of a dim, added to *acc: 64, T, 2*T; `neg` is the sign before it. */
static bool parse_dim_term(Parser *p, bool neg, IrDim *acc) {
  IrToken first = p->tok;
  int64_t coef = neg ? -1 : 1;
  bool has_sym = true;
  if (at(p, IR_TOK_INT)) {
    if (!signed_int(p, neg, &coef)) return false;
    advance(p);
    has_sym = at(p, IR_TOK_STAR);
    if (has_sym) {
      advance(p);
      if (!at(p, IR_TOK_IDENT)) return expected(p, "a symbol after '*'");
    }
  } else if (!at(p, IR_TOK_IDENT)) {
    return expected(p, "a dim");
  }
  if (!has_sym) {
    if (__builtin_add_overflow(acc->c, coef, &acc->c)) return dim_overflow(p, &first);
    return true;
  }
  int s = ir_module_find_sym(p->m, p->tok.name, p->tok.name_len);
  if (s < 0)
    return error_at(p, &p->tok, "unknown symbol '%.*s'", (int)p->tok.name_len, p->tok.name);
  if (__builtin_add_overflow(acc->k[s], coef, &acc->k[s])) return dim_overflow(p, &first);
  advance(p);
  return true;
}

/* A linear expression over the symbols: 64, T, P+T, 2*T-1, -T+8. */
static bool parse_dim(Parser *p, IrDim *out) {
  *out = ir_dim_const(0);
  bool neg = at(p, IR_TOK_MINUS);
  if (neg) advance(p);
  for (;;) {
    if (!parse_dim_term(p, neg, out)) return false;
    if (!at(p, IR_TOK_PLUS) && !at(p, IR_TOK_MINUS)) return true;
    neg = at(p, IR_TOK_MINUS);
    advance(p);
  }
}

/* f32[T, 512], i32[] (a scalar). */
static bool parse_type(Parser *p, IrType *out) {
  memset(out, 0, sizeof *out);
  if (!at(p, IR_TOK_IDENT) || !ir_dtype_from_name(p->tok.name, p->tok.name_len, &out->dtype))
    return expected(p, "a dtype (f32, f16, bf16, i32, i64, i8 or i4)");
  advance(p);
  if (!expect(p, IR_TOK_LBRACKET, "'['")) return false;
  if (at(p, IR_TOK_RBRACKET)) {
    advance(p);
    return true;
  }
  for (;;) {
    if (out->rank == IR_MAX_RANK)
      return error_at(p, &p->tok, "too many dims: at most %d", IR_MAX_RANK);
    if (!parse_dim(p, &out->dims[out->rank++])) return false;
    if (!at(p, IR_TOK_COMMA)) break;
    advance(p);
  }
  return expect(p, IR_TOK_RBRACKET, "',' or ']'");
}

/* ---- module items: sym, param, state ---- */

static bool parse_sym(Parser *p) {
  IrToken kw = p->tok;
  advance(p);
  if (!at(p, IR_TOK_IDENT)) return expected(p, "a symbol name");
  IrToken name = p->tok;
  int prev = ir_module_find_sym(p->m, name.name, name.name_len);
  if (prev >= 0)
    return error_at(p, &name, "redefinition of symbol '%.*s' (first defined at %d:%d)",
                    (int)name.name_len, name.name, p->m->syms[prev].loc.line,
                    p->m->syms[prev].loc.col);
  if (p->m->nsyms == IR_MAX_SYMS)
    return error_at(p, &name, "too many symbols: at most %d", IR_MAX_SYMS);
  advance(p);
  if (!expect(p, IR_TOK_LE, "'<='")) return false;
  int64_t max = 0;
  if (!at(p, IR_TOK_INT)) return expected(p, "the symbol's bound (an integer)");
  if (!signed_int(p, false, &max)) return false;
  advance(p);
  int s = ir_module_add_sym(p->m, tok_name(p, &name), max);
  p->m->syms[s].loc = tok_loc(p, &kw);
  return true;
}

/* The range an initializer value of an int dtype must lie in. Values are
 * stored as doubles, so i64 is limited to what a double holds exactly. */
static void int_init_range(IrDType t, int64_t *lo, int64_t *hi) {
  switch (t) {
    case IR_I4: *lo = -8, *hi = 7; break;
    case IR_I8: *lo = -128, *hi = 127; break;
    case IR_I32: *lo = INT32_MIN, *hi = INT32_MAX; break;
    default: *lo = -(INT64_C(1) << 53), *hi = INT64_C(1) << 53; break;
  }
}

static bool parse_init_value(Parser *p, IrDType dtype, double *out) {
  if (ir_dtype_is_float(dtype)) return parse_float(p, "a number", out);
  IrToken first = p->tok;
  int64_t v, lo, hi;
  if (!parse_int(p, "an integer", &v)) return false;
  int_init_range(dtype, &lo, &hi);
  if (v < lo || v > hi)
    return error_at(p, &first, "initializer value %lld is out of range for %s [%lld, %lld]",
                    (long long)v, ir_dtype_name(dtype), (long long)lo, (long long)hi);
  *out = (double)v;
  return true;
}

/* Element count of a constant type, saturating; -1 if a dim is symbolic,
 * -2 if one is negative. */
static int64_t const_numel(const IrType *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (!ir_dim_is_const(t->dims[i])) return -1;
    if (t->dims[i].c < 0) return -2;
  }
  for (int i = 0; i < t->rank; i++)
    if (__builtin_mul_overflow(n, t->dims[i].c, &n)) n = INT64_MAX;
  return n;
}

/* `= [1.0, 2.0, ...]`: row-major, exactly one value per element. */
static bool parse_init(Parser *p, IrValue *v) {
  IrToken eq = p->tok;
  advance(p);
  int64_t numel = const_numel(&v->type);
  if (numel == -1)
    return error_at(p, &eq, "param @%s has a symbolic shape; an initializer needs constant dims",
                    v->name);
  if (numel == -2)
    return error_at(p, &eq, "param @%s has a negative dim; it cannot have an initializer",
                    v->name);
  if (!expect(p, IR_TOK_LBRACKET, "'['")) return false;
  p->values.n = 0;
  while (!at(p, IR_TOK_RBRACKET)) {
    if ((int64_t)p->values.n == numel)
      return error_at(p, &p->tok, "param @%s has %lld element%s, found more initializer values",
                      v->name, (long long)numel, plural(numel));
    if (!parse_init_value(p, v->type.dtype, vec_push(&p->values, sizeof(double)))) return false;
    if (!at(p, IR_TOK_COMMA)) break;
    advance(p);
  }
  if (!at(p, IR_TOK_RBRACKET)) return expected(p, "',' or ']'");
  if ((int64_t)p->values.n != numel)
    return error_at(p, &p->tok, "param @%s has %lld element%s, found %zu initializer value%s",
                    v->name, (long long)numel, plural(numel), p->values.n,
                    plural((int64_t)p->values.n));
  advance(p);
  v->ninit = (int64_t)p->values.n;
  v->init = ir_arena_alloc(&p->m->arena, sizeof(double) * (p->values.n ? p->values.n : 1));
  if (p->values.n) memcpy(v->init, p->values.data, sizeof(double) * p->values.n);
  return true;
}

/* `name = INT` inside a layout, the value kept within int range and at
 * least `min`. */
static bool parse_layout_field(Parser *p, const char *name, int64_t min, int64_t *out) {
  if (!at_keyword(p, name)) {
    char what[64];
    snprintf(what, sizeof what, "'%s'", name);
    return expected(p, what);
  }
  advance(p);
  if (!expect(p, IR_TOK_EQUAL, "'='")) return false;
  IrToken first = p->tok;
  if (!parse_int(p, "an integer", out)) return false;
  if (*out < INT32_MIN || *out > INT32_MAX)
    return error_at(p, &first, "layout %s %lld is out of range", name, (long long)*out);
  if (*out < min)
    return error_at(p, &first, "layout %s %lld, expected a %s >= %lld", name, (long long)*out,
                    name, (long long)min);
  return true;
}

/* `layout(panels, axis = 0, width = 32)` after a global's type (docs/ir.md,
 * "Weight layouts"); the verifier checks it against the type. Width 0
 * would read as row-major, so it is refused here. */
static bool parse_layout(Parser *p, IrLayout *out) {
  advance(p);
  if (!expect(p, IR_TOK_LPAREN, "'('")) return false;
  if (!at_keyword(p, "panels")) return expected(p, "a layout kind ('panels')");
  advance(p);
  int64_t axis, width;
  if (!expect(p, IR_TOK_COMMA, "','") || !parse_layout_field(p, "axis", INT32_MIN, &axis) ||
      !expect(p, IR_TOK_COMMA, "','") || !parse_layout_field(p, "width", 1, &width) ||
      !expect(p, IR_TOK_RPAREN, "')'"))
    return false;
  *out = (IrLayout){.panel = (int)width, .axis = (int)axis};
  return true;
}

/* `param @w : f32[4, 4]` (optionally `layout(...)` or `= [...]`) or
 * `state @kc : f32[2, 16, 64]`. */
static bool parse_global(Parser *p, bool is_param) {
  IrToken kw = p->tok;
  advance(p);
  if (!at(p, IR_TOK_GLOBAL))
    return expected(p, is_param ? "a parameter name (@name)" : "a state name (@name)");
  IrToken name = p->tok;
  IrValue *prev = names_find(&p->globals, name.name, name.name_len);
  if (prev)
    return error_at(p, &name, "redefinition of '@%s' (first defined at %d:%d)", prev->name,
                    prev->loc.line, prev->loc.col);
  advance(p);
  IrType type;
  if (!expect(p, IR_TOK_COLON, "':'") || !parse_type(p, &type)) return false;
  char *s = tok_name(p, &name);
  IrValue *v = is_param ? ir_module_add_param(p->m, s, type) : ir_module_add_state(p->m, s, type);
  v->loc = tok_loc(p, &kw);
  names_put(&p->globals, v->name, v);
  if (at_keyword(p, "layout") && !parse_layout(p, &v->layout)) return false;
  if (is_param && at(p, IR_TOK_EQUAL)) return parse_init(p, v);
  return true;
}

/* ---- ops ---- */

/* %value or @global, already defined. */
static bool parse_operand(Parser *p, IrValue **out) {
  if (at(p, IR_TOK_LOCAL)) {
    *out = names_find(&p->locals, p->tok.name, p->tok.name_len);
    if (!*out)
      return error_at(p, &p->tok, "use of undefined value '%%%.*s'", (int)p->tok.name_len,
                      p->tok.name);
  } else if (at(p, IR_TOK_GLOBAL)) {
    *out = names_find(&p->globals, p->tok.name, p->tok.name_len);
    if (!*out)
      return error_at(p, &p->tok, "unknown global '@%.*s'", (int)p->tok.name_len, p->tok.name);
  } else {
    return expected(p, "an operand (%value or @global)");
  }
  advance(p);
  return true;
}

/* operand, operand, ... into p->operands (until a token that is not ','). */
static bool parse_operand_list(Parser *p) {
  p->operands.n = 0;
  for (;;) {
    if (!parse_operand(p, vec_push(&p->operands, sizeof(IrValue *)))) return false;
    if (!at(p, IR_TOK_COMMA)) return true;
    advance(p);
  }
}

static bool check_operand_count(Parser *p, const IrToken *name, const IrOpSpec *spec, int n) {
  if (n >= spec->min_in && (spec->max_in < 0 || n <= spec->max_in)) return true;
  if (spec->max_in < 0)
    return error_at(p, name, "op '%s' takes at least %d operand%s, found %d", spec->name,
                    spec->min_in, plural(spec->min_in), n);
  if (spec->min_in == spec->max_in)
    return error_at(p, name, "op '%s' takes %d operand%s, found %d", spec->name, spec->min_in,
                    plural(spec->min_in), n);
  return error_at(p, name, "op '%s' takes %d to %d operands, found %d", spec->name, spec->min_in,
                  spec->max_in, n);
}

static int find_attr(const IrOpSpec *spec, const char *s, size_t n) {
  for (int i = 0; i < spec->nattrs; i++)
    if (strlen(spec->attrs[i].name) == n && memcmp(spec->attrs[i].name, s, n) == 0) return i;
  return -1;
}

static bool unknown_attr(Parser *p, const IrOpSpec *spec) {
  char list[512] = "";
  size_t len = 0;
  for (int i = 0; i < spec->nattrs && len < sizeof list; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                            spec->attrs[i].name);
  return error_at(p, &p->tok, "op '%s' has no attribute '%.*s'; it has%s%s", spec->name,
                  (int)p->tok.name_len, p->tok.name, spec->nattrs ? ": " : " none", list);
}

static bool parse_str_attr(Parser *p, IrOp *op, const IrAttrSpec *a) {
  char what[96];
  snprintf(what, sizeof what, "a string for attribute '%s'", a->name);
  if (!at(p, IR_TOK_STRING)) return expected(p, what);
  char *s = ir_arena_alloc(&p->m->arena, p->tok.len);
  s[ir_lex_unescape(&p->tok, s)] = 0;
  if (a->choices) {
    bool ok = false;
    char list[256];
    size_t len = 0;
    for (int i = 0; a->choices[i]; i++) {
      ok |= strcmp(a->choices[i], s) == 0;
      if (len < sizeof list)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%s\"", i ? ", " : "",
                                a->choices[i]);
    }
    if (!ok)
      return error_at(p, &p->tok, "attribute '%s' of op '%s' must be one of %s; found %.*s",
                      a->name, ir_op_spec(op->kind)->name, list, (int)p->tok.len, p->tok.text);
  }
  ir_op_set_str(p->m, op, a->name, s);
  advance(p);
  return true;
}

static bool parse_ints_attr(Parser *p, IrOp *op, const IrAttrSpec *a) {
  char what[96];
  snprintf(what, sizeof what, "an integer list for attribute '%s'", a->name);
  if (!at(p, IR_TOK_LBRACKET)) return expected(p, what);
  advance(p);
  p->ints.n = 0;
  while (!at(p, IR_TOK_RBRACKET)) {
    if (p->ints.n == IR_MAX_RANK * 1024)
      return error_at(p, &p->tok, "attribute '%s' has too many values", a->name);
    if (!parse_int(p, "an integer", vec_push(&p->ints, sizeof(int64_t)))) return false;
    if (!at(p, IR_TOK_COMMA)) break;
    advance(p);
  }
  if (!expect(p, IR_TOK_RBRACKET, "',' or ']'")) return false;
  ir_op_set_ints(p->m, op, a->name, p->ints.data, (int)p->ints.n);
  return true;
}

/* `= value` of attribute a; its kind decides what the value must be. */
static bool parse_attr_value(Parser *p, IrOp *op, const IrAttrSpec *a) {
  char what[96];
  if (a->kind == IR_ATTR_BOOL) {
    if (at(p, IR_TOK_EQUAL))
      return error_at(p, &p->tok, "attribute '%s' is a flag and takes no value", a->name);
    ir_op_set_bool(op, a->name, true);
    return true;
  }
  snprintf(what, sizeof what, "'=' after attribute '%s'", a->name);
  if (!expect(p, IR_TOK_EQUAL, what)) return false;
  switch (a->kind) {
    case IR_ATTR_INT: {
      int64_t v;
      snprintf(what, sizeof what, "an integer for attribute '%s'", a->name);
      if (!parse_int(p, what, &v)) return false;
      return ir_op_set_int(op, a->name, v);
    }
    case IR_ATTR_FLOAT: {
      double v;
      snprintf(what, sizeof what, "a float for attribute '%s'", a->name);
      if (!parse_float(p, what, &v)) return false;
      return ir_op_set_float(op, a->name, v);
    }
    case IR_ATTR_DIM: {
      IrDim v;
      if (!parse_dim(p, &v)) return false;
      return ir_op_set_dim(op, a->name, v);
    }
    case IR_ATTR_STR: return parse_str_attr(p, op, a);
    case IR_ATTR_INTS: return parse_ints_attr(p, op, a);
    case IR_ATTR_BOOL: break;
  }
  return true;
}

/* {name = value, flag, ...} */
static bool parse_attrs(Parser *p, IrOp *op) {
  const IrOpSpec *spec = ir_op_spec(op->kind);
  bool seen[IR_MAX_ATTRS] = {0};
  advance(p); /* '{' */
  while (!at(p, IR_TOK_RBRACE)) {
    if (!at(p, IR_TOK_IDENT)) return expected(p, "an attribute name");
    int i = find_attr(spec, p->tok.name, p->tok.name_len);
    if (i < 0) return unknown_attr(p, spec);
    if (seen[i]) return error_at(p, &p->tok, "duplicate attribute '%s'", spec->attrs[i].name);
    seen[i] = true;
    advance(p);
    if (!parse_attr_value(p, op, &spec->attrs[i])) return false;
    if (!at(p, IR_TOK_COMMA)) break;
    advance(p);
  }
  return expect(p, IR_TOK_RBRACE, "',' or '}'");
}

static bool check_required_attrs(Parser *p, const IrToken *name, const IrOp *op) {
  const IrOpSpec *spec = ir_op_spec(op->kind);
  for (int i = 0; i < spec->nattrs; i++)
    if (spec->attrs[i].required && !op->attrs[i].set)
      return error_at(p, name, "op '%s' is missing required attribute '%s'", spec->name,
                      spec->attrs[i].name);
  return true;
}

/* `: t1, t2` into the op's results, exactly op->nout of them. */
static bool parse_result_types(Parser *p, IrOp *op) {
  const char *opname = ir_op_spec(op->kind)->name;
  if (op->nout == 0) {
    if (at(p, IR_TOK_COLON))
      return error_at(p, &p->tok, "op '%s' has no results, found ':'", opname);
    return true;
  }
  if (!expect(p, IR_TOK_COLON, "':' and the result type")) return false;
  int n = 0;
  for (;;) {
    if (n == op->nout)
      return error_at(p, &p->tok, "op '%s' has %d result%s, found more result types", opname,
                      op->nout, plural(op->nout));
    if (!parse_type(p, &op->out[n++]->type)) return false;
    if (!at(p, IR_TOK_COMMA)) break;
    advance(p);
  }
  if (n < op->nout) {
    char what[96];
    snprintf(what, sizeof what, "',' and %d more result type%s for op '%s'", op->nout - n,
             plural(op->nout - n), opname);
    return expected(p, what);
  }
  return true;
}

static bool check_new_local(Parser *p, const IrToken *t) {
  IrValue *prev = names_find(&p->locals, t->name, t->name_len);
  if (prev)
    return error_at(p, t, "redefinition of '%%%s' (first defined at %d:%d)", prev->name,
                    prev->loc.line, prev->loc.col);
  const NameRef *seen = p->results.data;
  for (size_t i = 0; i < p->results.n; i++)
    if (seen[i].len == t->name_len && memcmp(seen[i].name, t->name, t->name_len) == 0)
      return error_at(p, t, "redefinition of '%%%.*s' (first defined at %d:%d)",
                      (int)t->name_len, t->name, seen[i].line, seen[i].col);
  return true;
}

/* `%a, %b =` before an op, into p->results. */
static bool parse_result_names(Parser *p) {
  p->results.n = 0;
  if (!at(p, IR_TOK_LOCAL)) return true;
  for (;;) {
    if (!at(p, IR_TOK_LOCAL)) return expected(p, "a result name (%name)");
    if (!check_new_local(p, &p->tok)) return false;
    NameRef *r = vec_push(&p->results, sizeof(NameRef));
    *r = (NameRef){p->tok.name, p->tok.name_len, p->tok.line, p->tok.col};
    advance(p);
    if (!at(p, IR_TOK_COMMA)) break;
    advance(p);
  }
  return expect(p, IR_TOK_EQUAL, "',' or '='");
}

static void define_results(Parser *p, IrOp *op) {
  const NameRef *r = p->results.data;
  for (int i = 0; i < op->nout; i++) {
    IrValue *v = op->out[i];
    v->name = ir_arena_strndup(&p->m->arena, r[i].name, r[i].len);
    v->loc = loc_at(p, r[i].line, r[i].col);
    names_put(&p->locals, v->name, v);
  }
}

/* [%a, %b =] name[(operands)] [{attrs}] [: types] */
static bool parse_op(Parser *p) {
  IrToken first = p->tok;
  if (!parse_result_names(p)) return false;
  int nres = (int)p->results.n;
  if (!at(p, IR_TOK_IDENT)) return expected(p, nres ? "an op name" : "an op, 'return' or '}'");
  IrToken name = p->tok;
  IrOpKind kind;
  if (!ir_op_from_name(name.name, name.name_len, &kind))
    return error_at(p, &name, "unknown op '%.*s'", (int)name.name_len, name.name);
  const IrOpSpec *spec = ir_op_spec(kind);
  if (nres != spec->nout)
    return error_at(p, &name, "op '%s' has %d result%s, found %d result name%s", spec->name,
                    spec->nout, plural(spec->nout), nres, plural(nres));
  advance(p);
  p->operands.n = 0;
  if (at(p, IR_TOK_LPAREN)) {
    advance(p);
    if (!at(p, IR_TOK_RPAREN) && !parse_operand_list(p)) return false;
    if (!expect(p, IR_TOK_RPAREN, "',' or ')'")) return false;
  }
  if (!check_operand_count(p, &name, spec, (int)p->operands.n)) return false;
  p->types.n = 0;
  for (int i = 0; i < spec->nout; i++) vec_push(&p->types, sizeof(IrType));
  IrOp *op = ir_op_new(p->m, NULL, kind, (int)p->operands.n, p->operands.data, spec->nout,
                       p->types.data);
  op->loc = tok_loc(p, &first);
  if (at(p, IR_TOK_LBRACE) && !parse_attrs(p, op)) return false;
  if (!check_required_attrs(p, &name, op) || !parse_result_types(p, op)) return false;
  define_results(p, op);
  ir_func_append_op(p->m, p->f, op);
  return true;
}

/* return %a, %b: as many values as the function declares results. */
static bool parse_return(Parser *p) {
  IrToken kw = p->tok;
  IrFunc *f = p->f;
  advance(p);
  p->operands.n = 0;
  if ((at(p, IR_TOK_LOCAL) || at(p, IR_TOK_GLOBAL)) && !parse_operand_list(p)) return false;
  int n = (int)p->operands.n;
  if (n != f->nresults)
    return error_at(p, &kw, "function @%s returns %d value%s, found %d after 'return'", f->name,
                    f->nresults, plural(f->nresults), n);
  if (n) memcpy(f->results, p->operands.data, sizeof(IrValue *) * (size_t)n);
  return true;
}

/* ---- functions ---- */

/* One argument `%a: type`. */
static bool parse_arg(Parser *p) {
  if (!at(p, IR_TOK_LOCAL)) return expected(p, "an argument (%name)");
  IrToken name = p->tok;
  if (!check_new_local(p, &name)) return false;
  advance(p);
  IrType type;
  if (!expect(p, IR_TOK_COLON, "':'") || !parse_type(p, &type)) return false;
  IrValue *a = ir_func_add_arg(p->m, p->f, tok_name(p, &name), type);
  a->loc = tok_loc(p, &name);
  names_put(&p->locals, a->name, a);
  return true;
}

/* (%a: type, %b: type) */
static bool parse_args(Parser *p) {
  if (!expect(p, IR_TOK_LPAREN, "'('")) return false;
  bool ok = true;
  if (!at(p, IR_TOK_RPAREN)) {
    for (;;) {
      if (!(ok = parse_arg(p)) || !at(p, IR_TOK_COMMA)) break;
      advance(p);
    }
  }
  return ok && expect(p, IR_TOK_RPAREN, "',' or ')'");
}

/* -> type | -> (type, ...) */
static bool parse_result_sig(Parser *p) {
  if (!expect(p, IR_TOK_ARROW, "'->'")) return false;
  p->types.n = 0;
  bool paren = at(p, IR_TOK_LPAREN);
  if (paren) advance(p);
  if (!paren || !at(p, IR_TOK_RPAREN)) {
    for (;;) {
      if (!parse_type(p, vec_push(&p->types, sizeof(IrType)))) return false;
      if (!paren || !at(p, IR_TOK_COMMA)) break;
      advance(p);
    }
  }
  if (paren && !expect(p, IR_TOK_RPAREN, "',' or ')'")) return false;
  ir_func_set_results(p->m, p->f, (int)p->types.n, p->types.data);
  return true;
}

/* { op... return ... } */
static bool parse_body(Parser *p) {
  if (!expect(p, IR_TOK_LBRACE, "'{'")) return false;
  for (bool returned = false;;) {
    if (at(p, IR_TOK_RBRACE)) {
      if (!returned) {
        char what[96];
        snprintf(what, sizeof what, "'return' at the end of function @%.60s", p->f->name);
        return expected(p, what);
      }
      advance(p);
      return true;
    }
    if (returned) return expected(p, "'}' after 'return'");
    if (at_keyword(p, "return")) {
      if (!parse_return(p)) return false;
      returned = true;
    } else if (!parse_op(p)) {
      return false;
    }
  }
}

static bool parse_func(Parser *p) {
  IrToken kw = p->tok;
  advance(p);
  if (!at(p, IR_TOK_GLOBAL)) return expected(p, "a function name (@name)");
  IrToken name = p->tok;
  IrFunc *prev = names_find(&p->funcs, name.name, name.name_len);
  if (prev)
    return error_at(p, &name, "redefinition of function '@%s' (first defined at %d:%d)",
                    prev->name, prev->loc.line, prev->loc.col);
  advance(p);
  p->f = ir_module_add_func(p->m, tok_name(p, &name));
  p->f->loc = tok_loc(p, &kw);
  names_put(&p->funcs, p->f->name, p->f);
  names_free(&p->locals);
  return parse_args(p) && parse_result_sig(p) && parse_body(p);
}

/* ---- module ---- */

static bool parse_module(Parser *p) {
  IrToken kw = p->tok;
  if (!at_keyword(p, "module")) return expected(p, "'module'");
  p->m->loc = tok_loc(p, &kw);
  advance(p);
  if (!at(p, IR_TOK_GLOBAL)) return expected(p, "a module name (@name)");
  p->m->name = tok_name(p, &p->tok);
  advance(p);
  if (!expect(p, IR_TOK_LBRACE, "'{'")) return false;
  while (!at(p, IR_TOK_RBRACE)) {
    bool ok;
    if (at_keyword(p, "sym")) ok = parse_sym(p);
    else if (at_keyword(p, "param")) ok = parse_global(p, true);
    else if (at_keyword(p, "state")) ok = parse_global(p, false);
    else if (at_keyword(p, "func")) ok = parse_func(p);
    else return expected(p, "'sym', 'param', 'state', 'func' or '}'");
    if (!ok) return false;
  }
  advance(p);
  return at(p, IR_TOK_EOF) || expected(p, "end of file after the module");
}

IrModule *ir_parse(const char *text, size_t len, const char *file, IrDiag *d) {
  Parser p;
  memset(&p, 0, sizeof p);
  p.m = ir_module_new("");
  p.m->file = file ? ir_arena_strdup(&p.m->arena, file) : NULL;
  p.d = d;
  ir_lex_init(&p.lx, text, text ? len : 0);
  advance(&p);
  bool ok = parse_module(&p);
  names_free(&p.globals);
  names_free(&p.locals);
  names_free(&p.funcs);
  Vec *scratch[] = {&p.operands, &p.types, &p.ints, &p.values, &p.results};
  for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++) free(scratch[i]->data);
  if (!ok) {
    ir_module_free(p.m);
    return NULL;
  }
  return p.m;
}
