/* fe_config_hf.c: Hugging Face config.json -> FeModel, for the families
 * kiln knows: Llama (2, 3, 3.x; TinyLlama, SmolLM), Mistral, Qwen2,
 * Mixtral and GPT-2.
 *
 * The sizes that define a model are required (a typo must not silently
 * become a 7B default); the rest take the defaults of the family's
 * transformers config class. Keys kiln does not use are ignored, as
 * transformers ignores them. FeNames are the exact tensor names of the
 * family's checkpoints ("model.layers.%d.self_attn.q_proj.weight"). */
#include <stdio.h>
#include <string.h>

#include "fe_json.h"

/* ---- fields every family shares --------------------------------------- */

/* torch_dtype (or "dtype", its newer name) -> the weights' dtype. */
static bool read_dtype(const FeJson *j, const cJSON *root, FeModel *fm) {
  static const char *const names[] = {"float32", "float16", "bfloat16", NULL};
  static const IrDType dtypes[] = {IR_F32, IR_F16, IR_BF16};
  const char *key = cJSON_HasObjectItem(root, "torch_dtype") ? "torch_dtype" : "dtype";
  int k = 0;
  if (!fe_json_enum(j, root, "$", key, FE_OPTIONAL, names, &k)) return false;
  fm->weight_dtype = dtypes[k];
  return true;
}

/* bos_token_id / eos_token_id: an id, a list of ids (the first counts:
 * Llama 3.1 lists several eos ids) or null. */
static bool read_token_id(const FeJson *j, const cJSON *root, const char *key, int64_t *out) {
  char key_path[FE_JSON_PATH_MAX], path[FE_JSON_PATH_MAX];
  fe_json_path(key_path, "$", key);
  strcpy(path, key_path);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!v || cJSON_IsNull(v)) return true;
  if (cJSON_IsArray(v)) {
    if (!v->child) return true;
    fe_json_path_index(path, key_path, 0);
    v = v->child;
  }
  if (!cJSON_IsNumber(v))
    return fe_json_error(j, path, "expected a token id or a list of them, found %s",
                         fe_json_kind(v));
  return fe_json_int_value(j, v, path, 0, FE_DIM_MAX, out);
}

static bool read_common(const FeJson *j, const cJSON *root, FeModel *fm) {
  return read_dtype(j, root, fm) && read_token_id(j, root, "bos_token_id", &fm->bos_id) &&
         read_token_id(j, root, "eos_token_id", &fm->eos_id) &&
         fe_json_bool(j, root, "$", "tie_word_embeddings", FE_OPTIONAL, &fm->tie_embeddings);
}

/* A flag kiln cannot honour must be absent or false. */
static bool require_false(const FeJson *j, const cJSON *root, const char *key, const char *why) {
  bool v = false;
  if (!fe_json_bool(j, root, "$", key, FE_OPTIONAL, &v)) return false;
  if (!v) return true;
  char path[FE_JSON_PATH_MAX];
  fe_json_path(path, "$", key);
  return fe_json_error(j, path, "expected false (%s), found true", why);
}

/* head_dim = hidden / heads unless given; then heads must divide hidden. */
static bool derive_head_dim(const FeJson *j, FeModel *fm, const char *heads_path,
                            const char *hidden_path) {
  if (fm->head_dim) return true;
  if (fm->hidden % fm->heads != 0)
    return fe_json_error(j, heads_path, "expected a divisor of %s (%lld), found %lld", hidden_path,
                         (long long)fm->hidden, (long long)fm->heads);
  fm->head_dim = fm->hidden / fm->heads;
  return true;
}

/* ---- Llama, Mistral, Qwen2, Mixtral ----------------------------------- */

/* What sets the Llama-like families apart. */
typedef struct {
  double rms_eps, rope_theta; /* the config class's defaults */
  int64_t max_pos;
  bool reads_bias_flags; /* Llama: attention_bias, mlp_bias */
  bool qkv_bias;         /* Qwen2: q/k/v always have biases */
  bool sliding_window;   /* Mistral, Mixtral: sliding_window (or null) */
  bool qwen2_window;     /* Qwen2: use_sliding_window, max_window_layers */
  bool moe;              /* Mixtral */
} LlamaLike;

static const FeModelPaths llama_paths = {
    .vocab = "$.vocab_size",
    .hidden = "$.hidden_size",
    .layers = "$.num_hidden_layers",
    .heads = "$.num_attention_heads",
    .kv_heads = "$.num_key_value_heads",
    .head_dim = "$.head_dim",
    .intermediate = "$.intermediate_size",
    .max_pos = "$.max_position_embeddings",
    .norm_eps = "$.rms_norm_eps",
    .rope_theta = "$.rope_theta",
    .rope_factor = "$.rope_scaling.factor",
    .rope_low_freq = "$.rope_scaling.low_freq_factor",
    .rope_high_freq = "$.rope_scaling.high_freq_factor",
    .rope_orig_max_pos = "$.rope_scaling.original_max_position_embeddings",
    .sliding_window = "$.sliding_window",
    .experts = "$.num_local_experts",
    .experts_per_tok = "$.num_experts_per_tok",
};

static const FeNames llama_names = {
    .embed = "model.embed_tokens.weight",
    .attn_norm_w = "model.layers.%d.input_layernorm.weight",
    .q = "model.layers.%d.self_attn.q_proj.weight",
    .k = "model.layers.%d.self_attn.k_proj.weight",
    .v = "model.layers.%d.self_attn.v_proj.weight",
    .o = "model.layers.%d.self_attn.o_proj.weight",
    .mlp_norm_w = "model.layers.%d.post_attention_layernorm.weight",
    .gate = "model.layers.%d.mlp.gate_proj.weight",
    .up = "model.layers.%d.mlp.up_proj.weight",
    .down = "model.layers.%d.mlp.down_proj.weight",
    .final_norm_w = "model.norm.weight",
    .lm_head = "lm_head.weight",
};

static void llama_qkv_bias_names(FeNames *n) {
  n->q_b = "model.layers.%d.self_attn.q_proj.bias";
  n->k_b = "model.layers.%d.self_attn.k_proj.bias";
  n->v_b = "model.layers.%d.self_attn.v_proj.bias";
}

/* Mixtral's sparse MoE block: w1 gate, w3 up, w2 down for each expert. */
static void mixtral_moe_names(FeNames *n) {
  n->gate = n->up = n->down = NULL;
  n->router = "model.layers.%d.block_sparse_moe.gate.weight";
  n->expert_gate = "model.layers.%d.block_sparse_moe.experts.%d.w1.weight";
  n->expert_up = "model.layers.%d.block_sparse_moe.experts.%d.w3.weight";
  n->expert_down = "model.layers.%d.block_sparse_moe.experts.%d.w2.weight";
}

static bool read_llama_dims(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p) {
  if (!fe_json_int(j, root, "$", "vocab_size", FE_REQUIRED, 1, FE_DIM_MAX, &fm->vocab) ||
      !fe_json_int(j, root, "$", "hidden_size", FE_REQUIRED, 1, FE_DIM_MAX, &fm->hidden) ||
      !fe_json_int(j, root, "$", "num_hidden_layers", FE_REQUIRED, 1, FE_DIM_MAX, &fm->layers) ||
      !fe_json_int(j, root, "$", "num_attention_heads", FE_REQUIRED, 1, FE_DIM_MAX, &fm->heads) ||
      !fe_json_int(j, root, "$", "intermediate_size", FE_REQUIRED, 1, FE_DIM_MAX,
                   &fm->intermediate) ||
      !fe_json_int(j, root, "$", "max_position_embeddings", FE_OPTIONAL, 1, FE_DIM_MAX,
                   &fm->max_pos) ||
      !fe_json_int(j, root, "$", "head_dim", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->head_dim))
    return false;
  fm->kv_heads = fm->heads;
  if (!fe_json_int(j, root, "$", "num_key_value_heads", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->kv_heads))
    return false;
  if (!fm->head_dim) p->head_dim = p->heads; /* derived: the heads are to blame */
  return derive_head_dim(j, fm, p->heads, p->hidden);
}

/* rope_scaling: null, or {"rope_type" (or "type"): "linear"|"llama3", ...}. */
static bool read_rope_scaling(const FeJson *j, const cJSON *root, FeModel *fm) {
  static const char *const types[] = {"default", "linear", "llama3", NULL};
  static const FeRopeScaling kinds[] = {FE_ROPE_SCALE_NONE, FE_ROPE_SCALE_LINEAR,
                                        FE_ROPE_SCALE_LLAMA3};
  const char *P = "$.rope_scaling";
  const cJSON *rs;
  if (!fe_json_obj(j, root, "$", "rope_scaling", FE_OPTIONAL, &rs)) return false;
  if (!rs) return true;
  const char *key = cJSON_HasObjectItem(rs, "type") && !cJSON_HasObjectItem(rs, "rope_type")
                        ? "type"
                        : "rope_type";
  int t = 0;
  if (!fe_json_enum(j, rs, P, key, FE_REQUIRED, types, &t)) return false;
  fm->rope_scaling = kinds[t];
  if (fm->rope_scaling == FE_ROPE_SCALE_NONE) return true;
  if (!fe_json_num(j, rs, P, "factor", FE_REQUIRED, true, &fm->rope_factor)) return false;
  if (fm->rope_scaling != FE_ROPE_SCALE_LLAMA3) return true;
  return fe_json_num(j, rs, P, "low_freq_factor", FE_REQUIRED, true, &fm->rope_low_freq) &&
         fe_json_num(j, rs, P, "high_freq_factor", FE_REQUIRED, true, &fm->rope_high_freq) &&
         fe_json_int(j, rs, P, "original_max_position_embeddings", FE_REQUIRED, 1, FE_DIM_MAX,
                     &fm->rope_orig_max_pos);
}

/* Qwen2 applies its window only from layer max_window_layers on, and only
 * with use_sliding_window; kiln has one window for all layers. */
static bool read_qwen2_window(const FeJson *j, const cJSON *root, FeModel *fm) {
  bool use = false;
  int64_t window = 0, from = fm->layers;
  if (!fe_json_bool(j, root, "$", "use_sliding_window", FE_OPTIONAL, &use)) return false;
  if (!use) return true;
  if (!fe_json_int(j, root, "$", "sliding_window", FE_REQUIRED, 1, FE_DIM_MAX, &window) ||
      !fe_json_int(j, root, "$", "max_window_layers", FE_OPTIONAL, 0, FE_DIM_MAX, &from))
    return false;
  if (from >= fm->layers) return true; /* no layer uses it */
  if (from != 0)
    return fe_json_error(j, "$.max_window_layers",
                         "expected 0 or at least $.num_hidden_layers (%lld): kiln applies one "
                         "sliding window to all layers or none, found %lld",
                         (long long)fm->layers, (long long)from);
  fm->sliding_window = window;
  return true;
}

static bool read_llama_options(const FeJson *j, const cJSON *root, const LlamaLike *ll,
                               FeModel *fm) {
  static const char *const acts[] = {"silu", "swish", NULL};
  int act = 0;
  fm->norm_eps = ll->rms_eps;
  fm->rope_theta = ll->rope_theta;
  if (!fe_json_enum(j, root, "$", "hidden_act", FE_OPTIONAL, acts, &act) ||
      !fe_json_num(j, root, "$", "rms_norm_eps", FE_OPTIONAL, true, &fm->norm_eps) ||
      !fe_json_num(j, root, "$", "rope_theta", FE_OPTIONAL, true, &fm->rope_theta) ||
      !read_rope_scaling(j, root, fm))
    return false;
  if (ll->sliding_window &&
      !fe_json_int(j, root, "$", "sliding_window", FE_OPTIONAL, 0, FE_DIM_MAX,
                   &fm->sliding_window))
    return false;
  if (ll->qwen2_window && !read_qwen2_window(j, root, fm)) return false;
  if (ll->moe) {
    fm->mlp = FE_MLP_MOE;
    fm->experts = 8;
    fm->experts_per_tok = 2;
    fm->moe_renormalize = true; /* Mixtral: softmax over the chosen experts' logits */
    if (!fe_json_int(j, root, "$", "num_local_experts", FE_OPTIONAL, 1, FE_DIM_MAX,
                     &fm->experts) ||
        !fe_json_int(j, root, "$", "num_experts_per_tok", FE_OPTIONAL, 1, FE_DIM_MAX,
                     &fm->experts_per_tok))
      return false;
  }
  return true;
}

static bool read_llama_like(const FeJson *j, const cJSON *root, const LlamaLike *ll,
                            FeModel *fm, FeModelPaths *p) {
  *p = llama_paths;
  fm->max_pos = ll->max_pos;
  if (!read_llama_dims(j, root, fm, p) || !read_llama_options(j, root, ll, fm) ||
      !read_common(j, root, fm))
    return false;
  fm->names = llama_names;
  bool attn_bias = ll->qkv_bias;
  if (ll->reads_bias_flags) {
    if (!fe_json_bool(j, root, "$", "attention_bias", FE_OPTIONAL, &attn_bias) ||
        !require_false(j, root, "mlp_bias", "kiln supports no biases in the SwiGLU MLP"))
      return false;
    if (attn_bias) fm->names.o_b = "model.layers.%d.self_attn.o_proj.bias";
  }
  if (attn_bias) llama_qkv_bias_names(&fm->names);
  if (ll->moe) mixtral_moe_names(&fm->names);
  if (fm->tie_embeddings) fm->names.lm_head = NULL;
  return true;
}

static bool read_llama(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p) {
  static const LlamaLike ll = {.rms_eps = 1e-6, .rope_theta = 10000.0, .max_pos = 2048,
                               .reads_bias_flags = true};
  return read_llama_like(j, root, &ll, fm, p);
}

static bool read_mistral(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p) {
  static const LlamaLike ll = {.rms_eps = 1e-6, .rope_theta = 10000.0, .max_pos = 131072,
                               .sliding_window = true};
  return read_llama_like(j, root, &ll, fm, p);
}

static bool read_qwen2(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p) {
  static const LlamaLike ll = {.rms_eps = 1e-6, .rope_theta = 10000.0, .max_pos = 32768,
                               .qkv_bias = true, .qwen2_window = true};
  return read_llama_like(j, root, &ll, fm, p);
}

static bool read_mixtral(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p) {
  static const LlamaLike ll = {.rms_eps = 1e-5, .rope_theta = 1e6, .max_pos = 131072,
                               .sliding_window = true, .moe = true};
  return read_llama_like(j, root, &ll, fm, p);
}

/* ---- GPT-2 ------------------------------------------------------------ */

static const FeModelPaths gpt2_paths = {
    .vocab = "$.vocab_size",
    .hidden = "$.n_embd",
    .layers = "$.n_layer",
    .heads = "$.n_head",
    .kv_heads = "$.n_head",
    .head_dim = "$.n_head",
    .intermediate = "$.n_inner",
    .max_pos = "$.n_positions",
    .norm_eps = "$.layer_norm_epsilon",
};

/* OpenAI's checkpoint names; transformers' save_pretrained adds
 * "transformer." (alt_prefix). Conv1D weights are [in, out]. The
 * per-layer attn.bias buffers some checkpoints hold are a causal mask,
 * not parameters. */
static const FeNames gpt2_names = {
    .embed = "wte.weight",
    .pos_embed = "wpe.weight",
    .attn_norm_w = "h.%d.ln_1.weight",
    .attn_norm_b = "h.%d.ln_1.bias",
    .qkv = "h.%d.attn.c_attn.weight",
    .qkv_b = "h.%d.attn.c_attn.bias",
    .o = "h.%d.attn.c_proj.weight",
    .o_b = "h.%d.attn.c_proj.bias",
    .mlp_norm_w = "h.%d.ln_2.weight",
    .mlp_norm_b = "h.%d.ln_2.bias",
    .up = "h.%d.mlp.c_fc.weight",
    .up_b = "h.%d.mlp.c_fc.bias",
    .down = "h.%d.mlp.c_proj.weight",
    .down_b = "h.%d.mlp.c_proj.bias",
    .final_norm_w = "ln_f.weight",
    .final_norm_b = "ln_f.bias",
    .linear_in_out = true,
    .alt_prefix = "transformer.",
};

static bool read_gpt2_dims(const FeJson *j, const cJSON *root, FeModel *fm) {
  fm->max_pos = 1024;
  if (!fe_json_int(j, root, "$", "vocab_size", FE_REQUIRED, 1, FE_DIM_MAX, &fm->vocab) ||
      !fe_json_int(j, root, "$", "n_embd", FE_REQUIRED, 1, FE_DIM_MAX, &fm->hidden) ||
      !fe_json_int(j, root, "$", "n_layer", FE_REQUIRED, 1, FE_DIM_MAX, &fm->layers) ||
      !fe_json_int(j, root, "$", "n_head", FE_REQUIRED, 1, FE_DIM_MAX, &fm->heads) ||
      !fe_json_int(j, root, "$", "n_positions", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->max_pos))
    return false;
  fm->intermediate = 4 * fm->hidden; /* n_inner: null */
  if (!fe_json_int(j, root, "$", "n_inner", FE_OPTIONAL, 1, FE_DIM_MAX, &fm->intermediate))
    return false;
  fm->kv_heads = fm->heads;
  return derive_head_dim(j, fm, "$.n_head", "$.n_embd");
}

static bool read_gpt2_options(const FeJson *j, const cJSON *root, FeModel *fm) {
  static const char *const acts[] = {"gelu_new", "gelu_pytorch_tanh", "gelu", NULL};
  int act = 0;
  bool scale = true;
  fm->tie_embeddings = true;
  if (!fe_json_enum(j, root, "$", "activation_function", FE_OPTIONAL, acts, &act) ||
      !fe_json_num(j, root, "$", "layer_norm_epsilon", FE_OPTIONAL, true, &fm->norm_eps) ||
      !fe_json_bool(j, root, "$", "scale_attn_weights", FE_OPTIONAL, &scale) ||
      !require_false(j, root, "scale_attn_by_inverse_layer_idx",
                     "kiln has one attention scale for all layers") ||
      !require_false(j, root, "add_cross_attention", "kiln builds decoder-only GPT-2"))
    return false;
  fm->gelu_tanh = act != 2;
  fm->attn_scale = scale ? 0.0 : 1.0;
  return read_common(j, root, fm);
}

static bool read_gpt2(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p) {
  *p = gpt2_paths;
  fm->norm = FE_NORM_LAYER;
  fm->pos = FE_POS_LEARNED;
  fm->mlp = FE_MLP_GELU;
  if (!read_gpt2_dims(j, root, fm) || !read_gpt2_options(j, root, fm)) return false;
  fm->names = gpt2_names;
  if (!fm->tie_embeddings) fm->names.lm_head = "lm_head.weight";
  return true;
}

/* ---- the architecture ------------------------------------------------- */

typedef struct {
  const char *architecture, *model_type;
  bool (*read)(const FeJson *j, const cJSON *root, FeModel *fm, FeModelPaths *p);
} HfFamily;

static const HfFamily families[] = {
    {"LlamaForCausalLM", "llama", read_llama},
    {"MistralForCausalLM", "mistral", read_mistral},
    {"Qwen2ForCausalLM", "qwen2", read_qwen2},
    {"MixtralForCausalLM", "mixtral", read_mixtral},
    {"GPT2LMHeadModel", "gpt2", read_gpt2},
};
#define NFAMILIES (sizeof families / sizeof families[0])

static bool unknown(const FeJson *j, const char *path, const char *what, const char *name) {
  char quoted[96], known[256];
  size_t n = 0;
  fe_json_quote(quoted, sizeof quoted, name);
  for (size_t i = 0; i < NFAMILIES; i++)
    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
                          families[i].architecture);
  return fe_json_error(j, path,
                       "unknown %s %s; kiln knows %s (describe other models in kiln's graph "
                       "JSON, docs/model-json.md)",
                       what, quoted, known);
}

/* architectures[0], or model_type when there is no list. */
static const HfFamily *find_family(const FeJson *j, const cJSON *root) {
  const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
  if ((!archs || cJSON_IsNull(archs)) && cJSON_IsString(type)) {
    for (size_t i = 0; i < NFAMILIES; i++)
      if (strcmp(type->valuestring, families[i].model_type) == 0) return &families[i];
    unknown(j, "$.model_type", "model type", type->valuestring);
    return NULL;
  }
  bool ok;
  archs = fe_json_field(j, root, "$", "architectures", FE_REQUIRED,
                        "a list naming the architecture", &ok);
  if (!archs) return NULL;
  if (!cJSON_IsArray(archs) || !archs->child) {
    fe_json_error(j, "$.architectures", "expected a non-empty list of architecture names, found %s",
                  cJSON_IsArray(archs) ? "an empty list" : fe_json_kind(archs));
    return NULL;
  }
  const cJSON *name = archs->child;
  if (!cJSON_IsString(name)) {
    fe_json_error(j, "$.architectures[0]", "expected an architecture name, found %s",
                  fe_json_kind(name));
    return NULL;
  }
  for (size_t i = 0; i < NFAMILIES; i++)
    if (strcmp(name->valuestring, families[i].architecture) == 0) return &families[i];
  unknown(j, "$.architectures[0]", "architecture", name->valuestring);
  return NULL;
}

bool fe_hf_from_json(const FeJson *j, const cJSON *root, IrArena *arena, FeModel *out) {
  fe_model_init(out);
  if (!cJSON_IsObject(root))
    return fe_json_error(j, "$", "expected an object, found %s", fe_json_kind(root));
  const HfFamily *fam = find_family(j, root);
  if (!fam) return false;
  out->architecture = ir_arena_strdup(arena, fam->architecture);
  out->family = ir_arena_strdup(arena, fam->model_type);
  FeModelPaths paths = {0};
  return fam->read(j, root, out, &paths) && fe_model_check(out, j, &paths);
}

bool fe_read_hf_config(const char *text, size_t len, const char *file, IrArena *arena,
                       FeModel *out, IrDiag *d) {
  FeJson j = {file, d};
  cJSON *root = fe_json_parse(&j, text, len);
  if (!root) return false;
  bool ok = fe_hf_from_json(&j, root, arena, out);
  cJSON_Delete(root);
  return ok;
}
