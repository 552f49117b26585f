/* run_shared.c: runs a model that `kiln compile --emit=shared
 * --embed-weights` produced, loaded with dlopen(), on a given number of
 * threads: a prefill, then decode steps (passes_test.sh).
 *
 *   cc run_shared.c -ldl -o run_shared
 *   ./run_shared ./tiny.so THREADS PROMPT [DECODE]
 *
 * Prints "// prefill" and the logits after PROMPT (ids separated by
 * commas), then for each id of DECODE "// decode ID" and the logits after
 * decoding it; one value a line (%.9g): the format of use_obj and of
 * `compare_logits expect`.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

typedef KilnModel *(*InitFn)(const KilnModelDesc *, const KilnOptions *, char *, size_t);
typedef int (*PrefillFn)(KilnModel *, const int32_t *, int64_t);
typedef int (*DecodeFn)(KilnModel *, int32_t);
typedef const float *(*LogitsFn)(const KilnModel *);
typedef const char *(*ErrorFn)(const KilnModel *);
typedef void (*FreeFn)(KilnModel *);

static void *sym(void *lib, const char *name) {
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "run_shared: %s\n", dlerror());
    exit(1);
  }
  return p;
}

static int parse_ids(const char *s, int32_t *ids, int max) {
  int n = 0;
  for (char *end; *s && n < max; s = *end ? end + 1 : end) ids[n++] = (int32_t)strtol(s, &end, 10);
  return n;
}

static void print_logits(const float *l, int64_t vocab, const char *what, int token) {
  if (token >= 0) printf("// %s %d\n", what, token);
  else printf("// %s\n", what);
  for (int64_t i = 0; i < vocab; i++) printf("%.9g\n", (double)l[i]);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: run_shared LIB.so THREADS PROMPT [DECODE]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "run_shared: %s\n", dlerror());
    return 1;
  }
  const KilnModelDesc *desc = sym(lib, "kiln_model");
  InitFn init = (InitFn)sym(lib, "kiln_init");
  PrefillFn prefill = (PrefillFn)sym(lib, "kiln_prefill");
  DecodeFn decode = (DecodeFn)sym(lib, "kiln_decode");
  LogitsFn logits = (LogitsFn)sym(lib, "kiln_logits");
  ErrorFn last_error = (ErrorFn)sym(lib, "kiln_last_error");
  FreeFn free_model = (FreeFn)sym(lib, "kiln_free");
  char err[512];
  KilnOptions opts = {.weights_path = NULL, .n_threads = atoi(argv[2])};
  KilnModel *m = init(desc, &opts, err, sizeof err);
  if (!m) {
    fprintf(stderr, "run_shared: %s\n", err);
    return 1;
  }
  int32_t ids[256];
  int n = parse_ids(argv[3], ids, 256), rc = 0;
  if (prefill(m, ids, n) != KILN_OK) rc = 1;
  else print_logits(logits(m), desc->vocab, "prefill", -1);
  int nd = argc > 4 ? parse_ids(argv[4], ids, 256) : 0;
  for (int i = 0; i < nd && !rc; i++) {
    if (decode(m, ids[i]) != KILN_OK) rc = 1;
    else print_logits(logits(m), desc->vocab, "decode", ids[i]);
  }
  if (rc) fprintf(stderr, "run_shared: %s\n", last_error(m));
  free_model(m);
  dlclose(lib);
  return rc;
}
