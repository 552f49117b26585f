/* test_families.c: every tiny model family against golden logits.
 *
 * For each model under tests/data/tiny/<name>/ (config.json, safetensors,
 * golden.json from the independent numpy reference in tests/golden/), the
 * model directory is opened, built with all logits, bound and run by the
 * interpreter:
 *
 *  1. prefill of the 7-token prompt: every logit of every position;
 *  2. the golden decode steps (token, position) after that prefill;
 *  3. 16 greedy tokens (prefill, then 15 decodes; argmax, lower id on
 *     ties), identical ids;
 *  4. prefill(N) then decode(token N+1) equals prefill(N+1)'s last row;
 *  5. the default build (last row only) returns prefill's last row;
 *  6. the printed module parses back and prints the same.
 *
 * Then model variants no family here uses (encoder, classifier head,
 * post-norm, interleaved and partial RoPE, exact GELU, no final norm),
 * built from hand-made descriptions with random weights: they build,
 * verify and run, with the attention pattern their mask implies; and the
 * builder's own errors.
 *
 * Tolerances: against the golden data |kiln - ref| <= 1e-4 for every
 * logit (the reference's absolute bound, never looser than the relative
 * 1e-4 * max(1, max|ref row|)); kiln against itself (4, 5):
 * |a - b| <= 1e-5. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fe.h"
#include "interp.h"

#define GOLDEN_TOL 1e-4
#define SELF_TOL 1e-5

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

typedef struct {
  const char *name;
  IrModule *m;
  IrInterp *it;
  int sym_t, sym_p;
  int64_t vocab;
  double worst; /* largest |kiln - golden| seen */
} Run;

/* Calls prefill (tokens at positions p..) or decode; returns the logits,
 * or an empty tensor after a failed check. */
static IrTensor call(Run *r, const char *entry, const int *tokens, int n, int64_t p) {
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){n});
  for (int i = 0; i < n; i++) in.i[i] = tokens[i];
  int64_t syms[IR_MAX_SYMS];
  ir_interp_syms_unset(syms);
  syms[r->sym_t] = n;
  if (r->sym_p >= 0) syms[r->sym_p] = p; /* encoders have no P */
  IrTensor *outs = NULL, out = {0};
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(r->it, entry, syms, &in, 1, &outs, &nout, &d);
  CHECK(ok && nout == 1);
  if (!ok) fprintf(stderr, "%s: %s: %s\n", r->name, entry, d.msg);
  if (ok && nout == 1) {
    out = outs[0];
    outs[0] = (IrTensor){0};
  }
  ir_tensors_free(outs, nout);
  ir_tensor_free(&in);
  return out;
}

static const float *row(const IrTensor *t, int64_t i) {
  return t->f ? t->f + i * t->shape[1] : NULL;
}

/* Compares one row of logits with a golden JSON array. */
static void check_row(Run *r, const float *got, const cJSON *want, const char *what, int i) {
  CHECK(got != NULL && cJSON_GetArraySize(want) == r->vocab);
  if (!got || cJSON_GetArraySize(want) != r->vocab) return;
  double worst = 0;
  int at = 0;
  const cJSON *v = want->child;
  for (int j = 0; j < r->vocab; j++, v = v->next) {
    double e = fabs(got[j] - v->valuedouble);
    if (!(e <= worst)) worst = e, at = j;
  }
  if (worst > r->worst) r->worst = worst;
  check_count++;
  if (!(worst <= GOLDEN_TOL)) {
    check_failures++;
    fprintf(stderr, "%s: %s %d: logit %d off by %.3g (tolerance %g)\n", r->name, what, i, at, worst,
            GOLDEN_TOL);
  }
}

static void check_same(Run *r, const float *a, const float *b, const char *what) {
  CHECK(a && b);
  if (!a || !b) return;
  double worst = 0;
  for (int j = 0; j < r->vocab; j++)
    if (!(fabs(a[j] - b[j]) <= worst)) worst = fabs(a[j] - b[j]);
  check_count++;
  if (!(worst <= SELF_TOL)) {
    check_failures++;
    fprintf(stderr, "%s: %s differ by %.3g (tolerance %g)\n", r->name, what, worst, SELF_TOL);
  }
}

static int argmax(const float *x, int64_t n) {
  int best = 0;
  for (int j = 1; j < n; j++)
    if (x[j] > x[best]) best = j; /* strict: the lower id wins a tie */
  return best;
}

static int json_ints(const cJSON *a, int *out, int max) {
  int n = 0;
  for (const cJSON *v = a ? a->child : NULL; v && n < max; v = v->next) out[n++] = v->valueint;
  return n;
}

/* 1 and 2: the golden prefill rows and decode steps. */
static void check_golden(Run *r, const cJSON *g, const int *prompt, int n, IrTensor *prefill) {
  ir_interp_reset_state(r->it);
  *prefill = call(r, "prefill", prompt, n, 0);
  const cJSON *rows = cJSON_GetObjectItem(g, "prefill_logits");
  CHECK(cJSON_GetArraySize(rows) == n);
  int i = 0;
  for (const cJSON *w = rows ? rows->child : NULL; w && i < n; w = w->next, i++)
    check_row(r, row(prefill, i), w, "prefill row", i);
  i = 0;
  const cJSON *steps = cJSON_GetObjectItem(g, "decode");
  for (const cJSON *s = steps ? steps->child : NULL; s; s = s->next, i++) {
    const cJSON *tok_j = cJSON_GetObjectItem(s, "token"),
                *pos_j = cJSON_GetObjectItem(s, "position");
    CHECK(cJSON_IsNumber(tok_j) && cJSON_IsNumber(pos_j));
    if (!cJSON_IsNumber(tok_j) || !cJSON_IsNumber(pos_j)) break;
    int tok = tok_j->valueint;
    IrTensor out = call(r, "decode", &tok, 1, pos_j->valueint);
    check_row(r, row(&out, 0), cJSON_GetObjectItem(s, "logits"), "decode step", i);
    ir_tensor_free(&out);
  }
  CHECK(i >= 1);
}

/* 3: greedy generation, from a fresh cache. */
static void check_greedy(Run *r, const cJSON *g, const int *prompt, int n) {
  int want[16];
  CHECK(json_ints(cJSON_GetObjectItem(g, "greedy"), want, 16) == 16);
  ir_interp_reset_state(r->it);
  IrTensor out = call(r, "prefill", prompt, n, 0);
  int tok = out.f ? argmax(row(&out, n - 1), r->vocab) : -1;
  ir_tensor_free(&out);
  int same = 0;
  for (int i = 0; i < 16 && tok == want[i]; i++) {
    same++;
    if (i == 15) break;
    out = call(r, "decode", &tok, 1, n + i);
    tok = out.f ? argmax(row(&out, 0), r->vocab) : -1;
    ir_tensor_free(&out);
  }
  check_count++;
  if (same != 16) {
    check_failures++;
    fprintf(stderr, "%s: greedy token %d is %d, want %d\n", r->name, same, tok, want[same]);
  }
}

/* 4: prefill(N) then decode(token N+1) = prefill(N+1)'s last row. */
static void check_split(Run *r, const int *prompt, int n, const IrTensor *prefill) {
  ir_interp_reset_state(r->it);
  IrTensor head = call(r, "prefill", prompt, n - 1, 0);
  IrTensor last = call(r, "decode", &prompt[n - 1], 1, n - 1);
  check_same(r, row(&last, 0), row(prefill, n - 1), "prefill(N) + decode and prefill(N+1)");
  ir_tensor_free(&head);
  ir_tensor_free(&last);
}

/* 5: the default build returns the last row only. */
static void check_last_only(Run *r, const FeModelDir *md, const int *prompt, int n,
                            const IrTensor *prefill) {
  IrDiag d = {0};
  FeBuildOptions opt = {.max_context = 32};
  Run r2 = *r;
  r2.m = fe_build_module(&md->model, md->weights, &opt, &d);
  r2.it = r2.m ? ir_interp_new(r2.m, &d) : NULL;
  CHECK(r2.it && fe_bind_weights(r2.it, r2.m, md->weights, &d));
  if (r2.it) {
    IrTensor out = call(&r2, "prefill", prompt, n, 0);
    CHECK(out.rank == 2 && out.shape[0] == 1 && out.shape[1] == r->vocab);
    if (out.rank == 2 && out.shape[0] == 1)
      check_same(r, row(&out, 0), row(prefill, n - 1), "last-row build");
    ir_tensor_free(&out);
  } else {
    fprintf(stderr, "%s: %s\n", r->name, d.msg);
  }
  ir_interp_free(r2.it);
  ir_module_free(r2.m);
}

/* 6: print -> parse -> print is the identity. */
static void check_round_trip(const char *name, const IrModule *m) {
  IrBuf a = {0}, b = {0};
  ir_print_module(&a, m);
  IrDiag d = {0};
  IrModule *back = ir_parse(a.data, a.len, name, &d);
  CHECK(back && ir_verify(back, &d));
  if (back) ir_print_module(&b, back);
  CHECK(b.data && a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
  if (!back) fprintf(stderr, "%s: %s\n", name, d.msg);
  ir_module_free(back);
  ir_buf_free(&a);
  ir_buf_free(&b);
}

static void test_model(const char *name, const char *path) {
  char file[600];
  snprintf(file, sizeof file, "%s/golden.json", path);
  char *text = read_file(file);
  cJSON *g = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(g != NULL);
  FeModelDir md;
  IrDiag d = {0};
  bool opened = g && fe_open_model_dir(path, true, &md, &d);
  CHECK(opened);
  if (!opened) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    cJSON_Delete(g);
    return;
  }
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  Run r = {.name = name, .vocab = md.model.vocab};
  r.m = fe_build_module(&md.model, md.weights, &opt, &d);
  r.it = r.m ? ir_interp_new(r.m, &d) : NULL;
  bool bound = r.it && fe_bind_weights(r.it, r.m, md.weights, &d);
  CHECK(bound);
  if (bound) {
    r.sym_t = ir_module_find_sym(r.m, "T", 1);
    r.sym_p = ir_module_find_sym(r.m, "P", 1);
    int prompt[64];
    int n = json_ints(cJSON_GetObjectItem(g, "prompt"), prompt, 64);
    CHECK(n >= 2);
    IrTensor prefill = {0};
    check_golden(&r, g, prompt, n, &prefill);
    check_greedy(&r, g, prompt, n);
    check_split(&r, prompt, n, &prefill);
    check_last_only(&r, &md, prompt, n, &prefill);
    check_round_trip(name, r.m);
    ir_tensor_free(&prefill);
    printf("%-14s max |kiln - golden| = %.3g\n", name, r.worst);
  } else {
    fprintf(stderr, "%s: %s\n", name, d.msg);
  }
  ir_interp_free(r.it);
  ir_module_free(r.m);
  fe_close_model_dir(&md);
  cJSON_Delete(g);
}

/* ---- GPT-2 as transformers saves it ----------------------------------- */

static bool copy_file(const char *from, const char *to) {
  char *text = read_file(from);
  FILE *f = text ? fopen(to, "wb") : NULL;
  bool ok = f && fwrite(text, 1, strlen(text), f) == strlen(text);
  if (f) fclose(f);
  free(text);
  return ok;
}

/* Writes w's tensors as dir/model.safetensors with every name prefixed,
 * plus the per-layer causal-mask buffers GPT2LMHeadModel checkpoints hold
 * (F32[1, 1, 2, 2] "transformer.h.N.attn.bias"). */
static bool write_prefixed(const FeWeights *w, const char *prefix, int layers, const char *path) {
  cJSON *h = cJSON_CreateObject();
  size_t off = 0;
  char name[256], dtype[160];
  for (int i = 0; i < fe_weights_count(w) + layers; i++) {
    const FeTensor *t = i < fe_weights_count(w) ? fe_weights_at(w, i) : NULL;
    int64_t mask_shape[4] = {1, 1, 2, 2};
    size_t nbytes = t ? t->nbytes : 16;
    if (t) {
      snprintf(name, sizeof name, "%s%s", prefix, t->name);
      fe_tensor_describe(t, dtype, sizeof dtype);
      *strchr(dtype, '[') = 0;
    } else {
      snprintf(name, sizeof name, "%sh.%d.attn.bias", prefix, i - fe_weights_count(w));
      strcpy(dtype, "F32");
    }
    cJSON *e = cJSON_AddObjectToObject(h, name);
    cJSON_AddStringToObject(e, "dtype", dtype);
    cJSON *shape = cJSON_AddArrayToObject(e, "shape");
    for (int k = 0; k < (t ? t->rank : 4); k++)
      cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)(t ? t->shape[k] : mask_shape[k])));
    cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nbytes)));
    off += nbytes;
  }
  char *text = cJSON_PrintUnformatted(h);
  cJSON_Delete(h);
  FILE *f = fopen(path, "wb");
  uint64_t len = strlen(text);
  unsigned char le[8];
  for (int k = 0; k < 8; k++) le[k] = (unsigned char)(len >> (8 * k));
  bool ok = f && fwrite(le, 1, 8, f) == 8 && fwrite(text, 1, len, f) == len;
  for (int i = 0; i < fe_weights_count(w) + layers && ok; i++) {
    const FeTensor *t = i < fe_weights_count(w) ? fe_weights_at(w, i) : NULL;
    static const float zeros[4];
    ok = t ? fwrite(t->data, 1, t->nbytes, f) == t->nbytes : fwrite(zeros, 1, 16, f) == 16;
  }
  if (f) fclose(f);
  free(text);
  return ok;
}

/* tests/data/tiny/gpt2 renamed to "transformer.*": the same golden data
 * must hold, the buffers ignored. */
static void test_gpt2_prefixed(void) {
  char dir[] = "/tmp/kiln_gpt2_XXXXXX", a[128], b[128];
  CHECK(mkdtemp(dir) != NULL);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(KILN_TEST_DATA "/tiny/gpt2", &d);
  CHECK(w != NULL);
  snprintf(a, sizeof a, "%s/model.safetensors", dir);
  CHECK(w && write_prefixed(w, "transformer.", 2, a));
  fe_weights_close(w);
  snprintf(b, sizeof b, "%s/config.json", dir);
  CHECK(copy_file(KILN_TEST_DATA "/tiny/gpt2/config.json", b));
  char g[128];
  snprintf(g, sizeof g, "%s/golden.json", dir);
  CHECK(copy_file(KILN_TEST_DATA "/tiny/gpt2/golden.json", g));
  test_model("gpt2-prefixed", dir);
  remove(a);
  remove(b);
  remove(g);
  remove(dir);
}

/* ---- variants without golden data ---------------------------------- */

/* A small model of every size 8 or so; the caller picks the kinds. */
static FeModel small_model(void) {
  FeModel fm;
  memset(&fm, 0, sizeof fm);
  fm.architecture = "TestModel";
  fm.family = "test";
  fm.vocab = 16, fm.hidden = 8, fm.layers = 2, fm.heads = 2, fm.kv_heads = 1;
  fm.head_dim = 4, fm.intermediate = 12, fm.max_pos = 8;
  fm.norm = FE_NORM_RMS, fm.norm_eps = 1e-5, fm.pre_norm = true, fm.final_norm = true;
  fm.pos = FE_POS_ROPE, fm.rope_theta = 10000.0, fm.mask = FE_MASK_CAUSAL;
  fm.mlp = FE_MLP_SWIGLU, fm.head = FE_HEAD_LM, fm.weight_dtype = IR_F32;
  fm.bos_id = fm.eos_id = -1;
  FeNames *n = &fm.names;
  n->embed = "emb", n->attn_norm_w = "l%d.n1", n->q = "l%d.q", n->k = "l%d.k", n->v = "l%d.v";
  n->o = "l%d.o", n->mlp_norm_w = "l%d.n2", n->gate = "l%d.gate", n->up = "l%d.up";
  n->down = "l%d.down", n->final_norm_w = "norm", n->lm_head = "head";
  return fm;
}

/* Binds every parameter to deterministic values in [-0.5, 0.5). */
static bool bind_random(IrInterp *it, const IrModule *m) {
  uint32_t state = 12345;
  for (int i = 0; i < m->nparams; i++) {
    const IrValue *p = m->params[i];
    int64_t shape[IR_MAX_RANK];
    for (int j = 0; j < p->type.rank; j++) shape[j] = p->type.dims[j].c;
    IrTensor t = ir_tensor_new(IR_F32, p->type.rank, shape);
    for (int64_t j = 0; j < ir_tensor_numel(&t); j++) {
      state = state * 1664525u + 1013904223u;
      t.f[j] = (float)(state >> 8) / (float)(1 << 24) - 0.5f;
    }
    IrDiag d = {0};
    bool ok = ir_interp_bind_param(it, p->name, &t, &d);
    ir_tensor_free(&t);
    if (!ok) {
      fprintf(stderr, "bind %s: %s\n", p->name, d.msg);
      return false;
    }
  }
  return true;
}

static bool printed_has(const IrModule *m, const char *needle) {
  IrBuf b = {0};
  ir_print_module(&b, m);
  bool has = b.data && strstr(b.data, needle);
  ir_buf_free(&b);
  return has;
}

/* Builds fm, runs `entry` on two prompts that differ only in the last
 * token, and returns whether row 0 changed (bidirectional attention). */
static bool first_row_sees_last_token(const FeModel *fm, const char *entry, int64_t rows,
                                      int64_t cols, Run *r) {
  IrDiag d = {0};
  FeBuildOptions opt = {.all_logits = true};
  r->name = fm->architecture;
  r->vocab = cols;
  r->m = fe_build_module(fm, NULL, &opt, &d);
  r->it = r->m ? ir_interp_new(r->m, &d) : NULL;
  CHECK(r->it && bind_random(r->it, r->m));
  if (!r->it) {
    fprintf(stderr, "%s: %s\n", fm->architecture, d.msg);
    return false;
  }
  r->sym_t = ir_module_find_sym(r->m, "T", 1);
  r->sym_p = ir_module_find_sym(r->m, "P", 1);
  const int a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 9};
  IrTensor x = call(r, entry, a, 4, 0);
  ir_interp_reset_state(r->it);
  IrTensor y = call(r, entry, b, 4, 0);
  CHECK(x.rank == 2 && x.shape[0] == rows && x.shape[1] == cols);
  bool changed = false;
  for (int64_t j = 0; x.f && y.f && j < cols; j++) changed |= x.f[j] != y.f[j];
  ir_tensor_free(&x);
  ir_tensor_free(&y);
  return changed;
}

static void free_run(Run *r) {
  ir_interp_free(r->it);
  ir_module_free(r->m);
}

/* A BERT-like encoder: post-norm LayerNorm (bias and no bias), learned
 * positions, exact GELU with biases, no final norm, a classifier on every
 * row, bidirectional attention and no KV cache. */
static void test_encoder(void) {
  FeModel fm = small_model();
  fm.architecture = "TestEncoder";
  fm.norm = FE_NORM_LAYER, fm.pre_norm = false, fm.final_norm = false;
  fm.pos = FE_POS_LEARNED, fm.mask = FE_MASK_NONE, fm.mlp = FE_MLP_GELU;
  fm.head = FE_HEAD_CLASSIFIER, fm.num_labels = 3, fm.kv_heads = 2;
  FeNames *n = &fm.names;
  n->pos_embed = "wpe", n->attn_norm_b = "l%d.n1b", n->q_b = "l%d.qb", n->o_b = "l%d.ob";
  n->gate = NULL, n->up_b = "l%d.upb", n->down_b = "l%d.downb";
  n->lm_head = NULL, n->cls_w = "cls", n->cls_b = "clsb";
  Run r = {0};
  CHECK(first_row_sees_last_token(&fm, "forward", 4, 3, &r));
  if (r.m) {
    CHECK(r.m->nstates == 0 && r.m->nsyms == 1 && r.m->nfuncs == 1);
    CHECK(ir_module_find_func(r.m, "forward") != NULL);
    CHECK(printed_has(r.m, "gelu(") && !printed_has(r.m, "approx"));
    CHECK(!printed_has(r.m, "causal_mask") && printed_has(r.m, "softmax("));
    /* mlp_norm without a bias name: a zero bias */
    CHECK(printed_has(r.m, "const {value = 0.0} : f32[8]"));
  }
  free_run(&r);
}

/* A decoder with interleaved, partial RoPE, MQA (kv_heads 1), tied
 * embeddings: causal, so row 0 ignores later tokens; and the cache makes
 * prefill(3) + decode = prefill(4). */
static void test_decoder_variants(void) {
  FeModel fm = small_model();
  fm.rope_interleaved = true, fm.rotary_dim = 2, fm.tie_embeddings = true;
  fm.names.lm_head = NULL;
  Run r = {0};
  CHECK(!first_row_sees_last_token(&fm, "prefill", 4, 16, &r));
  if (r.it) {
    CHECK(printed_has(r.m, "pairing = \"interleaved\", rotary_dim = 2"));
    CHECK(printed_has(r.m, "matmul(%xn, @emb) {transpose_b}"));
    const int toks[4] = {1, 2, 3, 9};
    ir_interp_reset_state(r.it);
    IrTensor all = call(&r, "prefill", toks, 4, 0);
    check_split(&r, toks, 4, &all);
    ir_tensor_free(&all);
  }
  free_run(&r);
}

static void expect_build_error(const FeModel *fm, const FeBuildOptions *opt, const char *want) {
  IrDiag d = {0};
  IrModule *m = fe_build_module(fm, NULL, opt, &d);
  CHECK(m == NULL);
  if (strcmp(d.msg, want) != 0) {
    check_failures++;
    fprintf(stderr, "build error:\n  got  \"%s\"\n  want \"%s\"\n", d.msg, want);
  }
  check_count++;
  ir_module_free(m);
}

static void test_build_errors(void) {
  FeModel fm = small_model();
  fm.pos = FE_POS_LEARNED, fm.names.pos_embed = "wpe";
  expect_build_error(&fm, &(FeBuildOptions){.max_context = 16},
                     "TestModel: error: max_context 16 exceeds the 8 learned positions");
  fm = small_model();
  fm.names.q = "kv.%d.k"; /* a checkpoint name equal to a KV cache state's */
  expect_build_error(&fm, NULL, "TestModel: error: tensor name 'kv.0.k' is taken by the KV cache");
  /* A wrong checkpoint: llama's config with gpt2's weights. */
  FeModelDir llama;
  IrDiag d = {0};
  CHECK(fe_open_model_dir(KILN_TEST_DATA "/tiny/llama", false, &llama, &d));
  FeWeights *gpt2 = fe_weights_open(KILN_TEST_DATA "/tiny/gpt2", &d);
  IrModule *m = gpt2 ? fe_build_module(&llama.model, gpt2, NULL, &d) : NULL;
  CHECK(m && !fe_check_weights(m, gpt2, &d));
  CHECK(strcmp(d.msg,
               "model.safetensors: error: missing tensors: model.embed_tokens.weight, "
               "model.layers.0.input_layernorm.weight, "
               "model.layers.0.self_attn.q_proj.weight, "
               "model.layers.0.self_attn.k_proj.weight (and 17 more)") == 0);
  ir_module_free(m);
  fe_weights_close(gpt2);
  fe_close_model_dir(&llama);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
  const char *root = KILN_TEST_DATA "/tiny";
  DIR *dir = opendir(root);
  CHECK(dir != NULL);
  char *names[64];
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir)) && n < 64;)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (dir) closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], by_name);
  /* llama, llama_gqa, llama_linear, mistral, qwen2, mixtral, gpt2 */
  CHECK(n >= 7);
  for (int i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, names[i]);
    test_model(names[i], path);
    free(names[i]);
  }
  test_gpt2_prefixed();
  test_encoder();
  test_decoder_variants();
  test_build_errors();
  return check_report();
}
