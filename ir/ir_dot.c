/* ir_dot.c: a module as Graphviz, for looking at what the passes did
 * (`kiln opt --emit-dot=FILE`, `kiln compile --emit-dot=FILE`):
 *
 *   digraph "prefill" {
 *     a0 [shape=invhouse, label="%tokens\ni32[T]"];
 *     p1 [shape=box3d, label="@embed\nf32[64, 16]"];
 *     o0 [shape=box, style=rounded, label="embedding\n%x : f32[T, 16]"];
 *     p1 -> o0 [label="0"];  a0 -> o0 [label="1"];
 *     ...
 *     ret [shape=doublecircle, label="return"];
 *   }
 *
 * One digraph per function. Node ids: a<i> arguments, p<i> parameters,
 * s<i> states (module indices), o<i> ops (program order), ret the return.
 * Operand edges carry the operand's index when an op has more than one,
 * and "#k" when they use result k > 0 of a multi-result op. Labels are
 * escaped for DOT's quoted strings; attribute values longer than
 * DOT_MAX_ATTR characters are cut with "...".
 */
#include <stdio.h>
#include <string.h>

#include "ir.h"

#define DOT_MAX_ATTR 40

/* Appends s to b as the inside of a DOT quoted string: quotes and
 * backslashes escaped, newlines as \n, other control characters dropped. */
static void escape(IrBuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') ir_buf_printf(b, "\\%c", c);
    else if (c == '\n') ir_buf_printf(b, "\\n");
    else if (c >= 0x20) ir_buf_printf(b, "%c", c);
  }
}

/* One attribute as "name = value", the value cut at DOT_MAX_ATTR. */
static void attr_text(IrBuf *b, const IrModule *m, const IrAttrSpec *spec, const IrAttr *a) {
  ir_buf_printf(b, "%s", spec->name);
  if (spec->kind == IR_ATTR_BOOL) return;
  IrBuf v = {0};
  switch (spec->kind) {
    case IR_ATTR_INT: ir_buf_printf(&v, "%lld", (long long)a->i); break;
    case IR_ATTR_FLOAT: ir_print_double(&v, a->f); break;
    case IR_ATTR_STR: ir_buf_printf(&v, "\"%s\"", a->s ? a->s : ""); break;
    case IR_ATTR_DIM: ir_print_dim(&v, m, a->dim); break;
    case IR_ATTR_INTS:
      ir_buf_printf(&v, "[");
      for (int i = 0; i < a->nints; i++)
        ir_buf_printf(&v, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
      ir_buf_printf(&v, "]");
      break;
    case IR_ATTR_BOOL: break;
  }
  if (v.len > DOT_MAX_ATTR) ir_buf_printf(b, " = %.*s...", DOT_MAX_ATTR - 3, v.data);
  else ir_buf_printf(b, " = %s", v.data ? v.data : "");
  ir_buf_free(&v);
}

/* "matmul\ntranspose_b\n%y : f32[T, 4]" (unescaped). */
static void op_label(IrBuf *b, const IrModule *m, const IrOp *op) {
  const IrOpSpec *spec = ir_op_spec(op->kind);
  ir_buf_printf(b, "%s", spec->name);
  for (int i = 0; i < spec->nattrs; i++) {
    if (!op->attrs[i].set) continue;
    ir_buf_printf(b, "\n");
    attr_text(b, m, &spec->attrs[i], &op->attrs[i]);
  }
  for (int i = 0; i < op->nout; i++) {
    ir_buf_printf(b, "\n%%%s : ", op->out[i]->name ? op->out[i]->name : "?");
    ir_print_type(b, m, &op->out[i]->type);
  }
}

/* "%tokens\ni32[T]" or "@embed\nf32[64, 16]" (unescaped). */
static void value_label(IrBuf *b, const IrModule *m, const IrValue *v) {
  ir_buf_printf(b, "%c%s\n", v->kind == IR_VAL_ARG ? '%' : '@', v->name ? v->name : "?");
  ir_print_type(b, m, &v->type);
}

static void node(IrBuf *b, const char *id, const char *shape, const IrBuf *label) {
  ir_buf_printf(b, "  %s [shape=%s, label=\"", id, shape);
  escape(b, label->data ? label->data : "", label->len);
  ir_buf_printf(b, "\"];\n");
}

static int index_of(IrValue *const *vs, int n, const IrValue *v) {
  for (int i = 0; i < n; i++)
    if (vs[i] == v) return i;
  return -1;
}

static int op_index(const IrFunc *f, const IrOp *op) {
  for (int i = 0; i < f->nops; i++)
    if (f->ops[i] == op) return i;
  return -1;
}

/* The node id of value v as an operand in f: "a0", "p3", "s1", "o7". */
static void value_id(char *id, size_t n, const IrModule *m, const IrFunc *f, const IrValue *v) {
  switch (v->kind) {
    case IR_VAL_ARG: snprintf(id, n, "a%d", index_of(f->args, f->nargs, v)); break;
    case IR_VAL_PARAM: snprintf(id, n, "p%d", index_of(m->params, m->nparams, v)); break;
    case IR_VAL_STATE: snprintf(id, n, "s%d", index_of(m->states, m->nstates, v)); break;
    case IR_VAL_RESULT: snprintf(id, n, "o%d", op_index(f, v->def)); break;
  }
}

/* An edge from operand v to node `to`; `slot` is the operand index, or
 * -1 when the op has one operand. */
static void edge(IrBuf *b, const IrModule *m, const IrFunc *f, const IrValue *v, const char *to,
                 int slot) {
  char from[32];
  value_id(from, sizeof from, m, f, v);
  bool later_result = v->kind == IR_VAL_RESULT && v->def_index > 0;
  ir_buf_printf(b, "  %s -> %s", from, to);
  if (slot >= 0 && later_result) ir_buf_printf(b, " [label=\"%d (#%d)\"]", slot, v->def_index);
  else if (slot >= 0) ir_buf_printf(b, " [label=\"%d\"]", slot);
  else if (later_result) ir_buf_printf(b, " [label=\"#%d\"]", v->def_index);
  ir_buf_printf(b, ";\n");
}

/* A node for every param and state some op of f reads, once. */
static void global_nodes(IrBuf *b, const IrModule *m, const IrFunc *f, IrValueKind kind) {
  int n = kind == IR_VAL_PARAM ? m->nparams : m->nstates;
  IrValue **vs = kind == IR_VAL_PARAM ? m->params : m->states;
  for (int g = 0; g < n; g++) {
    bool used = false;
    for (int i = 0; i < f->nops && !used; i++)
      for (int j = 0; j < f->ops[i]->nin && !used; j++) used = f->ops[i]->in[j] == vs[g];
    if (!used) continue;
    char id[32];
    snprintf(id, sizeof id, "%c%d", kind == IR_VAL_PARAM ? 'p' : 's', g);
    IrBuf label = {0};
    value_label(&label, m, vs[g]);
    node(b, id, kind == IR_VAL_PARAM ? "box3d" : "cylinder", &label);
    ir_buf_free(&label);
  }
}

static void print_func_dot(IrBuf *b, const IrModule *m, const IrFunc *f) {
  ir_buf_printf(b, "digraph \"");
  escape(b, f->name, strlen(f->name));
  ir_buf_printf(b, "\" {\n  label=\"@");
  escape(b, f->name, strlen(f->name));
  ir_buf_printf(b, "\";\n  labelloc=t;\n  node [fontname=\"monospace\"];\n");
  for (int i = 0; i < f->nargs; i++) {
    char id[32];
    snprintf(id, sizeof id, "a%d", i);
    IrBuf label = {0};
    value_label(&label, m, f->args[i]);
    node(b, id, "invhouse", &label);
    ir_buf_free(&label);
  }
  global_nodes(b, m, f, IR_VAL_PARAM);
  global_nodes(b, m, f, IR_VAL_STATE);
  for (int i = 0; i < f->nops; i++) {
    const IrOp *op = f->ops[i];
    char id[32];
    snprintf(id, sizeof id, "o%d", i);
    IrBuf label = {0};
    op_label(&label, m, op);
    node(b, id, "box, style=rounded", &label);
    ir_buf_free(&label);
    for (int j = 0; j < op->nin; j++) edge(b, m, f, op->in[j], id, op->nin > 1 ? j : -1);
  }
  ir_buf_printf(b, "  ret [shape=doublecircle, label=\"return\"];\n");
  for (int i = 0; i < f->nresults && f->results; i++)
    edge(b, m, f, f->results[i], "ret", f->nresults > 1 ? i : -1);
  ir_buf_printf(b, "}\n");
}

void ir_print_dot(IrBuf *b, const IrModule *m) {
  for (int i = 0; i < m->nfuncs; i++) print_func_dot(b, m, m->funcs[i]);
}
