/* interp_ops_nn.c: the Transformer building blocks: embedding, matmul,
 * rmsnorm, layernorm, softmax, attention. Rope is in interp_ops_rope.c.
 * Sums accumulate in f32, in index order. */
#include <math.h>
#include <stdlib.h>

#include "interp_internal.h"

bool ir_interp_embedding(IrOpRun *r) {
  const IrTensor *table = r->in[0], *ids = r->in[1];
  IrTensor *o = &r->out[0];
  int64_t rows = table->shape[0], dim = table->shape[1], n = ir_tensor_numel(ids);
  for (int64_t s = 0; s < n; s++) {
    int64_t id = ids->i[s];
    if (id < 0 || id >= rows) {
      char tname[128], iname[128];
      return ir_interp_op_error(r,
                                "id %lld (element %lld of %s) is outside [0, %lld), "
                                "the rows of %s",
                                (long long)id, (long long)s,
                                ir_interp_value_ref(r->op->in[1], iname, sizeof iname),
                                (long long)rows,
                                ir_interp_value_ref(r->op->in[0], tname, sizeof tname));
    }
    for (int64_t c = 0; c < dim; c++) o->f[s * dim + c] = table->f[id * dim + c];
  }
  return true;
}

/* One [M, K] x [K, N] product; each operand is addressed through its row
 * and column strides, so transposes cost nothing. */
typedef struct {
  int64_t m, n, k;
  int64_t a_row, a_col, b_row, b_col; /* strides of a[m, k] and b[k, n] */
} MatDims;

static void matmul_block(const MatDims *md, const float *a, const float *b, float *o) {
  if (md->b_col == 1) {
    /* b's rows are contiguous: walk them in the inner loop. Each o[i, j]
     * still sums its products in p order, so the result is the same. */
    for (int64_t i = 0; i < md->m; i++)
      for (int64_t p = 0; p < md->k; p++) {
        float av = a[i * md->a_row + p * md->a_col];
        const float *br = b + p * md->b_row;
        for (int64_t j = 0; j < md->n; j++) o[i * md->n + j] += av * br[j];
      }
    return;
  }
  for (int64_t i = 0; i < md->m; i++) {
    for (int64_t j = 0; j < md->n; j++) {
      float acc = 0;
      for (int64_t p = 0; p < md->k; p++)
        acc += a[i * md->a_row + p * md->a_col] * b[p * md->b_row + j * md->b_col];
      o[i * md->n + j] = acc;
    }
  }
}

bool ir_interp_matmul(IrOpRun *r) {
  const IrTensor *a = r->in[0], *b = r->in[1];
  IrTensor *o = &r->out[0];
  bool ta = ir_op_bool(r->op, "transpose_a"), tb = ir_op_bool(r->op, "transpose_b");
  MatDims md = {.m = o->shape[o->rank - 2], .n = o->shape[o->rank - 1]};
  md.k = ta ? a->shape[a->rank - 2] : a->shape[a->rank - 1];
  md.a_row = ta ? 1 : md.k;
  md.a_col = ta ? md.m : 1;
  md.b_row = tb ? 1 : md.n;
  md.b_col = tb ? md.k : 1;
  IrBcastIter w; /* over the batch dims only */
  ir_interp_iter_init(&w, o->rank - 2, o->shape);
  ir_interp_iter_add(&w, a->shape, a->rank - 2, md.m * md.k);
  ir_interp_iter_add(&w, b->shape, b->rank - 2, md.k * md.n);
  int64_t batches = 1;
  for (int i = 0; i < o->rank - 2; i++) batches *= o->shape[i];
  for (int64_t bi = 0; bi < batches; bi++, ir_interp_iter_next(&w))
    matmul_block(&md, a->f + w.off[0], b->f + w.off[1], o->f + bi * md.m * md.n);
  return ir_interp_epilogue(r); /* on the f32 sums; the caller rounds to the dtype */
}

/* y = x / sqrt(mean(x^2) + eps) * g over the last axis. */
bool ir_interp_rmsnorm(IrOpRun *r) {
  const IrTensor *x = r->in[0], *g = r->in[1];
  IrTensor *o = &r->out[0];
  float eps = (float)ir_op_float(r->op, "eps", 0);
  int64_t n = x->shape[x->rank - 1], rows = n ? ir_tensor_numel(x) / n : 0;
  for (int64_t row = 0; row < rows; row++) {
    const float *xr = x->f + row * n;
    float ss = 0;
    for (int64_t c = 0; c < n; c++) ss += xr[c] * xr[c];
    float denom = sqrtf(ss / (float)n + eps);
    for (int64_t c = 0; c < n; c++) o->f[row * n + c] = xr[c] / denom * g->f[c];
  }
  return true;
}

/* y = (x - mean) / sqrt(var + eps) * g + b, biased variance, two passes. */
bool ir_interp_layernorm(IrOpRun *r) {
  const IrTensor *x = r->in[0], *g = r->in[1], *b = r->in[2];
  IrTensor *o = &r->out[0];
  float eps = (float)ir_op_float(r->op, "eps", 0);
  int64_t n = x->shape[x->rank - 1], rows = n ? ir_tensor_numel(x) / n : 0;
  for (int64_t row = 0; row < rows; row++) {
    const float *xr = x->f + row * n;
    float sum = 0, var = 0;
    for (int64_t c = 0; c < n; c++) sum += xr[c];
    float mean = sum / (float)n;
    for (int64_t c = 0; c < n; c++) var += (xr[c] - mean) * (xr[c] - mean);
    float denom = sqrtf(var / (float)n + eps);
    for (int64_t c = 0; c < n; c++) o->f[row * n + c] = (xr[c] - mean) / denom * g->f[c] + b->f[c];
  }
  return true;
}

/* Softmax of n elements `stride` apart. A row whose elements are all -inf
 * (fully masked) gives zeros rather than 0/0. */
static void softmax_row(const float *in, float *out, int64_t n, int64_t stride) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; j++)
    if (in[j * stride] > mx || isnan(in[j * stride])) mx = in[j * stride];
  if (mx == -INFINITY) {
    for (int64_t j = 0; j < n; j++) out[j * stride] = 0;
    return;
  }
  float sum = 0;
  for (int64_t j = 0; j < n; j++) {
    out[j * stride] = expf(in[j * stride] - mx);
    sum += out[j * stride];
  }
  for (int64_t j = 0; j < n; j++) out[j * stride] /= sum;
}

bool ir_interp_softmax(IrOpRun *r) {
  const IrTensor *x = r->in[0];
  IrTensor *o = &r->out[0];
  int axis = ir_interp_axis(ir_op_int(r->op, "axis", -1), x->rank);
  IrAxisSplit s = ir_interp_split(x, axis);
  for (int64_t a = 0; a < s.outer; a++) {
    for (int64_t c = 0; c < s.inner; c++) {
      int64_t base = a * s.len * s.inner + c;
      softmax_row(x->f + base, o->f + base, s.len, s.inner);
    }
  }
  return true;
}

/* Shapes of one attention call: q [B.., Hq, T, D], k [B.., Hkv, S, D],
 * v [B.., Hkv, S, Dv] with B the product of the leading dims. */
typedef struct {
  int64_t batch, hq, hkv, t, s, d, dv;
  float scale;
  bool causal;
  int64_t offset, window;
} AttnDims;

/* One query row: scores, mask, softmax, weighted sum of the values. The
 * order of every sum matches matmul's, so the fused op equals its
 * composition from primitive ops. */
static void attention_row(const AttnDims *ad, const float *q, const float *k, const float *v,
                          int64_t t, float *scores, float *out) {
  for (int64_t j = 0; j < ad->s; j++) {
    float dot = 0;
    for (int64_t c = 0; c < ad->d; c++) dot += q[c] * k[j * ad->d + c];
    int64_t pos = t + ad->offset;
    bool visible = !ad->causal || (j <= pos && (ad->window <= 0 || j > pos - ad->window));
    scores[j] = ad->scale * dot + (visible ? 0.0f : -INFINITY);
  }
  softmax_row(scores, scores, ad->s, 1);
  for (int64_t c = 0; c < ad->dv; c++) {
    float acc = 0;
    for (int64_t j = 0; j < ad->s; j++) acc += scores[j] * v[j * ad->dv + c];
    out[c] = acc;
  }
}

bool ir_interp_attention(IrOpRun *r) {
  const IrTensor *q = r->in[0], *k = r->in[1], *v = r->in[2];
  IrTensor *o = &r->out[0];
  int rank = q->rank;
  AttnDims ad = {.hq = q->shape[rank - 3], .t = q->shape[rank - 2], .d = q->shape[rank - 1],
                 .hkv = k->shape[rank - 3], .s = k->shape[rank - 2], .dv = v->shape[rank - 1]};
  ad.batch = 1;
  for (int i = 0; i < rank - 3; i++) ad.batch *= q->shape[i];
  ad.scale = (float)ir_op_float(r->op, "scale", 1);
  ad.causal = ir_op_bool(r->op, "causal");
  ad.offset = ir_dim_eval(ir_op_dim(r->op, "offset", ir_dim_const(0)), r->syms);
  ad.window = ir_op_int(r->op, "window", 0);
  if (ad.hkv == 0 || ad.hq % ad.hkv)
    return ir_interp_op_error(r, "%lld query heads do not share %lld kv heads evenly",
                              (long long)ad.hq, (long long)ad.hkv);
  int64_t group = ad.hq / ad.hkv;
  float *scores = malloc(sizeof(float) * (size_t)(ad.s ? ad.s : 1));
  if (!scores) abort();
  for (int64_t b = 0; b < ad.batch; b++) {
    for (int64_t h = 0; h < ad.hq; h++) {
      int64_t kvh = b * ad.hkv + h / group;
      for (int64_t t = 0; t < ad.t; t++) {
        int64_t row = (b * ad.hq + h) * ad.t + t;
        attention_row(&ad, q->f + row * ad.d, k->f + kvh * ad.s * ad.d,
                      v->f + kvh * ad.s * ad.dv, t, scores, o->f + row * ad.dv);
      }
    }
  }
  free(scores);
  return true;
}
