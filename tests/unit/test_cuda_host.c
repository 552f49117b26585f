/* test_cuda_host.c: the CUDA kernels of every tiny model, run on the CPU.
 *
 * For each model under tests/data/tiny, unoptimized, after the default
 * pipeline (with fused attention), and after it and the fuse pass (fused
 * elementwise ops, matmul epilogues), the CUDA C that cg_cuda_emit writes is
 * compiled as C with the host emulation header (codegen/cuda/
 * kiln_cuda_host.h: each phase between barriers is a loop over the
 * block's threads), loaded with dlopen, and every entry is run by
 * launching its kernels in order over their grids, as the GPU runtime
 * would. The logits of the golden prompt (prefill, T = 7) and of three
 * decode steps must equal the interpreter's (on the unoptimized module)
 * within 1e-4 relative: |a - b| <= 1e-4 * max(1, max |interpreter|). The
 * kernels sum in another order than the interpreter (tree reductions,
 * online softmax), so exact equality is not expected; 1e-4 is the bound
 * test_codegen_families.c uses for the CPU backend.
 *
 * mixtral and gpt2 run once more with 32 and 1024 threads a block for the
 * elementwise and row kernels.
 *
 * Also checked: a module with an op the backend does not lower gives an
 * error naming the op, user names reach the source only sanitized, and
 * cg_cuda_write_files writes STEM.cu and a manifest that parses as JSON
 * and lists every kernel with its launch shape.
 */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <unistd.h>

#include "cg_weights.h"
#include "interp.h"
#include "test_cuda_util.h"
#include "test_checkpoint.h"

#define HOST_TOL 1e-4
#define HOST_HEADER KILN_TEST_DATA "/../../codegen/cuda/kiln_cuda_host.h"

typedef void (*EmuKernel)(const unsigned char *, unsigned char *, unsigned char *, const int *, float *,
                          KilnSyms, KilnOffs);
typedef void (*EmuLaunch)(EmuKernel, const long long grid[3], unsigned, const unsigned char *,
                          unsigned char *, unsigned char *, const int *, float *, KilnSyms, KilnOffs);

static char tmp_dir[64];
static double worst_seen;

typedef struct {
  const char *entry;
  int64_t T, P;
  const int32_t *tokens;
} Call;

/* A model compiled for the host: the loaded library and its buffers. */
typedef struct {
  TcuModel *tm;
  void *so;
  EmuLaunch launch;
  EmuKernel *fns; /* [cuda.nkernels]: each launch's function */
  uint8_t *weights, *arena, *state;
  IrInterp *it;
} HostModel;

static char *read_text(const char *path) {
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

static void *alloc64(uint64_t bytes) {
  void *p = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64 + 64));
  if (!p) abort();
  return p;
}

/* Compiles the emitted source as C against the emulation header. */
static bool host_compile(HostModel *hm) {
  char cu[1024], so[1024], cmd[4096];
  snprintf(cu, sizeof cu, "%s/%s.cu", tmp_dir, hm->tm->name);
  snprintf(so, sizeof so, "%s/%s.so", tmp_dir, hm->tm->name);
  if (!tcu_write(cu, hm->tm->src.data)) return false;
  snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O1 -w -fPIC -shared -include %s -x c %s -o %s -lm", HOST_HEADER,
           cu, so);
  int rc = system(cmd);
  unlink(cu);
  if (rc != 0) {
    fprintf(stderr, "%s: '%s' failed\n", hm->tm->name, cmd);
    unlink(so);
    return false;
  }
  hm->so = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  unlink(so);
  if (!hm->so) return false;
  hm->launch = (EmuLaunch)dlsym(hm->so, "kiln_emu_launch");
  hm->fns = calloc((size_t)hm->tm->cuda.nkernels + 1, sizeof *hm->fns);
  bool ok = hm->launch != NULL;
  for (int k = 0; k < hm->tm->cuda.nkernels && ok; k++)
    ok = (hm->fns[k] = (EmuKernel)dlsym(hm->so, hm->tm->cuda.kernels[k].name)) != NULL;
  return ok;
}

static void call_syms(const IrModule *m, const Call *c, int64_t *syms) {
  for (int s = 0; s < IR_MAX_SYMS; s++) syms[s] = 0;
  for (int s = 0; s < m->nsyms; s++) {
    if (strcmp(m->syms[s].name, "T") == 0) syms[s] = c->T;
    if (strcmp(m->syms[s].name, "P") == 0) syms[s] = c->P;
  }
}

/* Runs the entry's kernels in order; returns the logits (T x vocab). */
static float *host_call(HostModel *hm, const Call *c, int64_t n) {
  const KernelPlan *p = hm->tm->plan;
  int entry = -1;
  for (int e = 0; e < p->nentries; e++)
    if (strcmp(p->entries[e].func->name, c->entry) == 0) entry = e;
  if (entry < 0) return NULL;
  int64_t syms[IR_MAX_SYMS];
  call_syms(p->module, c, syms);
  KilnSyms ks;
  for (int s = 0; s < IR_MAX_SYMS; s++) ks.s[s] = syms[s];
  float *out = malloc(sizeof(float) * (size_t)n);
  memset(out, 0xff, sizeof(float) * (size_t)n); /* NaN: an unwritten logit shows */
  memset(hm->arena, 0xff, (size_t)p->arena_bytes);
  for (int k = 0; k < hm->tm->cuda.nkernels; k++) {
    const CgCudaKernel *kr = &hm->tm->cuda.kernels[k];
    if (kr->entry != entry) continue;
    int64_t g[3];
    cg_cuda_grid(kr, syms, g);
    if (g[0] == 0 || g[1] == 0 || g[2] == 0) continue; /* an empty launch */
    long long grid[3] = {g[0], g[1], g[2]};
    KilnOffs ko = {{0}};
    for (int i = 0; i < kr->noffs; i++) ko.o[i] = kr->offs[i];
    hm->launch(hm->fns[k], grid, (unsigned)kr->block, hm->weights, hm->arena, hm->state, c->tokens, out, ks, ko);
  }
  return out;
}

static float *interp_call(HostModel *hm, const Call *c, int64_t *n) {
  int64_t syms[IR_MAX_SYMS];
  call_syms(hm->tm->ref, c, syms);
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){c->T});
  for (int64_t i = 0; i < c->T; i++) in.i[i] = c->tokens[i];
  IrTensor *outs = NULL;
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(hm->it, c->entry, syms, &in, 1, &outs, &nout, &d);
  ir_tensor_free(&in);
  if (!ok) {
    fprintf(stderr, "%s: interpreter: %s\n", hm->tm->name, d.msg);
    return NULL;
  }
  *n = ir_tensor_numel(&outs[0]);
  float *r = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
  for (int64_t e = 0; e < *n; e++) r[e] = outs[0].f[e];
  ir_tensors_free(outs, nout);
  return r;
}

static void compare(const char *what, const float *got, const float *want, int64_t n) {
  double scale = 1, worst = 0;
  for (int64_t e = 0; e < n; e++)
    if (isfinite(want[e]) && fabs(want[e]) > scale) scale = fabs(want[e]);
  int64_t bad = -1;
  for (int64_t e = 0; e < n; e++) {
    double diff = fabs((double)got[e] - want[e]);
    if (!(diff <= HOST_TOL * scale) && bad < 0) bad = e;
    if (diff > worst) worst = diff;
  }
  if (worst / scale > worst_seen) worst_seen = worst / scale;
  check_count++;
  if (bad < 0) return;
  check_failures++;
  fprintf(stderr, "%s: logit %lld is %.9g, the interpreter gives %.9g (tolerance %g x %g)\n", what,
          (long long)bad, got[bad], want[bad], HOST_TOL, scale);
}

static bool host_setup(HostModel *hm, TcuModel *tm) {
  IrDiag d = {0};
  hm->tm = tm;
  if (!host_compile(hm)) return false;
  hm->weights = alloc64(tm->plan->weights_bytes);
  hm->arena = alloc64(tm->plan->arena_bytes);
  hm->state = alloc64(tm->plan->state_bytes);
  memset(hm->state, 0, (size_t)tm->plan->state_bytes);
  hm->it = ir_interp_new(tm->ref, &d);
  /* a model directory's checkpoint, or a module's inline initializers */
  bool ok = hm->it && (!tm->md_open || fe_bind_weights(hm->it, tm->ref, tm->md.weights, &d)) &&
            cg_pack_weights(tm->plan, tm->md_open ? checkpoint_source : NULL, tm->md.weights, hm->weights, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", tm->name, d.msg);
  return ok;
}

static void host_free(HostModel *hm) {
  if (hm->so) dlclose(hm->so);
  free(hm->fns);
  free(hm->weights);
  free(hm->arena);
  free(hm->state);
  ir_interp_free(hm->it);
}

/* The golden prompt and decode tokens of the model. */
static bool golden_calls(const char *name, int32_t *prompt, int *n, int32_t *steps) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny/%s/golden.json", KILN_TEST_DATA, name);
  char *text = read_text(path);
  cJSON *g = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (!g) return false;
  *n = 0;
  for (const cJSON *v = cJSON_GetObjectItem(g, "prompt")->child; v && *n < 16; v = v->next)
    prompt[(*n)++] = v->valueint;
  int i = 0;
  for (const cJSON *s = cJSON_GetObjectItem(g, "decode")->child; s && i < 3; s = s->next)
    steps[i++] = cJSON_GetObjectItem(s, "token")->valueint;
  cJSON_Delete(g);
  return *n > 0 && i == 3;
}

/* Emits tm's kernels again with `block` threads for the row and
 * elementwise kernels, under a name of its own. */
static bool reemit(TcuModel *tm, int block) {
  IrDiag d = {0};
  cg_cuda_module_free(&tm->cuda);
  ir_buf_free(&tm->src);
  size_t len = strlen(tm->name);
  snprintf(tm->name + len, sizeof tm->name - len, "-b%d", block);
  bool ok = cg_cuda_emit(tm->plan, &(CgCudaOptions){.block = block}, &tm->src, &tm->cuda, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", tm->name, d.msg);
  return ok;
}

/* The first of the n launches `ops` from `from` on that reads a param
 * whose name contains `part`; its name in *name. -1 if none. */
static int first_reading(const IrOp *const *ops, int n, int from, const char *part, const char **name) {
  for (int i = from; i < n; i++)
    for (int j = 0; j < ops[i]->nin; j++)
      if (ops[i]->in[j]->kind == IR_VAL_PARAM && strstr(ops[i]->in[j]->name, part)) {
        *name = ops[i]->in[j]->name;
        return i;
      }
  return -1;
}

/* The model's layers share their kernels' functions. In each entry, layer
 * 0 starts at the first launch that reads a param of layer 0
 * ("model.layers.0.input_layernorm.weight"), layer 1 at the first that
 * reads the same param of layer 1; the launches of layer 1 must run the
 * functions of layer 0's, one for one. Returns the launches that did. */
static int check_layers_share(const TcuModel *tm) {
  const KernelPlan *p = tm->plan;
  int reused = 0, nops = 0, *fn = calloc((size_t)tm->cuda.nkernels + 1, sizeof *fn);
  const IrOp **ops = calloc((size_t)tm->cuda.nkernels + 1, sizeof *ops);
  for (int e = 0; e < p->nentries; e++, nops = 0) {
    const KEntryPlan *ep = &p->entries[e];
    for (int k = 0; k < ep->nkernels; k++) /* the emitter's order: views launch nothing */
      if (!kplan_kernel_is_view(p, ep, k)) ops[nops++] = ep->func->ops[ep->kernels[k].first_op];
    int n = 0;
    for (int k = 0; k < tm->cuda.nkernels; k++)
      if (tm->cuda.kernels[k].entry == e) fn[n++] = tm->cuda.kernels[k].func;
    const char *name0 = NULL, *name1 = NULL;
    int i0 = first_reading(ops, nops, 0, ".0.", &name0);
    char want[256] = "";
    if (name0) { /* the same param of layer 1 */
      const char *at = strstr(name0, ".0.");
      snprintf(want, sizeof want, "%.*s.1.%s", (int)(at - name0), name0, at + 3);
    }
    int i1 = i0 < 0 ? -1 : first_reading(ops, nops, i0 + 1, want, &name1);
    CHECK(i0 >= 0 && i1 > i0 && 2 * i1 - i0 <= n && n == nops);
    if (!(i0 >= 0 && i1 > i0 && 2 * i1 - i0 <= n && n == nops)) {
      fprintf(stderr, "%s @%s: no layers 0 and 1 found (%s)\n", tm->name, ep->func->name, name0 ? name0 : "-");
      continue;
    }
    int differ = 0;
    for (int j = 0; j < i1 - i0; j++) differ += fn[i0 + j] != fn[i1 + j];
    CHECK(differ == 0);
    if (differ)
      fprintf(stderr, "%s @%s: %d of layer 1's launches differ from layer 0's\n", tm->name, ep->func->name, differ);
    reused += i1 - i0 - differ;
  }
  free(fn);
  free(ops);
  return reused;
}

/* block 0: the default block size. */
static void test_model(const char *name, int level, int block) {
  TcuModel tm;
  HostModel hm = {0};
  int32_t prompt[16], steps[3];
  int n = 0;
  bool ok = tcu_load(&tm, name, level) && (!block || reemit(&tm, block)) &&
            golden_calls(name, prompt, &n, steps) && host_setup(&hm, &tm);
  CHECK(ok);
  if (ok) {
    Call calls[4] = {{"prefill", n, 0, prompt},
                     {"decode", 1, n, &steps[0]},
                     {"decode", 1, n + 1, &steps[1]},
                     {"decode", 1, n + 2, &steps[2]}};
    worst_seen = 0;
    for (int i = 0; i < 4; i++) {
      int64_t count = 0;
      float *want = interp_call(&hm, &calls[i], &count);
      float *got = want ? host_call(&hm, &calls[i], count) : NULL;
      CHECK(want && got);
      char what[128];
      snprintf(what, sizeof what, "%s: call %d (@%s T=%lld P=%lld)", tm.name, i, calls[i].entry,
               (long long)calls[i].T, (long long)calls[i].P);
      if (want && got) compare(what, got, want, count);
      free(want);
      free(got);
    }
    int attn_tc = 0; /* attentions on tensor cores (head dim 16, symbolic T) */
    for (const char *p = tm.src.data; (p = strstr(p, "/* tensor-core attention: ")); p++) attn_tc++;
    int reused = check_layers_share(&tm);
    CHECK(tm.cuda.nfuncs < tm.cuda.nkernels && reused > 0);
    printf("%-16s %3d CUDA kernels for %3d launches (layer 1 reuses %d) run on the host (%d attention on "
           "tensor cores); relative difference %.2g\n",
           tm.name, tm.cuda.nfuncs, tm.cuda.nkernels, reused, attn_tc, worst_seen);
  }
  host_free(&hm);
  tcu_free(&tm);
}

/* What the backend cannot lower is refused with the op, its location and
 * the reason (every op has a kernel now; i4 tensors do not). */
static void test_refusal(void) {
  const char *src = "module @m {\n  sym T <= 4\n  param @q : i4[4]\n"
                    "  func @prefill(%x: i32[T]) -> f32[T] {\n"
                    "    %a = cast(%x) : f32[T]\n    %b = add(@q, @q) : i4[4]\n    return %a\n  }\n}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "refuse.kir", &d);
  KernelPlan *p = m ? kplan_build(m, &d) : NULL;
  IrBuf b = {0};
  CgCudaModule cm = {0};
  CHECK(p && !cg_cuda_emit(p, NULL, &b, &cm, &d));
  CHECK_STR_CONTAINS(d.msg, "refuse.kir:6:");
  CHECK_STR_CONTAINS(d.msg, "the CUDA backend cannot lower op 'add' with an i4 operand or result yet");
  cg_cuda_module_free(&cm);
  ir_buf_free(&b);
  kplan_free(p);
  ir_module_free(m);
}

/* A concat of `n` operands, params @p0 .. @p<distinct - 1> in turn. */
static void concat_module(IrBuf *b, int n, int distinct) {
  ir_buf_printf(b, "module @m {\n  sym T <= 4\n");
  for (int i = 0; i < distinct; i++) ir_buf_printf(b, "  param @p%d : f32[2]\n", i);
  ir_buf_printf(b, "  func @prefill(%%x: i32[T]) -> f32[T] {\n    %%a = cast(%%x) : f32[T]\n    %%c = concat(");
  for (int i = 0; i < n; i++) ir_buf_printf(b, "%s@p%d", i ? ", " : "", i % distinct);
  ir_buf_printf(b, ") {axis = 0} : f32[%d]\n    return %%a\n  }\n}\n", 2 * n);
}

/* A kernel reaches its buffers through at most KILN_CUDA_MAX_OFFSETS
 * slots, a value read twice through one: 17 operands of 15 params and the
 * result fit in 16; 16 params and the result do not. */
static void test_slots(void) {
  for (int distinct = 15; distinct <= 16; distinct++) {
    IrBuf text = {0}, b = {0};
    concat_module(&text, 17, distinct);
    IrDiag d = {0};
    IrModule *m = ir_parse(text.data, text.len, "slots.kir", &d);
    KernelPlan *p = m ? kplan_build(m, &d) : NULL;
    CgCudaModule cm = {0};
    bool ok = p && cg_cuda_emit(p, NULL, &b, &cm, &d);
    if (distinct == 15) {
      CHECK(ok && cm.nkernels == 2 && cm.kernels[1].noffs == 16);
      CHECK(ok && strstr(b.data, "float *y0 = (float *)(ka + koff.o[15]);") && !strstr(b.data, "koff.o[16]"));
      CHECK(ok && strstr(b.data, "const float *x16 = (const float *)(kw + koff.o[1]);"));
      const IrOp *cat = ok ? p->entries[0].func->ops[1] : NULL;
      for (int i = 0; ok && i < 16; i++) /* slot i: @p<i>'s place in the weights, then the result's */
        CHECK(cm.kernels[1].offs[i] == kplan_buffer(p, i < 15 ? cat->in[i] : cat->out[0])->offset);
    } else {
      CHECK(p && !ok);
      CHECK_STR_CONTAINS(d.msg, "slots.kir:");
      CHECK_STR_CONTAINS(d.msg, "the CUDA backend cannot lower op 'concat' with more than 16 buffers "
                                "(KILN_CUDA_MAX_OFFSETS) yet");
    }
    cg_cuda_module_free(&cm);
    ir_buf_free(&b);
    ir_buf_free(&text);
    kplan_free(p);
    ir_module_free(m);
  }
}

/* Names from the model appear only in comments, and sanitized. */
static void test_sanitized(void) {
  const char *src = "module @evil.x {\n  sym T <= 4\n  func @prefill(%x: i32[T]) -> f32[T] {\n"
                    "    %a = cast(%x) : f32[T]\n    return %a\n  }\n}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(src, strlen(src), "names.kir", &d);
  CHECK(m != NULL);
  if (!m) return;
  m->name = "x*/ int evil; /*"; /* what a hostile config.json could ask for */
  KernelPlan *p = kplan_build(m, &d);
  IrBuf b = {0};
  CgCudaModule cm = {0};
  CHECK(p && cg_cuda_emit(p, NULL, &b, &cm, &d));
  CHECK(b.data && !strstr(b.data, "int evil"));
  CHECK(b.data && strstr(b.data, "module x*__int_evil__"));
  char clean[32];
  cg_cuda_sanitize("a/b\"c\n", clean, sizeof clean);
  CHECK(strcmp(clean, "a_b_c_") == 0);
  cg_cuda_module_free(&cm);
  ir_buf_free(&b);
  kplan_free(p);
  ir_module_free(m);
}

static const char *const small_module =
    "module @small {\n  sym T <= 16\n  param @w : f32[8, 4]\n"
    "  func @prefill(%x: i32[T]) -> f32[T, 8] {\n"
    "    %e = cast(%x) : f32[T]\n    %r = reshape(%e) : f32[T, 1]\n"
    "    %b = mul(%r, %r) : f32[T, 1]\n    %c = concat(%b, %b, %b, %b) {axis = 1} : f32[T, 4]\n"
    "    %y = matmul(%c, @w) {transpose_b} : f32[T, 8]\n    %s = softmax(%y) : f32[T, 8]\n"
    "    return %s\n  }\n}\n";

/* STEM.cu and STEM.json from cg_cuda_write_files. */
static void test_files(void) {
  IrDiag d = {0};
  IrModule *m = ir_parse(small_module, strlen(small_module), "small.kir", &d);
  KernelPlan *p = m && ir_verify(m, &d) ? kplan_build(m, &d) : NULL;
  CHECK(p != NULL);
  if (!p) {
    fprintf(stderr, "small: %s\n", d.msg);
    ir_module_free(m);
    return;
  }
  char stem[128], path[160];
  snprintf(stem, sizeof stem, "%s/small", tmp_dir);
  CHECK(cg_cuda_write_files(p, CG_CUDA_EMIT_CU, "sm_80", NULL, stem, &d));
  snprintf(path, sizeof path, "%s.cu", stem);
  char *cu = read_text(path);
  CHECK(cu && strstr(cu, "KILN_EXTERN_C __global__ void __launch_bounds__(256, 2) kiln_k5("));
  free(cu);
  unlink(path);
  snprintf(path, sizeof path, "%s.json", stem);
  char *text = read_text(path);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  CHECK(j != NULL);
  const cJSON *entries = cJSON_GetObjectItem(j, "entries");
  const cJSON *kernels = cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 0), "kernels");
  CHECK(cJSON_GetArraySize(entries) == 1 && cJSON_GetArraySize(kernels) == 6);
  const cJSON *mm = cJSON_GetArrayItem(kernels, 4);
  CHECK(mm && strcmp(cJSON_GetObjectItem(mm, "name")->valuestring, "kiln_k4") == 0);
  CHECK(mm && strcmp(cJSON_GetObjectItem(mm, "op")->valuestring, "matmul") == 0);
  CHECK(mm && cJSON_GetObjectItem(mm, "shared_bytes")->valueint == 8192);
  const cJSON *gy = mm ? cJSON_GetArrayItem(cJSON_GetObjectItem(mm, "grid"), 1) : NULL;
  CHECK(gy && strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(gy, "factors"), 0)->valuestring, "T") == 0);
  CHECK(gy && cJSON_GetObjectItem(gy, "div")->valueint == 64);
  /* the matmul's buffers: a and the result in the arena, @w at 0 in the weights */
  const cJSON *offs = mm ? cJSON_GetObjectItem(mm, "offsets") : NULL;
  CHECK(cJSON_GetArraySize(offs) == 3 && cJSON_GetArrayItem(offs, 1)->valuedouble == 0);
  /* mul(%r, %r) reads %r through one slot: two in all, with the result */
  int muls = 0;
  for (const cJSON *k = kernels ? kernels->child : NULL; k; k = k->next)
    if (strcmp(cJSON_GetObjectItem(k, "op")->valuestring, "mul") == 0)
      muls += cJSON_GetArraySize(cJSON_GetObjectItem(k, "offsets")) == 2;
  CHECK(muls == 1);
  CHECK(cJSON_GetObjectItem(j, "functions")->valueint == 6 && cJSON_GetObjectItem(j, "launches")->valueint == 6);
  CHECK(strcmp(cJSON_GetObjectItem(j, "gpu_arch")->valuestring, "sm_80") == 0);
  cJSON_Delete(j);
  free(text);
  unlink(path);
  memset(&d, 0, sizeof d);
  IrBuf b = {0};
  CgCudaModule cm;
  CHECK(!cg_cuda_emit(p, &(CgCudaOptions){.block = 100}, &b, &cm, &d));
  CHECK_STR_CONTAINS(d.msg, "cuda: error: a block of 100 threads; expected a power of two from 32 to 1024");
  cg_cuda_module_free(&cm);
  ir_buf_free(&b);
  memset(&d, 0, sizeof d);
  CHECK(!cg_cuda_write_files(p, CG_CUDA_EMIT_CU, "sm80", NULL, stem, &d));
  CHECK_STR_CONTAINS(d.msg, "--gpu-arch: error: 'sm80' is not a GPU architecture; expected sm_80, sm_90, ...");
  kplan_free(p);
  ir_module_free(m);
}

/* Fused ops and epilogues with every kind of expression node, which the
 * tiny models do not all produce (their trees become epilogues). */
/* A module of a few ops (IR text) on the host against the interpreter:
 * `nkernels` kernels, the result within tol x max(1, |want|). */
static void test_small(const char *name, const char *text, int nkernels, int64_t numel, double tol) {
  TcuModel tm = {0};
  HostModel hm = {0};
  IrDiag d = {0};
  snprintf(tm.name, sizeof tm.name, "%s", name);
  tm.m = ir_parse(text, strlen(text), name, &d);
  tm.ref = ir_parse(text, strlen(text), name, &d);
  bool ok = tm.m && tm.ref && ir_verify(tm.m, &d) && (tm.plan = kplan_build(tm.m, &d)) &&
            cg_cuda_emit(tm.plan, NULL, &tm.src, &tm.cuda, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok && tm.cuda.nkernels == nkernels);
  ok = ok && host_setup(&hm, &tm);
  CHECK(ok);
  int32_t tok[4] = {0, 1, 3, 7};
  Call c = {"prefill", 4, 0, tok};
  int64_t n = 0;
  float *want = ok ? interp_call(&hm, &c, &n) : NULL;
  float *got = want ? host_call(&hm, &c, n) : NULL;
  CHECK(want && got && n == numel);
  if (want && got)
    for (int64_t i = 0; i < n; i++) CHECK_NEAR(got[i], want[i], tol * fmax(1.0, fabs(want[i])));
  free(want);
  free(got);
  host_free(&hm);
  tcu_free(&tm);
}

/* ---- the tensor-core matmul (cg_cuda_ops_matmul_tc.c) ---- */

/* A param of n pseudo-random values in [-1, 1) with 16 significant bits,
 * so an f32 activation keeps bits that one bf16 or f16 cannot hold. */
static void tc_param(IrBuf *b, const char *name, const char *type, int n, unsigned *x) {
  ir_buf_printf(b, "  param @%s : %s = [", name, type);
  for (int i = 0; i < n; i++) {
    *x = *x * 1103515245u + 12345u;
    ir_buf_printf(b, "%s%.9g", i ? ", " : "", (double)((*x >> 8) & 0xffffu) / 32768.0 - 1.0);
  }
  ir_buf_printf(b, "]\n");
}

/* One entry a matmul: f32 x bf16 and x f16 weights, bf16 x bf16, f16 x
 * f16, with and without transpose_b, transpose_a, odd shapes (M 37, N 50,
 * K 70: plain loads), rows of 16-byte multiples (K 72: cp.async), a
 * symbolic M with an epilogue, a batch dim. */
static const struct {
  const char *name, *body, *kind; /* kind: the kernel's comment line */
} tc_entries[] = {
    {"f32_bf16_tb", "    %y = matmul(@a, @wb) {transpose_b} : f32[37, 50]\n", "f32 x bf16, split a; plain loads"},
    {"f32_f16", "    %y = matmul(@a, @wh) : f32[37, 50]\n", "f32 x f16, split a; plain loads"},
    {"f32_f16_ta", "    %y = matmul(@at, @wh) {transpose_a} : f32[37, 50]\n", "f32 x f16, split a; plain loads"},
    {"bf16_bf16_tb", "    %y = matmul(@ab, @wb) {transpose_b} : f32[37, 50]\n", "bf16 x bf16, plain a; plain loads"},
    {"bf16_bf16", "    %y = matmul(@ab, @wbn) : f32[37, 50]\n", "bf16 x bf16, plain a; plain loads"},
    {"f16_f16_tb", "    %y = matmul(@ah72, @wh72) {transpose_b} : f32[37, 50]\n",
     "f16 x f16, plain a; cp.async a and b"},
    {"sym_epilogue",
     "    %e = embedding(@emb, %x) : f32[T, 72]\n"
     "    %y = matmul(%e, @wb72, @bias) {transpose_b, epilogue = \"add(silu(acc), $2)\"} : f32[T, 50]\n",
     "f32 x bf16, split a; cp.async a and b"},
    {"batch", "    %y = matmul(@a3, @w3) {transpose_b} : f32[3, 20, 40]\n", "f32 x bf16, split a; cp.async a and b"},
};
#define TC_NENTRIES ((int)(sizeof tc_entries / sizeof tc_entries[0]))

static void tc_module(IrBuf *b) {
  unsigned x = 777;
  ir_buf_printf(b, "module @tc {\n  sym T <= 64\n");
  tc_param(b, "a", "f32[37, 70]", 37 * 70, &x);
  tc_param(b, "at", "f32[70, 37]", 70 * 37, &x);
  tc_param(b, "ab", "bf16[37, 70]", 37 * 70, &x);
  tc_param(b, "wb", "bf16[50, 70]", 50 * 70, &x);
  tc_param(b, "wbn", "bf16[70, 50]", 70 * 50, &x);
  tc_param(b, "wh", "f16[70, 50]", 70 * 50, &x);
  tc_param(b, "ah72", "f16[37, 72]", 37 * 72, &x);
  tc_param(b, "wh72", "f16[50, 72]", 50 * 72, &x);
  tc_param(b, "emb", "f32[40, 72]", 40 * 72, &x);
  tc_param(b, "wb72", "bf16[50, 72]", 50 * 72, &x);
  tc_param(b, "bias", "f32[50]", 50, &x);
  tc_param(b, "a3", "f32[3, 20, 72]", 3 * 20 * 72, &x);
  tc_param(b, "w3", "bf16[3, 40, 72]", 3 * 40 * 72, &x);
  for (int i = 0; i < TC_NENTRIES; i++) {
    const char *ty = strrchr(tc_entries[i].body, ':') + 2; /* the last op's (%y's) type */
    ir_buf_printf(b, "  func @%s(%%x: i32[T]) -> %.*s {\n%s    return %%y\n  }\n", tc_entries[i].name,
                  (int)(strchr(ty, ']') + 1 - ty), ty, tc_entries[i].body);
  }
  ir_buf_printf(b, "}\n");
}

/* Parses IR text (freed here) into tm twice (the module to plan and the
 * interpreter's reference), plans it without passes and emits its CUDA C. */
static bool emit_text_module(TcuModel *tm, IrBuf *text, const char *name, const char *file) {
  IrDiag d = {0};
  snprintf(tm->name, sizeof tm->name, "%s", name);
  tm->m = ir_parse(text->data, strlen(text->data), file, &d);
  tm->ref = tm->m ? ir_parse(text->data, strlen(text->data), file, &d) : NULL;
  ir_buf_free(text);
  bool ok = tm->m && tm->ref && ir_verify(tm->m, &d) && (tm->plan = kplan_build(tm->m, &d)) &&
            cg_cuda_emit(tm->plan, NULL, &tm->src, &tm->cuda, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  return ok;
}

/* Runs call c in the interpreter and on the host. Returns the largest of
 * `worst` and each element's |got - want| / max(1, |want|) (NaN counts as
 * larger than any), printing the first element beyond 1e-4; *n gets the
 * element count, and *zeros (if not NULL) grows by the elements both give
 * as exactly 0. */
static double diff_call(HostModel *hm, const Call *c, const char *what, double worst, int64_t *n,
                        int64_t *zeros) {
  *n = 0;
  float *want = interp_call(hm, c, n);
  float *got = want ? host_call(hm, c, *n) : NULL;
  CHECK(want && got && *n > 0);
  for (int64_t i = 0; want && got && i < *n; i++) {
    double rel = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
    if (!(rel <= 1e-4) && worst <= 1e-4)
      fprintf(stderr, "%s @%s T=%lld: element %lld is %.9g, the interpreter gives %.9g\n", what, c->entry,
              (long long)c->T, (long long)i, got[i], want[i]);
    worst = rel > worst || rel != rel ? rel : worst;
    if (zeros) *zeros += want[i] == 0.0f && got[i] == 0.0f;
  }
  free(want);
  free(got);
  return worst;
}

/* One check: the largest relative difference of an entry within 1e-4. */
static void check_within(double worst) {
  check_count++;
  if (!(worst <= 1e-4)) check_failures++;
}

/* Every entry of the tensor-core module on the host against the
 * interpreter (which widens the weights to f32 and multiplies in f32):
 * within 1e-4 x max(1, |want|); T = 37 for the symbolic M. */
static void test_tensor_cores(void) {
  TcuModel tm = {0};
  HostModel hm = {0};
  IrBuf text = {0};
  tc_module(&text);
  bool ok = emit_text_module(&tm, &text, "tc", "tc.kir");
  CHECK(ok && tm.cuda.nkernels == TC_NENTRIES + 1);
  for (int i = 0; ok && i < TC_NENTRIES; i++) {
    char kind[128];
    snprintf(kind, sizeof kind, "/* tensor cores: %s */", tc_entries[i].kind);
    CHECK_STR_CONTAINS(tm.src.data, kind);
  }
  ok = ok && host_setup(&hm, &tm);
  CHECK(ok);
  int32_t tok[37];
  for (int i = 0; i < 37; i++) tok[i] = (i * 7) % 40;
  for (int e = 0; ok && e < TC_NENTRIES; e++) {
    Call c = {tc_entries[e].name, 37, 0, tok};
    int64_t n;
    double worst = diff_call(&hm, &c, "tc", 0, &n, NULL);
    check_within(worst);
    printf("tc @%-14s %6lld values on tensor cores (host twin); relative difference %.2g\n", c.entry,
           (long long)n, worst);
  }
  host_free(&hm);
  tcu_free(&tm);
}

/* ---- the decode matvec (cg_cuda_ops_matvec.c) ---- */

/* One entry a decode matmul (M = 1, weights [N, K]): a is the embedding of
 * the one token (an arena value) unless a param. K 2048, 72 and 2368
 * (16-byte loads of f32, bf16 and f16 weights; 72 is only a partial step
 * of 8 loads, 2368 a full one and a partial one of 2 for 8 lanes); K 70
 * (f32 rows of 280 bytes) and 2050 (rows not 16-byte aligned, a tail of
 * 2) take the scalar loads; N 50 and 1001 (a partial last block); an
 * epilogue, bf16 activations, a transposed a, a batch. The same for
 * weights [K, N] (lanes along N): K 300 (a full step of 8 rows a slice,
 * then a masked one), 70, 72, 2048; N 1000, 64, 52, 40, 24 (16-byte
 * rows), 1001 (scalar loads). */
static const struct {
  const char *name, *body, *kind; /* kind: the kernel's comment */
} mv_entries[] = {
    {"f32_bf16", "    %y = matmul(%e, @wb) {transpose_b} : f32[1, 50]\n", "f32 x bf16; 16-byte loads, 8 a lane in flight"},
    {"f32_f16_epilogue", "    %y = matmul(%e, @wh, @bias) {transpose_b, epilogue = \"add(silu(acc), $2)\"} : f32[1, 50]\n",
     "f32 x f16; 16-byte loads, 8 a lane in flight"},
    {"f32_f32", "    %y = matmul(%e, @wf) {transpose_b} : f32[1, 50]\n", "f32 x f32; 16-byte loads, 8 a lane in flight"},
    {"bf16_bf16", "    %c = cast(%e) : bf16[1, 2048]\n    %y = matmul(%c, @wb) {transpose_b} : f32[1, 50]\n",
     "bf16 x bf16; 16-byte loads, 8 a lane in flight"},
    {"k72_n1001", "    %y = matmul(%e72, @wb72) {transpose_b} : f32[1, 1001]\n",
     "f32 x bf16; 16-byte loads, 8 a lane in flight"},
    {"k2368", "    %y = matmul(%e2368, @wb2368) {transpose_b} : f32[1, 101]\n",
     "f32 x bf16; 16-byte loads, 8 a lane in flight"},
    {"k70_n1001", "    %y = matmul(%e70, @wf70) {transpose_b} : f32[1, 1001]\n", "f32 x f32; scalar loads"},
    {"k2050", "    %y = matmul(%e2050, @wh2050) {transpose_b} : f32[1, 50]\n", "f32 x f16; scalar loads"},
    {"transpose_a", "    %y = matmul(@at, @wb) {transpose_a, transpose_b} : f32[1, 50]\n",
     "f32 x bf16; 16-byte loads, 8 a lane in flight"},
    {"batch", "    %y = matmul(@a3, @w3) {transpose_b} : f32[3, 1, 50]\n", "f32 x bf16; 16-byte loads, 8 a lane in flight"},
    /* weights [K, N] */
    {"kn_f32_bf16", "    %y = matmul(%e300, @vb) : f32[1, 1000]\n", "[K, N]: f32 x bf16; 16-byte loads, 8 a lane in flight"},
    {"kn_f32_f16_epilogue", "    %y = matmul(%e70, @vh, @bias64) {epilogue = \"add(silu(acc), $2)\"} : f32[1, 64]\n",
     "[K, N]: f32 x f16; 16-byte loads, 8 a lane in flight"},
    {"kn_f32_f32", "    %y = matmul(%e72, @vf) : f32[1, 52]\n", "[K, N]: f32 x f32; 16-byte loads, 8 a lane in flight"},
    {"kn_bf16_bf16", "    %c = cast(%e300) : bf16[1, 300]\n    %y = matmul(%c, @vb) : f32[1, 1000]\n",
     "[K, N]: bf16 x bf16; 16-byte loads, 8 a lane in flight"},
    {"kn_n1001", "    %y = matmul(%e70, @vs) : f32[1, 1001]\n", "[K, N]: f32 x bf16; scalar loads"},
    {"kn_transpose_a", "    %y = matmul(@at, @vt) {transpose_a} : f32[1, 24]\n",
     "[K, N]: f32 x bf16; 16-byte loads, 8 a lane in flight"},
    {"kn_batch", "    %y = matmul(@a3, @v3) : f32[3, 1, 40]\n", "[K, N]: f32 x bf16; 16-byte loads, 8 a lane in flight"},
};
#define MV_NENTRIES ((int)(sizeof mv_entries / sizeof mv_entries[0]))

static void mv_module(IrBuf *b) {
  unsigned x = 2024;
  static const int ks[6] = {2048, 72, 70, 2050, 2368, 300};
  ir_buf_printf(b, "module @mv {\n");
  for (int i = 0; i < 6; i++) {
    char name[16], ty[32];
    snprintf(name, sizeof name, i ? "emb%d" : "emb", ks[i]);
    snprintf(ty, sizeof ty, "f32[4, %d]", ks[i]);
    tc_param(b, name, ty, 4 * ks[i], &x);
  }
  tc_param(b, "wb", "bf16[50, 2048]", 50 * 2048, &x);
  tc_param(b, "wh", "f16[50, 2048]", 50 * 2048, &x);
  tc_param(b, "wf", "f32[50, 2048]", 50 * 2048, &x);
  tc_param(b, "bias", "f32[50]", 50, &x);
  tc_param(b, "wb72", "bf16[1001, 72]", 1001 * 72, &x);
  tc_param(b, "wb2368", "bf16[101, 2368]", 101 * 2368, &x);
  tc_param(b, "wf70", "f32[1001, 70]", 1001 * 70, &x);
  tc_param(b, "wh2050", "f16[50, 2050]", 50 * 2050, &x);
  tc_param(b, "at", "f32[2048, 1]", 2048, &x);
  tc_param(b, "a3", "f32[3, 1, 72]", 3 * 72, &x);
  tc_param(b, "w3", "bf16[3, 50, 72]", 3 * 50 * 72, &x);
  tc_param(b, "vb", "bf16[300, 1000]", 300 * 1000, &x);
  tc_param(b, "vh", "f16[70, 64]", 70 * 64, &x);
  tc_param(b, "bias64", "f32[64]", 64, &x);
  tc_param(b, "vf", "f32[72, 52]", 72 * 52, &x);
  tc_param(b, "vs", "bf16[70, 1001]", 70 * 1001, &x);
  tc_param(b, "vt", "bf16[2048, 24]", 2048 * 24, &x);
  tc_param(b, "v3", "bf16[3, 72, 40]", 3 * 72 * 40, &x);
  for (int i = 0; i < MV_NENTRIES; i++) {
    const char *ty = strrchr(mv_entries[i].body, ':') + 2, *body = mv_entries[i].body;
    ir_buf_printf(b, "  func @%s(%%x: i32[1]) -> %.*s {\n", mv_entries[i].name, (int)(strchr(ty, ']') + 1 - ty), ty);
    for (int k = 0; k < 6; k++) { /* the activation the body names: %e<K> from @emb<K> */
      char v[16], use[20], use2[20];
      if (k) snprintf(v, sizeof v, "%d", ks[k]); /* the first embedding has no suffix */
      else v[0] = '\0';
      snprintf(use, sizeof use, "(%%e%s,", v);
      snprintf(use2, sizeof use2, "(%%e%s)", v);
      if (strstr(body, use) || strstr(body, use2)) ir_buf_printf(b, "    %%e%s = embedding(@emb%s, %%x) : f32[1, %d]\n", v, v, ks[k]);
    }
    ir_buf_printf(b, "%s    return %%y\n  }\n", body);
  }
  ir_buf_printf(b, "}\n");
}

/* The comment of the matvec function entry e launches, after "matvec: "
 * or "matvec ". */
static bool mv_kind_of(const TcuModel *tm, int e, char *kind, size_t n) {
  for (int k = 0; k < tm->cuda.nkernels; k++) {
    const CgCudaKernel *kr = &tm->cuda.kernels[k];
    if (kr->entry != e || strcmp(kr->op, "matmul") != 0) continue;
    char head[64];
    snprintf(head, sizeof head, " %s(", kr->name);
    const char *f = strstr(tm->src.data, head), *c = f ? strstr(f, "/* matvec") : NULL;
    const char *next = f ? strstr(f + 1, "__global__") : NULL, *end = c ? strstr(c, " */") : NULL;
    if (!c || !end || (next && c > next)) return false;
    c += strlen("/* matvec");
    c += c[0] == ':' ? 2 : 1; /* "matvec: f32 x bf16; .." or "matvec [K, N]: .." */
    snprintf(kind, n, "%.*s", (int)(end - c), c);
    return true;
  }
  return false;
}

/* Every entry of the matvec module on the host (the warp-sum twin)
 * against the interpreter: within 1e-4 x max(1, |want|), each on the
 * intended path (16-byte loads or scalar). */
static void test_matvec(void) {
  TcuModel tm = {0};
  HostModel hm = {0};
  IrBuf text = {0};
  mv_module(&text);
  bool ok = emit_text_module(&tm, &text, "mv", "mv.kir");
  CHECK(ok);
  ok = ok && host_setup(&hm, &tm);
  CHECK(ok);
  int32_t tok[1] = {2};
  for (int e = 0; ok && e < MV_NENTRIES; e++) {
    char kind[128] = "";
    int entry = -1;
    for (int i = 0; i < tm.plan->nentries; i++)
      if (strcmp(tm.plan->entries[i].func->name, mv_entries[e].name) == 0) entry = i;
    CHECK(mv_kind_of(&tm, entry, kind, sizeof kind));
    CHECK(strcmp(kind, mv_entries[e].kind) == 0);
    if (strcmp(kind, mv_entries[e].kind) != 0)
      fprintf(stderr, "mv @%s: the matvec says '%s', expected '%s'\n", mv_entries[e].name, kind, mv_entries[e].kind);
    Call c = {mv_entries[e].name, 1, 0, tok};
    int64_t n;
    double worst = diff_call(&hm, &c, "mv", 0, &n, NULL);
    check_within(worst);
    printf("mv @%-20s %5lld values, matvec (%s); relative difference %.2g\n", c.entry, (long long)n, kind, worst);
  }
  host_free(&hm);
  tcu_free(&tm);
}

/* ---- attention on tensor cores (cg_cuda_ops_attn_tc.c) ---- */

/* One entry an attention whose q (and, with past >= 0, k and v) come
 * from embeddings of the T tokens, so T is symbolic: q [hq, T, d]; k, v
 * [hkv, past + T, d|dv] (the past a constant param, concatenated), or
 * constant params [hkv, s, d|dv] when past < 0. */
static const struct {
  const char *name;
  int hq, hkv, d, dv, past, s;
  const char *attrs;
} at_entries[] = {
    {"gqa_causal", 4, 1, 64, 64, 5, 0, "scale = 0.25, causal, offset = 5"},
    {"d128_window", 2, 2, 128, 128, -1, 75, "scale = 0.125, causal, offset = 5, window = 9"},
    {"bidir", 2, 1, 64, 32, -1, 70, "scale = 0.25"},
    /* rows i >= T - 16 see no key (all are older than the window): zeros */
    {"masked", 2, 1, 128, 64, 5, 0, "scale = 0.25, causal, offset = 40, window = 20"},
};
#define AT_NENTRIES ((int)(sizeof at_entries / sizeof at_entries[0]))

/* %<v> : f32[h, T, n] from the tokens through table @<name>_<v> [40, h * n]. */
static void at_embed(IrBuf *b, const char *name, const char *v, int h, int n, unsigned *x) {
  char pname[64], ty[32];
  snprintf(pname, sizeof pname, "%s_%s", name, v);
  snprintf(ty, sizeof ty, "f32[40, %d]", h * n);
  tc_param(b, pname, ty, 40 * h * n, x);
}

static void at_module(IrBuf *b) {
  unsigned x = 4242;
  ir_buf_printf(b, "module @attn {\n  sym T <= 70\n");
  for (int e = 0; e < AT_NENTRIES; e++) {
    const char *n = at_entries[e].name;
    int hq = at_entries[e].hq, hkv = at_entries[e].hkv, dims[3] = {at_entries[e].d, at_entries[e].d, at_entries[e].dv};
    at_embed(b, n, "q", hq, dims[0], &x);
    for (int i = 1; i < 3; i++) {
      char pname[64], ty[48];
      bool past = at_entries[e].past >= 0;
      if (past) at_embed(b, n, i == 1 ? "k" : "v", hkv, dims[i], &x);
      snprintf(pname, sizeof pname, "%s_%sp", n, i == 1 ? "k" : "v");
      int len = past ? at_entries[e].past : at_entries[e].s;
      snprintf(ty, sizeof ty, "f32[%d, %d, %d]", hkv, len, dims[i]);
      tc_param(b, pname, ty, hkv * len * dims[i], &x);
    }
  }
  for (int e = 0; e < AT_NENTRIES; e++) {
    const char *n = at_entries[e].name, *vn[3] = {"q", "k", "v"};
    int dims[3] = {at_entries[e].d, at_entries[e].d, at_entries[e].dv}, past = at_entries[e].past;
    ir_buf_printf(b, "  func @%s(%%x: i32[T]) -> f32[%d, T, %d] {\n", n, at_entries[e].hq, at_entries[e].dv);
    for (int i = 0; i < 3; i++) {
      int h = i ? at_entries[e].hkv : at_entries[e].hq;
      if (i && past < 0) continue;
      ir_buf_printf(b, "    %%e%s = embedding(@%s_%s, %%x) : f32[T, %d]\n", vn[i], n, vn[i], h * dims[i]);
      ir_buf_printf(b, "    %%r%s = reshape(%%e%s) : f32[T, %d, %d]\n", vn[i], vn[i], h, dims[i]);
      ir_buf_printf(b, "    %%%s%s = transpose(%%r%s) {perm = [1, 0, 2]} : f32[%d, T, %d]\n", vn[i], i ? "n" : "",
                    vn[i], h, dims[i]);
      if (i)
        ir_buf_printf(b, "    %%%s = concat(@%s_%sp, %%%sn) {axis = 1} : f32[%d, %d+T, %d]\n", vn[i], n, vn[i], vn[i], h,
                      past, dims[i]);
    }
    char kv[2][80];
    for (int i = 0; i < 2; i++) /* the constant param, or the concatenation */
      snprintf(kv[i], sizeof kv[i], past < 0 ? "@%s_%sp" : "%%%.0s%s", past < 0 ? n : "", vn[i + 1]);
    ir_buf_printf(b, "    %%y = attention(%%q, %s, %s) {%s} : f32[%d, T, %d]\n    return %%y\n  }\n", kv[0], kv[1],
                  at_entries[e].attrs, at_entries[e].hq, at_entries[e].dv);
  }
  ir_buf_printf(b, "}\n");
}

/* Every entry of the attention module at T = 1, 7, 33, 70 on the host
 * (the mma and shuffle twins) against the interpreter: within 1e-4 x
 * max(1, |want|); every attention takes the tensor-core kernel. */
static void test_attention_tc(void) {
  TcuModel tm = {0};
  HostModel hm = {0};
  IrBuf text = {0};
  at_module(&text);
  bool ok = emit_text_module(&tm, &text, "attn-tc", "attn.kir");
  CHECK(ok);
  int ntc = 0;
  for (const char *p = ok ? tm.src.data : ""; (p = strstr(p, "/* tensor-core attention: ")); p++) ntc++;
  CHECK(ntc == AT_NENTRIES);
  CHECK_STR_CONTAINS(ok ? tm.src.data : "", "BK 64, D 64, Dv 64; cp.async k and v */");
  CHECK_STR_CONTAINS(ok ? tm.src.data : "", "BK 32, D 128, Dv 128; cp.async k and v */");
  ok = ok && host_setup(&hm, &tm);
  CHECK(ok);
  int32_t tok[70];
  for (int i = 0; i < 70; i++) tok[i] = (i * 7 + 3) % 40;
  const int64_t ts[] = {1, 7, 33, 70};
  for (int e = 0; ok && e < AT_NENTRIES; e++) {
    double worst = 0;
    int64_t total = 0, zeros = 0;
    for (int ti = 0; ti < 4; ti++) {
      Call c = {at_entries[e].name, ts[ti], 0, tok};
      int64_t n;
      worst = diff_call(&hm, &c, "attn-tc", worst, &n, &zeros);
      total += n;
    }
    check_within(worst);
    printf("attn-tc @%-12s %6lld values (T = 1, 7, 33, 70; %lld exact zeros) on tensor cores (host twin); "
           "relative difference %.2g\n",
           at_entries[e].name, (long long)total, (long long)zeros, worst);
    if (strcmp(at_entries[e].name, "masked") == 0) CHECK(zeros == 2 * 64 * (1 + 7 + 16 + 16));
  }
  host_free(&hm);
  tcu_free(&tm);
}

/* `test_cuda_host quick` runs only the small modules, not the models. */
int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  strcpy(tmp_dir, "/tmp/kiln-cudahost-XXXXXX");
  CHECK(mkdtemp(tmp_dir) != NULL);
  test_refusal();
  test_slots();
  test_sanitized();
  test_files();
  /* every step one f32 operation, as in the interpreter: a tight bound */
  test_small("fused-ops", tcu_fused_module, 8, 16, 1e-6);
  IrBuf split = {0};
  tcu_split_module(&split);
  test_small("split-kv", split.data, 2, 24, 1e-5); /* online softmax: reordered sums */
  ir_buf_free(&split);
  test_tensor_cores();
  test_matvec();
  test_attention_tc();
  char *names[64];
  int n = quick ? 0 : tcu_model_names(names, 64);
  CHECK(quick || n >= 7);
  for (int i = 0; i < n; i++) {
    for (int level = 0; level < TCU_LEVELS; level++)
      if (tcu_level_differs(level)) test_model(names[i], level, 0);
    free(names[i]);
  }
  if (!quick) {
    test_model("mixtral", 0, 32); /* other block sizes: the reductions and grids follow */
    test_model("gpt2", 1, 1024);
  }
  rmdir(tmp_dir);
  return check_report();
}
#else
int main(void) {
  printf("test_cuda_host: skipped, kiln was built without LLVM (weights are packed by codegen/cg_weights.c)\n");
  return 0;
}
#endif
