/* pass.h: the pass manager and the passes over the tensor IR.
 *
 * A pass is a function over a whole module, registered once (pass_registry.c)
 * with a name and a one-line summary; the name is what the pipeline spec,
 * the IR dumps, the timing report and docs/passes.md use. A pass rewrites
 * the module in place, returns whether it changed anything, and reports a
 * failure through IrDiag (d->failed set).
 *
 *   PassPipeline p;
 *   if (!pass_pipeline_parse("canonicalize,fold,cse,dce", &p, &d)) ...
 *   PassOptions o = pass_options_default();
 *   o.print_after_all = true;
 *   o.sink = print_to_stderr;          // where dumps and the timing report go
 *   if (!pass_pipeline_run(&p, m, &o, &d)) ... d.msg says which pass failed
 *
 * Sections: statistics, the registry, pipelines and the manager, the passes,
 * and the helpers the passes share (pass_util.c).
 */
#ifndef KILN_PASS_H
#define KILN_PASS_H

#include "ir.h"

/* ---- statistics ------------------------------------------------------ */

/* Named counters a pass bumps ("folded", "reshape-of-reshape"); the
 * timing report shows them next to the pass. */
#define PASS_MAX_COUNTERS 16
typedef struct {
  const char *name; /* static string */
  int64_t value;
} PassCounter;

/* What a pass sees besides the module: its counters and the target the
 * module is compiled for (tiles, panel widths: passes/target.h). A pass
 * that needs a target and finds none uses ktarget_default(). */
struct KTarget;
typedef struct {
  int n;
  PassCounter c[PASS_MAX_COUNTERS];
  const struct KTarget *target;
} PassContext;

/* Adds n to counter `name` (created on first use; ignored when full). */
void pass_count(PassContext *s, const char *name, int64_t n);

/* ---- registry (pass_registry.c) ---------------------------------------- */

/* Returns whether the module changed; a failure sets d->failed. */
typedef bool (*PassFn)(IrModule *m, PassContext *ctx, IrDiag *d);

typedef struct {
  const char *name;    /* "cse" */
  const char *summary; /* one line, for --help and docs */
  PassFn run;
} PassInfo;

int pass_registry_count(void);
const PassInfo *pass_registry_at(int i);
/* The pass named s[0..n), or NULL. */
const PassInfo *pass_lookup(const char *s, size_t n);
/* "canonicalize, cse, ..." (registry order) into b, for error messages. */
void pass_list_names(IrBuf *b);
/* The default optimization pipeline as a spec: "canonicalize,fold,...". */
const char *pass_default_pipeline(void);
/* Adds the testing passes (test-fail, test-crash, test-perturb:
 * pass_testing.c) to the registry; the driver calls it when
 * KILN_TEST_PASSES=1. They exist to test failure paths and bisect. */
void pass_registry_enable_testing(void);
int pass_testing_count(void);
const PassInfo *pass_testing_at(int i);

/* ---- pipelines and the manager (pass_manager.c) ------------------------ */

#define PASS_MAX_PIPELINE 64
typedef struct {
  int n;
  const PassInfo *passes[PASS_MAX_PIPELINE];
} PassPipeline;

/* Parses "a,b,c" (an empty spec is an empty pipeline). An unknown name is
 * an error that lists the known ones. */
bool pass_pipeline_parse(const char *spec, PassPipeline *p, IrDiag *d);

/* Receives printed IR and the timing report; the driver writes it out. */
typedef void (*PassSink)(void *user, const char *text, size_t len);

typedef struct {
  bool print_after_all;
  const char *print_after; /* print only after passes with this name, or NULL */
  bool print_after_change; /* print only when the pass changed the module */
  const char *dump_dir;    /* every stage to DIR/00-input.kir, DIR/01-NAME.kir, ... */
  bool time_passes;        /* wall-clock report at the end, with the counters */
  bool verify_each;        /* ir_verify after every pass */
  const char *reproducer;  /* on a failure, the IR before the failing pass goes here */
  const struct KTarget *target; /* NULL: ktarget_default() */
  PassSink sink;           /* NULL: printing options print nothing */
  void *sink_user;
  /* Called before pass `index` (0-based) of the `n` with the module's text
   * as it is then: the driver keeps it for a crash reproducer. NULL: not
   * called, and the module is not printed for it. */
  void (*before_pass)(void *user, const PassInfo *info, int index, int n, const char *ir,
                      size_t len);
  void *before_pass_user;
} PassOptions;

/* All off, except verify_each in builds with KILN_VERIFY_EACH_PASS. */
PassOptions pass_options_default(void);

/* Runs the passes in order. Stops at the first failure, with d->msg naming
 * the pass: "t.kir:3:5: error: after pass 'cse': ..." for a verifier
 * failure, "...: error: in pass 'fold': ..." for a pass's own. Without
 * verify_each, the module is verified once after the last pass. Returns
 * true on success. */
bool pass_pipeline_run(const PassPipeline *p, IrModule *m, const PassOptions *o, IrDiag *d);

/* A reproducer's replay line, "// replay: kiln opt --pass=cse FILE\n",
 * appended to b; `kiln opt --replay` reads the list after the prefix. */
#define PASS_REPLAY_PREFIX "// replay: kiln opt --pass="
void pass_replay_line(IrBuf *b, const PassInfo *info);

/* ---- the passes (one file each; docs/passes.md) ----------------------- */

bool pass_canonicalize(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_fold(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_dce(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_cse(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_attention(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_fuse(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_pack_weights(IrModule *m, PassContext *ctx, IrDiag *d);
bool pass_attention_split(IrModule *m, PassContext *ctx, IrDiag *d);

/* ---- helpers the passes share (pass_util.c) --------------------------- */

/* A hash map from pointers to integers (or pointers cast to intptr_t),
 * for use counts and value replacements. Owns its table; free it. */
typedef struct {
  const void **keys;
  intptr_t *vals;
  size_t cap, n;
} PassMap;

void pass_map_free(PassMap *pm);
bool pass_map_get(const PassMap *pm, const void *key, intptr_t *val);
void pass_map_put(PassMap *pm, const void *key, intptr_t val);

/* Follows the replacement chain of v in `repl` (value -> value). */
IrValue *pass_map_resolve(const PassMap *repl, IrValue *v);
/* Rewrites f's operands and results through `repl`. */
void pass_apply_replacements(IrFunc *f, const PassMap *repl);

/* v's value when v is the result of a `const` op, rounded to v's dtype as
 * the interpreter does (so `const {value = 2.7} : i32` gives 2). */
bool pass_const_value(const IrValue *v, double *out);
/* Rounds v to dtype t: float dtypes to nearest (even), ints truncate
 * toward zero and wrap to the width (300.0 as i8 gives 44). */
double pass_round_value(double v, IrDType t);
/* Turns op into `const {value} : <its result type>`, keeping its result
 * value (name, uses) and location. */
void pass_make_const(IrOp *op, double value);
/* kv_write and kv_read: their relative order is part of the program. */
bool pass_op_has_effect(const IrOp *op);
/* calloc that aborts on out of memory (the one allowed abort). */
void *pass_calloc(size_t n, size_t size);
/* Removes the ops with dead[i] set, keeping the order of the rest. */
void pass_remove_ops(IrFunc *f, const bool *dead);

#endif
