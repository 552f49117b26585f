/* cmd_opt.c: `kiln opt`: parse a module, verify it, run passes over it,
 * verify again, print it. With no --pass it only round-trips the text.
 * The pass flags are pass_flags.c's, shared with `kiln compile`.
 *
 *   kiln opt --pass=canonicalize,dce --print-ir-after-all in.kir -o out.kir
 *   kiln opt --replay crash.reproducer.kir      the failing pass again
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pass_flags.h"
#include "target.h"

static void help(void) {
  printf("usage: kiln opt [FLAGS] FILE.kir       (FILE '-' reads stdin)\n\n"
         "Parses and verifies FILE, runs the passes, verifies the result and prints it.\n"
         "With no pass flag it only round-trips the text.\n\n");
  pass_flags_help(-1);
  printf("  --target-desc=NAME         tiles and panel widths of a preset target: %s\n"
         "                             (default: x86-64-avx2)\n",
         ktarget_names());
  printf("  --reproducer=FILE          if a pass fails or crashes, write the IR it ran on to FILE\n"
         "  --replay                   run the passes of FILE's '// replay:' line (a reproducer)\n"
         "  --list-passes              print the registered passes' names, one a line\n"
         "  --verify-only              parse and verify only; print nothing\n"
         "  -o FILE                    write the result to FILE (default: stdout)\n"
         "  --help, --version\n\n"
         "Passes:\n");
  for (int i = 0; i < pass_registry_count(); i++)
    printf("  %-14s %s\n", pass_registry_at(i)->name, pass_registry_at(i)->summary);
}

typedef struct {
  const char *file, *out;
  bool verify_only, list_passes;
  PassFlags pf;
  char *replayed; /* the pass list --replay read; owned */
  KTarget target; /* --target-desc=NAME; pf.po.target points here when given */
} OptArgs;

/* Reads the flags into o; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, OptArgs *o) {
  CliArgs a = cli_args(argc, argv, "opt");
  while (cli_next(&a)) {
    const char *v;
    if (cli_flag(&a, "--help")) return help(), 0;
    if (cli_flag(&a, "--version")) return cli_version();
    if (pass_flags_read(&a, &o->pf)) continue;
    if (cli_value(&a, "--target-desc", &v)) {
      IrDiag d = {0};
      if (!ktarget_preset(v, &o->target, &d)) return cli_fail("opt", &d);
      o->pf.po.target = &o->target;
    } else if (cli_flag(&a, "--verify-only")) o->verify_only = true;
    else if (cli_flag(&a, "--list-passes")) o->list_passes = true;
    else if (cli_value(&a, "-o", &v)) o->out = v;
    else if (cli_is_option(&a)) return cli_unknown(&a);
    else if (o->file)
      return cli_usage_error("opt", "more than one input file ('%s' and '%s')", o->file, a.arg);
    else o->file = a.arg;
  }
  if (a.failed) return 1;
  if (o->list_passes) {
    for (int i = 0; i < pass_registry_count(); i++) printf("%s\n", pass_registry_at(i)->name);
    return 0;
  }
  if (!o->file) return cli_usage_error("opt", "no input file; see 'kiln opt --help'");
  if (o->pf.replay && strcmp(o->file, "-") == 0)
    return cli_usage_error("opt", "--replay reads its passes from a file, not stdin");
  if (o->pf.replay && (o->pf.passes || o->pf.level >= 0))
    return cli_usage_error("opt", "--replay takes the passes from the file; give no --passes or -O");
  return -1;
}

/* Runs the pipeline and writes the module out; returns the exit status. */
static int optimize(OptArgs *o, IrModule *m) {
  IrDiag d = {0};
  if (o->pf.replay) {
    if (!pass_flags_replay_list(o->file, &o->replayed, &d)) return cli_fail("opt", &d);
    o->pf.passes = o->replayed;
  }
  if (!pass_flags_run(&o->pf, "opt", m, -1, &d)) return cli_fail("opt", &d);
  IrBuf b = {0};
  ir_print_module(&b, m);
  bool ok = cli_write_file(o->out, b.data ? b.data : "", b.len, &d);
  ir_buf_free(&b);
  return ok ? 0 : cli_fail("opt", &d);
}

int cmd_opt(int argc, char **argv) {
  OptArgs o = {.pf = pass_flags_new()};
  int status = parse_flags(argc, argv, &o);
  if (status >= 0) return status;
  IrDiag d = {0};
  IrModule *m = cli_load_module(o.file, &d);
  if (!m) return cli_fail("opt", &d);
  status = o.verify_only ? 0 : optimize(&o, m);
  ir_module_free(m);
  free(o.replayed);
  return status;
}
