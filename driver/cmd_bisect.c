/* cmd_bisect.c: `kiln bisect`: which pass changed the model's outputs?
 *
 *   kiln bisect models/tiny-llama --tokens=1,2,3 --decode-steps=3
 *   kiln bisect m.kir --passes=canonicalize,fold,cse --compiled
 *
 * The reference is the interpreter on the unoptimized module: a prefill of
 * the tokens, then greedy decode steps (each step's token is the argmax of
 * the step before, chosen once, in the reference, and fed to every stage).
 * The pipeline then runs one pass at a time; after each pass the
 * interpreter runs again on the same inputs and one line reports the
 * largest |difference| over the logits of every step. The first pass
 * beyond the tolerance is named and the exit status is 1. With --compiled
 * every stage (the input too) is also compiled with the CPU backend to a
 * temporary shared library, run through the runtime, and compared the
 * same way, so a backend bug on a pass's output shows as well.
 */
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fe.h"
#include "interp.h"
#include "pass_flags.h"

#if KILN_HAVE_LLVM
#include "compile_pipeline.h"
#include "kiln.h"
#endif

static void help(void) {
  printf("usage: kiln bisect MODEL [FLAGS]\n\n"
         "Runs the pass pipeline over MODEL one pass at a time and, after each pass, the\n"
         "reference interpreter on the same inputs; prints the largest |difference| of the\n"
         "logits against the unoptimized module per pass, and stops at the first pass beyond\n"
         "the tolerance (exit status 1; 0 when every pass keeps the outputs). MODEL is a model\n"
         "directory, a kiln graph JSON file (weights beside it) or a FILE.kir module with\n"
         "@prefill (and @decode) or @forward and inline parameters.\n\n"
         "  --passes=A,B,...      the pipeline (default: -O2's, the default pipeline)\n"
         "  -O1, -O2              the pipeline of that level\n"
         "  --tokens=IDS          the prompt, token ids separated by commas (default 1,2,3,4)\n"
         "  --decode-steps=N      greedy decode steps after the prefill (default 3)\n"
         "  --tolerance=X         largest |difference| allowed (default 1e-4)\n"
         "  --max-context=N       KV-cache positions of a model directory (default: the model's)\n"
         "  --compiled            also compile every stage with the CPU backend and compare\n"
         "  --llvm-opt=N          LLVM's optimization level for --compiled, 0..3 (default 3)\n"
         "  --help, --version\n");
}

typedef struct {
  const char *model, *tokens;
  double tolerance;
  int64_t decode_steps, max_context;
  int llvm_opt; /* --compiled: LLVM's level */
  bool compiled;
  PassFlags pf;
} BisectArgs;

/* The logits of each call: step 0 the prefill (or @forward), then one a
 * decode step; rows are whole result tensors. */
#define BISECT_MAX_STEPS 65
typedef struct {
  int nsteps;
  int64_t n[BISECT_MAX_STEPS];   /* values of the step */
  int64_t row[BISECT_MAX_STEPS]; /* the result's last dim: the vocabulary */
  float *v[BISECT_MAX_STEPS];
} Outputs;

static void outputs_free(Outputs *o) {
  for (int i = 0; i < o->nsteps; i++) free(o->v[i]);
  o->nsteps = 0;
}

typedef struct {
  const BisectArgs *a;
  FeModelDir md; /* model directories and JSON: config and checkpoint */
  bool have_md;
  IrModule *m;
  int32_t tokens[4096];
  int ntokens;
  int32_t decode[BISECT_MAX_STEPS]; /* chosen by the reference run */
  Outputs ref;
  char *tmpdir; /* --compiled: the stages' libraries */
} Bisect;

/* ---- flags ---- */

static bool parse_number(const char *flag, const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double x = v ? strtod(v, &end) : 0;
  if (!v || errno || end == v || *end || !(x >= lo && x <= hi)) {
    if (v) cli_usage_error("bisect", "%s expects a number in [%g, %g], got '%s'", flag, lo, hi, v);
    return false;
  }
  *out = x;
  return true;
}

static bool parse_int(const char *flag, const char *v, double lo, double hi, int64_t *out) {
  double x;
  if (!parse_number(flag, v, lo, hi, &x)) return false;
  if (x != floor(x)) {
    cli_usage_error("bisect", "%s expects an integer, got '%s'", flag, v);
    return false;
  }
  *out = (int64_t)x;
  return true;
}

static bool value_flag(CliArgs *a, BisectArgs *b, bool *bad) {
  const char *v;
  if (cli_value(a, "--tokens", &v)) b->tokens = v;
  else if (cli_value(a, "--tolerance", &v))
    *bad = !parse_number("--tolerance", v, 0, 1e30, &b->tolerance);
  else if (cli_value(a, "--decode-steps", &v))
    *bad = !parse_int("--decode-steps", v, 0, BISECT_MAX_STEPS - 1, &b->decode_steps);
  else if (cli_value(a, "--llvm-opt", &v)) {
    int64_t n = 3;
    *bad = !parse_int("--llvm-opt", v, 0, 3, &n);
    b->llvm_opt = (int)n;
  } else if (cli_value(a, "--max-context", &v))
    *bad = !parse_int("--max-context", v, 1, INT32_MAX, &b->max_context);
  else return false;
  return true;
}

/* Reads the flags into b; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, BisectArgs *b) {
  CliArgs a = cli_args(argc, argv, "bisect");
  bool bad = false;
  while (!bad && cli_next(&a)) {
    if (cli_flag(&a, "--help")) return help(), 0;
    if (cli_flag(&a, "--version")) return cli_version();
    if (pass_flags_read(&a, &b->pf) || value_flag(&a, b, &bad)) continue;
    if (cli_flag(&a, "--compiled")) b->compiled = true;
    else if (cli_is_option(&a)) return cli_unknown(&a);
    else if (b->model)
      return cli_usage_error("bisect", "more than one model ('%s' and '%s')", b->model, a.arg);
    else b->model = a.arg;
  }
  if (a.failed || bad) return 1;
  if (!b->model) return cli_usage_error("bisect", "no model given; see 'kiln bisect --help'");
  return -1;
}

/* "1,2,3" into b->tokens. */
static bool parse_tokens(Bisect *b, IrDiag *d) {
  const char *s = b->a->tokens ? b->a->tokens : "1,2,3,4";
  b->ntokens = 0;
  while (*s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ','))
      return ir_error(d, (IrLoc){0}, "--tokens expects ids separated by commas, got '%s'",
                      b->a->tokens);
    if (b->ntokens == (int)(sizeof b->tokens / sizeof b->tokens[0]))
      return ir_error(d, (IrLoc){0}, "--tokens: more than %d ids",
                      (int)(sizeof b->tokens / sizeof b->tokens[0]));
    b->tokens[b->ntokens++] = (int32_t)v;
    s = *end ? end + 1 : end;
  }
  if (!b->ntokens) return ir_error(d, (IrLoc){0}, "--tokens: no ids given");
  return true;
}

/* ---- the model ---- */

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool load(Bisect *b, IrDiag *d) {
  if (ends_with(b->a->model, ".kir")) return (b->m = cli_load_module(b->a->model, d)) != NULL;
  if (!fe_open_model_dir(b->a->model, true, &b->md, d)) return false;
  b->have_md = true;
  FeBuildOptions opt = {.max_context = b->a->max_context};
  b->m = fe_build_module(&b->md.model, b->md.weights, &opt, d);
  return b->m && fe_check_weights(b->m, b->md.weights, d);
}

/* ---- the interpreter ---- */

/* Index of the largest value; ties: the first. */
static int32_t argmax(const float *v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return (int32_t)best;
}

/* One call of `entry` on tokens at position pos; appends its logits. */
static bool call(IrInterp *it, const IrModule *m, const char *entry, const int32_t *ids, int n,
                 int64_t pos, Outputs *out, IrDiag *d) {
  int64_t syms[IR_MAX_SYMS];
  ir_interp_syms_unset(syms);
  int p = ir_module_find_sym(m, "P", 1);
  if (p >= 0) syms[p] = pos;
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){n});
  for (int i = 0; i < n; i++) in.i[i] = ids[i];
  IrTensor *res = NULL;
  int nres = 0;
  bool ok = ir_interp_call(it, entry, syms, &in, 1, &res, &nres, d);
  ir_tensor_free(&in);
  if (ok && (nres != 1 || !res[0].f))
    ok = ir_error(d, (IrLoc){0}, "@%s must return one float tensor (the logits)", entry);
  if (ok) {
    int k = out->nsteps++;
    out->n[k] = ir_tensor_numel(&res[0]);
    out->row[k] = res[0].rank ? res[0].shape[res[0].rank - 1] : 1;
    out->v[k] = malloc(sizeof(float) * (size_t)(out->n[k] ? out->n[k] : 1));
    if (!out->v[k]) abort(); /* out of memory */
    memcpy(out->v[k], res[0].f, sizeof(float) * (size_t)out->n[k]);
  }
  ir_tensors_free(res, nres);
  return ok;
}

/* The prefill (or @forward), then the decode steps; `choose` picks each
 * decode token greedily (the reference run) instead of reading b->decode. */
static bool interp_run(Bisect *b, const IrModule *m, bool choose, Outputs *out, IrDiag *d) {
  bool has_prefill = ir_module_find_func(m, "prefill") != NULL;
  bool has_decode = ir_module_find_func(m, "decode") != NULL;
  if (!has_prefill && !ir_module_find_func(m, "forward"))
    return ir_error(d, (IrLoc){0}, "the module has neither @prefill nor @forward");
  IrInterp *it = ir_interp_new(m, d);
  bool ok = it && (!b->have_md || fe_bind_weights(it, m, b->md.weights, d));
  ok = ok && call(it, m, has_prefill ? "prefill" : "forward", b->tokens, b->ntokens, 0, out, d);
  int steps = has_prefill && has_decode ? (int)b->a->decode_steps : 0;
  for (int s = 0; ok && s < steps; s++) {
    int k = out->nsteps - 1;
    if (choose) b->decode[s] = argmax(out->v[k] + out->n[k] - out->row[k], out->row[k]);
    ok = call(it, m, "decode", &b->decode[s], 1, b->ntokens + s, out, d);
  }
  ir_interp_free(it);
  return ok;
}

/* Largest |a - b| over every step; a NaN on one side only, or a
 * different size, is infinite. `last_row` compares each step of b (vocab
 * values) with the last vocab values of a's. */
static double max_diff(const Outputs *a, const Outputs *b, bool last_row) {
  if (a->nsteps != b->nsteps) return INFINITY;
  double worst = 0;
  for (int s = 0; s < a->nsteps; s++) {
    int64_t off = last_row ? a->n[s] - b->n[s] : 0;
    if (off < 0 || (!last_row && a->n[s] != b->n[s])) return INFINITY;
    for (int64_t i = 0; i < b->n[s]; i++) {
      double x = a->v[s][off + i], y = b->v[s][i];
      if (isnan(x) && isnan(y)) continue;
      double diff = isnan(x) || isnan(y) ? INFINITY : fabs(x - y);
      if (diff > worst) worst = diff;
    }
  }
  return worst;
}

/* ---- the compiled stages ---- */

#if KILN_HAVE_LLVM

typedef KilnModel *(*InitFn)(const KilnModelDesc *, const KilnOptions *, char *, size_t);
typedef int (*PrefillFn)(KilnModel *, const int32_t *, int64_t);
typedef int (*DecodeFn)(KilnModel *, int32_t);
typedef const float *(*LogitsFn)(const KilnModel *);
typedef void (*FreeFn)(KilnModel *);
typedef const char *(*ErrorFn)(const KilnModel *);

typedef struct {
  InitFn init;
  PrefillFn prefill;
  DecodeFn decode;
  LogitsFn logits;
  FreeFn free_model;
  ErrorFn error;
  const KilnModelDesc *desc;
} Runtime;

static bool lookup(void *lib, Runtime *rt, const char *path, IrDiag *d) {
  rt->desc = dlsym(lib, "kiln_model");
  rt->init = (InitFn)dlsym(lib, "kiln_init");
  rt->prefill = (PrefillFn)dlsym(lib, "kiln_prefill");
  rt->decode = (DecodeFn)dlsym(lib, "kiln_decode");
  rt->logits = (LogitsFn)dlsym(lib, "kiln_logits");
  rt->free_model = (FreeFn)dlsym(lib, "kiln_free");
  rt->error = (ErrorFn)dlsym(lib, "kiln_last_error");
  if (rt->desc && rt->init && rt->prefill && rt->decode && rt->logits && rt->free_model &&
      rt->error)
    return true;
  return ir_error_at(d, path, "the compiled library lacks the runtime's functions");
}

static void append_logits(const Runtime *rt, KilnModel *km, Outputs *out) {
  int k = out->nsteps++;
  out->n[k] = out->row[k] = rt->desc->vocab;
  out->v[k] = malloc(sizeof(float) * (size_t)out->n[k]);
  if (!out->v[k]) abort(); /* out of memory */
  memcpy(out->v[k], rt->logits(km), sizeof(float) * (size_t)out->n[k]);
}

/* The prefill and the reference's decode tokens through the library. */
static bool run_library(Bisect *b, const char *path, Outputs *out, IrDiag *d) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return ir_error_at(d, path, "cannot load the compiled stage: %s", dlerror());
  Runtime rt;
  bool ok = lookup(lib, &rt, path, d);
  char err[512];
  KilnOptions ko = {.weights_path = NULL, .n_threads = 1};
  KilnModel *km = ok ? rt.init(rt.desc, &ko, err, sizeof err) : NULL;
  if (ok && !km) ok = ir_error_at(d, path, "kiln_init: %s", err);
  ok = ok && rt.prefill(km, b->tokens, b->ntokens) == KILN_OK;
  if (ok) append_logits(&rt, km, out);
  for (int s = 0; ok && s + 1 < b->ref.nsteps; s++) {
    ok = rt.decode(km, b->decode[s]) == KILN_OK;
    if (ok) append_logits(&rt, km, out);
  }
  if (km && !ok && !d->failed) ir_error_at(d, path, "%s", rt.error(km));
  if (km) rt.free_model(km);
  dlclose(lib);
  return ok;
}

/* Compiles a copy of m (the passes already ran: none now) into
 * TMPDIR/stageN.so and runs it. */
static bool compiled_run(Bisect *b, const IrModule *m, int stage, Outputs *out, IrDiag *d) {
  IrBuf text = {0};
  ir_print_module(&text, m);
  IrModule *copy = ir_parse(text.data, text.len, b->a->model, d);
  ir_buf_free(&text);
  if (!copy) return false;
  char name[64];
  snprintf(name, sizeof name, "stage%d.so", stage);
  char *path = cli_path_join(b->tmpdir, name);
  CompileOptions co = {.model = b->a->model, .output = path, .emit = COMPILE_SHARED,
                       .embed_weights = true, .graph_opt = 2, .llvm_opt = b->a->llvm_opt,
                       .symbol = "kiln_model", .passes = pass_flags_new(), .module = copy,
                       .weights = b->have_md ? b->md.weights : NULL};
  co.passes.passes = ""; /* the stage is the module as the passes left it */
  bool ok = compile_model(&co, d) && run_library(b, path, out, d);
  unlink(path);
  free(path);
  return ok;
}

#else

static bool compiled_run(Bisect *b, const IrModule *m, int stage, Outputs *out, IrDiag *d) {
  (void)b, (void)m, (void)stage, (void)out;
  return ir_error(d, (IrLoc){0}, "--compiled: this kiln was built without LLVM");
}

#endif

/* ---- the stages ---- */

static void print_diff(const char *what, double diff, double tol) {
  printf("  %s %.3g%s", what, diff, diff > tol ? " (beyond)" : "");
}

/* Runs stage `stage` (0: the input) and prints its line; *bad when beyond
 * the tolerance. */
static bool check_stage(Bisect *b, int stage, int n, const char *name, bool *bad, IrDiag *d) {
  Outputs got = {0}, comp = {0};
  bool ok = stage == 0 || interp_run(b, b->m, false, &got, d);
  double tol = b->a->tolerance, di = stage == 0 ? 0 : max_diff(&b->ref, &got, false), dc = 0;
  if (ok && b->a->compiled) {
    ok = compiled_run(b, b->m, stage, &comp, d);
    dc = ok ? max_diff(&b->ref, &comp, true) : 0;
  }
  if (ok) {
    printf("%3d/%d %-16s", stage, n, name);
    print_diff("interpreter", di, tol);
    if (b->a->compiled) print_diff("compiled", dc, tol);
    printf("\n");
    fflush(stdout);
    *bad = di > tol || dc > tol;
  }
  outputs_free(&got);
  outputs_free(&comp);
  return ok;
}

/* Pass i alone over b->m, with the verifier and the crash guard. */
static bool run_pass(Bisect *b, const PassInfo *info, IrDiag *d) {
  PassPipeline one = {1, {info}};
  PassOptions po = b->a->pf.po;
  po.verify_each = true;
  pass_crash_guard(&po, "bisect", NULL);
  bool ok = pass_pipeline_run(&one, b->m, &po, d);
  pass_crash_unguard();
  return ok;
}

/* The pipeline pass by pass; returns the exit status. */
static int bisect(Bisect *b, IrDiag *d) {
  PassPipeline p;
  if (!pass_pipeline_parse(pass_flags_pipeline(&b->a->pf, 2), &p, d)) return cli_fail("bisect", d);
  if (!interp_run(b, b->m, true, &b->ref, d)) return cli_fail("bisect", d);
  printf("kiln bisect: %d passes, %d tokens, %d decode steps, tolerance %g\n", p.n, b->ntokens,
         b->ref.nsteps - 1, b->a->tolerance);
  bool bad = false;
  if (!check_stage(b, 0, p.n, "(input)", &bad, d)) return cli_fail("bisect", d);
  if (bad) {
    printf("the unoptimized module differs beyond %g when compiled: a backend bug\n",
           b->a->tolerance);
    return 1;
  }
  for (int i = 0; i < p.n; i++) {
    if (!run_pass(b, p.passes[i], d) || !check_stage(b, i + 1, p.n, p.passes[i]->name, &bad, d))
      return cli_fail("bisect", d);
    if (bad) {
      printf("first pass beyond %g: '%s' (%d of %d)\n", b->a->tolerance, p.passes[i]->name,
             i + 1, p.n);
      return 1;
    }
  }
  printf("every pass keeps the outputs within %g\n", b->a->tolerance);
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path); /* best effort: go on */
  return 0;
}

/* Removes the stages' directory and what compile left in it (headers). */
static void remove_tmpdir(const char *dir) { nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

static bool make_tmpdir(Bisect *b, IrDiag *d) {
  const char *base = getenv("TMPDIR");
  char *tmpl = cli_path_join(base && *base ? base : "/tmp", "kiln-bisect-XXXXXX");
  if (!mkdtemp(tmpl)) {
    ir_error_at(d, tmpl, "cannot create a temporary directory: %s", strerror(errno));
    free(tmpl);
    return false;
  }
  b->tmpdir = tmpl;
  return true;
}

int cmd_bisect(int argc, char **argv) {
  BisectArgs a = {.tolerance = 1e-4, .decode_steps = 3, .llvm_opt = 3, .pf = pass_flags_new()};
  int status = parse_flags(argc, argv, &a);
  if (status >= 0) return status;
  Bisect b = {.a = &a};
  IrDiag d = {0};
  if (!parse_tokens(&b, &d) || !load(&b, &d) || (a.compiled && !make_tmpdir(&b, &d)))
    status = cli_fail("bisect", &d);
  else
    status = bisect(&b, &d);
  if (b.tmpdir) remove_tmpdir(b.tmpdir);
  free(b.tmpdir);
  outputs_free(&b.ref);
  ir_module_free(b.m);
  if (b.have_md) fe_close_model_dir(&b.md);
  return status;
}
