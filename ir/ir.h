/* ir.h: kiln's tensor IR.
 *
 * A module holds bounded symbols (T <= 2048), parameters (named weights),
 * persistent state (the KV cache) and entry functions (prefill, decode).
 * A function is a list of ops in SSA form; every value has a dtype and a
 * shape whose dims are linear expressions over the symbols (P+T, 2*T, 64).
 *
 *   module @m {
 *     sym T <= 16
 *     param @w : f32[4, 4]
 *     func @f(%x: f32[T, 4]) -> f32[T, 4] {
 *       %y = matmul(%x, @w) {transpose_b} : f32[T, 4]
 *       return %y
 *     }
 *   }
 *
 * Sections: arena, diagnostics, dtypes, dims and types, ops and attributes,
 * values/ops/functions/modules, building and editing, and the entry points
 * of the other ir/ files (parser, printer, verifier). The interpreter has
 * its own header, ir/interp.h. docs/ir.md documents every op.
 *
 * Ownership: a module owns one arena; everything reachable from the module
 * (names, ops, values, attribute arrays, parameter initializers) lives in it
 * and is freed with ir_module_free().
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_VERSION "0.1.0"

/* ---- arena (ir_arena.c) ---------------------------------------------- */

typedef struct IrArenaBlock IrArenaBlock;
typedef struct {
  IrArenaBlock *head;
  size_t bytes; /* total handed out, for statistics */
} IrArena;

void *ir_arena_alloc(IrArena *a, size_t size);  /* zeroed, 16-byte aligned */
char *ir_arena_strdup(IrArena *a, const char *s);
char *ir_arena_strndup(IrArena *a, const char *s, size_t n);
char *ir_arena_printf(IrArena *a, const char *fmt, ...);
void ir_arena_free(IrArena *a);

/* ---- diagnostics (ir_diag.c) ----------------------------------------- */

/* A source location: file name (not owned), 1-based line and column.
 * line == 0 means "no location". */
typedef struct {
  const char *file;
  int line, col;
} IrLoc;

/* The library reports, the driver prints. One diagnostic is kept: the
 * first error wins, so the root cause is the one the user sees. */
typedef struct {
  bool failed;
  char msg[1024]; /* "file:line:col: error: what was found, what was expected" */
} IrDiag;

/* Formats "file:line:col: error: ..." (or "error: ..." without a location)
 * into d if d has no error yet. Always returns false, so callers can write
 * `return ir_error(d, loc, "...")`. d may be NULL. */
bool ir_error(IrDiag *d, IrLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool ir_verror(IrDiag *d, IrLoc loc, const char *fmt, va_list ap);
/* Like ir_error with a plain prefix (a file name, a JSON path, a tensor
 * name) instead of a line:column: "PREFIX: error: ...". */
bool ir_error_at(IrDiag *d, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- dtypes (ir_types.c) --------------------------------------------- */

typedef enum {
  IR_F32,
  IR_F16,
  IR_BF16,
  IR_I32,
  IR_I64,
  IR_I8,
  IR_I4, /* packed 4-bit signed, two per byte, low nibble first */
  IR_DTYPE_COUNT
} IrDType;

const char *ir_dtype_name(IrDType t);          /* "f32" */
bool ir_dtype_from_name(const char *s, size_t n, IrDType *out);
bool ir_dtype_is_float(IrDType t);              /* f32, f16, bf16 */
bool ir_dtype_is_int(IrDType t);                /* i32, i64, i8, i4 */
/* Storage bits per element: 32, 16, 16, 32, 64, 8, 4. */
int ir_dtype_bits(IrDType t);

/* ---- dims and types (ir_types.c) ------------------------------------- */

#define IR_MAX_RANK 8
#define IR_MAX_SYMS 8

/* A dim is c + sum_s k[s] * sym_s, s indexing the module's symbols in
 * declaration order. 64 is {c=64}; P+T is {k[P]=1, k[T]=1}. */
typedef struct {
  int64_t c;
  int64_t k[IR_MAX_SYMS];
} IrDim;

typedef struct {
  IrDType dtype;
  int rank; /* 0 for a scalar */
  IrDim dims[IR_MAX_RANK];
} IrType;

IrDim ir_dim_const(int64_t c);
IrDim ir_dim_sym(int sym);
IrDim ir_dim_add(IrDim a, IrDim b);
IrDim ir_dim_sub(IrDim a, IrDim b);
IrDim ir_dim_scale(IrDim a, int64_t f);
bool ir_dim_eq(IrDim a, IrDim b);
bool ir_dim_is_const(IrDim a);
/* Value under an assignment of every symbol (sym_values[s]). */
int64_t ir_dim_eval(IrDim a, const int64_t *sym_values);
/* Upper bound with every symbol at its bound, using the sign of each
 * coefficient (a negative coefficient takes the symbol at 0). */
int64_t ir_dim_max(IrDim a, const int64_t *sym_bounds);
int64_t ir_dim_min(IrDim a, const int64_t *sym_bounds);

bool ir_type_eq(const IrType *a, const IrType *b);
bool ir_shape_eq(const IrType *a, const IrType *b); /* dims only */
/* Number of elements if every dim is constant, else -1. */
int64_t ir_type_const_numel(const IrType *t);
/* Numpy broadcast of *acc with t, into *acc (dtype kept); false when a
 * pair of dims is neither equal nor 1. */
bool ir_type_broadcast_into(IrType *acc, const IrType *t);

/* ---- ops and attributes (ir_ops.c, ir_ops.def) ----------------------- */

typedef enum {
#define IR_OP(ID, NAME, MIN_IN, MAX_IN, NOUT, FLAGS) IR_OP_##ID,
#include "ir_ops.def"
#undef IR_OP
  IR_OP_COUNT
} IrOpKind;

enum {
  IR_OPF_PURE = 0,
  IR_OPF_READS_STATE = 1,   /* kv_read: operand 0 is a state */
  IR_OPF_WRITES_STATE = 2,  /* kv_write: operand 0 is a state */
  IR_OPF_ELEMENTWISE = 4,   /* same-shape (after broadcast) pointwise */
  IR_OPF_COMMUTATIVE = 8,
};

typedef enum {
  IR_ATTR_INT,    /* 3, -1 */
  IR_ATTR_FLOAT,  /* 1e-05, 10000.0, -inf */
  IR_ATTR_BOOL,   /* a bare name means true; absent means false */
  IR_ATTR_STR,    /* "half" */
  IR_ATTR_INTS,   /* [1, 0, 2] */
  IR_ATTR_DIM,    /* P+T */
} IrAttrKind;

#define IR_MAX_ATTRS 10

typedef struct {
  const char *name;
  IrAttrKind kind;
  bool required;
  const char *const *choices; /* IR_ATTR_STR: NULL-terminated allowed values, or NULL */
} IrAttrSpec;

typedef struct {
  const char *name;
  int min_in, max_in; /* max_in < 0: variadic */
  int nout;
  unsigned flags;
  int nattrs;
  IrAttrSpec attrs[IR_MAX_ATTRS]; /* in printing order */
} IrOpSpec;

const IrOpSpec *ir_op_spec(IrOpKind k);
bool ir_op_from_name(const char *s, size_t n, IrOpKind *out);
/* Index of attribute `name` in the op's spec, or -1. */
int ir_op_attr_index(IrOpKind k, const char *name);

/* An attribute slot; attrs[i] of an op corresponds to spec->attrs[i]. */
typedef struct {
  bool set;
  int64_t i;     /* INT, BOOL (1) */
  double f;      /* FLOAT */
  const char *s; /* STR */
  int64_t *ints; /* INTS */
  int nints;
  IrDim dim;     /* DIM */
} IrAttr;

/* ---- values, ops, functions, modules (ir_module.c) ------------------- */

typedef struct IrOp IrOp;
typedef struct IrFunc IrFunc;
typedef struct IrModule IrModule;

typedef enum {
  IR_VAL_PARAM,  /* module-level weight, @name */
  IR_VAL_STATE,  /* module-level persistent tensor (KV cache), @name */
  IR_VAL_ARG,    /* function argument, %name */
  IR_VAL_RESULT, /* op result, %name */
} IrValueKind;

/* How the weight blob stores a 2-D param (docs/ir.md, "Weight layouts").
 * panel == 0: row-major. Otherwise the axis `axis` of a [R, C] param is
 * cut into panels of `panel` consecutive indices, stored one after the
 * other, each as [other dim][panel] and zero-padded to a whole panel:
 * axis 0 stores element (r, c) at (r / W) * C * W + c * W + r % W. The
 * layout changes storage only; every op reads the param by its logical
 * row-major indices. Printed after the type:
 *   param @w : f32[1024, 768] layout(panels, axis = 0, width = 32) */
typedef struct {
  int panel; /* panel width W; 0 = row-major */
  int axis;  /* 0 or 1 */
} IrLayout;

typedef struct IrValue {
  IrValueKind kind;
  const char *name; /* without the sigil; unique among its kind's scope */
  IrType type;
  IrOp *def;        /* IR_VAL_RESULT: the defining op */
  int def_index;    /* which result of def */
  IrLoc loc;
  /* IR_VAL_PARAM only: an inline initializer (row-major, ninit values),
   * or NULL when the weights are bound from outside (safetensors). */
  double *init;
  int64_t ninit;
  IrLayout layout; /* IR_VAL_PARAM only */
} IrValue;

/* Storage offset, in elements, of logical element (r, c) of a 2-D param
 * of constant type t stored in layout l (row-major when l->panel == 0). */
int64_t ir_layout_offset(const IrLayout *l, const IrType *t, int64_t r, int64_t c);
/* Elements the stored form occupies, padding included. */
int64_t ir_layout_numel(const IrLayout *l, const IrType *t);

struct IrOp {
  IrOpKind kind;
  int nin;
  IrValue **in;
  int nout;
  IrValue **out;
  IrAttr attrs[IR_MAX_ATTRS]; /* indexed like ir_op_spec(kind)->attrs */
  IrLoc loc;
};

struct IrFunc {
  const char *name;
  IrLoc loc;
  int nargs, cap_args;
  IrValue **args;
  int nresults;
  IrType *result_types;
  IrValue **results; /* set by the `return` op: the values returned */
  int nops, cap_ops;
  IrOp **ops;        /* in program order */
  int next_name;     /* counter for fresh value names */
  bool fresh_ready;  /* next_name is past every "t<N>" in the function */
};

typedef struct {
  const char *name;
  int64_t max; /* 0 <= value <= max */
  IrLoc loc;
} IrSym;

struct IrModule {
  IrArena arena;
  const char *name;
  const char *file; /* source file name for diagnostics, may be NULL */
  IrLoc loc;
  int nsyms;
  IrSym syms[IR_MAX_SYMS];
  int nparams, cap_params;
  IrValue **params;
  int nstates, cap_states;
  IrValue **states;
  int nfuncs, cap_funcs;
  IrFunc **funcs;
};

/* ---- building and editing (ir_module.c) ------------------------------ */

IrModule *ir_module_new(const char *name);
void ir_module_free(IrModule *m);

/* Returns the symbol index, or -1 if IR_MAX_SYMS are declared. */
int ir_module_add_sym(IrModule *m, const char *name, int64_t max);
int ir_module_find_sym(const IrModule *m, const char *name, size_t n);
IrValue *ir_module_add_param(IrModule *m, const char *name, IrType type);
IrValue *ir_module_add_state(IrModule *m, const char *name, IrType type);
IrValue *ir_module_find_global(const IrModule *m, const char *name, size_t n);
IrFunc *ir_module_add_func(IrModule *m, const char *name);
IrFunc *ir_module_find_func(const IrModule *m, const char *name);
/* Bounds of all symbols, as an array of IR_MAX_SYMS (unused slots 0). */
void ir_module_sym_bounds(const IrModule *m, int64_t *bounds);

IrValue *ir_func_add_arg(IrModule *m, IrFunc *f, const char *name, IrType type);
IrValue *ir_func_find_value(const IrFunc *f, const char *name, size_t n);
void ir_func_set_results(IrModule *m, IrFunc *f, int n, const IrType *types);

/* Creates an op with nout results of the given types, appended to f
 * (or inserted before position `at` with ir_func_insert_op). Result names
 * are fresh ("%t7") unless set afterwards with ir_value_set_name. */
IrOp *ir_op_new(IrModule *m, IrFunc *f, IrOpKind kind, int nin,
                IrValue *const *in, int nout, const IrType *out_types);
void ir_func_append_op(IrModule *m, IrFunc *f, IrOp *op);
void ir_func_insert_op(IrModule *m, IrFunc *f, int at, IrOp *op);
void ir_func_remove_op(IrFunc *f, int at);
void ir_value_set_name(IrModule *m, IrValue *v, const char *name);
const char *ir_func_fresh_name(IrModule *m, IrFunc *f);

/* Attribute setters by name; abort()-free: return false on a bad name. */
bool ir_op_set_int(IrOp *op, const char *name, int64_t v);
bool ir_op_set_float(IrOp *op, const char *name, double v);
bool ir_op_set_bool(IrOp *op, const char *name, bool v);
bool ir_op_set_str(IrModule *m, IrOp *op, const char *name, const char *v);
bool ir_op_set_ints(IrModule *m, IrOp *op, const char *name,
                    const int64_t *v, int n);
bool ir_op_set_dim(IrOp *op, const char *name, IrDim v);
/* Attribute getters: the value if set, else `dflt`. */
int64_t ir_op_int(const IrOp *op, const char *name, int64_t dflt);
double ir_op_float(const IrOp *op, const char *name, double dflt);
bool ir_op_bool(const IrOp *op, const char *name);
const char *ir_op_str(const IrOp *op, const char *name, const char *dflt);
IrDim ir_op_dim(const IrOp *op, const char *name, IrDim dflt);
const IrAttr *ir_op_attr(const IrOp *op, const char *name); /* NULL if unset */
/* ir_error at the op's location, the message prefixed with the op's name:
 * "t.kir:4:9: error: fused: operand 1 has dtype i32, expected f32". */
bool ir_op_error(const IrOp *op, IrDiag *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replaces every use of `from` by `to` in f's ops and results. */
void ir_func_replace_uses(IrFunc *f, IrValue *from, IrValue *to);
/* Number of uses of v in f (operands and results). */
int ir_func_count_uses(const IrFunc *f, const IrValue *v);

/* ---- text form (ir_lex.c, ir_parse.c, ir_print.c) -------------------- */

/* Parses a whole module. `file` names the source in diagnostics. Returns
 * NULL and fills d on error. The result is not verified. */
IrModule *ir_parse(const char *text, size_t len, const char *file, IrDiag *d);

/* Printing writes through a growable string buffer. */
typedef struct {
  char *data;
  size_t len, cap;
} IrBuf;
void ir_buf_printf(IrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ir_buf_free(IrBuf *b);

void ir_print_module(IrBuf *b, const IrModule *m);
void ir_print_type(IrBuf *b, const IrModule *m, const IrType *t);
void ir_print_dim(IrBuf *b, const IrModule *m, IrDim d);
/* A type or dim printed into a fixed buffer, for error messages; returned
 * by value, so it lives until the end of the full expression using it:
 * ir_error(d, loc, "got %s", ir_type_text(m, &t).s). Truncated at 255. */
typedef struct {
  char s[256];
} IrText;
IrText ir_type_text(const IrModule *m, const IrType *t);
IrText ir_dim_text(const IrModule *m, IrDim d);
/* Shortest decimal that reads back to the same double; always has a '.',
 * an 'e', or is inf/nan, so it reads as a float: 10000.0, 1e-05, -inf. */
void ir_print_double(IrBuf *b, double v);
/* The module as Graphviz (ir_dot.c): one digraph per function, a node per
 * op labelled with its name, set attributes and result types; args,
 * params and states as their own shapes; an edge per operand. */
void ir_print_dot(IrBuf *b, const IrModule *m);

/* ---- verifier (ir_verify.c) ------------------------------------------ */

/* Checks the whole module: names, operand counts and kinds, attribute
 * kinds and values, result types against each op's shape rule, symbol
 * bounds, state use. Returns false with the first error in d. */
bool ir_verify(const IrModule *m, IrDiag *d);
/* The layout rules for one global (ir_verify_layout.c): a layout only on
 * a 2-D, non-i4 param without initializer, axis 0 or 1, width >= 1. */
bool ir_verify_layout(const IrModule *m, const IrValue *g, IrDiag *d);

/* Infers the result types of an op from its operands and attributes
 * (the shape rule of docs/ir.md). Ops whose result type is free (reshape,
 * cast, const, iota, causal_mask) take it from op->out as given and only
 * check it. Returns false with an error located at op->loc. */
bool ir_infer_types(const IrModule *m, const IrOp *op, IrType *out_types,
                    IrDiag *d);

/* ---- statistics (ir_stats.c) ----------------------------------------- */

/* What a module's parameters hold: elements and storage bytes (i4 packs
 * two a byte), in total and by dtype. Symbolic dims count at their bound. */
typedef struct {
  int64_t count, bytes;
  int64_t count_by_dtype[IR_DTYPE_COUNT];
  int64_t bytes_by_dtype[IR_DTYPE_COUNT];
} IrParamStats;
void ir_param_stats(const IrModule *m, IrParamStats *out);

/* Floating-point operations of one op or one call of f, with every
 * symbol at sym_values[s]. A matmul counts 2*M*N*K (times its batch),
 * plus one per op of its epilogue per result element; a fused op one per
 * op of its expression per element; the fused attention op its two matmuls plus 5 per score; the rest a
 * small fixed count per element: 1 for elementwise ops (cast excepted),
 * reductions (per input element), topk (per input) and scatter (per
 * index), 3 for rope, 4 for rmsnorm, 5 for softmax, 7 for layernorm, and
 * 0 for data movement (embedding, reshape, transpose, slice, concat,
 * cast, const, iota, causal_mask, kv_read, kv_write). Saturates at
 * INT64_MAX. */
int64_t ir_op_flops(const IrOp *op, const int64_t *sym_values);
int64_t ir_func_flops(const IrFunc *f, const int64_t *sym_values);

/* Bytes of state (the KV cache) per position: the states are laid out
 * [..., positions, d] (the axis kv_write writes along by default, -2), so
 * this is their bytes divided by that dim, summed. 0 without states. */
int64_t ir_state_bytes_per_position(const IrModule *m);

#endif
