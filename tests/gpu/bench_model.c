/* bench_model.c: a .kir module through kiln's CUDA path, its parameters
 * filled with pseudo-random values, its entries run on a Runner and on the
 * interpreter. The pipeline is `kiln compile --device=cuda`'s: the default
 * one without pack-weights (the CUDA kernels read weights row-major). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cg_weights.h"
#include "kplan_memory.h"
#include "pass.h"

/* fill: element i of a param, hashed from (seed, i), uniform in [lo, hi);
 * copy and read: the bandwidth kernels, 16 bytes a thread a step. */
const char bench_helpers_cu[] =
    "\n#ifdef __CUDACC__\n"
    "/* kiln_gpu_bench's helpers (tests/gpu/bench_model.c) */\n"
    "__device__ unsigned kiln_bench_hash(unsigned long long i, unsigned seed) {\n"
    "  unsigned x = (unsigned)i * 2654435761u ^ (unsigned)(i >> 32) * 2246822519u ^ seed;\n"
    "  x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;\n"
    "  return x;\n"
    "}\n"
    "extern \"C\" __global__ void kiln_bench_fill(unsigned char *p, unsigned long long n, int bf16,\n"
    "                                             unsigned seed, float lo, float hi) {\n"
    "  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;\n"
    "       i += (unsigned long long)gridDim.x * blockDim.x) {\n"
    "    float u = lo + (hi - lo) * (float)(kiln_bench_hash(i, seed) >> 8) * (1.0f / 16777216.0f);\n"
    "    if (bf16) {\n"
    "      unsigned b = __float_as_uint(u);\n"
    "      b += 0x7fffu + ((b >> 16) & 1u);\n"
    "      ((unsigned short *)p)[i] = (unsigned short)(b >> 16);\n"
    "    } else {\n"
    "      ((float *)p)[i] = u;\n"
    "    }\n"
    "  }\n"
    "}\n"
    "extern \"C\" __global__ void kiln_bench_copy(const float4 *src, float4 *dst, unsigned long long n) {\n"
    "  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;\n"
    "       i += (unsigned long long)gridDim.x * blockDim.x)\n"
    "    dst[i] = src[i];\n"
    "}\n"
    "extern \"C\" __global__ void kiln_bench_read(const float4 *src, float *out, unsigned long long n) {\n"
    "  float s = 0.0f;\n"
    "  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;\n"
    "       i += (unsigned long long)gridDim.x * blockDim.x) {\n"
    "    float4 v = src[i];\n"
    "    s += v.x + v.y + v.z + v.w;\n"
    "  }\n"
    "  if (s == 12345.678f) out[0] = s; /* keeps the loads; never true for the data read */\n"
    "}\n"
    "#endif\n";

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  buf[got] = 0;
  *len = got;
  return buf;
}

/* The default pipeline less pack-weights, as driver/compile_pipeline.c
 * runs it for --device=cuda. */
static bool optimize(IrModule *m, IrDiag *d) {
  char spec[512];
  snprintf(spec, sizeof spec, "%s", pass_default_pipeline());
  char *pw = strstr(spec, ",pack-weights");
  if (pw) memmove(pw, pw + strlen(",pack-weights"), strlen(pw + strlen(",pack-weights")) + 1);
  PassPipeline p;
  PassOptions o = pass_options_default();
  return pass_pipeline_parse(spec, &p, d) && pass_pipeline_run(&p, m, &o, d);
}

static bool plan_and_emit(BenchModel *bm, IrDiag *d) {
  bm->plan = kplan_build(bm->m, d);
  if (!bm->plan) return false;
  KMemoryOptions mo = {.in_place = true};
  KMemoryReport rep;
  if (!kplan_plan_memory(bm->plan, &mo, &rep, d)) return false;
  if (!cg_cuda_emit(bm->plan, NULL, &bm->src, &bm->cuda, d)) return false;
  ir_buf_printf(&bm->src, "%s", bench_helpers_cu);
  return true;
}

/* Drops every function but `only` (decode alone halves what NVRTC compiles). */
static bool keep_only(IrModule *m, const char *only, IrDiag *d) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++)
    if (strcmp(m->funcs[i]->name, only) == 0) m->funcs[n++] = m->funcs[i];
  m->nfuncs = n;
  return n == 1 || ir_error_at(d, m->file ? m->file : "module", "no function @%s", only);
}

bool bm_build(BenchModel *bm, const char *path, const char *text, const char *only, char *err, size_t errlen) {
  memset(bm, 0, sizeof *bm);
  snprintf(bm->name, sizeof bm->name, "%s", path);
  size_t len = 0;
  char *owned = text ? NULL : read_file(path, &len);
  if (!text && !owned) {
    snprintf(err, errlen, "%s: cannot read the file", path);
    return false;
  }
  if (text) len = strlen(text);
  const char *t = text ? text : owned;
  IrDiag d = {0};
  bm->m = ir_parse(t, len, path, &d);
  if (bm->m) bm->ref = ir_parse(t, len, path, &d);
  free(owned);
  bool ok = bm->ref && (!only || (keep_only(bm->m, only, &d) && keep_only(bm->ref, only, &d))) &&
            ir_verify(bm->m, &d) && optimize(bm->m, &d) && plan_and_emit(bm, &d);
  if (!ok) snprintf(err, errlen, "%s", d.msg);
  return ok;
}

void bm_free(BenchModel *bm) {
  cg_nvrtc_output_free(&bm->nv);
  cg_cuda_module_free(&bm->cuda);
  ir_buf_free(&bm->src);
  kplan_free(bm->plan);
  ir_module_free(bm->m);
  ir_module_free(bm->ref);
  memset(bm, 0, sizeof *bm);
}

static int64_t max_tokens(const IrModule *m) {
  int t = ir_module_find_sym(m, "T", 1);
  return t >= 0 ? m->syms[t].max : 1;
}

bool bm_alloc(BenchModel *bm, Runner *r, uint64_t out_bytes) {
  const KernelPlan *p = bm->plan;
  bm->out_bytes = out_bytes;
  return run_alloc(r, p->weights_bytes, &bm->b.weights) && run_alloc(r, p->arena_bytes, &bm->b.arena) &&
         run_alloc(r, p->state_bytes, &bm->b.state) &&
         run_alloc(r, 4 * (uint64_t)(max_tokens(bm->m) + 16), &bm->b.tokens) &&
         run_alloc(r, out_bytes, &bm->b.logits) && run_memset(r, bm->b.state, 0, p->state_bytes) &&
         run_memset(r, bm->b.weights, 0, p->weights_bytes);
}

void bm_release(BenchModel *bm, Runner *r) {
  run_free(r, bm->b.weights);
  run_free(r, bm->b.arena);
  run_free(r, bm->b.state);
  run_free(r, bm->b.tokens);
  run_free(r, bm->b.logits);
  memset(&bm->b, 0, sizeof bm->b);
}

static uint32_t hash_name(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* [lo, hi) of parameter p's values. */
static void value_range(const IrValue *p, float *lo, float *hi) {
  if (p->type.rank <= 1) {
    *lo = 0.9f;
    *hi = 1.1f;
    return;
  }
  const IrDim *last = &p->type.dims[p->type.rank - 1];
  float a = sqrtf(3.0f / (float)(last->c > 0 ? last->c : 1));
  *lo = -a;
  *hi = a;
}

float bench_value(const IrValue *p, int64_t i) {
  uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull ^ hash_name(p->name);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  float lo, hi;
  value_range(p, &lo, &hi);
  return lo + (hi - lo) * (float)(x >> 40) * (1.0f / 16777216.0f);
}

/* The values of every parameter the module does not initialize, kept
 * until the blob is packed. */
typedef struct {
  void *bufs[4096];
  int n;
} Values;

static bool value_source(void *user, const IrValue *p, CgParamData *out, IrDiag *d) {
  Values *v = user;
  int64_t n = ir_type_const_numel(&p->type);
  if (v->n >= 4096) return ir_error_at(d, p->name, "more than 4096 parameters");
  if (ir_dtype_is_int(p->type.dtype)) {
    int64_t *z = calloc((size_t)n + 1, sizeof *z); /* ids: zero is always in range */
    if (!z) abort();
    v->bufs[v->n++] = z;
    *out = (CgParamData){IR_I64, z, n};
    return true;
  }
  float *f = malloc(sizeof(float) * (size_t)(n + 1));
  if (!f) abort();
  for (int64_t i = 0; i < n; i++) f[i] = bench_value(p, i);
  v->bufs[v->n++] = f;
  *out = (CgParamData){IR_F32, f, n};
  return true;
}

/* The same values for the interpreter (it rounds to the declared dtype,
 * as cg_pack_weights does). */
static bool bind_all(IrInterp *it, const IrModule *ref, IrDiag *d) {
  for (int i = 0; i < ref->nparams; i++) {
    const IrValue *p = ref->params[i];
    if (p->init) continue;
    int64_t shape[IR_MAX_RANK];
    for (int k = 0; k < p->type.rank; k++) shape[k] = p->type.dims[k].c;
    IrTensor t = ir_tensor_new(p->type.dtype, p->type.rank, shape);
    int64_t n = ir_tensor_numel(&t);
    if (t.f)
      for (int64_t e = 0; e < n; e++) t.f[e] = bench_value(p, e);
    bool ok = ir_interp_bind_param(it, p->name, &t, d);
    ir_tensor_free(&t);
    if (!ok) return false;
  }
  return true;
}

bool bm_fill_host(BenchModel *bm, Runner *r, IrInterp *it, char *err, size_t errlen) {
  const KernelPlan *p = bm->plan;
  uint8_t *blob = calloc(1, (size_t)p->weights_bytes + 64);
  Values *v = calloc(1, sizeof *v);
  if (!blob || !v) abort();
  IrDiag d = {0};
  bool ok = cg_pack_weights(p, value_source, v, blob, &d) && (!it || bind_all(it, bm->ref, &d));
  for (int i = 0; i < v->n; i++) free(v->bufs[i]);
  free(v);
  if (!ok) {
    snprintf(err, errlen, "%s", d.msg);
    free(blob);
    return false;
  }
  ok = run_to(r, bm->b.weights, blob, p->weights_bytes);
  if (!ok) snprintf(err, errlen, "%s", r->err);
  free(blob);
  return ok;
}

bool bm_fill_device(BenchModel *bm, Runner *r, char *err, size_t errlen) {
  const IrModule *m = bm->m;
  for (int i = 0; i < m->nparams; i++) {
    const IrValue *p = m->params[i];
    const KBuffer *kb = kplan_buffer(bm->plan, p);
    if (!kb || kb->kind != KBUF_WEIGHT) continue;
    if (p->type.dtype != IR_F32 && p->type.dtype != IR_BF16) {
      snprintf(err, errlen, "param @%s: the device fill writes f32 and bf16, not %s", p->name,
               ir_dtype_name(p->type.dtype));
      return false;
    }
    unsigned long long ptr = bm->b.weights + kb->offset, n = (unsigned long long)ir_type_const_numel(&p->type);
    int bf16 = p->type.dtype == IR_BF16;
    unsigned seed = hash_name(p->name);
    float lo, hi;
    value_range(p, &lo, &hi);
    void *params[6] = {&ptr, &n, &bf16, &seed, &lo, &hi};
    int64_t grid[3] = {(int64_t)((n + 255) / 256 < 65536 ? (n + 255) / 256 : 65536), 1, 1};
    if (!rt_cuda_launch_params(r->cu, "kiln_bench_fill", grid, 256, 0, params, err, errlen)) return false;
  }
  return rt_cuda_sync(r->cu, err, errlen);
}

void bm_syms(const IrModule *m, int64_t T, int64_t P, int64_t *syms) {
  for (int s = 0; s < IR_MAX_SYMS; s++) syms[s] = 0;
  for (int s = 0; s < m->nsyms; s++) {
    if (strcmp(m->syms[s].name, "T") == 0) syms[s] = T;
    if (strcmp(m->syms[s].name, "P") == 0) syms[s] = P;
  }
}

int bm_entry(const BenchModel *bm, const char *name) {
  for (int e = 0; e < bm->plan->nentries; e++)
    if (strcmp(bm->plan->entries[e].func->name, name) == 0) return e;
  return -1;
}

bool bm_launch(BenchModel *bm, Runner *r, int entry, int64_t T, int64_t P) {
  int64_t syms[IR_MAX_SYMS];
  bm_syms(bm->m, T, P, syms);
  for (int k = 0; k < bm->cuda.nkernels; k++)
    if (bm->cuda.kernels[k].entry == entry && !run_kernel(r, k, syms, &bm->b)) return false;
  return true;
}

bool bm_call(BenchModel *bm, Runner *r, const char *entry, const int32_t *tok, int64_t T, int64_t P, float *out,
             int64_t n) {
  int e = bm_entry(bm, entry);
  if (e < 0) {
    snprintf(r->err, sizeof r->err, "%s: no entry @%s", bm->name, entry);
    return false;
  }
  if ((uint64_t)n * sizeof(float) > bm->out_bytes) {
    snprintf(r->err, sizeof r->err, "%s: %lld outputs exceed the output buffer", bm->name, (long long)n);
    return false;
  }
  return run_to(r, bm->b.tokens, tok, sizeof(int32_t) * (uint64_t)T) && bm_launch(bm, r, e, T, P) &&
         run_sync(r) && run_from(r, out, bm->b.logits, sizeof(float) * (uint64_t)n);
}

float *bm_interp(const IrModule *ref, IrInterp *it, const char *entry, const int32_t *tok, int64_t T, int64_t P,
                 int64_t *n, char *err, size_t errlen) {
  int64_t syms[IR_MAX_SYMS];
  bm_syms(ref, T, P, syms);
  IrTensor in = ir_tensor_new(IR_I32, 1, (int64_t[]){T});
  for (int64_t i = 0; i < T; i++) in.i[i] = tok[i];
  IrTensor *outs = NULL;
  int nout = 0;
  IrDiag d = {0};
  bool ok = ir_interp_call(it, entry, syms, &in, 1, &outs, &nout, &d);
  ir_tensor_free(&in);
  if (!ok || nout < 1 || !outs[0].f) {
    snprintf(err, errlen, "interpreter: %s", ok ? "the first result is not a float tensor" : d.msg);
    if (ok) ir_tensors_free(outs, nout);
    return NULL;
  }
  *n = ir_tensor_numel(&outs[0]);
  float *res = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
  if (!res) abort();
  memcpy(res, outs[0].f, sizeof(float) * (size_t)*n);
  ir_tensors_free(outs, nout);
  return res;
}

double bench_rel_err(const float *got, const float *want, int64_t n) {
  double scale = 1, worst = 0;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(want[i]) && fabs(want[i]) > scale) scale = fabs(want[i]);
  for (int64_t i = 0; i < n; i++) {
    double diff = fabs((double)got[i] - want[i]);
    if (isnan(diff)) return NAN;
    if (diff > worst) worst = diff;
  }
  return worst / scale;
}
