/* fe_json.c: JSON in, for the config readers: a strict syntax check
 * ahead of cJSON, so that malformed input gets its line, column and what
 * was expected ("config.json:3:18: error: malformed JSON: expected ',' or
 * '}', found character '"'"), then typed getters whose errors name the
 * JSON path ("config.json: error: at $.rope_scaling.factor: expected a
 * positive number, found a string"). */
#include "fe_json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Doubles hold every integer up to 2^53 exactly; beyond, a config value
 * is no longer the integer that was written. */
#define FE_JSON_EXACT_INT 9007199254740992.0

/* Line and column (1-based) of byte `pos` of text. */
static void line_col(const char *text, size_t pos, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < pos; i++) {
    if (text[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

/* "end of input", "character '}'" or "byte 0x01". */
static void describe_byte(char *buf, size_t size, const char *text, size_t len, size_t pos) {
  if (pos >= len) {
    snprintf(buf, size, "end of input");
    return;
  }
  unsigned char c = (unsigned char)text[pos];
  if (isprint(c))
    snprintf(buf, size, "character '%c'", c);
  else
    snprintf(buf, size, "byte 0x%02x", c);
}

/* ---- a strict syntax check ------------------------------------------- */

/* cJSON builds the tree, but says little about where and why it failed.
 * This scan checks RFC 8259 syntax first and stops at the first byte that
 * breaks it, knowing what it expected there. */
typedef struct {
  const char *s;
  size_t n, i;
  const char *expected; /* set when the scan fails */
} Scan;

#define SCAN_MAX_DEPTH 512 /* below cJSON's own limit (1000) */

static bool scan_fail(Scan *c, const char *expected) {
  c->expected = expected;
  return false;
}

static bool at(const Scan *c, char ch) { return c->i < c->n && c->s[c->i] == ch; }

static bool at_digit(const Scan *c) {
  return c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9';
}

static void scan_space(Scan *c) {
  while (c->i < c->n && (at(c, ' ') || at(c, '\t') || at(c, '\n') || at(c, '\r'))) c->i++;
}

static bool scan_literal(Scan *c, const char *word, const char *expected) {
  for (const char *w = word; *w; w++, c->i++)
    if (!at(c, *w)) return scan_fail(c, expected);
  return true;
}

static bool scan_digits(Scan *c) {
  if (!at_digit(c)) return scan_fail(c, "a digit");
  while (at_digit(c)) c->i++;
  return true;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(Scan *c) {
  if (at(c, '-')) c->i++;
  if (at(c, '0')) c->i++;
  else if (!scan_digits(c)) return false;
  if (at(c, '.')) {
    c->i++;
    if (!scan_digits(c)) return false;
  }
  if (at(c, 'e') || at(c, 'E')) {
    c->i++;
    if (at(c, '+') || at(c, '-')) c->i++;
    if (!scan_digits(c)) return false;
  }
  return true;
}

/* The 4 hex digits after "\u"; -1 if they are not there. */
static long scan_hex4(Scan *c) {
  if (c->i + 4 > c->n) return -1;
  char hex[5] = {0};
  memcpy(hex, c->s + c->i, 4);
  for (int k = 0; k < 4; k++)
    if (!isxdigit((unsigned char)hex[k])) return -1;
  c->i += 4;
  return strtol(hex, NULL, 16);
}

/* After '\': one of "\\/bfnrt or uXXXX, UTF-16 surrogates in pairs (as
 * cJSON requires). */
static bool scan_escape(Scan *c) {
  if (c->i < c->n && strchr("\"\\/bfnrt", c->s[c->i]) && c->s[c->i]) {
    c->i++;
    return true;
  }
  if (!at(c, 'u'))
    return scan_fail(c, "an escape (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t, \\uXXXX)");
  c->i++;
  long u = scan_hex4(c);
  if (u < 0) return scan_fail(c, "4 hex digits after \\u");
  if (u >= 0xDC00 && u <= 0xDFFF) return scan_fail(c, "no lone UTF-16 low surrogate");
  if (u < 0xD800 || u > 0xDBFF) return true;
  if (!at(c, '\\') || c->i + 1 >= c->n || c->s[c->i + 1] != 'u')
    return scan_fail(c, "a \\u low surrogate after a high surrogate");
  c->i += 2;
  u = scan_hex4(c);
  if (u < 0xDC00 || u > 0xDFFF) return scan_fail(c, "a \\u low surrogate after a high surrogate");
  return true;
}

/* At the opening quote. */
static bool scan_string(Scan *c) {
  c->i++;
  for (;;) {
    if (c->i >= c->n) return scan_fail(c, "'\"' to close the string");
    unsigned char ch = (unsigned char)c->s[c->i];
    if (ch == '"') break;
    if (ch < 0x20)
      return scan_fail(c, "a character of the string (control characters are escaped)");
    c->i++;
    if (ch == '\\' && !scan_escape(c)) return false;
  }
  c->i++;
  return true;
}

static bool scan_value(Scan *c, int depth);

/* At '[' or '{': items separated by ',' up to `close`; objects have keys. */
static bool scan_container(Scan *c, int depth, bool object) {
  char close = object ? '}' : ']';
  c->i++;
  scan_space(c);
  if (at(c, close)) {
    c->i++;
    return true;
  }
  for (;;) {
    scan_space(c);
    if (object) {
      if (!at(c, '"')) return scan_fail(c, "a string key");
      if (!scan_string(c)) return false;
      scan_space(c);
      if (!at(c, ':')) return scan_fail(c, "':' after the key");
      c->i++;
    }
    if (!scan_value(c, depth + 1)) return false;
    scan_space(c);
    if (at(c, close)) break;
    if (!at(c, ',')) return scan_fail(c, object ? "',' or '}'" : "',' or ']'");
    c->i++;
  }
  c->i++;
  return true;
}

static bool scan_value(Scan *c, int depth) {
  static const char *const value = "a JSON value";
  scan_space(c);
  if (depth > SCAN_MAX_DEPTH) return scan_fail(c, "at most 512 levels of nesting");
  if (c->i >= c->n) return scan_fail(c, value);
  switch (c->s[c->i]) {
  case '{': return scan_container(c, depth, true);
  case '[': return scan_container(c, depth, false);
  case '"': return scan_string(c);
  case 't': return scan_literal(c, "true", "'true'");
  case 'f': return scan_literal(c, "false", "'false'");
  case 'n': return scan_literal(c, "null", "'null'");
  default: return at(c, '-') || at_digit(c) ? scan_number(c) : scan_fail(c, value);
  }
}

static bool malformed(const FeJson *j, const char *text, size_t len, size_t pos,
                      const char *expected) {
  int line, col;
  line_col(text, pos, &line, &col);
  char found[32];
  describe_byte(found, sizeof found, text, len, pos);
  return ir_error(j->d, (IrLoc){j->file, line, col}, "malformed JSON: expected %s, found %s",
                  expected, found);
}

cJSON *fe_json_parse(const FeJson *j, const char *text, size_t len) {
  Scan c = {text, len, 0, NULL};
  bool ok = scan_value(&c, 0);
  if (ok) {
    scan_space(&c);
    if (c.i < len) ok = scan_fail(&c, "the end of input after the value");
  }
  if (!ok) {
    malformed(j, text, len, c.i, c.expected);
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
  if (!root) /* valid JSON that cJSON cannot hold (a number of over 63 characters) */
    malformed(j, text, len, end ? (size_t)(end - text) : 0, "a value cJSON can read");
  return root;
}

static bool is_identifier(const char *s) {
  if (!s[0] || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_')) return false;
  return true;
}

void fe_json_path(char *buf, const char *parent, const char *key) {
  if (is_identifier(key)) {
    snprintf(buf, FE_JSON_PATH_MAX, "%s.%s", parent, key);
    return;
  }
  char quoted[96];
  fe_json_quote(quoted, sizeof quoted, key);
  snprintf(buf, FE_JSON_PATH_MAX, "%s[%s]", parent, quoted);
}

void fe_json_path_index(char *buf, const char *parent, int index) {
  snprintf(buf, FE_JSON_PATH_MAX, "%s[%d]", parent, index);
}

void fe_json_quote(char *buf, size_t size, const char *s) {
  size_t n = 0, limit = 60;
  if (size < 8) {
    if (size) buf[0] = '\0';
    return;
  }
  buf[n++] = '"';
  for (size_t i = 0; s[i] && n + 8 < size; i++) {
    if (i == limit) {
      n += (size_t)snprintf(buf + n, size - n, "...");
      break;
    }
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      n += (size_t)snprintf(buf + n, size - n, "\\u%04x", c);
    else
      buf[n++] = (char)c;
  }
  snprintf(buf + n, size - n, "\"");
}

bool fe_json_error(const FeJson *j, const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ir_error_at(j->d, j->file, "at %s: %s", path, msg);
}

const char *fe_json_kind(const cJSON *v) {
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsTrue(v)) return "true";
  if (cJSON_IsFalse(v)) return "false";
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "an invalid value";
}

/* "expected a number, found a string" */
static bool wrong_kind(const FeJson *j, const char *path, const char *want, const cJSON *v) {
  return fe_json_error(j, path, "expected %s, found %s", want, fe_json_kind(v));
}

const cJSON *fe_json_field(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                           FeNeed need, const char *expected, bool *ok) {
  *ok = true;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (v && (need == FE_REQUIRED || !cJSON_IsNull(v))) return v;
  if (need == FE_REQUIRED) {
    char p[FE_JSON_PATH_MAX];
    fe_json_path(p, path, key);
    *ok = fe_json_error(j, p, "missing; expected %s", expected);
  }
  return NULL;
}

/* "a positive integer", "a non-negative integer", "an integer from 1 to 8". */
static void describe_int_range(char *buf, size_t size, int64_t lo, int64_t hi) {
  bool open_hi = hi == INT64_MAX || hi == FE_DIM_MAX;
  if (lo == 1 && open_hi)
    snprintf(buf, size, "a positive integer");
  else if (lo == 0 && open_hi)
    snprintf(buf, size, "a non-negative integer");
  else if (lo == INT64_MIN && hi == INT64_MAX)
    snprintf(buf, size, "an integer");
  else
    snprintf(buf, size, "an integer from %lld to %lld", (long long)lo, (long long)hi);
}

bool fe_json_int_value(const FeJson *j, const cJSON *v, const char *path, int64_t lo, int64_t hi,
                       int64_t *out) {
  char want[96];
  describe_int_range(want, sizeof want, lo, hi);
  if (!cJSON_IsNumber(v)) return wrong_kind(j, path, want, v);
  double x = v->valuedouble;
  if (!isfinite(x) || x != floor(x) || x < -FE_JSON_EXACT_INT || x < (double)lo)
    return fe_json_error(j, path, "expected %s, found %.15g", want, x);
  if (x > FE_JSON_EXACT_INT || x > (double)hi)
    return fe_json_error(j, path, "expected %s at most %lld, found %.15g", want, (long long)hi, x);
  int64_t i = (int64_t)x;
  if (i < lo || i > hi) /* (double)lo or hi rounded */
    return fe_json_error(j, path, "expected %s, found %lld", want, (long long)i);
  *out = i;
  return true;
}

bool fe_json_int(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, int64_t lo, int64_t hi, int64_t *out) {
  char want[96], p[FE_JSON_PATH_MAX];
  describe_int_range(want, sizeof want, lo, hi);
  bool ok;
  const cJSON *v = fe_json_field(j, obj, path, key, need, want, &ok);
  if (!v) return ok;
  fe_json_path(p, path, key);
  return fe_json_int_value(j, v, p, lo, hi, out);
}

bool fe_json_num(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, bool positive, double *out) {
  const char *want = positive ? "a positive number" : "a number";
  char p[FE_JSON_PATH_MAX];
  bool ok;
  const cJSON *v = fe_json_field(j, obj, path, key, need, want, &ok);
  if (!v) return ok;
  fe_json_path(p, path, key);
  if (!cJSON_IsNumber(v)) return wrong_kind(j, p, want, v);
  double x = v->valuedouble;
  if (!isfinite(x) || (positive && !(x > 0)))
    return fe_json_error(j, p, "expected %s, found %.15g", want, x);
  *out = x;
  return true;
}

bool fe_json_bool(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                  FeNeed need, bool *out) {
  char p[FE_JSON_PATH_MAX];
  bool ok;
  const cJSON *v = fe_json_field(j, obj, path, key, need, "true or false", &ok);
  if (!v) return ok;
  fe_json_path(p, path, key);
  if (!cJSON_IsBool(v)) return wrong_kind(j, p, "true or false", v);
  *out = cJSON_IsTrue(v);
  return true;
}

bool fe_json_str(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, IrArena *arena, const char **out) {
  char p[FE_JSON_PATH_MAX];
  bool ok;
  const cJSON *v = fe_json_field(j, obj, path, key, need, "a string", &ok);
  if (!v) return ok;
  fe_json_path(p, path, key);
  if (!cJSON_IsString(v)) return wrong_kind(j, p, "a string", v);
  *out = ir_arena_strdup(arena, v->valuestring);
  return true;
}

/* "one of \"silu\", \"swish\"" into buf. */
static void describe_choices(char *buf, size_t size, const char *const *choices) {
  size_t n = (size_t)snprintf(buf, size, "one of ");
  for (int i = 0; choices[i] && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s\"%s\"", i ? ", " : "", choices[i]);
}

bool fe_json_enum_value(const FeJson *j, const cJSON *v, const char *path,
                        const char *const *choices, int *out) {
  char want[384];
  describe_choices(want, sizeof want, choices);
  if (!cJSON_IsString(v)) return wrong_kind(j, path, want, v);
  for (int i = 0; choices[i]; i++) {
    if (strcmp(v->valuestring, choices[i]) == 0) {
      *out = i;
      return true;
    }
  }
  char found[96];
  fe_json_quote(found, sizeof found, v->valuestring);
  return fe_json_error(j, path, "expected %s, found %s", want, found);
}

bool fe_json_enum(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                  FeNeed need, const char *const *choices, int *out) {
  char want[384], p[FE_JSON_PATH_MAX];
  describe_choices(want, sizeof want, choices);
  bool ok;
  const cJSON *v = fe_json_field(j, obj, path, key, need, want, &ok);
  if (!v) return ok;
  fe_json_path(p, path, key);
  return fe_json_enum_value(j, v, p, choices, out);
}

bool fe_json_obj(const FeJson *j, const cJSON *obj, const char *path, const char *key,
                 FeNeed need, const cJSON **out) {
  char p[FE_JSON_PATH_MAX];
  bool ok;
  *out = NULL;
  const cJSON *v = fe_json_field(j, obj, path, key, need, "an object", &ok);
  if (!v) return ok;
  fe_json_path(p, path, key);
  if (!cJSON_IsObject(v)) return wrong_kind(j, p, "an object", v);
  *out = v;
  return true;
}

static bool is_allowed(const char *key, const char *const *allowed) {
  for (int i = 0; allowed[i]; i++)
    if (strcmp(key, allowed[i]) == 0) return true;
  return false;
}

bool fe_json_only_keys(const FeJson *j, const cJSON *obj, const char *path,
                       const char *const *allowed) {
  for (const cJSON *c = obj->child; c; c = c->next) {
    if (!c->string || is_allowed(c->string, allowed)) continue;
    char p[FE_JSON_PATH_MAX], list[512];
    fe_json_path(p, path, c->string);
    size_t n = 0;
    list[0] = '\0';
    for (int i = 0; allowed[i] && n < sizeof list; i++)
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
    return fe_json_error(j, p, "unknown field; expected one of %s", list);
  }
  return true;
}
