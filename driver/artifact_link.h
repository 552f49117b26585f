/* artifact_link.h: turning a model object into an executable or a
 * library with the system's C compiler and the kiln runtime.
 *
 *   exe:    CC model.o libkiln_rt_main.a libkiln_rt.a -lm -lpthread -o NAME
 *   shared: CC -shared model.o --whole-archive libkiln_rt.a -lm -lpthread -o NAME
 *   lib:    a copy of libkiln_rt.a with model.o added (ar), so one archive
 *           holds the model and the runtime
 *
 * The compiler is --cc, else $CC, else `cc`. The runtime libraries are
 * looked up in --runtime-dir, else $KILN_RUNTIME_DIR, else the build tree
 * kiln was built in (KILN_RUNTIME_DIR, baked in by driver/CMakeLists.txt).
 * Commands run without a shell; their own messages go to stderr as they
 * come.
 */
#ifndef KILN_ARTIFACT_LINK_H
#define KILN_ARTIFACT_LINK_H

#include "ir.h"

typedef struct {
  char *cc;          /* the C compiler driver that links */
  char *ar;          /* $AR or "ar" */
  char *dir;         /* holds libkiln_rt.a and libkiln_rt_main.a */
  /* Flags the runtime libraries need at link time: the sanitizers when
   * the build tree's runtime was built with them, else "". */
  const char *link_flags;
} AlRuntime;

/* Finds the compiler and the runtime. `cc` and `dir` are the --cc and
 * --runtime-dir flags or NULL. need_main: libkiln_rt_main.a is needed too
 * (executables). Errors: "kiln compile: error: the kiln runtime library
 * 'libkiln_rt.a' is not in DIR (from --runtime-dir); build the kiln_rt
 * target or give --runtime-dir". */
bool al_find_runtime(const char *cc, const char *dir, bool need_main, AlRuntime *rt, IrDiag *d);
void al_free_runtime(AlRuntime *rt);

/* The directory holding kiln.h and kiln_abi.h (malloc'd), or NULL: the
 * runtime directory (as above), its include/, or kiln's source tree. */
char *al_find_include_dir(const char *dir);

/* Whether a target triple names another machine than this one (another
 * architecture or operating system); NULL is the host. */
bool al_is_cross(const char *triple);

bool al_link_exe(const AlRuntime *rt, const char *obj, const char *out, IrDiag *d);
bool al_link_shared(const AlRuntime *rt, const char *obj, const char *out, IrDiag *d);
bool al_make_lib(const AlRuntime *rt, const char *obj, const char *out, IrDiag *d);

/* Copies a file (kiln.h next to a generated header). */
bool al_copy_file(const char *from, const char *to, IrDiag *d);

#endif
