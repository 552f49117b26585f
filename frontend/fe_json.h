/* fe_json.h: typed getters over cJSON for the config readers, and the
 * pieces the readers (fe_config_hf.c, fe_config_graph.c) share with
 * fe_model.c. Frontend-internal: fe.h is the public contract.
 *
 * Every getter names the file and the JSON path of what it rejects:
 *
 *   FeJson j = {"config.json", &d};
 *   int64_t hidden;
 *   if (!fe_json_int(&j, root, "$", "hidden_size", FE_REQUIRED, 1, FE_DIM_MAX, &hidden))
 *     return false;
 *   // config.json: error: at $.hidden_size: expected a positive integer, found -3
 *
 * An optional field that is absent or null leaves *out untouched, so the
 * caller sets the default first. Required and absent reads "missing".
 */
#ifndef KILN_FE_JSON_H
#define KILN_FE_JSON_H

#include <cjson/cJSON.h>

#include "fe.h"

/* Where errors go: the source file's name and the diagnostic. */
typedef struct {
  const char *file;
  IrDiag *d;
} FeJson;

typedef enum { FE_OPTIONAL, FE_REQUIRED } FeNeed;

#define FE_JSON_PATH_MAX 256
/* The largest single dimension a config may give (vocab, hidden, heads,
 * context, ...): 2^31 - 1 keeps every product of two dims inside int64. */
#define FE_DIM_MAX INT64_C(2147483647)

/* Parses a whole document; a value must be the only thing in it. On
 * error: "file:line:col: error: malformed JSON: unexpected character '}'".
 * The caller frees the result with cJSON_Delete. */
cJSON *fe_json_parse(const FeJson *j, const char *text, size_t len);

/* "$" + "hidden_size" -> "$.hidden_size"; a key that is not an
 * identifier is quoted: "$[\"a b\"]". Truncates at FE_JSON_PATH_MAX. */
void fe_json_path(char *buf, const char *parent, const char *key);
void fe_json_path_index(char *buf, const char *parent, int index); /* "$.a[2]" */

/* Reports "at PATH: MESSAGE" for j's file. Always returns false. */
bool fe_json_error(const FeJson *j, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "a string", "a number", "true", "null", "an array", "an object". */
const char *fe_json_kind(const cJSON *v);

/* The value of obj[key], or NULL when absent (and, with FE_OPTIONAL,
 * when null). Reports "missing" when required and absent. *ok is false
 * only after an error. */
const cJSON *fe_json_field(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                           FeNeed need, const char *expected, bool *ok);

/* An integer in [lo, hi]; numbers with a fraction, beyond 2^53 or out
 * of range are rejected ("expected a positive integer, found 3.5"). */
bool fe_json_int(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, int64_t lo, int64_t hi, int64_t *out);
bool fe_json_int_value(const FeJson *j, const cJSON *v, const char *path, int64_t lo, int64_t hi,
                       int64_t *out);
/* A finite number; with `positive`, also > 0. */
bool fe_json_num(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, bool positive, double *out);
bool fe_json_bool(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                  FeNeed need, bool *out);
/* A string, copied into `arena`. */
bool fe_json_str(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, IrArena *arena, const char **out);
/* One of the NULL-terminated `choices`; *out is its index. */
bool fe_json_enum(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                  FeNeed need, const char *const *choices, int *out);
bool fe_json_enum_value(const FeJson *j, const cJSON *v, const char *path,
                        const char *const *choices, int *out);
/* An object; *out is NULL when optional and absent or null. */
bool fe_json_obj(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, const cJSON **out);
/* Rejects keys of obj outside the NULL-terminated `allowed` (kiln's own
 * formats are strict, so a typo is an error, not a silent default). */
bool fe_json_only_keys(const FeJson *j, const cJSON *obj, const char *path,
                       const char *const *allowed);
/* Writes s quoted and escaped, shortened past 60 bytes: "\"relu\"". */
void fe_json_quote(char *buf, size_t size, const char *s);

/* ---- shared by the readers and fe_model.c ---------------------------- */

/* The JSON path each checked FeModel field came from, so that a
 * consistency error points into the user's file. NULL entries fall back
 * to the field's own name. */
typedef struct {
  const char *vocab, *hidden, *layers, *heads, *kv_heads, *head_dim, *intermediate, *max_pos;
  const char *norm_eps, *rope_theta, *rotary_dim, *rope_factor, *rope_low_freq,
      *rope_high_freq, *rope_orig_max_pos;
  const char *sliding_window, *attn_scale, *experts, *experts_per_tok, *num_labels;
  const char *weights; /* the object whose keys name the FeNames ("$.weights"), or NULL */
} FeModelPaths;

/* Neutral defaults: RMSNorm pre-norm with a final norm, rope with theta
 * 10000, causal, SwiGLU, LM head, f32, no bos/eos. */
void fe_model_init(FeModel *fm);
/* fe_model_validate with paths into the source file. */
bool fe_model_check(const FeModel *fm, const FeJson *j, const FeModelPaths *paths);
/* Number of parameters the checkpoint of fm holds, by formula (the
 * builder's module must agree). False when it overflows int64. */
bool fe_model_param_count(const FeModel *fm, int64_t *out);

/* Every FeNames template with its JSON key (the field's name) and how
 * many "%d" it holds: 0 global, 1 the layer, 2 the layer and the expert. */
typedef struct {
  const char *key;
  size_t offset; /* of the const char * in FeNames */
  int ndigits;
} FeNameField;
extern const FeNameField fe_name_fields[];
extern const int fe_name_field_count;
const char **fe_name_slot(FeNames *n, const FeNameField *f);
/* True when t is 1 to FE_NAME_MAX bytes of letters, digits, '_' and '.'
 * with exactly `ndigits` "%d" (two of them apart by a non-digit). */
#define FE_NAME_MAX 200
bool fe_name_template_ok(const char *t, int ndigits);

/* The readers behind fe_read_hf_config / fe_read_graph_json, on a parsed
 * document, so that fe_read_config parses once. */
bool fe_hf_from_json(const FeJson *j, const cJSON *root, IrArena *arena, FeModel *out);
bool fe_graph_from_json(const FeJson *j, const cJSON *root, IrArena *arena, FeModel *out);

#endif
