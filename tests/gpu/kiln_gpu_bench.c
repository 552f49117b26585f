/* kiln_gpu_bench: kiln's CUDA backend on a GPU (tests/gpu/README.md).
 *
 *   kiln_gpu_bench check FILE.kir...     each module on the GPU vs the interpreter (1e-4)
 *   kiln_gpu_bench decode FILE.kir       decode tokens/s and GB/s (random weights)
 *   kiln_gpu_bench bandwidth             device copy and read bandwidth
 *   kiln_gpu_bench attention             causal attention TFLOP/s, T 4096/8192, D 64/128
 *   kiln_gpu_bench matmul                kiln's matmul vs cuBLAS on the 1B model's shapes
 *   kiln_gpu_bench all                   all of them on tests/gpu/data
 * Flags: --dry-run (up to NVRTC; no driver), --host (check on the host
 * emulation, no GPU), --json FILE, --md FILE, --tokens N, --quick.
 *
 * Exit: 0 when every check passed, 1 on a failure, 77 when --dry-run
 * finds no NVRTC (ctest: skipped).
 */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct {
  bool dry_run, host, quick;
  int tokens;
  Runner run;
  CgNvrtc *nv;
  char arch[16];     /* sm_NN of the GPU; sm_90 in a dry run */
  char device[256];
  int sms;
  double read_gbs;   /* measured here, for decode's fraction */
  Report rep;
  int failures;
  char err[1024];
} Ctx;

#define REPS 5

/* ---- compiling -------------------------------------------------------------- */

/* NVRTC for the GPU's arch (CUBIN: no JIT at load); when NVRTC does not
 * know that arch, PTX for compute_80, which the driver JITs. */
static bool compile(Ctx *c, BenchModel *bm) {
  if (c->host) return true;
  IrDiag d = {0};
  double t0 = bench_now();
  /* a dry run stops at PTX (ptxas cost minutes of CI when each of the 1B
   * model's 276 decode launches had a kernel of its own; they share 16 now) */
  bool ok = cg_nvrtc_compile(c->nv, bm->src.data, "model.cu", c->arch, !c->dry_run, &bm->nv, &d);
  if (!ok && strcmp(c->arch, "sm_80") != 0) {
    fprintf(stderr, "kiln_gpu_bench: NVRTC for %s failed (%s); trying PTX for compute_80\n", c->arch, d.msg);
    cg_nvrtc_output_free(&bm->nv);
    memset(&d, 0, sizeof d);
    ok = cg_nvrtc_compile(c->nv, bm->src.data, "model.cu", "sm_80", false, &bm->nv, &d);
  }
  bm->compile_s = bench_now() - t0;
  if (!ok) snprintf(c->err, sizeof c->err, "%.100s: NVRTC: %.800s", bm->name, d.msg);
  return ok;
}

static bool build(Ctx *c, BenchModel *bm, const char *path, const char *text, const char *only) {
  return bm_build(bm, path, text, only, c->err, sizeof c->err) && compile(c, bm);
}

static bool load(Ctx *c, BenchModel *bm, uint64_t out_bytes) {
  const void *image = bm->nv.cubin ? (const void *)bm->nv.cubin : (const void *)bm->nv.ptx;
  bool ok = run_load(&c->run, bm->src.data, image, &bm->cuda) && bm_alloc(bm, &c->run, out_bytes);
  if (!ok) snprintf(c->err, sizeof c->err, "%.100s: %.800s", bm->name, c->run.err);
  return ok;
}

static void unload(Ctx *c, BenchModel *bm) {
  bm_release(bm, &c->run);
  run_unload(&c->run);
}

/* Bytes of the largest first result over the entries. */
static uint64_t out_bytes_of(const BenchModel *bm) {
  uint64_t most = 64;
  for (int i = 0; i < bm->m->nfuncs; i++) {
    const IrFunc *f = bm->m->funcs[i];
    if (f->nresults < 1) continue;
    uint64_t b = kplan_type_max_bytes(bm->m, &f->result_types[0]);
    if (b > most) most = b;
  }
  return most;
}

static int64_t vocab_of(const BenchModel *bm) {
  const IrFunc *f = bm->m->nfuncs ? bm->m->funcs[0] : NULL;
  if (!f || f->nresults < 1) return 1;
  const IrType *t = &f->result_types[0];
  return t->rank && ir_dim_is_const(t->dims[t->rank - 1]) ? t->dims[t->rank - 1].c : 1;
}

static void fail_step(Ctx *c, const char *what) {
  fprintf(stderr, "kiln_gpu_bench: %s: %s\n", what, c->err);
  c->failures++;
}

/* ---- check ------------------------------------------------------------------ */

/* Prefill of 7 tokens and 3 decode steps vs the interpreter; the worst
 * relative difference in *worst. */
static bool check_calls(Ctx *c, BenchModel *bm, IrInterp *it, double *worst) {
  int64_t vocab = vocab_of(bm);
  int32_t prompt[7] = {1, 5, 9, 2, 7, 3, 4}, step[3] = {6, 8, 1};
  for (int i = 0; i < 7; i++) prompt[i] %= (int32_t)vocab;
  for (int i = 0; i < 3; i++) step[i] %= (int32_t)vocab;
  bool has_decode = bm_entry(bm, "decode") >= 0;
  *worst = 0;
  for (int i = 0; i < (has_decode ? 4 : 1); i++) {
    const char *entry = i == 0 ? "prefill" : "decode";
    const int32_t *tok = i == 0 ? prompt : &step[i - 1];
    int64_t T = i == 0 ? 7 : 1, P = i == 0 ? 0 : 6 + i, n = 0;
    float *want = bm_interp(bm->ref, it, entry, tok, T, P, &n, c->err, sizeof c->err);
    float *got = want ? malloc(sizeof(float) * (size_t)(n + 1)) : NULL;
    bool ok = got && bm_call(bm, &c->run, entry, tok, T, P, got, n);
    if (want && !ok) snprintf(c->err, sizeof c->err, "%s", c->run.err);
    double e = ok ? bench_rel_err(got, want, n) : NAN;
    free(want);
    free(got);
    if (!ok) return false;
    if (!(e <= *worst)) *worst = e;
    if (!(e <= 1e-4)) {
      snprintf(c->err, sizeof c->err, "%s: call %d (@%s T=%lld P=%lld): relative difference %.3g > 1e-4",
               bm->name, i, entry, (long long)T, (long long)P, e);
      return false;
    }
  }
  return true;
}

/* Builds, runs and compares one module; false on any failure. */
static bool check_one(Ctx *c, const char *path, const char *text, double *worst, double *compile_s) {
  BenchModel bm;
  bool ok = build(c, &bm, path, text, NULL);
  *compile_s = bm.compile_s;
  *worst = 0;
  if (ok && !c->dry_run) {
    IrDiag d = {0};
    IrInterp *it = NULL;
    ok = load(c, &bm, out_bytes_of(&bm));
    if (ok && !(it = ir_interp_new(bm.ref, &d))) {
      snprintf(c->err, sizeof c->err, "%s", d.msg);
      ok = false;
    }
    ok = ok && bm_fill_host(&bm, &c->run, it, c->err, sizeof c->err) && check_calls(c, &bm, it, worst);
    ir_interp_free(it);
    unload(c, &bm);
  }
  bm_free(&bm);
  return ok;
}

static const char *base(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static void cmd_check(Ctx *c, char **files, int nfiles) {
  rep_json(&c->rep, "\"check\": [");
  rep_md(&c->rep, "\n## check: the modules on the %s vs the interpreter (1e-4 relative)\n\n"
                  "| module | result | max rel. diff | NVRTC s | s |\n|---|---|---|---|---|\n",
         c->host ? "host emulation" : "GPU");
  for (int i = 0; i < nfiles; i++) {
    double t0 = bench_now(), worst, compile_s;
    bool ok = check_one(c, files[i], NULL, &worst, &compile_s);
    double secs = bench_now() - t0;
    const char *result = !ok ? "fail" : c->dry_run ? "compiled" : "pass";
    if (!ok) fail_step(c, base(files[i]));
    rep_json(&c->rep, "%s{\"module\": \"%s\", \"result\": \"%s\", \"max_rel_diff\": %.3g, \"nvrtc_s\": %.2f, "
                      "\"seconds\": %.2f%s",
             i ? ", " : "", base(files[i]), result, worst, compile_s, secs, ok ? "" : ", \"error\": ");
    if (!ok) rep_str(&c->rep.json, c->err);
    rep_json(&c->rep, "}");
    rep_md(&c->rep, "| %s | %s | %.2g | %.1f | %.1f |\n", base(files[i]), result, worst, compile_s, secs);
    printf("check %-28s %-8s max rel diff %.2g (%.1f s)\n", base(files[i]), result, worst, secs);
    fflush(stdout);
  }
  rep_json(&c->rep, "]");
}

/* ---- bandwidth ---------------------------------------------------------------- */

/* Median seconds of one helper launch over n float4s. */
static double time_helper(Ctx *c, const char *name, unsigned long long src, unsigned long long dst,
                          unsigned long long n) {
  void *params[3] = {&src, &dst, &n};
  int64_t grid[3] = {c->sms > 0 ? c->sms * 16 : 1024, 1, 1};
  double t[REPS + 2];
  for (int r = 0; r < REPS + 2; r++) {
    double t0 = bench_now();
    if (!rt_cuda_launch_params(c->run.cu, name, grid, 512, 0, params, c->err, sizeof c->err) ||
        !rt_cuda_sync(c->run.cu, c->err, sizeof c->err))
      return -1;
    t[r] = bench_now() - t0;
  }
  return bench_median(t + 2, REPS);
}

static double time_dtod(Ctx *c, unsigned long long src, unsigned long long dst, uint64_t bytes) {
  double t[REPS + 1];
  for (int r = 0; r < REPS + 1; r++) {
    double t0 = bench_now();
    if (!rt_cuda_copy_dtod(c->run.cu, dst, src, (size_t)bytes, c->err, sizeof c->err) ||
        !rt_cuda_sync(c->run.cu, c->err, sizeof c->err))
      return -1;
    t[r] = bench_now() - t0;
  }
  return bench_median(t + 1, REPS);
}

/* Copy (read + write), read-only and cuMemcpyDtoD over 1 GiB buffers; the
 * helper kernels must be loaded. Sets c->read_gbs. */
static bool measure_bandwidth(Ctx *c, double *copy_gbs, double *dtod_gbs) {
  uint64_t bytes = c->quick ? (256u << 20) : (1u << 30);
  unsigned long long a = 0, b = 0;
  bool ok = rt_cuda_alloc(c->run.cu, bytes, &a, c->err, sizeof c->err) &&
            rt_cuda_alloc(c->run.cu, bytes, &b, c->err, sizeof c->err) &&
            rt_cuda_memset(c->run.cu, a, 0x3c, bytes, c->err, sizeof c->err);
  double tc = ok ? time_helper(c, "kiln_bench_copy", a, b, bytes / 16) : -1;
  double tr = tc > 0 ? time_helper(c, "kiln_bench_read", a, b, bytes / 16) : -1;
  double td = tr > 0 ? time_dtod(c, a, b, bytes) : -1;
  rt_cuda_free(c->run.cu, a);
  rt_cuda_free(c->run.cu, b);
  if (td <= 0) return false;
  *copy_gbs = 2.0 * (double)bytes / tc / 1e9;
  *dtod_gbs = 2.0 * (double)bytes / td / 1e9;
  c->read_gbs = (double)bytes / tr / 1e9;
  return true;
}

static void cmd_bandwidth(Ctx *c) {
  BenchModel bm = {0};
  snprintf(bm.name, sizeof bm.name, "helpers");
  ir_buf_printf(&bm.src, "%s", bench_helpers_cu);
  bool ok = compile(c, &bm);
  double copy = 0, dtod = 0;
  if (ok && !c->dry_run) {
    ok = rt_cuda_load(c->run.cu, bm.nv.cubin ? (const void *)bm.nv.cubin : bm.nv.ptx, c->err, sizeof c->err) &&
         measure_bandwidth(c, &copy, &dtod);
  }
  if (ok && !c->dry_run && (!bm.nv.ptx || !strstr(bm.nv.ptx, "kiln_bench_copy"))) {
    snprintf(c->err, sizeof c->err, "the helper kernels are missing from the PTX (__CUDACC__ undefined?)");
    ok = false;
  }
  if (!ok) fail_step(c, "bandwidth");
  const BenchPeak *pk = bench_peak(c->device);
  rep_json(&c->rep, "\"bandwidth\": {\"result\": \"%s\", \"copy_gbs\": %.1f, \"read_gbs\": %.1f, "
                    "\"dtod_gbs\": %.1f, \"datasheet_gbs\": %.0f, \"note\": \"copy and dtod count read + write "
                    "bytes; read counts the bytes read\"}",
           ok ? (c->dry_run ? "compiled" : "pass") : "fail", copy, c->read_gbs, dtod, pk ? pk->mem_gbs : 0.0);
  rep_md(&c->rep, "\n## bandwidth (1 GiB buffers)\n\n| measure | GB/s | data sheet GB/s |\n|---|---|---|\n"
                  "| copy kernel (read + write) | %.0f | %.0f |\n| read-only kernel | %.0f | |\n"
                  "| cuMemcpyDtoD (read + write) | %.0f | |\n",
         copy, pk ? pk->mem_gbs : 0.0, c->read_gbs, dtod);
  printf("bandwidth: copy %.0f GB/s, read %.0f GB/s, DtoD %.0f GB/s\n", copy, c->read_gbs, dtod);
  fflush(stdout);
  cg_nvrtc_output_free(&bm.nv);
  ir_buf_free(&bm.src);
}

/* ---- decode ------------------------------------------------------------------- */

typedef struct {
  double prefill_s, step_s, tok_s;
  int kernels, steps;
  bool finite;
} DecodeRun;

static bool decode_run(Ctx *c, BenchModel *bm, DecodeRun *dr) {
  int64_t vocab = vocab_of(bm), prompt_len = 16;
  float *logits = malloc(sizeof(float) * (size_t)vocab);
  int32_t prompt[16];
  for (int i = 0; i < 16; i++) prompt[i] = (int32_t)((i * 7919 + 11) % vocab);
  /* The module has @decode alone (see cmd_decode): the prompt goes in one
   * token a step, which fills the KV cache as a prefill would. */
  double t0 = bench_now();
  bool ok = true;
  for (int i = 0; ok && i < prompt_len; i++) ok = bm_call(bm, &c->run, "decode", &prompt[i], 1, i, logits, vocab);
  dr->prefill_s = bench_now() - t0;
  int warm = 3, n = c->tokens;
  double *t = malloc(sizeof(double) * (size_t)n), total = 0;
  int32_t tok = 1;
  for (int i = 0; ok && i < warm + n; i++) {
    double s = bench_now();
    ok = bm_call(bm, &c->run, "decode", &tok, 1, prompt_len + i, logits, vocab);
    if (i >= warm) total += t[i - warm] = bench_now() - s;
    tok = (int32_t)((tok * 31 + 7) % vocab); /* no sampling: the cost of the step is the same */
  }
  if (!ok) snprintf(c->err, sizeof c->err, "%s", c->run.err);
  dr->finite = true;
  for (int64_t i = 0; ok && i < vocab; i++) dr->finite = dr->finite && isfinite(logits[i]);
  dr->steps = n;
  dr->step_s = ok ? bench_median(t, n) : 0;
  dr->tok_s = ok && total > 0 ? n / total : 0;
  free(t);
  free(logits);
  return ok;
}

static void cmd_decode(Ctx *c, const char *path) {
  BenchModel bm;
  DecodeRun dr = {0};
  double copy, dtod;
  /* @decode alone: @prefill's kernels would double NVRTC's time and are
   * not timed here (matmul and attention are). */
  bool ok = build(c, &bm, path, NULL, "decode");
  int de = ok ? bm_entry(&bm, "decode") : -1, funcs = ok ? bm.cuda.nfuncs : 0;
  for (int k = 0; ok && k < bm.cuda.nkernels; k++) dr.kernels += bm.cuda.kernels[k].entry == de;
  if (ok && !c->dry_run)
    ok = load(c, &bm, out_bytes_of(&bm)) && bm_fill_device(&bm, &c->run, c->err, sizeof c->err) &&
         measure_bandwidth(c, &copy, &dtod) && decode_run(c, &bm, &dr);
  if (!ok) fail_step(c, "decode");
  double wbytes = ok ? (double)bm.plan->weights_bytes : 0, gbs = wbytes * dr.tok_s / 1e9;
  const BenchPeak *pk = bench_peak(c->device);
  double sheet = pk ? pk->mem_gbs : 0;
  rep_json(&c->rep, "\"decode\": {\"result\": \"%s\", \"module\": \"%s\", \"nvrtc_s\": %.1f, \"weight_bytes\": %.0f, "
                    "\"prompt_tokens\": 16, \"prompt_s\": %.4f, \"steps\": %d, \"kernels_per_step\": %d, "
                    "\"functions\": %d, "
                    "\"median_step_ms\": %.3f, \"tokens_per_s\": %.1f, \"gbs\": %.1f, \"measured_read_gbs\": %.1f, "
                    "\"fraction_of_measured\": %.3f, \"datasheet_gbs\": %.0f, \"fraction_of_datasheet\": %.3f, "
                    "\"logits_finite\": %s}",
           ok ? (c->dry_run ? "compiled" : "pass") : "fail", base(path), bm.compile_s, wbytes, dr.prefill_s,
           dr.steps, dr.kernels, funcs, dr.step_s * 1e3, dr.tok_s, gbs, c->read_gbs,
           c->read_gbs > 0 ? gbs / c->read_gbs : 0, sheet, sheet > 0 ? gbs / sheet : 0, dr.finite ? "true" : "false");
  rep_md(&c->rep, "\n## decode: %s, random bf16 weights (%.2f GB)\n\n"
                  "| tokens/s | median step ms | kernels/step | GB/s (weights x tok/s) | measured read GB/s | "
                  "fraction | data sheet GB/s | fraction |\n|---|---|---|---|---|---|---|---|\n"
                  "| %.1f | %.3f | %d | %.0f | %.0f | %.2f | %.0f | %.2f |\n",
         base(path), wbytes / 1e9, dr.tok_s, dr.step_s * 1e3, dr.kernels, gbs, c->read_gbs,
         c->read_gbs > 0 ? gbs / c->read_gbs : 0, sheet, sheet > 0 ? gbs / sheet : 0);
  printf("decode %s: %.1f tokens/s, %.0f GB/s of weights (NVRTC %.1f s for %d kernels, %d launches a step)\n",
         base(path), dr.tok_s, gbs, bm.compile_s, funcs, dr.kernels);
  fflush(stdout);
  if (ok && !c->dry_run) unload(c, &bm);
  bm_free(&bm);
}

/* ---- timing a one-entry module ------------------------------------------------ */

/* Median seconds of @prefill (one launch sequence), after a warm-up. */
static double time_prefill(Ctx *c, BenchModel *bm) {
  double t[REPS];
  for (int r = 0; r < REPS + 1; r++) {
    double t0 = bench_now();
    if (!bm_launch(bm, &c->run, 0, 1, 0) || !run_sync(&c->run)) {
      snprintf(c->err, sizeof c->err, "%s", c->run.err);
      return -1;
    }
    if (r) t[r - 1] = bench_now() - t0;
  }
  return bench_median(t, REPS);
}

/* A small module vs the interpreter (host-filled values), for kernels the
 * benchmark then times at full size. */
static bool small_check(Ctx *c, const char *name, const char *text, double *worst) {
  double compile_s;
  bool ok = check_one(c, name, text, worst, &compile_s);
  if (!ok) fail_step(c, name);
  printf("check %-28s %s max rel diff %.2g\n", name, ok ? (c->dry_run ? "compiled" : "pass") : "FAIL", *worst);
  return ok;
}

/* ---- attention ---------------------------------------------------------------- */

static void attention_text(IrBuf *b, int H, int T, int D) {
  ir_buf_printf(b, "module @attention_h%d_t%d_d%d {\n  sym T <= 1\n", H, T, D);
  for (int i = 0; i < 3; i++) ir_buf_printf(b, "  param @%c : f32[%d, %d, %d]\n", "qkv"[i], H, T, D);
  ir_buf_printf(b, "  func @prefill(%%x: i32[T]) -> f32[%d, %d, %d] {\n"
                   "    %%o = attention(@q, @k, @v) {scale = %.9g, causal} : f32[%d, %d, %d]\n"
                   "    return %%o\n  }\n}\n",
                H, T, D, 1.0 / sqrt((double)D), H, T, D);
}

static void cmd_attention(Ctx *c) {
  const int H = 16, Ts[2] = {4096, 8192}, Ds[2] = {64, 128};
  const BenchPeak *pk = bench_peak(c->device);
  rep_json(&c->rep, "\"attention\": {\"heads\": %d, \"causal\": true, \"dtype\": \"f32\", "
                    "\"flops\": \"4*T*T*D*H/2\", \"peak_f32_tflops\": %.1f, \"peak_bf16_tensor_tflops\": %.0f, "
                    "\"checks\": [", H, pk ? pk->f32_tflops : 0.0, pk ? pk->bf16_tflops : 0.0);
  rep_md(&c->rep, "\n## attention: causal, %d heads, f32 q/k/v (FLOPs 4*T*T*D*H/2)\n\n", H);
  for (int i = 0; i < 2; i++) {
    IrBuf t = {0};
    attention_text(&t, 2, 80 + 17 * i, Ds[i]);
    double worst;
    bool ok = small_check(c, Ds[i] == 64 ? "attention-small-d64" : "attention-small-d128", t.data, &worst);
    rep_json(&c->rep, "%s{\"shape\": \"H=2 T=%d D=%d\", \"result\": \"%s\", \"max_rel_diff\": %.3g}", i ? ", " : "",
             80 + 17 * i, Ds[i], ok ? "pass" : "fail", worst);
    ir_buf_free(&t);
  }
  rep_json(&c->rep, "], \"results\": [");
  rep_md(&c->rep, "| T | D | ms | TFLOP/s | of f32 peak %.0f | of bf16 tensor peak %.0f |\n|---|---|---|---|---|---|\n",
         pk ? pk->f32_tflops : 0.0, pk ? pk->bf16_tflops : 0.0);
  int n = 0;
  for (int ti = 0; ti < 2; ti++)
    for (int di = 0; di < 2; di++) {
      int T = c->quick ? Ts[ti] / 4 : Ts[ti], D = Ds[di];
      IrBuf text = {0};
      attention_text(&text, H, T, D);
      BenchModel bm;
      double s = -1;
      bool ok = build(c, &bm, "attention", text.data, NULL);
      if (ok && !c->dry_run)
        ok = load(c, &bm, out_bytes_of(&bm)) && bm_fill_device(&bm, &c->run, c->err, sizeof c->err) &&
             (s = time_prefill(c, &bm)) > 0;
      if (ok && !c->dry_run) unload(c, &bm);
      if (!ok) fail_step(c, "attention");
      double tflops = s > 0 ? 4.0 * T * (double)T * D * H / 2 / s / 1e12 : 0;
      rep_json(&c->rep, "%s{\"T\": %d, \"D\": %d, \"result\": \"%s\", \"nvrtc_s\": %.2f, \"ms\": %.3f, "
                        "\"tflops\": %.2f}",
               n++ ? ", " : "", T, D, ok ? (c->dry_run ? "compiled" : "pass") : "fail", bm.compile_s, s * 1e3, tflops);
      rep_md(&c->rep, "| %d | %d | %.2f | %.2f | %.3f | %.4f |\n", T, D, s * 1e3, tflops,
             pk ? tflops / pk->f32_tflops : 0, pk ? tflops / pk->bf16_tflops : 0);
      printf("attention T=%d D=%d: %.2f TFLOP/s (%.2f ms)\n", T, D, tflops, s * 1e3);
      fflush(stdout);
      bm_free(&bm);
      ir_buf_free(&text);
    }
  rep_json(&c->rep, "]}");
}

/* ---- matmul ------------------------------------------------------------------- */

static void matmul_text(IrBuf *b, int M, int N, int K, bool bf16_act) {
  ir_buf_printf(b, "module @matmul_%dx%dx%d {\n  sym T <= 1\n  param @a : %s[%d, %d]\n  param @w : bf16[%d, %d]\n"
                   "  func @prefill(%%x: i32[T]) -> f32[%d, %d] {\n"
                   "    %%y = matmul(@a, @w) {transpose_b} : f32[%d, %d]\n    return %%y\n  }\n}\n",
                M, N, K, bf16_act ? "bf16" : "f32", M, K, N, K, M, N, M, N);
}

/* Widens the bf16 weights to f32 (for cuBLAS's f32 GEMM) on the host side
 * of the copy: the device has the bf16 blob, w32 gets the same values. */
static bool widen_weights(Ctx *c, unsigned long long w, unsigned long long w32, uint64_t n) {
  uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
  float *f = malloc(sizeof(float) * (size_t)n);
  bool ok = h && f && rt_cuda_copy_from(c->run.cu, h, w, sizeof(uint16_t) * (size_t)n, c->err, sizeof c->err);
  for (uint64_t i = 0; ok && i < n; i++) {
    uint32_t bits = (uint32_t)h[i] << 16;
    memcpy(&f[i], &bits, 4);
  }
  ok = ok && rt_cuda_copy_to(c->run.cu, w32, f, sizeof(float) * (size_t)n, c->err, sizeof c->err);
  free(h);
  free(f);
  return ok;
}

typedef struct {
  double kiln_s, cublas_s, rel_diff;
  const char *cublas_note;
} MatmulRun;

/* cuBLAS on the same a and w (w widened to f32 for f32 activations): its
 * median time, and the difference of its result's first rows from kiln's. */
static bool matmul_cublas(Ctx *c, BenchModel *bm, BenchCublas *cb, int M, int N, int K, bool bf16, MatmulRun *mr) {
  const KBuffer *ka = kplan_buffer(bm->plan, bm->m->params[0]), *kw = kplan_buffer(bm->plan, bm->m->params[1]);
  unsigned long long a = bm->b.weights + ka->offset, w = bm->b.weights + kw->offset, w32 = 0, out = 0;
  uint64_t outn = (uint64_t)M * N, cmp = outn < (1u << 22) ? outn : (1u << 22);
  bool ok = rt_cuda_alloc(c->run.cu, sizeof(float) * outn, &out, c->err, sizeof c->err);
  if (ok && !bf16)
    ok = rt_cuda_alloc(c->run.cu, sizeof(float) * (uint64_t)N * K, &w32, c->err, sizeof c->err) &&
         widen_weights(c, w, w32, (uint64_t)N * K);
  double t[REPS];
  for (int r = 0; ok && r < REPS + 1; r++) {
    double t0 = bench_now();
    ok = cublas_matmul(cb, bf16, M, N, K, a, bf16 ? w : w32, out, c->err, sizeof c->err) &&
         rt_cuda_sync(c->run.cu, c->err, sizeof c->err);
    if (r) t[r - 1] = bench_now() - t0;
  }
  float *x = malloc(sizeof(float) * cmp), *y = malloc(sizeof(float) * cmp);
  ok = ok && rt_cuda_copy_from(c->run.cu, x, bm->b.logits, sizeof(float) * cmp, c->err, sizeof c->err) &&
       rt_cuda_copy_from(c->run.cu, y, out, sizeof(float) * cmp, c->err, sizeof c->err);
  mr->rel_diff = ok ? bench_rel_err(x, y, (int64_t)cmp) : NAN;
  mr->cublas_s = ok ? bench_median(t, REPS) : 0;
  free(x);
  free(y);
  rt_cuda_free(c->run.cu, out);
  rt_cuda_free(c->run.cu, w32);
  if (ok && !(mr->rel_diff <= 1e-3)) {
    snprintf(c->err, sizeof c->err, "matmul %dx%dx%d: kiln and cuBLAS differ by %.3g (relative) > 1e-3", M, N, K,
             mr->rel_diff);
    return false;
  }
  return ok;
}

static void cmd_matmul(Ctx *c) {
  static const int shapes[][3] = {{2048, 2048, 2048}, {2048, 8192, 2048}, {2048, 2048, 8192},
                                  {2048, 128256, 2048}, {4096, 4096, 4096}};
  static const char *const what[] = {"q/o proj (prefill 2048)", "up/gate", "down", "lm head", "square"};
  char cbpath[512] = "", cberr[512] = "";
  BenchCublas *cb = c->dry_run ? NULL : cublas_open(cberr, sizeof cberr, cbpath, sizeof cbpath);
  if (!c->dry_run && !cb) fprintf(stderr, "kiln_gpu_bench: matmul: %s; kiln's figures only\n", cberr);
  const BenchPeak *pk = bench_peak(c->device);
  rep_json(&c->rep, "\"matmul\": {\"cublas\": ");
  rep_str(&c->rep.json, cb ? cbpath : cberr[0] ? cberr : "not run");
  rep_json(&c->rep, ", \"weights\": \"bf16 [N, K], transpose_b\", \"peak_f32_tflops\": %.1f, "
                    "\"peak_bf16_tensor_tflops\": %.0f, \"checks\": [",
           pk ? pk->f32_tflops : 0.0, pk ? pk->bf16_tflops : 0.0);
  rep_md(&c->rep, "\n## matmul: C[M, N] = A[M, K] W[N, K]^T, W bf16; cuBLAS: %s\n\n", cb ? cbpath : cberr);
  for (int i = 0; i < 2; i++) {
    IrBuf t = {0};
    matmul_text(&t, 70, 96, 136, i == 1);
    double worst;
    bool ok = small_check(c, i ? "matmul-small-bf16" : "matmul-small-f32", t.data, &worst);
    rep_json(&c->rep, "%s{\"shape\": \"70x96x136\", \"activations\": \"%s\", \"result\": \"%s\", "
                      "\"max_rel_diff\": %.3g}", i ? ", " : "", i ? "bf16" : "f32", ok ? "pass" : "fail", worst);
    ir_buf_free(&t);
  }
  rep_json(&c->rep, "], \"results\": [");
  rep_md(&c->rep, "| shape MxNxK | A | kiln ms | kiln TFLOP/s | cuBLAS TFLOP/s | kiln/cuBLAS | of f32 peak | "
                  "rel. diff |\n|---|---|---|---|---|---|---|---|\n");
  int n = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int act = 0; act < 2; act++) {
      int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
      if (c->quick && s == 3) N = 16384;
      IrBuf text = {0};
      matmul_text(&text, M, N, K, act == 1);
      BenchModel bm;
      MatmulRun mr = {.kiln_s = -1, .rel_diff = NAN};
      bool ok = build(c, &bm, "matmul", text.data, NULL);
      if (ok && !c->dry_run)
        ok = load(c, &bm, out_bytes_of(&bm)) && bm_fill_device(&bm, &c->run, c->err, sizeof c->err) &&
             (mr.kiln_s = time_prefill(c, &bm)) > 0 && (!cb || matmul_cublas(c, &bm, cb, M, N, K, act == 1, &mr));
      if (ok && !c->dry_run) unload(c, &bm);
      if (!ok) fail_step(c, "matmul");
      double flop = 2.0 * M * (double)N * K;
      double kt = mr.kiln_s > 0 ? flop / mr.kiln_s / 1e12 : 0, ct = mr.cublas_s > 0 ? flop / mr.cublas_s / 1e12 : 0;
      rep_json(&c->rep, "%s{\"M\": %d, \"N\": %d, \"K\": %d, \"what\": \"%s\", \"activations\": \"%s\", "
                        "\"result\": \"%s\", \"kiln_ms\": %.3f, \"kiln_tflops\": %.2f, \"cublas_ms\": %.3f, "
                        "\"cublas_tflops\": %.2f, \"rel_diff_vs_cublas\": %.3g}",
               n++ ? ", " : "", M, N, K, what[s], act ? "bf16" : "f32",
               ok ? (c->dry_run ? "compiled" : "pass") : "fail", mr.kiln_s * 1e3, kt, mr.cublas_s * 1e3, ct,
               isnan(mr.rel_diff) ? -1.0 : mr.rel_diff);
      rep_md(&c->rep, "| %dx%dx%d (%s) | %s | %.2f | %.2f | %.1f | %.3f | %.3f | %.2g |\n", M, N, K, what[s],
             act ? "bf16" : "f32", mr.kiln_s * 1e3, kt, ct, ct > 0 ? kt / ct : 0, pk ? kt / pk->f32_tflops : 0,
             mr.rel_diff);
      printf("matmul %dx%dx%d %s: kiln %.2f TFLOP/s, cuBLAS %.2f TFLOP/s\n", M, N, K, act ? "bf16" : "f32", kt, ct);
      fflush(stdout);
      bm_free(&bm);
      ir_buf_free(&text);
    }
  rep_json(&c->rep, "]}");
  cublas_close(cb);
}

/* ---- main --------------------------------------------------------------------- */

static int usage(void) {
  fprintf(stderr, "usage: kiln_gpu_bench check FILE.kir... | decode FILE.kir | bandwidth | attention | matmul | "
                  "all\n       [--dry-run] [--host] [--quick] [--tokens N] [--json FILE] [--md FILE]\n");
  return 2;
}

/* NVRTC, and the GPU unless dry or host. Returns an exit code, or -1 to go on. */
static int setup(Ctx *c) {
  IrDiag d = {0};
  c->nv = cg_nvrtc_open(getenv("KILN_NVRTC"), &d); /* NULL: the usual sonames */
  if (!c->nv && !c->host) {
    fprintf(stderr, "kiln_gpu_bench: %s\n", d.msg);
    return c->dry_run ? 77 : 1;
  }
  snprintf(c->arch, sizeof c->arch, "sm_90");
  snprintf(c->device, sizeof c->device, "%s", c->host ? "host emulation" : "none (dry run)");
  c->run.host = c->host;
  if (c->dry_run || c->host) return -1;
  c->run.cu = rt_cuda_open(NULL, 0, c->err, sizeof c->err);
  if (!c->run.cu) {
    fprintf(stderr, "kiln_gpu_bench: %s\n", c->err);
    return 1;
  }
  int major = 0, minor = 0;
  if (rt_cuda_device_attr(c->run.cu, 75, &major, c->err, sizeof c->err) &&
      rt_cuda_device_attr(c->run.cu, 76, &minor, c->err, sizeof c->err))
    snprintf(c->arch, sizeof c->arch, "sm_%d%d", major, minor);
  if (!rt_cuda_device_attr(c->run.cu, 16, &c->sms, c->err, sizeof c->err)) c->sms = 0;
  snprintf(c->device, sizeof c->device, "%s", rt_cuda_device_name(c->run.cu));
  return -1;
}

static void header_json(Ctx *c, IrBuf *b) {
  int major = 0, minor = 0, drv = 0;
  size_t free_b = 0, total_b = 0;
  if (c->nv) cg_nvrtc_version(c->nv, &major, &minor);
  if (c->run.cu) {
    rt_cuda_driver_version(c->run.cu, &drv, c->err, sizeof c->err);
    rt_cuda_mem_info(c->run.cu, &free_b, &total_b, c->err, sizeof c->err);
  }
  ir_buf_printf(b, "{\n\"device\": ");
  rep_str(b, c->device);
  ir_buf_printf(b, ", \"arch\": \"%s\", \"sms\": %d, \"memory_bytes\": %llu, \"cuda_driver\": %d, "
                   "\"nvrtc\": \"%d.%d\", \"dry_run\": %s, \"host\": %s,\n",
                c->arch, c->sms, (unsigned long long)total_b, drv, major, minor, c->dry_run ? "true" : "false",
                c->host ? "true" : "false");
}

static bool write_file(const char *path, const char *a, const char *b, const char *z) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  fprintf(f, "%s%s%s", a, b ? b : "", z);
  return fclose(f) == 0;
}

/* tests/gpu/data/tiny-*.kir, sorted. */
static int tiny_files(char ***files) {
  static glob_t g;
  if (glob(KILN_GPU_DATA "/tiny-*.kir", 0, NULL, &g) != 0) return 0;
  *files = g.gl_pathv;
  return (int)g.gl_pathc;
}

static void run_all(Ctx *c) {
  char **files = NULL;
  int n = tiny_files(&files);
  if (n == 0) {
    snprintf(c->err, sizeof c->err, "no %s/tiny-*.kir", KILN_GPU_DATA);
    fail_step(c, "all");
  }
  cmd_check(c, files, n);
  if (c->host) return;
  rep_json(&c->rep, ",\n");
  cmd_bandwidth(c);
  rep_json(&c->rep, ",\n");
  cmd_decode(c, KILN_GPU_DATA "/llama-3.2-1b.kir");
  rep_json(&c->rep, ",\n");
  cmd_attention(c);
  rep_json(&c->rep, ",\n");
  cmd_matmul(c);
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  Ctx c = {.tokens = 64};
  const char *cmd = argv[1], *json = NULL, *md = NULL;
  char **files = calloc((size_t)argc, sizeof *files);
  int nfiles = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--dry-run")) c.dry_run = true;
    else if (!strcmp(argv[i], "--host")) c.host = true;
    else if (!strcmp(argv[i], "--quick")) c.quick = true;
    else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) c.tokens = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else if (!strcmp(argv[i], "--md") && i + 1 < argc) md = argv[++i];
    else if (argv[i][0] == '-') return usage();
    else files[nfiles++] = argv[i];
  }
  if (c.tokens < 1) c.tokens = 1;
  bool known = !strcmp(cmd, "check") || !strcmp(cmd, "decode") || !strcmp(cmd, "bandwidth") ||
               !strcmp(cmd, "attention") || !strcmp(cmd, "matmul") || !strcmp(cmd, "all");
  if (!known || (!strcmp(cmd, "decode") && nfiles != 1) || (c.host && strcmp(cmd, "check") && strcmp(cmd, "all")))
    return usage();
  int rc = setup(&c);
  if (rc >= 0) return rc;
  printf("device: %s (%s)\n", c.device, c.arch);
  if (!strcmp(cmd, "check")) cmd_check(&c, files, nfiles);
  if (!strcmp(cmd, "decode")) cmd_decode(&c, files[0]);
  if (!strcmp(cmd, "bandwidth")) cmd_bandwidth(&c);
  if (!strcmp(cmd, "attention")) cmd_attention(&c);
  if (!strcmp(cmd, "matmul")) cmd_matmul(&c);
  if (!strcmp(cmd, "all")) run_all(&c);
  IrBuf head = {0};
  header_json(&c, &head);
  ir_buf_printf(&head, "%s,\n\"failures\": %d\n}\n", c.rep.json.data ? c.rep.json.data : "\"none\": null",
                c.failures);
  if (json && !write_file(json, head.data, NULL, "")) fprintf(stderr, "kiln_gpu_bench: cannot write %s\n", json);
  if (md && !write_file(md, "", c.rep.md.data, "")) fprintf(stderr, "kiln_gpu_bench: cannot write %s\n", md);
  if (!md) printf("%s", c.rep.md.data ? c.rep.md.data : "");
  ir_buf_free(&head);
  ir_buf_free(&c.rep.json);
  ir_buf_free(&c.rep.md);
  if (c.run.cu) rt_cuda_close(c.run.cu);
  cg_nvrtc_close(c.nv);
  free(files);
  return c.failures ? 1 : 0;
}
