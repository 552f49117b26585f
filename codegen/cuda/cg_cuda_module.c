/* cg_cuda_module.c: walks the KernelPlan, writes each kernel's
 * __global__ function once after the prelude (kernels with the same text
 * share it), and keeps each launch's record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cuda_internal.h"

_Static_assert(IR_MAX_SYMS == 8, "the prelude's KilnSyms holds 8 symbol values");
_Static_assert(KILN_CUDA_MAX_OFFSETS == 16, "the prelude's KilnOffs holds 16 offsets");

void cg_cuda_sanitize(const char *s, char *out, size_t n) {
  size_t j = 0;
  for (; s && *s && j + 1 < n; s++) {
    char c = *s;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '%' || c == '-' || c == '+' || c == '*';
    out[j++] = ok ? c : '_';
  }
  if (n) out[j] = 0;
}

static bool emit_body(CgCuda *cg, const IrOp *op) {
  CgcEmitFn fn = cgc_elementwise_emitter(op->kind);
  if (!fn) fn = cgc_rows_emitter(op->kind);
  if (fn) return fn(cg, op);
  if (op->kind == IR_OP_MATMUL) return cgc_emit_matmul(cg, op);
  if (op->kind == IR_OP_ATTENTION || op->kind == IR_OP_ATTENTION_SPLIT) return cgc_emit_attention(cg, op);
  if (op->kind == IR_OP_ATTENTION_MERGE) return cgc_emit_attention_merge(cg, op);
  return ir_error(cg->d, op->loc, "the CUDA backend has no kernel for op '%s' yet",
                  ir_op_spec(op->kind)->name);
}

/* A distinct __global__ function: its text without the name, which goes
 * at name_at ("... __launch_bounds__(256, 2) " | "(\n    const ..."). */
typedef struct {
  uint64_t hash;
  char *text;
  size_t name_at;
} CgcFunc;

typedef struct {
  CgcFunc *f;
  int n, cap;
} CgcFuncs;

static uint64_t text_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* The index of the function with this text, appending it when new (the
 * text is then owned by fs; else freed). */
static int intern_func(CgcFuncs *fs, char *text, size_t name_at) {
  uint64_t h = text_hash(text);
  for (int i = 0; i < fs->n; i++)
    if (fs->f[i].hash == h && fs->f[i].name_at == name_at && strcmp(fs->f[i].text, text) == 0) {
      free(text);
      return i;
    }
  if (fs->n == fs->cap) {
    fs->cap = fs->cap ? 2 * fs->cap : 64;
    fs->f = realloc(fs->f, (size_t)fs->cap * sizeof *fs->f);
    if (!fs->f) abort();
  }
  fs->f[fs->n] = (CgcFunc){h, text, name_at};
  return fs->n++;
}

static void funcs_free(CgcFuncs *fs) {
  for (int i = 0; i < fs->n; i++) free(fs->f[i].text);
  free(fs->f);
}

/* Writes kernel `kk` of entry `ep` (record *rec) and names rec after the
 * function with its text, a new one or one already written. The text holds
 * no offsets (they are in rec->offs) and no names from the plan, so the
 * kernels of identical layers share a function. The launch bounds promise
 * at most `block` threads and ask for 2 blocks per SM: with the block size
 * alone ptxas capped registers at 64 and the matmul kernel spilled; 2
 * blocks of 256 threads allow 128. */
static bool emit_kernel(CgCuda *cg, CgcFuncs *fs, const KEntryPlan *ep, const KKernel *kk, CgCudaKernel *rec) {
  const IrOp *op = ep->func->ops[kk->first_op];
  if (kk->nops != 1)
    return ir_error(cg->d, op->loc, "the CUDA backend cannot lower a kernel of %d ops yet", kk->nops);
  rec->plan_name = kk->name;
  rec->op = ir_op_spec(op->kind)->name;
  for (int a = 0; a < 3; a++) rec->grid[a] = (CgCudaExtent){.n = 0, .div = 1};
  IrBuf body = {0};
  cg->b = &body;
  cg->k = rec;
  bool ok = emit_body(cg, op);
  if (ok) {
    IrBuf text = {0};
    ir_buf_printf(&text, "KILN_EXTERN_C __global__ void __launch_bounds__(%d, 2) ", rec->block);
    size_t name_at = text.len;
    ir_buf_printf(&text, "(\n    const unsigned char *KILN_RESTRICT kw, unsigned char *ka, unsigned char *ks,\n"
                         "    const int *ktok, float *kout, KilnSyms ksym, KilnOffs koff) {\n"
                         "  (void)kw; (void)ka; (void)ks; (void)ktok; (void)kout; (void)ksym; (void)koff;\n%s}\n",
                  body.data ? body.data : "");
    rec->func = intern_func(fs, text.data, name_at);
    snprintf(rec->name, sizeof rec->name, "kiln_k%d", rec->func);
  }
  ir_buf_free(&body);
  return ok;
}

/* Function f after a comment naming the plan kernels it runs (the first
 * four, and how many in all). */
static void write_func(IrBuf *src, const CgCudaModule *m, const CgcFunc *fn, int f) {
  int uses = 0;
  ir_buf_printf(src, "\n/* ");
  for (int k = 0; k < m->nkernels; k++) {
    if (m->kernels[k].func != f) continue;
    char clean[256];
    cg_cuda_sanitize(m->kernels[k].plan_name, clean, sizeof clean);
    if (uses < 4) ir_buf_printf(src, "%s%s", uses ? ", " : "", clean);
    uses++;
  }
  if (uses > 4) ir_buf_printf(src, ", ... (%d launches)", uses);
  ir_buf_printf(src, " */\n%.*skiln_k%d%s", (int)fn->name_at, fn->text, f, fn->text + fn->name_at);
}

bool cg_cuda_emit(const KernelPlan *plan, const CgCudaOptions *opts, IrBuf *src, CgCudaModule *out,
                  IrDiag *d) {
  CgCuda cg = {.plan = plan, .m = plan->module, .d = d};
  out->nkernels = out->nfuncs = 0;
  out->kernels = NULL;
  cg.opt = opts ? *opts : (CgCudaOptions){0};
  if (cg.opt.block <= 0) cg.opt.block = 256;
  if (cg.opt.block < 32 || cg.opt.block > 1024 || (cg.opt.block & (cg.opt.block - 1)))
    return ir_error_at(d, "cuda", "a block of %d threads; expected a power of two from 32 to 1024",
                       cg.opt.block);
  int total = 0;
  for (int e = 0; e < plan->nentries; e++) total += plan->entries[e].nkernels;
  out->kernels = calloc((size_t)(total ? total : 1), sizeof *out->kernels);
  if (!out->kernels) abort();
  CgcFuncs fs = {0};
  bool ok = true;
  for (int e = 0; ok && e < plan->nentries; e++) {
    const KEntryPlan *ep = &plan->entries[e];
    for (int k = 0; ok && k < ep->nkernels; k++) {
      if (kplan_kernel_is_view(plan, ep, k)) continue; /* nothing to run */
      CgCudaKernel *rec = &out->kernels[out->nkernels];
      rec->entry = e;
      ok = emit_kernel(&cg, &fs, ep, &ep->kernels[k], rec);
      out->nkernels += ok;
    }
  }
  if (ok) {
    char mname[128];
    cg_cuda_sanitize(plan->module->name, mname, sizeof mname);
    ir_buf_printf(src, "/* CUDA kernels of module %s, generated by kiln %s: %d functions for %d launches. */\n%s",
                  mname, KILN_VERSION, fs.n, out->nkernels, cgc_prelude);
    for (int f = 0; f < fs.n; f++) write_func(src, out, &fs.f[f], f);
    out->nfuncs = fs.n;
  }
  funcs_free(&fs);
  return ok;
}

void cg_cuda_module_free(CgCudaModule *m) {
  free(m->kernels);
  m->kernels = NULL;
  m->nkernels = m->nfuncs = 0;
}

int64_t cg_cuda_extent_eval(const CgCudaExtent *e, const int64_t *sym) {
  int64_t n = 1;
  for (int i = 0; i < e->n; i++) n *= ir_dim_eval(e->f[i], sym);
  int64_t div = e->div > 0 ? e->div : 1;
  return (n + div - 1) / div;
}

void cg_cuda_grid(const CgCudaKernel *k, const int64_t *sym, int64_t grid[3]) {
  for (int a = 0; a < 3; a++) grid[a] = cg_cuda_extent_eval(&k->grid[a], sym);
}
