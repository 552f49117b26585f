/* compile_outputs.c: temporary names, renames at the end, clean-up. */
#include "cli.h"
#include "compile_outputs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- interruption ------------------------------------------------------ */

static CoOutputs *guarded; /* the outputs a signal cleans up: one compile a process */
static const int guarded_signals[] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction saved[3];

/* Only async-signal-safe calls: unlink, rmdir, raise. */
static void on_signal(int sig) {
  CoOutputs *out = guarded;
  if (out) {
    for (int i = 0; i < out->n; i++)
      if (!out->files[i].renamed) unlink(out->files[i].tmp);
    if (out->scratch) rmdir(out->scratch);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void co_guard(CoOutputs *out) {
  guarded = out;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; i++) sigaction(guarded_signals[i], &sa, &saved[i]);
}

static void unguard(CoOutputs *out) {
  if (guarded != out) return;
  for (int i = 0; i < 3; i++) sigaction(guarded_signals[i], &saved[i], NULL);
  guarded = NULL;
}

/* ---- files --------------------------------------------------------------- */

static bool add(CoOutputs *out, CoFile f, IrDiag *d) {
  if (out->n == CO_MAX_FILES) {
    free(f.final);
    free(f.tmp);
    return ir_error(d, (IrLoc){0}, "internal error: too many outputs");
  }
  out->files[out->n] = f;
  out->n = out->n + 1; /* after the entry is complete: the handler reads it */
  return true;
}

/* "dir/name" -> "dir/.name.kiln-XXXXXX"; "name" -> ".name.kiln-XXXXXX". */
static char *temp_template(const char *final) {
  const char *slash = strrchr(final, '/');
  int dir_len = slash ? (int)(slash - final + 1) : 0;
  size_t n = strlen(final) + 32;
  char *t = malloc(n);
  if (!t) abort(); /* out of memory */
  snprintf(t, n, "%.*s.%s.kiln-XXXXXX", dir_len, final, final + dir_len);
  return t;
}

const char *co_reserve(CoOutputs *out, const char *final, bool executable, IrDiag *d) {
  struct stat st;
  if (stat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
    ir_error_at(d, final, "cannot write the output: %s", strerror(EISDIR));
    return NULL;
  }
  char *tmp = temp_template(final);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    ir_error_at(d, final, "cannot write the output: %s", strerror(errno));
    free(tmp);
    return NULL;
  }
  close(fd);
  if (!add(out, (CoFile){cli_strdup(final), tmp, executable, false}, d)) return NULL;
  return tmp;
}

static bool make_scratch(CoOutputs *out, IrDiag *d) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  size_t n = strlen(base) + 32;
  char *dir = malloc(n);
  if (!dir) abort(); /* out of memory */
  snprintf(dir, n, "%s/kiln-compile-XXXXXX", base);
  if (!mkdtemp(dir)) {
    free(dir);
    return ir_error_at(d, base, "cannot create a scratch directory: %s", strerror(errno));
  }
  out->scratch = dir;
  return true;
}

const char *co_scratch_file(CoOutputs *out, const char *name, IrDiag *d) {
  if (!out->scratch && !make_scratch(out, d)) return NULL;
  size_t n = strlen(out->scratch) + strlen(name) + 2;
  char *path = malloc(n);
  if (!path) abort(); /* out of memory */
  snprintf(path, n, "%s/%s", out->scratch, name);
  if (!add(out, (CoFile){NULL, path, false, false}, d)) return NULL;
  return path;
}

static mode_t current_umask(void) {
  mode_t m = umask(022);
  umask(m);
  return m;
}

bool co_commit(CoOutputs *out, IrDiag *d) {
  mode_t mask = current_umask();
  for (int i = 0; i < out->n; i++) {
    CoFile *f = &out->files[i];
    if (!f->final) continue; /* scratch */
    /* mkstemp made it 0600; the linker may have made its own. */
    if (chmod(f->tmp, (f->executable ? 0777 : 0666) & ~mask) != 0 || rename(f->tmp, f->final) != 0)
      return ir_error_at(d, f->final, "cannot write the output: %s", strerror(errno));
    f->renamed = true;
  }
  return true;
}

void co_finish(CoOutputs *out) {
  unguard(out);
  for (int i = 0; i < out->n; i++) {
    if (!out->files[i].renamed) unlink(out->files[i].tmp);
    free(out->files[i].final);
    free(out->files[i].tmp);
  }
  if (out->scratch) rmdir(out->scratch);
  free(out->scratch);
  out->n = 0;
  out->scratch = NULL;
}
