/* fe_config_graph.c: kiln's own graph JSON -> FeModel, and
 * fe_read_config, which tells it from a Hugging Face config.json.
 *
 * The format (docs/model-json.md) puts a model together from modules:
 *
 *   {"kiln_graph": 1, "vocab": 256, "hidden": 64, "layers": 2, "max_positions": 128,
 *    "embedding": {"positions": "rope"},
 *    "attention": {"heads": 4, "kv_heads": 2, "rope": {"theta": 10000.0}},
 *    "mlp": {"kind": "swiglu", "intermediate": 172},
 *    "norm": {"kind": "rms", "eps": 1e-5},
 *    "head": {"kind": "lm", "tied": true}}
 *
 * It is strict: an unknown key is an error, so a typo never turns into a
 * silent default. Weight names default to kiln's own scheme
 * ("layers.%d.attn.q.weight") and can be set one by one under "weights". */
#include <stdio.h>
#include <string.h>

#include "fe_json.h"

/* Choices that decide which weights exist, kept while reading. */
typedef struct {
  bool qkv_bias, out_bias, fused_qkv, mlp_bias, cls_bias;
} GraphOpts;

static const FeModelPaths graph_paths = {
    .vocab = "$.vocab",
    .hidden = "$.hidden",
    .layers = "$.layers",
    .heads = "$.attention.heads",
    .kv_heads = "$.attention.kv_heads",
    .head_dim = "$.attention.head_dim",
    .intermediate = "$.mlp.intermediate",
    .max_pos = "$.max_positions",
    .norm_eps = "$.norm.eps",
    .rope_theta = "$.attention.rope.theta",
    .rotary_dim = "$.attention.rope.rotary_dim",
    .rope_factor = "$.attention.rope.scaling.factor",
    .rope_low_freq = "$.attention.rope.scaling.low_freq_factor",
    .rope_high_freq = "$.attention.rope.scaling.high_freq_factor",
    .rope_orig_max_pos = "$.attention.rope.scaling.original_max_positions",
    .sliding_window = "$.attention.sliding_window",
    .attn_scale = "$.attention.scale",
    .experts = "$.mlp.experts",
    .experts_per_tok = "$.mlp.top_k",
    .num_labels = "$.head.labels",
    .weights = "$.weights",
};

/* ---- the top level ----------------------------------------------------- */

static bool read_version(const FeJson *j, const cJSON *root) {
  int64_t version = 0;
  if (!fe_json_int(j, root, "$", "kiln_graph", FE_REQUIRED, INT64_MIN, INT64_MAX, &version))
    return false;
  if (version != 1)
    return fe_json_error(j, "$.kiln_graph",
                         "expected 1 (the graph JSON version this kiln reads), found %lld",
                         (long long)version);
  return true;
}

static bool read_top(const FeJson *j, const cJSON *root, IrArena *arena, FeModel *fm) {
  static const char *const dtypes[] = {"f32", "f16", "bf16", NULL};
  static const IrDType dtype_of[] = {IR_F32, IR_F16, IR_BF16};
  static const char *const layouts[] = {"out_in", "in_out", NULL};
  const char *text = NULL;
  int dtype = 0, layout = 0;
  if (!read_version(j, root) ||
      !fe_json_str(j, root, "$", "name", FE_OPTIONAL, arena, &text) ||
      !fe_json_str(j, root, "$", "description", FE_OPTIONAL, arena, &text) ||
      !fe_json_enum(j, root, "$", "dtype", FE_OPTIONAL, dtypes, &dtype) ||
      !fe_json_int(j, root, "$", "vocab", FE_REQUIRED, 1, FE_DIM_MAX, &fm->vocab) ||
      !fe_json_int(j, root, "$", "hidden", FE_REQUIRED, 1, FE_DIM_MAX, &fm->hidden) ||
      !fe_json_int(j, root, "$", "layers", FE_REQUIRED, 1, FE_DIM_MAX, &fm->layers) ||
      !fe_json_int(j, root, "$", "max_positions", FE_REQUIRED, 1, FE_DIM_MAX, &fm->max_pos) ||
      !fe_json_int(j, root, "$", "bos_id", FE_OPTIONAL, 0, FE_DIM_MAX, &fm->bos_id) ||
      !fe_json_int(j, root, "$", "eos_id", FE_OPTIONAL, 0, FE_DIM_MAX, &fm->eos_id) ||
      !fe_json_enum(j, root, "$", "linear_layout", FE_OPTIONAL, layouts, &layout))
    return false;
  fm->weight_dtype = dtype_of[dtype];
  fm->names.linear_in_out = layout == 1;
  return true;
}

static bool read_embedding(const FeJson *j, const cJSON *root, FeModel *fm) {
  static const char *const keys[] = {"positions", NULL};
  static const char *const kinds[] = {"rope", "learned", "none", NULL};
  static const FePosKind pos_of[] = {FE_POS_ROPE, FE_POS_LEARNED, FE_POS_NONE};
  const cJSON *e;
  int pos = 0;
  if (!fe_json_obj(j, root, "$", "embedding", FE_OPTIONAL, &e)) return false;
  if (e && (!fe_json_only_keys(j, e, "$.embedding", keys) ||
            !fe_json_enum(j, e, "$.embedding", "positions", FE_OPTIONAL, kinds, &pos)))
    return false;
  fm->pos = pos_of[pos];
  return true;
}

/* ---- attention --------------------------------------------------------- */

static bool read_rope_scaling(const FeJson *j, const cJSON *rope, FeModel *fm) {
  static const char *const keys[] = {"type", "factor", "low_freq_factor", "high_freq_factor",
                                     "original_max_positions", NULL};
  static const char *const types[] = {"linear", "llama3", NULL};
  const char *P = "$.attention.rope.scaling";
  const cJSON *s;
  int type = 0;
  if (!fe_json_obj(j, rope, "$.attention.rope", "scaling", FE_OPTIONAL, &s)) return false;
  if (!s) return true;
  if (!fe_json_only_keys(j, s, P, keys) ||
      !fe_json_enum(j, s, P, "type", FE_REQUIRED, types, &type) ||
      !fe_json_num(j, s, P, "factor", FE_REQUIRED, true, &fm->rope_factor))
    return false;
  fm->rope_scaling = type == 0 ? FE_ROPE_SCALE_LINEAR : FE_ROPE_SCALE_LLAMA3;
  if (type == 0) return true;
  return fe_json_num(j, s, P, "low_freq_factor", FE_OPTIONAL, true, &fm->rope_low_freq) &&
         fe_json_num(j, s, P, "high_freq_factor", FE_OPTIONAL, true, &fm->rope_high_freq) &&
         fe_json_int(j, s, P, "original_max_positions", FE_OPTIONAL, 1, FE_DIM_MAX,
                     &fm->rope_orig_max_pos);
}

static bool read_rope(const FeJson *j, const cJSON *att, FeModel *fm) {
  static const char *const keys[] = {"theta", "pairing", "rotary_dim", "scaling", NULL};
  static const char *const pairings[] = {"half", "interleaved", NULL};
  const char *P = "$.attention.rope";
  const cJSON *rope;
  int pairing = 0;
  if (!fe_json_obj(j, att, "$.attention", "rope", FE_OPTIONAL, &rope)) return false;
  if (!rope) return true;
  if (fm->pos != FE_POS_ROPE)
    return fe_json_error(j, P, "expected no rope settings with $.embedding.positions other than "
                               "\"rope\", found an object");
  if (!fe_json_only_keys(j, rope, P, keys) ||
      !fe_json_num(j, rope, P, "theta", FE_OPTIONAL, true, &fm->rope_theta) ||
      !fe_json_enum(j, rope, P, "pairing", FE_OPTIONAL, pairings, &pairing) ||
      !fe_json_int(j, rope, P, "rotary_dim", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->rotary_dim) ||
      !read_rope_scaling(j, rope, fm))
    return false;
  fm->rope_interleaved = pairing == 1;
  return true;
}

static bool read_mask(const FeJson *j, const cJSON *att, FeModel *fm) {
  static const char *const masks[] = {"causal", "bidirectional", NULL};
  int mask = 0;
  if (!fe_json_enum(j, att, "$.attention", "mask", FE_OPTIONAL, masks, &mask) ||
      !fe_json_int(j, att, "$.attention", "sliding_window", FE_OPTIONAL, 0, FE_DIM_MAX,
                   &fm->sliding_window))
    return false;
  fm->mask = mask == 0 ? FE_MASK_CAUSAL : FE_MASK_NONE;
  if (fm->mask == FE_MASK_NONE && fm->sliding_window)
    return fe_json_error(j, "$.attention.sliding_window",
                         "expected 0 with a bidirectional mask, found %lld",
                         (long long)fm->sliding_window);
  return true;
}

static bool read_attention(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p,
                           GraphOpts *o) {
  static const char *const keys[] = {"heads", "kv_heads", "head_dim", "mask", "sliding_window",
                                     "scale", "qkv_bias", "out_bias", "fused_qkv", "rope", NULL};
  const char *P = "$.attention";
  const cJSON *att;
  if (!fe_json_obj(j, root, "$", "attention", FE_REQUIRED, &att) ||
      !fe_json_only_keys(j, att, P, keys) ||
      !fe_json_int(j, att, P, "heads", FE_REQUIRED, 1, FE_DIM_MAX, &fm->heads) ||
      !fe_json_int(j, att, P, "head_dim", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->head_dim))
    return false;
  fm->kv_heads = fm->heads;
  if (!fe_json_int(j, att, P, "kv_heads", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->kv_heads) ||
      !fe_json_num(j, att, P, "scale", FE_OPTIONAL, true, &fm->attn_scale) ||
      !fe_json_bool(j, att, P, "qkv_bias", FE_OPTIONAL, &o->qkv_bias) ||
      !fe_json_bool(j, att, P, "out_bias", FE_OPTIONAL, &o->out_bias) ||
      !fe_json_bool(j, att, P, "fused_qkv", FE_OPTIONAL, &o->fused_qkv) ||
      !read_mask(j, att, fm) || !read_rope(j, att, fm))
    return false;
  if (fm->head_dim) return true;
  p->head_dim = p->heads; /* derived from hidden / heads */
  if (fm->hidden % fm->heads)
    return fe_json_error(j, p->heads, "expected a divisor of $.hidden (%lld), found %lld",
                         (long long)fm->hidden, (long long)fm->heads);
  fm->head_dim = fm->hidden / fm->heads;
  return true;
}

/* ---- MLP, norm, head --------------------------------------------------- */

static bool read_mlp(const FeJson *j, const cJSON *root, FeModel *fm, GraphOpts *o) {
  static const char *const keys[] = {"kind", "intermediate", "approximate", "bias",
                                     "experts", "top_k", "renormalize", NULL};
  static const char *const kinds[] = {"swiglu", "gelu", "moe", NULL};
  static const FeMlpKind kind_of[] = {FE_MLP_SWIGLU, FE_MLP_GELU, FE_MLP_MOE};
  static const char *const approx[] = {"none", "tanh", NULL};
  const char *P = "$.mlp";
  const cJSON *mlp;
  int kind = 0, gelu = 0;
  if (!fe_json_obj(j, root, "$", "mlp", FE_REQUIRED, &mlp) || !fe_json_only_keys(j, mlp, P, keys) ||
      !fe_json_enum(j, mlp, P, "kind", FE_REQUIRED, kinds, &kind) ||
      !fe_json_int(j, mlp, P, "intermediate", FE_REQUIRED, 1, FE_DIM_MAX, &fm->intermediate) ||
      !fe_json_enum(j, mlp, P, "approximate", FE_OPTIONAL, approx, &gelu) ||
      !fe_json_bool(j, mlp, P, "bias", FE_OPTIONAL, &o->mlp_bias))
    return false;
  fm->mlp = kind_of[kind];
  fm->gelu_tanh = gelu == 1;
  if (o->mlp_bias && fm->mlp != FE_MLP_GELU)
    return fe_json_error(j, "$.mlp.bias", "expected false: only the \"gelu\" MLP has biases, "
                                          "found true");
  if (fm->mlp != FE_MLP_MOE) return true;
  fm->moe_renormalize = true;
  if (!fe_json_int(j, mlp, P, "experts", FE_REQUIRED, 1, FE_DIM_MAX, &fm->experts)) return false;
  fm->experts_per_tok = fm->experts < 2 ? fm->experts : 2;
  return fe_json_int(j, mlp, P, "top_k", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->experts_per_tok) &&
         fe_json_bool(j, mlp, P, "renormalize", FE_OPTIONAL, &fm->moe_renormalize);
}

static bool read_norm(const FeJson *j, const cJSON *root, FeModel *fm) {
  static const char *const keys[] = {"kind", "eps", "placement", "final", NULL};
  static const char *const kinds[] = {"rms", "layer", NULL};
  static const char *const placements[] = {"pre", "post", NULL};
  const char *P = "$.norm";
  const cJSON *norm;
  int kind = 0, placement = 0;
  if (!fe_json_obj(j, root, "$", "norm", FE_OPTIONAL, &norm)) return false;
  if (!norm) return true;
  if (!fe_json_only_keys(j, norm, P, keys) ||
      !fe_json_enum(j, norm, P, "kind", FE_OPTIONAL, kinds, &kind) ||
      !fe_json_num(j, norm, P, "eps", FE_OPTIONAL, true, &fm->norm_eps) ||
      !fe_json_enum(j, norm, P, "placement", FE_OPTIONAL, placements, &placement))
    return false;
  fm->norm = kind == 0 ? FE_NORM_RMS : FE_NORM_LAYER;
  fm->pre_norm = placement == 0;
  fm->final_norm = fm->pre_norm; /* post-norm blocks end normalized already */
  return fe_json_bool(j, norm, P, "final", FE_OPTIONAL, &fm->final_norm);
}

static bool read_head(const FeJson *j, const cJSON *root, FeModel *fm, GraphOpts *o) {
  static const char *const keys[] = {"kind", "tied", "labels", "bias", NULL};
  static const char *const kinds[] = {"lm", "classifier", NULL};
  const char *P = "$.head";
  const cJSON *head;
  int kind = 0;
  if (!fe_json_obj(j, root, "$", "head", FE_OPTIONAL, &head)) return false;
  if (!head) return true;
  if (!fe_json_only_keys(j, head, P, keys) ||
      !fe_json_enum(j, head, P, "kind", FE_OPTIONAL, kinds, &kind))
    return false;
  if (kind == 0) {
    fm->head = FE_HEAD_LM;
    if (cJSON_HasObjectItem(head, "labels") || cJSON_HasObjectItem(head, "bias"))
      return fe_json_error(j, P, "expected no labels or bias with an \"lm\" head (they belong to "
                                 "\"classifier\"), found them");
    return fe_json_bool(j, head, P, "tied", FE_OPTIONAL, &fm->tie_embeddings);
  }
  fm->head = FE_HEAD_CLASSIFIER;
  o->cls_bias = true;
  if (cJSON_HasObjectItem(head, "tied"))
    return fe_json_error(j, "$.head.tied", "expected no \"tied\" with a classifier head (only an "
                                           "lm head shares the embedding), found it");
  return fe_json_int(j, head, P, "labels", FE_REQUIRED, 1, FE_DIM_MAX, &fm->num_labels) &&
         fe_json_bool(j, head, P, "bias", FE_OPTIONAL, &o->cls_bias);
}

/* ---- weight names ------------------------------------------------------ */

/* kiln's own checkpoint names for the weights this model has. */
static void default_names(const FeModel *fm, const GraphOpts *o, FeNames *n) {
  bool layer_norm = fm->norm == FE_NORM_LAYER;
  n->embed = "embed.weight";
  if (fm->pos == FE_POS_LEARNED) n->pos_embed = "pos_embed.weight";
  n->attn_norm_w = "layers.%d.attn_norm.weight";
  n->mlp_norm_w = "layers.%d.mlp_norm.weight";
  if (layer_norm) {
    n->attn_norm_b = "layers.%d.attn_norm.bias";
    n->mlp_norm_b = "layers.%d.mlp_norm.bias";
  }
  if (o->fused_qkv) {
    n->qkv = "layers.%d.attn.qkv.weight";
    if (o->qkv_bias) n->qkv_b = "layers.%d.attn.qkv.bias";
  } else {
    n->q = "layers.%d.attn.q.weight";
    n->k = "layers.%d.attn.k.weight";
    n->v = "layers.%d.attn.v.weight";
    if (o->qkv_bias) {
      n->q_b = "layers.%d.attn.q.bias";
      n->k_b = "layers.%d.attn.k.bias";
      n->v_b = "layers.%d.attn.v.bias";
    }
  }
  n->o = "layers.%d.attn.o.weight";
  if (o->out_bias) n->o_b = "layers.%d.attn.o.bias";
  if (fm->mlp == FE_MLP_MOE) {
    n->router = "layers.%d.moe.router.weight";
    n->expert_gate = "layers.%d.moe.experts.%d.gate.weight";
    n->expert_up = "layers.%d.moe.experts.%d.up.weight";
    n->expert_down = "layers.%d.moe.experts.%d.down.weight";
  } else {
    if (fm->mlp == FE_MLP_SWIGLU) n->gate = "layers.%d.mlp.gate.weight";
    n->up = "layers.%d.mlp.up.weight";
    n->down = "layers.%d.mlp.down.weight";
    if (o->mlp_bias) {
      n->up_b = "layers.%d.mlp.up.bias";
      n->down_b = "layers.%d.mlp.down.bias";
    }
  }
  if (fm->final_norm) {
    n->final_norm_w = "final_norm.weight";
    if (layer_norm) n->final_norm_b = "final_norm.bias";
  }
  if (fm->head == FE_HEAD_LM && !fm->tie_embeddings) n->lm_head = "lm_head.weight";
  if (fm->head == FE_HEAD_CLASSIFIER) {
    n->cls_w = "classifier.weight";
    if (o->cls_bias) n->cls_b = "classifier.bias";
  }
}

/* "weights": {"q": "encoder.layer.%d.attention.self.query.weight", ...}
 * renames the weights this model has; naming one it lacks is an error. */
static bool read_weight_names(const FeJson *j, const cJSON *root, IrArena *arena, FeNames *n) {
  const cJSON *w;
  if (!fe_json_obj(j, root, "$", "weights", FE_OPTIONAL, &w)) return false;
  if (!w) return true;
  const char *used[64];
  int nused = 0;
  for (int i = 0; i < fe_name_field_count; i++)
    if (*fe_name_slot(n, &fe_name_fields[i])) used[nused++] = fe_name_fields[i].key;
  used[nused] = NULL;
  if (!fe_json_only_keys(j, w, "$.weights", used)) return false;
  for (int i = 0; i < fe_name_field_count; i++) {
    const FeNameField *f = &fe_name_fields[i];
    const char **slot = fe_name_slot(n, f);
    if (!*slot) continue;
    if (!fe_json_str(j, w, "$.weights", f->key, FE_OPTIONAL, arena, slot)) return false;
  }
  return true;
}

/* ---- entry points ------------------------------------------------------ */

bool fe_graph_from_json(const FeJson *j, const cJSON *root, IrArena *arena, FeModel *out) {
  static const char *const keys[] = {"kiln_graph", "name", "description", "dtype", "vocab",
                                     "hidden", "layers", "max_positions", "bos_id", "eos_id",
                                     "linear_layout", "embedding", "attention", "mlp", "norm",
                                     "head", "weights", NULL};
  fe_model_init(out);
  if (!cJSON_IsObject(root))
    return fe_json_error(j, "$", "expected an object, found %s", fe_json_kind(root));
  FeModelPaths paths = graph_paths;
  GraphOpts opts = {0};
  if (!fe_json_only_keys(j, root, "$", keys) || !read_top(j, root, arena, out) ||
      !read_embedding(j, root, out) || !read_attention(j, root, out, &paths, &opts) ||
      !read_mlp(j, root, out, &opts) || !read_norm(j, root, out) || !read_head(j, root, out, &opts))
    return false;
  out->architecture = ir_arena_strdup(arena, "kiln");
  out->family = ir_arena_strdup(arena, "graph");
  default_names(out, &opts, &out->names);
  return read_weight_names(j, root, arena, &out->names) && fe_model_check(out, j, &paths);
}

bool fe_read_graph_json(const char *text, size_t len, const char *file, IrArena *arena,
                        FeModel *out, IrDiag *d) {
  FeJson j = {file, d};
  cJSON *root = fe_json_parse(&j, text, len);
  if (!root) return false;
  bool ok = fe_graph_from_json(&j, root, arena, out);
  cJSON_Delete(root);
  return ok;
}

bool fe_read_config(const char *text, size_t len, const char *file, IrArena *arena,
                    FeModel *out, IrDiag *d) {
  FeJson j = {file, d};
  cJSON *root = fe_json_parse(&j, text, len);
  if (!root) return false;
  bool graph = cJSON_IsObject(root) && cJSON_HasObjectItem(root, "kiln_graph");
  bool ok = graph ? fe_graph_from_json(&j, root, arena, out)
                   : fe_hf_from_json(&j, root, arena, out);
  cJSON_Delete(root);
  return ok;
}
