/* fuzz_ir_parser.c: libFuzzer target for the IR text form.
 *
 * Any bytes: ir_parse must not crash, hang or leak. When they parse, the
 * printed form must parse again and print identically (the printer's
 * output is a fixed point), and the verifier must not crash on the module.
 *
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang-19 -DKILN_FUZZ=ON -DKILN_SANITIZE=ON
 *   build-fuzz/tests/fuzz_ir_parser -max_total_time=60 tests/fuzz/corpus/fuzz_ir_parser
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static void fail(const char *what, const IrBuf *text, const char *msg) {
  fprintf(stderr, "fuzz_ir_parser: %s\n", what);
  if (msg) fprintf(stderr, "%s\n", msg);
  if (text) fprintf(stderr, "--- printed ---\n%.*s--- end ---\n", (int)text->len, text->data);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  IrDiag d = {0};
  IrModule *m = ir_parse((const char *)data, size, "fuzz.kir", &d);
  if (!m) {
    if (!d.failed || !d.msg[0]) fail("ir_parse failed without a message", NULL, NULL);
    return 0;
  }
  IrBuf first = {0}, second = {0};
  ir_print_module(&first, m);

  IrDiag d2 = {0};
  IrModule *again = ir_parse(first.data, first.len, "printed.kir", &d2);
  if (!again) fail("the printed module does not parse", &first, d2.msg);
  ir_print_module(&second, again);
  if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0)
    fail("printing is not a fixed point", &first, second.data);

  IrDiag dv = {0};
  ir_verify(m, &dv); /* may fail; must not crash */

  ir_buf_free(&first);
  ir_buf_free(&second);
  ir_module_free(again);
  ir_module_free(m);
  return 0;
}
