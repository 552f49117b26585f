/* compile_outputs.h: the files `kiln compile` writes, all or nothing.
 *
 * Every output is first created under a temporary name in its final
 * directory (so an unwritable directory is found before any work, and the
 * final rename cannot cross file systems), and renamed when everything
 * has succeeded. On any failure the temporaries are removed: no partial
 * artifact is left behind.
 *
 *   CoOutputs out = {0};
 *   const char *tmp = co_reserve(&out, "build/tiny", true, &d);  // build/.tiny.kiln-XXXXXX
 *   ... write tmp ...
 *   if (ok) ok = co_commit(&out, &d);   // rename every temporary to its name
 *   co_finish(&out);                   // remove what is left (all of it after a failure)
 *
 * Intermediate files that are not outputs (the object an executable is
 * linked from) go to a private scratch directory, co_scratch(), removed by
 * co_finish().
 */
#ifndef KILN_COMPILE_OUTPUTS_H
#define KILN_COMPILE_OUTPUTS_H

#include "ir.h"

#define CO_MAX_FILES 8

typedef struct {
  char *final;     /* the name it gets */
  char *tmp;       /* where it is written until then */
  bool executable; /* mode 0777 & ~umask instead of 0666 & ~umask */
  bool renamed;
} CoFile;

typedef struct {
  int n;
  CoFile files[CO_MAX_FILES];
  char *scratch; /* mkdtemp'd directory, or NULL */
} CoOutputs;

/* Creates an empty temporary file next to `final` and returns its path
 * (owned by out). NULL with "FINAL: error: cannot write the output: REASON"
 * in d when the directory is missing or not writable. */
const char *co_reserve(CoOutputs *out, const char *final, bool executable, IrDiag *d);
/* A private directory for intermediate files ($TMPDIR or /tmp). */
const char *co_scratch(CoOutputs *out, IrDiag *d);
/* Gives every temporary its final name and mode. */
bool co_commit(CoOutputs *out, IrDiag *d);
/* Removes the temporaries not renamed and the scratch directory; frees. */
void co_finish(CoOutputs *out);

#endif
