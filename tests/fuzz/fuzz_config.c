/* fuzz_config.c: libFuzzer target for the config readers.
 *
 * Any bytes: fe_read_config (Hugging Face config.json or kiln graph JSON)
 * must not crash, hang or leak, and a failure always says where. A config
 * that reads must validate again, have a parameter count that fits in
 * int64, and, when small, build into a module that verifies: whatever the
 * reader accepts, the builder can build.
 *
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang-19 -DKILN_FUZZ=ON -DKILN_SANITIZE=ON
 *   build-fuzz/tests/fuzz_config -max_total_time=60 tests/fuzz/corpus/fuzz_config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_json.h"

static void fail(const char *what, const char *msg) {
  fprintf(stderr, "fuzz_config: %s\n", what);
  if (msg) fprintf(stderr, "%s\n", msg);
  abort();
}

/* Small enough to build in a fuzz iteration. */
static bool small(const FeModel *fm, int64_t params) {
  return params <= (1 << 20) && fm->layers <= 4 && fm->experts <= 8 && fm->heads <= 64;
}

static void check_accepted(const FeModel *fm) {
  IrDiag d = {0};
  if (!fe_model_validate(fm, "fuzz", &d)) fail("an accepted config does not validate", d.msg);
  int64_t params;
  if (!fe_model_param_count(fm, &params)) fail("an accepted config overflows", NULL);
  if (!small(fm, params)) return;
  FeBuildOptions opt = {.max_context = fm->max_pos < 8 ? fm->max_pos : 8};
  IrModule *m = fe_build_module(fm, NULL, &opt, &d);
  /* The builder alone knows its state names: a weight named like the KV
   * cache (kv.0.k) is its error to report. */
  if (!m && strstr(d.msg, "taken by the KV cache")) return;
  if (!m) fail("an accepted config does not build", d.msg);
  IrParamStats ps;
  ir_param_stats(m, &ps);
  if (ps.count != params) fail("the built module's parameter count differs from the formula", NULL);
  ir_module_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  IrArena arena = {0};
  FeModel fm;
  IrDiag d = {0};
  if (fe_read_config((const char *)data, size, "fuzz.json", &arena, &fm, &d))
    check_accepted(&fm);
  else if (!d.failed || strncmp(d.msg, "fuzz.json", 9) != 0)
    fail("a rejected config has no message naming the file", d.msg);
  ir_arena_free(&arena);
  return 0;
}
