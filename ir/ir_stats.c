/* ir_stats.c: what a module costs: parameter counts and bytes, FLOPs of a
 * call, KV-cache bytes per position. `kiln inspect` prints these.
 *
 * FLOPs count what the graph computes, op by op (ir.h gives the rule for
 * each op): a dense-masked mixture of experts runs every expert, and so
 * counts every expert. */
#include "ir.h"
#include "ir_expr.h"

/* a * b, or INT64_MAX when it overflows (counts are never negative). */
static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Storage bytes of n elements: i4 packs two a byte. */
static int64_t storage_bytes(int64_t n, IrDType t) {
  int bits = ir_dtype_bits(t);
  if (bits % 8 == 0) return sat_mul(n, bits / 8);
  return n / 2 + n % 2; /* 4-bit */
}

/* Product of dims [from, to) of t at the given symbol values (a negative
 * dim, impossible in a verified module, counts as 0). */
static int64_t dims_product(const IrType *t, int from, int to, const int64_t *syms) {
  int64_t n = 1;
  for (int i = from; i < to; i++) {
    int64_t d = ir_dim_eval(t->dims[i], syms);
    n = sat_mul(n, d > 0 ? d : 0);
  }
  return n;
}

static int64_t numel(const IrType *t, const int64_t *syms) {
  return dims_product(t, 0, t->rank, syms);
}

void ir_param_stats(const IrModule *m, IrParamStats *out) {
  int64_t bounds[IR_MAX_SYMS];
  ir_module_sym_bounds(m, bounds);
  *out = (IrParamStats){0};
  for (int i = 0; i < m->nparams; i++) {
    const IrType *t = &m->params[i]->type;
    int64_t n = numel(t, bounds), bytes = storage_bytes(n, t->dtype);
    out->count = sat_add(out->count, n);
    out->bytes = sat_add(out->bytes, bytes);
    out->count_by_dtype[t->dtype] = sat_add(out->count_by_dtype[t->dtype], n);
    out->bytes_by_dtype[t->dtype] = sat_add(out->bytes_by_dtype[t->dtype], bytes);
  }
}

/* 2*M*N*K per output matrix: 2 * numel(result) * K. */
static int64_t matmul_flops(const IrOp *op, const int64_t *syms) {
  const IrType *a = &op->in[0]->type;
  if (a->rank < 2) return 0;
  int k_axis = ir_op_bool(op, "transpose_a") ? a->rank - 2 : a->rank - 1;
  int64_t k = dims_product(a, k_axis, k_axis + 1, syms);
  return sat_mul(sat_mul(numel(&op->out[0]->type, syms), k), 2);
}

/* q [..., Hq, T, D], k [..., Hkv, S, D], v [..., Hkv, S, Dv]: per score
 * (query row x key), 2*D for q.k, 2*Dv for p.v and 5 for the softmax. */
static int64_t attention_flops(const IrOp *op, const int64_t *syms) {
  const IrType *q = &op->in[0]->type, *k = &op->in[1]->type, *v = &op->in[2]->type;
  if (q->rank < 2 || k->rank < 2) return 0;
  int64_t rows = dims_product(q, 0, q->rank - 1, syms);
  int64_t s = dims_product(k, k->rank - 2, k->rank - 1, syms);
  int64_t d = dims_product(q, q->rank - 1, q->rank, syms);
  int64_t dv = dims_product(v, v->rank - 1, v->rank, syms);
  int64_t per_score = sat_add(sat_add(sat_mul(2, d), sat_mul(2, dv)), 5);
  return sat_mul(sat_mul(rows, s), per_score);
}

/* Op nodes of an expression attribute (fused, epilogue): one flop each
 * per element, as the unfused chain counted; 0 when unset. */
static int64_t expr_ops(const IrOp *op, const char *attr) {
  const char *text = ir_op_str(op, attr, NULL);
  IrExpr e;
  if (!text || !ir_expr_parse(text, true, &e, (IrLoc){0}, NULL)) return 0;
  int64_t n = 0;
  for (int i = 0; i < e.n; i++) n += e.node[i].kind == IR_EXPR_OP;
  return n;
}

/* The fixed per-element count of the ops that are not matmuls. */
static int64_t per_element(IrOpKind k) {
  switch (k) {
  case IR_OP_ROPE: return 3;
  case IR_OP_RMSNORM: return 4;
  case IR_OP_SOFTMAX: return 5;
  case IR_OP_LAYERNORM: return 7;
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX:
  case IR_OP_TOPK:
  case IR_OP_SCATTER: return 1;
  case IR_OP_CAST: return 0;
  default: return (ir_op_spec(k)->flags & IR_OPF_ELEMENTWISE) ? 1 : 0;
  }
}

int64_t ir_op_flops(const IrOp *op, const int64_t *sym_values) {
  switch (op->kind) {
  case IR_OP_MATMUL:
    return sat_add(matmul_flops(op, sym_values),
                   sat_mul(numel(&op->out[0]->type, sym_values), expr_ops(op, "epilogue")));
  case IR_OP_FUSED: return sat_mul(numel(&op->out[0]->type, sym_values), expr_ops(op, "expr"));
  case IR_OP_ATTENTION:
  case IR_OP_ATTENTION_SPLIT: return attention_flops(op, sym_values); /* the same scores */
  case IR_OP_ATTENTION_MERGE: /* a multiply-add per partial output element */
    return sat_mul(numel(&op->in[0]->type, sym_values), 2);
  default: break;
  }
  int64_t each = per_element(op->kind);
  if (each == 0) return 0;
  /* reductions and topk count their input, scatter its indices */
  bool by_input = op->kind == IR_OP_REDUCE_SUM || op->kind == IR_OP_REDUCE_MEAN ||
                  op->kind == IR_OP_REDUCE_MAX || op->kind == IR_OP_TOPK ||
                  op->kind == IR_OP_SCATTER;
  const IrType *t = by_input ? &op->in[0]->type : &op->out[0]->type;
  return sat_mul(numel(t, sym_values), each);
}

int64_t ir_func_flops(const IrFunc *f, const int64_t *sym_values) {
  int64_t total = 0;
  for (int i = 0; i < f->nops; i++) total = sat_add(total, ir_op_flops(f->ops[i], sym_values));
  return total;
}

int64_t ir_state_bytes_per_position(const IrModule *m) {
  int64_t bounds[IR_MAX_SYMS], total = 0;
  ir_module_sym_bounds(m, bounds);
  for (int i = 0; i < m->nstates; i++) {
    const IrType *t = &m->states[i]->type;
    if (t->rank < 2) continue;
    int64_t n = sat_mul(dims_product(t, 0, t->rank - 2, bounds),
                        dims_product(t, t->rank - 1, t->rank, bounds));
    total = sat_add(total, storage_bytes(n, t->dtype));
  }
  return total;
}
