/* cmd_run_ir.c: `kiln run-ir`: run entries of a module in the reference
 * interpreter and print (or save) their results.
 *
 *   kiln run-ir m.kir --entry prefill --sym P=0 --input tok=1,2,3 \
 *                     --entry decode --sym P=3 --input tok=4
 *
 * Each --entry starts a new call on the same interpreter, so state (the KV
 * cache) carries from one call to the next; --sym and --input after it
 * belong to that call. Output, per call and result:
 *
 *   // call 1 (@prefill) result 0: f32[3, 4]
 *   0.5 1 -2.25 3
 *   ...                      (one line per row of the last dim, %.9g)
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "interp.h"
#include "npy.h"

static void help(void) {
  printf(
      "usage: kiln run-ir FILE.kir --entry NAME [--sym NAME=N]... [--input NAME=VALUES]...\n"
      "                   [--entry NAME ...]... [--param NAME=FILE.npy]... [--output-npy DIR]\n\n"
      "Interprets entry functions of FILE (reference interpreter) and prints their results.\n"
      "Each --entry starts a new call on the same interpreter: state (the KV cache) carries\n"
      "over to the next call. --sym and --input belong to the --entry before them.\n\n"
      "  --entry NAME             call function @NAME\n"
      "  --sym NAME=N             value of symbol NAME for this call (else inferred from inputs)\n"
      "  --input NAME=VALUES      argument %%NAME: comma-separated numbers, row-major (the shape\n"
      "                           is the declared one; one unknown symbol is inferred from the\n"
      "                           count), or @FILE.npy (shape from the file)\n"
      "  --param NAME=FILE.npy    bind parameter @NAME (needed unless it has inline values)\n"
      "  --output-npy DIR         also write DIR/call<N>_result<M>.npy\n"
      "  --help, --version\n\n"
      "Output: per result a line '// call N (@NAME) result M: DTYPE[DIMS]', then one line per\n"
      "row of the last dim, values separated by spaces (floats %%.9g, ints in decimal).\n");
}

/* ---- arguments ---- */

typedef enum { ITEM_SYM, ITEM_INPUT } ItemKind;

/* One --sym or --input: NAME=VALUE, belonging to call `call`. */
typedef struct {
  ItemKind kind;
  int call;
  const char *text; /* "NAME=VALUE" */
} Item;

typedef struct {
  const char *file, *npy_dir;
  int ncalls, nitems, nparams;
  const char **entries; /* [ncalls] */
  Item *items;          /* [nitems] */
  const char **params;  /* [nparams] "NAME=FILE" */
} RunArgs;

static void free_args(RunArgs *r) {
  free(r->entries);
  free(r->items);
  free(r->params);
}

/* Splits "NAME=VALUE": returns the name's length, or -1 without '='. */
static int name_len(const char *text) {
  const char *eq = strchr(text, '=');
  return eq && eq != text ? (int)(eq - text) : -1;
}

static bool add_item(CliArgs *a, RunArgs *r, ItemKind kind, const char *flag, const char *v) {
  if (!v) return false;
  if (r->ncalls == 0) {
    a->failed = true;
    return cli_usage_error("run-ir", "%s must follow an --entry", flag), false;
  }
  if (name_len(v) < 0) {
    a->failed = true;
    return cli_usage_error("run-ir", "%s expects NAME=VALUE, got '%s'", flag, v), false;
  }
  r->items[r->nitems++] = (Item){kind, r->ncalls - 1, v};
  return true;
}

/* Reads the flags into r; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, RunArgs *r) {
  CliArgs a = cli_args(argc, argv, "run-ir");
  while (cli_next(&a)) {
    const char *v;
    if (cli_flag(&a, "--help")) return help(), 0;
    if (cli_flag(&a, "--version")) return cli_version();
    if (cli_value(&a, "--entry", &v)) {
      if (v) r->entries[r->ncalls++] = v;
    } else if (cli_value(&a, "--sym", &v)) add_item(&a, r, ITEM_SYM, "--sym", v);
    else if (cli_value(&a, "--input", &v)) add_item(&a, r, ITEM_INPUT, "--input", v);
    else if (cli_value(&a, "--param", &v)) {
      if (v && name_len(v) < 0)
        return cli_usage_error("run-ir", "--param expects NAME=FILE.npy, got '%s'", v);
      if (v) r->params[r->nparams++] = v;
    } else if (cli_value(&a, "--output-npy", &v)) r->npy_dir = v;
    else if (cli_is_option(&a)) return cli_unknown(&a);
    else if (r->file)
      return cli_usage_error("run-ir", "more than one input file ('%s' and '%s')", r->file, a.arg);
    else r->file = a.arg;
  }
  if (a.failed) return 1;
  if (!r->file) return cli_usage_error("run-ir", "no input file; see 'kiln run-ir --help'");
  if (!r->ncalls) return cli_usage_error("run-ir", "no --entry given; see 'kiln run-ir --help'");
  return -1;
}

/* ---- parameters ---- */

static bool bind_params(IrInterp *it, const IrModule *m, const RunArgs *r, IrDiag *d) {
  for (int i = 0; i < r->nparams; i++) {
    int n = name_len(r->params[i]);
    const IrValue *p = ir_module_find_global(m, r->params[i], (size_t)n);
    if (!p || p->kind != IR_VAL_PARAM)
      return ir_error(d, (IrLoc){0}, "--param: the module has no parameter @%.*s", n,
                      r->params[i]);
    IrTensor t;
    if (!npy_load(r->params[i] + n + 1, p->type.dtype, &t, d)) return false;
    bool ok = ir_interp_bind_param(it, p->name, &t, d);
    ir_tensor_free(&t);
    if (!ok) return false;
  }
  return true;
}

/* ---- inputs ---- */

/* The item of call c and kind k named `name`, or NULL. */
static const Item *find_item(const RunArgs *r, int c, ItemKind k, const char *name) {
  for (int i = 0; i < r->nitems; i++) {
    const Item *it = &r->items[i];
    if (it->call == c && it->kind == k && name_len(it->text) == (int)strlen(name) &&
        strncmp(it->text, name, strlen(name)) == 0)
      return it;
  }
  return NULL;
}

/* v fits int dtype t without wrapping. */
static bool int_fits(int64_t v, IrDType t) {
  int bits = ir_dtype_bits(t);
  if (bits >= 64) return true;
  int64_t lim = INT64_C(1) << (bits - 1);
  return v >= -lim && v < lim;
}

static int count_values(const char *s) {
  if (!*s) return 0;
  int n = 1;
  for (; *s; s++) n += *s == ',';
  return n;
}

/* Shape of argument type t holding `count` values. Known symbols evaluate;
 * one unknown symbol appearing once, as k*S + rest, is solved from the
 * count and recorded in syms. */
static bool resolve_shape(const IrModule *m, const IrValue *arg, int64_t count, int64_t *syms,
                          int64_t *shape, IrDiag *d) {
  const IrType *t = &arg->type;
  int unknown_dim = -1, unknown_sym = -1;
  int64_t known = 1;
  for (int i = 0; i < t->rank; i++) {
    int missing = -1, nmissing = 0;
    for (int s = 0; s < IR_MAX_SYMS; s++)
      if (t->dims[i].k[s] && syms[s] == IR_SYM_UNSET) missing = s, nmissing++;
    if (nmissing == 0) {
      shape[i] = ir_dim_eval(t->dims[i], syms);
      known *= shape[i];
      continue;
    }
    if (nmissing > 1 || unknown_dim >= 0)
      return ir_error(d, (IrLoc){0},
                      "cannot infer the shape of %%%s from a list: more than one unknown symbol; "
                      "give them with --sym",
                      arg->name);
    unknown_dim = i, unknown_sym = missing;
  }
  if (unknown_dim < 0) {
    if (known == count) return true;
    return ir_error(d, (IrLoc){0}, "%%%s expects %lld value%s, got %lld", arg->name,
                    (long long)known, known == 1 ? "" : "s", (long long)count);
  }
  IrDim dim = t->dims[unknown_dim];
  int64_t k = dim.k[unknown_sym];
  dim.k[unknown_sym] = 0;
  int64_t rest = ir_dim_eval(dim, syms), value = known ? count / known : 0;
  int64_t sym = k ? (value - rest) / k : 0;
  if (known == 0 || count % known != 0 || (value - rest) % k != 0 || sym < 0 ||
      sym > m->syms[unknown_sym].max)
    return ir_error(d, (IrLoc){0}, "%%%s: %lld values do not fit its shape for any %s in [0, %lld]",
                    arg->name, (long long)count, m->syms[unknown_sym].name,
                    (long long)m->syms[unknown_sym].max);
  syms[unknown_sym] = sym;
  shape[unknown_dim] = value;
  return true;
}

/* Fills t from "1,2.5,-3": ints must be integers, floats are rounded to
 * the dtype. */
static bool parse_values(const IrValue *arg, const char *s, IrTensor *t, IrDiag *d) {
  int64_t n = ir_tensor_numel(t);
  for (int64_t e = 0; e < n; e++) {
    char *end;
    errno = 0;
    if (t->f) t->f[e] = ir_round_to_dtype(strtof(s, &end), t->dtype);
    else t->i[e] = strtoll(s, &end, 10);
    while (*end == ' ') end++;
    if (end == s || (t->i && errno == ERANGE) || (*end != ',' && *end != '\0'))
      return ir_error(d, (IrLoc){0}, "%%%s: value %lld ('%.*s') is not %s", arg->name,
                      (long long)e, (int)strcspn(s, ","), s,
                      t->f ? "a number" : "an integer");
    if (t->i && !int_fits(t->i[e], t->dtype))
      return ir_error(d, (IrLoc){0}, "%%%s: value %lld (%lld) does not fit %s", arg->name,
                      (long long)e, (long long)t->i[e], ir_dtype_name(t->dtype));
    s = end + (*end == ',');
  }
  return true;
}

/* The tensor for argument `arg` from its --input text. */
static bool make_input(const IrModule *m, const IrValue *arg, const char *text, int64_t *syms,
                       IrTensor *t, IrDiag *d) {
  if (text[0] == '@') return npy_load(text + 1, arg->type.dtype, t, d);
  int64_t shape[IR_MAX_RANK];
  if (!resolve_shape(m, arg, count_values(text), syms, shape, d)) return false;
  *t = ir_tensor_new(arg->type.dtype, arg->type.rank, shape);
  if (parse_values(arg, text, t, d)) return true;
  ir_tensor_free(t);
  return false;
}

static bool same_name(const char *name, const char *text, int n) {
  return strlen(name) == (size_t)n && strncmp(name, text, (size_t)n) == 0;
}

/* Every --sym and --input of call c names a symbol or an argument, once. */
static bool check_names(const IrModule *m, const IrFunc *f, const RunArgs *r, int c,
                        int64_t *syms, IrDiag *d) {
  for (int i = 0; i < r->nitems; i++) {
    const Item *it = &r->items[i];
    int n = name_len(it->text);
    if (it->call != c) continue;
    for (int j = 0; j < i; j++)
      if (r->items[j].call == c && r->items[j].kind == it->kind &&
          name_len(r->items[j].text) == n && strncmp(r->items[j].text, it->text, (size_t)n) == 0)
        return ir_error(d, (IrLoc){0}, "%s %.*s is given twice",
                        it->kind == ITEM_SYM ? "--sym" : "--input", n, it->text);
    if (it->kind == ITEM_INPUT) {
      bool is_arg = false;
      for (int a = 0; a < f->nargs; a++) is_arg |= same_name(f->args[a]->name, it->text, n);
      if (!is_arg)
        return ir_error(d, (IrLoc){0}, "--input %.*s: @%s has no such argument", n, it->text,
                        f->name);
      continue;
    }
    int s = ir_module_find_sym(m, it->text, (size_t)n);
    if (s < 0) return ir_error(d, (IrLoc){0}, "--sym: the module has no symbol %.*s", n, it->text);
    char *end;
    const char *v = it->text + n + 1;
    syms[s] = strtoll(v, &end, 10);
    if (end == v || *end)
      return ir_error(d, (IrLoc){0}, "--sym %.*s: '%s' is not an integer", n, it->text, v);
    if (syms[s] < 0 || syms[s] > m->syms[s].max)
      return ir_error(d, (IrLoc){0}, "--sym %.*s=%s is outside [0, %lld]", n, it->text, v,
                      (long long)m->syms[s].max);
  }
  return true;
}

/* "error: what" becomes "error: call 2 (@decode): what"; an error with a
 * location (an npy file's name) keeps it first. */
static void name_call_in_error(IrDiag *d, int c, const char *entry) {
  char old[sizeof d->msg];
  memcpy(old, d->msg, sizeof old);
  const char *tag = strstr(old, "error: ");
  int head = tag ? (int)(tag - old) + 7 : 0;
  IrBuf b = {0};
  ir_buf_printf(&b, "%.*scall %d (@%s): %s", head, old, c + 1, entry, old + head);
  size_t n = b.len < sizeof d->msg - 1 ? b.len : sizeof d->msg - 1; /* cut off if too long */
  memcpy(d->msg, b.data, n);
  d->msg[n] = '\0';
  ir_buf_free(&b);
}

/* Builds the inputs of call c, in argument order; *inputs has f->nargs. */
static bool make_inputs(const IrModule *m, const IrFunc *f, const RunArgs *r, int c,
                        int64_t *syms, IrTensor *inputs, IrDiag *d) {
  bool ok = check_names(m, f, r, c, syms, d);
  for (int a = 0; ok && a < f->nargs; a++) {
    const Item *it = find_item(r, c, ITEM_INPUT, f->args[a]->name);
    if (!it)
      ok = ir_error(d, (IrLoc){0}, "missing --input %s=VALUES", f->args[a]->name);
    else
      ok = make_input(m, f->args[a], it->text + strlen(f->args[a]->name) + 1, syms, &inputs[a], d);
  }
  if (!ok) name_call_in_error(d, c, f->name);
  return ok;
}

/* ---- output ---- */

static void print_value(IrBuf *b, const IrTensor *t, int64_t e) {
  if (t->i) {
    ir_buf_printf(b, "%lld", (long long)t->i[e]);
  } else if (isnan(t->f[e])) {
    ir_buf_printf(b, "nan");
  } else {
    ir_buf_printf(b, "%.9g", t->f[e]);
  }
}

static void print_result(IrBuf *b, int call, const char *entry, int k, const IrTensor *t) {
  ir_buf_printf(b, "// call %d (@%s) result %d: %s[", call, entry, k, ir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank; i++)
    ir_buf_printf(b, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
  ir_buf_printf(b, "]\n");
  int64_t n = ir_tensor_numel(t), row = t->rank ? t->shape[t->rank - 1] : 1;
  for (int64_t e = 0; row > 0 && e < n; e++) {
    print_value(b, t, e);
    ir_buf_printf(b, (e + 1) % row == 0 ? "\n" : " ");
  }
}

static bool save_results(const char *dir, int call, const IrTensor *outs, int nout, IrDiag *d) {
  for (int k = 0; k < nout; k++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/call%d_result%d.npy", dir, call, k);
    if (!npy_save(path, &outs[k], d)) return false;
  }
  return true;
}

/* ---- calls ---- */

static bool run_call(IrInterp *it, const IrModule *m, const RunArgs *r, int c, IrDiag *d) {
  const IrFunc *f = ir_module_find_func(m, r->entries[c]);
  if (!f) return ir_error(d, (IrLoc){0}, "--entry: the module has no function @%s", r->entries[c]);
  int64_t syms[IR_MAX_SYMS];
  ir_interp_syms_unset(syms);
  IrTensor *inputs = calloc((size_t)f->nargs + 1, sizeof *inputs);
  if (!inputs) abort(); /* out of memory */
  IrTensor *outs = NULL;
  int nout = 0;
  bool ok = make_inputs(m, f, r, c, syms, inputs, d) &&
            ir_interp_call(it, f->name, syms, inputs, f->nargs, &outs, &nout, d);
  if (ok) {
    IrBuf b = {0};
    for (int k = 0; k < nout; k++) print_result(&b, c + 1, f->name, k, &outs[k]);
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    ir_buf_free(&b);
    if (r->npy_dir) ok = save_results(r->npy_dir, c + 1, outs, nout, d);
  }
  ir_tensors_free(outs, nout);
  ir_tensors_free(inputs, f->nargs);
  return ok;
}

static int run(const RunArgs *r) {
  IrDiag d = {0};
  IrModule *m = cli_load_module(r->file, &d);
  if (!m) return cli_fail("run-ir", &d);
  IrInterp *it = ir_interp_new(m, &d);
  bool ok = it && bind_params(it, m, r, &d) && (!r->npy_dir || cli_make_dir(r->npy_dir, &d));
  for (int c = 0; ok && c < r->ncalls; c++) ok = run_call(it, m, r, c, &d);
  ir_interp_free(it);
  ir_module_free(m);
  return ok ? 0 : cli_fail("run-ir", &d);
}

int cmd_run_ir(int argc, char **argv) {
  RunArgs r = {0};
  r.entries = calloc((size_t)argc + 1, sizeof *r.entries);
  r.items = calloc((size_t)argc + 1, sizeof *r.items);
  r.params = calloc((size_t)argc + 1, sizeof *r.params);
  if (!r.entries || !r.items || !r.params) abort(); /* out of memory */
  int status = parse_flags(argc, argv, &r);
  if (status < 0) status = run(&r);
  free_args(&r);
  return status;
}
