/* cg_llvm_module.c: kernels, entry points and the model descriptor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/kiln_abi.h"
#include "cg_llvm.h"
#include "kernel_plan.h"

static void init_types(CgLlvm *cg) {
  LLVMContextRef c = cg->ctx;
  cg->i1 = LLVMInt1TypeInContext(c);
  cg->i8 = LLVMInt8TypeInContext(c);
  cg->i16 = LLVMInt16TypeInContext(c);
  cg->i32 = LLVMInt32TypeInContext(c);
  cg->i64 = LLVMInt64TypeInContext(c);
  cg->f32 = LLVMFloatTypeInContext(c);
  cg->f64 = LLVMDoubleTypeInContext(c);
  cg->ptr = LLVMPointerTypeInContext(c, 0);
  cg->void_t = LLVMVoidTypeInContext(c);
  LLVMTypeRef fields[CG_ARG_SYMS + 1] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr,
                                         LLVMArrayType2(cg->i64, IR_MAX_SYMS)};
  cg->kargs_t = LLVMStructTypeInContext(c, fields, CG_ARG_SYMS + 1, 0);
  LLVMTypeRef kparams[3] = {cg->ptr, cg->i64, cg->i64};
  cg->kernel_fn_t = LLVMFunctionType(cg->void_t, kparams, 3, 0);
}

/* Loads the base pointers and symbol values of KArgs into cg. */
static void load_args(CgLlvm *cg) {
  for (int i = 0; i < CG_ARG_SYMS; i++) {
    LLVMValueRef p = LLVMBuildStructGEP2(cg->b, cg->kargs_t, cg->args, (unsigned)i, "");
    cg->base[i] = LLVMBuildLoad2(cg->b, cg->ptr, p, "");
  }
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    LLVMValueRef idx[3] = {cg_i64(cg, 0), LLVMConstInt(cg->i32, CG_ARG_SYMS, 0), cg_i64(cg, s)};
    LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->kargs_t, cg->args, idx, 3, "");
    cg->sym[s] = LLVMBuildLoad2(cg->b, cg->i64, p, "");
  }
}

static LLVMValueRef emit_kernel(CgLlvm *cg, const KEntryPlan *ep, const KKernel *k) {
  const IrOp *op = ep->func->ops[k->first_op];
  const CgOpEmitter *em = cg_op_emitter(op->kind);
  if (!em) {
    ir_error(cg->d, op->loc, "the CPU backend cannot lower op '%s' yet", ir_op_spec(op->kind)->name);
    return NULL;
  }
  LLVMValueRef fn = LLVMAddFunction(cg->mod, k->name, cg->kernel_fn_t);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  cg->fn = fn;
  LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
  cg->args = LLVMGetParam(fn, 0);
  load_args(cg);
  if (!em->emit(cg, op, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2))) return NULL;
  LLVMBuildRetVoid(cg->b);
  return fn;
}

/* The KilnExec struct of kiln_abi.h. */
static LLVMTypeRef exec_type(CgLlvm *cg) {
  LLVMTypeRef f[5] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr};
  return LLVMStructTypeInContext(cg->ctx, f, 5, 0);
}

static LLVMValueRef ret_if(CgLlvm *cg, LLVMValueRef cond, int status) {
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "fail");
  LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ok");
  LLVMBuildCondBr(cg->b, cond, fail, ok);
  LLVMPositionBuilderAtEnd(cg->b, fail);
  LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, (unsigned)status, 0));
  LLVMPositionBuilderAtEnd(cg->b, ok);
  return NULL;
}

/* int entry(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P, float *logits) */
static LLVMValueRef emit_entry(CgLlvm *cg, const KEntryPlan *ep, LLVMValueRef *kernels,
                               const CgModuleInfo *info) {
  LLVMTypeRef params[5] = {cg->ptr, cg->ptr, cg->i64, cg->i64, cg->ptr};
  LLVMTypeRef fty = LLVMFunctionType(cg->i32, params, 5, 0);
  char name[256];
  snprintf(name, sizeof name, "%s.%s", info->symbol, ep->func->name);
  LLVMValueRef fn = LLVMAddFunction(cg->mod, name, fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  cg->fn = fn;
  LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
  LLVMValueRef ex = LLVMGetParam(fn, 0), T = LLVMGetParam(fn, 2), P = LLVMGetParam(fn, 3);

  /* Bounds: 1 <= T <= max_tokens, 0 <= P, P + T <= max_context. */
  LLVMValueRef bad_t = LLVMBuildOr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, T, cg_i64(cg, 1), ""),
                                   LLVMBuildICmp(cg->b, LLVMIntSGT, T, cg_i64(cg, info->max_tokens), ""), "");
  ret_if(cg, LLVMBuildOr(cg->b, bad_t, LLVMBuildICmp(cg->b, LLVMIntSLT, P, cg_i64(cg, 0), ""), ""),
         KILN_ERR_ARGS);
  ret_if(cg, LLVMBuildICmp(cg->b, LLVMIntSGT, LLVMBuildAdd(cg->b, P, T, ""), cg_i64(cg, info->max_context), ""),
         KILN_ERR_CONTEXT);

  LLVMValueRef args = LLVMBuildAlloca(cg->b, cg->kargs_t, "kargs");
  LLVMTypeRef ext = exec_type(cg);
  for (int i = 0; i < 3; i++) { /* weights, arena, state from KilnExec */
    LLVMValueRef src = LLVMBuildLoad2(cg->b, cg->ptr, LLVMBuildStructGEP2(cg->b, ext, ex, (unsigned)i, ""), "");
    LLVMBuildStore(cg->b, src, LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, (unsigned)i, ""));
  }
  LLVMBuildStore(cg->b, LLVMGetParam(fn, 1), LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, CG_ARG_TOKENS, ""));
  LLVMBuildStore(cg->b, LLVMGetParam(fn, 4), LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, CG_ARG_LOGITS, ""));
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    LLVMValueRef v = cg_i64(cg, 0);
    if (s < cg->m->nsyms && strcmp(cg->m->syms[s].name, "T") == 0) v = T;
    if (s < cg->m->nsyms && strcmp(cg->m->syms[s].name, "P") == 0) v = P;
    LLVMValueRef idx[3] = {cg_i64(cg, 0), LLVMConstInt(cg->i32, CG_ARG_SYMS, 0), cg_i64(cg, s)};
    LLVMBuildStore(cg->b, v, LLVMBuildInBoundsGEP2(cg->b, cg->kargs_t, args, idx, 3, ""));
    cg->sym[s] = v; /* iteration counts below are computed from these */
  }

  LLVMTypeRef pf_params[5] = {cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i64};
  LLVMTypeRef pf_t = LLVMFunctionType(cg->void_t, pf_params, 5, 0);
  LLVMValueRef pf = LLVMBuildLoad2(cg->b, cg->ptr, LLVMBuildStructGEP2(cg->b, ext, ex, 3, ""), "parallel_for");
  for (int k = 0; k < ep->nkernels; k++) {
    const IrOp *op = ep->func->ops[ep->kernels[k].first_op];
    LLVMValueRef n = cg_op_emitter(op->kind)->iterations(cg, op);
    LLVMValueRef call_args[5] = {ex, kernels[k], args, n, cg_i64(cg, ep->kernels[k].chunk)};
    LLVMBuildCall2(cg->b, pf_t, pf, call_args, 5, "");
  }
  LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, 0, 0));
  return fn;
}

static LLVMValueRef const_string(CgLlvm *cg, const char *s, const char *name) {
  LLVMValueRef init = LLVMConstStringInContext(cg->ctx, s, (unsigned)strlen(s), 0);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

static LLVMValueRef const_bytes(CgLlvm *cg, const uint8_t *data, uint64_t n, const char *name) {
  if (!data || !n) return LLVMConstNull(cg->ptr);
  LLVMValueRef init = LLVMConstStringInContext2(cg->ctx, (const char *)data, (size_t)n, 1);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetAlignment(g, 64);
  return g;
}

/* The KilnModelDesc global; field order and types follow kiln_abi.h. */
static void emit_desc(CgLlvm *cg, const CgModuleInfo *info, LLVMValueRef prefill, LLVMValueRef decode) {
  const KernelPlan *p = cg->plan;
  LLVMTypeRef ft[] = {cg->i32, cg->ptr, cg->i64, cg->ptr, cg->i64, cg->i64, cg->i64, cg->i64, cg->i64,
                      cg->i64, cg->i64, cg->i64, cg->i64, cg->ptr, cg->ptr, cg->i64, cg->ptr, cg->ptr, cg->i32};
  unsigned nf = sizeof ft / sizeof ft[0];
  LLVMTypeRef desc_t = LLVMStructTypeInContext(cg->ctx, ft, nf, 0);
  LLVMValueRef v[] = {
      LLVMConstInt(cg->i32, KILN_ABI_VERSION, 0),
      const_string(cg, KILN_VERSION, "kiln.version"),
      LLVMConstInt(cg->i64, info->model_hash, 0),
      const_string(cg, info->model_name ? info->model_name : "model", "kiln.model_name"),
      cg_i64(cg, info->vocab), cg_i64(cg, info->max_context), cg_i64(cg, info->max_tokens),
      cg_i64(cg, info->bos_id), cg_i64(cg, info->eos_id),
      LLVMConstInt(cg->i64, p->arena_bytes, 0), LLVMConstInt(cg->i64, p->state_bytes, 0),
      LLVMConstInt(cg->i64, p->weights_bytes, 0), LLVMConstInt(cg->i64, info->weights_checksum, 0),
      info->embed_weights ? const_bytes(cg, info->weights, p->weights_bytes, "kiln.weights")
                          : LLVMConstNull(cg->ptr),
      const_bytes(cg, info->tokenizer, info->tokenizer_bytes, "kiln.tokenizer"),
      LLVMConstInt(cg->i64, info->tokenizer_bytes, 0),
      prefill ? prefill : LLVMConstNull(cg->ptr),
      decode ? decode : LLVMConstNull(cg->ptr),
      LLVMConstInt(cg->i32, info->all_logits, 0),
  };
  LLVMValueRef g = LLVMAddGlobal(cg->mod, desc_t, info->symbol);
  LLVMSetInitializer(g, LLVMConstNamedStruct(desc_t, v, nf));
  LLVMSetGlobalConstant(g, 1);
}

static bool emit_all(CgLlvm *cg, const CgModuleInfo *info) {
  LLVMValueRef prefill = NULL, decode = NULL;
  for (int e = 0; e < cg->plan->nentries; e++) {
    const KEntryPlan *ep = &cg->plan->entries[e];
    LLVMValueRef *kernels = calloc((size_t)(ep->nkernels ? ep->nkernels : 1), sizeof *kernels);
    if (!kernels) abort();
    bool ok = true;
    for (int k = 0; k < ep->nkernels && ok; k++) ok = (kernels[k] = emit_kernel(cg, ep, &ep->kernels[k])) != NULL;
    LLVMValueRef fn = ok ? emit_entry(cg, ep, kernels, info) : NULL;
    free(kernels);
    if (!ok) return false;
    if (strcmp(ep->func->name, "prefill") == 0) prefill = fn;
    if (strcmp(ep->func->name, "decode") == 0) decode = fn;
  }
  emit_desc(cg, info, prefill, decode);
  return true;
}

bool cg_llvm_compile(const KernelPlan *plan, const CgModuleInfo *info, const CgTarget *t, CgEmitKind kind,
                     const char *path, IrDiag *d) {
  CgLlvm cg = {0};
  cg.plan = plan;
  cg.m = plan->module;
  cg.d = d;
  if (!cg_target_machine(t, &cg.tm, d)) return false;
  cg.ctx = LLVMContextCreate();
  cg.mod = LLVMModuleCreateWithNameInContext(cg.m->name, cg.ctx);
  cg.b = LLVMCreateBuilderInContext(cg.ctx);
  char *triple = LLVMGetTargetMachineTriple(cg.tm);
  LLVMSetTarget(cg.mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(cg.tm);
  LLVMSetModuleDataLayout(cg.mod, layout);
  LLVMDisposeTargetData(layout);
  init_types(&cg);
  bool ok = emit_all(&cg, info) && cg_optimize(&cg, t->opt_level, d) && cg_write(&cg, kind, path, d);
  LLVMDisposeBuilder(cg.b);
  LLVMDisposeModule(cg.mod);
  LLVMContextDispose(cg.ctx);
  LLVMDisposeTargetMachine(cg.tm);
  return ok;
}
