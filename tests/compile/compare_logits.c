/* compare_logits.c: what the `kiln compile` tests need from golden.json,
 * and number-by-number comparison, so the shell tests need no Python.
 *
 *   compare_logits prompt GOLDEN.json       1,37,45,6,30,11,48
 *   compare_logits greedy GOLDEN.json       10 26 54 ... (the 16 greedy ids)
 *   compare_logits decode-tokens GOLDEN.json 10,26,54 (the decode steps' tokens)
 *   compare_logits expect GOLDEN.json       the last prefill row, then each decode
 *                                           step's logits, in use_obj's format
 *   compare_logits values A B TOL           the numbers of A and B (lines starting
 *                                           with "//" skipped) agree within TOL
 *
 * `values` prints the largest difference and exits 1 on a mismatch or a
 * different count.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "compare_logits: cannot open %s\n", path);
    exit(2);
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (!buf) exit(2);
  buf[n] = '\0';
  return buf;
}

static cJSON *load_golden(const char *path) {
  char *text = read_all(path);
  cJSON *j = cJSON_Parse(text);
  free(text);
  if (!j) {
    fprintf(stderr, "compare_logits: %s is not JSON\n", path);
    exit(2);
  }
  return j;
}

static cJSON *field(const cJSON *obj, const char *name) {
  cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!f) {
    fprintf(stderr, "compare_logits: no \"%s\" in golden.json\n", name);
    exit(2);
  }
  return f;
}

static void print_ints(const cJSON *arr, const char *sep) {
  int i = 0;
  for (const cJSON *e = arr->child; e; e = e->next) printf("%s%d", i++ ? sep : "", e->valueint);
  printf("\n");
}

static void print_row(const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) printf("%.9g\n", e->valuedouble);
}

/* The last prefill row, then every decode step, as use_obj prints them. */
static void print_expected(const cJSON *g) {
  const cJSON *rows = field(g, "prefill_logits");
  printf("// prefill\n");
  print_row(cJSON_GetArrayItem(rows, cJSON_GetArraySize(rows) - 1));
  for (const cJSON *step = field(g, "decode")->child; step; step = step->next) {
    printf("// decode %d\n", field(step, "token")->valueint);
    print_row(field(step, "logits"));
  }
}

static void print_decode_tokens(const cJSON *g) {
  int i = 0;
  for (const cJSON *step = field(g, "decode")->child; step; step = step->next)
    printf("%s%d", i++ ? "," : "", field(step, "token")->valueint);
  printf("\n");
}

/* The numbers of a file, skipping "//" lines; *n of them. */
static double *numbers(const char *path, int *n) {
  char *text = read_all(path);
  int cap = 1024;
  double *v = malloc((size_t)cap * sizeof *v);
  *n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "//", 2) == 0) continue;
    for (char *p = line, *end;; p = end) {
      double x = strtod(p, &end);
      if (end == p) break;
      if (*n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
      v[(*n)++] = x;
    }
  }
  free(text);
  return v;
}

static int compare(const char *a_path, const char *b_path, double tol) {
  int na, nb;
  double *a = numbers(a_path, &na), *b = numbers(b_path, &nb);
  int rc = 0;
  if (na != nb || na == 0) {
    printf("compare_logits: %s has %d numbers, %s has %d\n", a_path, na, b_path, nb);
    rc = 1;
  }
  double worst = 0;
  int at = -1;
  for (int i = 0; i < na && i < nb; i++) {
    double diff = fabs(a[i] - b[i]);
    if (!(diff <= worst)) worst = diff, at = i; /* NaN counts as the worst */
  }
  if (!(worst <= tol)) rc = 1;
  printf("compare_logits: %d values, max abs diff %.3g (at %d: %.9g vs %.9g), tolerance %g: %s\n",
         na < nb ? na : nb, worst, at, at >= 0 ? a[at] : 0.0, at >= 0 ? b[at] : 0.0, tol,
         rc ? "FAIL" : "ok");
  free(a);
  free(b);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "values")) return compare(argv[2], argv[3], atof(argv[4]));
  if (argc != 3) {
    fprintf(stderr, "usage: compare_logits prompt|greedy|decode-tokens|expect GOLDEN.json\n"
                    "       compare_logits values A B TOL\n");
    return 2;
  }
  cJSON *g = load_golden(argv[2]);
  if (!strcmp(argv[1], "prompt")) print_ints(field(g, "prompt"), ",");
  else if (!strcmp(argv[1], "greedy")) print_ints(field(g, "greedy"), " ");
  else if (!strcmp(argv[1], "decode-tokens")) print_decode_tokens(g);
  else if (!strcmp(argv[1], "expect")) print_expected(g);
  else {
    fprintf(stderr, "compare_logits: unknown mode '%s'\n", argv[1]);
    return 2;
  }
  cJSON_Delete(g);
  return 0;
}
