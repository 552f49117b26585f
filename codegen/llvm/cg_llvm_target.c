/* cg_llvm_target.c: target machines, the O3 pipeline, writing output. */
#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_llvm.h"

/* The targets kiln can emit for. Initializing only these keeps start-up
 * fast; an unknown triple gets an error that lists them. */
static void init_targets(void) {
  static bool done;
  if (done) return;
  LLVMInitializeX86TargetInfo();
  LLVMInitializeX86Target();
  LLVMInitializeX86TargetMC();
  LLVMInitializeX86AsmPrinter();
  LLVMInitializeAArch64TargetInfo();
  LLVMInitializeAArch64Target();
  LLVMInitializeAArch64TargetMC();
  LLVMInitializeAArch64AsmPrinter();
  done = true;
}

bool cg_target_machine(const CgTarget *t, LLVMTargetMachineRef *out, IrDiag *d) {
  init_targets();
  char *host_triple = LLVMGetDefaultTargetTriple();
  char *triple = LLVMNormalizeTargetTriple(t->triple ? t->triple : host_triple);
  bool cross = t->triple && strcmp(triple, host_triple) != 0;
  LLVMDisposeMessage(host_triple);

  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    ir_error_at(d, "kiln", "unknown target '%s' (%s); known: x86_64-*, aarch64-*", triple,
                err ? err : "no such target");
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    return false;
  }
  char *host_cpu = LLVMGetHostCPUName(), *host_features = LLVMGetHostCPUFeatures();
  const char *cpu = t->cpu ? t->cpu : cross ? "generic" : host_cpu;
  const char *features = t->features ? t->features : cross ? "" : host_features;
  LLVMCodeGenOptLevel level = t->opt_level <= 0   ? LLVMCodeGenLevelNone
                              : t->opt_level == 1 ? LLVMCodeGenLevelLess
                              : t->opt_level == 2 ? LLVMCodeGenLevelDefault
                                                  : LLVMCodeGenLevelAggressive;
  *out = LLVMCreateTargetMachine(target, triple, cpu, features, level, LLVMRelocPIC,
                                 LLVMCodeModelDefault);
  LLVMDisposeMessage(host_cpu);
  LLVMDisposeMessage(host_features);
  LLVMDisposeMessage(triple);
  if (!*out) return ir_error_at(d, "kiln", "cannot create a target machine for '%s'", t->triple);
  return true;
}

bool cg_target_ktarget(const CgTarget *t, KTarget *out, IrDiag *d) {
  char *host_triple = LLVMGetDefaultTargetTriple();
  char *triple = LLVMNormalizeTargetTriple(t->triple ? t->triple : host_triple);
  bool cross = t->triple && strcmp(triple, host_triple) != 0;
  char *host_features = LLVMGetHostCPUFeatures();
  const char *features = t->features ? t->features : cross ? "" : host_features;
  bool ok = ktarget_from_features(triple, features, !cross, out, d);
  LLVMDisposeMessage(host_features);
  LLVMDisposeMessage(host_triple);
  LLVMDisposeMessage(triple);
  return ok;
}

bool cg_optimize(CgLlvm *cg, int opt_level, IrDiag *d) {
  char *err = NULL;
  if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &err)) {
    ir_error_at(d, "kiln", "internal error: generated LLVM IR does not verify: %s", err);
    LLVMDisposeMessage(err);
    return false;
  }
  LLVMDisposeMessage(err);
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", opt_level < 0 ? 0 : opt_level > 3 ? 3 : opt_level);
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  LLVMErrorRef e = LLVMRunPasses(cg->mod, pipeline, cg->tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    ir_error_at(d, "kiln", "internal error: LLVM pass pipeline failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
  }
  return true;
}

bool cg_write(CgLlvm *cg, CgEmitKind kind, const char *path, IrDiag *d) {
  char *err = NULL;
  bool failed;
  if (kind == CG_EMIT_LL)
    failed = LLVMPrintModuleToFile(cg->mod, path, &err);
  else
    failed = LLVMTargetMachineEmitToFile(cg->tm, cg->mod, (char *)path,
                                         kind == CG_EMIT_OBJ ? LLVMObjectFile : LLVMAssemblyFile,
                                         &err);
  if (failed) {
    ir_error_at(d, path, "cannot write: %s", err ? err : "unknown LLVM error");
    LLVMDisposeMessage(err);
    return false;
  }
  return true;
}
