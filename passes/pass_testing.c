/* pass_testing.c: passes that exist only to test the driver's failure
 * paths (the reproducer, the crash handler, `kiln bisect`). They are not
 * in the registry unless pass_registry_enable_testing() was called, which
 * the driver does when KILN_TEST_PASSES=1 (docs/driver.md). */
#include <signal.h>

#include "pass.h"

/* Always fails, with the location of the module. */
static bool test_fail(IrModule *m, PassContext *ctx, IrDiag *d) {
  (void)ctx;
  ir_error(d, m->loc, "test-fail: this pass always fails (a testing aid)");
  return false;
}

/* Crashes the way a buggy pass would: SIGSEGV, through raise() so the
 * behaviour is defined. */
static bool test_crash(IrModule *m, PassContext *ctx, IrDiag *d) {
  (void)m, (void)ctx, (void)d;
  raise(SIGSEGV);
  return false;
}

/* Adds 1e-3 to the result of the last matmul of every function, so the
 * outputs drift by about that much: a wrong "optimization" for bisect. */
static bool perturb_func(IrModule *m, IrFunc *f) {
  int at = f->nops - 1;
  while (at >= 0 && (f->ops[at]->kind != IR_OP_MATMUL || f->ops[at]->nout != 1)) at--;
  if (at < 0) return false;
  IrValue *mm = f->ops[at]->out[0];
  IrType scalar = {.dtype = mm->type.dtype, .rank = 0};
  IrOp *c = ir_op_new(m, f, IR_OP_CONST, 0, NULL, 1, &scalar);
  ir_op_set_float(c, "value", 1e-3);
  IrValue *in[2] = {mm, c->out[0]};
  IrOp *add = ir_op_new(m, f, IR_OP_ADD, 2, in, 1, &mm->type);
  ir_func_replace_uses(f, mm, add->out[0]); /* before the add is in f */
  ir_func_insert_op(m, f, at + 1, c);
  ir_func_insert_op(m, f, at + 2, add);
  return true;
}

static bool test_perturb(IrModule *m, PassContext *ctx, IrDiag *d) {
  (void)ctx, (void)d;
  bool changed = false;
  for (int i = 0; i < m->nfuncs; i++) changed |= perturb_func(m, m->funcs[i]);
  return changed;
}

static const PassInfo testing_passes[] = {
    {"test-fail", "testing aid: always fails", test_fail},
    {"test-crash", "testing aid: crashes with SIGSEGV", test_crash},
    {"test-perturb", "testing aid: adds 1e-3 to the last matmul of each function", test_perturb},
};

int pass_testing_count(void) { return (int)(sizeof testing_passes / sizeof testing_passes[0]); }

const PassInfo *pass_testing_at(int i) { return &testing_passes[i]; }
