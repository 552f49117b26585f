/* compile_outputs.h: the files `kiln compile` writes, all or nothing.
 *
 * Every output is first created under a temporary name in its final
 * directory (so an unwritable directory is found before any work, and the
 * final rename cannot cross file systems), and renamed when everything
 * has succeeded. On any failure, and on SIGINT, SIGTERM or SIGHUP, the
 * temporaries are removed: no partial artifact is left behind.
 *
 *   CoOutputs out = {0};
 *   co_guard(&out);                      // clean up on a signal too
 *   const char *tmp = co_reserve(&out, "build/tiny", true, &d);  // build/.tiny.kiln-XXXXXX
 *   ... write tmp ...
 *   if (ok) ok = co_commit(&out, &d);    // rename every temporary to its name
 *   co_finish(&out);                     // remove what is left (all of it after a failure)
 *
 * Intermediate files that are not outputs (the object an executable is
 * linked from) go to a private scratch directory (co_scratch_file),
 * removed by co_finish().
 */
#ifndef KILN_COMPILE_OUTPUTS_H
#define KILN_COMPILE_OUTPUTS_H

#include <signal.h>

#include "ir.h"

#define CO_MAX_FILES 8

typedef struct {
  char *final;     /* the name it gets; NULL for a scratch file */
  char *tmp;       /* where it is written until then */
  bool executable; /* mode 0777 & ~umask instead of 0666 & ~umask */
  bool renamed;
} CoFile;

typedef struct {
  volatile sig_atomic_t n; /* files[0..n) are complete (read by the signal handler) */
  CoFile files[CO_MAX_FILES];
  char *scratch; /* mkdtemp'd directory, or NULL */
} CoOutputs;

/* Removes out's temporaries if the process is interrupted, until co_finish. */
void co_guard(CoOutputs *out);
/* Creates an empty temporary file next to `final` and returns its path
 * (owned by out). NULL with "FINAL: error: cannot write the output: REASON"
 * in d when the directory is missing or not writable, or final is a
 * directory. */
const char *co_reserve(CoOutputs *out, const char *final, bool executable, IrDiag *d);
/* The path of a file `name` in a private scratch directory ($TMPDIR or
 * /tmp), created on first use; owned by out. */
const char *co_scratch_file(CoOutputs *out, const char *name, IrDiag *d);
/* Gives every temporary its final name and mode. */
bool co_commit(CoOutputs *out, IrDiag *d);
/* Removes the temporaries not renamed and the scratch directory; frees. */
void co_finish(CoOutputs *out);

#endif
