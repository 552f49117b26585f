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
    {"fuse", "fuses elementwise chains into one op and into matmul epilogues", pass_fuse},
    {"attention-split", "splits decode attention into KV chunks and a merge",
     pass_attention_split},
    {"pack-weights", "stores matmul weights in the micro-kernel's panel layout",
     pass_pack_weights},
};

/* The default optimization pipeline (`kiln opt -O`), in the order it runs.
 * canonicalize runs again after fold because folding exposes x+0 and
 * reshape chains; cse before dce so the merged-away ops' operands die.
 * attention-split rewrites the attention ops that `attention` made; fuse
 * runs on the cleaned-up graph (after attention, which matches plain
 * matmuls); pack-weights last, once every matmul has its final form. */
static const char default_pipeline[] =
    "canonicalize,fold,canonicalize,cse,dce,attention,attention-split,canonicalize,cse,dce,fuse,"
    "pack-weights";

/* The testing passes (pass_testing.c) come after the real ones, only
 * once enabled. */
static bool testing_enabled;

void pass_registry_enable_testing(void) { testing_enabled = true; }

static int real_count(void) { return (int)(sizeof passes / sizeof passes[0]); }

int pass_registry_count(void) {
  return real_count() + (testing_enabled ? pass_testing_count() : 0);
}

const PassInfo *pass_registry_at(int i) {
  if (i < 0 || i >= pass_registry_count()) return NULL;
  return i < real_count() ? &passes[i] : pass_testing_at(i - real_count());
}

const PassInfo *pass_lookup(const char *s, size_t n) {
  for (int i = 0; i < pass_registry_count(); i++) {
    const PassInfo *p = pass_registry_at(i);
    if (strlen(p->name) == n && memcmp(p->name, s, n) == 0) return p;
  }
  return NULL;
}

void pass_list_names(IrBuf *b) {
  for (int i = 0; i < pass_registry_count(); i++)
    ir_buf_printf(b, "%s%s", i ? ", " : "", pass_registry_at(i)->name);
}

const char *pass_default_pipeline(void) { return default_pipeline; }
