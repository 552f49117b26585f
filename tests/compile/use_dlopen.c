/* use_dlopen.c: loads a model that `kiln compile --emit=shared` produced
 * with dlopen() and runs it through the runtime the library carries.
 *
 *   cc use_dlopen.c -ldl -o use_dlopen
 *   ./use_dlopen ./tiny.so SYMBOL WEIGHTS|- PROMPT
 *
 * Prints "// prefill" and the logits after PROMPT, one a line (%.9g), as
 * use_obj does. Only kiln.h's types are used; every function comes from
 * the library.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

typedef KilnModel *(*InitFn)(const KilnModelDesc *, const KilnOptions *, char *, size_t);
typedef int (*PrefillFn)(KilnModel *, const int32_t *, int64_t);
typedef const float *(*LogitsFn)(const KilnModel *);
typedef void (*FreeFn)(KilnModel *);

static void *sym(void *lib, const char *name) {
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "use_dlopen: %s\n", dlerror());
    exit(1);
  }
  return p;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: use_dlopen LIB.so SYMBOL WEIGHTS|- PROMPT\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "use_dlopen: %s\n", dlerror());
    return 1;
  }
  const KilnModelDesc *desc = sym(lib, argv[2]);
  InitFn init = (InitFn)sym(lib, "kiln_init");
  PrefillFn prefill = (PrefillFn)sym(lib, "kiln_prefill");
  LogitsFn logits = (LogitsFn)sym(lib, "kiln_logits");
  FreeFn free_model = (FreeFn)sym(lib, "kiln_free");
  char err[512];
  KilnOptions opts = {.weights_path = strcmp(argv[3], "-") ? argv[3] : NULL, .n_threads = 2};
  KilnModel *m = init(desc, &opts, err, sizeof err);
  if (!m) {
    fprintf(stderr, "use_dlopen: %s\n", err);
    return 1;
  }
  int32_t ids[256];
  int n = 0;
  for (char *s = argv[4], *end; *s && n < 256; s = *end ? end + 1 : end)
    ids[n++] = (int32_t)strtol(s, &end, 10);
  int rc = prefill(m, ids, n) == KILN_OK ? 0 : 1;
  if (!rc) {
    printf("// prefill\n");
    for (int64_t i = 0; i < desc->vocab; i++) printf("%.9g\n", (double)logits(m)[i]);
  }
  free_model(m);
  dlclose(lib);
  return rc;
}
