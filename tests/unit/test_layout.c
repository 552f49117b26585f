/* test_layout.c: weight layouts of params (IrLayout): where an element is
 * stored (ir_layout_offset/numel), the text form (parse <-> print), and the
 * verifier's and parser's errors, with their exact messages. */
#include <stdlib.h>

#include "check.h"
#include "ir.h"

static IrType mat(IrDType dt, int64_t r, int64_t c) {
  return (IrType){.dtype = dt, .rank = 2, .dims = {ir_dim_const(r), ir_dim_const(c)}};
}

/* Every logical (r, c) maps to a distinct slot inside numel, and the slot
 * follows the documented formula: panels of W along `axis`, each stored
 * [other][W]. */
static void check_offsets(int64_t rows, int64_t cols, int axis, int w) {
  IrType t = mat(IR_F32, rows, cols);
  IrLayout l = {.panel = w, .axis = axis};
  int64_t numel = ir_layout_numel(&l, &t);
  int64_t along = axis == 0 ? rows : cols, other = axis == 0 ? cols : rows;
  CHECK(numel == (along + w - 1) / w * w * other);
  char *seen = calloc((size_t)numel, 1);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      int64_t i = axis == 0 ? r : c, o = axis == 0 ? c : r;
      int64_t off = ir_layout_offset(&l, &t, r, c);
      CHECK(off == (i / w) * other * w + o * w + i % w);
      CHECK(off >= 0 && off < numel && !seen[off]);
      if (off >= 0 && off < numel) seen[off] = 1;
    }
  free(seen);
}

static void test_offsets(void) {
  check_offsets(10, 4, 0, 4);  /* 3 panels, the last padded by 2 */
  check_offsets(10, 4, 1, 3);  /* 2 panels along columns */
  check_offsets(5, 7, 0, 32);  /* one panel wider than the dim */
  check_offsets(64, 8, 1, 8);  /* exact */
  IrType t = mat(IR_F32, 3, 5);
  IrLayout rm = {0};
  CHECK(ir_layout_offset(&rm, &t, 2, 4) == 14);
  CHECK(ir_layout_numel(&rm, &t) == 15);
  /* The worked example of docs/ir.md: f32[10, 4], axis 0, width 4:
   * element (5, 2) is in panel 1, at 1*4*4 + 2*4 + 1. */
  IrLayout l = {.panel = 4, .axis = 0};
  CHECK(ir_layout_offset(&l, &(IrType){.rank = 2, .dims = {ir_dim_const(10), ir_dim_const(4)}},
                         5, 2) == 25);
}

static char *print_text(const IrModule *m) {
  IrBuf b = {0};
  ir_print_module(&b, m);
  return b.data;
}

static void test_round_trip(void) {
  const char *text =
      "module @m {\n"
      "  sym T <= 16\n"
      "  param @w : f32[10, 4] layout(panels, axis = 0, width = 4)\n"
      "  param @v : bf16[4, 6] layout(panels, axis = 1, width = 32)\n"
      "  param @b : f32[4] = [1.0, 2.0, 3.0, 4.0]\n"
      "\n"
      "  func @f(%x: f32[T, 4]) -> f32[T, 10] {\n"
      "    %y = matmul(%x, @w) {transpose_b} : f32[T, 10]\n"
      "    return %y\n"
      "  }\n"
      "}\n";
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), "t.kir", &d);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(ir_verify(m, &d));
  CHECK(m->params[0]->layout.panel == 4 && m->params[0]->layout.axis == 0);
  CHECK(m->params[1]->layout.panel == 32 && m->params[1]->layout.axis == 1);
  CHECK(m->params[2]->layout.panel == 0);
  char *out = print_text(m);
  CHECK(out && strcmp(out, text) == 0);
  free(out);
  ir_module_free(m);
}

/* Parses and verifies `param @w : DECL` and checks the first error. */
static void check_error(const char *decl, const char *want) {
  char text[512];
  snprintf(text, sizeof text, "module @m {\n  param @w : %s\n}\n", decl);
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), "t.kir", &d);
  if (m) {
    CHECK(!ir_verify(m, &d));
    ir_module_free(m);
  }
  CHECK(d.failed);
  if (strcmp(d.msg, want) != 0) {
    fprintf(stderr, "for '%s'\n  got:  %s\n  want: %s\n", decl, d.msg, want);
    CHECK(!"message");
  }
}

static void test_text_errors(void) {
  check_error("f32[10, 4] layout(panels, axis = 2, width = 4)",
              "t.kir:2:3: error: param @w: layout axis 2, expected 0 or 1");
  check_error("f32[10, 4] layout(panels, axis = -1, width = 4)",
              "t.kir:2:3: error: param @w: layout axis -1, expected 0 or 1");
  check_error("f32[10, 4] layout(panels, axis = 0, width = 0)",
              "t.kir:2:58: error: layout width 0, expected a width >= 1");
  check_error("f32[10, 4] layout(panels, axis = 0, width = 4294967296)",
              "t.kir:2:58: error: layout width 4294967296 is out of range");
  check_error("f32[10] layout(panels, axis = 0, width = 4)",
              "t.kir:2:3: error: param @w has type f32[10]; a layout needs a 2-D param");
  check_error("i4[10, 4] layout(panels, axis = 0, width = 4)",
              "t.kir:2:3: error: param @w has type i4[10, 4]; i4 params cannot have a layout");
  check_error("f32[10, 4] layout(rows, axis = 0, width = 4)",
              "t.kir:2:32: error: expected a layout kind ('panels'), found 'rows'");
  check_error("f32[10, 4] layout(panels, width = 4, axis = 0)",
              "t.kir:2:40: error: expected 'axis', found 'width'");
  check_error("f32[10, 4] layout panels",
              "t.kir:2:32: error: expected '(', found 'panels'");
  check_error("f32[10, 4] layout(panels, axis = 0, width = 4",
              "t.kir:3:1: error: expected ')', found '}'");
}

/* Modules built through the API carry no locations. */
static void check_api_error(IrType t, IrLayout l, bool init, const char *want) {
  IrModule *m = ir_module_new("m");
  IrValue *w = ir_module_add_param(m, "w", t);
  w->layout = l;
  if (init) {
    w->ninit = ir_type_const_numel(&t);
    w->init = ir_arena_alloc(&m->arena, sizeof(double) * (size_t)w->ninit);
  }
  IrDiag d = {0};
  CHECK(!ir_verify(m, &d));
  CHECK(strcmp(d.msg, want) == 0);
  if (strcmp(d.msg, want) != 0) fprintf(stderr, "  got:  %s\n  want: %s\n", d.msg, want);
  ir_module_free(m);
}

static void test_api_errors(void) {
  check_api_error(mat(IR_F32, 4, 4), (IrLayout){.panel = -2}, false,
                  "error: param @w: layout width -2, expected a width >= 1");
  check_api_error(mat(IR_F32, 4, 4), (IrLayout){.panel = 0, .axis = 1}, false,
                  "error: param @w: layout width 0, expected a width >= 1");
  check_api_error(mat(IR_F32, (INT64_C(1) << 40) + 1, 1 << 20), (IrLayout){.panel = 1 << 30},
                  false,
                  "error: param @w: layout width 1073741824 pads f32[1099511627777, 1048576] "
                  "beyond 2^60 elements");
  IrModule *m = ir_module_new("m");
  IrValue *s = ir_module_add_state(m, "kc", mat(IR_F32, 4, 4));
  s->layout = (IrLayout){.panel = 4};
  IrDiag d = {0};
  CHECK(!ir_verify(m, &d));
  CHECK(strcmp(d.msg, "error: state @kc has a layout; only params have one") == 0);
  ir_module_free(m);
}

int main(void) {
  test_offsets();
  test_round_trip();
  test_text_errors();
  test_api_errors();
  return check_report();
}
