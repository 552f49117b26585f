/* ir_shape.c: the shape and dtype rule of every op (docs/ir.md, "Ops").
 *
 * ir_infer_types computes what an op's results must be from its operands
 * and attributes, checking operands and attributes on the way. Where the
 * rule leaves part of a result free (reshape's shape, cast's dtype, the
 * float dtype of matmul and embedding results, topk's index dtype, the
 * sources const/iota/causal_mask), the declared op->out type supplies it
 * after a check of what the rule allows. ir_verify (ir_verify.c) then
 * compares the declared types with the inferred ones.
 *
 * Dims are linear in the symbols, so the extremes of a dim over the symbol
 * box [0, max]^n lie at its corners; "provably wrong" checks (a slice that
 * ends past the dim for every symbol value) use them, and whatever depends
 * on the symbol values is left to run time.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"
#include "ir_shape_fused.h"

/* Symbol bounds are clamped to this for the 128-bit extreme computation,
 * so that no product of a coefficient and a bound can overflow. */
#define BOUND_CLAMP ((int64_t)1 << 40)

/* One op under inference: the op, where errors go, where results land. */
typedef struct {
  const IrModule *m;
  const IrOp *op;
  IrDiag *d;
  IrType *out;
  int64_t bounds[IR_MAX_SYMS];
} Rule;


#define TY(t) ir_type_text(r->m, (t)).s
#define DIM(d) ir_dim_text(r->m, (d)).s

/* "matmul: <message>" at the op's location. */
static bool fail(const Rule *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(const Rule *r, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ir_error(r->d, r->op->loc, "%s: %s", ir_op_spec(r->op->kind)->name, msg);
}

static const IrType *in_type(const Rule *r, int i) { return &r->op->in[i]->type; }
static const IrType *declared(const Rule *r, int i) { return &r->op->out[i]->type; }
static const char *dtype(const IrType *t) { return ir_dtype_name(t->dtype); }

/* ---- dim arithmetic ---------------------------------------------------- */

/* Largest value of d over the symbol box, in 128 bits (never overflows:
 * bounds are clamped to 2^40). */
static __int128 dim_max(const Rule *r, IrDim d) {
  __int128 v = d.c;
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (d.k[s] > 0) v += (__int128)d.k[s] * r->bounds[s];
  return v;
}

/* a + sign*b; false when a coefficient leaves int64. */
static bool dim_add_checked(IrDim a, IrDim b, int sign, IrDim *out) {
  bool overflow = sign > 0 ? __builtin_add_overflow(a.c, b.c, &out->c)
                           : __builtin_sub_overflow(a.c, b.c, &out->c);
  for (int s = 0; s < IR_MAX_SYMS; s++)
    overflow |= sign > 0 ? __builtin_add_overflow(a.k[s], b.k[s], &out->k[s])
                         : __builtin_sub_overflow(a.k[s], b.k[s], &out->k[s]);
  return !overflow;
}

static bool dim_combine(const Rule *r, IrDim a, IrDim b, int sign, IrDim *out) {
  return dim_add_checked(a, b, sign, out) ? true : fail(r, "dim arithmetic overflows 64 bits");
}

/* False only when `lo <= hi` fails for every symbol value: the static part
 * of a check that run time completes (slice bounds, KV ranges, topk's k). */
static bool can_be_le(const Rule *r, IrDim lo, IrDim hi) {
  IrDim gap;
  return !dim_add_checked(hi, lo, -1, &gap) || dim_max(r, gap) >= 0;
}

/* True when n divides d for every symbol value (n > 0): it divides the
 * constant and every coefficient. */
static bool dim_divisible(IrDim d, int64_t n) {
  if (d.c % n) return false;
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (d.k[s] % n) return false;
  return true;
}

/* True when a == q*b for a whole q >= 1: 8 heads are a multiple of 2,
 * 2*H of H. */
static bool dim_multiple_of(IrDim a, IrDim b) {
  if (ir_dim_is_const(b)) return b.c > 0 && dim_divisible(a, b.c);
  int s = 0;
  while (b.k[s] == 0) s++;
  if (b.k[s] == -1 && a.k[s] == INT64_MIN) return false; /* the division would overflow */
  if (a.k[s] % b.k[s]) return false;
  int64_t q = a.k[s] / b.k[s];
  if (q < 1) return false;
  IrDim qb = b;
  if (__builtin_mul_overflow(b.c, q, &qb.c)) return false;
  for (int t = 0; t < IR_MAX_SYMS; t++)
    if (__builtin_mul_overflow(b.k[t], q, &qb.k[t])) return false;
  return ir_dim_eq(a, qb);
}

/* ---- operand checks ---------------------------------------------------- */

static bool need_float(const Rule *r, int i) {
  if (ir_dtype_is_float(in_type(r, i)->dtype)) return true;
  return fail(r, "operand %d has dtype %s, expected a float dtype", i, dtype(in_type(r, i)));
}

static bool need_int(const Rule *r, int i) {
  if (ir_dtype_is_int(in_type(r, i)->dtype)) return true;
  return fail(r, "operand %d has dtype %s, expected an integer dtype", i, dtype(in_type(r, i)));
}

static bool need_same_dtype(const Rule *r, int i, int j) {
  if (in_type(r, i)->dtype == in_type(r, j)->dtype) return true;
  return fail(r, "operand %d has dtype %s, expected %s (the dtype of operand %d)", i,
              dtype(in_type(r, i)), dtype(in_type(r, j)), j);
}

static bool need_rank_min(const Rule *r, int i, int n) {
  if (in_type(r, i)->rank >= n) return true;
  return fail(r, "operand %d has rank %d, expected rank >= %d", i, in_type(r, i)->rank, n);
}

/* Operand i is a vector of length n, which is `what`. */
static bool need_vector(const Rule *r, int i, IrDim n, const char *what) {
  const IrType *t = in_type(r, i);
  if (t->rank == 1 && ir_dim_eq(t->dims[0], n)) return true;
  return fail(r, "operand %d has type %s, expected shape [%s] (%s)", i, TY(t), DIM(n), what);
}

/* Operand i's dim `axis` equals operand j's dim `jaxis`. */
static bool need_dim_as(const Rule *r, int i, int axis, int j, int jaxis) {
  IrDim a = in_type(r, i)->dims[axis], b = in_type(r, j)->dims[jaxis];
  if (ir_dim_eq(a, b)) return true;
  return fail(r, "operand %d has dim %d = %s, expected %s (dim %d of operand %d)", i, axis,
              DIM(a), DIM(b), jaxis, j);
}

/* Reads an axis attribute (or its default) for a tensor of rank `rank`
 * and makes it non-negative: -1 is rank-1. */
static bool axis_attr(const Rule *r, const char *name, int64_t dflt, int rank, int *axis) {
  int64_t a = ir_op_int(r->op, name, dflt);
  if (a < -rank || a >= rank)
    return fail(r, "%s %lld is out of range for rank %d (expected %d to %d)", name, (long long)a,
                rank, -rank, rank - 1);
  *axis = (int)(a < 0 ? a + rank : a);
  return true;
}

/* Numpy broadcasting of a and b's first `na`/`nb` dims, aligned at the
 * right, into out. Returns the result index of the first conflict, or -1. */
static int broadcast(const IrType *a, int na, const IrType *b, int nb, IrType *out) {
  int n = na > nb ? na : nb;
  out->rank = n;
  for (int i = 0; i < n; i++) {
    int ia = i - (n - na), ib = i - (n - nb);
    IrDim da = ia >= 0 ? a->dims[ia] : ir_dim_const(1);
    IrDim db = ib >= 0 ? b->dims[ib] : ir_dim_const(1);
    if (ir_dim_eq(da, db) || ir_dim_eq(db, ir_dim_const(1)))
      out->dims[i] = da;
    else if (ir_dim_eq(da, ir_dim_const(1)))
      out->dims[i] = db;
    else
      return i;
  }
  return -1;
}

/* The dim of a (or b) at result index i of a broadcast over n dims. */
static IrDim aligned_dim(const IrType *t, int nt, int n, int i) {
  int it = i - (n - nt);
  return it >= 0 ? t->dims[it] : ir_dim_const(1);
}

/* ---- elementwise ------------------------------------------------------- */

static bool rule_binary(const Rule *r) {
  IrOpKind k = r->op->kind;
  const IrType *a = in_type(r, 0), *b = in_type(r, 1);
  bool ints_ok = k != IR_OP_POW;
  if (!ir_dtype_is_float(a->dtype) && !(ints_ok && ir_dtype_is_int(a->dtype)))
    return fail(r, "operand 0 has dtype %s, expected a float%s dtype", dtype(a),
                ints_ok ? " or integer" : "");
  if (!need_same_dtype(r, 1, 0)) return false;
  IrType o = {.dtype = a->dtype};
  int bad = broadcast(a, a->rank, b, b->rank, &o);
  if (bad >= 0)
    return fail(r, "cannot broadcast %s with %s (dim %d: %s vs %s)", TY(a), TY(b), bad,
                DIM(aligned_dim(a, a->rank, o.rank, bad)),
                DIM(aligned_dim(b, b->rank, o.rank, bad)));
  r->out[0] = o;
  return true;
}

static bool rule_unary(const Rule *r) {
  const IrType *a = in_type(r, 0);
  if (r->op->kind == IR_OP_NEG && ir_dtype_is_int(a->dtype)) {
    r->out[0] = *a;
    return true;
  }
  if (!need_float(r, 0)) return false;
  r->out[0] = *a;
  return true;
}

static bool rule_cast(const Rule *r) {
  IrDType to = declared(r, 0)->dtype;
  if (to == IR_I4) return fail(r, "cannot cast to i4 (a packed storage dtype)");
  r->out[0] = *in_type(r, 0);
  r->out[0].dtype = to;
  return true;
}

/* ---- sources ----------------------------------------------------------- */

static bool rule_const(const Rule *r) {
  const IrType *t = declared(r, 0);
  if (t->dtype == IR_I4) return fail(r, "result dtype i4 is not allowed (a packed storage dtype)");
  r->out[0] = *t;
  return true;
}

static bool rule_iota(const Rule *r) {
  const IrType *t = declared(r, 0);
  if (t->rank != 1) return fail(r, "result type %s must have rank 1", TY(t));
  if (t->dtype == IR_I4) return fail(r, "result dtype i4 is not allowed (a packed storage dtype)");
  r->out[0] = *t;
  return true;
}

static bool rule_causal_mask(const Rule *r) {
  const IrType *t = declared(r, 0);
  if (t->rank != 2) return fail(r, "result type %s must have rank 2", TY(t));
  if (!ir_dtype_is_float(t->dtype))
    return fail(r, "result type %s must have a float dtype", TY(t));
  int64_t window = ir_op_int(r->op, "window", 0);
  if (window < 0) return fail(r, "window %lld must be >= 0", (long long)window);
  r->out[0] = *t;
  return true;
}

/* ---- Transformer building blocks ----------------------------------------- */

static bool need_float_result(const Rule *r) {
  const IrType *t = declared(r, 0);
  if (ir_dtype_is_float(t->dtype)) return true;
  return fail(r, "result type %s must have a float dtype", TY(t));
}

static bool rule_embedding(const Rule *r) {
  const IrType *table = in_type(r, 0), *ids = in_type(r, 1);
  if (!need_float(r, 0) || !need_int(r, 1) || !need_float_result(r)) return false;
  if (table->rank != 2)
    return fail(r, "operand 0 has type %s, expected a table of rank 2 [V, D]", TY(table));
  if (ids->rank + 1 > IR_MAX_RANK)
    return fail(r, "operand 1 has rank %d; the result would exceed rank %d", ids->rank,
                IR_MAX_RANK);
  IrType o = *ids;
  o.dtype = declared(r, 0)->dtype;
  o.dims[o.rank++] = table->dims[1];
  r->out[0] = o;
  return true;
}

static bool rule_matmul(const Rule *r) {
  const IrType *a = in_type(r, 0), *b = in_type(r, 1);
  if (!need_rank_min(r, 0, 2) || !need_rank_min(r, 1, 2)) return false;
  if (!need_float(r, 0) || !need_float(r, 1) || !need_float_result(r)) return false;
  bool ta = ir_op_bool(r->op, "transpose_a"), tb = ir_op_bool(r->op, "transpose_b");
  IrDim m = a->dims[a->rank - (ta ? 1 : 2)], ka = a->dims[a->rank - (ta ? 2 : 1)];
  IrDim kb = b->dims[b->rank - (tb ? 1 : 2)], n = b->dims[b->rank - (tb ? 2 : 1)];
  if (!ir_dim_eq(ka, kb))
    return fail(r, "operand 1 has inner dim %s, expected %s (the inner dim of operand 0)",
                DIM(kb), DIM(ka));
  IrType o = {.dtype = declared(r, 0)->dtype};
  int na = a->rank - 2, nb = b->rank - 2;
  int bad = broadcast(a, na, b, nb, &o);
  if (bad >= 0)
    return fail(r, "cannot broadcast the batch dims of %s and %s (dim %d: %s vs %s)", TY(a),
                TY(b), bad, DIM(aligned_dim(a, na, o.rank, bad)),
                DIM(aligned_dim(b, nb, o.rank, bad)));
  o.dims[o.rank++] = m;
  o.dims[o.rank++] = n;
  r->out[0] = o;
  return ir_shape_matmul_epilogue(r->m, r->op, &o, r->d); /* extras, ir_shape_fused.c */
}

static bool need_eps(const Rule *r) {
  double eps = ir_op_float(r->op, "eps", 0);
  if (eps >= 0 && isfinite(eps)) return true;
  return fail(r, "eps %g must be finite and >= 0", eps);
}

static bool rule_norm(const Rule *r) {
  const IrType *x = in_type(r, 0);
  if (!need_rank_min(r, 0, 1) || !need_float(r, 0) || !need_eps(r)) return false;
  for (int i = 1; i < r->op->nin; i++)
    if (!need_float(r, i) || !need_vector(r, i, x->dims[x->rank - 1], "the last dim of operand 0"))
      return false;
  r->out[0] = *x;
  return true;
}

/* rope's scaling attributes: the llama3 formula divides by each factor
 * and by their difference. */
static bool rope_scaling_ok(const Rule *r) {
  const char *scaling = ir_op_str(r->op, "scaling", "none");
  if (strcmp(scaling, "none") == 0) return true;
  double factor = ir_op_float(r->op, "factor", 1);
  if (!(factor > 0) || !isfinite(factor)) return fail(r, "factor %g must be > 0", factor);
  if (strcmp(scaling, "llama3") != 0) return true;
  double lo = ir_op_float(r->op, "low_freq_factor", 1);
  double hi = ir_op_float(r->op, "high_freq_factor", 4);
  int64_t omp = ir_op_int(r->op, "original_max_position", 8192);
  if (!(lo > 0) || !(hi > lo) || !isfinite(hi))
    return fail(r, "low_freq_factor %g and high_freq_factor %g must satisfy 0 < low < high", lo,
                hi);
  if (omp < 1) return fail(r, "original_max_position %lld must be >= 1", (long long)omp);
  return true;
}

static bool rule_rope(const Rule *r) {
  const IrType *x = in_type(r, 0);
  if (!need_rank_min(r, 0, 2) || !need_float(r, 0) || !need_int(r, 1)) return false;
  if (!need_vector(r, 1, x->dims[x->rank - 2], "dim -2 of operand 0")) return false;
  int64_t hd = ir_op_int(r->op, "head_dim", 0);
  if (hd < 1) return fail(r, "head_dim %lld must be >= 1", (long long)hd);
  IrDim n = x->dims[x->rank - 1];
  if (!dim_divisible(n, hd))
    return fail(r, "head_dim %lld does not divide the last dim %s", (long long)hd, DIM(n));
  int64_t rd = ir_op_int(r->op, "rotary_dim", hd);
  if (rd < 2 || rd % 2 || rd > hd)
    return fail(r, "rotary_dim %lld must be even and in [2, head_dim %lld]", (long long)rd,
                (long long)hd);
  double theta = ir_op_float(r->op, "theta", 0);
  if (!(theta > 0) || !isfinite(theta)) return fail(r, "theta %g must be > 0", theta);
  if (!rope_scaling_ok(r)) return false;
  r->out[0] = *x;
  return true;
}

static bool rule_softmax(const Rule *r) {
  int axis = 0; /* set by axis_attr; gcc -O3 cannot see that */
  if (!need_rank_min(r, 0, 1) || !need_float(r, 0)) return false;
  if (!axis_attr(r, "axis", -1, in_type(r, 0)->rank, &axis)) return false;
  r->out[0] = *in_type(r, 0);
  return true;
}

/* q [..., Hq, T, D], k [..., Hkv, S, D], v [..., Hkv, S, Dv] -> [..., Hq, T, Dv]. */
static bool rule_attention(const Rule *r) {
  const IrType *q = in_type(r, 0), *k = in_type(r, 1), *v = in_type(r, 2);
  int n = q->rank;
  if (!need_rank_min(r, 0, 3) || !need_float(r, 0)) return false;
  for (int i = 1; i < 3; i++) {
    if (in_type(r, i)->rank != n)
      return fail(r, "operand %d has rank %d, expected %d (the rank of operand 0)", i,
                  in_type(r, i)->rank, n);
    if (!need_same_dtype(r, i, 0)) return false;
    for (int j = 0; j < n - 3; j++)
      if (!need_dim_as(r, i, j, 0, j)) return false;
  }
  if (!need_dim_as(r, 1, n - 1, 0, n - 1) || !need_dim_as(r, 2, n - 3, 1, n - 3) ||
      !need_dim_as(r, 2, n - 2, 1, n - 2))
    return false;
  IrDim hq = q->dims[n - 3], hkv = k->dims[n - 3];
  if (!dim_multiple_of(hq, hkv))
    return fail(r, "query heads %s are not a multiple of kv heads %s", DIM(hq), DIM(hkv));
  double scale = ir_op_float(r->op, "scale", 0);
  if (!isfinite(scale)) return fail(r, "scale %g must be finite", scale);
  int64_t window = ir_op_int(r->op, "window", 0);
  if (window < 0) return fail(r, "window %lld must be >= 0", (long long)window);
  r->out[0] = *q;
  r->out[0].dims[n - 1] = v->dims[n - 1];
  return true;
}

static bool rule_reduce(const Rule *r) {
  int axis = 0; /* set by axis_attr; gcc -O3 cannot see that */
  if (!need_rank_min(r, 0, 1)) return false;
  if (!axis_attr(r, "axis", -1, in_type(r, 0)->rank, &axis)) return false;
  r->out[0] = *in_type(r, 0);
  r->out[0].dims[axis] = ir_dim_const(1);
  return true;
}

/* ---- data movement ------------------------------------------------------- */

/* Element counts as polynomials over the symbols, compared by evaluation.
 * A product of at most 8 linear dims is a polynomial of degree <= 8. Two
 * different ones differ by a nonzero polynomial of degree <= 8, which
 * (Schwartz-Zippel) vanishes at a random point of S^n with probability
 * <= 8/|S|; with |S| ~ 10^6 and 6 points that is ~ 1e-31. The points are
 * fixed rather than random, but IR dims are small linear forms written by
 * people and frontends, not built to hit these points. Arithmetic is modulo
 * the prime p = 2^61-1 with 128-bit products, so nothing overflows; a false
 * "equal" would also need every coefficient of the difference to be a
 * multiple of p, impossible for real tensor sizes (< 2^61 elements). Equal
 * polynomials always pass. */
static const int64_t numel_points[6][IR_MAX_SYMS] = {
    {662345, 520136, 499555, 345834, 856986, 30184, 155080, 737905},
    {703933, 567722, 689813, 820281, 815644, 190417, 961151, 188574},
    {460250, 156312, 415949, 804951, 565736, 928813, 963694, 238510},
    {956758, 759734, 618439, 994793, 905256, 960113, 575907, 915098},
    {267321, 54836, 356933, 760262, 252191, 604706, 956212, 906349},
    {492812, 323178, 322969, 241411, 599526, 948867, 161559, 171312},
};

static const uint64_t MOD_P = ((uint64_t)1 << 61) - 1;

static uint64_t mod_p(int64_t v) {
  int64_t x = v % (int64_t)MOD_P;
  return (uint64_t)(x < 0 ? x + (int64_t)MOD_P : x);
}

static uint64_t mul_mod(uint64_t a, uint64_t b) {
  return (uint64_t)(((unsigned __int128)a * b) % MOD_P);
}

/* The element count of t at a point, modulo p. */
static uint64_t numel_at(const IrType *t, const int64_t *point) {
  uint64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    IrDim d = t->dims[i];
    uint64_t v = mod_p(d.c);
    for (int s = 0; s < IR_MAX_SYMS; s++) v = (v + mul_mod(mod_p(d.k[s]), mod_p(point[s]))) % MOD_P;
    n = mul_mod(n, v);
  }
  return n;
}

static bool same_numel(const IrType *a, const IrType *b) {
  for (int p = 0; p < 6; p++)
    if (numel_at(a, numel_points[p]) != numel_at(b, numel_points[p])) return false;
  return true;
}

static bool rule_reshape(const Rule *r) {
  const IrType *x = in_type(r, 0), *t = declared(r, 0);
  if (!same_numel(x, t))
    return fail(r, "result type %s does not have the element count of operand 0 (%s)", TY(t),
                TY(x));
  r->out[0] = *t;
  r->out[0].dtype = x->dtype;
  return true;
}

static bool rule_transpose(const Rule *r) {
  const IrType *x = in_type(r, 0);
  const IrAttr *perm = ir_op_attr(r->op, "perm");
  if (perm->nints != x->rank)
    return fail(r, "perm has %d entries, expected %d (the rank of operand 0)", perm->nints,
                x->rank);
  bool seen[IR_MAX_RANK] = {false};
  IrType o = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t p = perm->ints[i];
    if (p < 0 || p >= x->rank || seen[p])
      return fail(r, "perm is not a permutation of 0..%d (entry %d is %lld)", x->rank - 1, i,
                  (long long)p);
    seen[p] = true;
    o.dims[i] = x->dims[p];
  }
  r->out[0] = o;
  return true;
}

static bool rule_slice(const Rule *r) {
  const IrType *x = in_type(r, 0);
  int axis = 0; /* set by axis_attr; gcc -O3 cannot see that */
  if (!need_rank_min(r, 0, 1) || !axis_attr(r, "axis", 0, x->rank, &axis)) return false;
  IrDim start = ir_op_dim(r->op, "start", ir_dim_const(0));
  IrDim end = ir_op_dim(r->op, "end", ir_dim_const(0));
  IrDim dim = x->dims[axis], len;
  if (!can_be_le(r, ir_dim_const(0), start)) return fail(r, "start %s is negative", DIM(start));
  if (!can_be_le(r, start, end)) return fail(r, "end %s is before start %s", DIM(end), DIM(start));
  if (!can_be_le(r, end, dim))
    return fail(r, "end %s exceeds dim %d = %s of operand 0", DIM(end), axis, DIM(dim));
  if (!dim_combine(r, end, start, -1, &len)) return false;
  r->out[0] = *x;
  r->out[0].dims[axis] = len;
  return true;
}

static bool rule_concat(const Rule *r) {
  const IrType *x = in_type(r, 0);
  int axis = 0; /* set by axis_attr; gcc -O3 cannot see that */
  if (!need_rank_min(r, 0, 1) || !axis_attr(r, "axis", 0, x->rank, &axis)) return false;
  IrType o = *x;
  for (int i = 1; i < r->op->nin; i++) {
    const IrType *t = in_type(r, i);
    if (!need_same_dtype(r, i, 0)) return false;
    if (t->rank != x->rank)
      return fail(r, "operand %d has rank %d, expected %d (the rank of operand 0)", i, t->rank,
                  x->rank);
    for (int j = 0; j < x->rank; j++)
      if (j != axis && !need_dim_as(r, i, j, 0, j)) return false;
    if (!dim_combine(r, o.dims[axis], t->dims[axis], 1, &o.dims[axis])) return false;
  }
  r->out[0] = o;
  return true;
}

/* ---- mixture of experts -------------------------------------------------- */

static bool rule_topk(const Rule *r) {
  const IrType *x = in_type(r, 0);
  if (!need_rank_min(r, 0, 1)) return false;
  int64_t k = ir_op_int(r->op, "k", 0);
  IrDim last = x->dims[x->rank - 1];
  if (k < 1) return fail(r, "k %lld must be >= 1", (long long)k);
  if (!can_be_le(r, ir_dim_const(k), last))
    return fail(r, "k %lld exceeds the last dim %s of operand 0", (long long)k, DIM(last));
  IrDType idx = declared(r, 1)->dtype;
  if (idx != IR_I32 && idx != IR_I64)
    return fail(r, "result 1 has dtype %s, expected i32 or i64", ir_dtype_name(idx));
  r->out[0] = *x;
  r->out[0].dims[x->rank - 1] = ir_dim_const(k);
  r->out[1] = r->out[0];
  r->out[1].dtype = idx;
  return true;
}

static bool rule_scatter(const Rule *r) {
  const IrType *idx = in_type(r, 0), *w = in_type(r, 1);
  if (!need_rank_min(r, 0, 1) || !need_int(r, 0) || !need_float(r, 1)) return false;
  if (!ir_shape_eq(idx, w))
    return fail(r, "operand 1 has type %s, expected the shape of operand 0 (%s)", TY(w), TY(idx));
  int64_t size = ir_op_int(r->op, "size", 0);
  if (size < 1) return fail(r, "size %lld must be >= 1", (long long)size);
  r->out[0] = *w;
  r->out[0].dims[w->rank - 1] = ir_dim_const(size);
  return true;
}

/* ---- KV cache ------------------------------------------------------------ */

/* Checks [start, start + len) against the state's dim along axis, as far
 * as it is decidable statically. */
static bool kv_range_ok(const Rule *r, IrDim start, IrDim len, int axis) {
  IrDim end, dim = in_type(r, 0)->dims[axis];
  const char *start_name = r->op->kind == IR_OP_KV_READ ? "start" : "offset";
  if (!can_be_le(r, ir_dim_const(0), start))
    return fail(r, "%s %s is negative", start_name, DIM(start));
  if (!can_be_le(r, ir_dim_const(0), len)) return fail(r, "len %s is negative", DIM(len));
  if (!dim_combine(r, start, len, 1, &end)) return false;
  if (!can_be_le(r, end, dim))
    return fail(r, "the range ends at %s, past dim %d = %s of the state", DIM(end), axis, DIM(dim));
  return true;
}

static bool rule_kv_write(const Rule *r) {
  const IrType *s = in_type(r, 0), *x = in_type(r, 1);
  int axis = 0; /* set by axis_attr; gcc -O3 cannot see that */
  if (!need_rank_min(r, 0, 1) || !axis_attr(r, "axis", -2, s->rank, &axis)) return false;
  if (!need_same_dtype(r, 1, 0)) return false;
  if (x->rank != s->rank)
    return fail(r, "operand 1 has rank %d, expected %d (the rank of the state)", x->rank, s->rank);
  for (int j = 0; j < s->rank; j++)
    if (j != axis && !need_dim_as(r, 1, j, 0, j)) return false;
  return kv_range_ok(r, ir_op_dim(r->op, "offset", ir_dim_const(0)), x->dims[axis], axis);
}

static bool rule_kv_read(const Rule *r) {
  const IrType *s = in_type(r, 0);
  int axis = 0; /* set by axis_attr; gcc -O3 cannot see that */
  if (!need_rank_min(r, 0, 1) || !axis_attr(r, "axis", -2, s->rank, &axis)) return false;
  IrDim len = ir_op_dim(r->op, "len", ir_dim_const(0));
  if (!kv_range_ok(r, ir_op_dim(r->op, "start", ir_dim_const(0)), len, axis)) return false;
  r->out[0] = *s;
  r->out[0].dims[axis] = len;
  return true;
}

/* ---- the entry point ----------------------------------------------------- */

/* ir_shape_attn.c: split-KV attention (split runs attention's rule first). */
bool ir_shape_attention_split(const IrModule *m, const IrOp *op, const int64_t *bounds,
                              IrType *out, IrDiag *d);
bool ir_shape_attention_merge(const IrModule *m, const IrOp *op, IrType *out, IrDiag *d);

static bool rule_for_op(const Rule *r) {
  switch (r->op->kind) {
  case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_DIV:
  case IR_OP_MAX: case IR_OP_MIN: case IR_OP_POW:
    return rule_binary(r);
  case IR_OP_NEG: case IR_OP_EXP: case IR_OP_LOG: case IR_OP_SQRT: case IR_OP_RSQRT:
  case IR_OP_TANH: case IR_OP_SIGMOID: case IR_OP_SILU: case IR_OP_RELU: case IR_OP_GELU:
    return rule_unary(r);
  case IR_OP_CAST: return rule_cast(r);
  case IR_OP_CONST: return rule_const(r);
  case IR_OP_IOTA: return rule_iota(r);
  case IR_OP_CAUSAL_MASK: return rule_causal_mask(r);
  case IR_OP_EMBEDDING: return rule_embedding(r);
  case IR_OP_MATMUL: return rule_matmul(r);
  case IR_OP_RMSNORM: case IR_OP_LAYERNORM: return rule_norm(r);
  case IR_OP_ROPE: return rule_rope(r);
  case IR_OP_SOFTMAX: return rule_softmax(r);
  case IR_OP_ATTENTION: return rule_attention(r);
  case IR_OP_ATTENTION_SPLIT:
    return rule_attention(r) && ir_shape_attention_split(r->m, r->op, r->bounds, r->out, r->d);
  case IR_OP_ATTENTION_MERGE: return ir_shape_attention_merge(r->m, r->op, r->out, r->d);
  case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX: return rule_reduce(r);
  case IR_OP_RESHAPE: return rule_reshape(r);
  case IR_OP_TRANSPOSE: return rule_transpose(r);
  case IR_OP_SLICE: return rule_slice(r);
  case IR_OP_CONCAT: return rule_concat(r);
  case IR_OP_TOPK: return rule_topk(r);
  case IR_OP_SCATTER: return rule_scatter(r);
  case IR_OP_KV_WRITE: return rule_kv_write(r);
  case IR_OP_KV_READ: return rule_kv_read(r);
  case IR_OP_FUSED: return ir_shape_fused(r->m, r->op, r->out, r->d);
  case IR_OP_COUNT: break;
  }
  return fail(r, "unknown op kind %d", (int)r->op->kind);
}

/* Operand and result counts, and that every slot holds a value. */
static bool check_arity(const Rule *r, const IrOpSpec *spec) {
  const IrOp *op = r->op;
  if (op->nin < spec->min_in || (spec->max_in >= 0 && op->nin > spec->max_in)) {
    if (spec->max_in < 0)
      return fail(r, "has %d operands, expected at least %d", op->nin, spec->min_in);
    if (spec->min_in == spec->max_in)
      return fail(r, "has %d operands, expected %d", op->nin, spec->min_in);
    return fail(r, "has %d operands, expected %d to %d", op->nin, spec->min_in, spec->max_in);
  }
  if (op->nout != spec->nout) return fail(r, "has %d results, expected %d", op->nout, spec->nout);
  for (int i = 0; i < op->nin; i++)
    if (!op->in[i]) return fail(r, "operand %d is missing", i);
  for (int i = 0; i < op->nout; i++)
    if (!op->out[i]) return fail(r, "result %d is missing", i);
  return true;
}

static bool check_str_choice(const Rule *r, const IrAttrSpec *as, const char *s) {
  if (!as->choices) return true;
  char list[256] = "";
  for (int c = 0; as->choices[c]; c++) {
    if (strcmp(as->choices[c], s) == 0) return true;
    size_t n = strlen(list);
    snprintf(list + n, sizeof list - n, "%s\"%s\"", c ? ", " : "", as->choices[c]);
  }
  return fail(r, "attribute %s is \"%s\", expected one of %s", as->name, s, list);
}

/* Required attributes present, strings among their choices, dims over
 * declared symbols; kind-specific ranges are the op rules' business. */
static bool check_attrs(const Rule *r, const IrOpSpec *spec) {
  for (int i = 0; i < spec->nattrs; i++) {
    const IrAttrSpec *as = &spec->attrs[i];
    const IrAttr *a = &r->op->attrs[i];
    if (!a->set) {
      if (as->required) return fail(r, "missing required attribute %s", as->name);
      continue;
    }
    if (as->kind == IR_ATTR_STR && (!a->s || !check_str_choice(r, as, a->s)))
      return a->s ? false : fail(r, "attribute %s has no string", as->name);
    if (as->kind == IR_ATTR_INTS && a->nints > 0 && !a->ints)
      return fail(r, "attribute %s has no values", as->name);
    if (as->kind == IR_ATTR_DIM)
      for (int s = r->m->nsyms; s < IR_MAX_SYMS; s++)
        if (a->dim.k[s]) return fail(r, "attribute %s uses undeclared symbol #%d", as->name, s);
  }
  return true;
}

bool ir_infer_types(const IrModule *m, const IrOp *op, IrType *out_types, IrDiag *d) {
  Rule r = {.m = m, .op = op, .d = d, .out = out_types};
  ir_module_sym_bounds(m, r.bounds);
  for (int s = 0; s < IR_MAX_SYMS; s++)
    r.bounds[s] = r.bounds[s] < 0 ? 0 : r.bounds[s] > BOUND_CLAMP ? BOUND_CLAMP : r.bounds[s];
  if ((unsigned)op->kind >= IR_OP_COUNT)
    return ir_error(d, op->loc, "unknown op kind %d", (int)op->kind);
  const IrOpSpec *spec = ir_op_spec(op->kind);
  return check_arity(&r, spec) && check_attrs(&r, spec) && rule_for_op(&r);
}
