/* cmd_inspect.c: `kiln inspect`: what a model is and what it costs.
 *
 *   kiln inspect models/llama-3-8b                 a table
 *   kiln inspect samples/tiny-llama.json --json    the same as one JSON object
 *   kiln inspect models/gpt2 --emit-ir             the IR module
 *
 * The model is read (config alone; the checkpoint too when there is one,
 * for its dtypes) and built into the IR module; every number comes from
 * the library: parameters and bytes by dtype from the module's
 * parameters, FLOPs from its entry functions, KV-cache bytes from its
 * states. This file only prints.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fe.h"

#define DEFAULT_PREFILL_LEN 128

static void help(void) {
  printf("usage: kiln inspect MODEL [--json] [--emit-ir] [--prefill-len N] [--max-context N]\n\n"
         "Describes MODEL: a directory with config.json (Hugging Face or kiln graph JSON),\n"
         "or a JSON file. Weights are not needed; when a checkpoint is there, its dtypes\n"
         "count for the weight bytes.\n\n"
         "  --json             print one JSON object instead of the table\n"
         "  --emit-ir          print the IR module the model builds into\n"
         "  --prefill-len N    tokens of the prefill that FLOPs are counted for, and the\n"
         "                     KV-cache position of the decode step (default %d, at most\n"
         "                     the context)\n"
         "  --max-context N    KV-cache positions to build for (default: the model's)\n"
         "  --help, --version\n\n"
         "FLOPs are those of the built graph: 2*M*N*K per matmul plus a small count per\n"
         "element for other ops (ir/ir.h, ir_op_flops); a mixture of experts runs, and\n"
         "counts, every expert (dense-masked). KV-cache bytes are for kiln's f32 cache:\n"
         "2 * layers * kv_heads * head_dim * 4 per token.\n",
         DEFAULT_PREFILL_LEN);
}

typedef struct {
  const char *model;
  bool json, emit_ir;
  int64_t prefill_len; /* 0: the default */
  int64_t max_context; /* 0: the model's */
} InspectArgs;

/* A positive integer flag value; prints the error itself. */
static bool parse_count(const char *flag, const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long n = v ? strtoll(v, &end, 10) : 0;
  if (!v || errno || *end || end == v || n <= 0) {
    cli_usage_error("inspect", "%s expects a positive integer, found '%s'", flag, v ? v : "");
    return false;
  }
  *out = n;
  return true;
}

/* Reads the flags into o; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, InspectArgs *o) {
  CliArgs a = cli_args(argc, argv, "inspect");
  while (cli_next(&a)) {
    const char *v;
    if (cli_flag(&a, "--help")) return help(), 0;
    if (cli_flag(&a, "--version")) return cli_version();
    if (cli_flag(&a, "--json")) o->json = true;
    else if (cli_flag(&a, "--emit-ir")) o->emit_ir = true;
    else if (cli_value(&a, "--prefill-len", &v)) {
      if (!a.failed && !parse_count("--prefill-len", v, &o->prefill_len)) return 1;
    } else if (cli_value(&a, "--max-context", &v)) {
      if (!a.failed && !parse_count("--max-context", v, &o->max_context)) return 1;
    } else if (cli_is_option(&a)) return cli_unknown(&a);
    else if (o->model)
      return cli_usage_error("inspect", "more than one model ('%s' and '%s')", o->model, a.arg);
    else o->model = a.arg;
  }
  if (a.failed) return 1;
  if (!o->model) return cli_usage_error("inspect", "no model; see 'kiln inspect --help'");
  return -1;
}

/* ---- the numbers ---- */

typedef struct {
  int64_t context, prefill_len, decode_pos;
  IrParamStats params;
  bool decoder;
  int64_t prefill_flops, decode_flops; /* prefill: @forward for encoders */
  int64_t kv_bytes_per_token;
} Report;

/* FLOPs of entry `name` with T and P set (a symbol the module lacks is
 * skipped), or -1 when there is no such entry. */
static int64_t entry_flops(const IrModule *m, const char *name, int64_t t, int64_t p) {
  const IrFunc *f = ir_module_find_func(m, name);
  if (!f) return -1;
  int64_t syms[IR_MAX_SYMS] = {0};
  int ti = ir_module_find_sym(m, "T", 1), pi = ir_module_find_sym(m, "P", 1);
  if (ti >= 0) syms[ti] = t;
  if (pi >= 0) syms[pi] = p;
  return ir_func_flops(f, syms);
}

static void measure(const IrModule *m, int64_t context, int64_t prefill_len, Report *r) {
  r->context = context;
  r->prefill_len = prefill_len;
  r->decode_pos = prefill_len < context ? prefill_len : context - 1;
  ir_param_stats(m, &r->params);
  r->decoder = ir_module_find_func(m, "decode") != NULL;
  r->prefill_flops = entry_flops(m, r->decoder ? "prefill" : "forward", prefill_len, 0);
  r->decode_flops = r->decoder ? entry_flops(m, "decode", 1, r->decode_pos) : -1;
  r->kv_bytes_per_token = ir_state_bytes_per_position(m);
}

/* ---- printing ---- */

/* 8030261248 -> "8,030,261,248" */
static const char *thousands(char *buf, int64_t v) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%" PRId64, v), j = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0 && digits[i - 1] != '-' && (n - i) % 3 == 0) buf[j++] = ',';
    buf[j++] = digits[i];
  }
  buf[j] = '\0';
  return buf;
}

static const char *mlp_name(const FeModel *fm) {
  switch (fm->mlp) {
  case FE_MLP_SWIGLU: return "swiglu";
  case FE_MLP_GELU: return fm->gelu_tanh ? "gelu_tanh" : "gelu";
  case FE_MLP_MOE: return "moe";
  }
  return "?";
}

static const char *attention_kind(const FeModel *fm) {
  return fm->kv_heads == fm->heads ? "mha" : fm->kv_heads == 1 ? "mqa" : "gqa";
}

static const char *positions_name(const FeModel *fm) {
  return fm->pos == FE_POS_ROPE ? "rope" : fm->pos == FE_POS_LEARNED ? "learned" : "none";
}

static const char *weights_source(const FeModelDir *md) {
  return md->weights ? "checkpoint" : "config";
}

static void print_attention(const FeModel *fm) {
  printf("%-14s %s, %lld heads, %lld kv heads, %s positions", "attention", attention_kind(fm),
         (long long)fm->heads, (long long)fm->kv_heads, positions_name(fm));
  if (fm->pos == FE_POS_ROPE) printf(" (theta %.10g)", fm->rope_theta);
  if (fm->rope_scaling != FE_ROPE_SCALE_NONE && fm->pos == FE_POS_ROPE)
    printf(", %s rope scaling x%.10g",
           fm->rope_scaling == FE_ROPE_SCALE_LLAMA3 ? "llama3" : "linear", fm->rope_factor);
  printf(", %s", fm->mask == FE_MASK_CAUSAL ? "causal" : "bidirectional");
  if (fm->sliding_window) printf(", sliding window %lld", (long long)fm->sliding_window);
  printf("\n");
}

static void print_blocks(const FeModel *fm) {
  print_attention(fm);
  printf("%-14s %s, intermediate %lld", "mlp", mlp_name(fm), (long long)fm->intermediate);
  if (fm->mlp == FE_MLP_MOE)
    printf(", %lld experts, top %lld", (long long)fm->experts, (long long)fm->experts_per_tok);
  printf("\n%-14s %s, %s, eps %g%s\n", "norm", fm->norm == FE_NORM_RMS ? "rmsnorm" : "layernorm",
         fm->pre_norm ? "pre-norm" : "post-norm", fm->norm_eps,
         fm->final_norm ? ", final norm" : "");
  if (fm->head == FE_HEAD_CLASSIFIER)
    printf("%-14s classifier, %lld labels\n", "head", (long long)fm->num_labels);
  else
    printf("%-14s lm%s\n", "head", fm->tie_embeddings ? ", tied to the embedding" : "");
}

static void print_table(const char *model, const FeModelDir *md, const Report *r) {
  const FeModel *fm = &md->model;
  char a[32], b[32];
  printf("%-14s %s\n", "model", model);
  printf("%-14s %s\n", "architecture", fm->architecture);
  printf("%-14s %s\n", "family", fm->family);
  printf("%-14s %lld\n", "layers", (long long)fm->layers);
  printf("%-14s %lld\n", "hidden", (long long)fm->hidden);
  printf("%-14s %lld / %lld\n", "heads / kv", (long long)fm->heads, (long long)fm->kv_heads);
  printf("%-14s %lld\n", "head dim", (long long)fm->head_dim);
  printf("%-14s %lld\n", "vocab", (long long)fm->vocab);
  printf("%-14s %lld\n", "context", (long long)r->context);
  print_blocks(fm);
  printf("%-14s %s\n", "parameters", thousands(a, r->params.count));
  for (int t = 0; t < IR_DTYPE_COUNT; t++)
    if (r->params.count_by_dtype[t])
      printf("%-14s %s %s bytes (dtype from the %s)\n", "weights", ir_dtype_name((IrDType)t),
             thousands(a, r->params.bytes_by_dtype[t]), weights_source(md));
  if (r->decoder)
    printf("%-14s %s FLOPs per token (at position %lld)\n", "decode",
           thousands(a, r->decode_flops), (long long)r->decode_pos);
  printf("%-14s %s FLOPs for %lld tokens (%s per token)\n", r->decoder ? "prefill" : "forward",
         thousands(a, r->prefill_flops), (long long)r->prefill_len,
         thousands(b, r->prefill_flops / r->prefill_len));
  if (r->decoder)
    printf("%-14s %s bytes per token (f32)\n", "kv cache", thousands(a, r->kv_bytes_per_token));
  else
    printf("%-14s none (an encoder keeps no KV cache)\n", "kv cache");
}

/* A JSON string literal. */
static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void json_field_str(const char *key, const char *value) {
  printf("  \"%s\": ", key);
  json_string(value);
  printf(",\n");
}

static void json_field_int(const char *key, int64_t value) {
  printf("  \"%s\": %" PRId64 ",\n", key, value);
}

static void print_json_model(const char *model, const FeModel *fm, const Report *r) {
  printf("{\n");
  json_field_str("model", model);
  json_field_str("architecture", fm->architecture);
  json_field_str("family", fm->family);
  json_field_str("attention", attention_kind(fm));
  json_field_str("positions", positions_name(fm));
  json_field_str("mask", fm->mask == FE_MASK_CAUSAL ? "causal" : "bidirectional");
  json_field_str("mlp", mlp_name(fm));
  json_field_str("norm", fm->norm == FE_NORM_RMS ? "rmsnorm" : "layernorm");
  json_field_str("head", fm->head == FE_HEAD_LM ? "lm" : "classifier");
  json_field_int("layers", fm->layers);
  json_field_int("hidden", fm->hidden);
  json_field_int("heads", fm->heads);
  json_field_int("kv_heads", fm->kv_heads);
  json_field_int("head_dim", fm->head_dim);
  json_field_int("intermediate", fm->intermediate);
  json_field_int("vocab", fm->vocab);
  json_field_int("context", r->context);
  if (fm->mlp == FE_MLP_MOE) {
    json_field_int("experts", fm->experts);
    json_field_int("experts_per_token", fm->experts_per_tok);
  }
}

static void print_json(const char *model, const FeModelDir *md, const Report *r) {
  print_json_model(model, &md->model, r);
  json_field_int("parameters", r->params.count);
  printf("  \"weight_bytes\": {");
  const char *sep = "";
  for (int t = 0; t < IR_DTYPE_COUNT; t++) {
    if (!r->params.count_by_dtype[t]) continue;
    printf("%s\"%s\": %" PRId64, sep, ir_dtype_name((IrDType)t), r->params.bytes_by_dtype[t]);
    sep = ", ";
  }
  printf("},\n");
  json_field_str("weight_dtypes_from", weights_source(md));
  if (r->decoder) {
    json_field_int("decode_flops_per_token", r->decode_flops);
    json_field_int("decode_position", r->decode_pos);
  } else {
    printf("  \"decode_flops_per_token\": null,\n");
  }
  json_field_int("prefill_len", r->prefill_len);
  json_field_int("prefill_flops", r->prefill_flops);
  json_field_int("prefill_flops_per_token", r->prefill_flops / r->prefill_len);
  printf("  \"kv_cache_bytes_per_token\": %" PRId64 "\n}\n", r->kv_bytes_per_token);
}

static int print_ir(const IrModule *m) {
  IrBuf b = {0};
  ir_print_module(&b, m);
  fwrite(b.data ? b.data : "", 1, b.len, stdout);
  ir_buf_free(&b);
  return 0;
}

/* ---- the command ---- */

/* The model, its checkpoint when there is one, and its module. */
static IrModule *load(const InspectArgs *o, FeModelDir *md, int64_t *context, IrDiag *d) {
  if (!fe_open_model_dir(o->model, false, md, d)) return NULL;
  if (md->weights_path && !(md->weights = fe_weights_open(md->weights_path, d))) return NULL;
  FeBuildOptions opt = {.max_context = o->max_context};
  IrModule *m = fe_build_module(&md->model, md->weights, &opt, d);
  if (m && md->weights && !fe_check_weights(m, md->weights, d)) {
    ir_module_free(m);
    return NULL;
  }
  *context = o->max_context ? o->max_context : md->model.max_pos;
  return m;
}

static int report(const InspectArgs *o, const FeModelDir *md, const IrModule *m,
                  int64_t context) {
  int64_t n = o->prefill_len ? o->prefill_len
                             : (context < DEFAULT_PREFILL_LEN ? context : DEFAULT_PREFILL_LEN);
  if (n > context)
    return cli_usage_error("inspect", "--prefill-len %lld exceeds the context of %lld tokens",
                           (long long)n, (long long)context);
  Report r;
  measure(m, context, n, &r);
  if (o->json) print_json(o->model, md, &r);
  else print_table(o->model, md, &r);
  return 0;
}

int cmd_inspect(int argc, char **argv) {
  InspectArgs o = {0};
  int status = parse_flags(argc, argv, &o);
  if (status >= 0) return status;
  FeModelDir md;
  IrDiag d = {0};
  int64_t context = 0;
  IrModule *m = load(&o, &md, &context, &d);
  if (!m) status = cli_fail("inspect", &d);
  else if (o.emit_ir) status = print_ir(m);
  else status = report(&o, &md, m, context);
  ir_module_free(m);
  fe_close_model_dir(&md);
  return status;
}
