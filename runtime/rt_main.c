/* rt_main.c: main() of every executable `kiln compile` builds.
 *
 *   ./NAME -p "prompt" -n 64 --temp 0.8 --top-k 40 --top-p 0.9 --seed 1 -t 2
 *   ./NAME --tokens 1,2,3 -n 64        generated ids on stdout
 *   ./NAME --tokens 1,2,3 --logits     the last position's logits, one a line
 *   ./NAME ... --device=cpu|cuda --gpu 1   where the kernels run (cuda: the
 *                                      default for a model compiled with them)
 *
 * It runs the model the linked object describes (kiln_model) through the
 * public API (kiln.h) and is the only part of the runtime that prints.
 * Every error is one line on stderr, "NAME: error: ...", and exit status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"
#include "rt_tokenizer.h"

extern const KilnModelDesc kiln_model;

typedef struct {
  const char *prompt;  /* -p: text */
  const char *tokens;  /* --tokens: "1,2,3" */
  const char *weights; /* --weights; NULL: embedded, or the executable's path + ".kw" */
  const char *device;  /* --device: "cpu" or "cuda"; NULL: cuda if the model has CUDA kernels */
  int64_t gpu;         /* --gpu: CUDA device ordinal */
  int64_t n_predict;   /* -n; -1: until EOS or a full context */
  int64_t threads, top_k;
  double temp, top_p, repeat_penalty;
  uint64_t seed;
  bool logits, no_stream, help, version;
} CliArgs;

static const char *prog = "kiln-model";

static void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void print_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: error: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void print_usage(const KilnModelDesc *d) {
  printf("usage: %s [options]\n"
         "Runs the model '%s' (vocabulary %" PRId64 ", context %" PRId64 ").\n\n"
         "  -p, --prompt TEXT      generate from a text prompt (needs the model's tokenizer)\n"
         "      --tokens IDS       generate from token ids, e.g. 1,2,3; prints generated ids\n"
         "      --logits           print the logits of the prompt's last position, one a line,\n"
         "                         instead of generating\n"
         "  -n, --n-predict N      tokens to generate (default 64; -1: until EOS or a full "
         "context)\n"
         "      --temp T           temperature (default 0.8; 0: greedy)\n"
         "      --top-k K          sample from the K most likely tokens (default 40; 0: all)\n"
         "      --top-p P          then from the smallest set of probability >= P (default "
         "0.95; 1: all)\n"
         "      --repeat-penalty R penalize tokens of the context (default 1: off)\n"
         "      --seed S           random seed (default 0); the same seed gives the same "
         "tokens\n"
         "  -t, --threads N        threads (default: the CPUs online); any count gives the "
         "same logits\n"
         "      --weights PATH     the weights file (default: the embedded weights, or this "
         "executable's\n"
         "                         path + \".kw\")\n"
         "      --device DEV       cpu or cuda: where the kernels run (default: %s)\n"
         "      --gpu N            the CUDA device to use (default 0)\n"
         "      --no-stream        print the output at the end instead of token by token\n"
         "      --version          print the versions and the model hash\n"
         "  -h, --help             this help\n\n"
         "Generation stops at the end-of-sequence token or after N tokens; a timing line\n"
         "goes to stderr.%s\n",
         prog, d->model_name ? d->model_name : "?", d->vocab, d->max_context,
         d->cuda ? "cuda" : "cpu",
         d->cuda ? "\n\nThe CUDA driver is libcuda.so.1; $KILN_CUDA_DRIVER names another library "
                   "(another\ndriver location, or a test driver)." : "");
}

static void print_version(const KilnModelDesc *d) {
  printf("model: %s\n", d->model_name ? d->model_name : "?");
  printf("compiled by: kiln %s\n", d->kiln_version ? d->kiln_version : "(unknown)");
  printf("runtime: kiln %s\n", kiln_runtime_version());
  printf("abi version: %u (model code), %u (runtime)\n", d->abi_version, KILN_ABI_VERSION);
  printf("model hash: 0x%016llx\n", (unsigned long long)d->model_hash);
  printf("weights: %llu bytes, checksum 0x%016llx%s\n", (unsigned long long)d->weights_bytes,
         (unsigned long long)d->weights_checksum, d->embedded_weights ? ", embedded" : "");
  const KilnCudaDesc *c = d->cuda;
  if (c)
    printf("cuda kernels: %s, CUBIN %llu bytes, PTX %llu bytes, %d prefill + %d decode kernels\n",
           c->gpu_arch ? c->gpu_arch : "?", (unsigned long long)c->cubin_bytes,
           (unsigned long long)c->ptx_bytes, (int)c->prefill.n, (int)c->decode.n);
  else
    printf("cuda kernels: none (compiled for the CPU only)\n");
}

/* ---- parsing --------------------------------------------------------------- */

typedef enum { OPT_FLAG, OPT_STRING, OPT_INT, OPT_FLOAT, OPT_U64 } CliOptionKind;

/* One option: where its value goes, and for numbers the range it takes. */
typedef struct {
  const char *short_name, *long_name;
  CliOptionKind kind;
  size_t field; /* offset in CliArgs */
  double lo, hi;
  bool open_lo; /* lo itself is out */
  const char *expects;
} CliOption;

#define FIELD(f) offsetof(CliArgs, f)
#define STR_(x) #x
#define STR(x) STR_(x)
static const CliOption cli_options[] = {
    {"-p", "--prompt", OPT_STRING, FIELD(prompt), 0, 0, false, NULL},
    {NULL, "--tokens", OPT_STRING, FIELD(tokens), 0, 0, false, NULL},
    {NULL, "--weights", OPT_STRING, FIELD(weights), 0, 0, false, NULL},
    {NULL, "--device", OPT_STRING, FIELD(device), 0, 0, false, NULL},
    {NULL, "--gpu", OPT_INT, FIELD(gpu), 0, INT32_MAX, false, "an integer >= 0"},
    {"-n", "--n-predict", OPT_INT, FIELD(n_predict), -1, 1e18, false, "an integer >= -1"},
    {"-t", "--threads", OPT_INT, FIELD(threads), 1, KILN_MAX_THREADS, false,
     "an integer in [1, " STR(KILN_MAX_THREADS) "]"},
    {NULL, "--top-k", OPT_INT, FIELD(top_k), 0, INT32_MAX, false, "an integer >= 0"},
    {NULL, "--temp", OPT_FLOAT, FIELD(temp), 0, 1e30, false, "a number >= 0"},
    {NULL, "--top-p", OPT_FLOAT, FIELD(top_p), 0, 1, true, "a number in (0, 1]"},
    {NULL, "--repeat-penalty", OPT_FLOAT, FIELD(repeat_penalty), 0, 1e30, true, "a number > 0"},
    {NULL, "--seed", OPT_U64, FIELD(seed), 0, 0, false, "an unsigned integer"},
    {NULL, "--logits", OPT_FLAG, FIELD(logits), 0, 0, false, NULL},
    {NULL, "--no-stream", OPT_FLAG, FIELD(no_stream), 0, 0, false, NULL},
    {"-h", "--help", OPT_FLAG, FIELD(help), 0, 0, false, NULL},
    {NULL, "--version", OPT_FLAG, FIELD(version), 0, 0, false, NULL},
};
#undef FIELD

/* The option named arg[0..len), or NULL. */
static const CliOption *find_option(const char *arg, size_t len) {
  for (size_t i = 0; i < sizeof cli_options / sizeof *cli_options; i++) {
    const CliOption *o = &cli_options[i];
    if ((o->short_name && strlen(o->short_name) == len && !strncmp(arg, o->short_name, len)) ||
        (strlen(o->long_name) == len && !strncmp(arg, o->long_name, len)))
      return o;
  }
  return NULL;
}

static bool in_range(const CliOption *o, double v) {
  return v >= o->lo && v <= o->hi && !(o->open_lo && v == o->lo);
}

/* Stores the text v as o's value; false if it is not one. */
static bool store_value(const CliOption *o, const char *v, CliArgs *a) {
  char *field = (char *)a + o->field, *end;
  errno = 0;
  if (o->kind == OPT_STRING) {
    memcpy(field, &v, sizeof v);
  } else if (o->kind == OPT_INT) {
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || !in_range(o, (double)x)) return false;
    *(int64_t *)field = x;
  } else if (o->kind == OPT_FLOAT) {
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || !in_range(o, x)) return false;
    *(double *)field = x;
  } else {
    unsigned long long x = strtoull(v, &end, 0);
    if (errno || end == v || *end || *v == '-') return false;
    *(uint64_t *)field = x;
  }
  return true;
}

/* "--temp 0.8" or "--temp=0.8"; flags take no value. Prints what is wrong. */
static bool parse_args(int argc, char **argv, CliArgs *a) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *eq = arg[0] == '-' && arg[1] == '-' ? strchr(arg, '=') : NULL;
    int len = eq ? (int)(eq - arg) : (int)strlen(arg);
    const CliOption *o = arg[0] == '-' ? find_option(arg, (size_t)len) : NULL;
    if (!o) {
      print_error("%s '%s' (see --help)", arg[0] == '-' ? "unknown option" : "unexpected argument",
                  arg);
      return false;
    }
    if (o->kind == OPT_FLAG) {
      if (eq) {
        print_error("option '%.*s' takes no value (see --help)", len, arg);
        return false;
      }
      *(bool *)((char *)a + o->field) = true;
      continue;
    }
    const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      print_error("option '%.*s' needs a value (see --help)", len, arg);
      return false;
    }
    if (!store_value(o, v, a)) {
      print_error("%.*s expects %s, got '%s'", len, arg, o->expects, v);
      return false;
    }
  }
  return true;
}

/* "1,2,3" (commas or spaces) into ids[*n]; ids in [0, vocab). */
static int32_t *parse_token_list(const char *s, int64_t vocab, int64_t *n) {
  size_t cap = strlen(s) / 2 + 1;
  int32_t *ids = malloc(cap * sizeof *ids);
  if (!ids) {
    print_error("out of memory");
    return NULL;
  }
  *n = 0;
  const char *p = s;
  while (*p) {
    while (*p == ',' || *p == ' ') p++;
    if (!*p) break;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || (*end && *end != ',' && *end != ' ') || v < 0 || v >= vocab) {
      int len = (int)strcspn(p, ", ");
      print_error("--tokens: '%.*s' is not a token id of this model (0 to %lld)", len, p,
                  (long long)vocab - 1);
      free(ids);
      return NULL;
    }
    ids[(*n)++] = (int32_t)v;
    p = end;
  }
  if (*n == 0) {
    print_error("--tokens: no token ids in '%s'", s);
    free(ids);
    return NULL;
  }
  return ids;
}

/* ---- running ------------------------------------------------------------ */

/* The executable's own path + ".kw", into buf. */
static const char *default_weights_path(const char *argv0, char *buf, size_t size) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) exe[n] = '\0';
  else snprintf(exe, sizeof exe, "%s", argv0 ? argv0 : "");
  snprintf(buf, size, "%s.kw", exe);
  return buf;
}

typedef struct {
  bool stream, first;
  int32_t *ids;      /* without streaming: the tokens, printed at the end */
  int64_t n;
  RtTokStream *text; /* text prompts: generated tokens are printed as text */
} TokenPrinter;

static void print_text_token(TokenPrinter *tp, int32_t t) {
  char err[256];
  if (rt_tok_stream_push(tp->text, t, err, sizeof err))
    fwrite(tp->text->out.data, 1, tp->text->out.len, stdout);
}

static int print_token(void *user, int32_t t) {
  TokenPrinter *tp = user;
  if (!tp->stream) {
    tp->ids[tp->n++] = t;
    return 0;
  }
  if (tp->text) print_text_token(tp, t);
  else printf(tp->first ? "%d" : " %d", (int)t);
  tp->first = false;
  fflush(stdout);
  return 0;
}

/* Prints what the stream still holds and the tokens kept back by
 * --no-stream. */
static void print_rest(TokenPrinter *tp) {
  for (int64_t i = 0; i < tp->n; i++) {
    if (tp->text) print_text_token(tp, tp->ids[i]);
    else printf(i ? " %d" : "%d", (int)tp->ids[i]);
  }
  if (tp->text) {
    rt_tok_stream_finish(tp->text);
    fwrite(tp->text->out.data, 1, tp->text->out.len, stdout);
  }
}

/* The CPU's line is as it always was; a GPU is named at its end. */
static void print_timing(const KilnModel *m, const KilnGenerateStats *st, bool with_decode) {
  double pre = st->prefill_seconds, dec = st->decode_seconds;
  fprintf(stderr, "prefill: %lld tokens in %.3f s (%.1f tok/s)", (long long)st->prompt_tokens,
          pre, pre > 0 ? (double)st->prompt_tokens / pre : 0.0);
  if (with_decode)
    fprintf(stderr, "; decode: %lld tokens in %.3f s (%.1f tok/s)", (long long)st->decode_tokens,
            dec, dec > 0 ? (double)st->decode_tokens / dec : 0.0);
  if (kiln_device(m) == KILN_DEVICE_CUDA) fprintf(stderr, " on %s", kiln_device_name(m));
  fputc('\n', stderr);
}

static void print_logits(const KilnModel *m) {
  const float *logits = kiln_logits(m);
  for (int64_t i = 0; i < kiln_desc(m)->vocab; i++) printf("%.9g\n", (double)logits[i]);
}

/* Generates (or, with --logits, only prefills) and prints. */
static int run(KilnModel *m, const CliArgs *a, const int32_t *prompt, int64_t n_prompt,
               const RtTokenizer *tok) {
  const KilnModelDesc *d = kiln_desc(m);
  char err[512];
  KilnSamplerParams sp = {.temperature = (float)a->temp, .top_k = (int32_t)a->top_k,
                         .top_p = (float)a->top_p, .repeat_penalty = (float)a->repeat_penalty,
                         .seed = a->seed};
  KilnSampler *s = kiln_sampler_new(&sp, d->vocab, err, sizeof err);
  /* At most max_context - n_prompt + 1 tokens are generated. */
  RtTokStream text;
  TokenPrinter tp = {.stream = !a->no_stream, .first = true, .text = tok ? &text : NULL};
  if (tok) { /* text mode echoes the prompt, so the continuation reads on from it */
    rt_tok_stream_init(&text, tok, true);
    fputs(a->prompt, stdout);
  }
  if (s && !tp.stream) tp.ids = malloc((size_t)(d->max_context + 1) * sizeof *tp.ids);
  if (!s || (!tp.stream && !tp.ids)) {
    print_error("%s", s ? "out of memory" : err);
    kiln_sampler_free(s);
    return 1;
  }
  KilnGenerateStats st;
  int status = kiln_generate(m, prompt, n_prompt, a->logits ? 0 : a->n_predict, s, print_token,
                             &tp, &st);
  print_rest(&tp);
  if (tok) rt_tok_stream_free(&text);
  if (!a->logits && (status == KILN_OK || st.generated > 0)) printf("\n");
  if (a->logits && status == KILN_OK) print_logits(m);
  fflush(stdout);
  if (status == KILN_OK) print_timing(m, &st, !a->logits);
  else print_error("%s", kiln_last_error(m));
  free(tp.ids);
  kiln_sampler_free(s);
  return status == KILN_OK ? 0 : 1;
}

/* The text prompt's ids, with the BOS/EOS the tokenizer's post-processor
 * adds, as a malloc'd array. */
static int32_t *encode_prompt(const RtTokenizer *tok, const char *text, int64_t *n) {
  RtTokIds ids = {0};
  rt_tok_encode(tok, text, strlen(text), true, &ids);
  if (ids.n == 0) {
    free(ids.ids);
    print_error("the prompt encodes to no tokens");
    return NULL;
  }
  *n = (int64_t)ids.n;
  return ids.ids;
}

/* The prompt as token ids, or NULL after printing why not. *tok is the
 * loaded tokenizer for text prompts (the caller frees it). */
static int32_t *prompt_tokens(const KilnModelDesc *d, const CliArgs *a, int64_t *n,
                              RtTokenizer **tok) {
  if (a->prompt && a->tokens) {
    print_error("give either -p or --tokens, not both");
    return NULL;
  }
  if (a->tokens) return parse_token_list(a->tokens, d->vocab, n);
  if (!a->prompt) {
    print_error("nothing to do: give a prompt with -p TEXT or --tokens IDS (see --help)");
    return NULL;
  }
  if (!d->tokenizer) {
    print_error("this model has no tokenizer; use --tokens");
    return NULL;
  }
  char err[256];
  *tok = rt_tok_load(d->tokenizer, (size_t)d->tokenizer_bytes, err, sizeof err);
  if (!*tok) {
    print_error("%s", err);
    return NULL;
  }
  return encode_prompt(*tok, a->prompt, n);
}

/* --device into opts: the default is cuda for a model with CUDA kernels.
 * The driver is $KILN_CUDA_DRIVER when set. */
static bool device_options(const KilnModelDesc *d, const CliArgs *a, KilnOptions *opts) {
  const char *dev = a->device ? a->device : d->cuda ? "cuda" : "cpu";
  if (strcmp(dev, "cpu") != 0 && strcmp(dev, "cuda") != 0) {
    print_error("--device expects cpu or cuda, got '%s'", dev);
    return false;
  }
  opts->device = strcmp(dev, "cuda") == 0 ? KILN_DEVICE_CUDA : KILN_DEVICE_CPU;
  opts->gpu = (int)a->gpu;
  const char *driver = getenv("KILN_CUDA_DRIVER");
  opts->cuda_driver = driver && *driver ? driver : NULL;
  return true;
}

/* kiln_init's message; when the GPU was only the default, how to use the CPU. */
static void print_init_error(const CliArgs *a, const KilnOptions *opts, const char *err) {
  bool no_gpu = !strncmp(err, "no CUDA driver found", 20) || !strncmp(err, "no CUDA GPU found", 17);
  if (opts->device == KILN_DEVICE_CUDA && !a->device && no_gpu)
    print_error("%s; --device=cpu runs the model on the CPU", err);
  else
    print_error("%s", err);
}

static int cli_main(const KilnModelDesc *d, int argc, char **argv) {
  KilnSamplerParams sp = kiln_sampler_defaults();
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  CliArgs a = {.n_predict = 64, .temp = sp.temperature, .top_k = sp.top_k, .top_p = sp.top_p,
               .repeat_penalty = sp.repeat_penalty, .seed = sp.seed,
               .threads = cpus < 1 ? 1 : cpus > KILN_MAX_THREADS ? KILN_MAX_THREADS : cpus};
  if (!parse_args(argc, argv, &a)) return 1;
  if (a.help) return print_usage(d), 0;
  if (a.version) return print_version(d), 0;
  KilnOptions opts = {.weights_path = a.weights, .n_threads = (int)a.threads};
  if (!device_options(d, &a, &opts)) return 1;
  int64_t n_prompt = 0;
  RtTokenizer *tok = NULL;
  int32_t *prompt = prompt_tokens(d, &a, &n_prompt, &tok);
  if (!prompt) {
    rt_tok_free(tok);
    return 1;
  }
  char path[PATH_MAX + 8], err[1024];
  if (!opts.weights_path && !d->embedded_weights)
    opts.weights_path = default_weights_path(argv[0], path, sizeof path);
  KilnModel *m = kiln_init(d, &opts, err, sizeof err);
  int rc = 1;
  if (!m) print_init_error(&a, &opts, err);
  else rc = run(m, &a, prompt, n_prompt, a.logits ? NULL : tok);
  kiln_free(m);
  rt_tok_free(tok);
  free(prompt);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 0 && argv[0]) {
    const char *slash = strrchr(argv[0], '/');
    prog = slash ? slash + 1 : argv[0];
  }
  return cli_main(&kiln_model, argc, argv);
}
