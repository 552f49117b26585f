/* pass_registry.c: every pass of kiln, in one list, and the default
 * pipeline. A new pass adds one line here (and its file, and a section
 * in docs/passes.md); the name is what --pass, the dumps and the timing
 * report use. */
#include <string.h>

#include "pass.h"

static const PassInfo passes[] = {
    {"canonicalize", "local rewrites to a canonical form (reshape chains, identities, x+0)",
     pass_canonicalize},
    {"fold", "constant folding of ops whose operands are all splat constants", pass_fold},
    {"cse", "common subexpression elimination: merges identical pure ops", pass_cse},
    {"dce", "dead code elimination: removes ops whose results are unused", pass_dce},
    {"attention", "fuses matmul-scale-mask-softmax-matmul into one attention op", pass_attention},
};

/* The default optimization pipeline (`kiln opt -O`), in the order it runs.
 * canonicalize runs again after fold because folding exposes x+0 and
 * reshape chains; cse before dce so the merged-away ops' operands die. */
static const char default_pipeline[] = "canonicalize,fold,canonicalize,cse,dce,attention,canonicalize,cse,dce";

int pass_registry_count(void) { return (int)(sizeof passes / sizeof passes[0]); }

const PassInfo *pass_registry_at(int i) {
  return i >= 0 && i < pass_registry_count() ? &passes[i] : NULL;
}

const PassInfo *pass_lookup(const char *s, size_t n) {
  for (int i = 0; i < pass_registry_count(); i++)
    if (strlen(passes[i].name) == n && memcmp(passes[i].name, s, n) == 0) return &passes[i];
  return NULL;
}

void pass_list_names(IrBuf *b) {
  for (int i = 0; i < pass_registry_count(); i++)
    ir_buf_printf(b, "%s%s", i ? ", " : "", passes[i].name);
}

const char *pass_default_pipeline(void) { return default_pipeline; }
