/* compile_pipeline.h: the steps of `kiln compile`, in order.
 *
 *   open the model (a model directory or JSON with its checkpoint, or a
 *   .kir module with inline parameters) -> build and verify the module ->
 *   bound T and P -> graph passes -> kernel plan -> weight blob -> model
 *   hash -> LLVM (cg_llvm_compile) -> link -> header -> rename every output
 *   into place.
 *
 * Outputs of `-o NAME` by --emit (STEM is NAME without .o/.a/.so):
 *
 *   exe     NAME, NAME.kw (none with --embed-weights)
 *   obj     NAME (the object), STEM.h, STEM.kw, kiln.h, kiln_abi.h
 *   lib     NAME (static archive: the object and the runtime), the same
 *   shared  NAME (shared library with the runtime), the same
 *   ll/asm  NAME (LLVM IR / assembly text, for reading)
 *   kir     NAME (the optimized module as IR text, for `kiln run-ir`)
 *   cu, ptx, cubin (--device=cuda): STEM.cu / STEM.ptx / STEM.cubin + STEM.ptx,
 *           and STEM.json, the launch manifest (STEM: NAME without the extension)
 *
 * --device=cuda with exe, obj, lib, shared, ll or asm: the same files; the
 * plan's CUDA kernels, compiled by NVRTC (CUBIN + PTX) after the plan, go
 * into the code beside the CPU's (KilnModelDesc.cuda).
 *
 * The model hash stamped into the code, the weights file and the header
 * is kiln_hash64 over the printed optimized IR, continued over the weights
 * checksum: the same IR and weights give the same hash.
 */
#ifndef KILN_COMPILE_PIPELINE_H
#define KILN_COMPILE_PIPELINE_H

#include <stdint.h>

#include "ir.h"
#include "pass_flags.h"

typedef enum {
  COMPILE_EXE,
  COMPILE_OBJ,
  COMPILE_LIB,
  COMPILE_SHARED,
  COMPILE_LL,
  COMPILE_ASM,
  COMPILE_KIR,
  COMPILE_CU,    /* --device=cuda: STEM.cu + STEM.json (the manifest) */
  COMPILE_PTX,   /* STEM.ptx + STEM.json */
  COMPILE_CUBIN, /* STEM.cubin + STEM.ptx + STEM.json */
} CompileEmit;

/* The kernels alone for another runtime (codegen/cuda). */
static inline bool compile_emit_is_cuda(CompileEmit e) {
  return e == COMPILE_CU || e == COMPILE_PTX || e == COMPILE_CUBIN;
}

/* "exe" -> COMPILE_EXE; false for an unknown name. */
bool compile_emit_from_name(const char *s, CompileEmit *out);

typedef struct {
  const char *model;       /* model directory, JSON file, or FILE.kir */
  const char *output;      /* -o NAME */
  CompileEmit emit;
  bool embed_weights;      /* the data area inside the artifact, no NAME.kw */
  bool all_logits;         /* prefill returns T*vocab logits */
  int64_t max_context;     /* 0: the model's */
  int64_t max_tokens;      /* 0: min(max_context, 512) */
  int graph_opt;           /* -O level: 0 no passes, 1 cleanup, 2 all; memory planning from 1 */
  PassFlags passes;        /* the pass flags (pass_flags.h): pipeline, dumps, reproducer */
  /* In-process callers (kiln bisect): a module to compile instead of
   * loading `model` (taken: compile_model frees it; `model` only names it),
   * and the checkpoint its parameters without inline values come from
   * (borrowed; NULL when every parameter is inline). */
  IrModule *module;
  const struct FeWeights *weights;
  int llvm_opt;            /* --llvm-opt, 0..3 */
  const char *triple, *cpu, *features; /* NULL: the host's */
  bool device_cuda;        /* --device=cuda: the CUDA kernels too (or alone: cu, ptx, cubin) */
  const char *gpu_arch;    /* --gpu-arch=sm_NN, sm_80 or newer (NULL: sm_90) */
  const char *nvrtc;       /* the NVRTC library ($KILN_NVRTC), or NULL: the usual sonames */
  const char *symbol;      /* the KilnModelDesc's name */
  const char *cc;          /* --cc, or NULL */
  const char *runtime_dir; /* --runtime-dir, or NULL */
  bool print_ir, print_kernels, verbose;
  bool memory_report;       /* --memory-report: arena, naive sum, lower bound on stderr */
} CompileOptions;

/* The default of max_tokens: tokens per prefill call. */
#define COMPILE_DEFAULT_MAX_TOKENS 512

/* Runs every step; on failure no output is left and d says why. */
bool compile_model(const CompileOptions *o, IrDiag *d);

#endif
