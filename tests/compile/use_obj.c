/* use_obj.c: a small program linked with a model that `kiln compile
 * --emit=obj` (or lib) produced, as a user would link one: it includes the
 * generated header and calls the runtime's API (kiln.h).
 *
 *   cc -DMODEL_HEADER='"tiny.h"' use_obj.c tiny.o libkiln_rt.a -lm -lpthread
 *   ./use_obj WEIGHTS PROMPT [DECODE]     WEIGHTS "-": the embedded weights
 *
 * Prints "// prefill" and the logits after PROMPT (ids separated by
 * commas), then for each id of DECODE "// decode ID" and the logits after
 * decoding it; one value a line (%.9g). MODEL_SYMBOL names the model's
 * KilnModelDesc (default kiln_model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include MODEL_HEADER

#ifndef MODEL_SYMBOL
#define MODEL_SYMBOL kiln_model
#endif

static int parse_ids(const char *s, int32_t *ids, int max) {
  int n = 0;
  for (char *end; *s && n < max; s = *end ? end + 1 : end) ids[n++] = (int32_t)strtol(s, &end, 10);
  return n;
}

static void print_logits(const KilnModel *m, const char *what, int token) {
  if (token >= 0) printf("// %s %d\n", what, token);
  else printf("// %s\n", what);
  const float *l = kiln_logits(m);
  for (int64_t i = 0; i < kiln_desc(m)->vocab; i++) printf("%.9g\n", (double)l[i]);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: use_obj WEIGHTS|- PROMPT [DECODE]\n");
    return 2;
  }
  char err[512];
  KilnOptions opts = {.weights_path = strcmp(argv[1], "-") ? argv[1] : NULL, .n_threads = 2};
  KilnModel *m = kiln_init(&MODEL_SYMBOL, &opts, err, sizeof err);
  if (!m) {
    fprintf(stderr, "use_obj: %s\n", err);
    return 1;
  }
  int32_t ids[256];
  int n = parse_ids(argv[2], ids, 256), rc = 0;
  if (kiln_prefill(m, ids, n) != KILN_OK) rc = 1;
  else print_logits(m, "prefill", -1);
  int nd = argc > 3 ? parse_ids(argv[3], ids, 256) : 0;
  for (int i = 0; i < nd && !rc; i++) {
    if (kiln_decode(m, ids[i]) != KILN_OK) rc = 1;
    else print_logits(m, "decode", ids[i]);
  }
  if (rc) fprintf(stderr, "use_obj: %s\n", kiln_last_error(m));
  kiln_free(m);
  return rc;
}
