/* fe.h: the frontend: model directories in, IR modules out.
 *
 * Every model, whether it arrives as a Hugging Face config.json or as
 * kiln's own graph JSON, is first read into one description, FeModel:
 * which embedding, attention, MLP, norms and head it is built from, and
 * the names of its weights in the checkpoint. One builder turns any
 * FeModel into the IR module (prefill and decode entries sharing
 * parameters and the KV cache). So a new architecture is a new reader of
 * its config, or no code at all when the graph JSON can express it.
 *
 *   FeModelDir md;
 *   if (!fe_open_model_dir("models/tiny", true, &md, &d)) ...;
 *   IrModule *m = fe_build_module(&md.model, md.weights, &opts, &d);
 *   IrInterp *it = ir_interp_new(m, &d);
 *   fe_bind_weights(it, m, md.weights, &d);
 *   ...
 *   ir_module_free(m); fe_close_model_dir(&md);
 */
#ifndef KILN_FE_H
#define KILN_FE_H

#include "interp.h"
#include "ir.h"

/* ---- the model description (fe_model.c) ------------------------------ */

typedef enum { FE_NORM_RMS, FE_NORM_LAYER } FeNormKind;
typedef enum { FE_POS_ROPE, FE_POS_LEARNED, FE_POS_NONE } FePosKind;
typedef enum { FE_MLP_SWIGLU, FE_MLP_GELU, FE_MLP_MOE } FeMlpKind;
typedef enum { FE_MASK_CAUSAL, FE_MASK_NONE } FeMaskKind; /* NONE: bidirectional (encoders) */
typedef enum { FE_HEAD_LM, FE_HEAD_CLASSIFIER } FeHeadKind;
typedef enum { FE_ROPE_SCALE_NONE, FE_ROPE_SCALE_LINEAR, FE_ROPE_SCALE_LLAMA3 } FeRopeScaling;

/* Checkpoint tensor names, as printf templates: "%d" is the layer, and
 * for expert weights a second "%d" is the expert. NULL: the model has no
 * such tensor. Linear weights are [out, in] (y = x W^T) unless
 * linear_in_out is set (GPT-2's Conv1D stores [in, out]). */
typedef struct {
  const char *embed;        /* [vocab, hidden] */
  const char *pos_embed;    /* [max_pos, hidden], learned positions */
  const char *attn_norm_w, *attn_norm_b;
  const char *q, *k, *v, *o;             /* separate projections */
  const char *q_b, *k_b, *v_b, *o_b;     /* their biases */
  const char *qkv, *qkv_b;               /* fused q|k|v (GPT-2 c_attn) */
  const char *mlp_norm_w, *mlp_norm_b;
  const char *gate, *up, *down;          /* SwiGLU: down(silu(gate x) * up x) */
  const char *up_b, *down_b;             /* GELU MLP: down(gelu(up x + b) ) + b */
  const char *router;                    /* MoE: [experts, hidden] */
  const char *expert_gate, *expert_up, *expert_down; /* "%d" layer, "%d" expert */
  const char *final_norm_w, *final_norm_b;
  const char *lm_head;                   /* NULL with tied embeddings */
  const char *cls_w, *cls_b;             /* classification head */
  bool linear_in_out;
  /* Some checkpoints of a family put this prefix before every name above
   * but lm_head (GPT-2 saved by transformers: "transformer.h.0.attn.c_attn.weight",
   * where OpenAI's own has "h.0.attn.c_attn.weight"). The builder uses the
   * prefixed names when the checkpoint holds alt_prefix + embed. NULL: none. */
  const char *alt_prefix;
} FeNames;

typedef struct {
  const char *architecture; /* "LlamaForCausalLM", ..., or "kiln" for graph JSON */
  const char *family;       /* "llama", "mistral", "qwen2", "mixtral", "gpt2", "graph" */
  int64_t vocab, hidden, layers, heads, kv_heads, head_dim, intermediate, max_pos;

  FeNormKind norm;
  double norm_eps;
  bool pre_norm;           /* true: x + f(norm(x)); false: norm(x + f(x)) */
  bool final_norm;

  FePosKind pos;
  double rope_theta;
  bool rope_interleaved;   /* pairing "interleaved" instead of "half" */
  int64_t rotary_dim;      /* 0: head_dim */
  FeRopeScaling rope_scaling;
  double rope_factor, rope_low_freq, rope_high_freq;
  int64_t rope_orig_max_pos;

  FeMaskKind mask;
  int64_t sliding_window;  /* 0: none */
  double attn_scale;       /* 0: 1/sqrt(head_dim) */

  FeMlpKind mlp;
  bool gelu_tanh;          /* gelu approximation "tanh" (gelu_new) */
  int64_t experts, experts_per_tok;
  bool moe_renormalize;    /* renormalize the top-k weights to sum 1 */

  bool tie_embeddings;
  FeHeadKind head;
  int64_t num_labels;      /* classification head */

  IrDType weight_dtype;    /* from torch_dtype; the checkpoint's own wins */
  int64_t bos_id, eos_id;  /* -1 when unknown */
  FeNames names;
} FeModel;

/* Checks the description for consistency (heads divide hidden unless
 * head_dim is explicit, kv_heads divide heads, positive sizes, products
 * that fit in int64, ...). `where` names the source in messages. */
bool fe_model_validate(const FeModel *fm, const char *where, IrDiag *d);

/* ---- config readers (fe_config_hf.c, fe_config_graph.c) -------------- */

/* Hugging Face config.json text -> FeModel. Strings point into `arena`.
 * Errors name the file and the JSON path: "config.json: error: at
 * $.num_attention_heads: expected a positive integer, found -3". An
 * unknown architecture names it and lists the known ones. */
bool fe_read_hf_config(const char *text, size_t len, const char *file, IrArena *arena,
                       FeModel *out, IrDiag *d);
/* kiln's own graph JSON (docs/model-json.md) -> FeModel. */
bool fe_read_graph_json(const char *text, size_t len, const char *file, IrArena *arena,
                        FeModel *out, IrDiag *d);
/* Either of the two, told apart by content ("kiln_graph" key). */
bool fe_read_config(const char *text, size_t len, const char *file, IrArena *arena,
                    FeModel *out, IrDiag *d);

/* ---- safetensors (fe_safetensors.c) ---------------------------------- */

typedef struct {
  const char *name;
  IrDType dtype;      /* F32, F16, BF16, I8 (U8 reads as I8 with a flag) */
  bool is_unsigned;
  int rank;
  int64_t shape[IR_MAX_RANK];
  const void *data;   /* inside the mapping, little-endian */
  size_t nbytes;
  const char *file;   /* the shard it lives in */
} FeTensor;

typedef struct FeWeights FeWeights;

/* Opens model.safetensors, or model.safetensors.index.json and its
 * shards, or a single .safetensors file; mmaps and validates strictly
 * (header length within the file and below a sane bound, JSON, known
 * dtypes, byte ranges = numel x dtype size, inside the data area, not
 * overlapping). */
FeWeights *fe_weights_open(const char *path, IrDiag *d);
void fe_weights_close(FeWeights *w);
int fe_weights_count(const FeWeights *w);
const FeTensor *fe_weights_at(const FeWeights *w, int i);
const FeTensor *fe_weights_find(const FeWeights *w, const char *name);
/* What was opened, for messages: "model.safetensors", or the index file. */
const char *fe_weights_name(const FeWeights *w);
/* "BF16[64, 128]" (safetensors dtype names) into buf; returns buf. */
const char *fe_tensor_describe(const FeTensor *t, char *buf, size_t n);

/* ---- model directories (fe_model_dir.c) ------------------------------ */

typedef struct {
  IrArena arena;        /* owns strings of `model` */
  char *dir;
  FeModel model;
  FeWeights *weights;   /* NULL when opened without weights or none exist */
  char *weights_path;   /* the checkpoint found (model.safetensors or its
                         * index), opened or not; NULL if there is none */
  char *tokenizer_path; /* tokenizer.json if present, else NULL */
} FeModelDir;

/* `path` is a directory holding config.json (or a kiln graph JSON file
 * path). With load_weights, the weights must be there. */
bool fe_open_model_dir(const char *path, bool load_weights, FeModelDir *out, IrDiag *d);
void fe_close_model_dir(FeModelDir *md);

/* ---- the builder (fe_build.c) ---------------------------------------- */

typedef struct {
  int64_t max_context; /* KV cache positions; 0: the model's max_pos */
  bool all_logits;     /* prefill returns [T, vocab] instead of the last row */
} FeBuildOptions;

/* Builds module @<family> with symbols T and P (both <= max_context),
 * parameters named exactly as the checkpoint names them (dtype from the
 * checkpoint when `weights` is given, else fm->weight_dtype), KV-cache
 * states @kv.<layer>.k and @kv.<layer>.v of f32[kv_heads, max_context,
 * head_dim], and entries:
 *   func @prefill(%tokens: i32[T]) -> f32[1, vocab]   (or [T, vocab])
 *   func @decode(%token: i32[1]) -> f32[1, vocab]
 * both starting at position P. Attention is plain ops (matmul, scale,
 * causal_mask, softmax, matmul; GQA by the broadcast matmul) so the
 * attention pass has a pattern to rewrite. Encoder-only models get one
 * entry @forward(%tokens: i32[T]) with no KV cache. */
IrModule *fe_build_module(const FeModel *fm, const FeWeights *weights, const FeBuildOptions *opt,
                          IrDiag *d);

/* Checks that every parameter of m is in w with the declared shape and
 * dtype (missing and unexpected tensors reported by name), converts and
 * binds them to the interpreter. */
bool fe_check_weights(const IrModule *m, const FeWeights *w, IrDiag *d);
bool fe_bind_weights(IrInterp *it, const IrModule *m, const FeWeights *w, IrDiag *d);

#endif
