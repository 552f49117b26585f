/* pass_flags.c: the pass flags of `kiln opt` and `kiln compile`: one
 * parser, one help text, one runner (pass_flags.h). */
#include "pass_flags.h"

#include <stdlib.h>
#include <string.h>

static void to_stderr(void *user, const char *text, size_t len) {
  (void)user;
  fwrite(text, 1, len, stderr);
}

PassFlags pass_flags_new(void) {
  PassFlags f = {.level = -1, .po = pass_options_default()};
  f.po.sink = to_stderr;
  return f;
}

/* -O, -O0, -O1, -O2 into f->level. */
static bool read_level(CliArgs *a, PassFlags *f) {
  if (cli_flag(a, "-O")) return f->level = 2, true;
  if (cli_flag(a, "-O0") || cli_flag(a, "-O1") || cli_flag(a, "-O2"))
    return f->level = a->arg[2] - '0', true;
  return false;
}

bool pass_flags_read(CliArgs *a, PassFlags *f) {
  const char *v = NULL;
  PassOptions *o = &f->po;
  if (read_level(a, f)) return true;
  if (cli_value(a, "--passes", &v) || cli_value(a, "--pass", &v)) f->passes = v;
  else if (cli_flag(a, "--print-ir-after-all")) o->print_after_all = true;
  else if (cli_value(a, "--print-ir-after", &v)) o->print_after = v;
  else if (cli_flag(a, "--print-ir-after-change")) o->print_after_change = true;
  else if (cli_value(a, "--dump-dir", &v)) o->dump_dir = v;
  else if (cli_flag(a, "--time-passes")) o->time_passes = true;
  else if (cli_flag(a, "--verify-each")) o->verify_each = true;
  else if (cli_value(a, "--reproducer", &v)) o->reproducer = v;
  else if (cli_value(a, "--emit-dot", &v)) f->emit_dot = v;
  else if (cli_flag(a, "--replay")) f->replay = true;
  else return false;
  return true;
}

static const char *level_pipeline(int level) {
  if (level <= 0) return "";
  return level == 1 ? PASS_FLAGS_O1_PIPELINE : pass_default_pipeline();
}

int pass_flags_level(const PassFlags *f, int dflt_level) {
  return f->level >= 0 ? f->level : dflt_level;
}

const char *pass_flags_pipeline(const PassFlags *f, int dflt_level) {
  if (f->passes) return f->passes;
  return level_pipeline(pass_flags_level(f, dflt_level));
}

void pass_flags_help(int dflt_level) {
  printf("  -O0, -O1, -O2 (-O = -O2)   -O0: no passes; -O1: the cleanup passes\n"
         "                             %s;\n"
         "                             -O2: every pass, the default pipeline\n"
         "                             %s\n"
         "                             (default: %s)\n",
         PASS_FLAGS_O1_PIPELINE, pass_default_pipeline(),
         dflt_level < 0 ? "no passes" : dflt_level == 0 ? "-O0" : dflt_level == 1 ? "-O1" : "-O2");
  printf("  --passes=A,B,...           run these passes instead (--pass is the same)\n"
         "  --print-ir-after-all       print the IR to stderr after every pass\n"
         "  --print-ir-after=NAME      print the IR to stderr after each run of pass NAME\n"
         "  --print-ir-after-change    print the IR only after passes that changed it\n"
         "  --dump-dir=DIR             write every stage to DIR/00-input.kir, DIR/01-NAME.kir,\n"
         "                             ...\n"
         "  --time-passes              print each pass's wall-clock time and counters to stderr\n"
         "  --verify-each              verify after every pass (always on in debug builds)\n"
         "  --emit-dot=FILE            write the module after the passes as Graphviz (one\n"
         "                             digraph per function)\n");
}

/* ---- --replay ---- */

bool pass_flags_replay_list(const char *file, char **list, IrDiag *d) {
  size_t len;
  char *text = cli_read_file(file, &len, d);
  if (!text) return false;
  /* The header is the leading comment lines; the replay line is one of them. */
  for (const char *line = text; strncmp(line, "//", 2) == 0;) {
    if (strncmp(line, PASS_REPLAY_PREFIX, strlen(PASS_REPLAY_PREFIX)) == 0) {
      const char *s = line + strlen(PASS_REPLAY_PREFIX);
      *list = strndup(s, strcspn(s, " \n"));
      if (!*list) abort(); /* out of memory */
      free(text);
      return true;
    }
    const char *nl = strchr(line, '\n');
    if (!nl) break;
    line = nl + 1;
  }
  free(text);
  return ir_error_at(d, file, "--replay: no '%sLIST FILE' line in the leading comment; is it a "
                              "kiln reproducer?",
                     PASS_REPLAY_PREFIX);
}

/* ---- running ---- */

static bool write_dot(const char *path, const IrModule *m, IrDiag *d) {
  IrBuf b = {0};
  ir_print_dot(&b, m);
  bool ok = cli_write_file(path, b.data ? b.data : "", b.len, d);
  ir_buf_free(&b);
  return ok;
}

bool pass_flags_run(const PassFlags *f, const char *cmd, IrModule *m, int dflt_level, IrDiag *d) {
  PassPipeline p;
  if (!pass_pipeline_parse(pass_flags_pipeline(f, dflt_level), &p, d)) return false;
  PassOptions po = f->po;
  pass_crash_guard(&po, cmd, po.reproducer);
  bool ok = pass_pipeline_run(&p, m, &po, d);
  pass_crash_unguard();
  return ok && (!f->emit_dot || write_dot(f->emit_dot, m, d));
}
