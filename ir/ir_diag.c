/* ir_diag.c: error reports with a location. The first error wins. */
#include <stdio.h>

#include "ir.h"

bool ir_verror(IrDiag *d, IrLoc loc, const char *fmt, va_list ap) {
  if (!d || d->failed) return false;
  int n = 0;
  if (loc.line > 0)
    n = snprintf(d->msg, sizeof d->msg, "%s:%d:%d: error: ", loc.file ? loc.file : "<input>",
                 loc.line, loc.col);
  else if (loc.file)
    n = snprintf(d->msg, sizeof d->msg, "%s: error: ", loc.file);
  else
    n = snprintf(d->msg, sizeof d->msg, "error: ");
  vsnprintf(d->msg + n, sizeof d->msg - (size_t)n, fmt, ap);
  d->failed = true;
  return false;
}

bool ir_error(IrDiag *d, IrLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(d, loc, fmt, ap);
  va_end(ap);
  return false;
}

bool ir_error_at(IrDiag *d, const char *where, const char *fmt, ...) {
  IrLoc loc = {where, 0, 0};
  va_list ap;
  va_start(ap, fmt);
  ir_verror(d, loc, fmt, ap);
  va_end(ap);
  return false;
}
