/* interp_ops_rope.c: rotary position embedding, with "half" and
 * "interleaved" pairing, partial rotation and linear/llama3 frequency
 * scaling. Frequencies and angles in f64, the rotation in f32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

typedef struct {
  double theta, factor, low_freq_factor, high_freq_factor, original_max_position;
  const char *scaling;
  int64_t rotary_dim;
} RopeFreq;

/* inv_freq[i] = theta^(-2i/r), then scaled as docs/ir.md says. */
static double inv_freq(const RopeFreq *rf, int64_t i) {
  double f = pow(rf->theta, -2.0 * (double)i / (double)rf->rotary_dim);
  if (strcmp(rf->scaling, "linear") == 0) return f / rf->factor;
  if (strcmp(rf->scaling, "llama3") != 0) return f;
  double wavelen = 2 * M_PI / f;
  double lo = rf->original_max_position / rf->low_freq_factor;
  double hi = rf->original_max_position / rf->high_freq_factor;
  if (wavelen < hi) return f;
  if (wavelen > lo) return f / rf->factor;
  double s = (rf->original_max_position / wavelen - rf->low_freq_factor) /
             (rf->high_freq_factor - rf->low_freq_factor);
  return (1 - s) * f / rf->factor + s * f;
}

/* Rotates the pairs of one head of one row in place. */
static void rotate_head(float *x, int64_t half, bool interleaved, const float *cs,
                        const float *sn) {
  for (int64_t i = 0; i < half; i++) {
    int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
    float x0 = x[i0], x1 = x[i1], c = cs[i], s = sn[i];
    x[i0] = x0 * c - x1 * s;
    x[i1] = x1 * c + x0 * s;
  }
}

static bool read_attrs(IrOpRun *r, RopeFreq *rf, int64_t *head_dim) {
  const IrOp *op = r->op;
  *head_dim = ir_op_int(op, "head_dim", 0);
  rf->theta = ir_op_float(op, "theta", 10000.0);
  rf->rotary_dim = ir_op_int(op, "rotary_dim", *head_dim);
  rf->scaling = ir_op_str(op, "scaling", "none");
  rf->factor = ir_op_float(op, "factor", 1);
  rf->low_freq_factor = ir_op_float(op, "low_freq_factor", 1);
  rf->high_freq_factor = ir_op_float(op, "high_freq_factor", 4);
  rf->original_max_position = (double)ir_op_int(op, "original_max_position", 8192);
  int64_t n = r->in[0]->shape[r->in[0]->rank - 1];
  if (*head_dim <= 0 || n % *head_dim)
    return ir_interp_op_error(r, "head_dim %lld does not divide the last dim %lld",
                              (long long)*head_dim, (long long)n);
  if (rf->rotary_dim < 0 || rf->rotary_dim > *head_dim || rf->rotary_dim % 2)
    return ir_interp_op_error(r, "rotary_dim %lld must be even and at most head_dim %lld",
                              (long long)rf->rotary_dim, (long long)*head_dim);
  return true;
}

bool ir_interp_rope(IrOpRun *r) {
  const IrTensor *x = r->in[0], *pos = r->in[1];
  IrTensor *o = &r->out[0];
  RopeFreq rf;
  int64_t head_dim;
  if (!read_attrs(r, &rf, &head_dim)) return false;
  bool interleaved = strcmp(ir_op_str(r->op, "pairing", "half"), "interleaved") == 0;
  int64_t t_len = x->shape[x->rank - 2], n = x->shape[x->rank - 1], half = rf.rotary_dim / 2;
  /* cos and sin tables, [T, half]. */
  size_t tab = (size_t)(t_len * half > 0 ? t_len * half : 1);
  float *cs = malloc(sizeof(float) * tab), *sn = malloc(sizeof(float) * tab);
  if (!cs || !sn) abort();
  for (int64_t i = 0; i < half; i++) {
    double f = inv_freq(&rf, i);
    for (int64_t t = 0; t < t_len; t++) {
      double a = (double)pos->i[t] * f;
      cs[t * half + i] = (float)cos(a);
      sn[t * half + i] = (float)sin(a);
    }
  }
  int64_t numel = ir_tensor_numel(x), rows = n ? numel / n : 0;
  for (int64_t e = 0; e < numel; e++) o->f[e] = x->f[e];
  for (int64_t row = 0; row < rows; row++) {
    int64_t t = row % t_len;
    for (int64_t h = 0; h < n / head_dim; h++)
      rotate_head(o->f + row * n + h * head_dim, half, interleaved, cs + t * half, sn + t * half);
  }
  free(cs);
  free(sn);
  return true;
}
