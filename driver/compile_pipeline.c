/* compile_pipeline.c: `kiln compile`'s steps, one list in compile_model():
 * the model in, its module checked, bounded and optimized, the outputs
 * named; compile_emit.c makes the artifacts. */
#include "compile_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool compile_emit_from_name(const char *s, CompileEmit *out) {
  static const char *const names[] = {"exe", "obj", "lib", "shared", "ll", "asm", "kir",
                                      "cu",  "ptx", "cubin"};
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
    if (strcmp(s, names[i]) == 0) return *out = (CompileEmit)i, true;
  return false;
}

#if !KILN_HAVE_LLVM

bool compile_model(const CompileOptions *o, IrDiag *d) {
  return ir_error(d, (IrLoc){0}, "this kiln was built without LLVM, which the CPU backend needs; "
                                 "install llvm-19-dev and rebuild kiln");
}

#else

#include "cg_llvm.h"
#include "compile_internal.h"
#include "fe_tokenizer.h"
#include "kernel_plan.h"
#include "kplan_memory.h"
#include "pass.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "models/llama/" -> "llama"; "a/tiny.json" -> "tiny"; "m.kir" -> "m". */
static char *base_name(const char *path) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t start = n;
  while (start > 0 && path[start - 1] != '/') start--;
  char *r = strndup(path + start, n - start);
  if (!r) abort(); /* out of memory */
  char *dot = strrchr(r, '.');
  if (dot && dot != r && (!strcmp(dot, ".json") || !strcmp(dot, ".kir"))) *dot = '\0';
  return r;
}

/* ---- checks before any work ---------------------------------------------- */

static bool needs_runtime(CompileEmit e) {
  return e == COMPILE_EXE || e == COMPILE_LIB || e == COMPILE_SHARED;
}

/* The target is known, and a cross-compiled artifact can be linked. */
static bool check_target(Compile *c, IrDiag *d) {
  const CompileOptions *o = c->o;
  CgTarget t = {o->triple, o->cpu, o->features, o->llvm_opt, NULL};
  LLVMTargetMachineRef tm;
  if (!cg_target_machine(&t, &tm, d)) return false;
  LLVMDisposeTargetMachine(tm);
  if (!cg_target_ktarget(&t, &c->ktarget, d)) return false;
  if (o->verbose) {
    IrBuf b = {0};
    ktarget_describe(&b, &c->ktarget);
    fprintf(stderr, "kiln: target %s\n", b.data ? b.data : "");
    ir_buf_free(&b);
  }
  if (!al_is_cross(o->triple)) return true;
  if ((o->emit == COMPILE_EXE || o->emit == COMPILE_SHARED) && !o->cc)
    return ir_error(d, (IrLoc){0},
                    "cannot link %s for '%s' with this machine's compiler; give --cc with a "
                    "cross compiler (and --runtime-dir with a kiln runtime built for the "
                    "target), or use --emit=obj",
                    o->emit == COMPILE_EXE ? "an executable" : "a shared library", o->triple);
  if (o->emit == COMPILE_LIB && !o->runtime_dir)
    return ir_error(d, (IrLoc){0},
                    "a static library for '%s' needs a kiln runtime built for that target; give "
                    "--runtime-dir, or use --emit=obj",
                    o->triple);
  return true;
}

static bool find_runtime(Compile *c, IrDiag *d) {
  if (!needs_runtime(c->o->emit)) return true;
  c->have_rt = true; /* al_find_runtime leaves it safe to free either way */
  return al_find_runtime(c->o->cc, c->o->runtime_dir, c->o->emit == COMPILE_EXE, &c->rt, d);
}

/* ---- the model ------------------------------------------------------------ */

/* tokenizer.json, packed; a tokenizer kiln cannot pack is a warning. */
static void pack_tokenizer(Compile *c) {
  if (!c->md.tokenizer_path) return;
  IrDiag td = {0};
  size_t len;
  char *json = cli_read_file(c->md.tokenizer_path, &len, &td);
  if (json && fe_tokenizer_pack(json, len, c->md.tokenizer_path, &c->tokenizer,
                                &c->tokenizer_bytes, &td)) {
    free(json);
    return;
  }
  free(json);
  fprintf(stderr, "kiln compile: warning: %s\nkiln compile: warning: the model is compiled without "
                  "its tokenizer; its executable takes --tokens only\n",
          td.msg);
}

static bool load_model_dir(Compile *c, IrDiag *d) {
  if (!fe_open_model_dir(c->o->model, true, &c->md, d)) return false;
  FeBuildOptions opt = {.max_context = c->o->max_context, .all_logits = c->o->all_logits};
  c->m = fe_build_module(&c->md.model, c->md.weights, &opt, d);
  if (!c->m || !fe_check_weights(c->m, c->md.weights, d)) return false;
  c->bos_id = c->md.model.bos_id;
  c->eos_id = c->md.model.eos_id;
  pack_tokenizer(c);
  return true;
}

/* o->module: a module built by the caller, as if read from a .kir file. */
static bool take_module(Compile *c) {
  c->m = c->o->module;
  c->from_kir = true;
  c->md.weights = (FeWeights *)c->o->weights; /* borrowed: unset before closing md */
  return true;
}

static bool load(Compile *c, IrDiag *d) {
  c->model_name = base_name(c->o->model);
  c->bos_id = c->eos_id = -1;
  if (c->o->module) return take_module(c);
  c->from_kir = ends_with(c->o->model, ".kir");
  if (!c->from_kir) return load_model_dir(c, d);
  c->m = cli_load_module(c->o->model, d);
  if (!c->m) return false;
  free(c->model_name);
  c->model_name = cli_strdup(c->m->name);
  return true;
}

/* ---- the entries ------------------------------------------------------------ */

static bool dim_is_sym(IrDim dim, int sym) { return sym >= 0 && ir_dim_eq(dim, ir_dim_sym(sym)); }

static bool dim_is(IrDim dim, int64_t c) { return ir_dim_is_const(dim) && dim.c == c; }

/* "@prefill(%tokens: i32[T]) -> f32[1, vocab] or f32[T, vocab]";
 * t_sym is T's index, or -1 for decode's i32[1]. */
static bool check_entry(const IrFunc *f, int t_sym, int64_t *vocab, bool *all,
                        IrDiag *d) {
  const IrValue *arg = f->nargs == 1 ? f->args[0] : NULL;
  bool arg_ok = arg && arg->type.dtype == IR_I32 && arg->type.rank == 1 &&
                (t_sym >= 0 ? dim_is_sym(arg->type.dims[0], t_sym) : dim_is(arg->type.dims[0], 1));
  const IrType *r = f->nresults == 1 ? &f->result_types[0] : NULL;
  bool res_ok = r && r->dtype == IR_F32 && r->rank == 2 && ir_dim_is_const(r->dims[1]) &&
                r->dims[1].c > 0 &&
                (dim_is(r->dims[0], 1) || (t_sym >= 0 && dim_is_sym(r->dims[0], t_sym)));
  if (!arg_ok || !res_ok)
    return ir_error(d, f->loc, "@%s must take one argument i32[%s] (the token ids) and return "
                               "f32[1, VOCAB]%s (the logits)",
                    f->name, t_sym >= 0 ? "T" : "1", t_sym >= 0 ? " or f32[T, VOCAB]" : "");
  *vocab = r->dims[1].c;
  *all = !dim_is(r->dims[0], 1);
  return true;
}

/* The module is a decoder kiln can run: @prefill, optionally @decode, and
 * no symbols but T and P. Sets vocab and all_logits. */
static bool check_module(Compile *c, IrDiag *d) {
  IrModule *m = c->m;
  const char *src = c->o->model;
  int t_sym = ir_module_find_sym(m, "T", 1);
  for (int s = 0; s < m->nsyms; s++)
    if (strcmp(m->syms[s].name, "T") != 0 && strcmp(m->syms[s].name, "P") != 0)
      return ir_error(d, m->syms[s].loc, "symbol %s: a compiled model binds only T (tokens in a "
                                         "call) and P (tokens already in the KV cache)",
                      m->syms[s].name);
  for (int i = 0; i < m->nfuncs; i++) {
    const char *n = m->funcs[i]->name;
    if (!strcmp(n, "forward"))
      return ir_error_at(d, src, "the model is an encoder (@forward); kiln compile builds decoder "
                                 "models with @prefill and @decode");
    if (strcmp(n, "prefill") != 0 && strcmp(n, "decode") != 0)
      return ir_error(d, m->funcs[i]->loc, "function @%s: a compiled model has @prefill and, "
                                           "optionally, @decode, and no other functions", n);
  }
  IrFunc *prefill = ir_module_find_func(m, "prefill"), *decode = ir_module_find_func(m, "decode");
  if (!prefill) return ir_error_at(d, src, "the module has no @prefill function");
  if (t_sym < 0) return ir_error_at(d, src, "the module has no symbol T (tokens in a call)");
  if (!check_entry(prefill, t_sym, &c->vocab, &c->all_logits, d)) return false;
  int64_t dvocab;
  bool dall;
  if (decode && !check_entry(decode, -1, &dvocab, &dall, d)) return false;
  if (decode && dvocab != c->vocab)
    return ir_error(d, decode->loc, "@decode returns %lld logits, @prefill %lld",
                    (long long)dvocab, (long long)c->vocab);
  if (c->o->all_logits && !c->all_logits)
    return ir_error(d, prefill->loc, "--all-logits: @prefill returns f32[1, %lld], not the "
                                     "logits of every position f32[T, %lld]",
                    (long long)c->vocab, (long long)c->vocab);
  return true;
}

/* max_context bounds P + T (the KV cache), max_tokens bounds T (one call).
 * T's bound becomes max_tokens, so the arena is sized for that. */
static bool set_bounds(Compile *c, IrDiag *d) {
  IrModule *m = c->m;
  const CompileOptions *o = c->o;
  int t = ir_module_find_sym(m, "T", 1), p = ir_module_find_sym(m, "P", 1);
  int64_t t_max = m->syms[t].max, ctx = p >= 0 ? m->syms[p].max : t_max;
  if (o->max_context && c->from_kir) {
    if (o->max_context > ctx)
      return ir_error_at(d, o->model, "--max-context %lld exceeds the module's context of %lld "
                                      "(the bound of %s)",
                         (long long)o->max_context, (long long)ctx, p >= 0 ? "P" : "T");
    ctx = o->max_context;
    if (p >= 0) m->syms[p].max = ctx;
  }
  int64_t tokens = o->max_tokens ? o->max_tokens : COMPILE_DEFAULT_MAX_TOKENS;
  if (!o->max_tokens && tokens > t_max) tokens = t_max;
  if (!o->max_tokens && tokens > ctx) tokens = ctx;
  if (tokens > t_max || tokens > ctx)
    return ir_error(d, (IrLoc){0}, "--max-tokens %lld exceeds %lld, the most tokens the model "
                                   "takes in one call",
                    (long long)tokens, (long long)(t_max < ctx ? t_max : ctx));
  m->syms[t].max = tokens;
  c->max_context = ctx;
  c->max_tokens = tokens;
  return ir_verify(m, d);
}

/* The graph passes the flags select (pass_flags.c). A failing or crashing
 * pass leaves NAME.reproducer.kir (or --reproducer=FILE) behind. */
static bool run_passes(Compile *c, IrDiag *d) {
  PassFlags pf = c->o->passes;
  pf.level = c->o->graph_opt; /* the one place the level is kept */
  char *reproducer = pf.po.reproducer ? NULL : cli_concat(c->o->output, ".reproducer.kir");
  if (reproducer) pf.po.reproducer = reproducer;
  pf.po.target = &c->ktarget;
  /* The CUDA kernels read weights row-major: panels are the CPU
   * micro-kernel's layout. */
  char *cuda_pipeline = NULL;
  if (c->o->device_cuda && !pf.passes && c->o->graph_opt >= 2) {
    cuda_pipeline = cli_strdup(pass_default_pipeline());
    char *pw = strstr(cuda_pipeline, ",pack-weights");
    if (pw) memmove(pw, pw + strlen(",pack-weights"), strlen(pw + strlen(",pack-weights")) + 1);
    pf.passes = cuda_pipeline;
  }
  bool ok = pass_flags_run(&pf, "compile", c->m, c->o->graph_opt, d);
  free(cuda_pipeline);
  free(reproducer);
  return ok;
}

/* --memory-report: the arena against the naive sum and the lower bound. */
static void print_memory_report(const KMemoryReport *r) {
  fprintf(stderr,
          "arena: %llu bytes (%.2f MiB); naive sum: %llu bytes; lower bound: %llu bytes; "
          "%d reshapes are views\n",
          (unsigned long long)r->arena_bytes, (double)r->arena_bytes / (1 << 20),
          (unsigned long long)r->naive_bytes, (unsigned long long)r->lower_bound, r->views);
}

/* -O0 keeps the trivial plan's arena (one slot a value); -O1 and up plan it. */
static bool build_plan(Compile *c, IrDiag *d) {
  c->plan = kplan_build(c->m, d);
  if (!c->plan) return false;
  KMemoryOptions mo = {.in_place = c->o->graph_opt > 0, .measure_only = c->o->graph_opt <= 0};
  KMemoryReport r;
  if (!kplan_plan_memory(c->plan, &mo, &r, d)) return false;
  if (c->o->memory_report) print_memory_report(&r);
  c->weights_bytes = c->plan->weights_bytes;
  c->big = c->weights_bytes >= (64u << 20);
  return true;
}

/* --print-ir, --print-kernels: to stdout. */
static void print_requested(const Compile *c) {
  IrBuf b = {0};
  if (c->o->print_ir) ir_print_module(&b, c->m);
  if (c->o->print_kernels) kplan_print(&b, c->plan);
  if (b.len) fwrite(b.data, 1, b.len, stdout);
  fflush(stdout);
  ir_buf_free(&b);
}

/* ---- the outputs ------------------------------------------------------------ */

/* NAME without an artifact extension: "out/tiny.o" -> "out/tiny". */
static char *stem_of(const char *name) {
  static const char *const exts[] = {".o", ".obj", ".a", ".so", ".dylib", ".cu", ".ptx", ".cubin"};
  char *s = cli_strdup(name);
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (ends_with(s, exts[i]) && strlen(s) > strlen(exts[i])) s[strlen(s) - strlen(exts[i])] = '\0';
  return s;
}

/* "dir/tiny.h" -> "dir/kiln.h" */
static char *beside(const char *path, const char *name) {
  const char *slash = strrchr(path, '/');
  int n = slash ? (int)(slash - path + 1) : 0;
  size_t len = (size_t)n + strlen(name) + 1;
  char *r = malloc(len);
  if (!r) abort(); /* out of memory */
  snprintf(r, len, "%.*s%s", n, path, name);
  return r;
}

static bool reserve(Compile *c, const char *final, bool exe, const char **tmp, IrDiag *d) {
  const char *t = co_reserve(&c->out, final, exe, d);
  if (tmp) *tmp = t;
  return t != NULL;
}

/* STEM.h, and copies of kiln.h and kiln_abi.h beside it. */
static bool reserve_headers(Compile *c, IrDiag *d) {
  char *inc = al_find_include_dir(c->o->runtime_dir);
  if (!inc)
    return ir_error(d, (IrLoc){0}, "cannot find kiln.h and kiln_abi.h for the generated header; "
                                   "give --runtime-dir with a directory that holds them");
  char *h = cli_concat(c->stem, ".h");
  const char *names[2] = {"kiln.h", "kiln_abi.h"};
  bool ok = reserve(c, h, false, &c->header_tmp, d);
  for (int i = 0; i < 2 && ok; i++) {
    char *dst = beside(h, names[i]), *src = cli_path_join(inc, names[i]);
    const char *tmp;
    ok = reserve(c, dst, false, &tmp, d) && al_copy_file(src, tmp, d);
    free(dst);
    free(src);
  }
  free(h);
  free(inc);
  return ok;
}

/* --device=cuda: STEM.cu, STEM.ptx or STEM.cubin + STEM.ptx, and STEM.json. */
static bool reserve_cuda_outputs(Compile *c, IrDiag *d) {
  static const char *const exts[][3] = {{".cu", ".json"}, {".ptx", ".json"},
                                        {".cubin", ".ptx", ".json"}};
  const char *const *e = exts[c->o->emit - COMPILE_CU];
  c->stem = stem_of(c->o->output);
  bool ok = true;
  for (int i = 0; i < 3 && e[i] && ok; i++) {
    char *name = cli_concat(c->stem, e[i]);
    c->cuda_ext[i] = e[i];
    ok = reserve(c, name, false, &c->cuda_tmp[i], d);
    free(name);
  }
  return ok;
}

/* Creates every output's temporary: an unwritable place fails here. */
static bool reserve_outputs(Compile *c, IrDiag *d) {
  const CompileOptions *o = c->o;
  CompileEmit e = o->emit;
  if (compile_emit_is_cuda(e)) return reserve_cuda_outputs(c, d);
  bool with_header = e == COMPILE_OBJ || e == COMPILE_LIB || e == COMPILE_SHARED;
  bool with_kw = (e == COMPILE_EXE || with_header) && !o->embed_weights;
  c->stem = e == COMPILE_EXE ? cli_strdup(o->output) : stem_of(o->output);
  bool ok = reserve(c, o->output, e == COMPILE_EXE || e == COMPILE_SHARED, &c->main_tmp, d);
  if (ok && with_kw) {
    char *kw = cli_concat(c->stem, ".kw");
    ok = reserve(c, kw, false, &c->kw_tmp, d);
    free(kw);
  }
  if (ok && with_header) ok = reserve_headers(c, d);
  return ok;
}

/* ---- the whole ---------------------------------------------------------------- */

/* Every step in order; the first failure stops (d says why). */
static bool steps(Compile *c, IrDiag *d) {
  bool ok = check_target(c, d) && find_runtime(c, d) && ce_open_nvrtc(c, d) && load(c, d) &&
            check_module(c, d) && set_bounds(c, d) && run_passes(c, d) && build_plan(c, d);
  if (!ok) return false;
  print_requested(c);
  if (!reserve_outputs(c, d)) return false;
  if (compile_emit_is_cuda(c->o->emit)) return ce_write_cuda(c, d) && co_commit(&c->out, d);
  /* the CUDA kernels before the weights: an op without a CUDA kernel
   * fails before gigabytes are packed */
  if (!ce_build_cuda(c, d) || !ce_pack_weights(c, d)) return false;
  ce_hash(c);
  if (c->o->emit == COMPILE_KIR) return ce_write_kir(c, d) && co_commit(&c->out, d);
  return ce_generate(c, d) && ce_write_header(c, d) && ce_finish_weights(c, d) &&
         co_commit(&c->out, d);
}

bool compile_model(const CompileOptions *o, IrDiag *d) {
  Compile c = {.o = o};
  co_guard(&c.out);
  bool ok = steps(&c, d);
  ce_free(&c);
  co_finish(&c.out);
  kplan_free(c.plan);
  ir_module_free(c.m ? c.m : o->module);
  if (o->module) c.md.weights = NULL; /* the caller's */
  fe_close_model_dir(&c.md);
  if (c.have_rt) al_free_runtime(&c.rt);
  free(c.model_name);
  free(c.stem);
  free(c.tokenizer);
  return ok;
}

#endif
