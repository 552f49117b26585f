/* test_codegen_fused.c: the CPU backend's fused ops (cg_llvm_ops_fused.c,
 * cg_llvm_expr.c) against the interpreter.
 *
 *  1. A fused op using every expression op, with operands of the output's
 *     shape, broadcast rows and columns, a scalar parameter, and numbers;
 *     rank-3 broadcasts (the row and column fast paths and the general one).
 *  2. A chain run through the `fuse` pass, compiled, against the
 *     interpreter on the unfused module's semantics (same interpreter
 *     result, since the pass is bit-identical there).
 *  3. cg_expr_emit on <8 x float> vectors: the function built from an
 *     expression with every op verifies (intrinsic names and types by
 *     vector width, libm calls lane by lane).
 *  4. Every tiny model after the default pipeline and `fuse` (matmul
 *     epilogues: bias, residual, gelu, SwiGLU, MoE gates), compiled,
 *     against the interpreter on the unoptimized module: prefill of 7
 *     tokens and two decodes, 1e-4 relative as in test_codegen_families.c
 *     (whole networks with reordered sums).
 *
 * Tolerance CGT_SUM_TOL (1e-5 relative to max(1, max |result|)), as for the
 * plain elementwise ops: the backend lets LLVM contract a*b+c into an FMA
 * and reassociate, so a step may differ from the interpreter's in the last
 * bits, and exp/log/pow come from the vector library or libm. */
#include <stdio.h>

#if KILN_HAVE_LLVM
#include <llvm-c/Analysis.h>

#include <dirent.h>

#include "fe.h"
#include "pass.h"
#include "test_codegen_util.h"
#include "test_checkpoint.h"

#define HEADER "module @t {\n  sym T <= 16\n  sym P <= 16\n"

static const int64_t TP[][2] = {{1, 0}, {3, 0}, {5, 2}, {16, 0}};
#define NTP (int)(sizeof TP / sizeof TP[0])

static void test_every_op(void) {
  CgtModel *cm = cgt_from_text(
      "fused_ops",
      HEADER
      "  param @e : f32[8, 12]\n  param @f : f32[8, 12]\n  param @row : f32[12]\n"
      "  param @col : f32[8, 1]\n  param @s : f32[]\n"
      "  func @prefill(%tokens: i32[T]) -> f32[T, 48] {\n"
      "    %x = embedding(@e, %tokens) : f32[T, 12]\n"
      "    %y = embedding(@f, %tokens) : f32[T, 12]\n"
      "    %c = embedding(@col, %tokens) : f32[T, 1]\n"
      "    %a = fused(%x, %y, @row, %c) {expr = \"add(sub(mul($0, $1), div($2, add($3, 3.0))), "
      "max(min($0, $3), pow(mul($1, $1), $2)))\"} : f32[T, 12]\n"
      "    %b = fused(%x, @s) {expr = \"add(add(neg(exp($0)), log(add(sqrt(mul($0, $0)), 0.5))), "
      "add(rsqrt(add(mul($1, $1), 1.0)), tanh($0)))\"} : f32[T, 12]\n"
      "    %g = fused(%x, %c) {expr = \"add(add(sigmoid($0), silu($1)), add(relu($0), "
      "add(gelu($0), gelu_tanh($1))))\"} : f32[T, 12]\n"
      "    %n = fused(%y) {expr = \"max(relu(neg($0)), -inf)\"} : f32[T, 12]\n"
      "    %r = concat(%a, %b, %g, %n) {axis = 1} : f32[T, 48]\n"
      "    return %r\n  }\n}\n");
  cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
  /* rank 3: a repeated row ([2, 6], [1, 2, 6]), a column ([T, 1, 1]), and
   * the general broadcasts ([6], [T, 1, 6], [1, 2, 1]) */
  cm = cgt_from_text(
      "fused_broadcast",
      HEADER
      "  param @e : f32[8, 12]\n  param @r2 : f32[2, 6]\n  param @r3 : f32[1, 2, 6]\n"
      "  param @v : f32[6]\n  param @m : f32[1, 2, 1]\n  param @col : f32[8, 1]\n"
      "  func @prefill(%tokens: i32[T]) -> f32[T, 2, 6] {\n"
      "    %x2 = embedding(@e, %tokens) : f32[T, 12]\n"
      "    %x = reshape(%x2) : f32[T, 2, 6]\n"
      "    %c2 = embedding(@col, %tokens) : f32[T, 1]\n"
      "    %c = reshape(%c2) : f32[T, 1, 1]\n"
      "    %h = slice(%x) {axis = 1, start = 0, end = 1} : f32[T, 1, 6]\n"
      "    %r = fused(%x, @r2, @r3, %c, @v, %h, @m) {expr = \"add(add(mul($0, $1), sub($2, "
      "$3)), mul(add($4, $5), $6))\"} : f32[T, 2, 6]\n"
      "    return %r\n  }\n}\n");
  cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
}

/* An MLP-like graph with chains the pass fuses (no matmul leaves). */
static const char chain_src[] =
    HEADER
    "  param @e : f32[8, 16]\n  param @b : f32[16]\n  param @g : f32[1, 16]\n"
    "  func @prefill(%tokens: i32[T]) -> f32[T, 16] {\n"
    "    %x = embedding(@e, %tokens) : f32[T, 16]\n"
    "    %half = const {value = 0.5} : f32[]\n"
    "    %a = add(%x, @b) : f32[T, 16]\n"
    "    %s = silu(%a) : f32[T, 16]\n"
    "    %m = mul(%s, @g) : f32[T, 16]\n"
    "    %h = mul(%m, %half) : f32[T, 16]\n"
    "    %t = gelu(%x) {approx = \"tanh\"} : f32[T, 16]\n"
    "    %r = sub(%h, %t) : f32[T, 16]\n"
    "    return %r\n  }\n}\n";

static void test_pass_output(void) {
  CgtModel *cm = cgt_from_text("fused_chain_plain", chain_src);
  if (!cm) return;
  /* run the pass on the compiled module: the interpreter keeps the plain one */
  IrDiag d = {0};
  PassContext ctx = {0};
  IrModule *fused = ir_parse(chain_src, strlen(chain_src), "chain", &d);
  CHECK(fused && pass_fuse(fused, &ctx, &d) && ir_verify(fused, &d));
  int nfused = 0;
  for (int i = 0; fused && i < fused->funcs[0]->nops; i++)
    nfused += fused->funcs[0]->ops[i]->kind == IR_OP_FUSED;
  CHECK(nfused == 1);
  /* recompile from the fused module, same random parameters */
  kplan_free(cm->plan);
  cm->plan = NULL;
  if (cm->so) dlclose(cm->so);
  cm->so = NULL;
  free(cm->weights);
  free(cm->arena);
  free(cm->state);
  cm->weights = cm->arena = cm->state = NULL;
  cm->ref = cm->m; /* keeps the plain module alive for the interpreter */
  cm->m = fused;
  cm->name = "fused_chain";
  bool ok = fused && cgt_compile(cm, cgt_random_source, cm);
  CHECK(ok);
  if (ok) cgt_check_prefills(cm, TP, NTP, CGT_SUM_TOL);
  cgt_free(cm);
}

/* ---- 3. vectors ---- */

static LLVMValueRef vec_operand(CgLlvm *cg, void *user, int i) {
  LLVMValueRef fn = user;
  (void)cg;
  return LLVMGetParam(fn, (unsigned)i);
}

static void test_vector_ir(void) {
  LLVMContextRef ctx = LLVMContextCreate();
  CgLlvm cg = {.ctx = ctx};
  IrDiag d = {0};
  cg.d = &d;
  cg.mod = LLVMModuleCreateWithNameInContext("vec", ctx);
  cg.b = LLVMCreateBuilderInContext(ctx);
  cg.f32 = LLVMFloatTypeInContext(ctx);
  cg.i32 = LLVMInt32TypeInContext(ctx);
  cg.i64 = LLVMInt64TypeInContext(ctx);
  LLVMTypeRef v8 = LLVMVectorType(cg.f32, 8), params[3] = {v8, v8, v8};
  LLVMValueRef fn = LLVMAddFunction(cg.mod, "f", LLVMFunctionType(v8, params, 3, 0));
  LLVMPositionBuilderAtEnd(cg.b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  IrExpr e;
  CHECK(ir_expr_parse("add(add(add(sub(mul(acc, $2), div($1, 2.0)), max(min(acc, $1), "
                      "pow($2, $1))), add(neg(exp(acc)), log(sqrt(rsqrt($1))))), "
                      "add(add(tanh(acc), sigmoid($2)), add(silu(acc), add(relu($1), "
                      "add(gelu(acc), gelu_tanh($2))))))",
                      true, &e, (IrLoc){0}, &d));
  LLVMValueRef r = cg_expr_emit(&cg, &e, LLVMGetParam(fn, 0), vec_operand, fn);
  CHECK(r != NULL && LLVMTypeOf(r) == v8);
  if (r) LLVMBuildRet(cg.b, r);
  char *msg = NULL;
  bool broken = LLVMVerifyModule(cg.mod, LLVMReturnStatusAction, &msg);
  CHECK(!broken);
  if (broken) fprintf(stderr, "vector IR: %s\n", msg);
  LLVMDisposeMessage(msg);
  CHECK(LLVMGetNamedFunction(cg.mod, "llvm.exp.v8f32") != NULL);
  CHECK(LLVMGetNamedFunction(cg.mod, "llvm.maximum.v8f32") != NULL);
  CHECK(LLVMGetNamedFunction(cg.mod, "tanhf") != NULL && LLVMGetNamedFunction(cg.mod, "erff"));
  /* a scalar step on the same module uses the .f32 intrinsic */
  LLVMValueRef sf = LLVMAddFunction(cg.mod, "s", LLVMFunctionType(cg.f32, &cg.f32, 1, 0));
  LLVMPositionBuilderAtEnd(cg.b, LLVMAppendBasicBlockInContext(ctx, sf, "entry"));
  LLVMBuildRet(cg.b, cg_expr_step(&cg, IR_OP_EXP, false, LLVMGetParam(sf, 0), NULL));
  CHECK(LLVMGetNamedFunction(cg.mod, "llvm.exp.f32") != NULL);
  CHECK(!LLVMVerifyModule(cg.mod, LLVMReturnStatusAction, &msg));
  LLVMDisposeMessage(msg);
  /* a non-elementwise op is an error, not a crash */
  CHECK(cg_expr_step(&cg, IR_OP_MATMUL, false, LLVMGetParam(sf, 0), NULL) == NULL && d.failed);
  CHECK_STR_CONTAINS(d.msg, "matmul is not an elementwise float op");
  LLVMDisposeBuilder(cg.b);
  LLVMDisposeModule(cg.mod);
  LLVMContextDispose(ctx);
}

/* ---- 4. tiny models ---- */

static void check_model(const char *name, const char *path) {
  FeModelDir md;
  IrDiag d = {0};
  if (!fe_open_model_dir(path, true, &md, &d)) {
    fprintf(stderr, "%s: %s\n", name, d.msg);
    CHECK(false);
    return;
  }
  char spec[512];
  snprintf(spec, sizeof spec, "%s,fuse", pass_default_pipeline());
  FeBuildOptions opt = {.max_context = 32, .all_logits = true};
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = name;
  cm->vocab = md.model.vocab;
  cm->opt_level = 3;
  cm->m = fe_build_module(&md.model, md.weights, &opt, &d);
  cm->ref = fe_build_module(&md.model, md.weights, &opt, &d);
  PassPipeline p;
  PassOptions o = pass_options_default();
  bool ok = cm->m && cm->ref && pass_pipeline_parse(spec, &p, &d) &&
            pass_pipeline_run(&p, cm->m, &o, &d);
  cm->it = ok ? ir_interp_new(cm->ref, &d) : NULL;
  ok = cm->it && fe_bind_weights(cm->it, cm->ref, md.weights, &d) &&
       cgt_compile(cm, checkpoint_source, md.weights);
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  if (ok) {
    int32_t prompt[7] = {1, 5, 9, 2, 7, 3, 4}, next[2] = {6, 8};
    CgtCall calls[3] = {{"prefill", 7, 0, prompt}, {"decode", 1, 7, &next[0]},
                        {"decode", 1, 8, &next[1]}};
    for (int i = 0; i < 7; i++) prompt[i] %= (int32_t)md.model.vocab;
    cgt_worst = 0;
    cgt_check(cm, calls, 3, 1e-4);
    printf("%-14s fused and compiled; relative difference %.2g\n", name, cgt_worst);
  }
  cgt_free(cm);
  fe_close_model_dir(&md);
}

static void test_tiny_models(void) {
  const char *root = KILN_TEST_DATA "/tiny";
  DIR *dir = opendir(root);
  CHECK(dir != NULL);
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir));) {
    if (e->d_name[0] == '.') continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, e->d_name);
    check_model(e->d_name, path);
    n++;
  }
  if (dir) closedir(dir);
  CHECK(n >= 7);
}

int main(void) {
  cgt_setup();
  test_every_op();
  test_pass_output();
  test_vector_ir();
  test_tiny_models();
  printf("largest relative difference to the interpreter: %.2g\n", cgt_worst);
  cgt_teardown();
  return check_report();
}
#else
int main(void) {
  printf("test_codegen_fused: skipped, kiln was built without LLVM\n");
  return 0;
}
#endif
