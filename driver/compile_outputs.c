/* compile_outputs.c: temporary names, renames at the end, clean-up. */
#include "compile_outputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *xstrdup(const char *s) {
  char *r = strdup(s);
  if (!r) abort(); /* out of memory */
  return r;
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
  if (out->n == CO_MAX_FILES) {
    ir_error_at(d, final, "internal error: too many outputs");
    return NULL;
  }
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
  out->files[out->n++] = (CoFile){xstrdup(final), tmp, executable, false};
  return tmp;
}

const char *co_scratch(CoOutputs *out, IrDiag *d) {
  if (out->scratch) return out->scratch;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  size_t n = strlen(base) + 32;
  char *dir = malloc(n);
  if (!dir) abort(); /* out of memory */
  snprintf(dir, n, "%s/kiln-compile-XXXXXX", base);
  if (!mkdtemp(dir)) {
    ir_error_at(d, base, "cannot create a scratch directory: %s", strerror(errno));
    free(dir);
    return NULL;
  }
  return out->scratch = dir;
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
    /* mkstemp made it 0600; the linker may have made its own. */
    if (chmod(f->tmp, (f->executable ? 0777 : 0666) & ~mask) != 0 || rename(f->tmp, f->final) != 0)
      return ir_error_at(d, f->final, "cannot write the output: %s", strerror(errno));
    f->renamed = true;
  }
  return true;
}

/* rm -r of a scratch directory that holds only plain files. */
static void remove_dir(const char *dir) {
  DIR *dp = opendir(dir);
  if (dp) {
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      size_t n = strlen(dir) + strlen(e->d_name) + 2;
      char *p = malloc(n);
      if (!p) abort(); /* out of memory */
      snprintf(p, n, "%s/%s", dir, e->d_name);
      unlink(p);
      free(p);
    }
    closedir(dp);
  }
  rmdir(dir);
}

void co_finish(CoOutputs *out) {
  for (int i = 0; i < out->n; i++) {
    if (!out->files[i].renamed) unlink(out->files[i].tmp);
    free(out->files[i].final);
    free(out->files[i].tmp);
  }
  if (out->scratch) remove_dir(out->scratch);
  free(out->scratch);
  memset(out, 0, sizeof *out);
}
