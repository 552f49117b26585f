/* ir_buf.c: growable text buffer for the printer and the driver. */
#include <stdio.h>
#include <stdlib.h>

#include "ir.h"

void ir_buf_printf(IrBuf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap - b->len <= (size_t)n) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    b->data = p;
    b->cap = cap;
  }
}

void ir_buf_free(IrBuf *b) {
  free(b->data);
  *b = (IrBuf){0};
}
