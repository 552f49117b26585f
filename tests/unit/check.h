/* check.h: a tiny self-checking test harness.
 *
 *   CHECK(x == 3);                 // fails with file:line and the text
 *   CHECK_NEAR(got, 1.5, 1e-6);    // absolute tolerance
 *   CHECK_STR_CONTAINS(d.msg, "expected ']'");
 *   return check_report();         // at the end of main
 */
#ifndef KILN_CHECK_H
#define KILN_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                             \
  do {                                                                          \
    check_count++;                                                              \
    if (!(cond)) {                                                              \
      check_failures++;                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                           \
  } while (0)

#define CHECK_NEAR(got, want, tol)                                                     \
  do {                                                                                 \
    double g_ = (got), w_ = (want);                                                    \
    check_count++;                                                                     \
    if (!(fabs(g_ - w_) <= (tol)) && !(isinf(g_) && isinf(w_) && (g_ > 0) == (w_ > 0))) { \
      check_failures++;                                                                \
      fprintf(stderr, "%s:%d: %s = %.9g, want %.9g (tol %g)\n", __FILE__, __LINE__, #got, \
              g_, w_, (double)(tol));                                                  \
    }                                                                                  \
  } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                 \
  do {                                                                                  \
    check_count++;                                                                      \
    if (!strstr((hay), (needle))) {                                                     \
      check_failures++;                                                                 \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, (hay), \
              (needle));                                                                \
    }                                                                                   \
  } while (0)

static inline int check_report(void) {
  if (check_failures) {
    fprintf(stderr, "%d of %d checks failed\n", check_failures, check_count);
    return 1;
  }
  printf("%d checks passed\n", check_count);
  return 0;
}

#endif
