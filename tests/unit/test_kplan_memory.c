/* test_kplan_memory.c: memory planning (passes/kplan_memory.c).
 *
 * Every plan is checked by an oracle that knows nothing of the planner:
 * live ranges straight from the ops and the kernel order, then every pair
 * of arena values of an entry by brute force: two values live in the same
 * kernel step never share a byte, except an in-place pair the rule allows
 * (an operand dying in a one-op elementwise kernel and that kernel's
 * result, same dims and element size, at the same offset). Then:
 *
 *  1. hand-built modules with the exact offsets and arena the rule gives
 *     (sizes at the symbol bounds), with and without in-place reuse;
 *  2. in place refused where it is illegal: broadcast operands, operands
 *     read later, other element sizes, matmul/transpose/norms, fused
 *     kernels; kernels that do not cover the ops are an error;
 *  3. every tiny model (tests/data/tiny, frontend-built, with and without
 *     the graph passes): the oracle, lower bound <= arena <= naive sum,
 *     the same offsets from an independently built second module and from
 *     planning twice; the tiny llama's arena well under the naive sum;
 *  4. a prefill of 8192 tokens: after the graph passes (the attention
 *     rewrite), no arena buffer grows with T x P;
 *  5. with LLVM: that prefill compiled and run, giving the trivial arena's
 *     logits bit for bit in a fraction of its bytes; every tiny model after
 *     the graph passes compiled from its planned plan against the
 *     interpreter (the codegen harness, every schedule).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>

#include "check.h"
#include "fe.h"
#include "kernel_plan.h"
#include "kplan_memory.h"
#include "pass.h"

#if KILN_HAVE_LLVM
/* The codegen harness with every plan it builds memory-planned (unless
 * plan_off): its cgt_compile calls kplan_build, which here is
 * planned_build. */
static bool plan_off;

static KernelPlan *planned_build(IrModule *m, IrDiag *d) {
  KernelPlan *p = kplan_build(m, d);
  if (p && !plan_off && !kplan_plan_memory(p, &(KMemoryOptions){.in_place = true}, NULL, d)) {
    kplan_free(p);
    return NULL;
  }
  return p;
}
#define kplan_build planned_build
#include "test_codegen_util.h"
#include "test_checkpoint.h"
#undef kplan_build
#endif

/* ---- the oracle ------------------------------------------------------------ */

typedef struct {
  const IrValue *v;
  const KBuffer *b;
  int start, end; /* kernels, both included */
  int group;      /* values that are views of one another share a group */
  int group_end;  /* the last kernel any value of the group is read in */
} Live;

static int *kernel_of_ops(const KEntryPlan *e) {
  int *k = calloc((size_t)e->func->nops + 1, sizeof *k);
  for (int i = 0; i < e->nkernels; i++)
    for (int j = 0; j < e->kernels[i].nops; j++) k[e->kernels[i].first_op + j] = i;
  return k;
}

/* The entry's arena values with their live ranges; *n of them. */
static Live *live_values(const KernelPlan *p, const KEntryPlan *e, int *n) {
  const IrFunc *f = e->func;
  int *kern = kernel_of_ops(e), cap = 0;
  for (int i = 0; i < f->nops; i++) cap += f->ops[i]->nout;
  Live *lv = calloc((size_t)cap + 1, sizeof *lv);
  *n = 0;
  for (int i = 0; i < f->nops; i++)
    for (int j = 0; j < f->ops[i]->nout; j++) {
      const KBuffer *b = kplan_buffer(p, f->ops[i]->out[j]);
      if (b->kind != KBUF_ARENA) continue;
      Live l = {f->ops[i]->out[j], b, kern[i], kern[i], 0, 0};
      for (int u = i + 1; u < f->nops; u++)
        for (int k = 0; k < f->ops[u]->nin; k++)
          if (f->ops[u]->in[k] == l.v && kern[u] > l.end) l.end = kern[u];
      lv[(*n)++] = l;
    }
  free(kern);
  /* a one-op reshape kernel at its operand's offset is a view of it */
  for (int j = 0; j < *n; j++) {
    lv[j].group = j;
    const KKernel *kk = &e->kernels[lv[j].start];
    const IrOp *op = f->ops[kk->first_op];
    if (kk->nops != 1 || op->kind != IR_OP_RESHAPE) continue;
    for (int i = 0; i < j; i++)
      if (lv[i].v == op->in[0] && lv[i].b->offset == lv[j].b->offset) lv[j].group = lv[i].group;
  }
  for (int j = 0; j < *n; j++) lv[j].group_end = lv[j].end;
  for (int j = 0; j < *n; j++)
    if (lv[j].end > lv[lv[j].group].group_end) lv[lv[j].group].group_end = lv[j].end;
  for (int j = 0; j < *n; j++) lv[j].group_end = lv[lv[j].group].group_end;
  return lv;
}

/* x dies in kernel k (with every view of it), y is written there by a
 * lone op reading x only at the index it writes (an elementwise or fused
 * op; a matmul's epilogue operand that is neither a nor b) and no view of
 * x elsewhere, with x's dims and element size, at x's offset. Or x and y
 * are views of one another. */
static int group_of(const Live *lv, int n, const IrValue *v) {
  for (int i = 0; i < n; i++)
    if (lv[i].v == v) return lv[i].group;
  return -1;
}

static bool legal_in_place(const KEntryPlan *e, const Live *lv, int n, const Live *x,
                           const Live *y) {
  if (x->group == y->group) return true;
  if (x->start > y->start) return legal_in_place(e, lv, n, y, x);
  const KKernel *kk = &e->kernels[y->start];
  const IrOp *op = e->func->ops[kk->first_op];
  bool pointwise = (ir_op_spec(op->kind)->flags & IR_OPF_ELEMENTWISE) || op->kind == IR_OP_FUSED;
  bool reads_x = false, reads_x_elsewhere = false;
  for (int i = 0; i < op->nin; i++) {
    if (group_of(lv, n, op->in[i]) != x->group) continue;
    reads_x = true;
    bool at_index = pointwise || (op->kind == IR_OP_MATMUL && i >= 2);
    if (!at_index || !ir_shape_eq(&op->in[i]->type, &y->v->type)) reads_x_elsewhere = true;
  }
  int bits = ir_dtype_bits(x->v->type.dtype);
  return x->group_end == y->start && kk->nops == 1 && !reads_x_elsewhere && op->out[0] == y->v &&
         reads_x && bits >= 8 && bits == ir_dtype_bits(y->v->type.dtype) &&
         x->b->offset == y->b->offset;
}

static bool bytes_overlap(const KBuffer *a, const KBuffer *b) {
  return a->max_bytes && b->max_bytes && a->offset < b->offset + b->max_bytes &&
         b->offset < a->offset + a->max_bytes;
}

/* Checks every pair of every entry; returns the in-place pairs found. */
static int check_plan(const KernelPlan *p, const char *what) {
  int pairs = 0;
  for (int e = 0; e < p->nentries; e++) {
    const KEntryPlan *ep = &p->entries[e];
    int n;
    Live *lv = live_values(p, ep, &n);
    for (int i = 0; i < n; i++) {
      CHECK(lv[i].b->offset % 64 == 0);
      CHECK(lv[i].b->offset + lv[i].b->max_bytes <= p->arena_bytes);
      for (int j = i + 1; j < n; j++) {
        bool same_time = lv[i].start <= lv[j].end && lv[j].start <= lv[i].end;
        if (!same_time || !bytes_overlap(lv[i].b, lv[j].b)) continue;
        bool legal = legal_in_place(ep, lv, n, &lv[i], &lv[j]);
        pairs += legal && lv[i].group != lv[j].group; /* views are not in place */
        check_count++;
        if (legal) continue;
        check_failures++;
        fprintf(stderr, "%s: @%s: %%%s (kernels %d..%d, +%" PRIu64 ") and %%%s (kernels %d..%d, +%"
                PRIu64 ") share bytes\n", what, ep->func->name, lv[i].v->name, lv[i].start,
                lv[i].end, lv[i].b->offset, lv[j].v->name, lv[j].start, lv[j].end, lv[j].b->offset);
      }
    }
    free(lv);
  }
  return pairs;
}

/* ---- hand-built modules --------------------------------------------------- */

static KernelPlan *plan_text(const char *src, IrModule **m) {
  IrDiag d = {0};
  *m = ir_parse(src, strlen(src), "t.kir", &d);
  KernelPlan *p = *m && ir_verify(*m, &d) ? kplan_build(*m, &d) : NULL;
  if (!p) fprintf(stderr, "t.kir: %s\n", d.msg);
  CHECK(p != NULL);
  return p;
}

static uint64_t offset_of(const KernelPlan *p, const IrModule *m, const char *func,
                          const char *name) {
  const IrFunc *f = ir_module_find_func(m, func);
  const IrValue *v = f ? ir_func_find_value(f, name, strlen(name)) : NULL;
  CHECK(v != NULL && kplan_buffer(p, v)->kind == KBUF_ARENA);
  return v ? kplan_buffer(p, v)->offset : UINT64_MAX;
}

/* f32[T, 4] with T <= 8: 128 bytes. */
static const char *CHAIN =
    "module @chain {\n"
    "  sym T <= 8\n"
    "  param @w : f32[4, 4]\n"
    "  param @g : f32[4]\n"
    "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
    "    %e = embedding(@w, %x) : f32[T, 4]\n"          /* k0 */
    "    %a = exp(%e) : f32[T, 4]\n"                    /* k1: e dies, a takes it */
    "    %b = neg(%a) : f32[T, 4]\n"                    /* k2: b takes a's */
    "    %c = matmul(%b, @w) {transpose_b} : f32[T, 4]\n" /* k3: never in place */
    "    %d = add(%c, %b) : f32[T, 4]\n"                /* k4: both die; d takes c's (operand 0) */
    "    %r = mul(%d, @g) : f32[T, 4]\n"                /* k5: the output */
    "    return %r\n"
    "  }\n"
    "}\n";

static void test_chain_in_place(void) {
  IrModule *m;
  KernelPlan *p = plan_text(CHAIN, &m);
  if (!p) return;
  CHECK(p->arena_bytes == 5 * 128); /* the trivial plan */
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, &(KMemoryOptions){.in_place = true}, &r, &d));
  /* e, a, b in one buffer over k0..k4, c and d in another over k3..k5 */
  uint64_t e = offset_of(p, m, "prefill", "e"), c = offset_of(p, m, "prefill", "c");
  CHECK(offset_of(p, m, "prefill", "a") == e && offset_of(p, m, "prefill", "b") == e);
  CHECK(offset_of(p, m, "prefill", "d") == c && c != e);
  CHECK(r.arena_bytes == 256 && p->arena_bytes == 256);
  CHECK(r.naive_bytes == 640 && r.lower_bound == 256);
  CHECK(r.nvalues == 5 && r.nbuffers == 2 && r.in_place == 3);
  CHECK(check_plan(p, "chain") == 3); /* (e, a), (a, b), (c, d) */
  kplan_free(p);
  ir_module_free(m);
}

/* Without in place: e[0,1] a[1,2] b[2,4] c[3,4] d[4,5], all 128 bytes.
 * By start: e at 0, a above it at 128, b in the gap at 0 (e is dead),
 * c at 128 (a is dead), d above b and c at 256: the lower bound of
 * step 4 (b, c, d). */
static void test_chain_no_reuse(void) {
  IrModule *m;
  KernelPlan *p = plan_text(CHAIN, &m);
  if (!p) return;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, &(KMemoryOptions){.in_place = false}, &r, &d));
  CHECK(offset_of(p, m, "prefill", "e") == 0 && offset_of(p, m, "prefill", "a") == 128);
  CHECK(offset_of(p, m, "prefill", "b") == 0 && offset_of(p, m, "prefill", "c") == 128);
  CHECK(offset_of(p, m, "prefill", "d") == 256);
  CHECK(r.arena_bytes == 384 && r.lower_bound == 384 && r.naive_bytes == 640);
  CHECK(r.nbuffers == 5 && r.in_place == 0);
  CHECK(check_plan(p, "chain, no reuse") == 0);
  kplan_free(p);
  ir_module_free(m);
}

/* measure_only leaves the trivial offsets and arena, and reports them. */
static void test_measure_only(void) {
  IrModule *m;
  KernelPlan *p = plan_text(CHAIN, &m);
  if (!p) return;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, &(KMemoryOptions){.measure_only = true}, &r, &d));
  CHECK(r.arena_bytes == 640 && p->arena_bytes == 640 && r.naive_bytes == 640);
  CHECK(r.lower_bound == 384);
  CHECK(offset_of(p, m, "prefill", "d") == 512);
  kplan_free(p);
  ir_module_free(m);
}

/* Sizes differ (larger first), the symbolic P+T dims count at their
 * bounds (P+T <= 16), and a buffer goes into the gap a dead one left. */
static void test_sizes_and_gaps(void) {
  IrModule *m;
  KernelPlan *p = plan_text(
      "module @gaps {\n"
      "  sym T <= 8\n"
      "  sym P <= 8\n"
      "  param @w : f32[4, 4]\n"
      "  state @kc : f32[16, 4]\n"
      "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
      "    %e = embedding(@w, %x) : f32[T, 4]\n"              /* k0: 128 bytes */
      "    kv_write(@kc, %e) {offset = P}\n"                  /* k1 */
      "    %k = kv_read(@kc) {len = P+T} : f32[P+T, 4]\n"     /* k2: 256 */
      "    %s = matmul(%e, %k) {transpose_b} : f32[T, P+T]\n" /* k3: 512 */
      "    %v = matmul(%s, %k) : f32[T, 4]\n"                 /* k4: 128 */
      "    %u = matmul(%v, @w) {transpose_b} : f32[T, 4]\n"   /* k5: 128 */
      "    %r = add(%u, %e) : f32[T, 4]\n"                    /* k6: the output */
      "    return %r\n"
      "  }\n"
      "}\n",
      &m);
  if (!p) return;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, NULL, &r, &d));
  /* s[3,4] at 0; k[2,4] above it at 512; e[0,6] at 768; v[4,5] at 896;
   * u[5,6] lives with e and v only: into the gap below e, at 0. */
  CHECK(offset_of(p, m, "prefill", "s") == 0);
  CHECK(offset_of(p, m, "prefill", "k") == 512);
  CHECK(offset_of(p, m, "prefill", "e") == 768);
  CHECK(offset_of(p, m, "prefill", "v") == 896);
  CHECK(offset_of(p, m, "prefill", "u") == 0);
  CHECK(r.arena_bytes == 1024 && r.lower_bound == 1024 && r.naive_bytes == 1152);
  CHECK(r.in_place == 0);
  CHECK(check_plan(p, "gaps") == 0);
  kplan_free(p);
  ir_module_free(m);
}

/* Where in place is illegal, every result gets bytes of its own. */
static void test_in_place_refused(void) {
  IrModule *m;
  KernelPlan *p = plan_text(
      "module @refused {\n"
      "  sym T <= 8\n"
      "  param @w : f32[4, 4]\n"
      "  param @g : f32[4]\n"
      "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
      "    %e = embedding(@w, %x) : f32[T, 4]\n"
      "    %a = exp(%e) : f32[T, 4]\n"                 /* e is read again below */
      "    %s = reduce_sum(%a) {axis = -1} : f32[T, 1]\n" /* a dies: not elementwise */
      "    %b = add(%s, %e) : f32[T, 4]\n"             /* s dies, but broadcasts */
      "    %h = cast(%b) : bf16[T, 4]\n"               /* b dies, 2 bytes an element */
      "    %n = rmsnorm(%h, @g) {eps = 1e-05} : bf16[T, 4]\n" /* reads the whole row */
      "    %c = cast(%n) : f32[T, 4]\n"                /* 4 bytes from 2 */
      "    %t = transpose(%c) {perm = [1, 0]} : f32[4, T]\n" /* other positions */
      "    %q = reshape(%t) : f32[T, 4]\n"             /* a view of t: its bytes */
      "    %r = mul(%q, %e) : f32[T, 4]\n"             /* the output: not in the arena */
      "    return %r\n"
      "  }\n"
      "}\n",
      &m);
  if (!p) return;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, NULL, &r, &d));
  CHECK(r.in_place == 0 && r.views == 1 && r.nbuffers == r.nvalues - 1);
  CHECK(check_plan(p, "refused") == 0);
  const IrFunc *f = m->funcs[0];
  CHECK(kplan_buffer(p, ir_func_find_value(f, "q", 1))->offset ==
        kplan_buffer(p, ir_func_find_value(f, "t", 1))->offset);
  CHECK(kplan_kernel_is_view(p, &p->entries[0], 8) && !kplan_kernel_is_view(p, &p->entries[0], 7));
  kplan_free(p);
  ir_module_free(m);
}

/* i32 from f32: the same 4 bytes an element, so cast may run in place. */
static void test_in_place_cast(void) {
  IrModule *m;
  KernelPlan *p = plan_text(
      "module @castip {\n"
      "  sym T <= 8\n"
      "  param @w : f32[4, 4]\n"
      "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
      "    %e = embedding(@w, %x) : f32[T, 4]\n"
      "    %i = cast(%e) : i32[T, 4]\n"
      "    %r = cast(%i) : f32[T, 4]\n"
      "    return %r\n"
      "  }\n"
      "}\n",
      &m);
  if (!p) return;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, NULL, &r, &d));
  CHECK(r.in_place == 1 && r.arena_bytes == 128);
  CHECK(offset_of(p, m, "prefill", "i") == offset_of(p, m, "prefill", "e"));
  CHECK(check_plan(p, "cast") == 1);
  kplan_free(p);
  ir_module_free(m);
}

/* Merges kernels (2i, 2i+1) into one, as a fusion would. */
static void fuse_pairs(KEntryPlan *e) {
  int n = 0;
  for (int k = 0; k < e->nkernels; k += 2) {
    KKernel merged = e->kernels[k];
    if (k + 1 < e->nkernels) merged.nops += e->kernels[k + 1].nops;
    e->kernels[n++] = merged;
  }
  e->nkernels = n;
}

/* In a fused kernel nothing runs in place: one op may write while another
 * still reads. Kernels {e, a} {b, c} {d, r}: e[0,0] a[0,1] b[1,2] c[1,2]
 * d[2,2], 128 bytes each; three live in steps 1 and 2. */
static void test_fused_kernels(void) {
  IrModule *m;
  KernelPlan *p = plan_text(CHAIN, &m);
  if (!p) return;
  fuse_pairs(&p->entries[0]);
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, NULL, &r, &d));
  CHECK(r.in_place == 0);
  CHECK(check_plan(p, "fused") == 0);
  CHECK(r.lower_bound == 384 && r.arena_bytes == 384);
  kplan_free(p);
  ir_module_free(m);
}

/* A value with no storage (a view folded into its reader) keeps what it
 * reads alive where it is read, and its reader never runs in place. */
static void test_views(void) {
  IrModule *m;
  KernelPlan *p = plan_text(CHAIN, &m);
  if (!p) return;
  const IrFunc *f = ir_module_find_func(m, "prefill");
  ((KBuffer *)kplan_buffer(p, ir_func_find_value(f, "a", 1)))->kind = KBUF_NONE;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, NULL, &r, &d));
  /* e lives to k2, where b = neg(a) reads it through a: b cannot take it */
  CHECK(offset_of(p, m, "prefill", "b") != offset_of(p, m, "prefill", "e"));
  CHECK(r.nvalues == 4 && r.in_place == 1); /* only (c, d) */
  CHECK(offset_of(p, m, "prefill", "d") == offset_of(p, m, "prefill", "c"));
  kplan_free(p);
  ir_module_free(m);
}

/* A reshape of an arena value shares its bytes, however long either
 * lives; a matmul that reads such a view as `a` cannot write its result
 * over the viewed value, although that value dies there as an epilogue
 * operand (the view is read at other positions). */
static void test_reshape_views(void) {
  IrModule *m;
  KernelPlan *p = plan_text(
      "module @views {\n"
      "  sym T <= 8\n"
      "  param @w : f32[4, 4]\n"
      "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
      "    %e = embedding(@w, %x) : f32[T, 4]\n"
      "    %a = exp(%e) : f32[T, 4]\n"
      "    %v = reshape(%a) : f32[T, 2, 2]\n"
      "    %u = reshape(%v) : f32[T, 4]\n"
      "    %y = matmul(%u, @w, %a) {epilogue = \"add(acc, $2)\"} : f32[T, 4]\n"
      "    %r = neg(%y) : f32[T, 4]\n"
      "    return %r\n"
      "  }\n"
      "}\n",
      &m);
  if (!p) return;
  KMemoryReport r;
  IrDiag d = {0};
  CHECK(kplan_plan_memory(p, NULL, &r, &d));
  CHECK(r.views == 2 && r.in_place == 1); /* r = neg(y) takes y's bytes */
  CHECK(offset_of(p, m, "prefill", "v") == offset_of(p, m, "prefill", "a"));
  CHECK(offset_of(p, m, "prefill", "u") == offset_of(p, m, "prefill", "a"));
  CHECK(offset_of(p, m, "prefill", "y") != offset_of(p, m, "prefill", "a"));
  const KEntryPlan *e = &p->entries[0];
  CHECK(!kplan_kernel_is_view(p, e, 1) && kplan_kernel_is_view(p, e, 2) &&
        kplan_kernel_is_view(p, e, 3) && !kplan_kernel_is_view(p, e, 4));
  CHECK(check_plan(p, "views") == 1);
  kplan_free(p);
  ir_module_free(m);
  /* without planning the reshapes keep their own bytes and run */
  p = plan_text("module @v2 {\n  sym T <= 8\n  param @w : f32[4, 4]\n"
                "  func @prefill(%x: i32[T]) -> f32[T, 4] {\n"
                "    %e = embedding(@w, %x) : f32[T, 4]\n"
                "    %v = reshape(%e) : f32[T, 2, 2]\n    %u = reshape(%v) : f32[T, 4]\n"
                "    %r = neg(%u) : f32[T, 4]\n    return %r\n  }\n}\n",
                &m);
  if (!p) return;
  CHECK(!kplan_kernel_is_view(p, &p->entries[0], 1));
  kplan_free(p);
  ir_module_free(m);
}

/* Kernels that skip an op are an error, and the plan stays as it was. */
static void test_bad_kernels(void) {
  IrModule *m;
  KernelPlan *p = plan_text(CHAIN, &m);
  if (!p) return;
  p->entries[0].kernels[2].first_op = 3;
  IrDiag d = {0};
  CHECK(!kplan_plan_memory(p, NULL, NULL, &d));
  CHECK_STR_CONTAINS(d.msg, "t.kir:5:3: error: memory planning: @prefill: kernel 2 "
                            "('prefill.k2.neg') holds ops 3..3, expected ops from 2 on: kernels "
                            "must cover the ops in order");
  CHECK(p->arena_bytes == 640 && offset_of(p, m, "prefill", "d") == 512);
  p->entries[0].kernels[2].first_op = 2;
  p->entries[0].nkernels = 5;
  memset(&d, 0, sizeof d);
  CHECK(!kplan_plan_memory(p, NULL, NULL, &d));
  CHECK_STR_CONTAINS(d.msg, "memory planning: @prefill: the kernels hold 5 of its 6 ops");
  kplan_free(p);
  ir_module_free(m);
}

/* ---- the tiny models --------------------------------------------------------- */

typedef struct {
  FeModelDir md;
  IrModule *m;
} Tiny;

/* The passes run after building: "" for none. */
static bool tiny_open(const char *name, int64_t ctx, const char *passes, Tiny *t) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny/%s", KILN_TEST_DATA, name);
  IrDiag d = {0};
  memset(t, 0, sizeof *t);
  bool ok = fe_open_model_dir(path, true, &t->md, &d);
  FeBuildOptions opt = {.max_context = ctx};
  if (ok) ok = (t->m = fe_build_module(&t->md.model, t->md.weights, &opt, &d)) != NULL;
  if (ok && *passes) {
    PassPipeline pp;
    PassOptions po = pass_options_default();
    ok = pass_pipeline_parse(passes, &pp, &d) && pass_pipeline_run(&pp, t->m, &po, &d);
  }
  if (!ok) fprintf(stderr, "%s: %s\n", name, d.msg);
  CHECK(ok);
  return ok;
}

static void tiny_close(Tiny *t) {
  ir_module_free(t->m);
  fe_close_model_dir(&t->md);
}

/* Offsets of the arena values, entry by entry in op order. */
static uint64_t *arena_offsets(const KernelPlan *p, int *n) {
  int cap = 0;
  for (int e = 0; e < p->nentries; e++)
    for (int i = 0; i < p->entries[e].func->nops; i++) cap += p->entries[e].func->ops[i]->nout;
  uint64_t *o = calloc((size_t)cap + 1, sizeof *o);
  *n = 0;
  for (int e = 0; e < p->nentries; e++)
    for (int i = 0; i < p->entries[e].func->nops; i++) {
      const IrOp *op = p->entries[e].func->ops[i];
      for (int j = 0; j < op->nout; j++) {
        const KBuffer *b = kplan_buffer(p, op->out[j]);
        if (b->kind == KBUF_ARENA) o[(*n)++] = b->offset;
      }
    }
  return o;
}

static bool same_offsets(const KernelPlan *a, const KernelPlan *b) {
  int na, nb;
  uint64_t *oa = arena_offsets(a, &na), *ob = arena_offsets(b, &nb);
  bool same = na == nb && a->arena_bytes == b->arena_bytes &&
              memcmp(oa, ob, sizeof *oa * (size_t)na) == 0;
  free(oa);
  free(ob);
  return same;
}

static KernelPlan *plan_tiny(const Tiny *t, KMemoryReport *r, uint64_t *trivial) {
  IrDiag d = {0};
  KernelPlan *p = kplan_build(t->m, &d);
  CHECK(p != NULL);
  if (!p) return NULL;
  *trivial = p->arena_bytes;
  bool ok = kplan_plan_memory(p, &(KMemoryOptions){.in_place = true}, r, &d);
  if (!ok) fprintf(stderr, "%s\n", d.msg);
  CHECK(ok);
  return p;
}

/* The oracle, the bounds, and the same offsets again; the figures. */
static KMemoryReport check_tiny(const char *name, const char *passes) {
  KMemoryReport r = {0}, r2;
  Tiny a, b;
  if (!tiny_open(name, 32, passes, &a)) return r;
  if (!tiny_open(name, 32, passes, &b)) return tiny_close(&a), r;
  uint64_t trivial, trivial2;
  KernelPlan *pa = plan_tiny(&a, &r, &trivial), *pb = plan_tiny(&b, &r2, &trivial2);
  char what[128];
  snprintf(what, sizeof what, "%s%s", name, *passes ? " after the passes" : "");
  if (pa && pb) {
    check_plan(pa, what);
    CHECK(r.naive_bytes == trivial);
    CHECK(r.lower_bound <= r.arena_bytes && r.arena_bytes <= r.naive_bytes);
    CHECK(r.in_place > 0);
    CHECK(same_offsets(pa, pb)); /* an independently built module */
    IrDiag d = {0};
    CHECK(kplan_plan_memory(pa, NULL, NULL, &d) && same_offsets(pa, pb)); /* planning twice */
    printf("%-34s arena %7" PRIu64 " bytes; naive sum %8" PRIu64 "; lower bound %7" PRIu64
           "; %d of %d values in place\n", what, r.arena_bytes, r.naive_bytes, r.lower_bound,
           r.in_place, r.nvalues);
  }
  kplan_free(pa);
  kplan_free(pb);
  tiny_close(&a);
  tiny_close(&b);
  return r;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the tiny models, sorted; returns how many. */
static int tiny_names(char **names, int max) {
  DIR *dir = opendir(KILN_TEST_DATA "/tiny");
  CHECK(dir != NULL);
  int n = 0;
  for (struct dirent *e; dir && (e = readdir(dir)) && n < max;)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (dir) closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], by_name);
  return n;
}

static void test_tiny_models(void) {
  char *names[64];
  int n = tiny_names(names, 64);
  CHECK(n >= 7); /* gpt2, llama, llama_gqa, llama_linear, mistral, mixtral, qwen2 */
  for (int i = 0; i < n; i++) {
    KMemoryReport raw = check_tiny(names[i], "");
    check_tiny(names[i], pass_default_pipeline());
    /* Llama: the activations of one layer at a time, not of all layers. */
    if (strcmp(names[i], "llama") == 0) CHECK(raw.arena_bytes * 4 <= raw.naive_bytes);
    free(names[i]);
  }
}

/* ---- 8192 tokens --------------------------------------------------------------- */

/* t has a dim that grows with symbol a and another that grows with b. */
static bool grows_with_both(const IrType *t, int a, int b) {
  for (int i = 0; i < t->rank; i++)
    for (int j = 0; j < t->rank; j++)
      if (i != j && t->dims[i].k[a] && t->dims[j].k[b]) return true;
  return false;
}

/* The tiny llama bound to 8192 tokens in a call (and in the cache): after
 * the graph passes with the attention rewrite, no arena buffer is T x P. */
static void test_long_prefill(void) {
  char passes[256];
  const char *dflt = pass_default_pipeline();
  snprintf(passes, sizeof passes, "%s%s", dflt, strstr(dflt, "attention") ? "" : ",attention,dce");
  Tiny t;
  if (!tiny_open("llama", 8192, passes, &t)) return;
  int T = ir_module_find_sym(t.m, "T", 1), P = ir_module_find_sym(t.m, "P", 1);
  CHECK(T >= 0 && P >= 0 && t.m->syms[T].max == 8192);
  KMemoryReport r;
  uint64_t trivial;
  KernelPlan *p = plan_tiny(&t, &r, &trivial);
  for (int e = 0; p && e < p->nentries; e++) {
    const IrFunc *f = p->entries[e].func;
    for (int i = 0; i < f->nops; i++)
      for (int j = 0; j < f->ops[i]->nout; j++) {
        const IrValue *v = f->ops[i]->out[j];
        if (kplan_buffer(p, v)->kind != KBUF_ARENA || !grows_with_both(&v->type, T, P)) continue;
        check_failures++;
        fprintf(stderr, "8192 tokens: @%s: %%%s (%s) is a T x P buffer of %" PRIu64 " bytes\n",
                f->name, v->name, ir_op_spec(f->ops[i]->kind)->name, kplan_buffer(p, v)->max_bytes);
      }
  }
  check_count++;
  if (p) {
    check_plan(p, "8192 tokens");
    CHECK(r.lower_bound <= r.arena_bytes && r.arena_bytes <= r.naive_bytes);
    printf("%-34s arena %7" PRIu64 " bytes; naive sum %8" PRIu64 "; lower bound %7" PRIu64 "\n",
           "llama, T <= 8192", r.arena_bytes, r.naive_bytes, r.lower_bound);
  }
  kplan_free(p);
  tiny_close(&t);
}

/* ---- compiled ---------------------------------------------------------------------- */

#if KILN_HAVE_LLVM
/* The checkpoint tensor of a parameter, in its own dtype. */
/* A tiny model after the graph passes (as `kiln compile -O2` has it),
 * compiled from its planned plan (planned_build), prefill and three decode
 * steps against the interpreter under every schedule, 1e-4
 * relative as test_codegen_families.c. */
static void check_compiled(const char *name, const char *passes) {
  Tiny t;
  if (!tiny_open(name, 32, passes, &t)) return;
  CgtModel *cm = calloc(1, sizeof *cm);
  char label[128];
  snprintf(label, sizeof label, "%s%s", name, *passes ? "_opt" : "");
  cm->name = label;
  cm->vocab = t.md.model.vocab;
  cm->opt_level = 3;
  cm->m = t.m;
  t.m = NULL; /* cgt_free frees it */
  IrDiag d = {0};
  cm->it = ir_interp_new(cm->m, &d);
  bool ok = cm->it && fe_bind_weights(cm->it, cm->m, t.md.weights, &d);
  if (!ok) fprintf(stderr, "%s: %s\n", label, d.msg);
  ok = ok && cgt_compile(cm, checkpoint_source, t.md.weights);
  CHECK(ok);
  if (ok) {
    CgtCall calls[4] = {{"prefill", 7, 0, NULL}, {"decode", 1, 7, NULL}, {"decode", 1, 8, NULL},
                        {"decode", 1, 9, NULL}};
    cgt_check(cm, calls, 4, 1e-4);
  }
  cgt_free(cm);
  tiny_close(&t);
}

/* The last position's logits of an 8192-token prefill of the tiny llama
 * (after the passes and the attention rewrite), compiled with the trivial
 * or the planned arena; NULL on failure. */
static float *long_prefill_logits(bool planned, const int32_t *tokens, uint64_t *arena,
                                  int64_t *vocab) {
  char passes[256];
  const char *dflt = pass_default_pipeline();
  snprintf(passes, sizeof passes, "%s%s", dflt, strstr(dflt, "attention") ? "" : ",attention,dce");
  Tiny t;
  if (!tiny_open("llama", 8192, passes, &t)) return NULL;
  CgtModel *cm = calloc(1, sizeof *cm);
  cm->name = planned ? "long_planned" : "long_trivial";
  cm->vocab = *vocab = t.md.model.vocab;
  cm->opt_level = 3;
  cm->m = t.m;
  plan_off = !planned;
  bool ok = cgt_compile(cm, checkpoint_source, t.md.weights);
  plan_off = false;
  CHECK(ok);
  float *out = NULL;
  if (ok) {
    *arena = cm->plan->arena_bytes;
    memset(cm->state, 0, (size_t)cm->plan->state_bytes);
    CgtCall c = {"prefill", 8192, 0, tokens};
    out = cgt_compiled_call(cm, &c, rt_parallel_for);
  }
  cm->m = NULL; /* tiny_close frees it */
  cgt_free(cm);
  tiny_close(&t);
  return out;
}

/* A prefill of 8192 tokens runs in the planned arena (no T x P buffer:
 * test_long_prefill) and gives the trivial arena's logits bit for bit. */
static void test_long_prefill_run(void) {
  int32_t *tokens = malloc(8192 * sizeof *tokens);
  for (int i = 0; i < 8192; i++) tokens[i] = (i * 7 + 3) % 64; /* the tiny llama's vocab is 64 */
  uint64_t trivial_arena = 0, planned_arena = 0;
  int64_t vocab = 0;
  float *want = long_prefill_logits(false, tokens, &trivial_arena, &vocab);
  float *got = long_prefill_logits(true, tokens, &planned_arena, &vocab);
  CHECK(vocab == 64 && want && got && memcmp(want, got, (size_t)vocab * sizeof *got) == 0);
  bool finite = got != NULL;
  for (int64_t j = 0; got && j < vocab; j++) finite &= isfinite(got[j]) != 0;
  CHECK(finite);
  CHECK(planned_arena * 4 <= trivial_arena);
  printf("8192-token prefill: the same logits in a %" PRIu64 "-byte arena as in the trivial "
         "%" PRIu64 "\n", planned_arena, trivial_arena);
  free(want);
  free(got);
  free(tokens);
}

static void test_compiled(void) {
  cgt_setup();
  test_long_prefill_run();
  char *names[64];
  int n = tiny_names(names, 64);
  for (int i = 0; i < n; i++) {
    check_compiled(names[i], pass_default_pipeline());
    free(names[i]);
  }
  printf("compiled with planned arenas: largest relative difference to the interpreter %.2g\n",
         cgt_worst);
  cgt_teardown();
}
#endif

int main(void) {
  test_chain_in_place();
  test_chain_no_reuse();
  test_measure_only();
  test_sizes_and_gaps();
  test_in_place_refused();
  test_in_place_cast();
  test_fused_kernels();
  test_views();
  test_reshape_views();
  test_bad_kernels();
  test_tiny_models();
  test_long_prefill();
#if KILN_HAVE_LLVM
  test_compiled();
#endif
  return check_report();
}
