/* ir_arena.c: bump allocator that owns all IR and compile-time data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

struct IrArenaBlock {
  IrArenaBlock *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

enum { ARENA_BLOCK = 64 * 1024 };

/* Out of memory is the one condition we do not report: there is nothing
 * sensible left to do, and every caller would have to handle it. */
static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "kiln: out of memory (%zu bytes)\n", n);
    abort();
  }
  return p;
}

void *ir_arena_alloc(IrArena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  IrArenaBlock *b = a->head;
  if (!b || b->used + size > b->cap) {
    size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
    b = xmalloc(sizeof *b + cap);
    b->used = 0;
    b->cap = cap;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  a->bytes += size;
  memset(p, 0, size);
  return p;
}

char *ir_arena_strndup(IrArena *a, const char *s, size_t n) {
  char *p = ir_arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *ir_arena_strdup(IrArena *a, const char *s) { return ir_arena_strndup(a, s, strlen(s)); }

char *ir_arena_printf(IrArena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = ir_arena_alloc(a, (size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return p;
}

void ir_arena_free(IrArena *a) {
  for (IrArenaBlock *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  a->head = NULL;
  a->bytes = 0;
}
