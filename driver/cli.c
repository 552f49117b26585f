/* cli.c: flag parsing, files, module loading and error reports for the
 * driver's subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- flags ---- */

CliArgs cli_args(int argc, char **argv, const char *cmd) {
  return (CliArgs){argc, argv, 0, NULL, cmd, false};
}

bool cli_next(CliArgs *a) {
  if (a->failed || a->i + 1 >= a->argc) return false;
  a->arg = a->argv[++a->i];
  return true;
}

bool cli_flag(CliArgs *a, const char *name) { return strcmp(a->arg, name) == 0; }

bool cli_value(CliArgs *a, const char *name, const char **val) {
  size_t n = strlen(name);
  if (strncmp(a->arg, name, n) != 0) return false;
  if (a->arg[n] == '=') {
    *val = a->arg + n + 1;
    return true;
  }
  if (a->arg[n] != '\0') return false;
  if (a->i + 1 >= a->argc) {
    cli_usage_error(a->cmd, "option '%s' needs a value; see 'kiln %s --help'", name, a->cmd);
    a->failed = true;
    *val = NULL;
    return true;
  }
  *val = a->argv[++a->i];
  return true;
}

bool cli_is_option(const CliArgs *a) { return a->arg[0] == '-' && a->arg[1] != '\0'; }

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "kiln %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int cli_unknown(const CliArgs *a) {
  return cli_usage_error(a->cmd, "unknown option '%s'; see 'kiln %s --help'", a->arg, a->cmd);
}

/* ---- files ---- */

static char *read_stream(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    cap *= 2;
    buf = realloc(buf, cap);
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

char *cli_read_file(const char *path, size_t *len, IrDiag *d) {
  bool std_in = strcmp(path, "-") == 0;
  FILE *f = std_in ? stdin : fopen(path, "rb");
  if (!f) {
    ir_error_at(d, path, "cannot read file: %s", strerror(errno));
    return NULL;
  }
  char *buf = read_stream(f, len);
  bool bad = ferror(f) != 0;
  if (!std_in) fclose(f);
  if (bad) {
    free(buf);
    ir_error_at(d, path, "cannot read file: read error");
    return NULL;
  }
  return buf;
}

static bool write_all(FILE *f, const void *data, size_t len) {
  return len == 0 || fwrite(data, 1, len, f) == len;
}

bool cli_write_file(const char *path, const void *data, size_t len, IrDiag *d) {
  if (!path || strcmp(path, "-") == 0) {
    if (write_all(stdout, data, len) && fflush(stdout) == 0) return true;
    return ir_error_at(d, "<stdout>", "cannot write: %s", strerror(errno));
  }
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp) abort(); /* out of memory */
  snprintf(tmp, n, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  bool ok = f && write_all(f, data, len);
  if (f) ok = (fclose(f) == 0) && ok;
  else if (fd >= 0) close(fd);
  if (ok && rename(tmp, path) != 0) ok = false;
  if (!ok) {
    ir_error_at(d, path, "cannot write file: %s", strerror(errno));
    if (fd >= 0) unlink(tmp);
  }
  free(tmp);
  return ok;
}

bool cli_make_dir(const char *dir, IrDiag *d) {
  if (mkdir(dir, 0777) == 0 || errno == EEXIST) return true;
  return ir_error_at(d, dir, "cannot create directory: %s", strerror(errno));
}

/* ---- modules and errors ---- */

IrModule *cli_load_module(const char *path, IrDiag *d) {
  size_t len;
  char *text = cli_read_file(path, &len, d);
  if (!text) return NULL;
  const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
  IrModule *m = ir_parse(text, len, name, d);
  free(text);
  if (m && !ir_verify(m, d)) {
    ir_module_free(m);
    return NULL;
  }
  return m;
}

int cli_fail(const char *cmd, const IrDiag *d) {
  if (strncmp(d->msg, "error: ", 7) == 0)
    fprintf(stderr, "kiln %s: %s\n", cmd, d->msg);
  else
    fprintf(stderr, "%s\n", d->msg);
  return 1;
}

int cli_version(void) {
  printf("kiln %s\n", KILN_VERSION);
  return 0;
}

char *cli_strdup(const char *s) { return cli_concat(s, ""); }

char *cli_concat(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 1;
  char *r = malloc(n);
  if (!r) abort(); /* out of memory */
  snprintf(r, n, "%s%s", a, b);
  return r;
}

char *cli_path_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *r = malloc(n);
  if (!r) abort(); /* out of memory */
  snprintf(r, n, "%s/%s", dir, name);
  return r;
}

bool cli_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
