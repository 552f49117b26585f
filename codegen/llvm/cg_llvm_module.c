/* cg_llvm_module.c: kernels, entry points and the model descriptor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/kiln_abi.h"
#include "cg_llvm.h"
#include "kernel_plan.h"

static void init_types(CgLlvm *cg) {
  LLVMContextRef c = cg->ctx;
  cg->i1 = LLVMInt1TypeInContext(c);
  cg->i8 = LLVMInt8TypeInContext(c);
  cg->i16 = LLVMInt16TypeInContext(c);
  cg->i32 = LLVMInt32TypeInContext(c);
  cg->i64 = LLVMInt64TypeInContext(c);
  cg->f32 = LLVMFloatTypeInContext(c);
  cg->f64 = LLVMDoubleTypeInContext(c);
  cg->ptr = LLVMPointerTypeInContext(c, 0);
  cg->void_t = LLVMVoidTypeInContext(c);
  LLVMTypeRef fields[CG_ARG_BUFS + 1] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr,
                                         LLVMArrayType2(cg->i64, IR_MAX_SYMS), cg->ptr};
  cg->kargs_t = LLVMStructTypeInContext(c, fields, CG_ARG_BUFS + 1, 0);
  LLVMTypeRef kparams[3] = {cg->ptr, cg->i64, cg->i64};
  cg->kernel_fn_t = LLVMFunctionType(cg->void_t, kparams, 3, 0);
}

/* ---- kernel slots: the buffers a launch passes ----------------------------- */

/* The distinct values a kernel's ops read and write, in op order, operands
 * before results; each launch's slot table says where slot i lives. */
typedef struct {
  int n, cap;
  const IrValue **v;
} Slots;

static void slots_add(Slots *s, const IrValue *v) {
  for (int i = 0; i < s->n; i++)
    if (s->v[i] == v) return;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
    if (!s->v) abort(); /* out of memory */
  }
  s->v[s->n++] = v;
}

static int slot_index(const Slots *s, const IrValue *v) {
  for (int i = 0; i < s->n; i++)
    if (s->v[i] == v) return i;
  return -1;
}

static const IrOp *kernel_op(const KEntryPlan *ep, const KKernel *k, int i) {
  return ep->func->ops[k->first_op + i];
}

static int kernel_nops(const KKernel *k) { return k->nops > 0 ? k->nops : 1; }

static Slots kernel_slots(const KEntryPlan *ep, const KKernel *k) {
  Slots s = {0};
  for (int o = 0; o < kernel_nops(k); o++) {
    const IrOp *op = kernel_op(ep, k, o);
    for (int i = 0; i < op->nin; i++) slots_add(&s, op->in[i]);
    for (int i = 0; i < op->nout; i++) slots_add(&s, op->out[i]);
  }
  return s;
}

/* ---- kernel keys: equal keys, identical code ----------------------------------- */

/* Everything the emitted code depends on, as text: the schedule, each
 * op's kind, attributes and operand slots, and each slot's value kind,
 * buffer kind, dtype, dims and layout. Not the buffers' offsets: those
 * come with the launch. */
static void key_dim(IrBuf *b, IrDim d) {
  ir_buf_printf(b, "%lld", (long long)d.c);
  for (int s = 0; s < IR_MAX_SYMS; s++)
    if (d.k[s]) ir_buf_printf(b, "%+lld*s%d", (long long)d.k[s], s);
}

static void key_attr(IrBuf *b, const IrAttrSpec *spec, const IrAttr *a) {
  if (!a->set) return;
  ir_buf_printf(b, " %s=", spec->name);
  switch (spec->kind) {
  case IR_ATTR_INT:
  case IR_ATTR_BOOL: ir_buf_printf(b, "%lld", (long long)a->i); break;
  case IR_ATTR_FLOAT: ir_buf_printf(b, "%a", a->f); break;
  case IR_ATTR_STR: ir_buf_printf(b, "%zu:%s", a->s ? strlen(a->s) : 0, a->s ? a->s : ""); break;
  case IR_ATTR_INTS:
    for (int i = 0; i < a->nints; i++) ir_buf_printf(b, "%s%lld", i ? "," : "[", (long long)a->ints[i]);
    ir_buf_printf(b, "]");
    break;
  case IR_ATTR_DIM: key_dim(b, a->dim); break;
  }
}

static void key_op(IrBuf *b, const IrOp *op, const Slots *s) {
  const IrOpSpec *spec = ir_op_spec(op->kind);
  ir_buf_printf(b, "%s(", spec->name);
  for (int i = 0; i < op->nin; i++) ir_buf_printf(b, " %d", slot_index(s, op->in[i]));
  ir_buf_printf(b, " ->");
  for (int i = 0; i < op->nout; i++) ir_buf_printf(b, " %d", slot_index(s, op->out[i]));
  ir_buf_printf(b, ")");
  for (int i = 0; i < spec->nattrs; i++) key_attr(b, &spec->attrs[i], &op->attrs[i]);
  ir_buf_printf(b, ";");
}

static void key_slot(IrBuf *b, const KernelPlan *p, const IrValue *v) {
  const KBuffer *buf = kplan_buffer(p, v);
  ir_buf_printf(b, " v%d/b%d/%s/%s[", (int)v->kind, (int)buf->kind, ir_dtype_name(v->type.dtype),
                ir_dtype_name(buf->type.dtype));
  for (int i = 0; i < v->type.rank; i++) {
    if (i) ir_buf_printf(b, ",");
    key_dim(b, v->type.dims[i]);
  }
  ir_buf_printf(b, "]");
  if (v->kind == IR_VAL_PARAM && v->layout.panel)
    ir_buf_printf(b, "L%d.%d", v->layout.axis, v->layout.panel);
}

static char *kernel_key(const KernelPlan *p, const KEntryPlan *ep, const KKernel *k,
                        const Slots *s) {
  IrBuf b = {0};
  ir_buf_printf(&b, "%d %lld %d %lld %lld %lld;", k->parallel_axis, (long long)k->chunk,
                k->vector_width, (long long)k->tile_m, (long long)k->tile_n,
                (long long)k->tile_k);
  for (int o = 0; o < kernel_nops(k); o++) key_op(&b, kernel_op(ep, k, o), s);
  for (int i = 0; i < s->n; i++) key_slot(&b, p, s->v[i]);
  return b.data;
}

/* The kernels emitted so far, by key. A handful per layer, so a list. */
typedef struct {
  char *key;
  uint64_t hash;
  LLVMValueRef fn;
  bool shareable; /* its code read no baked offset (CgLlvm.slot_miss) */
} EmittedKernel;

typedef struct {
  int n, cap;
  EmittedKernel *k;
} KernelTable;

static LLVMValueRef table_find(const KernelTable *t, const char *key, uint64_t hash) {
  for (int i = 0; i < t->n; i++)
    if (t->k[i].shareable && t->k[i].hash == hash && strcmp(t->k[i].key, key) == 0)
      return t->k[i].fn;
  return NULL;
}

static void table_add(KernelTable *t, char *key, uint64_t hash, LLVMValueRef fn, bool shareable) {
  if (t->n == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 32;
    t->k = realloc(t->k, (size_t)t->cap * sizeof *t->k);
    if (!t->k) abort(); /* out of memory */
  }
  t->k[t->n++] = (EmittedKernel){key, hash, fn, shareable};
}

static void table_free(KernelTable *t) {
  for (int i = 0; i < t->n; i++) free(t->k[i].key);
  free(t->k);
}

/* ---- kernels ---------------------------------------------------------------- */

/* The launch's buffers into cg: KArgs.bufs points at its slot table,
 * pairs {KArgs field, byte offset}, so slot i is
 * ((uint8_t **)args)[table[2i]] + table[2i + 1]. */
static void load_slots(CgLlvm *cg) {
  LLVMValueRef field = LLVMBuildStructGEP2(cg->b, cg->kargs_t, cg->args, CG_ARG_BUFS, "");
  LLVMValueRef table = LLVMBuildLoad2(cg->b, cg->ptr, field, "bufs");
  for (int i = 0; i < cg->nslots; i++) {
    LLVMValueRef at[2] = {cg_i64(cg, 2 * i), cg_i64(cg, 2 * i + 1)};
    LLVMValueRef f = LLVMBuildLoad2(cg->b, cg->i64,
                                    LLVMBuildInBoundsGEP2(cg->b, cg->i64, table, &at[0], 1, ""), "");
    LLVMValueRef off = LLVMBuildLoad2(cg->b, cg->i64,
                                      LLVMBuildInBoundsGEP2(cg->b, cg->i64, table, &at[1], 1, ""), "");
    LLVMValueRef base = LLVMBuildLoad2(cg->b, cg->ptr,
                                       LLVMBuildInBoundsGEP2(cg->b, cg->ptr, cg->args, &f, 1, ""), "");
    cg->slot_ptrs[i] = LLVMBuildInBoundsGEP2(cg->b, cg->i8, base, &off, 1, cg->slot_values[i]->name);
  }
}

/* Loads the base pointers and symbol values of KArgs into cg. */
static void load_args(CgLlvm *cg) {
  for (int i = 0; i < CG_ARG_SYMS; i++) {
    LLVMValueRef p = LLVMBuildStructGEP2(cg->b, cg->kargs_t, cg->args, (unsigned)i, "");
    cg->base[i] = LLVMBuildLoad2(cg->b, cg->ptr, p, "");
  }
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    LLVMValueRef idx[3] = {cg_i64(cg, 0), LLVMConstInt(cg->i32, CG_ARG_SYMS, 0), cg_i64(cg, s)};
    LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->kargs_t, cg->args, idx, 3, "");
    cg->sym[s] = LLVMBuildLoad2(cg->b, cg->i64, p, "");
  }
  load_slots(cg);
}

/* Emits kernel k as a new function named k->name, reading its buffers
 * through slots s; *shareable tells whether it read nothing else. */
static LLVMValueRef emit_kernel(CgLlvm *cg, const KEntryPlan *ep, const KKernel *k,
                                const Slots *s, bool *shareable) {
  const IrOp *op = ep->func->ops[k->first_op];
  const CgOpEmitter *em = cg_op_emitter(op->kind);
  if (!em) {
    ir_error(cg->d, op->loc, "the CPU backend cannot lower op '%s' yet", ir_op_spec(op->kind)->name);
    return NULL;
  }
  LLVMValueRef fn = LLVMAddFunction(cg->mod, k->name, cg->kernel_fn_t);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  cg->fn = fn;
  LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
  cg->args = LLVMGetParam(fn, 0);
  cg->nslots = s->n;
  cg->slot_values = s->v;
  cg->slot_ptrs = calloc((size_t)(s->n ? s->n : 1), sizeof *cg->slot_ptrs);
  if (!cg->slot_ptrs) abort(); /* out of memory */
  cg->slot_miss = false;
  load_args(cg);
  bool ok = em->emit(cg, op, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2));
  if (ok) LLVMBuildRetVoid(cg->b);
  *shareable = !cg->slot_miss;
  free(cg->slot_ptrs);
  cg->nslots = 0;
  cg->slot_values = NULL;
  cg->slot_ptrs = NULL;
  return ok ? fn : NULL;
}

/* The function for kernel k: one emitted earlier with the same key (the
 * same op in another layer), or a new one. */
static LLVMValueRef shared_kernel(CgLlvm *cg, KernelTable *t, const KEntryPlan *ep,
                                  const KKernel *k, const Slots *s) {
  char *key = kernel_key(cg->plan, ep, k, s);
  uint64_t hash = kiln_hash64(key, strlen(key), KILN_HASH_SEED);
  LLVMValueRef fn = table_find(t, key, hash);
  if (fn) {
    free(key);
    return fn;
  }
  bool shareable = false;
  fn = emit_kernel(cg, ep, k, s, &shareable);
  if (!fn) {
    free(key);
    return NULL;
  }
  table_add(t, key, hash, fn, shareable);
  return fn;
}

/* The KilnExec struct of kiln_abi.h. */
static LLVMTypeRef exec_type(CgLlvm *cg) {
  LLVMTypeRef f[5] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr};
  return LLVMStructTypeInContext(cg->ctx, f, 5, 0);
}

static LLVMValueRef ret_if(CgLlvm *cg, LLVMValueRef cond, int status) {
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "fail");
  LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ok");
  LLVMBuildCondBr(cg->b, cond, fail, ok);
  LLVMPositionBuilderAtEnd(cg->b, fail);
  LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, (unsigned)status, 0));
  LLVMPositionBuilderAtEnd(cg->b, ok);
  return NULL;
}

/* A launch's slot table (load_slots): a constant global, so an entry
 * stores one pointer per launch whatever the kernel reads. A buffer
 * without storage (KBUF_NONE) points at the weights, never read. */
static LLVMValueRef slot_table(CgLlvm *cg, const KKernel *k, const Slots *s) {
  int n = 2 * (s->n ? s->n : 1);
  LLVMValueRef *v = calloc((size_t)n, sizeof *v);
  if (!v) abort(); /* out of memory */
  v[0] = v[1] = cg_i64(cg, 0);
  for (int i = 0; i < s->n; i++) {
    const KBuffer *buf = kplan_buffer(cg->plan, s->v[i]);
    int field = CG_ARG_WEIGHTS;
    uint64_t off = buf->offset;
    switch (buf->kind) {
    case KBUF_ARENA: field = CG_ARG_ARENA; break;
    case KBUF_STATE: field = CG_ARG_STATE; break;
    case KBUF_INPUT: field = CG_ARG_TOKENS, off = 0; break;
    case KBUF_OUTPUT: field = CG_ARG_LOGITS, off = 0; break;
    case KBUF_WEIGHT: break;
    default: off = 0; break;
    }
    v[2 * i] = cg_i64(cg, field);
    v[2 * i + 1] = cg_i64(cg, (int64_t)off);
  }
  LLVMValueRef init = LLVMConstArray2(cg->i64, v, (uint64_t)n);
  free(v);
  char name[300];
  snprintf(name, sizeof name, "%s.bufs", k->name);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

/* int entry(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P, float *logits) */
static LLVMValueRef emit_entry(CgLlvm *cg, const KEntryPlan *ep, LLVMValueRef *kernels,
                               const Slots *slots, const CgModuleInfo *info) {
  LLVMTypeRef params[5] = {cg->ptr, cg->ptr, cg->i64, cg->i64, cg->ptr};
  LLVMTypeRef fty = LLVMFunctionType(cg->i32, params, 5, 0);
  char name[256];
  snprintf(name, sizeof name, "%s.%s", info->symbol, ep->func->name);
  LLVMValueRef fn = LLVMAddFunction(cg->mod, name, fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  cg->fn = fn;
  LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
  LLVMValueRef ex = LLVMGetParam(fn, 0), T = LLVMGetParam(fn, 2), P = LLVMGetParam(fn, 3);

  /* Bounds: 1 <= T <= max_tokens, 0 <= P, P + T <= max_context. */
  LLVMValueRef bad_t = LLVMBuildOr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, T, cg_i64(cg, 1), ""),
                                   LLVMBuildICmp(cg->b, LLVMIntSGT, T, cg_i64(cg, info->max_tokens), ""), "");
  ret_if(cg, LLVMBuildOr(cg->b, bad_t, LLVMBuildICmp(cg->b, LLVMIntSLT, P, cg_i64(cg, 0), ""), ""),
         KILN_ERR_ARGS);
  ret_if(cg, LLVMBuildICmp(cg->b, LLVMIntSGT, LLVMBuildAdd(cg->b, P, T, ""), cg_i64(cg, info->max_context), ""),
         KILN_ERR_CONTEXT);

  LLVMValueRef args = LLVMBuildAlloca(cg->b, cg->kargs_t, "kargs");
  LLVMTypeRef ext = exec_type(cg);
  for (int i = 0; i < 3; i++) { /* weights, arena, state from KilnExec */
    LLVMValueRef src = LLVMBuildLoad2(cg->b, cg->ptr, LLVMBuildStructGEP2(cg->b, ext, ex, (unsigned)i, ""), "");
    LLVMBuildStore(cg->b, src, LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, (unsigned)i, ""));
  }
  LLVMBuildStore(cg->b, LLVMGetParam(fn, 1), LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, CG_ARG_TOKENS, ""));
  LLVMBuildStore(cg->b, LLVMGetParam(fn, 4), LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, CG_ARG_LOGITS, ""));
  LLVMValueRef bufs_field = LLVMBuildStructGEP2(cg->b, cg->kargs_t, args, CG_ARG_BUFS, "");
  for (int s = 0; s < IR_MAX_SYMS; s++) {
    LLVMValueRef v = cg_i64(cg, 0);
    if (s < cg->m->nsyms && strcmp(cg->m->syms[s].name, "T") == 0) v = T;
    if (s < cg->m->nsyms && strcmp(cg->m->syms[s].name, "P") == 0) v = P;
    LLVMValueRef idx[3] = {cg_i64(cg, 0), LLVMConstInt(cg->i32, CG_ARG_SYMS, 0), cg_i64(cg, s)};
    LLVMBuildStore(cg->b, v, LLVMBuildInBoundsGEP2(cg->b, cg->kargs_t, args, idx, 3, ""));
    cg->sym[s] = v; /* iteration counts below are computed from these */
  }

  LLVMTypeRef pf_params[5] = {cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i64};
  LLVMTypeRef pf_t = LLVMFunctionType(cg->void_t, pf_params, 5, 0);
  LLVMValueRef pf = LLVMBuildLoad2(cg->b, cg->ptr, LLVMBuildStructGEP2(cg->b, ext, ex, 3, ""), "parallel_for");
  for (int k = 0; k < ep->nkernels; k++) {
    if (!kernels[k]) continue; /* a view: nothing to run */
    const IrOp *op = ep->func->ops[ep->kernels[k].first_op];
    LLVMValueRef n = cg_op_emitter(op->kind)->iterations(cg, op);
    /* parallel_for returns when the kernel is done: the next launch may
     * point KArgs elsewhere */
    LLVMBuildStore(cg->b, slot_table(cg, &ep->kernels[k], &slots[k]), bufs_field);
    LLVMValueRef call_args[5] = {ex, kernels[k], args, n, cg_i64(cg, ep->kernels[k].chunk)};
    LLVMBuildCall2(cg->b, pf_t, pf, call_args, 5, "");
  }
  LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, 0, 0));
  return fn;
}

LLVMValueRef cg_const_string(CgLlvm *cg, const char *s, uint64_t len, const char *name) {
  LLVMValueRef init = LLVMConstStringInContext2(cg->ctx, s, (size_t)len, 0);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

static LLVMValueRef const_string(CgLlvm *cg, const char *s, const char *name) {
  return cg_const_string(cg, s, strlen(s), name);
}

LLVMValueRef cg_const_bytes(CgLlvm *cg, const uint8_t *data, uint64_t n, unsigned align,
                            const char *name) {
  if (!data || !n) return LLVMConstNull(cg->ptr);
  LLVMValueRef init = LLVMConstStringInContext2(cg->ctx, (const char *)data, (size_t)n, 1);
  LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetAlignment(g, align);
  return g;
}

/* The KilnModelDesc global; field order and types follow kiln_abi.h. */
static void emit_desc(CgLlvm *cg, const CgModuleInfo *info, LLVMValueRef prefill, LLVMValueRef decode) {
  const KernelPlan *p = cg->plan;
  LLVMTypeRef ft[] = {cg->i32, cg->ptr, cg->i64, cg->ptr, cg->i64, cg->i64, cg->i64, cg->i64, cg->i64,
                      cg->i64, cg->i64, cg->i64, cg->i64, cg->ptr, cg->ptr, cg->i64, cg->ptr, cg->ptr, cg->i32,
                      cg->ptr};
  unsigned nf = sizeof ft / sizeof ft[0];
  LLVMTypeRef desc_t = LLVMStructTypeInContext(cg->ctx, ft, nf, 0);
  LLVMValueRef v[] = {
      LLVMConstInt(cg->i32, KILN_ABI_VERSION, 0),
      const_string(cg, KILN_VERSION, "kiln.version"),
      LLVMConstInt(cg->i64, info->model_hash, 0),
      const_string(cg, info->model_name ? info->model_name : "model", "kiln.model_name"),
      cg_i64(cg, info->vocab), cg_i64(cg, info->max_context), cg_i64(cg, info->max_tokens),
      cg_i64(cg, info->bos_id), cg_i64(cg, info->eos_id),
      LLVMConstInt(cg->i64, p->arena_bytes, 0), LLVMConstInt(cg->i64, p->state_bytes, 0),
      LLVMConstInt(cg->i64, p->weights_bytes, 0), LLVMConstInt(cg->i64, info->weights_checksum, 0),
      info->embed_weights ? cg_const_bytes(cg, info->weights, p->weights_bytes, 64, "kiln.weights")
                          : LLVMConstNull(cg->ptr),
      cg_const_bytes(cg, info->tokenizer, info->tokenizer_bytes, 64, "kiln.tokenizer"),
      LLVMConstInt(cg->i64, info->tokenizer_bytes, 0),
      prefill ? prefill : LLVMConstNull(cg->ptr),
      decode ? decode : LLVMConstNull(cg->ptr),
      LLVMConstInt(cg->i32, info->all_logits, 0),
      cg_llvm_cuda_desc(cg, info->cuda),
  };
  LLVMValueRef g = LLVMAddGlobal(cg->mod, desc_t, info->symbol);
  LLVMSetInitializer(g, LLVMConstNamedStruct(desc_t, v, nf));
  LLVMSetGlobalConstant(g, 1);
}

/* One entry: its kernels (shared through t with the other entries and
 * layers), then the entry function that launches them. */
static LLVMValueRef emit_entry_and_kernels(CgLlvm *cg, KernelTable *t, const KEntryPlan *ep,
                                           const CgModuleInfo *info) {
  size_t n = (size_t)(ep->nkernels ? ep->nkernels : 1);
  LLVMValueRef *kernels = calloc(n, sizeof *kernels);
  Slots *slots = calloc(n, sizeof *slots);
  if (!kernels || !slots) abort(); /* out of memory */
  bool ok = true;
  for (int k = 0; k < ep->nkernels && ok; k++) {
    if (kplan_kernel_is_view(cg->plan, ep, k)) continue;
    slots[k] = kernel_slots(ep, &ep->kernels[k]);
    ok = (kernels[k] = shared_kernel(cg, t, ep, &ep->kernels[k], &slots[k])) != NULL;
  }
  LLVMValueRef fn = ok ? emit_entry(cg, ep, kernels, slots, info) : NULL;
  for (int k = 0; k < ep->nkernels; k++) free(slots[k].v);
  free(slots);
  free(kernels);
  return fn;
}

static bool emit_all(CgLlvm *cg, const CgModuleInfo *info) {
  LLVMValueRef prefill = NULL, decode = NULL;
  KernelTable table = {0};
  bool ok = true;
  for (int e = 0; e < cg->plan->nentries && ok; e++) {
    const KEntryPlan *ep = &cg->plan->entries[e];
    LLVMValueRef fn = emit_entry_and_kernels(cg, &table, ep, info);
    ok = fn != NULL;
    if (ok && strcmp(ep->func->name, "prefill") == 0) prefill = fn;
    if (ok && strcmp(ep->func->name, "decode") == 0) decode = fn;
  }
  table_free(&table);
  if (ok) emit_desc(cg, info, prefill, decode);
  return ok;
}

bool cg_llvm_compile(const KernelPlan *plan, const CgModuleInfo *info, const CgTarget *t, CgEmitKind kind,
                     const char *path, IrDiag *d) {
  CgLlvm cg = {0};
  cg.plan = plan;
  cg.m = plan->module;
  cg.d = d;
  cg.ktarget = t->ktarget ? t->ktarget : ktarget_default();
  if (!cg_target_machine(t, &cg.tm, d)) return false;
  cg.ctx = LLVMContextCreate();
  cg.mod = LLVMModuleCreateWithNameInContext(cg.m->name, cg.ctx);
  cg.b = LLVMCreateBuilderInContext(cg.ctx);
  char *triple = LLVMGetTargetMachineTriple(cg.tm);
  LLVMSetTarget(cg.mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(cg.tm);
  LLVMSetModuleDataLayout(cg.mod, layout);
  LLVMDisposeTargetData(layout);
  init_types(&cg);
  bool ok = emit_all(&cg, info) && cg_optimize(&cg, t->opt_level, d) && cg_write(&cg, kind, path, d);
  LLVMDisposeBuilder(cg.b);
  LLVMDisposeModule(cg.mod);
  LLVMContextDispose(cg.ctx);
  LLVMDisposeTargetMachine(cg.tm);
  return ok;
}
