/* cmd_opt.c: `kiln opt`: parse a module, verify it, run passes over it,
 * verify again, print it. With no --pass it only round-trips the text.
 *
 *   kiln opt --pass=canonicalize,dce --print-ir-after-all in.kir -o out.kir
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pass.h"

static void help(void) {
  printf("usage: kiln opt [FLAGS] FILE.kir       (FILE '-' reads stdin)\n\n"
         "Parses and verifies FILE, runs the passes, verifies the result and prints it.\n\n"
         "  --pass=A,B,...            passes to run, in order (default: none)\n"
         "  -O                        run the default pipeline (%s)\n"
         "  --print-ir-after-all      print the IR to stderr after every pass\n"
         "  --print-ir-after=NAME     print the IR to stderr after each run of pass NAME\n"
         "  --print-ir-after-change   print the IR only after passes that changed it\n"
         "                            (alone: after every pass that changed it)\n"
         "  --dump-dir=DIR            write every stage to DIR/00-input.kir, DIR/01-NAME.kir, ...\n"
         "  --time-passes             print each pass's wall-clock time and counters to stderr\n"
         "  --verify-each             verify after every pass (always on in debug builds)\n"
         "  --reproducer=FILE         if a pass fails, write the IR it failed on to FILE\n"
         "  --verify-only             parse and verify only; print nothing\n"
         "  -o FILE                   write the result to FILE (default: stdout)\n"
         "  --help, --version\n\n"
         "Passes:\n",
         pass_default_pipeline());
  for (int i = 0; i < pass_registry_count(); i++)
    printf("  %-14s %s\n", pass_registry_at(i)->name, pass_registry_at(i)->summary);
}

typedef struct {
  const char *file, *out, *pipeline;
  bool verify_only;
  PassOptions pass;
} OptArgs;

static void to_stderr(void *user, const char *text, size_t len) {
  fwrite(text, 1, len, stderr);
}

/* Reads the flags into o; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, OptArgs *o) {
  CliArgs a = cli_args(argc, argv, "opt");
  while (cli_next(&a)) {
    const char *v;
    if (cli_flag(&a, "--help")) return help(), 0;
    if (cli_flag(&a, "--version")) return cli_version();
    if (cli_value(&a, "--pass", &v)) o->pipeline = v;
    else if (cli_flag(&a, "-O")) o->pipeline = pass_default_pipeline();
    else if (cli_flag(&a, "--print-ir-after-all")) o->pass.print_after_all = true;
    else if (cli_value(&a, "--print-ir-after", &v)) o->pass.print_after = v;
    else if (cli_flag(&a, "--print-ir-after-change")) o->pass.print_after_change = true;
    else if (cli_value(&a, "--dump-dir", &v)) o->pass.dump_dir = v;
    else if (cli_flag(&a, "--time-passes")) o->pass.time_passes = true;
    else if (cli_flag(&a, "--verify-each")) o->pass.verify_each = true;
    else if (cli_value(&a, "--reproducer", &v)) o->pass.reproducer = v;
    else if (cli_flag(&a, "--verify-only")) o->verify_only = true;
    else if (cli_value(&a, "-o", &v)) o->out = v;
    else if (cli_is_option(&a)) return cli_unknown(&a);
    else if (o->file)
      return cli_usage_error("opt", "more than one input file ('%s' and '%s')", o->file, a.arg);
    else o->file = a.arg;
  }
  if (a.failed) return 1;
  if (!o->file) return cli_usage_error("opt", "no input file; see 'kiln opt --help'");
  return -1;
}

/* Runs the pipeline and writes the module out; returns the exit status. */
static int optimize(const OptArgs *o, IrModule *m) {
  IrDiag d = {0};
  PassPipeline p;
  if (!pass_pipeline_parse(o->pipeline ? o->pipeline : "", &p, &d)) return cli_fail("opt", &d);
  if (!pass_pipeline_run(&p, m, &o->pass, &d)) return cli_fail("opt", &d);
  IrBuf b = {0};
  ir_print_module(&b, m);
  bool ok = cli_write_file(o->out, b.data ? b.data : "", b.len, &d);
  ir_buf_free(&b);
  return ok ? 0 : cli_fail("opt", &d);
}

int cmd_opt(int argc, char **argv) {
  OptArgs o = {0};
  o.pass = pass_options_default();
  o.pass.sink = to_stderr;
  int status = parse_flags(argc, argv, &o);
  if (status >= 0) return status;
  IrDiag d = {0};
  IrModule *m = cli_load_module(o.file, &d);
  if (!m) return cli_fail("opt", &d);
  status = o.verify_only ? 0 : optimize(&o, m);
  ir_module_free(m);
  return status;
}
