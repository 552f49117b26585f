/* cg_llvm_util.c: loops, addresses, typed loads and stores, math calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_llvm.h"
#include "kernel_plan.h"

CgLoop cg_loop_begin(CgLlvm *cg, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
  CgLoop l = {0};
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
  l.head = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  l.body = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  l.exit = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  l.hi = hi;
  LLVMBuildBr(cg->b, l.head);
  LLVMPositionBuilderAtEnd(cg->b, l.head);
  l.iv = LLVMBuildPhi(cg->b, cg->i64, name);
  LLVMAddIncoming(l.iv, &lo, &pre, 1);
  LLVMValueRef more = LLVMBuildICmp(cg->b, LLVMIntSLT, l.iv, hi, "");
  LLVMBuildCondBr(cg->b, more, l.body, l.exit);
  LLVMPositionBuilderAtEnd(cg->b, l.body);
  return l;
}

void cg_loop_end(CgLlvm *cg, CgLoop *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(cg->b, l->iv, cg_i64(cg, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMBuildBr(cg->b, l->head);
  LLVMPositionBuilderAtEnd(cg->b, l->exit);
}

LLVMValueRef cg_i64(CgLlvm *cg, int64_t v) { return LLVMConstInt(cg->i64, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(CgLlvm *cg, double v) { return LLVMConstReal(cg->f32, v); }

LLVMValueRef cg_dim(CgLlvm *cg, IrDim d) {
  LLVMValueRef v = cg_i64(cg, d.c);
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (d.k[s]) v = LLVMBuildNSWAdd(cg->b, v, LLVMBuildNSWMul(cg->b, cg->sym[s], cg_i64(cg, d.k[s]), ""), "");
  return v;
}

void cg_strides(CgLlvm *cg, const IrType *t, LLVMValueRef *strides) {
  LLVMValueRef s = cg_i64(cg, 1);
  for (int i = t->rank - 1; i >= 0; i--) {
    strides[i] = s;
    s = LLVMBuildNSWMul(cg->b, s, cg_dim(cg, t->dims[i]), "");
  }
}

/* Inside a kernel every operand and result has a slot: its pointer came
 * with the launch. Anything else gets the plan's offset baked in, which
 * makes the kernel specific to its layer (slot_miss). */
LLVMValueRef cg_buffer_base(CgLlvm *cg, const IrValue *v) {
  for (int i = 0; i < cg->nslots; i++)
    if (cg->slot_values[i] == v) return cg->slot_ptrs[i];
  if (cg->nslots) cg->slot_miss = true;
  const KBuffer *buf = kplan_buffer(cg->plan, v);
  int arg;
  switch (buf->kind) {
  case KBUF_WEIGHT: arg = CG_ARG_WEIGHTS; break;
  case KBUF_ARENA: arg = CG_ARG_ARENA; break;
  case KBUF_STATE: arg = CG_ARG_STATE; break;
  case KBUF_INPUT: return cg->base[CG_ARG_TOKENS];
  case KBUF_OUTPUT: return cg->base[CG_ARG_LOGITS];
  default: return LLVMConstNull(cg->ptr);
  }
  LLVMValueRef off = cg_i64(cg, (int64_t)buf->offset);
  return LLVMBuildInBoundsGEP2(cg->b, cg->i8, cg->base[arg], &off, 1, "");
}

static LLVMTypeRef storage_type(CgLlvm *cg, IrDType t) {
  switch (t) {
  case IR_F32: return cg->f32;
  case IR_F16: return LLVMHalfTypeInContext(cg->ctx);
  case IR_BF16: return cg->i16; /* converted by hand: no libcall needed */
  case IR_I32: return cg->i32;
  case IR_I64: return cg->i64;
  default: return cg->i8;
  }
}

/* The storage index of logical row-major element idx of a param stored in
 * panels (IrLayout): with C columns, (r, c) = (idx / C, idx % C), then
 * ir_layout_offset's formula. Axis 0, width 4 of f32[10, 4]: idx 22 is
 * (5, 2), stored at 1*16 + 2*4 + 1 = 25. Row-major values pass through. */
static LLVMValueRef layout_index(CgLlvm *cg, const IrValue *v, LLVMValueRef idx) {
  const IrLayout *l = &v->layout;
  if (v->kind != IR_VAL_PARAM || l->panel <= 0 || v->type.rank != 2) return idx;
  int64_t rows = v->type.dims[0].c, cols = v->type.dims[1].c, w = l->panel;
  LLVMValueRef r = LLVMBuildUDiv(cg->b, idx, cg_i64(cg, cols), "");
  LLVMValueRef c = LLVMBuildURem(cg->b, idx, cg_i64(cg, cols), "");
  LLVMValueRef along = l->axis == 0 ? r : c, other = l->axis == 0 ? c : r;
  int64_t other_n = l->axis == 0 ? cols : rows;
  LLVMValueRef panel = LLVMBuildUDiv(cg->b, along, cg_i64(cg, w), "");
  LLVMValueRef lane = LLVMBuildURem(cg->b, along, cg_i64(cg, w), "");
  LLVMValueRef off = cg_imul(cg, panel, cg_i64(cg, other_n * w));
  off = cg_iadd(cg, off, cg_imul(cg, other, cg_i64(cg, w)));
  return cg_iadd(cg, off, lane);
}

static LLVMValueRef elem_ptr(CgLlvm *cg, const IrValue *v, LLVMValueRef idx) {
  LLVMValueRef base = cg_buffer_base(cg, v);
  idx = layout_index(cg, v, idx);
  return LLVMBuildInBoundsGEP2(cg->b, storage_type(cg, v->type.dtype), base, &idx, 1, "");
}

/* bf16 -> f32 is exact: the bf16 bits are the top half of the f32. */
static LLVMValueRef bf16_to_f32(CgLlvm *cg, LLVMValueRef bits16) {
  LLVMValueRef w = LLVMBuildShl(cg->b, LLVMBuildZExt(cg->b, bits16, cg->i32, ""),
                                LLVMConstInt(cg->i32, 16, 0), "");
  return LLVMBuildBitCast(cg->b, w, cg->f32, "");
}

/* f32 -> bf16 rounding to nearest even; NaN stays a quiet NaN. */
static LLVMValueRef f32_to_bf16(CgLlvm *cg, LLVMValueRef x) {
  LLVMValueRef w = LLVMBuildBitCast(cg->b, x, cg->i32, "");
  LLVMValueRef lsb = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, w, LLVMConstInt(cg->i32, 16, 0), ""),
                                  LLVMConstInt(cg->i32, 1, 0), "");
  LLVMValueRef r = LLVMBuildAdd(cg->b, w, LLVMBuildAdd(cg->b, lsb, LLVMConstInt(cg->i32, 0x7fff, 0), ""), "");
  LLVMValueRef hi = LLVMBuildTrunc(cg->b, LLVMBuildLShr(cg->b, r, LLVMConstInt(cg->i32, 16, 0), ""), cg->i16, "");
  LLVMValueRef isnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, x, x, "");
  return LLVMBuildSelect(cg->b, isnan, LLVMConstInt(cg->i16, 0x7fc0, 0), hi, "");
}

LLVMValueRef cg_load(CgLlvm *cg, const IrValue *v, LLVMValueRef idx) {
  IrDType t = v->type.dtype;
  LLVMValueRef x = LLVMBuildLoad2(cg->b, storage_type(cg, t), elem_ptr(cg, v, idx), "");
  switch (t) {
  case IR_F32: return x;
  case IR_F16: return LLVMBuildFPExt(cg->b, x, cg->f32, "");
  case IR_BF16: return bf16_to_f32(cg, x);
  case IR_I64: return x;
  default: return LLVMBuildSExt(cg->b, x, cg->i64, "");
  }
}

void cg_store(CgLlvm *cg, const IrValue *v, LLVMValueRef idx, LLVMValueRef x) {
  IrDType t = v->type.dtype;
  switch (t) {
  case IR_F32: break;
  case IR_F16: x = LLVMBuildFPTrunc(cg->b, x, LLVMHalfTypeInContext(cg->ctx), ""); break;
  case IR_BF16: x = f32_to_bf16(cg, x); break;
  case IR_I64: break;
  default: x = LLVMBuildTrunc(cg->b, x, storage_type(cg, t), ""); break;
  }
  LLVMBuildStore(cg->b, x, elem_ptr(cg, v, idx));
}

static LLVMValueRef get_fn(CgLlvm *cg, const char *name, LLVMTypeRef fty) {
  LLVMValueRef f = LLVMGetNamedFunction(cg->mod, name);
  return f ? f : LLVMAddFunction(cg->mod, name, fty);
}

LLVMValueRef cg_call_f32(CgLlvm *cg, const char *intrinsic, LLVMValueRef x) {
  char name[64];
  snprintf(name, sizeof name, "%s.f32", intrinsic);
  LLVMTypeRef fty = LLVMFunctionType(cg->f32, &cg->f32, 1, 0);
  return cg_fast(LLVMBuildCall2(cg->b, fty, get_fn(cg, name, fty), &x, 1, ""));
}

LLVMValueRef cg_call_f32_2(CgLlvm *cg, const char *intrinsic, LLVMValueRef x, LLVMValueRef y) {
  char name[64];
  snprintf(name, sizeof name, "%s.f32", intrinsic);
  LLVMTypeRef params[2] = {cg->f32, cg->f32};
  LLVMTypeRef fty = LLVMFunctionType(cg->f32, params, 2, 0);
  LLVMValueRef args[2] = {x, y};
  return cg_fast(LLVMBuildCall2(cg->b, fty, get_fn(cg, name, fty), args, 2, ""));
}

LLVMValueRef cg_call_libm(CgLlvm *cg, const char *name, LLVMValueRef x) {
  LLVMTypeRef fty = LLVMFunctionType(cg->f32, &cg->f32, 1, 0);
  return LLVMBuildCall2(cg->b, fty, get_fn(cg, name, fty), &x, 1, "");
}

LLVMValueRef cg_fast(LLVMValueRef inst) {
  if (LLVMIsAInstruction(inst) && LLVMCanValueUseFastMathFlags(inst))
    LLVMSetFastMathFlags(inst, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
  return inst;
}

LLVMValueRef cg_call_f64(CgLlvm *cg, const char *intrinsic, LLVMValueRef x) {
  char name[64];
  snprintf(name, sizeof name, "%s.f64", intrinsic);
  LLVMTypeRef fty = LLVMFunctionType(cg->f64, &cg->f64, 1, 0);
  return LLVMBuildCall2(cg->b, fty, get_fn(cg, name, fty), &x, 1, "");
}

LLVMValueRef cg_f64(CgLlvm *cg, double v) { return LLVMConstReal(cg->f64, v); }

LLVMValueRef cg_smin(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), a, b, "");
}

LLVMValueRef cg_smax(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, ""), a, b, "");
}

LLVMValueRef cg_var(CgLlvm *cg, LLVMTypeRef t, const char *name) {
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(cg->fn);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cg->ctx);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first)
    LLVMPositionBuilderBefore(b, first);
  else
    LLVMPositionBuilderAtEnd(b, entry);
  LLVMValueRef v = LLVMBuildAlloca(b, t, name);
  LLVMDisposeBuilder(b);
  return v;
}

CgIf cg_if_begin(CgLlvm *cg, LLVMValueRef cond, const char *name) {
  CgIf c;
  c.then = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  c.otherwise = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  c.done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  LLVMBuildCondBr(cg->b, cond, c.then, c.otherwise);
  LLVMPositionBuilderAtEnd(cg->b, c.then);
  return c;
}

void cg_if_else(CgLlvm *cg, CgIf *c) {
  LLVMBuildBr(cg->b, c->done);
  LLVMPositionBuilderAtEnd(cg->b, c->otherwise);
  c->otherwise = NULL; /* now being filled */
}

void cg_if_end(CgLlvm *cg, CgIf *c) {
  LLVMBuildBr(cg->b, c->done);
  if (c->otherwise) { /* no else part: it falls through */
    LLVMPositionBuilderAtEnd(cg->b, c->otherwise);
    LLVMBuildBr(cg->b, c->done);
  }
  LLVMPositionBuilderAtEnd(cg->b, c->done);
}

LLVMValueRef cg_imul(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWMul(cg->b, a, b, "");
}

LLVMValueRef cg_iadd(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWAdd(cg->b, a, b, "");
}

LLVMValueRef cg_f32_var(CgLlvm *cg, double v, const char *name) {
  LLVMValueRef var = cg_var(cg, cg->f32, name);
  LLVMBuildStore(cg->b, cg_f32(cg, v), var);
  return var;
}

void cg_accumulate(CgLlvm *cg, LLVMValueRef acc, LLVMValueRef x) {
  LLVMValueRef old = LLVMBuildLoad2(cg->b, cg->f32, acc, "");
  LLVMBuildStore(cg->b, cg_fast(LLVMBuildFAdd(cg->b, old, x, "")), acc);
}

LLVMValueRef cg_numel_range(CgLlvm *cg, const IrType *t, int from, int to) {
  LLVMValueRef n = cg_i64(cg, 1);
  for (int i = from; i < to; i++) n = LLVMBuildNSWMul(cg->b, n, cg_dim(cg, t->dims[i]), "");
  return n;
}

int cg_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

CgAxisSplit cg_axis_split(CgLlvm *cg, const IrType *t, int axis) {
  CgAxisSplit s = {cg_numel_range(cg, t, 0, axis), cg_dim(cg, t->dims[axis]),
                   cg_numel_range(cg, t, axis + 1, t->rank)};
  return s;
}

void cg_copy(CgLlvm *cg, const IrValue *dst, LLVMValueRef di, const IrValue *src,
             LLVMValueRef si) {
  IrDType t = dst->type.dtype;
  if (t != src->type.dtype) {
    cg_store(cg, dst, di, cg_load(cg, src, si));
    return;
  }
  LLVMValueRef x = LLVMBuildLoad2(cg->b, storage_type(cg, t), elem_ptr(cg, src, si), "");
  LLVMBuildStore(cg->b, x, elem_ptr(cg, dst, di));
}

LLVMValueRef cg_zero(CgLlvm *cg, IrDType t) {
  return ir_dtype_is_float(t) ? cg_f32(cg, 0.0) : cg_i64(cg, 0);
}

static bool refuse_i4_value(CgLlvm *cg, const IrOp *op, const IrValue *v, const char *what,
                            int i) {
  if (v->type.dtype != IR_I4) return true;
  char sigil = v->kind == IR_VAL_PARAM || v->kind == IR_VAL_STATE ? '@' : '%';
  return ir_error(cg->d, op->loc,
                  "the CPU backend does not support i4 (packed) values yet: %s %d (%c%s) of '%s' "
                  "is i4", what, i, sigil, v->name, ir_op_spec(op->kind)->name);
}

bool cg_refuse_i4(CgLlvm *cg, const IrOp *op) {
  for (int i = 0; i < op->nin; i++)
    if (!refuse_i4_value(cg, op, op->in[i], "operand", i)) return false;
  for (int i = 0; i < op->nout; i++)
    if (!refuse_i4_value(cg, op, op->out[i], "result", i)) return false;
  return true;
}
