/* artifact_link.c: finding cc and the runtime, running the link. */
#include "artifact_link.h"
#include "cli.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Baked in by driver/CMakeLists.txt; empty when kiln is built otherwise. */
#ifndef KILN_RUNTIME_DIR
#define KILN_RUNTIME_DIR ""
#endif
#ifndef KILN_RUNTIME_INCLUDE_DIR
#define KILN_RUNTIME_INCLUDE_DIR ""
#endif
#ifndef KILN_RUNTIME_LINK_FLAGS
#define KILN_RUNTIME_LINK_FLAGS ""
#endif
#ifndef KILN_BUILD_CC
#define KILN_BUILD_CC "cc"
#endif

#define AL_MAX_ARGS 64

static bool dir_has(const char *dir, const char *name) {
  char *p = cli_path_join(dir, name);
  bool ok = cli_is_file(p);
  free(p);
  return ok;
}

/* A program name is runnable: a path to an executable file, or found in $PATH. */
static bool runnable(const char *prog, size_t len) {
  char name[512];
  if (len == 0 || len >= sizeof name) return false;
  memcpy(name, prog, len);
  name[len] = '\0';
  if (strchr(name, '/')) return access(name, X_OK) == 0;
  const char *path = getenv("PATH");
  if (!path) path = "/usr/bin:/bin";
  for (const char *p = path;;) {
    size_t n = strcspn(p, ":");
    char full[1024];
    snprintf(full, sizeof full, "%.*s/%s", (int)n, n ? p : ".", name);
    if (access(full, X_OK) == 0 && cli_is_file(full)) return true;
    if (!p[n]) return false;
    p += n + 1;
  }
}

/* ---- finding things ------------------------------------------------------ */

/* The runtime directory and where it came from, for messages. */
static const char *pick_dir(const char *flag, const char **origin) {
  const char *env = getenv("KILN_RUNTIME_DIR");
  if (flag) return *origin = "from --runtime-dir", flag;
  if (env && *env) return *origin = "from $KILN_RUNTIME_DIR", env;
  *origin = "the build tree kiln was built in";
  return KILN_RUNTIME_DIR;
}

static bool find_libs(const char *dir, const char *origin, bool need_main, IrDiag *d) {
  if (!*dir)
    return ir_error(d, (IrLoc){0}, "cannot find the kiln runtime: this kiln knows no runtime "
                                   "directory; give --runtime-dir or set KILN_RUNTIME_DIR");
  const char *libs[2] = {"libkiln_rt.a", need_main ? "libkiln_rt_main.a" : NULL};
  for (int i = 0; i < 2; i++)
    if (libs[i] && !dir_has(dir, libs[i]))
      return ir_error(d, (IrLoc){0},
                      "cannot find the kiln runtime: '%s' is not in '%s' (%s); build the "
                      "kiln_rt and kiln_rt_main targets or give --runtime-dir",
                      libs[i], dir, origin);
  return true;
}

char *al_find_include_dir(const char *flag) {
  const char *origin, *dir = pick_dir(flag, &origin);
  char *inc = cli_path_join(dir, "include");
  const char *candidates[3] = {dir, inc, KILN_RUNTIME_INCLUDE_DIR};
  char *found = NULL;
  for (int i = 0; i < 3 && !found; i++)
    if (*candidates[i] && dir_has(candidates[i], "kiln.h") && dir_has(candidates[i], "kiln_abi.h"))
      found = cli_strdup(candidates[i]);
  free(inc);
  return found;
}

bool al_find_runtime(const char *cc, const char *dir, bool need_main, AlRuntime *rt, IrDiag *d) {
  memset(rt, 0, sizeof *rt);
  const char *origin, *env_cc = getenv("CC"), *env_ar = getenv("AR");
  const char *rdir = pick_dir(dir, &origin);
  if (!find_libs(rdir, origin, need_main, d)) return false;
  rt->dir = cli_strdup(rdir);
  bool build_tree = !dir && !(getenv("KILN_RUNTIME_DIR") && *getenv("KILN_RUNTIME_DIR"));
  rt->link_flags = build_tree ? KILN_RUNTIME_LINK_FLAGS : "";
  /* A sanitized runtime links only with the compiler that built it. */
  const char *dflt = *rt->link_flags ? KILN_BUILD_CC : "cc";
  rt->cc = cli_strdup(cc ? cc : env_cc && *env_cc ? env_cc : dflt);
  rt->ar = cli_strdup(env_ar && *env_ar ? env_ar : "ar");
  const char *how = cc ? "--cc" : env_cc && *env_cc ? "$CC" : "the default";
  if (!runnable(rt->cc, strcspn(rt->cc, " ")))
    return ir_error(d, (IrLoc){0}, "cannot find the C compiler '%s' (%s) that links the artifact; "
                                   "install one or give --cc", rt->cc, how);
  return true;
}

void al_free_runtime(AlRuntime *rt) {
  free(rt->cc);
  free(rt->ar);
  free(rt->dir);
  memset(rt, 0, sizeof *rt);
}

/* "x86_64", "aarch64": the host's architecture name in triples. */
static const char *host_arch(void) {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "";
#endif
}

static bool arch_is(const char *triple, size_t len, const char *arch) {
  static const char *const aliases[][2] = {{"x86_64", "amd64"}, {"aarch64", "arm64"}};
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    for (int j = 0; j < 2; j++)
      if (strlen(aliases[i][j]) == len && !strncmp(triple, aliases[i][j], len))
        return !strcmp(aliases[i][0], arch);
  return strlen(arch) == len && !strncmp(triple, arch, len);
}

bool al_is_cross(const char *triple) {
  if (!triple) return false;
  if (!arch_is(triple, strcspn(triple, "-"), host_arch())) return true;
  /* Same architecture: another OS if one is named that is not this one. */
  static const char *const others[] = {"darwin", "macos", "windows", "win32", "mingw", "freebsd",
                                       "netbsd", "openbsd", "ios", "android", "none", "elf"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
    if (strstr(triple, others[i])) return true;
  return false;
}

/* ---- running commands ------------------------------------------------------ */

/* A command line: the program's words, then arguments; NULL-terminated. */
typedef struct {
  char *v[AL_MAX_ARGS];
  int n;
  bool overflow;
} AlArgs;

static void push(AlArgs *a, const char *arg) {
  if (a->n < AL_MAX_ARGS - 1) a->v[a->n++] = (char *)arg;
  else a->overflow = true;
  a->v[a->n] = NULL;
}

/* Appends the words of s (split at spaces, in place). */
static void push_words(AlArgs *a, char *s) {
  for (char *w = strtok(s, " "); w; w = strtok(NULL, " ")) push(a, w);
}

/* Runs the command, waits; an error names the step and the status. */
static bool run(const AlArgs *a, const char *step, IrDiag *d) {
  if (a->overflow || a->n == 0)
    return ir_error(d, (IrLoc){0}, "%s: the command has too many words (more than %d)", step,
                    AL_MAX_ARGS - 1);
  pid_t pid;
  int rc = posix_spawnp(&pid, a->v[0], NULL, NULL, a->v, environ);
  if (rc != 0)
    return ir_error(d, (IrLoc){0}, "%s: cannot run '%s': %s", step, a->v[0], strerror(rc));
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return ir_error(d, (IrLoc){0}, "%s: %s", step, strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFEXITED(status))
    return ir_error(d, (IrLoc){0}, "%s failed: '%s' exited with status %d", step, a->v[0],
                    WEXITSTATUS(status));
  return ir_error(d, (IrLoc){0}, "%s failed: '%s' was killed by signal %d", step, a->v[0],
                  WTERMSIG(status));
}

/* cc [cc words] -o out <middle...> [link flags] -lm -lpthread */
static bool link_with(const AlRuntime *rt, const char *out, const char *const *middle, int nmiddle,
                      const char *step, IrDiag *d) {
  char *cc = cli_strdup(rt->cc), *flags = cli_strdup(rt->link_flags);
  AlArgs a = {.n = 0};
  push_words(&a, cc);
  push(&a, "-o");
  push(&a, out);
  for (int i = 0; i < nmiddle; i++) push(&a, middle[i]);
  push_words(&a, flags);
  push(&a, "-lm");
  push(&a, "-lpthread");
  bool ok = run(&a, step, d);
  free(cc);
  free(flags);
  return ok;
}

bool al_link_exe(const AlRuntime *rt, const char *obj, const char *out, IrDiag *d) {
  char *main_lib = cli_path_join(rt->dir, "libkiln_rt_main.a"), *rt_lib = cli_path_join(rt->dir, "libkiln_rt.a");
  const char *middle[] = {obj, main_lib, rt_lib};
  bool ok = link_with(rt, out, middle, 3, "linking the executable", d);
  free(main_lib);
  free(rt_lib);
  return ok;
}

bool al_link_shared(const AlRuntime *rt, const char *obj, const char *out, IrDiag *d) {
  char *rt_lib = cli_path_join(rt->dir, "libkiln_rt.a");
  /* The whole runtime goes in: a program that dlopens the library calls
   * kiln_init and friends, which nothing in the model object references. */
  const char *middle[] = {"-shared", obj, "-Wl,--whole-archive", rt_lib, "-Wl,--no-whole-archive"};
  bool ok = link_with(rt, out, middle, 5, "linking the shared library", d);
  free(rt_lib);
  return ok;
}

bool al_make_lib(const AlRuntime *rt, const char *obj, const char *out, IrDiag *d) {
  char *rt_lib = cli_path_join(rt->dir, "libkiln_rt.a");
  bool ok = al_copy_file(rt_lib, out, d);
  free(rt_lib);
  if (!ok) return false;
  char *ar = cli_strdup(rt->ar);
  AlArgs a = {.n = 0};
  push_words(&a, ar);
  push(&a, "rs");
  push(&a, out);
  push(&a, obj);
  ok = run(&a, "making the static library", d);
  free(ar);
  return ok;
}

bool al_copy_file(const char *from, const char *to, IrDiag *d) {
  FILE *in = fopen(from, "rb");
  if (!in) return ir_error_at(d, from, "cannot read file: %s", strerror(errno));
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return ir_error_at(d, to, "cannot write the output: %s", strerror(errno));
  }
  char buf[1 << 16];
  size_t n;
  bool ok = true;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
  ok = !ferror(in) && ok;
  fclose(in);
  if (fclose(out) != 0) ok = false;
  if (!ok) return ir_error_at(d, to, "cannot write the output: %s", strerror(errno));
  return true;
}
