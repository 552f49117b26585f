/* test_cuda_nvrtc.c: every CUDA kernel of every tiny model compiles with
 * NVRTC and assembles with ptxas, for sm_80 and sm_90.
 *
 * For each model under tests/data/tiny, at each level of test_cuda_util.h
 * (as built, optimized, fused), the emitted source is compiled by NVRTC (loaded at run time,
 * cg_nvrtc.c) to PTX for compute_80, which `ptxas -v` (from PATH or
 * /usr/local/cuda/bin) assembles for sm_80 and for sm_90; for the first
 * model NVRTC also makes the CUBINs for sm_80 and sm_90 itself (each
 * NVRTC run takes seconds, so not for all). From ptxas's report the
 * test takes each kernel's registers, shared memory and spills: it prints
 * the largest per op and arch, writes every kernel's figures to
 * cuda_kernels.txt in the working directory, and fails when a matmul or
 * attention kernel spills (stores or loads to local memory), or when a
 * kernel uses more shared memory than its launch record says (ptxas drops
 * unused shared variables, so it may use less).
 *
 * Without NVRTC the test says so and exits 77, which ctest reports as
 * skipped. Without ptxas only the NVRTC part runs (and says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg_nvrtc.h"
#include "test_cuda_util.h"

#define SKIP 77

static char tmp_dir[64];
static const char *ptxas; /* NULL: not found */
static FILE *report;

typedef struct {
  char name[32];
  int regs;
  long long smem, spill_st, spill_ld;
} PtxasInfo;

static const char *find_ptxas(void) {
  if (system("command -v ptxas > /dev/null 2>&1") == 0) return "ptxas";
  if (access("/usr/local/cuda/bin/ptxas", X_OK) == 0) return "/usr/local/cuda/bin/ptxas";
  return NULL;
}

/* Parses `ptxas -v` output: per function, its registers, smem and
 * spills. Returns the number of functions found. */
static int parse_ptxas(const char *path, PtxasInfo *info, int max) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int n = -1;
  bool in_kernel = false;
  while (fgets(line, sizeof line, f)) {
    const char *p;
    if ((p = strstr(line, "Function properties for "))) {
      /* only kernels: not the math library's out-of-line helpers */
      p += strlen("Function properties for ");
      in_kernel = strncmp(p, "kiln_k", 6) == 0 && n + 1 < max;
      if (!in_kernel) continue;
      n++;
      memset(&info[n], 0, sizeof info[n]);
      sscanf(p, "%31s", info[n].name);
    } else if (n >= 0 && in_kernel && (p = strstr(line, "bytes spill stores"))) {
      sscanf(line, " %*d bytes stack frame, %lld bytes spill stores, %lld bytes spill loads",
             &info[n].spill_st, &info[n].spill_ld);
    } else if (n >= 0 && in_kernel && (p = strstr(line, "Used "))) {
      sscanf(p, "Used %d registers", &info[n].regs);
      const char *s = strstr(line, "bytes smem");
      if (s) {
        while (s > line && s[-1] == ' ') s--;
        while (s > line && s[-1] >= '0' && s[-1] <= '9') s--;
        info[n].smem = atoll(s);
      }
    }
  }
  fclose(f);
  return n + 1;
}

static const CgCudaKernel *find_kernel(const TcuModel *tm, const char *name) {
  for (int k = 0; k < tm->cuda.nkernels; k++)
    if (strcmp(tm->cuda.kernels[k].name, name) == 0) return &tm->cuda.kernels[k];
  return NULL;
}

/* Largest registers and shared memory per op, printed as one line. */
static void summarize(const TcuModel *tm, const char *arch, const PtxasInfo *info, int n) {
  const char *ops[32];
  int regs[32], nops = 0;
  long long smem[32];
  for (int i = 0; i < n; i++) {
    const CgCudaKernel *k = find_kernel(tm, info[i].name);
    if (!k) continue;
    int j = 0;
    while (j < nops && strcmp(ops[j], k->op) != 0) j++;
    if (j == nops && nops < 32) {
      ops[nops] = k->op;
      regs[nops] = 0;
      smem[nops++] = 0;
    }
    if (j < nops) {
      if (info[i].regs > regs[j]) regs[j] = info[i].regs;
      if (info[i].smem > smem[j]) smem[j] = info[i].smem;
    }
  }
  printf("%-16s %s:", tm->name, arch);
  for (int j = 0; j < nops; j++) printf(" %s %dr/%lldB", ops[j], regs[j], smem[j]);
  printf("\n");
}

/* Assembles the PTX for sm_<arch> and checks the report. */
static void assemble(const TcuModel *tm, const char *ptx, const char *arch) {
  char ptx_path[256], out_path[256], log_path[256], cmd[1024];
  snprintf(ptx_path, sizeof ptx_path, "%s/%s-%s.ptx", tmp_dir, tm->name, arch);
  snprintf(out_path, sizeof out_path, "%s/%s-%s.cubin", tmp_dir, tm->name, arch);
  snprintf(log_path, sizeof log_path, "%s/%s-%s.log", tmp_dir, tm->name, arch);
  CHECK(tcu_write(ptx_path, ptx));
  snprintf(cmd, sizeof cmd, "%s -v -arch=%s %s -o %s > %s 2>&1", ptxas, arch, ptx_path, out_path, log_path);
  int rc = system(cmd);
  CHECK(rc == 0);
  if (rc != 0) fprintf(stderr, "%s: '%s' failed\n", tm->name, cmd);
  static PtxasInfo info[1024];
  int n = parse_ptxas(log_path, info, 1024);
  CHECK(n == tm->cuda.nfuncs);
  for (int i = 0; i < n; i++) {
    const CgCudaKernel *k = find_kernel(tm, info[i].name);
    CHECK(k != NULL);
    if (!k) continue;
    fprintf(report, "%-16s %-6s %-10s %-12s regs %3d smem %6lld spill %lld/%lld\n", tm->name, arch, k->name,
            k->op, info[i].regs, info[i].smem, info[i].spill_st, info[i].spill_ld);
    bool heavy = strcmp(k->op, "matmul") == 0 || strncmp(k->op, "attention", 9) == 0;
    bool spills = info[i].spill_st || info[i].spill_ld;
    check_count++;
    if (heavy && spills) {
      check_failures++;
      fprintf(stderr, "%s %s: %s (%s) spills %lld/%lld bytes\n", tm->name, arch, k->name, k->op,
              info[i].spill_st, info[i].spill_ld);
    }
    CHECK(info[i].smem <= k->smem_bytes);
    if (info[i].smem > k->smem_bytes)
      fprintf(stderr, "%s %s: %s uses %lld bytes of shared memory, the record says at most %lld\n", tm->name, arch,
              k->name, info[i].smem, (long long)k->smem_bytes);
  }
  summarize(tm, arch, info, n);
  unlink(ptx_path);
  unlink(out_path);
  unlink(log_path);
}

/* NVRTC makes PTX for compute_80 (and, when `cubin`, also the sm_80 and
 * sm_90 CUBINs and compute_90 PTX: slower, so for one model); ptxas
 * assembles the compute_80 PTX for sm_80 and for sm_90, as the driver
 * would JIT it on a newer GPU. */
static void test_model(CgNvrtc *nv, const char *name, int level, bool cubin) {
  TcuModel tm;
  bool ok = tcu_load(&tm, name, level);
  CHECK(ok);
  const char *archs[] = {"sm_80", "sm_90"};
  char file[80];
  snprintf(file, sizeof file, "%s.cu", tm.name);
  for (int a = 0; ok && a < (cubin ? 2 : 1); a++) {
    CgNvrtcOutput out;
    IrDiag d = {0};
    bool built = cg_nvrtc_compile(nv, tm.src.data, file, archs[a], cubin, &out, &d);
    CHECK(built);
    if (!built) fprintf(stderr, "%s: %s\n", tm.name, d.msg);
    CHECK(!built || (out.ptx && strstr(out.ptx, ".entry kiln_k0")));
    CHECK(!built || !cubin || (out.cubin && out.cubin_bytes > 4 && memcmp(out.cubin, "\177ELF", 4) == 0));
    if (built && ptxas && a == 0) {
      assemble(&tm, out.ptx, "sm_80");
      assemble(&tm, out.ptx, "sm_90");
    }
    cg_nvrtc_output_free(&out);
  }
  tcu_free(&tm);
}

/* A small module (IR text) through NVRTC and ptxas. */
static void test_small(CgNvrtc *nv, const char *name, const char *text) {
  TcuModel tm = {0};
  IrDiag d = {0};
  snprintf(tm.name, sizeof tm.name, "%s", name);
  tm.m = ir_parse(text, strlen(text), name, &d);
  bool ok = tm.m && ir_verify(tm.m, &d) && (tm.plan = kplan_build(tm.m, &d)) &&
            cg_cuda_emit(tm.plan, NULL, &tm.src, &tm.cuda, &d);
  CgNvrtcOutput out = {0};
  ok = ok && cg_nvrtc_compile(nv, tm.src.data, "small.cu", "sm_80", false, &out, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  if (ok && ptxas) assemble(&tm, out.ptx, "sm_80");
  cg_nvrtc_output_free(&out);
  tcu_free(&tm);
}

/* Matmuls on the tensor-core kernel (cg_cuda_ops_matmul_tc.c): split f32
 * x bf16 and x f16 with cp.async (K 64), b without transpose_b (plain
 * loads for b), K 70 (plain loads), bf16 x bf16, a symbolic M with an
 * epilogue, a batch. No values: only compiled. */
static const char *const tc_module =
    "module @tc {\n  sym T <= 512\n"
    "  param @wb : bf16[256, 64]\n  param @wh : f16[256, 64]\n  param @wn : bf16[64, 96]\n  param @wz : f16[96, 70]\n"
    "  param @bias : f32[256]\n  param @q : bf16[4, 128, 64]\n  param @e : f32[100, 64]\n  param @f : f32[100, 70]\n"
    "  func @prefill(%tok: i32[T]) -> f32[T, 256] {\n"
    "    %x = embedding(@e, %tok) : f32[T, 64]\n    %z = embedding(@f, %tok) : f32[T, 70]\n"
    "    %y = cast(%x) : bf16[T, 64]\n"
    "    %a = matmul(%x, @wb, @bias) {transpose_b, epilogue = \"add(silu(acc), $2)\"} : f32[T, 256]\n"
    "    %b = matmul(%x, @wh) {transpose_b} : f32[T, 256]\n"
    "    %c = matmul(%x, @wn) : f32[T, 96]\n    %g = matmul(%z, @wz) {transpose_b} : f32[T, 96]\n"
    "    %d = matmul(%y, @wb) {transpose_b} : bf16[T, 256]\n"
    "    %e = matmul(@q, @q) {transpose_b} : f32[4, 128, 128]\n"
    "    %s = add(%a, %b) : f32[T, 256]\n    %t = cast(%d) : f32[T, 256]\n    %u = add(%s, %t) : f32[T, 256]\n"
    "    return %u\n  }\n}\n";

/* The tensor-core module for sm_80 and sm_90: the matmuls must not spill
 * (assemble fails on that), and their kinds are the ones intended. */
/* Compiles the IR text `src` (a module of kernels with no values to
 * check) for sm_80, checks that each of `in_source` is in the CUDA C (the
 * kernels' comments say which path they took) and each of `in_ptx` in the
 * PTX, and assembles it for sm_80 and sm_90, where a spill fails. */
static void compile_module(CgNvrtc *nv, const char *name, const char *src, const char *const *in_source,
                           const char *const *in_ptx) {
  TcuModel tm = {0};
  IrDiag d = {0};
  snprintf(tm.name, sizeof tm.name, "%s", name);
  tm.m = ir_parse(src, strlen(src), name, &d);
  bool ok = tm.m && ir_verify(tm.m, &d) && (tm.plan = kplan_build(tm.m, &d)) &&
            cg_cuda_emit(tm.plan, NULL, &tm.src, &tm.cuda, &d);
  CgNvrtcOutput out = {0};
  ok = ok && cg_nvrtc_compile(nv, tm.src.data, name, "sm_80", false, &out, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  for (int i = 0; ok && in_source[i]; i++) CHECK_STR_CONTAINS(tm.src.data, in_source[i]);
  for (int i = 0; ok && in_ptx[i]; i++) CHECK_STR_CONTAINS(out.ptx, in_ptx[i]);
  if (ok && ptxas) {
    assemble(&tm, out.ptx, "sm_80");
    assemble(&tm, out.ptx, "sm_90");
  }
  cg_nvrtc_output_free(&out);
  tcu_free(&tm);
}

static void test_tensor_cores(CgNvrtc *nv) {
  static const char *const in_source[] = {
      "/* tensor cores: f32 x bf16, split a; cp.async a and b */",
      "/* tensor cores: f32 x f16, split a; cp.async a and b */",
      "/* tensor cores: f32 x bf16, split a; cp.async a */",
      "/* tensor cores: bf16 x bf16, plain a; cp.async a and b */",
      "/* tensor cores: f32 x f16, split a; plain loads */", NULL};
  static const char *const in_ptx[] = {"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
                                       "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
                                       "cp.async.cg.shared.global", NULL};
  compile_module(nv, "tensor-cores", tc_module, in_source, in_ptx);
}

/* The decode matvecs (cg_cuda_ops_matvec.c) of a Llama 3.2 1B layer and
 * its head, bf16 weights: K 2048 -> N 8192 (gate, with a silu epilogue)
 * and 128256 (the head), K 8192 -> N 2048 (down); f16 weights with bf16
 * activations; the scalar loads (K 2050, N 2048); weights [K, N] (GPT-2's
 * layout): bf16 2048 -> 8192, f32 2048 -> 3072 -> 2048. No values: only
 * compiled; none may spill. */
static const char *const mv_module =
    "module @mv {\n  param @e : f32[100, 2048]\n  param @ez : f32[100, 2050]\n  param @wg : bf16[8192, 2048]\n"
    "  param @wd : bf16[2048, 8192]\n  param @wl : bf16[128256, 2048]\n  param @wh : f16[2048, 2048]\n"
    "  param @wz : bf16[2048, 2050]\n  param @vg : bf16[2048, 8192]\n  param @vf : f32[2048, 3072]\n"
    "  param @vd : f32[3072, 2048]\n"
    "  func @decode(%tok: i32[1]) -> f32[1, 128256] {\n"
    "    %x = embedding(@e, %tok) : f32[1, 2048]\n    %z = embedding(@ez, %tok) : f32[1, 2050]\n"
    "    %g = matmul(%x, @wg) {transpose_b, epilogue = \"silu(acc)\"} : f32[1, 8192]\n"
    "    %k = matmul(%x, @vg) : f32[1, 8192]\n    %l = add(%g, %k) : f32[1, 8192]\n"
    "    %d = matmul(%l, @wd) {transpose_b} : f32[1, 2048]\n"
    "    %c = cast(%d) : bf16[1, 2048]\n    %h = matmul(%c, @wh) {transpose_b} : f32[1, 2048]\n"
    "    %s = matmul(%z, @wz) {transpose_b} : f32[1, 2048]\n    %a = add(%h, %s) : f32[1, 2048]\n"
    "    %f = matmul(%a, @vf) : f32[1, 3072]\n    %j = matmul(%f, @vd) : f32[1, 2048]\n"
    "    %i = add(%a, %j) : f32[1, 2048]\n"
    "    %y = matmul(%i, @wl) {transpose_b} : f32[1, 128256]\n"
    "    return %y\n  }\n}\n";

static void test_matvec(CgNvrtc *nv) {
  static const char *const in_source[] = {
      "/* matvec: f32 x bf16; 16-byte loads, 8 a lane in flight */",
      "/* matvec: bf16 x f16; 16-byte loads, 8 a lane in flight */",
      "/* matvec: f32 x bf16; scalar loads */",
      "/* matvec [K, N]: f32 x bf16; 16-byte loads, 8 a lane in flight */",
      "/* matvec [K, N]: f32 x f32; 16-byte loads, 8 a lane in flight */", NULL};
  static const char *const in_ptx[] = {"ld.global.nc.L1::no_allocate.v4.u32", "shfl.sync.bfly", NULL};
  compile_module(nv, "matvec-1b", mv_module, in_source, in_ptx);
}

/* Attention on tensor cores (cg_cuda_ops_attn_tc.c) at the benchmark's
 * sizes: T symbolic up to 8192, head dims 128 (causal, GQA 4:1) and 64
 * (bidirectional, with a window), q, k, v from embeddings so they live in
 * the arena (cp.async). No values: only compiled; neither may spill. */
static const char *const attn_module =
    "module @attn {\n  sym T <= 8192\n  param @e128 : f32[100, 1024]\n  param @k128 : f32[100, 256]\n"
    "  param @e64 : f32[100, 512]\n"
    "  func @prefill(%tok: i32[T]) -> f32[8, T, 128] {\n"
    "    %a = embedding(@e128, %tok) : f32[T, 1024]\n    %b = reshape(%a) : f32[T, 8, 128]\n"
    "    %q = transpose(%b) {perm = [1, 0, 2]} : f32[8, T, 128]\n"
    "    %c = embedding(@k128, %tok) : f32[T, 256]\n    %d = reshape(%c) : f32[T, 2, 128]\n"
    "    %k = transpose(%d) {perm = [1, 0, 2]} : f32[2, T, 128]\n"
    "    %y = attention(%q, %k, %k) {scale = 0.088388, causal} : f32[8, T, 128]\n"
    "    %f = embedding(@e64, %tok) : f32[T, 512]\n    %g = reshape(%f) : f32[T, 8, 64]\n"
    "    %h = transpose(%g) {perm = [1, 0, 2]} : f32[8, T, 64]\n"
    "    %z = attention(%h, %h, %h) {scale = 0.125, causal, offset = 3, window = 4096} : f32[8, T, 64]\n"
    "    %u = attention(%h, %h, %h) {scale = 0.125} : f32[8, T, 64]\n"
    "    %r = reshape(%z) : f32[8, T, 2, 32]\n    %s = reshape(%u) : f32[8, T, 2, 32]\n"
    "    %t = concat(%r, %s) {axis = 3} : f32[8, T, 2, 64]\n    %v = reshape(%t) : f32[8, T, 128]\n"
    "    %w = add(%y, %v) : f32[8, T, 128]\n    return %w\n  }\n}\n";

static void test_attention_tc(CgNvrtc *nv) {
  static const char *const in_source[] = {"BQ 64, BK 32, D 128, Dv 128; cp.async k and v */",
                                          "BQ 64, BK 64, D 64, Dv 64; cp.async k and v */", NULL};
  static const char *const in_ptx[] = {"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
                                       "shfl.sync.bfly", "cp.async.cg.shared.global", NULL};
  compile_module(nv, "attention-tc", attn_module, in_source, in_ptx);
}

/* cg_cuda_write_files for --emit=cubin: STEM.cubin (ELF), STEM.ptx, STEM.json. */
static void test_write_cubin(void) {
  IrDiag d = {0};
  IrModule *m = ir_parse(tcu_fused_module, strlen(tcu_fused_module), "fz.kir", &d);
  KernelPlan *p = m && ir_verify(m, &d) ? kplan_build(m, &d) : NULL;
  char stem[128], path[160];
  snprintf(stem, sizeof stem, "%s/fz", tmp_dir);
  bool ok = p && cg_cuda_write_files(p, CG_CUDA_EMIT_CUBIN, "sm_90", NULL, stem, &d);
  if (!ok) fprintf(stderr, "fz: %s\n", d.msg);
  CHECK(ok);
  const char *ext[3] = {".cubin", ".ptx", ".json"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s%s", stem, ext[i]);
    FILE *f = fopen(path, "rb");
    char head[8] = {0};
    CHECK(f && fread(head, 1, 4, f) == 4);
    if (f) fclose(f);
    if (i == 0) CHECK(memcmp(head, "\177ELF", 4) == 0);
    unlink(path);
  }
  kplan_free(p);
  ir_module_free(m);
}

static void test_bad_input(CgNvrtc *nv) {
  IrDiag d = {0};
  CgNvrtcOutput out;
  CHECK(!cg_nvrtc_compile(nv, "__global__ void f() { undeclared = 1; }", "bad.cu", "sm_90", false, &out, &d));
  CHECK_STR_CONTAINS(d.msg, "bad.cu: error: NVRTC failed for compute_90");
  CHECK_STR_CONTAINS(d.msg, "undeclared");
  memset(&d, 0, sizeof d);
  CHECK(!cg_nvrtc_compile(nv, "", "x.cu", "gfx90a", false, &out, &d));
  CHECK_STR_CONTAINS(d.msg, "'gfx90a' is not a GPU architecture; expected sm_80, sm_90, ...");
  CHECK(cg_nvrtc_arch_valid("sm_90") && cg_nvrtc_arch_valid("sm_90a") && cg_nvrtc_arch_valid("sm_120"));
  CHECK(!cg_nvrtc_arch_valid("sm_9") && !cg_nvrtc_arch_valid("compute_90") && !cg_nvrtc_arch_valid("sm_90x"));
}

/* `test_cuda_nvrtc quick` runs only the small checks (not the models). */
int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  IrDiag d = {0};
  CgNvrtc *nv = cg_nvrtc_open(NULL, &d);
  if (!nv) {
    printf("test_cuda_nvrtc: skipped: %s\n", d.msg);
    return SKIP;
  }
  int major, minor;
  cg_nvrtc_version(nv, &major, &minor);
  ptxas = find_ptxas();
  printf("NVRTC %d.%d; ptxas %s\n", major, minor, ptxas ? ptxas : "not found: PTX is not assembled");
  strcpy(tmp_dir, "/tmp/kiln-nvrtc-XXXXXX");
  CHECK(mkdtemp(tmp_dir) != NULL);
  report = fopen("cuda_kernels.txt", "w");
  if (!report) report = stderr;
  test_bad_input(nv);
  test_small(nv, "fused-ops", tcu_fused_module);
  IrBuf split = {0};
  tcu_split_module(&split);
  test_small(nv, "split-kv", split.data);
  ir_buf_free(&split);
  test_write_cubin();
  test_tensor_cores(nv);
  test_matvec(nv);
  test_attention_tc(nv);
  char *names[64];
  int n = quick ? 0 : tcu_model_names(names, 64);
  CHECK(quick || n >= 7);
  for (int i = 0; i < n; i++) {
    for (int level = 0; level < TCU_LEVELS; level++)
      if (tcu_level_differs(level)) test_model(nv, names[i], level, i == 0 && level == 0);
    free(names[i]);
  }
  if (report != stderr) fclose(report);
  rmdir(tmp_dir);
  cg_nvrtc_close(nv);
  return check_report();
}
