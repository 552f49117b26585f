/* ir_print.c: writes a module in the canonical text form that ir_parse
 * reads back (docs/ir.md). The output is a function of the module alone,
 * so print(parse(print(m))) == print(m) byte for byte:
 *
 *   module @m {
 *     sym T <= 16
 *     param @w : f32[2, 2] = [1.0, 2.0, 3.0, 4.0]
 *
 *     func @f(%x: f32[T, 2]) -> f32[T, 2] {
 *       %y = matmul(%x, @w) {transpose_b} : f32[T, 2]
 *       return %y
 *     }
 *   }
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- numbers ---- */

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Shortest "%.Ne" form of v that reads back to v: 0.1 -> "1e-01". */
static void shortest_sci(double v, char *buf, size_t size) {
  for (int prec = 0; prec < 17; prec++) {
    snprintf(buf, size, "%.*e", prec, v);
    if (same_double(strtod(buf, NULL), v)) return;
  }
  snprintf(buf, size, "%.16e", v);
}

/* Python's repr layout: positional for exponents in [-4, 16), scientific
 * otherwise, always with a '.' or an 'e' so it reads back as a float:
 * 10000.0, 0.0001, 1e-05, 1.5e+16. */
void ir_print_double(IrBuf *b, double v) {
  if (isnan(v) || isinf(v)) {
    ir_buf_printf(b, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
    return;
  }
  char sci[40], digits[24];
  shortest_sci(v, sci, sizeof sci);
  const char *s = sci;
  bool neg = *s == '-';
  if (neg) s++;
  size_t nd = 0;
  for (; *s && *s != 'e'; s++)
    if (*s != '.') digits[nd++] = *s;
  int exp = atoi(s + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--; /* only "0e+00" has one; be safe */
  digits[nd] = 0;
  if (neg) ir_buf_printf(b, "-");
  if (exp < -4 || exp >= 16) {
    ir_buf_printf(b, "%c%s%s", digits[0], nd > 1 ? "." : "", digits + 1);
    ir_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
  } else if (exp < 0) {
    ir_buf_printf(b, "0.");
    for (int i = -1; i > exp; i--) ir_buf_printf(b, "0");
    ir_buf_printf(b, "%s", digits);
  } else {
    size_t whole = (size_t)exp + 1;
    for (size_t i = 0; i < whole; i++) ir_buf_printf(b, "%c", i < nd ? digits[i] : '0');
    ir_buf_printf(b, ".%s", nd > whole ? digits + whole : "0");
  }
}

/* ---- dims and types ---- */

static const char *sym_name(const IrModule *m, int s) {
  return m && s < m->nsyms && m->syms[s].name ? m->syms[s].name : "?";
}

/* Symbols in declaration order, then the constant: P+T, 2*T-1, -T+8, 0. */
void ir_print_dim(IrBuf *b, const IrModule *m, IrDim d) {
  bool any = false;
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    int64_t k = d.k[s];
    if (!k) continue;
    uint64_t mag = k < 0 ? 0 - (uint64_t)k : (uint64_t)k;
    ir_buf_printf(b, "%s", k < 0 ? "-" : any ? "+" : "");
    if (mag != 1) ir_buf_printf(b, "%llu*", (unsigned long long)mag);
    ir_buf_printf(b, "%s", sym_name(m, s));
    any = true;
  }
  if (d.c || !any) {
    uint64_t mag = d.c < 0 ? 0 - (uint64_t)d.c : (uint64_t)d.c;
    ir_buf_printf(b, "%s%llu", d.c < 0 ? "-" : any ? "+" : "", (unsigned long long)mag);
  }
}

void ir_print_type(IrBuf *b, const IrModule *m, const IrType *t) {
  ir_buf_printf(b, "%s[", ir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank && i < IR_MAX_RANK; i++) {
    if (i) ir_buf_printf(b, ", ");
    ir_print_dim(b, m, t->dims[i]);
  }
  ir_buf_printf(b, "]");
}

static void print_types(IrBuf *b, const IrModule *m, const IrType *types, int n) {
  for (int i = 0; i < n; i++) {
    if (i) ir_buf_printf(b, ", ");
    ir_print_type(b, m, &types[i]);
  }
}

/* ---- values and attributes ---- */

static void print_ref(IrBuf *b, const IrValue *v) {
  if (!v) {
    ir_buf_printf(b, "%%<null>");
    return;
  }
  bool global = v->kind == IR_VAL_PARAM || v->kind == IR_VAL_STATE;
  ir_buf_printf(b, "%c%s", global ? '@' : '%', v->name ? v->name : "<null>");
}

static void print_refs(IrBuf *b, IrValue *const *vs, int n) {
  for (int i = 0; i < n; i++) {
    if (i) ir_buf_printf(b, ", ");
    print_ref(b, vs[i]);
  }
}

/* "half" with \" \\ \n \t and \xNN for other control bytes. */
static void print_string(IrBuf *b, const char *s) {
  ir_buf_printf(b, "\"");
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    if (*c == '"' || *c == '\\') ir_buf_printf(b, "\\%c", *c);
    else if (*c == '\n') ir_buf_printf(b, "\\n");
    else if (*c == '\t') ir_buf_printf(b, "\\t");
    else if (*c < 0x20) ir_buf_printf(b, "\\x%02x", *c);
    else ir_buf_printf(b, "%c", *c);
  }
  ir_buf_printf(b, "\"");
}

static void print_attr(IrBuf *b, const IrModule *m, const IrAttrSpec *spec, const IrAttr *a) {
  ir_buf_printf(b, "%s", spec->name);
  if (spec->kind == IR_ATTR_BOOL) return;
  ir_buf_printf(b, " = ");
  switch (spec->kind) {
    case IR_ATTR_INT: ir_buf_printf(b, "%lld", (long long)a->i); break;
    case IR_ATTR_FLOAT: ir_print_double(b, a->f); break;
    case IR_ATTR_STR: print_string(b, a->s); break;
    case IR_ATTR_DIM: ir_print_dim(b, m, a->dim); break;
    case IR_ATTR_INTS:
      ir_buf_printf(b, "[");
      for (int i = 0; i < a->nints; i++)
        ir_buf_printf(b, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
      ir_buf_printf(b, "]");
      break;
    case IR_ATTR_BOOL: break;
  }
}

/* {a = 1, flag}: only the set attributes, in the op spec's order. */
static void print_attrs(IrBuf *b, const IrModule *m, const IrOp *op) {
  const IrOpSpec *spec = ir_op_spec(op->kind);
  bool any = false;
  for (int i = 0; i < spec->nattrs; i++) {
    if (!op->attrs[i].set) continue;
    ir_buf_printf(b, "%s", any ? ", " : " {");
    print_attr(b, m, &spec->attrs[i], &op->attrs[i]);
    any = true;
  }
  if (any) ir_buf_printf(b, "}");
}

/* ---- ops, functions, module ---- */

/* %v, %i = topk(%x) {k = 2} : f32[T, 2], i32[T, 2]
 * %c = const {value = 0.125} : f32[]       (no operands: no parentheses)
 * kv_write(@kc, %k) {offset = P}           (no results: no names, no types) */
static void print_op(IrBuf *b, const IrModule *m, const IrOp *op) {
  ir_buf_printf(b, "    ");
  if (op->nout) {
    print_refs(b, op->out, op->nout);
    ir_buf_printf(b, " = ");
  }
  ir_buf_printf(b, "%s", ir_op_spec(op->kind)->name);
  if (op->nin) {
    ir_buf_printf(b, "(");
    print_refs(b, op->in, op->nin);
    ir_buf_printf(b, ")");
  }
  print_attrs(b, m, op);
  if (op->nout) {
    ir_buf_printf(b, " : ");
    for (int i = 0; i < op->nout; i++) {
      if (i) ir_buf_printf(b, ", ");
      ir_print_type(b, m, &op->out[i]->type);
    }
  }
  ir_buf_printf(b, "\n");
}

static void print_func(IrBuf *b, const IrModule *m, const IrFunc *f) {
  ir_buf_printf(b, "\n  func @%s(", f->name);
  for (int i = 0; i < f->nargs; i++) {
    if (i) ir_buf_printf(b, ", ");
    print_ref(b, f->args[i]);
    ir_buf_printf(b, ": ");
    ir_print_type(b, m, &f->args[i]->type);
  }
  ir_buf_printf(b, ") -> ");
  if (f->nresults == 1) {
    ir_print_type(b, m, &f->result_types[0]);
  } else {
    ir_buf_printf(b, "(");
    print_types(b, m, f->result_types, f->nresults);
    ir_buf_printf(b, ")");
  }
  ir_buf_printf(b, " {\n");
  for (int i = 0; i < f->nops; i++) print_op(b, m, f->ops[i]);
  ir_buf_printf(b, "    return");
  for (int i = 0; i < f->nresults && f->results; i++) {
    ir_buf_printf(b, "%s", i ? ", " : " ");
    print_ref(b, f->results[i]);
  }
  ir_buf_printf(b, "\n  }\n");
}

/* Int dtypes print their initializer as integers, float dtypes as floats. */
static void print_init(IrBuf *b, const IrValue *v) {
  bool as_int = ir_dtype_is_int(v->type.dtype);
  ir_buf_printf(b, " = [");
  for (int64_t i = 0; i < v->ninit; i++) {
    if (i) ir_buf_printf(b, ", ");
    double x = v->init[i];
    if (as_int && isfinite(x)) ir_buf_printf(b, "%.0f", x + 0.0); /* + 0.0: no "-0" */
    else ir_print_double(b, x);
  }
  ir_buf_printf(b, "]");
}

static void print_global(IrBuf *b, const IrModule *m, const char *kw, const IrValue *v) {
  ir_buf_printf(b, "  %s @%s : ", kw, v->name ? v->name : "<null>");
  ir_print_type(b, m, &v->type);
  if (v->layout.panel)
    ir_buf_printf(b, " layout(panels, axis = %d, width = %d)", v->layout.axis, v->layout.panel);
  if (v->kind == IR_VAL_PARAM && v->init) print_init(b, v);
  ir_buf_printf(b, "\n");
}

void ir_print_module(IrBuf *b, const IrModule *m) {
  ir_buf_printf(b, "module @%s {\n", m->name ? m->name : "");
  for (int s = 0; s < m->nsyms; s++)
    ir_buf_printf(b, "  sym %s <= %lld\n", m->syms[s].name, (long long)m->syms[s].max);
  for (int i = 0; i < m->nparams; i++) print_global(b, m, "param", m->params[i]);
  for (int i = 0; i < m->nstates; i++) print_global(b, m, "state", m->states[i]);
  for (int i = 0; i < m->nfuncs; i++) print_func(b, m, m->funcs[i]);
  ir_buf_printf(b, "}\n");
}

IrText ir_type_text(const IrModule *m, const IrType *t) {
  IrBuf b = {0};
  ir_print_type(&b, m, t);
  IrText x;
  snprintf(x.s, sizeof x.s, "%s", b.data ? b.data : "");
  ir_buf_free(&b);
  return x;
}

IrText ir_dim_text(const IrModule *m, IrDim d) {
  IrBuf b = {0};
  ir_print_dim(&b, m, d);
  IrText x;
  snprintf(x.s, sizeof x.s, "%s", b.data ? b.data : "");
  ir_buf_free(&b);
  return x;
}
