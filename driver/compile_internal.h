/* compile_internal.h: the state `kiln compile` carries from step to step
 * (compile_pipeline.c: the model and its module; compile_emit.c: the
 * weights, the code and the files). */
#ifndef KILN_COMPILE_INTERNAL_H
#define KILN_COMPILE_INTERNAL_H

#include "artifact_link.h"
#include "cg_cuda.h"
#include "cg_nvrtc.h"
#include "compile_outputs.h"
#include "compile_pipeline.h"
#include "compile_progress.h"
#include "fe.h"
#include "kernel.h"
#include "target.h"

typedef struct {
  const CompileOptions *o;
  /* the model */
  bool from_kir;          /* o->model is a .kir module */
  FeModelDir md;          /* model directories: config, checkpoint, tokenizer */
  IrModule *m;            /* owned */
  char *model_name;       /* "llama": the directory's or file's base name */
  int64_t vocab, max_context, max_tokens, bos_id, eos_id;
  bool all_logits;
  uint8_t *tokenizer;     /* packed, or NULL */
  size_t tokenizer_bytes;
  /* what comes out */
  KTarget ktarget;        /* tiles for the passes and the backend */
  KernelPlan *plan;
  CoOutputs out;
  char *stem;             /* -o NAME without .o/.a/.so: STEM.h, STEM.kw */
  const char *main_tmp;   /* temporary of NAME */
  const char *kw_tmp;     /* temporary of the weights file, or NULL */
  const char *header_tmp; /* temporary of STEM.h, or NULL */
  const char *cuda_tmp[3], *cuda_ext[3]; /* --device=cuda outputs: temporaries, extensions */
  /* --device=cuda with a CPU artifact: the kernels the object carries */
  CgNvrtc *nvrtc;         /* opened before any work */
  CgCudaModule cuda_kernels; /* launch records */
  CgNvrtcOutput cuda_image;  /* PTX and CUBIN */
  AlRuntime rt;           /* exe, lib, shared */
  bool have_rt;
  /* the weights: data area in memory, or mapped inside the .kw temporary */
  uint8_t *weights;
  uint8_t *kw_map;        /* header + data, mmapped; NULL when in memory */
  uint64_t weights_bytes, checksum, model_hash;
  char *ir_text;          /* the optimized module, printed */
  size_t ir_len;
  bool big;               /* show progress lines without -v */
} Compile;

/* ---- compile_emit.c ---- */
bool ce_pack_weights(Compile *c, IrDiag *d);
void ce_hash(Compile *c);
bool ce_write_kir(Compile *c, IrDiag *d);
/* ---- compile_cuda.c ---- */
bool ce_write_cuda(Compile *c, IrDiag *d);
/* Whether the artifact carries CUDA kernels beside its CPU code. */
bool ce_cuda_embedded(const Compile *c);
/* --gpu-arch, or "sm_90". */
const char *ce_gpu_arch(const Compile *c);
/* Loads NVRTC for ce_build_cuda (nothing when not ce_cuda_embedded). */
bool ce_open_nvrtc(Compile *c, IrDiag *d);
/* The plan's CUDA kernels, compiled to PTX and CUBIN in memory. */
bool ce_build_cuda(Compile *c, IrDiag *d);
void ce_free_cuda(Compile *c);
bool ce_generate(Compile *c, IrDiag *d);
bool ce_write_header(Compile *c, IrDiag *d);
bool ce_finish_weights(Compile *c, IrDiag *d);
void ce_free(Compile *c);

#endif
