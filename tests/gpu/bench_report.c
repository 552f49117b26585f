/* bench_report.c: the peak table, the JSON and markdown output, timers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* Data-sheet figures (dense, no sparsity). bf16: tensor cores with f32
 * accumulation; f32: the CUDA cores' FMA rate, what kiln's kernels (no
 * tensor cores yet) can reach at most. More specific names first. */
static const BenchPeak peaks[] = {
    {"H200", 989, 67, 4800},
    {"H100 PCIe", 756, 51, 2000},
    {"H100 NVL", 835, 60, 3900},
    {"H100", 989, 67, 3350},
    {"GH200", 989, 67, 4000},
    {"B200", 2250, 80, 8000},
    {"A100-SXM4-80GB", 312, 19.5, 2039},
    {"A100 80GB PCIe", 312, 19.5, 1935},
    {"A100", 312, 19.5, 1555},
    {"L40S", 362, 91.6, 864},
    {"L4", 121, 30.3, 300},
    {"A10G", 70, 31.2, 600},
    {"A10", 125, 31.2, 600},
    {"RTX 4090", 165, 82.6, 1008},
};

const BenchPeak *bench_peak(const char *device) {
  for (size_t i = 0; i < sizeof peaks / sizeof peaks[0]; i++)
    if (strstr(device, peaks[i].match)) return &peaks[i];
  return NULL;
}

static void append(IrBuf *b, const char *fmt, va_list ap) {
  char small[1024];
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  if (n < (int)sizeof small) {
    ir_buf_printf(b, "%s", small);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) abort();
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  ir_buf_printf(b, "%s", big);
  free(big);
}

void rep_json(Report *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  append(&r->json, fmt, ap);
  va_end(ap);
}

void rep_md(Report *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  append(&r->md, fmt, ap);
  va_end(ap);
}

void rep_str(IrBuf *b, const char *s) {
  ir_buf_printf(b, "\"");
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      ir_buf_printf(b, "\\%c", c);
    else if (c < 0x20)
      ir_buf_printf(b, "\\u%04x", c);
    else
      ir_buf_printf(b, "%c", c);
  }
  ir_buf_printf(b, "\"");
}

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
  if (n <= 0) return 0;
  qsort(v, (size_t)n, sizeof v[0], by_value);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
