/* cg_cuda_util.c: text helpers of the CUDA emitters: dims, indices,
 * typed pointers, loads and stores, launch shapes, block reductions. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cuda_internal.h"

void cgc_printf(CgCuda *cg, const char *fmt, ...) {
  char line[4096];
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  if (n >= 0 && (size_t)n < sizeof line) {
    ir_buf_printf(cg->b, "%s", line);
  } else if (n > 0) { /* longer than a line buffer: format again into the heap */
    char *big = malloc((size_t)n + 1);
    if (!big) abort();
    vsnprintf(big, (size_t)n + 1, fmt, again);
    ir_buf_printf(cg->b, "%s", big);
    free(big);
  }
  va_end(again);
  va_end(ap);
}

/* Appends to t.s, truncating (the callers' expressions are short). */
static void text_add(CgcText *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(CgcText *t, const char *fmt, ...) {
  size_t len = strlen(t->s);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->s + len, sizeof t->s - len, fmt, ap);
  va_end(ap);
}

CgcText cgc_dim(const CgCuda *cg, IrDim d) {
  CgcText t = {{0}};
  text_add(&t, "(%lld", (long long)d.c);
  for (int s = 0; s < cg->m->nsyms; s++)
    if (d.k[s]) text_add(&t, " + %lld*ksym.s[%d]", (long long)d.k[s], s);
  text_add(&t, ")");
  return t;
}

CgcText cgc_numel(const CgCuda *cg, const IrType *t, int from, int to) {
  CgcText r = {{0}};
  text_add(&r, "(1LL");
  for (int i = from; i < to; i++) text_add(&r, "*%s", cgc_dim(cg, t->dims[i]).s);
  text_add(&r, ")");
  return r;
}

CgcText cgc_index(const CgCuda *cg, const IrType *t, const char *const *coords) {
  CgcText r = {{0}};
  if (t->rank == 0) {
    text_add(&r, "0LL");
    return r;
  }
  /* ((c0)*D1 + c1)*D2 + c2 */
  for (int i = 1; i < t->rank; i++) text_add(&r, "(");
  text_add(&r, "(%s)", coords[0]);
  for (int i = 1; i < t->rank; i++) text_add(&r, "*%s + (%s))", cgc_dim(cg, t->dims[i]).s, coords[i]);
  return r;
}

static const char *storage_type(IrDType t) {
  switch (t) {
  case IR_F32: return "float";
  case IR_F16:
  case IR_BF16: return "unsigned short";
  case IR_I32: return "int";
  case IR_I64: return "long long";
  default: return "signed char";
  }
}

const char *cgc_work_type(IrDType t) { return ir_dtype_is_float(t) ? "float" : "long long"; }

/* v's buffer slot in the kernel being written: its own when v was
 * declared before, else the next one, holding buf's offset; -1 when all
 * are taken. */
static int buffer_slot(CgCuda *cg, const IrValue *v, const KBuffer *buf) {
  CgCudaKernel *k = cg->k;
  for (int i = 0; i < k->noffs; i++)
    if (cg->slot[i] == v) return i;
  if (k->noffs == KILN_CUDA_MAX_OFFSETS) return -1;
  cg->slot[k->noffs] = v;
  k->offs[k->noffs] = buf->offset;
  return k->noffs++;
}

bool cgc_ptr(CgCuda *cg, const IrOp *op, const IrValue *v, const char *name) {
  if (v->type.dtype == IR_I4) return cgc_refuse(cg, op, "an i4 operand or result");
  if (v->kind == IR_VAL_PARAM && v->layout.panel && v->type.rank != 2)
    return cgc_refuse(cg, op, "a packed layout on a parameter that is not 2-D");
  const KBuffer *buf = kplan_buffer(cg->plan, v);
  const char *ty = storage_type(v->type.dtype);
  int slot = -1;
  if (buf->kind == KBUF_WEIGHT || buf->kind == KBUF_ARENA || buf->kind == KBUF_STATE) {
    slot = buffer_slot(cg, v, buf);
    if (slot < 0) {
      char why[64];
      snprintf(why, sizeof why, "more than %d buffers (KILN_CUDA_MAX_OFFSETS)", KILN_CUDA_MAX_OFFSETS);
      return cgc_refuse(cg, op, why);
    }
  }
  switch (buf->kind) {
  case KBUF_WEIGHT:
    cgc_printf(cg, "  const %s *%s = (const %s *)(kw + koff.o[%d]);\n", ty, name, ty, slot);
    return true;
  case KBUF_ARENA:
  case KBUF_STATE:
    cgc_printf(cg, "  %s *%s = (%s *)(%s + koff.o[%d]);\n", ty, name, ty, buf->kind == KBUF_ARENA ? "ka" : "ks",
               slot);
    return true;
  case KBUF_INPUT:
    if (v->type.dtype != IR_I32) return cgc_refuse(cg, op, "an entry argument that is not i32");
    cgc_printf(cg, "  const int *%s = ktok;\n", name);
    return true;
  case KBUF_OUTPUT:
    if (v->type.dtype != IR_F32) return cgc_refuse(cg, op, "an entry result that is not f32");
    cgc_printf(cg, "  float *%s = kout;\n", name);
    return true;
  default: return cgc_refuse(cg, op, "a value without storage in the plan");
  }
}

CgcText cgc_load(const IrValue *v, const char *p, const char *idx) {
  CgcText t = {{0}}, packed = {{0}};
  if (v->kind == IR_VAL_PARAM && v->layout.panel > 0 && v->type.rank == 2) {
    /* a packed param (IrLayout): its row-major index moved to its panel */
    text_add(&packed, "kiln_panel(%s, %lldLL, %lldLL, %d, %dLL)", idx, (long long)v->type.dims[0].c,
             (long long)v->type.dims[1].c, v->layout.axis, v->layout.panel);
    idx = packed.s;
  }
  switch (v->type.dtype) {
  case IR_F32: text_add(&t, "%s[%s]", p, idx); break;
  case IR_F16: text_add(&t, "kiln_f16_to_f32(%s[%s])", p, idx); break;
  case IR_BF16: text_add(&t, "kiln_bf16_to_f32(%s[%s])", p, idx); break;
  default: text_add(&t, "((long long)%s[%s])", p, idx); break;
  }
  return t;
}

void cgc_store(CgCuda *cg, const IrValue *v, const char *p, const char *idx, const char *x) {
  switch (v->type.dtype) {
  case IR_F32: cgc_printf(cg, "%s[%s] = %s;\n", p, idx, x); break;
  case IR_F16: cgc_printf(cg, "%s[%s] = kiln_f32_to_f16(%s);\n", p, idx, x); break;
  case IR_BF16: cgc_printf(cg, "%s[%s] = kiln_f32_to_bf16(%s);\n", p, idx, x); break;
  default: cgc_printf(cg, "%s[%s] = (%s)(%s);\n", p, idx, storage_type(v->type.dtype), x); break;
  }
}

void cgc_grid(CgCuda *cg, int axis, const IrType *t, int from, int to, int64_t div) {
  CgCudaExtent *e = &cg->k->grid[axis];
  e->n = 0;
  for (int i = from; i < to && e->n < CG_CUDA_MAX_FACTORS; i++) e->f[e->n++] = t->dims[i];
  e->div = div;
}

void cgc_flat_begin(CgCuda *cg, const IrType *t) {
  cg->k->block = cg->opt.block;
  cgc_grid(cg, 0, t, 0, t->rank, cg->opt.block);
  cgc_printf(cg, "  const long long n = %s;\n", cgc_numel(cg, t, 0, t->rank).s);
  cgc_printf(cg, "  KILN_THREADS_BEGIN\n");
  cgc_printf(cg, "  const long long i = (long long)blockIdx.x * %d + tid;\n", cg->opt.block);
  cgc_printf(cg, "  if (i < n) {\n");
}

void cgc_flat_end(CgCuda *cg) { cgc_printf(cg, "  }\n  KILN_THREADS_END\n"); }

void cgc_coords(CgCuda *cg, const IrType *t, const char *i) {
  cgc_printf(cg, "    long long rest = %s;\n", i);
  for (int a = t->rank - 1; a >= 0; a--) {
    CgcText d = cgc_dim(cg, t->dims[a]);
    cgc_printf(cg, "    const long long c%d = rest %% %s; rest /= %s;\n", a, d.s, d.s);
  }
  cgc_printf(cg, "    (void)rest;\n");
}

void cgc_block_reduce(CgCuda *cg, const char *red, const char *combine) {
  for (int w = cg->opt.block / 2; w > 0; w /= 2) {
    cgc_printf(cg, "  KILN_THREADS_BEGIN\n  if (tid < %du) { float a = %s[tid], b = %s[tid + %d]; %s[tid] = %s; }\n"
                   "  KILN_THREADS_END\n  KILN_SYNC\n",
               w, red, red, w, red, combine);
  }
}

bool cgc_refuse(CgCuda *cg, const IrOp *op, const char *why) {
  return ir_error(cg->d, op->loc, "the CUDA backend cannot lower op '%s' with %s yet",
                  ir_op_spec(op->kind)->name, why);
}

int cgc_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

CgcText cgc_float(double v) {
  CgcText t = {{0}};
  float f = (float)v;
  if (isnan(f))
    snprintf(t.s, sizeof t.s, "KILN_NAN");
  else if (isinf(f))
    snprintf(t.s, sizeof t.s, "%sKILN_INF", f < 0 ? "-" : "");
  else
    snprintf(t.s, sizeof t.s, "((float)%a)", (double)f);
  return t;
}
