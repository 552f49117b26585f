/* interp_ops_attn_split.c: split-KV attention in the reference
 * interpreter: attention_split (one normalized partial result and its
 * log-sum-exp per KV chunk) and attention_merge (docs/ir.md).
 *
 * With chunk 4 and S = 6 keys all visible, chunk 0 covers keys 0..3,
 * chunk 1 keys 4..5, and chunks 2.. (when the bound gives more) none:
 * their lse is -inf and their o zeros, and the merge ignores them.
 */
#include <math.h>
#include <stdlib.h>

#include "interp_internal.h"

/* One attention_split call's shapes: q [B.., Hq, T, D], k [B.., Hkv, S, D],
 * v [B.., Hkv, S, Dv], C chunks of `chunk` keys. */
typedef struct {
  int64_t batch, hq, hkv, t, s, d, dv, nchunks, chunk;
  float scale;
  bool causal;
  int64_t offset, window;
} SplitDims;

/* Whether the query at row t sees key j (docs/ir.md, causal_mask). */
static bool visible(const SplitDims *sd, int64_t t, int64_t j) {
  int64_t pos = t + sd->offset;
  return !sd->causal || (j <= pos && (sd->window <= 0 || j > pos - sd->window));
}

/* Keys [lo, hi) of one query row: o = softmax(scores) v over the visible
 * ones, *lse = max + log(sum of exp(score - max)); no visible key (or
 * only -inf scores): o = 0, *lse = -inf. */
static void split_row(const SplitDims *sd, const float *q, const float *k, const float *v,
                      int64_t t, int64_t lo, int64_t hi, float *scores, float *o, float *lse) {
  float mx = -INFINITY;
  for (int64_t j = lo; j < hi; j++) {
    float dot = 0;
    for (int64_t c = 0; c < sd->d; c++) dot += q[c] * k[j * sd->d + c];
    scores[j - lo] = visible(sd, t, j) ? sd->scale * dot : -INFINITY;
    if (scores[j - lo] > mx) mx = scores[j - lo];
  }
  for (int64_t c = 0; c < sd->dv; c++) o[c] = 0;
  *lse = -INFINITY;
  if (mx == -INFINITY) return;
  float sum = 0;
  for (int64_t j = lo; j < hi; j++) {
    scores[j - lo] = expf(scores[j - lo] - mx);
    sum += scores[j - lo];
  }
  for (int64_t j = lo; j < hi; j++) {
    float w = scores[j - lo] / sum;
    for (int64_t c = 0; c < sd->dv; c++) o[c] += w * v[j * sd->dv + c];
  }
  *lse = mx + logf(sum);
}

static SplitDims split_dims(const IrOpRun *r) {
  const IrTensor *q = r->in[0], *k = r->in[1], *v = r->in[2];
  int n = q->rank;
  SplitDims sd = {.hq = q->shape[n - 3], .t = q->shape[n - 2], .d = q->shape[n - 1],
                  .hkv = k->shape[n - 3], .s = k->shape[n - 2], .dv = v->shape[n - 1],
                  .nchunks = r->out[0].shape[n - 3], .chunk = ir_op_int(r->op, "chunk", 1)};
  sd.batch = 1;
  for (int i = 0; i < n - 3; i++) sd.batch *= q->shape[i];
  sd.scale = (float)ir_op_float(r->op, "scale", 1);
  sd.causal = ir_op_bool(r->op, "causal");
  sd.offset = ir_dim_eval(ir_op_dim(r->op, "offset", ir_dim_const(0)), r->syms);
  sd.window = ir_op_int(r->op, "window", 0);
  return sd;
}

bool ir_interp_attention_split(IrOpRun *r) {
  SplitDims sd = split_dims(r);
  if (sd.hkv == 0 || sd.hq % sd.hkv)
    return ir_interp_op_error(r, "%lld query heads do not share %lld kv heads evenly",
                              (long long)sd.hq, (long long)sd.hkv);
  const float *q = r->in[0]->f, *k = r->in[1]->f, *v = r->in[2]->f;
  float *o = r->out[0].f, *lse = r->out[1].f;
  int64_t group = sd.hq / sd.hkv;
  float *scores = malloc(sizeof(float) * (size_t)(sd.chunk > 0 ? sd.chunk : 1));
  if (!scores) abort(); /* out of memory */
  for (int64_t b = 0; b < sd.batch; b++)
    for (int64_t c = 0; c < sd.nchunks; c++)
      for (int64_t h = 0; h < sd.hq; h++) {
        int64_t kvh = b * sd.hkv + h / group;
        int64_t lo = c * sd.chunk, hi = lo + sd.chunk < sd.s ? lo + sd.chunk : sd.s;
        for (int64_t t = 0; t < sd.t; t++) {
          int64_t qrow = (b * sd.hq + h) * sd.t + t;
          int64_t orow = ((b * sd.nchunks + c) * sd.hq + h) * sd.t + t;
          split_row(&sd, q + qrow * sd.d, k + kvh * sd.s * sd.d, v + kvh * sd.s * sd.dv, t, lo,
                    hi, scores, o + orow * sd.dv, lse + orow);
        }
      }
  free(scores);
  return true;
}

/* out = sum_c exp(lse_c - M) o_c / sum_c exp(lse_c - M), M = max_c lse_c;
 * zeros when every lse_c is -inf (or there are no chunks). */
bool ir_interp_attention_merge(IrOpRun *r) {
  const IrTensor *o = r->in[0];
  const float *lse = r->in[1]->f;
  float *out = r->out[0].f;
  int n = o->rank;
  int64_t batch = 1, nchunks = o->shape[n - 4], dv = o->shape[n - 1];
  int64_t rows = o->shape[n - 3] * o->shape[n - 2]; /* Hq * T */
  for (int i = 0; i < n - 4; i++) batch *= o->shape[i];
  for (int64_t b = 0; b < batch; b++)
    for (int64_t row = 0; row < rows; row++) {
      float *dst = out + (b * rows + row) * dv;
      float mx = -INFINITY;
      for (int64_t c = 0; c < nchunks; c++)
        if (lse[(b * nchunks + c) * rows + row] > mx) mx = lse[(b * nchunks + c) * rows + row];
      for (int64_t e = 0; e < dv; e++) dst[e] = 0;
      if (mx == -INFINITY) continue;
      float sum = 0;
      for (int64_t c = 0; c < nchunks; c++) {
        int64_t at = (b * nchunks + c) * rows + row;
        float w = expf(lse[at] - mx);
        sum += w;
        for (int64_t e = 0; e < dv; e++) dst[e] += w * o->f[at * dv + e];
      }
      for (int64_t e = 0; e < dv; e++) dst[e] /= sum;
    }
  return true;
}
