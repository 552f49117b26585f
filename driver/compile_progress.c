/* compile_progress.c: progress lines on stderr. */
#include "compile_progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cp_begin(CpStep *s, bool show, uint64_t total, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->what, sizeof s->what, fmt, ap);
  va_end(ap);
  s->shown = show;
  s->tty = isatty(fileno(stderr));
  s->start = now();
  s->last_percent = -1;
  s->total = total;
  if (!show) return;
  fprintf(stderr, s->tty ? "kiln: %s ..." : "kiln: %s ...\n", s->what);
  fflush(stderr);
}

void cp_update(CpStep *s, uint64_t done) {
  if (!s->shown || !s->tty || !s->total) return;
  int pct = (int)(done * 100 / s->total);
  if (pct == s->last_percent) return;
  s->last_percent = pct;
  fprintf(stderr, "\rkiln: %s ... %d%%", s->what, pct);
  fflush(stderr);
}

void cp_end(CpStep *s, bool ok) {
  if (!s->shown) return;
  if (s->tty) fprintf(stderr, "\rkiln: %s ... ", s->what);
  else fprintf(stderr, "kiln: %s ... ", s->what);
  if (ok) fprintf(stderr, "done (%.1f s)\n", now() - s->start);
  else fprintf(stderr, "failed\n");
  fflush(stderr);
  s->shown = false;
}

const char *cp_size(uint64_t bytes, char *buf, int size) {
  static const char *const units[] = {"KB", "MB", "GB", "TB"};
  if (bytes < 1000) {
    snprintf(buf, (size_t)size, "%llu bytes", (unsigned long long)bytes);
    return buf;
  }
  double v = (double)bytes / 1000.0;
  int u = 0;
  for (; v >= 1000.0 && u < 3; u++) v /= 1000.0;
  snprintf(buf, (size_t)size, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}
