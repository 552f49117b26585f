/* pass_flags.h: the pass flags `kiln opt` and `kiln compile` share: the
 * pipeline (-O0/-O1/-O2, --passes), the IR dumps, timing, the Graphviz
 * output and the reproducer, read by one parser and run by one function.
 *
 *   PassFlags pf = pass_flags_new();
 *   while (cli_next(&a)) {
 *     if (pass_flags_read(&a, &pf)) continue;   // --passes, -O2, --dump-dir, ...
 *     ...
 *   }
 *   if (!pass_flags_run(&pf, "compile", m, 2, &d)) ...   // 2: -O2 unless told
 *
 * A crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) inside a pass is
 * caught while pass_flags_run runs: the handler writes the module as it was
 * before that pass to the reproducer file (if one is set) and exits 1 with
 * a message naming the pass.
 */
#ifndef KILN_PASS_FLAGS_H
#define KILN_PASS_FLAGS_H

#include "cli.h"
#include "pass.h"

/* -O1: the cleanup passes only. */
#define PASS_FLAGS_O1_PIPELINE "canonicalize,fold,canonicalize,cse,dce"

typedef struct PassFlags {
  const char *passes;   /* --passes=LIST (or --pass=LIST); NULL: by level */
  int level;            /* -O0, -O1, -O2 (-O is -O2); -1 when not given */
  const char *emit_dot; /* --emit-dot=FILE: Graphviz of the module after the passes */
  bool replay;          /* --replay: the pipeline from the input's "// replay:" line */
  PassOptions po;       /* the dump, timing, verify and reproducer flags */
} PassFlags;

/* No flags given; output of dumps and timing to stderr. */
PassFlags pass_flags_new(void);
/* Reads the current argument if it is a pass flag (value errors set
 * a->failed); false when it is not one. */
bool pass_flags_read(CliArgs *a, PassFlags *f);
/* The help lines of the flags, for a command whose default level is
 * `dflt_level` (-1: no passes by default). */
void pass_flags_help(int dflt_level);
/* The pipeline the flags select: --passes, else the level's (or dflt_level's). */
const char *pass_flags_pipeline(const PassFlags *f, int dflt_level);
/* The level that applies: -O given, else dflt_level. */
int pass_flags_level(const PassFlags *f, int dflt_level);

/* --replay: *list becomes the pass list of FILE's "// replay: kiln opt
 * --pass=LIST FILE" line (a reproducer's); the caller frees it. */
bool pass_flags_replay_list(const char *file, char **list, IrDiag *d);

/* Runs the selected pipeline over m with the crash guard on, then writes
 * --emit-dot. `cmd` names the command in the crash message. */
bool pass_flags_run(const PassFlags *f, const char *cmd, IrModule *m, int dflt_level, IrDiag *d);

/* ---- the crash guard (pass_crash.c) ---- */

/* Installs the signal handlers and hooks o->before_pass, so that a crash
 * in a pass writes the module before it to `reproducer` (NULL: none) and
 * exits 1 with "kiln CMD: error: pass 'NAME' (I of N) crashed with
 * SIGSEGV; ...". */
void pass_crash_guard(PassOptions *o, const char *cmd, const char *reproducer);
/* Restores the previous handlers and frees what the guard kept. */
void pass_crash_unguard(void);

#endif
