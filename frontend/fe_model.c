/* fe_model.c: the model description: defaults, consistency checks and
 * the parameter count by formula.
 *
 * The readers fill an FeModel and call fe_model_check with the JSON path
 * each field came from, so "heads do not divide the hidden size" points at
 * $.num_attention_heads of config.json, or at $.attention.heads of a graph
 * JSON file. */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe_json.h"

void fe_model_init(FeModel *fm) {
  memset(fm, 0, sizeof *fm);
  fm->norm = FE_NORM_RMS;
  fm->norm_eps = 1e-5;
  fm->pre_norm = true;
  fm->final_norm = true;
  fm->pos = FE_POS_ROPE;
  fm->rope_theta = 10000.0;
  fm->rope_scaling = FE_ROPE_SCALE_NONE;
  fm->rope_factor = 1.0;
  fm->rope_low_freq = 1.0;
  fm->rope_high_freq = 4.0;
  fm->rope_orig_max_pos = 8192;
  fm->mask = FE_MASK_CAUSAL;
  fm->mlp = FE_MLP_SWIGLU;
  fm->head = FE_HEAD_LM;
  fm->weight_dtype = IR_F32;
  fm->bos_id = -1;
  fm->eos_id = -1;
}

/* ---- parameter count -------------------------------------------------- */

/* A running int64 sum that remembers whether it ever overflowed. */
typedef struct {
  int64_t sum;
  bool overflow;
} Count;

/* c += a * b */
static void add_n(Count *c, int64_t a, int64_t b) {
  int64_t p;
  if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(c->sum, p, &c->sum))
    c->overflow = true;
}

static void add_count(Count *c, Count part, int64_t times) {
  c->overflow |= part.overflow;
  add_n(c, part.sum, times);
}

/* A norm without a weight template scales by ones, without a bias adds
 * zeros: neither is a parameter. */
static int64_t norm_params(const FeModel *fm, const char *weight, const char *bias) {
  return (weight ? fm->hidden : 0) + (bias ? fm->hidden : 0);
}

/* q, k, v and o projections with their biases. */
static Count attention_params(const FeModel *fm) {
  const FeNames *n = &fm->names;
  Count c = {0, false};
  int64_t h = fm->hidden, q = fm->heads * fm->head_dim, kv = fm->kv_heads * fm->head_dim;
  add_n(&c, h, q);
  add_n(&c, h, kv);
  add_n(&c, h, kv);
  bool fused = n->qkv != NULL; /* the same numbers, in one tensor */
  if (fused ? n->qkv_b : n->q_b) add_n(&c, q, 1);
  if (fused ? n->qkv_b : n->k_b) add_n(&c, kv, 1);
  if (fused ? n->qkv_b : n->v_b) add_n(&c, kv, 1);
  add_n(&c, q, h);
  if (n->o_b) add_n(&c, h, 1);
  return c;
}

static Count mlp_params(const FeModel *fm) {
  const FeNames *n = &fm->names;
  Count c = {0, false};
  int64_t h = fm->hidden, f = fm->intermediate;
  switch (fm->mlp) {
  case FE_MLP_SWIGLU:
    add_n(&c, h, f);
    add_n(&c, h, f);
    add_n(&c, h, f);
    break;
  case FE_MLP_GELU:
    add_n(&c, h, f);
    add_n(&c, h, f);
    if (n->up_b) add_n(&c, f, 1);
    if (n->down_b) add_n(&c, h, 1);
    break;
  case FE_MLP_MOE: {
    Count expert = {0, false}; /* SwiGLU experts, or GELU without expert_gate */
    add_n(&expert, h, f);
    add_n(&expert, h, f);
    if (n->expert_gate) add_n(&expert, h, f);
    add_n(&c, fm->experts, h); /* router */
    add_count(&c, expert, fm->experts);
    break;
  }
  }
  return c;
}

static Count layer_params(const FeModel *fm) {
  Count c = {0, false};
  add_n(&c, norm_params(fm, fm->names.attn_norm_w, fm->names.attn_norm_b), 1);
  add_count(&c, attention_params(fm), 1);
  add_n(&c, norm_params(fm, fm->names.mlp_norm_w, fm->names.mlp_norm_b), 1);
  add_count(&c, mlp_params(fm), 1);
  return c;
}

bool fe_model_param_count(const FeModel *fm, int64_t *out) {
  const FeNames *n = &fm->names;
  Count c = {0, false};
  add_n(&c, fm->vocab, fm->hidden);
  if (fm->pos == FE_POS_LEARNED) add_n(&c, fm->max_pos, fm->hidden);
  add_count(&c, layer_params(fm), fm->layers);
  if (fm->final_norm) add_n(&c, norm_params(fm, n->final_norm_w, n->final_norm_b), 1);
  if (fm->head == FE_HEAD_LM && !fm->tie_embeddings) add_n(&c, fm->vocab, fm->hidden);
  if (fm->head == FE_HEAD_CLASSIFIER) {
    add_n(&c, fm->num_labels, fm->hidden);
    if (n->cls_b) add_n(&c, fm->num_labels, 1);
  }
  *out = c.sum;
  return !c.overflow;
}

/* ---- consistency checks ----------------------------------------------- */

/* Paths of the checks when the caller has no file: the field names. */
static const FeModelPaths field_names = {
    "vocab", "hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "max_pos",
    "norm_eps", "rope_theta", "rotary_dim", "rope_factor", "rope_low_freq", "rope_high_freq",
    "rope_orig_max_pos", "sliding_window", "attn_scale", "experts", "experts_per_tok",
    "num_labels", NULL,
};

static const char *or_field(const char *path, const char *field) { return path ? path : field; }

static bool check_dim(const FeJson *j, const char *path, int64_t v) {
  if (v < 1) return fe_json_error(j, path, "expected a positive integer, found %lld", (long long)v);
  if (v > FE_DIM_MAX)
    return fe_json_error(j, path, "expected a positive integer at most %lld, found %lld",
                         (long long)FE_DIM_MAX, (long long)v);
  return true;
}

static bool check_positive(const FeJson *j, const char *path, double v) {
  if (isfinite(v) && v > 0) return true;
  return fe_json_error(j, path, "expected a positive number, found %.15g", v);
}

static bool check_dims(const FeModel *fm, const FeJson *j, const FeModelPaths *p) {
  return check_dim(j, or_field(p->vocab, "vocab"), fm->vocab) &&
         check_dim(j, or_field(p->hidden, "hidden"), fm->hidden) &&
         check_dim(j, or_field(p->layers, "layers"), fm->layers) &&
         check_dim(j, or_field(p->heads, "heads"), fm->heads) &&
         check_dim(j, or_field(p->kv_heads, "kv_heads"), fm->kv_heads) &&
         check_dim(j, or_field(p->head_dim, "head_dim"), fm->head_dim) &&
         check_dim(j, or_field(p->intermediate, "intermediate"), fm->intermediate) &&
         check_dim(j, or_field(p->max_pos, "max_pos"), fm->max_pos);
}

static bool check_heads(const FeModel *fm, const FeJson *j, const FeModelPaths *p) {
  const char *heads = or_field(p->heads, "heads");
  if (fm->heads % fm->kv_heads != 0)
    return fe_json_error(j, or_field(p->kv_heads, "kv_heads"),
                         "expected a divisor of %s (%lld), found %lld", heads,
                         (long long)fm->heads, (long long)fm->kv_heads);
  return true;
}

static bool check_rope(const FeModel *fm, const FeJson *j, const FeModelPaths *p) {
  if (!check_positive(j, or_field(p->rope_theta, "rope_theta"), fm->rope_theta)) return false;
  if (fm->rotary_dim < 0 || fm->rotary_dim > fm->head_dim || fm->rotary_dim % 2)
    return fe_json_error(j, or_field(p->rotary_dim, "rotary_dim"),
                         "expected an even integer from 0 to the head size %lld, found %lld",
                         (long long)fm->head_dim, (long long)fm->rotary_dim);
  if (fm->rotary_dim == 0 && fm->head_dim % 2)
    return fe_json_error(j, or_field(p->head_dim, "head_dim"),
                         "expected an even head size for rotary embeddings, found %lld",
                         (long long)fm->head_dim);
  if (fm->rope_scaling == FE_ROPE_SCALE_NONE) return true;
  if (!check_positive(j, or_field(p->rope_factor, "rope_factor"), fm->rope_factor)) return false;
  if (fm->rope_scaling != FE_ROPE_SCALE_LLAMA3) return true;
  if (!check_positive(j, or_field(p->rope_low_freq, "rope_low_freq"), fm->rope_low_freq) ||
      !check_dim(j, or_field(p->rope_orig_max_pos, "rope_orig_max_pos"), fm->rope_orig_max_pos))
    return false;
  if (!(isfinite(fm->rope_high_freq) && fm->rope_high_freq > fm->rope_low_freq))
    return fe_json_error(j, or_field(p->rope_high_freq, "rope_high_freq"),
                         "expected a number above the low frequency factor %.15g, found %.15g",
                         fm->rope_low_freq, fm->rope_high_freq);
  return true;
}

static bool check_mlp_and_head(const FeModel *fm, const FeJson *j, const FeModelPaths *p) {
  if (fm->mlp == FE_MLP_MOE) {
    if (!check_dim(j, or_field(p->experts, "experts"), fm->experts)) return false;
    if (fm->experts_per_tok < 1 || fm->experts_per_tok > fm->experts)
      return fe_json_error(j, or_field(p->experts_per_tok, "experts_per_tok"),
                           "expected an integer from 1 to the number of experts %lld, found %lld",
                           (long long)fm->experts, (long long)fm->experts_per_tok);
  }
  if (fm->head == FE_HEAD_CLASSIFIER)
    return check_dim(j, or_field(p->num_labels, "num_labels"), fm->num_labels);
  return true;
}

static bool check_scalars(const FeModel *fm, const FeJson *j, const FeModelPaths *p) {
  if (!check_positive(j, or_field(p->norm_eps, "norm_eps"), fm->norm_eps)) return false;
  if (fm->sliding_window < 0)
    return fe_json_error(j, or_field(p->sliding_window, "sliding_window"),
                         "expected a non-negative integer, found %lld",
                         (long long)fm->sliding_window);
  if (!(isfinite(fm->attn_scale) && fm->attn_scale >= 0))
    return fe_json_error(j, or_field(p->attn_scale, "attn_scale"),
                         "expected a positive number, found %.15g", fm->attn_scale);
  return true;
}

/* ---- checkpoint names ------------------------------------------------ */

#define NAME(FIELD, NDIGITS) {#FIELD, offsetof(FeNames, FIELD), NDIGITS}
const FeNameField fe_name_fields[] = {
    NAME(embed, 0),       NAME(pos_embed, 0),   NAME(attn_norm_w, 1), NAME(attn_norm_b, 1),
    NAME(q, 1),           NAME(k, 1),           NAME(v, 1),           NAME(o, 1),
    NAME(q_b, 1),         NAME(k_b, 1),         NAME(v_b, 1),         NAME(o_b, 1),
    NAME(qkv, 1),         NAME(qkv_b, 1),       NAME(mlp_norm_w, 1),  NAME(mlp_norm_b, 1),
    NAME(gate, 1),        NAME(up, 1),          NAME(down, 1),        NAME(up_b, 1),
    NAME(down_b, 1),      NAME(router, 1),      NAME(expert_gate, 2), NAME(expert_up, 2),
    NAME(expert_down, 2), NAME(final_norm_w, 0), NAME(final_norm_b, 0), NAME(lm_head, 0),
    NAME(cls_w, 0),       NAME(cls_b, 0),
};
#undef NAME
const int fe_name_field_count = (int)(sizeof fe_name_fields / sizeof fe_name_fields[0]);

const char **fe_name_slot(FeNames *n, const FeNameField *f) {
  return (const char **)((char *)n + f->offset);
}

/* "model.layers.%d.mlp.up_proj.weight" has one "%d": the builder formats
 * it with the layer, so no other conversion may appear, and what it
 * makes must be an IR name (letters, digits, '_' and '.'). Two "%d" need
 * a non-digit between them, or layer 1, expert 11 and layer 11, expert 1
 * could read the same. */
bool fe_name_template_ok(const char *t, int ndigits) {
  int seen = 0;
  bool digits_since_d = false; /* only digits since the last "%d" */
  size_t n = strlen(t);
  if (n == 0 || n > FE_NAME_MAX) return false;
  for (const char *c = t; *c; c++) {
    if (*c == '%') {
      if (c[1] != 'd' || (seen && digits_since_d)) return false;
      seen++;
      digits_since_d = true;
      c++;
    } else if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '.')) {
      return false;
    } else if (!isdigit((unsigned char)*c)) {
      digits_since_d = false;
    }
  }
  return seen == ndigits;
}

/* ---- can two templates name the same tensor? -------------------------- */

/* Where a template stands while it reads a name: at byte p, and `in` a
 * "%d" that has read at least one digit. "%d" reads any digit string, so
 * this over-approximates by leading zeros, which only makes it stricter. */
typedef struct {
  int p;
  bool in;
} TplState;

/* s and, inside a "%d" with a digit read, the state after it. */
static int tpl_closure(TplState s, TplState out[2]) {
  out[0] = s;
  if (!s.in) return 1;
  out[1] = (TplState){s.p + 2, false};
  return 2;
}

static bool tpl_done(const char *t, TplState s) { return !s.in && t[s.p] == '\0'; }

/* The state after reading ch; p = -1 when t cannot read it. */
static TplState tpl_step(const char *t, TplState s, char ch) {
  bool digit = ch >= '0' && ch <= '9';
  TplState none = {-1, false};
  if (s.in || t[s.p] == '%') return digit ? (TplState){s.p, true} : none;
  return t[s.p] != '\0' && t[s.p] == ch ? (TplState){s.p + 1, false} : none;
}

/* The bytes s can read next: every digit in a "%d", else its literal. */
static int tpl_next_chars(const char *t, TplState s, char out[10]) {
  if (s.in || t[s.p] == '%') {
    for (int i = 0; i < 10; i++) out[i] = (char)('0' + i);
    return 10;
  }
  out[0] = t[s.p];
  return t[s.p] ? 1 : 0;
}

typedef struct {
  const char *a, *b;
  int lb;
  unsigned char *seen; /* [(la+1)*2][(lb+1)*2] */
  int *stack, top;
} Overlap;

static void overlap_push(Overlap *o, TplState sa, TplState sb) {
  int k = ((sa.p * 2 + sa.in) * (o->lb + 1) + sb.p) * 2 + sb.in;
  if (o->seen[k]) return;
  o->seen[k] = 1;
  o->stack[o->top++] = k;
}

/* Whether a and b read some name in common: a search of their product. */
static bool overlap_from(Overlap *o, TplState sa, TplState sb) {
  TplState ca[2], cb[2];
  int na = tpl_closure(sa, ca), nb = tpl_closure(sb, cb);
  for (int i = 0; i < na; i++) {
    for (int k = 0; k < nb; k++) {
      if (tpl_done(o->a, ca[i]) && tpl_done(o->b, cb[k])) return true;
      char chars[10];
      int nc = tpl_next_chars(o->a, ca[i], chars);
      for (int c = 0; c < nc; c++) {
        TplState ta = tpl_step(o->a, ca[i], chars[c]), tb = tpl_step(o->b, cb[k], chars[c]);
        if (ta.p >= 0 && tb.p >= 0) overlap_push(o, ta, tb);
      }
    }
  }
  return false;
}

static bool names_overlap(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), n = (la + 1) * 2 * (lb + 1) * 2;
  Overlap o = {a, b, (int)lb, calloc(n, 1), malloc(n * sizeof(int)), 0};
  if (!o.seen || !o.stack) abort(); /* out of memory */
  bool found = false;
  overlap_push(&o, (TplState){0, false}, (TplState){0, false});
  while (o.top > 0 && !found) {
    int k = o.stack[--o.top];
    TplState sb = {(k / 2) % (o.lb + 1), k % 2};
    int ka = k / 2 / (o.lb + 1);
    found = overlap_from(&o, (TplState){ka / 2, ka % 2}, sb);
  }
  free(o.seen);
  free(o.stack);
  return found;
}

/* The names a model of this shape needs; NULL when all are there. Norms
 * need none (no weight: ones, no bias: zeros), MoE experts no gate (then
 * they are GELU MLPs). */
static const char *first_missing_name(const FeModel *fm) {
  const FeNames *n = &fm->names;
  bool moe = fm->mlp == FE_MLP_MOE;
  const struct {
    bool needed;
    const char *name, *field;
  } need[] = {
      {true, n->embed, "embed"},
      {fm->pos == FE_POS_LEARNED, n->pos_embed, "pos_embed"},
      {!n->qkv, n->q, "q"},
      {!n->qkv, n->k, "k"},
      {!n->qkv, n->v, "v"},
      {true, n->o, "o"},
      {fm->mlp == FE_MLP_SWIGLU, n->gate, "gate"},
      {!moe, n->up, "up"},
      {!moe, n->down, "down"},
      {moe, n->router, "router"},
      {moe, n->expert_up, "expert_up"},
      {moe, n->expert_down, "expert_down"},
      {fm->head == FE_HEAD_LM && !fm->tie_embeddings, n->lm_head, "lm_head"},
      {fm->head == FE_HEAD_CLASSIFIER, n->cls_w, "cls_w"},
  };
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
    if (need[i].needed && !need[i].name) return need[i].field;
  return NULL;
}

/* "$.weights.q" for graph JSON, "$" where the names are kiln's own. */
static void name_path(char *buf, const FeModelPaths *p, const char *key) {
  if (p->weights) fe_json_path(buf, p->weights, key);
  else snprintf(buf, FE_JSON_PATH_MAX, "$");
}

static bool check_template(const FeJson *j, const FeModelPaths *p, const FeNameField *f,
                           const char *t) {
  static const char *const what[] = {
      "no \"%d\"",
      "one \"%d\" (the layer)",
      "two \"%d\" (the layer, then the expert, with a non-digit between)",
  };
  if (fe_name_template_ok(t, f->ndigits)) return true;
  char path[FE_JSON_PATH_MAX], quoted[96];
  name_path(path, p, f->key);
  fe_json_quote(quoted, sizeof quoted, t);
  char want[256];
  snprintf(want, sizeof want, "a tensor name of at most %d bytes with %s and otherwise only "
           "letters, digits, '_' and '.'", FE_NAME_MAX, what[f->ndigits]);
  if (p->weights) return fe_json_error(j, path, "expected %s, found %s", want, quoted);
  return fe_json_error(j, path, "expected %s to be %s, found %s", f->key, want, quoted);
}

static bool check_distinct(const FeJson *j, const FeModelPaths *p, const FeNames *names, int i) {
  FeNames n = *names;
  const char *a = *fe_name_slot(&n, &fe_name_fields[i]);
  for (int k = 0; k < i; k++) {
    const char *b = *fe_name_slot(&n, &fe_name_fields[k]);
    if (!b || !names_overlap(a, b)) continue;
    char path[FE_JSON_PATH_MAX], qa[96], qb[96];
    name_path(path, p, fe_name_fields[i].key);
    fe_json_quote(qa, sizeof qa, a);
    fe_json_quote(qb, sizeof qb, b);
    return fe_json_error(j, path,
                         "expected a tensor name no other weight can have, found %s: %s, which "
                         "%s %s can name too",
                         fe_name_fields[i].key, qa, fe_name_fields[k].key, qb);
  }
  return true;
}

static bool check_names(const FeModel *fm, const FeJson *j, const FeModelPaths *p) {
  const char *missing = first_missing_name(fm);
  if (missing)
    return fe_json_error(j, "$", "expected a checkpoint name for %s, found none", missing);
  FeNames names = fm->names;
  for (int i = 0; i < fe_name_field_count; i++) {
    const char *t = *fe_name_slot(&names, &fe_name_fields[i]);
    if (t && !check_template(j, p, &fe_name_fields[i], t)) return false;
  }
  for (int i = 0; i < fe_name_field_count; i++)
    if (*fe_name_slot(&names, &fe_name_fields[i]) && !check_distinct(j, p, &fm->names, i))
      return false;
  return true;
}

/* Products: the parameter count and the f32 KV cache must fit in int64. */
static bool check_sizes(const FeModel *fm, const FeJson *j) {
  int64_t params;
  if (!fe_model_param_count(fm, &params))
    return fe_json_error(j, "$", "expected a model whose parameter count fits in 64 bits, found "
                                 "dimensions whose product overflows it");
  Count kv = {0, false};
  add_n(&kv, fm->layers * fm->kv_heads, fm->head_dim);
  Count cache = {0, false};
  add_count(&cache, kv, fm->max_pos);
  add_n(&cache, cache.sum, 7); /* x 8: two tensors (k, v) of 4-byte floats */
  if (cache.overflow)
    return fe_json_error(j, "$", "expected a KV cache whose size in bytes fits in 64 bits, found "
                                 "dimensions whose product overflows it");
  return true;
}

bool fe_model_check(const FeModel *fm, const FeJson *j, const FeModelPaths *paths) {
  const FeModelPaths *p = paths ? paths : &field_names;
  if (!check_dims(fm, j, p) || !check_heads(fm, j, p) || !check_scalars(fm, j, p) ||
      !check_mlp_and_head(fm, j, p))
    return false;
  if (fm->pos == FE_POS_ROPE && !check_rope(fm, j, p)) return false;
  return check_names(fm, j, p) && check_sizes(fm, j);
}

bool fe_model_validate(const FeModel *fm, const char *where, IrDiag *d) {
  FeJson j = {where, d};
  return fe_model_check(fm, &j, NULL);
}
