/* interp.c: the interpreter object: parameters, state, binding.
 * A call itself runs in interp_call.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

/* Concrete shape of a global (param or state); false if a dim is symbolic. */
static bool const_shape(const IrType *t, int64_t *shape) {
  for (int i = 0; i < t->rank; i++) {
    if (!ir_dim_is_const(t->dims[i])) return false;
    shape[i] = t->dims[i].c;
  }
  return true;
}

static bool int_in_range(int64_t v, IrDType t) { return ir_interp_wrap(v, t) == v; }

/* Binds an inline initializer: round floats, require ints that fit. */
static bool bind_inline(IrInterp *it, int k, IrDiag *d) {
  const IrValue *p = it->m->params[k];
  IrTensor *t = &it->params[k];
  int64_t n = ir_tensor_numel(t);
  if (p->ninit != n)
    return ir_error(d, p->loc, "param @%s has %lld initial values, expected %lld", p->name,
                    (long long)p->ninit, (long long)n);
  for (int64_t e = 0; e < n; e++) {
    double v = p->init[e];
    if (t->f) {
      t->f[e] = ir_round_to_dtype((float)v, t->dtype);
    } else if (!(fabs(v) < 9.2e18) || v != trunc(v) || !int_in_range((int64_t)v, t->dtype)) {
      return ir_error(d, p->loc, "param @%s: initial value %g (element %lld) is not an %s",
                      p->name, v, (long long)e, ir_dtype_name(t->dtype));
    } else {
      t->i[e] = (int64_t)v;
    }
  }
  it->bound[k] = true;
  return true;
}

static bool alloc_global(const IrValue *v, IrTensor *t, IrDiag *d) {
  int64_t shape[IR_MAX_RANK];
  if (!const_shape(&v->type, shape))
    return ir_error(d, v->loc, "%s @%s has a symbolic shape; the interpreter needs constant shapes",
                    v->kind == IR_VAL_PARAM ? "param" : "state", v->name);
  *t = ir_tensor_new(v->type.dtype, v->type.rank, shape);
  return true;
}

IrInterp *ir_interp_new(const IrModule *m, IrDiag *d) {
  if (!ir_verify(m, d)) return NULL;
  IrInterp *it = calloc(1, sizeof *it);
  if (!it) abort();
  it->m = m;
  it->params = calloc((size_t)m->nparams + 1, sizeof *it->params);
  it->bound = calloc((size_t)m->nparams + 1, sizeof *it->bound);
  it->states = calloc((size_t)m->nstates + 1, sizeof *it->states);
  if (!it->params || !it->bound || !it->states) abort();
  bool ok = true;
  for (int k = 0; ok && k < m->nparams; k++) {
    ok = alloc_global(m->params[k], &it->params[k], d);
    if (ok && m->params[k]->init) ok = bind_inline(it, k, d);
  }
  for (int k = 0; ok && k < m->nstates; k++) ok = alloc_global(m->states[k], &it->states[k], d);
  if (!ok) {
    ir_interp_free(it);
    return NULL;
  }
  return it;
}

void ir_interp_free(IrInterp *it) {
  if (!it) return;
  for (int k = 0; k < it->m->nparams; k++) ir_tensor_free(&it->params[k]);
  for (int k = 0; k < it->m->nstates; k++) ir_tensor_free(&it->states[k]);
  free(it->params);
  free(it->bound);
  free(it->states);
  free(it);
}

static int find_param(const IrModule *m, const char *name) {
  for (int k = 0; k < m->nparams; k++)
    if (strcmp(m->params[k]->name, name) == 0) return k;
  return -1;
}

/* Copies t's values into the param's storage after checking them. */
static bool copy_param_values(IrTensor *dst, const IrTensor *t, const char *name, IrDiag *d) {
  int64_t n = ir_tensor_numel(dst);
  if (dst->f) {
    for (int64_t e = 0; e < n; e++) dst->f[e] = ir_round_to_dtype(t->f[e], dst->dtype);
    return true;
  }
  for (int64_t e = 0; e < n; e++) {
    if (!int_in_range(t->i[e], dst->dtype))
      return ir_error_at(d, "ir_interp_bind_param",
                         "param @%s: value %lld (element %lld) is outside the range of %s", name,
                         (long long)t->i[e], (long long)e, ir_dtype_name(dst->dtype));
    dst->i[e] = t->i[e];
  }
  return true;
}

bool ir_interp_bind_param(IrInterp *it, const char *name, const IrTensor *t, IrDiag *d) {
  const char *where = "ir_interp_bind_param";
  int k = find_param(it->m, name);
  if (k < 0) return ir_error_at(d, where, "module @%s has no param @%s", it->m->name, name);
  IrTensor *dst = &it->params[k];
  const char *want = ir_dtype_name(dst->dtype);
  if (ir_dtype_is_float(dst->dtype) != ir_dtype_is_float(t->dtype))
    return ir_error_at(d, where, "param @%s is %s but the tensor given is %s", name, want,
                       ir_dtype_name(t->dtype));
  if ((ir_dtype_is_float(t->dtype) ? !t->f : !t->i) && ir_tensor_numel(t) > 0)
    return ir_error_at(d, where, "param @%s: the tensor given has no data", name);
  bool same = t->rank == dst->rank;
  for (int i = 0; same && i < t->rank; i++) same = t->shape[i] == dst->shape[i];
  if (!same) {
    char got[128], exp[128];
    return ir_error_at(d, where, "param @%s: tensor has shape %s, expected %s", name,
                       ir_interp_shape_str(t->shape, t->rank, got, sizeof got),
                       ir_interp_shape_str(dst->shape, dst->rank, exp, sizeof exp));
  }
  if (!copy_param_values(dst, t, name, d)) return false;
  it->bound[k] = true;
  return true;
}

void ir_interp_syms_unset(int64_t *syms) {
  for (int s = 0; s < IR_MAX_SYMS; s++) syms[s] = IR_SYM_UNSET;
}

const IrTensor *ir_interp_state(const IrInterp *it, const char *name) {
  for (int k = 0; k < it->m->nstates; k++)
    if (strcmp(it->m->states[k]->name, name) == 0) return &it->states[k];
  return NULL;
}

void ir_interp_reset_state(IrInterp *it) {
  for (int k = 0; k < it->m->nstates; k++) {
    IrTensor *t = &it->states[k];
    size_t n = (size_t)ir_tensor_numel(t);
    if (t->f) memset(t->f, 0, n * sizeof(float));
    if (t->i) memset(t->i, 0, n * sizeof(int64_t));
  }
}
