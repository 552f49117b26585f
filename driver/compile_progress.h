/* compile_progress.h: progress lines of `kiln compile` on stderr.
 *
 *   kiln: packing weights 1.2 GB ... 45%      (updated in place on a tty)
 *   kiln: packing weights 1.2 GB ... done (2.1 s)
 *
 * Not on a tty, a step prints its start line and its end line, nothing in
 * between. Steps of small models print nothing unless asked (-v): they
 * take no more than a moment.
 */
#ifndef KILN_COMPILE_PROGRESS_H
#define KILN_COMPILE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  char what[160];   /* "packing weights 1.2 GB" */
  bool shown, tty;
  double start;     /* seconds, CLOCK_MONOTONIC */
  int last_percent; /* last one printed, -1 before any */
  uint64_t total;   /* units of the step, for percentages; 0: none */
} CpStep;

/* Starts a step; prints its line when `show`. */
void cp_begin(CpStep *s, bool show, uint64_t total, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* done of total units are done: the percentage, on a tty. */
void cp_update(CpStep *s, uint64_t done);
/* Ends the step: "... done (1.2 s)", or "... failed". */
void cp_end(CpStep *s, bool ok);

/* "1.2 GB", "340 MB", "56 KB", "12 bytes" into buf; returns buf. */
const char *cp_size(uint64_t bytes, char *buf, int size);

#endif
