/* cg_llvm_cuda_desc.c: the KilnCudaDesc global (kiln_abi.h) of a model
 * compiled with --device=cuda: the CUBIN, the PTX and each entry's launch
 * table, all private constants that KilnModelDesc.cuda points at.
 *
 * The LLVM struct types below mirror kiln_abi.h field by field; LLVM lays
 * a non-packed struct out with the target's C alignments, so the layouts
 * agree on every LP64 target kiln emits for (x86-64, AArch64). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/kiln_abi.h"
#include "cg_llvm.h"

_Static_assert(KILN_CUDA_MAX_SYMS == IR_MAX_SYMS, "KilnCudaDim holds IrDim's coefficients");
_Static_assert(CG_CUDA_MAX_FACTORS <= KILN_CUDA_MAX_FACTORS, "KilnCudaExtent holds CgCudaExtent");
_Static_assert(sizeof(((CgCudaKernel *)0)->offs) == sizeof(((KilnCudaLaunch *)0)->offsets),
               "KilnCudaLaunch.offsets holds CgCudaKernel.offs");
_Static_assert(sizeof(KilnCudaLaunch) == 8 + 4 + 4 + 3 * sizeof(KilnCudaExtent) + 8 + 8 * KILN_CUDA_MAX_OFFSETS,
               "KilnCudaLaunch is laid out as cuda_types() says");

typedef struct {
  LLVMTypeRef dim, extent, launch, entry, desc;
} CudaTypes;

static LLVMTypeRef named_struct(CgLlvm *cg, const char *name, LLVMTypeRef *f, unsigned n) {
  LLVMTypeRef t = LLVMStructCreateNamed(cg->ctx, name);
  LLVMStructSetBody(t, f, n, 0);
  return t;
}

static CudaTypes cuda_types(CgLlvm *cg) {
  CudaTypes t;
  LLVMTypeRef dim[] = {cg->i64, LLVMArrayType2(cg->i64, KILN_CUDA_MAX_SYMS)};
  t.dim = named_struct(cg, "KilnCudaDim", dim, 2);
  LLVMTypeRef extent[] = {cg->i32, LLVMArrayType2(t.dim, KILN_CUDA_MAX_FACTORS), cg->i64};
  t.extent = named_struct(cg, "KilnCudaExtent", extent, 3);
  LLVMTypeRef launch[] = {cg->ptr, cg->i32, cg->i32, LLVMArrayType2(t.extent, 3), cg->i32,
                          LLVMArrayType2(cg->i64, KILN_CUDA_MAX_OFFSETS)};
  t.launch = named_struct(cg, "KilnCudaLaunch", launch, 6);
  LLVMTypeRef entry[] = {cg->ptr, cg->i32};
  t.entry = named_struct(cg, "KilnCudaEntry", entry, 2);
  LLVMTypeRef desc[] = {cg->ptr, cg->ptr, cg->i64, cg->ptr, cg->i64, t.entry, t.entry,
                        cg->i32, cg->i32, cg->i32};
  t.desc = named_struct(cg, "KilnCudaDesc", desc, 10);
  return t;
}

static LLVMValueRef dim_value(CgLlvm *cg, const CudaTypes *t, IrDim d) {
  LLVMValueRef k[KILN_CUDA_MAX_SYMS];
  for (int s = 0; s < KILN_CUDA_MAX_SYMS; s++) k[s] = cg_i64(cg, d.k[s]);
  LLVMValueRef f[] = {cg_i64(cg, d.c), LLVMConstArray2(cg->i64, k, KILN_CUDA_MAX_SYMS)};
  return LLVMConstNamedStruct(t->dim, f, 2);
}

/* Factors past e->n are zero dims: the runtime reads only n of them. */
static LLVMValueRef extent_value(CgLlvm *cg, const CudaTypes *t, const CgCudaExtent *e) {
  LLVMValueRef f[KILN_CUDA_MAX_FACTORS];
  for (int i = 0; i < KILN_CUDA_MAX_FACTORS; i++)
    f[i] = i < e->n ? dim_value(cg, t, e->f[i]) : LLVMConstNull(t->dim);
  LLVMValueRef v[] = {LLVMConstInt(cg->i32, (unsigned)e->n, 0),
                      LLVMConstArray2(t->dim, f, KILN_CUDA_MAX_FACTORS),
                      cg_i64(cg, e->div > 0 ? e->div : 1)};
  return LLVMConstNamedStruct(t->extent, v, 3);
}

/* One launch; names[f] is function f's name string, made on its first
 * launch and shared by the launches after it. */
static LLVMValueRef launch_value(CgLlvm *cg, const CudaTypes *t, const CgCudaKernel *k, LLVMValueRef *names) {
  if (!names[k->func]) {
    char gname[64];
    snprintf(gname, sizeof gname, "kiln.cuda.%s", k->name);
    names[k->func] = cg_const_string(cg, k->name, strlen(k->name), gname);
  }
  LLVMValueRef grid[3], offs[KILN_CUDA_MAX_OFFSETS];
  for (int a = 0; a < 3; a++) grid[a] = extent_value(cg, t, &k->grid[a]);
  for (int i = 0; i < KILN_CUDA_MAX_OFFSETS; i++) offs[i] = LLVMConstInt(cg->i64, i < k->noffs ? k->offs[i] : 0, 0);
  int64_t smem = k->smem_bytes < INT32_MAX ? k->smem_bytes : INT32_MAX;
  LLVMValueRef v[] = {names[k->func],
                      LLVMConstInt(cg->i32, (unsigned)k->block, 0),
                      LLVMConstInt(cg->i32, (unsigned long long)smem, 0),
                      LLVMConstArray2(t->extent, grid, 3),
                      LLVMConstInt(cg->i32, (unsigned)k->noffs, 0),
                      LLVMConstArray2(cg->i64, offs, KILN_CUDA_MAX_OFFSETS)};
  return LLVMConstNamedStruct(t->launch, v, 6);
}

/* The launches of the plan entry named `entry` ("prefill", "decode"), in
 * order: {table, n}, or {null, 0} when the plan has no such entry. */
static LLVMValueRef entry_value(CgLlvm *cg, const CudaTypes *t, const CgCudaModule *m,
                                const char *entry, LLVMValueRef *names) {
  int e = -1;
  for (int i = 0; i < cg->plan->nentries && e < 0; i++)
    if (strcmp(cg->plan->entries[i].func->name, entry) == 0) e = i;
  int n = 0;
  for (int i = 0; i < m->nkernels; i++) n += m->kernels[i].entry == e;
  LLVMValueRef table = LLVMConstNull(cg->ptr);
  if (n > 0) {
    LLVMValueRef *v = calloc((size_t)n, sizeof *v);
    if (!v) abort(); /* out of memory */
    for (int i = 0, j = 0; i < m->nkernels; i++)
      if (m->kernels[i].entry == e) v[j++] = launch_value(cg, t, &m->kernels[i], names);
    LLVMValueRef init = LLVMConstArray2(t->launch, v, (uint64_t)n);
    free(v);
    char gname[64];
    snprintf(gname, sizeof gname, "kiln.cuda.%s", entry);
    table = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), gname);
    LLVMSetInitializer(table, init);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
  }
  LLVMValueRef v[] = {table, LLVMConstInt(cg->i32, (unsigned)n, 0)};
  return LLVMConstNamedStruct(t->entry, v, 2);
}

static LLVMValueRef sym_index(CgLlvm *cg, const char *name) {
  int s = ir_module_find_sym(cg->m, name, strlen(name));
  return LLVMConstInt(cg->i32, (unsigned long long)(int64_t)s, 1);
}

LLVMValueRef cg_llvm_cuda_desc(CgLlvm *cg, const CgCudaImage *img) {
  if (!img) return LLVMConstNull(cg->ptr);
  CudaTypes t = cuda_types(cg);
  LLVMValueRef *names = calloc((size_t)img->kernels->nfuncs + 1, sizeof *names);
  if (!names) abort(); /* out of memory */
  LLVMValueRef v[] = {
      cg_const_string(cg, img->gpu_arch, strlen(img->gpu_arch), "kiln.cuda.gpu_arch"),
      cg_const_bytes(cg, img->cubin, img->cubin_bytes, 16, "kiln.cuda.cubin"),
      LLVMConstInt(cg->i64, img->cubin_bytes, 0),
      cg_const_string(cg, img->ptx, img->ptx_bytes, "kiln.cuda.ptx"),
      LLVMConstInt(cg->i64, img->ptx_bytes, 0),
      entry_value(cg, &t, img->kernels, "prefill", names),
      entry_value(cg, &t, img->kernels, "decode", names),
      LLVMConstInt(cg->i32, (unsigned)cg->m->nsyms, 0),
      sym_index(cg, "T"),
      sym_index(cg, "P"),
  };
  free(names);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, t.desc, "kiln.cuda");
  LLVMSetInitializer(g, LLVMConstNamedStruct(t.desc, v, sizeof v / sizeof v[0]));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}
