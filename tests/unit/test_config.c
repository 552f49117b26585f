/* test_config.c: config readers: every Hugging Face family, kiln's graph
 * JSON, model directories, and every class of bad input with its exact
 * message (file, JSON path, what was expected, what was found). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fe.h"
#include "fe_json.h"

#define HF_DIR KILN_TEST_DATA "/hf_configs/"
#define SAMPLES KILN_TEST_DATA "/../../samples/"

/* ---- helpers ---- */

/* Reads a config (either format) from text; d gets the error. */
static bool read_text(const char *json, IrArena *a, FeModel *fm, IrDiag *d) {
  *d = (IrDiag){0};
  return fe_read_config(json, strlen(json), "cfg.json", a, fm, d);
}

/* The text must fail with exactly `want`. */
static void expect_error_at(const char *json, const char *want, int line) {
  IrArena a = {0};
  FeModel fm;
  IrDiag d;
  bool ok = read_text(json, &a, &fm, &d);
  CHECK(!ok);
  if (ok || strcmp(d.msg, want) != 0)
    fprintf(stderr, "test_config.c:%d:\n  got  %s\n  want %s\n", line, ok ? "(success)" : d.msg,
            want);
  CHECK(strcmp(d.msg, want) == 0);
  ir_arena_free(&a);
}
#define EXPECT_ERROR(json, want) expect_error_at(json, want, __LINE__)

/* Opens a model directory without weights; NULL model on failure. */
static bool open_dir(const char *path, FeModelDir *md) {
  IrDiag d = {0};
  bool ok = fe_open_model_dir(path, false, md, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", path, d.msg);
  return ok;
}

static bool str_eq(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* ---- Hugging Face families ---- */

static void test_llama2(void) {
  FeModelDir md;
  CHECK(open_dir(HF_DIR "llama-2-7b", &md));
  const FeModel *m = &md.model;
  CHECK(str_eq(m->architecture, "LlamaForCausalLM"));
  CHECK(str_eq(m->family, "llama"));
  CHECK(m->vocab == 32000 && m->hidden == 4096 && m->layers == 32 && m->intermediate == 11008);
  CHECK(m->heads == 32 && m->kv_heads == 32 && m->head_dim == 128 && m->max_pos == 4096);
  CHECK(m->norm == FE_NORM_RMS && m->pre_norm && m->final_norm);
  CHECK_NEAR(m->norm_eps, 1e-5, 0);
  CHECK(m->pos == FE_POS_ROPE && m->rope_scaling == FE_ROPE_SCALE_NONE);
  CHECK_NEAR(m->rope_theta, 10000.0, 0);
  CHECK(m->mlp == FE_MLP_SWIGLU && m->mask == FE_MASK_CAUSAL && m->sliding_window == 0);
  CHECK(!m->tie_embeddings && m->head == FE_HEAD_LM);
  CHECK(m->weight_dtype == IR_F16 && m->bos_id == 1 && m->eos_id == 2);
  const FeNames *n = &m->names;
  CHECK(str_eq(n->embed, "model.embed_tokens.weight"));
  CHECK(str_eq(n->attn_norm_w, "model.layers.%d.input_layernorm.weight"));
  CHECK(str_eq(n->q, "model.layers.%d.self_attn.q_proj.weight"));
  CHECK(str_eq(n->k, "model.layers.%d.self_attn.k_proj.weight"));
  CHECK(str_eq(n->v, "model.layers.%d.self_attn.v_proj.weight"));
  CHECK(str_eq(n->o, "model.layers.%d.self_attn.o_proj.weight"));
  CHECK(str_eq(n->mlp_norm_w, "model.layers.%d.post_attention_layernorm.weight"));
  CHECK(str_eq(n->gate, "model.layers.%d.mlp.gate_proj.weight"));
  CHECK(str_eq(n->up, "model.layers.%d.mlp.up_proj.weight"));
  CHECK(str_eq(n->down, "model.layers.%d.mlp.down_proj.weight"));
  CHECK(str_eq(n->final_norm_w, "model.norm.weight"));
  CHECK(str_eq(n->lm_head, "lm_head.weight"));
  CHECK(!n->q_b && !n->k_b && !n->v_b && !n->o_b && !n->qkv && !n->linear_in_out);
  CHECK(!n->alt_prefix && !n->pos_embed && !n->attn_norm_b);
  fe_close_model_dir(&md);
}

static void test_llama3(void) {
  FeModelDir md;
  CHECK(open_dir(HF_DIR "llama-3-8b", &md));
  CHECK(md.model.kv_heads == 8 && md.model.vocab == 128256 && md.model.head_dim == 128);
  CHECK_NEAR(md.model.rope_theta, 500000.0, 0);
  CHECK(md.model.weight_dtype == IR_BF16 && md.model.eos_id == 128001);
  fe_close_model_dir(&md);

  /* 3.2: explicit head_dim, llama3 rope scaling, tied embeddings */
  CHECK(open_dir(HF_DIR "llama-3.2-1b", &md));
  const FeModel *m = &md.model;
  CHECK(m->head_dim == 64 && m->heads == 32 && m->kv_heads == 8 && m->max_pos == 131072);
  CHECK(m->rope_scaling == FE_ROPE_SCALE_LLAMA3);
  CHECK_NEAR(m->rope_factor, 32.0, 0);
  CHECK_NEAR(m->rope_low_freq, 1.0, 0);
  CHECK_NEAR(m->rope_high_freq, 4.0, 0);
  CHECK(m->rope_orig_max_pos == 8192);
  CHECK(m->tie_embeddings && m->names.lm_head == NULL);
  fe_close_model_dir(&md);
}

static void test_small_llamas(void) {
  FeModelDir md;
  CHECK(open_dir(HF_DIR "tinyllama-1.1b", &md));
  CHECK(md.model.heads == 32 && md.model.kv_heads == 4 && md.model.head_dim == 64);
  CHECK(md.model.layers == 22 && !md.model.tie_embeddings);
  fe_close_model_dir(&md);
  CHECK(open_dir(HF_DIR "smollm-135m", &md));
  CHECK(md.model.heads == 9 && md.model.kv_heads == 3 && md.model.head_dim == 64);
  CHECK(md.model.tie_embeddings && md.model.bos_id == 0 && md.model.eos_id == 0);
  fe_close_model_dir(&md);
}

static void test_mistral_qwen2(void) {
  FeModelDir md;
  CHECK(open_dir(HF_DIR "mistral-7b", &md));
  CHECK(str_eq(md.model.architecture, "MistralForCausalLM") && str_eq(md.model.family, "mistral"));
  CHECK(md.model.sliding_window == 4096 && md.model.max_pos == 32768);
  CHECK(md.model.names.q_b == NULL);
  fe_close_model_dir(&md);

  CHECK(open_dir(HF_DIR "qwen2-0.5b", &md));
  const FeModel *m = &md.model;
  CHECK(str_eq(m->architecture, "Qwen2ForCausalLM") && str_eq(m->family, "qwen2"));
  CHECK(m->heads == 14 && m->kv_heads == 2 && m->head_dim == 64);
  CHECK_NEAR(m->norm_eps, 1e-6, 0);
  CHECK(m->sliding_window == 0); /* use_sliding_window: false */
  CHECK(str_eq(m->names.q_b, "model.layers.%d.self_attn.q_proj.bias"));
  CHECK(str_eq(m->names.k_b, "model.layers.%d.self_attn.k_proj.bias"));
  CHECK(str_eq(m->names.v_b, "model.layers.%d.self_attn.v_proj.bias"));
  CHECK(m->names.o_b == NULL && m->tie_embeddings && m->names.lm_head == NULL);
  fe_close_model_dir(&md);
}

static void test_mixtral(void) {
  FeModelDir md;
  CHECK(open_dir(HF_DIR "mixtral-8x7b", &md));
  const FeModel *m = &md.model;
  CHECK(str_eq(m->family, "mixtral") && m->mlp == FE_MLP_MOE);
  CHECK(m->experts == 8 && m->experts_per_tok == 2 && m->moe_renormalize);
  CHECK(m->sliding_window == 0); /* null */
  CHECK_NEAR(m->rope_theta, 1e6, 0);
  const FeNames *n = &m->names;
  CHECK(n->gate == NULL && n->up == NULL && n->down == NULL);
  CHECK(str_eq(n->router, "model.layers.%d.block_sparse_moe.gate.weight"));
  CHECK(str_eq(n->expert_gate, "model.layers.%d.block_sparse_moe.experts.%d.w1.weight"));
  CHECK(str_eq(n->expert_up, "model.layers.%d.block_sparse_moe.experts.%d.w3.weight"));
  CHECK(str_eq(n->expert_down, "model.layers.%d.block_sparse_moe.experts.%d.w2.weight"));
  fe_close_model_dir(&md);
}

static void test_gpt2(void) {
  FeModelDir md;
  CHECK(open_dir(HF_DIR "gpt2", &md));
  const FeModel *m = &md.model;
  CHECK(str_eq(m->architecture, "GPT2LMHeadModel") && str_eq(m->family, "gpt2"));
  CHECK(m->vocab == 50257 && m->hidden == 768 && m->layers == 12 && m->heads == 12);
  CHECK(m->kv_heads == 12 && m->head_dim == 64 && m->intermediate == 3072 && m->max_pos == 1024);
  CHECK(m->norm == FE_NORM_LAYER && m->pos == FE_POS_LEARNED && m->mlp == FE_MLP_GELU);
  CHECK(m->gelu_tanh && m->tie_embeddings && m->attn_scale == 0.0);
  CHECK(m->weight_dtype == IR_F32 && m->bos_id == 50256);
  const FeNames *n = &m->names;
  CHECK(str_eq(n->embed, "wte.weight") && str_eq(n->pos_embed, "wpe.weight"));
  CHECK(str_eq(n->qkv, "h.%d.attn.c_attn.weight") && str_eq(n->qkv_b, "h.%d.attn.c_attn.bias"));
  CHECK(str_eq(n->o, "h.%d.attn.c_proj.weight") && str_eq(n->o_b, "h.%d.attn.c_proj.bias"));
  CHECK(str_eq(n->up, "h.%d.mlp.c_fc.weight") && str_eq(n->down_b, "h.%d.mlp.c_proj.bias"));
  CHECK(str_eq(n->attn_norm_b, "h.%d.ln_1.bias") && str_eq(n->final_norm_b, "ln_f.bias"));
  CHECK(n->q == NULL && n->gate == NULL && n->lm_head == NULL);
  CHECK(n->linear_in_out && str_eq(n->alt_prefix, "transformer."));
  fe_close_model_dir(&md);
}

/* Options the real configs above do not exercise. */
static void test_hf_options(void) {
  IrArena a = {0};
  FeModel m;
  IrDiag d;
  CHECK(read_text("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 64, "
                  "\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                  "\"intermediate_size\": 64, \"attention_bias\": true, \"head_dim\": null, "
                  "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, "
                  "\"eos_token_id\": [7, 8], \"dtype\": \"bfloat16\"}",
                  &a, &m, &d));
  CHECK(m.head_dim == 8 && m.max_pos == 2048); /* LlamaConfig's default context */
  CHECK(m.rope_scaling == FE_ROPE_SCALE_LINEAR);
  CHECK_NEAR(m.rope_factor, 2.0, 0);
  CHECK(m.eos_id == 7 && m.bos_id == -1 && m.weight_dtype == IR_BF16);
  CHECK(str_eq(m.names.o_b, "model.layers.%d.self_attn.o_proj.bias") && m.names.q_b != NULL);
  ir_arena_free(&a);

  /* no architectures: model_type decides */
  CHECK(read_text("{\"model_type\": \"gpt2\", \"vocab_size\": 50, \"n_embd\": 16, \"n_layer\": 1, "
                  "\"n_head\": 2, \"activation_function\": \"gelu\", "
                  "\"scale_attn_weights\": false, "
                  "\"tie_word_embeddings\": false, \"n_inner\": 40}",
                  &a, &m, &d));
  CHECK(str_eq(m.architecture, "GPT2LMHeadModel") && !m.gelu_tanh && m.attn_scale == 1.0);
  CHECK(m.intermediate == 40 && str_eq(m.names.lm_head, "lm_head.weight") && m.max_pos == 1024);
  ir_arena_free(&a);

  /* Qwen2 with a window over every layer */
  CHECK(read_text("{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 64, "
                  "\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                  "\"intermediate_size\": 64, \"use_sliding_window\": true, "
                  "\"sliding_window\": 16, \"max_window_layers\": 0}",
                  &a, &m, &d));
  CHECK(m.sliding_window == 16);
  ir_arena_free(&a);
}

/* ---- graph JSON ---- */

static void test_samples(void) {
  FeModelDir md;
  CHECK(open_dir(SAMPLES "tiny-llama.json", &md));
  const FeModel *m = &md.model;
  CHECK(str_eq(m->architecture, "kiln") && str_eq(m->family, "graph"));
  CHECK(m->vocab == 256 && m->hidden == 64 && m->layers == 2 && m->max_pos == 128);
  CHECK(m->heads == 4 && m->kv_heads == 2 && m->head_dim == 16 && m->intermediate == 176);
  CHECK(m->pos == FE_POS_ROPE && m->mlp == FE_MLP_SWIGLU && m->tie_embeddings);
  CHECK(m->bos_id == 1 && m->eos_id == 2 && !m->rope_interleaved);
  CHECK(str_eq(m->names.q, "layers.%d.attn.q.weight") && m->names.lm_head == NULL);
  CHECK(md.weights_path == NULL && md.weights == NULL);
  fe_close_model_dir(&md);

  CHECK(open_dir(SAMPLES "tiny-gpt2-postnorm.json", &md));
  CHECK(!md.model.pre_norm && !md.model.final_norm && md.model.norm == FE_NORM_LAYER);
  CHECK(str_eq(md.model.names.q_b, "layers.%d.attn.q.bias"));
  CHECK(str_eq(md.model.names.lm_head, "lm_head.weight"));
  fe_close_model_dir(&md);

  CHECK(open_dir(SAMPLES "tiny-moe.json", &md));
  CHECK(md.model.mlp == FE_MLP_MOE && md.model.experts == 4 && md.model.experts_per_tok == 2);
  CHECK(md.model.sliding_window == 64 && md.model.weight_dtype == IR_BF16);
  CHECK(str_eq(md.model.names.expert_up, "layers.%d.moe.experts.%d.up.weight"));
  fe_close_model_dir(&md);

  CHECK(open_dir(SAMPLES "tiny-bert-classifier.json", &md));
  m = &md.model;
  CHECK(m->mask == FE_MASK_NONE && m->head == FE_HEAD_CLASSIFIER && m->num_labels == 3);
  CHECK(!m->pre_norm && !m->final_norm && !m->gelu_tanh && m->pos == FE_POS_LEARNED);
  CHECK(str_eq(m->names.cls_w, "classifier.weight") && str_eq(m->names.cls_b, "classifier.bias"));
  fe_close_model_dir(&md);
}

/* Prints the module built from a model without weights. */
static char *built_ir(const FeModel *m) {
  IrDiag d = {0};
  FeBuildOptions opt = {.max_context = 32};
  IrModule *mod = fe_build_module(m, NULL, &opt, &d);
  if (!mod) {
    fprintf(stderr, "build: %s\n", d.msg);
    return NULL;
  }
  IrBuf b = {0};
  ir_print_module(&b, mod);
  ir_module_free(mod);
  return b.data;
}

/* The graph JSON expresses GPT-2 exactly: the same module, op for op and
 * name for name, as the GPT-2 reader's (only the module's name differs). */
static void test_graph_equals_gpt2(void) {
  const char *graph =
      "{\"kiln_graph\": 1, \"vocab\": 80, \"hidden\": 32, \"layers\": 2, \"max_positions\": 64,"
      " \"linear_layout\": \"in_out\", \"embedding\": {\"positions\": \"learned\"},"
      " \"attention\": {\"heads\": 4, \"fused_qkv\": true, \"qkv_bias\": true, \"out_bias\": true},"
      " \"mlp\": {\"kind\": \"gelu\", \"approximate\": \"tanh\", \"intermediate\": 128,"
      "  \"bias\": true},"
      " \"norm\": {\"kind\": \"layer\", \"eps\": 1e-5},"
      " \"head\": {\"kind\": \"lm\", \"tied\": true},"
      " \"weights\": {\"embed\": \"wte.weight\", \"pos_embed\": \"wpe.weight\","
      "  \"attn_norm_w\": \"h.%d.ln_1.weight\", \"attn_norm_b\": \"h.%d.ln_1.bias\","
      "  \"qkv\": \"h.%d.attn.c_attn.weight\", \"qkv_b\": \"h.%d.attn.c_attn.bias\","
      "  \"o\": \"h.%d.attn.c_proj.weight\", \"o_b\": \"h.%d.attn.c_proj.bias\","
      "  \"mlp_norm_w\": \"h.%d.ln_2.weight\", \"mlp_norm_b\": \"h.%d.ln_2.bias\","
      "  \"up\": \"h.%d.mlp.c_fc.weight\", \"up_b\": \"h.%d.mlp.c_fc.bias\","
      "  \"down\": \"h.%d.mlp.c_proj.weight\", \"down_b\": \"h.%d.mlp.c_proj.bias\","
      "  \"final_norm_w\": \"ln_f.weight\", \"final_norm_b\": \"ln_f.bias\"}}";
  IrArena a = {0};
  FeModel g;
  IrDiag d;
  CHECK(read_text(graph, &a, &g, &d));
  FeModelDir md;
  CHECK(open_dir(KILN_TEST_DATA "/tiny/gpt2", &md));
  char *from_graph = built_ir(&g), *from_hf = built_ir(&md.model);
  CHECK(from_graph && from_hf);
  if (from_graph && from_hf) {
    /* "module @graph {" vs "module @gpt2 {" */
    const char *body_g = strchr(from_graph, '\n'), *body_h = strchr(from_hf, '\n');
    CHECK(body_g && body_h && strcmp(body_g, body_h) == 0);
    CHECK(strstr(from_graph, "param @h.1.attn.c_attn.weight : f32[32, 96]") != NULL);
  }
  free(from_graph);
  free(from_hf);
  fe_close_model_dir(&md);
  ir_arena_free(&a);
}

static void test_graph_options(void) {
  IrArena a = {0};
  FeModel m;
  IrDiag d;
  CHECK(read_text("{\"kiln_graph\": 1, \"vocab\": 16, \"hidden\": 24, \"layers\": 1,"
                  " \"max_positions\": 32, \"attention\": {\"heads\": 2, \"kv_heads\": 1,"
                  " \"head_dim\": 8, \"scale\": 0.5, \"rope\": {\"theta\": 500.0, \"pairing\":"
                  " \"interleaved\", \"rotary_dim\": 4, \"scaling\": {\"type\": \"llama3\","
                  " \"factor\": 8, \"original_max_positions\": 16}}},"
                  " \"mlp\": {\"kind\": \"swiglu\", \"intermediate\": 32},"
                  " \"norm\": {\"placement\": \"pre\", \"final\": false},"
                  " \"weights\": {\"q\": \"blocks.%d.wq\", \"embed\": \"tok_embeddings\"}}",
                  &a, &m, &d));
  CHECK(m.kv_heads == 1 && m.head_dim == 8 && m.rotary_dim == 4 && m.rope_interleaved);
  CHECK_NEAR(m.attn_scale, 0.5, 0);
  CHECK(m.rope_scaling == FE_ROPE_SCALE_LLAMA3 && m.rope_orig_max_pos == 16);
  CHECK_NEAR(m.rope_high_freq, 4.0, 0); /* the default */
  CHECK(!m.final_norm && m.names.final_norm_w == NULL);
  CHECK(str_eq(m.names.q, "blocks.%d.wq") && str_eq(m.names.embed, "tok_embeddings"));
  CHECK(str_eq(m.names.lm_head, "lm_head.weight")); /* head defaults to an untied lm */
  ir_arena_free(&a);
}

/* ---- model directories ---- */

static void test_model_dir(void) {
  FeModelDir md;
  IrDiag d = {0};
  CHECK(fe_open_model_dir(KILN_TEST_DATA "/tiny/llama", true, &md, &d));
  CHECK(md.weights != NULL && md.tokenizer_path == NULL);
  CHECK(md.weights_path && strstr(md.weights_path, "/tiny/llama/model.safetensors"));
  CHECK(str_eq(md.dir, KILN_TEST_DATA "/tiny/llama"));
  fe_close_model_dir(&md);
  /* a path to config.json means its directory */
  CHECK(fe_open_model_dir(KILN_TEST_DATA "/tiny/llama/config.json", false, &md, &d));
  CHECK(md.weights == NULL && md.weights_path != NULL);
  fe_close_model_dir(&md);

  d = (IrDiag){0};
  CHECK(!fe_open_model_dir(KILN_TEST_DATA "/no-such-model", false, &md, &d));
  CHECK(strcmp(d.msg, KILN_TEST_DATA "/no-such-model: error: cannot open the model: No such file "
                                     "or directory; expected a model directory or a JSON "
                                     "file") == 0);
  d = (IrDiag){0};
  CHECK(!fe_open_model_dir(KILN_TEST_DATA "/hf_configs", false, &md, &d));
  CHECK(strcmp(d.msg, KILN_TEST_DATA "/hf_configs/config.json: error: cannot read the model's "
                                     "config: No such file or directory") == 0);
  d = (IrDiag){0};
  CHECK(!fe_open_model_dir(HF_DIR "gpt2", true, &md, &d));
  CHECK(strcmp(d.msg, HF_DIR "gpt2: error: no weights: expected model.safetensors or "
                             "model.safetensors.index.json (or NAME.safetensors next to "
                             "NAME.json)") == 0);
  CHECK(md.dir == NULL && md.weights == NULL); /* closed again */
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* Where the weights and the tokenizer are found, in a scratch directory. */
static void test_model_dir_layouts(void) {
  char dir[] = "/tmp/kiln_test_config_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  const char *graph = "{\"kiln_graph\": 1, \"vocab\": 8, \"hidden\": 8, \"layers\": 1, "
                      "\"max_positions\": 8, \"attention\": {\"heads\": 2}, \"mlp\": {\"kind\": "
                      "\"gelu\", \"intermediate\": 8}}";
  write_file(dir, "config.json", graph);
  write_file(dir, "tokenizer.json", "{}");
  write_file(dir, "model.safetensors.index.json", "{}");
  write_file(dir, "m.json", graph);
  write_file(dir, "m.safetensors", "");
  char path[512], want[512];
  FeModelDir md;
  CHECK(open_dir(dir, &md)); /* config.json in a directory may be a graph too */
  snprintf(want, sizeof want, "%s/tokenizer.json", dir);
  CHECK(str_eq(md.tokenizer_path, want));
  snprintf(want, sizeof want, "%s/model.safetensors.index.json", dir); /* sharded */
  CHECK(str_eq(md.weights_path, want) && md.model.mlp == FE_MLP_GELU);
  fe_close_model_dir(&md);
  snprintf(path, sizeof path, "%s/m.json", dir);
  CHECK(open_dir(path, &md)); /* NAME.json: NAME.safetensors */
  snprintf(want, sizeof want, "%s/m.safetensors", dir);
  CHECK(str_eq(md.weights_path, want) && str_eq(md.dir, dir) && md.tokenizer_path != NULL);
  fe_close_model_dir(&md);
  const char *names[] = {"config.json", "tokenizer.json", "model.safetensors.index.json", "m.json",
                         "m.safetensors"};
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    remove(path);
  }
  remove(dir);
}

/* ---- bad input ---- */

#define LLAMA \
  "\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 64, \"num_hidden_layers\": 2"
#define LLAMA_OK \
  LLAMA ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"intermediate_size\": 64"

static void test_malformed(void) {
  EXPECT_ERROR("{\"a\": 1,}", "cfg.json:1:9: error: malformed JSON: expected a string key, found "
                              "character '}'");
  EXPECT_ERROR("{\n  \"a\": [1,\n   2}\n", "cfg.json:3:5: error: malformed JSON: expected ',' or "
                                         "']', found character '}'");
  EXPECT_ERROR("{\"a\": tru}", "cfg.json:1:10: error: malformed JSON: expected 'true', found "
                               "character '}'");
  EXPECT_ERROR("{\"a\": 1", "cfg.json:1:8: error: malformed JSON: expected ',' or '}', found end "
                            "of input");
  EXPECT_ERROR("", "cfg.json:1:1: error: malformed JSON: expected a JSON value, found end of "
                   "input");
  EXPECT_ERROR("{} {}", "cfg.json:1:4: error: malformed JSON: expected the end of input after the "
                        "value, found character '{'");
  EXPECT_ERROR("{\"a\": \"x\ty\"}", "cfg.json:1:9: error: malformed JSON: expected a character of "
                                    "the string (control characters are escaped), found byte "
                                    "0x09");
  EXPECT_ERROR("{\"a\": 01}", "cfg.json:1:8: error: malformed JSON: expected ',' or '}', found "
                              "character '1'");
  EXPECT_ERROR("[1, 2]", "cfg.json: error: at $: expected an object, found an array");
  /* nesting beyond the limit is an error, not a stack overflow */
  char deep[1200];
  memset(deep, '[', sizeof deep - 1);
  deep[sizeof deep - 1] = '\0';
  EXPECT_ERROR(deep, "cfg.json:1:514: error: malformed JSON: expected at most 512 levels of "
                     "nesting, found character '['");
}

static void test_wrong_types(void) {
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": \"64\"}",
               "cfg.json: error: at $.hidden_size: expected a positive integer, found a string");
  EXPECT_ERROR("{" LLAMA_OK ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": \"8\"}}",
               "cfg.json: error: at $.rope_scaling.factor: expected a positive number, found a "
               "string");
  EXPECT_ERROR("{" LLAMA_OK ", \"rope_scaling\": 3}",
               "cfg.json: error: at $.rope_scaling: expected an object, found a number");
  EXPECT_ERROR("{" LLAMA_OK ", \"tie_word_embeddings\": \"yes\"}",
               "cfg.json: error: at $.tie_word_embeddings: expected true or false, found a string");
  EXPECT_ERROR("{\"architectures\": \"LlamaForCausalLM\"}",
               "cfg.json: error: at $.architectures: expected a non-empty list of architecture "
               "names, found a string");
  EXPECT_ERROR("{\"architectures\": [42]}",
               "cfg.json: error: at $.architectures[0]: expected an architecture name, found a "
               "number");
  EXPECT_ERROR("{" LLAMA_OK ", \"eos_token_id\": [\"x\"]}",
               "cfg.json: error: at $.eos_token_id[0]: expected a token id or a list of them, "
               "found a string");
  EXPECT_ERROR("{" LLAMA_OK ", \"hidden_act\": \"relu\"}",
               "cfg.json: error: at $.hidden_act: expected one of \"silu\", \"swish\", found "
               "\"relu\"");
  EXPECT_ERROR("{" LLAMA_OK ", \"torch_dtype\": \"int8\"}",
               "cfg.json: error: at $.torch_dtype: expected one of \"float32\", \"float16\", "
               "\"bfloat16\", found \"int8\"");
  EXPECT_ERROR("{" LLAMA_OK ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
               "cfg.json: error: at $.rope_scaling.rope_type: expected one of \"default\", "
               "\"linear\", \"llama3\", found \"yarn\"");
}

static void test_bad_dimensions(void) {
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": 32, \"num_attention_heads\": -3}",
               "cfg.json: error: at $.num_attention_heads: expected a positive integer, found -3");
  EXPECT_ERROR("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 0}",
               "cfg.json: error: at $.vocab_size: expected a positive integer, found 0");
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": 32.5}",
               "cfg.json: error: at $.hidden_size: expected a positive integer, found 32.5");
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": 1e30}",
               "cfg.json: error: at $.hidden_size: expected a positive integer at most 2147483647, "
               "found 1e+30");
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": 4294967296}",
               "cfg.json: error: at $.hidden_size: expected a positive integer at most 2147483647, "
               "found 4294967296");
  EXPECT_ERROR("{" LLAMA ", \"num_attention_heads\": 4, \"intermediate_size\": 64}",
               "cfg.json: error: at $.hidden_size: missing; expected a positive integer");
  /* every size fits, their products do not */
  EXPECT_ERROR("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 2147483647, "
               "\"num_hidden_layers\": 2147483647, \"hidden_size\": 2147483647, "
               "\"num_attention_heads\": 1, \"head_dim\": 2, \"intermediate_size\": 2147483647}",
               "cfg.json: error: at $: expected a model whose parameter count fits in 64 bits, "
               "found dimensions whose product overflows it");
  EXPECT_ERROR("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 2, "
               "\"num_hidden_layers\": 4, \"hidden_size\": 2, \"num_attention_heads\": 1, "
               "\"head_dim\": 2147483646, \"intermediate_size\": 2, "
               "\"max_position_embeddings\": 2147483647}",
               "cfg.json: error: at $: expected a KV cache whose size in bytes fits in 64 bits, "
               "found dimensions whose product overflows it");
}

static void test_inconsistent(void) {
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": 1000, \"num_attention_heads\": 12, "
               "\"intermediate_size\": 64}",
               "cfg.json: error: at $.num_attention_heads: expected a divisor of $.hidden_size "
               "(1000), found 12");
  EXPECT_ERROR("{" LLAMA_OK ", \"num_key_value_heads\": 3}",
               "cfg.json: error: at $.num_key_value_heads: expected a divisor of "
               "$.num_attention_heads (4), found 3");
  EXPECT_ERROR("{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 50, \"n_embd\": 768, "
               "\"n_layer\": 1, \"n_head\": 5}",
               "cfg.json: error: at $.n_head: expected a divisor of $.n_embd (768), found 5");
  EXPECT_ERROR("{\"architectures\": [\"MixtralForCausalLM\"], \"vocab_size\": 64, "
               "\"num_hidden_layers\": 2, \"hidden_size\": 32, \"num_attention_heads\": 4, "
               "\"intermediate_size\": 64, \"num_experts_per_tok\": 9}",
               "cfg.json: error: at $.num_experts_per_tok: expected an integer from 1 to the "
               "number of experts 8, found 9");
  EXPECT_ERROR("{" LLAMA_OK ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, "
               "\"low_freq_factor\": 4, \"high_freq_factor\": 1, "
               "\"original_max_position_embeddings\": 8192}}",
               "cfg.json: error: at $.rope_scaling.high_freq_factor: expected a number above the "
               "low frequency factor 4, found 1");
  EXPECT_ERROR("{" LLAMA ", \"hidden_size\": 36, \"num_attention_heads\": 4, "
               "\"intermediate_size\": 64}",
               "cfg.json: error: at $.num_attention_heads: expected an even head size for rotary "
               "embeddings, found 9");
  EXPECT_ERROR("{" LLAMA_OK ", \"mlp_bias\": true}",
               "cfg.json: error: at $.mlp_bias: expected false (kiln supports no biases in the "
               "SwiGLU MLP), found true");
  EXPECT_ERROR("{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 64, "
               "\"num_hidden_layers\": 4, \"hidden_size\": 32, \"num_attention_heads\": 4, "
               "\"intermediate_size\": 64, \"use_sliding_window\": true, \"sliding_window\": 8, "
               "\"max_window_layers\": 2}",
               "cfg.json: error: at $.max_window_layers: expected 0 or at least "
               "$.num_hidden_layers (4): kiln applies one sliding window to all layers or none, "
               "found 2");
}

static void test_unknown_architecture(void) {
  EXPECT_ERROR("{\"architectures\": [\"BertForMaskedLM\"]}",
               "cfg.json: error: at $.architectures[0]: unknown architecture \"BertForMaskedLM\"; "
               "kiln knows LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
               "MixtralForCausalLM, GPT2LMHeadModel (describe other models in kiln's graph JSON, "
               "docs/model-json.md)");
  EXPECT_ERROR("{\"model_type\": \"t5\"}",
               "cfg.json: error: at $.model_type: unknown model type \"t5\"; kiln knows "
               "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, MixtralForCausalLM, "
               "GPT2LMHeadModel (describe other models in kiln's graph JSON, docs/model-json.md)");
  EXPECT_ERROR("{}", "cfg.json: error: at $.architectures: missing; expected a list naming the "
                     "architecture");
}

#define GRAPH \
  "\"kiln_graph\": 1, \"vocab\": 16, \"hidden\": 16, \"layers\": 1, \"max_positions\": 8"
#define GRAPH_MLP "\"mlp\": {\"kind\": \"swiglu\", \"intermediate\": 32}"

static void test_bad_graph(void) {
  EXPECT_ERROR("{\"kiln_graph\": 2}", "cfg.json: error: at $.kiln_graph: expected 1 (the graph "
                                      "JSON version this kiln reads), found 2");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"haeds\": 2}}",
               "cfg.json: error: at $.attention.haeds: unknown field; expected one of heads, "
               "kv_heads, head_dim, mask, sliding_window, scale, qkv_bias, out_bias, fused_qkv, "
               "rope");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP ", \"extra key\": 1}",
               "cfg.json: error: at $[\"extra key\"]: unknown field; expected one of kiln_graph, "
               "name, description, dtype, vocab, hidden, layers, max_positions, bos_id, eos_id, "
               "linear_layout, embedding, attention, mlp, norm, head, weights");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 3}, " GRAPH_MLP "}",
               "cfg.json: error: at $.attention.heads: expected a divisor of $.hidden (16), "
               "found 3");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2, \"mask\": \"bidirectional\", "
               "\"sliding_window\": 4}, " GRAPH_MLP "}",
               "cfg.json: error: at $.attention.sliding_window: expected 0 with a bidirectional "
               "mask, found 4");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2, \"rope\": {\"rotary_dim\": 3}}, "
               GRAPH_MLP "}",
               "cfg.json: error: at $.attention.rope.rotary_dim: expected an even integer from 0 "
               "to the head size 8, found 3");
  EXPECT_ERROR("{" GRAPH ", \"embedding\": {\"positions\": \"learned\"}, \"attention\": "
               "{\"heads\": 2, \"rope\": {}}, " GRAPH_MLP "}",
               "cfg.json: error: at $.attention.rope: expected no rope settings with "
               "$.embedding.positions other than \"rope\", found an object");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, \"mlp\": {\"kind\": \"swiglu\", "
               "\"intermediate\": 32, \"bias\": true}}",
               "cfg.json: error: at $.mlp.bias: expected false: only the \"gelu\" MLP has biases, "
               "found true");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, \"mlp\": {\"kind\": \"moe\", "
               "\"intermediate\": 32}}",
               "cfg.json: error: at $.mlp.experts: missing; expected a positive integer");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP ", \"head\": {\"kind\": "
               "\"classifier\"}}",
               "cfg.json: error: at $.head.labels: missing; expected a positive integer");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"head\": {\"labels\": 3}}",
               "cfg.json: error: at $.head: expected no labels or bias with an \"lm\" head (they "
               "belong to \"classifier\"), found them");
}

static void test_bad_weight_names(void) {
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"weights\": {\"q\": \"q.weight\"}}",
               "cfg.json: error: at $.weights.q: expected a tensor name of at most 200 bytes with "
               "one \"%d\" (the layer) and otherwise only letters, digits, '_' and '.', found "
               "\"q.weight\"");
  /* a name is a format string for the builder: nothing but %d gets through */
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"weights\": {\"embed\": \"%s%n\"}}",
               "cfg.json: error: at $.weights.embed: expected a tensor name of at most 200 bytes "
               "with no \"%d\" and otherwise only letters, digits, '_' and '.', found "
               "\"%s%n\"");
  /* two names that can expand to the same tensor would silently share it */
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"weights\": {\"attn_norm_w\": \"h.%d.ln\", \"mlp_norm_w\": \"h.%d.ln\"}}",
               "cfg.json: error: at $.weights.mlp_norm_w: expected a tensor name no other weight "
               "can have, found mlp_norm_w: \"h.%d.ln\", which attn_norm_w \"h.%d.ln\" can name "
               "too");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"weights\": {\"embed\": \"w1\", \"q\": \"w%d\"}}",
               "cfg.json: error: at $.weights.q: expected a tensor name no other weight can have, "
               "found q: \"w%d\", which embed \"w1\" can name too");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, \"mlp\": {\"kind\": \"moe\", "
               "\"intermediate\": 8, \"experts\": 2}, \"weights\": {\"expert_up\": \"e%d%d\"}}",
               "cfg.json: error: at $.weights.expert_up: expected a tensor name of at most 200 "
               "bytes with two \"%d\" (the layer, then the expert, with a non-digit between) and "
               "otherwise only letters, digits, '_' and '.', found \"e%d%d\"");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"weights\": {\"q_b\": \"l.%d.q.bias\"}}",
               "cfg.json: error: at $.weights.q_b: unknown field; expected one of embed, "
               "attn_norm_w, q, k, v, o, mlp_norm_w, gate, up, down, final_norm_w, lm_head");
  EXPECT_ERROR("{" GRAPH ", \"attention\": {\"heads\": 2}, " GRAPH_MLP
               ", \"weights\": {\"q\": 7}}",
               "cfg.json: error: at $.weights.q: expected a string, found a number");
}

/* fe_model_validate on a description built by hand names its fields. */
static void test_validate_direct(void) {
  IrArena a = {0};
  FeModel m;
  IrDiag d;
  CHECK(read_text("{" LLAMA_OK "}", &a, &m, &d));
  d = (IrDiag){0};
  CHECK(fe_model_validate(&m, "model", &d));
  FeModel bad = m;
  bad.kv_heads = 3;
  CHECK(!fe_model_validate(&bad, "model", &d));
  CHECK(strcmp(d.msg, "model: error: at kv_heads: expected a divisor of heads (4), found 3") == 0);
  bad = m;
  bad.names.q = NULL;
  d = (IrDiag){0};
  CHECK(!fe_model_validate(&bad, "model", &d));
  CHECK(strcmp(d.msg, "model: error: at $: expected a checkpoint name for q, found none") == 0);
  bad = m;
  bad.names.up = "model.layers.%s.up";
  d = (IrDiag){0};
  CHECK(!fe_model_validate(&bad, "model", &d));
  CHECK_STR_CONTAINS(d.msg, "model: error: at $: expected up to be a tensor name of at most 200 "
                            "bytes with one \"%d\" (the layer)");
  bad = m;
  bad.norm_eps = 0;
  d = (IrDiag){0};
  CHECK(!fe_model_validate(&bad, "model", &d));
  CHECK(strcmp(d.msg, "model: error: at norm_eps: expected a positive number, found 0") == 0);
  ir_arena_free(&a);
}

int main(void) {
  test_llama2();
  test_llama3();
  test_small_llamas();
  test_mistral_qwen2();
  test_mixtral();
  test_gpt2();
  test_hf_options();
  test_samples();
  test_graph_equals_gpt2();
  test_graph_options();
  test_model_dir();
  test_model_dir_layouts();
  test_malformed();
  test_wrong_types();
  test_bad_dimensions();
  test_inconsistent();
  test_unknown_architecture();
  test_bad_graph();
  test_bad_weight_names();
  test_validate_direct();
  return check_report();
}
