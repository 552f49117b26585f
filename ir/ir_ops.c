/* ir_ops.c: the op table: names, operand counts, flags and attributes.
 * The op list itself is ir_ops.def; docs/ir.md documents each op. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"

static const char *const gelu_approx[] = {"none", "tanh", NULL};
static const char *const rope_pairing[] = {"half", "interleaved", NULL};
static const char *const rope_scaling[] = {"none", "linear", "llama3", NULL};

#define A(NAME, KIND, REQ) {NAME, IR_ATTR_##KIND, REQ, NULL}
#define S(NAME, REQ, CHOICES) {NAME, IR_ATTR_STR, REQ, CHOICES}

/* Attributes of each op, in printing order. ORDER: ir_ops.def. */
static const struct {
  IrOpKind kind;
  int n;
  IrAttrSpec a[IR_MAX_ATTRS];
} op_attrs[] = {
    {IR_OP_GELU, 1, {S("approx", false, gelu_approx)}},
    {IR_OP_CONST, 1, {A("value", FLOAT, true)}},
    {IR_OP_IOTA, 1, {A("start", DIM, false)}},
    {IR_OP_CAUSAL_MASK, 2, {A("offset", DIM, false), A("window", INT, false)}},
    {IR_OP_MATMUL, 3,
     {A("transpose_a", BOOL, false), A("transpose_b", BOOL, false), S("epilogue", false, NULL)}},
    {IR_OP_RMSNORM, 1, {A("eps", FLOAT, true)}},
    {IR_OP_LAYERNORM, 1, {A("eps", FLOAT, true)}},
    {IR_OP_ROPE, 9,
     {A("head_dim", INT, true), A("theta", FLOAT, true), S("pairing", false, rope_pairing),
      A("rotary_dim", INT, false), S("scaling", false, rope_scaling), A("factor", FLOAT, false),
      A("low_freq_factor", FLOAT, false), A("high_freq_factor", FLOAT, false),
      A("original_max_position", INT, false)}},
    {IR_OP_SOFTMAX, 1, {A("axis", INT, false)}},
    {IR_OP_ATTENTION, 4,
     {A("scale", FLOAT, true), A("causal", BOOL, false), A("offset", DIM, false),
      A("window", INT, false)}},
    {IR_OP_ATTENTION_SPLIT, 5,
     {A("scale", FLOAT, true), A("causal", BOOL, false), A("offset", DIM, false),
      A("window", INT, false), A("chunk", INT, true)}},
    {IR_OP_REDUCE_SUM, 1, {A("axis", INT, true)}},
    {IR_OP_REDUCE_MEAN, 1, {A("axis", INT, true)}},
    {IR_OP_REDUCE_MAX, 1, {A("axis", INT, true)}},
    {IR_OP_TRANSPOSE, 1, {A("perm", INTS, true)}},
    {IR_OP_SLICE, 3, {A("axis", INT, true), A("start", DIM, true), A("end", DIM, true)}},
    {IR_OP_CONCAT, 1, {A("axis", INT, true)}},
    {IR_OP_TOPK, 1, {A("k", INT, true)}},
    {IR_OP_SCATTER, 1, {A("size", INT, true)}},
    {IR_OP_FUSED, 1, {S("expr", true, NULL)}},
    {IR_OP_KV_WRITE, 2, {A("offset", DIM, true), A("axis", INT, false)}},
    {IR_OP_KV_READ, 3, {A("len", DIM, true), A("start", DIM, false), A("axis", INT, false)}},
};

static IrOpSpec specs[IR_OP_COUNT];
static bool specs_ready;

static void init_specs(void) {
  static const struct {
    const char *name;
    int min_in, max_in, nout;
    unsigned flags;
  } base[IR_OP_COUNT] = {
#define IR_OP(ID, NAME, MIN_IN, MAX_IN, NOUT, FLAGS) {NAME, MIN_IN, MAX_IN, NOUT, FLAGS},
#include "ir_ops.def"
#undef IR_OP
  };
  for (int k = 0; k < IR_OP_COUNT; k++) {
    specs[k].name = base[k].name;
    specs[k].min_in = base[k].min_in;
    specs[k].max_in = base[k].max_in;
    specs[k].nout = base[k].nout;
    specs[k].flags = base[k].flags;
  }
  for (size_t i = 0; i < sizeof op_attrs / sizeof op_attrs[0]; i++) {
    IrOpSpec *s = &specs[op_attrs[i].kind];
    s->nattrs = op_attrs[i].n;
    memcpy(s->attrs, op_attrs[i].a, sizeof s->attrs);
  }
  specs_ready = true;
}

const IrOpSpec *ir_op_spec(IrOpKind k) {
  if (!specs_ready) init_specs();
  return &specs[k];
}

bool ir_op_from_name(const char *s, size_t n, IrOpKind *out) {
  for (int k = 0; k < IR_OP_COUNT; k++) {
    const char *name = ir_op_spec(k)->name;
    if (strlen(name) == n && memcmp(name, s, n) == 0) {
      *out = (IrOpKind)k;
      return true;
    }
  }
  return false;
}

int ir_op_attr_index(IrOpKind k, const char *name) {
  const IrOpSpec *s = ir_op_spec(k);
  for (int i = 0; i < s->nattrs; i++)
    if (strcmp(s->attrs[i].name, name) == 0) return i;
  return -1;
}

bool ir_op_error(const IrOp *op, IrDiag *d, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ir_error(d, op->loc, "%s: %s", ir_op_spec(op->kind)->name, msg);
}
