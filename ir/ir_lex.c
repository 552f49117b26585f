/* ir_lex.c: splits IR text into tokens. Whitespace and `//` comments are
 * skipped; any other byte that starts no token is an error token. */
#include "ir_lex.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DESCRIBE_MAX = 40 }; /* source bytes shown when quoting a token */

void ir_lex_init(IrLexer *lx, const char *text, size_t len) {
  if (!text) text = "";
  lx->p = text;
  lx->end = text + len;
  lx->line_start = text;
  lx->line = 1;
}

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/* Characters of @ and % names: letters, digits, '_' and '.' (@l0.attn.wq). */
static bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '.'; }

static void skip_space_and_comments(IrLexer *lx) {
  while (lx->p < lx->end) {
    char c = *lx->p;
    if (c == '\n') {
      lx->p++;
      lx->line++;
      lx->line_start = lx->p;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      lx->p++;
    } else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/') {
      while (lx->p < lx->end && *lx->p != '\n') lx->p++;
    } else {
      return;
    }
  }
}

static IrToken error_token(IrToken t, const char *fmt, const char *what) {
  t.kind = IR_TOK_ERROR;
  snprintf(t.msg, sizeof t.msg, fmt, what);
  return t;
}

/* "'#'" style quote of the token's text, for messages made here. */
static IrToken error_quoting(IrToken t, const char *fmt) {
  char q[DESCRIBE_MAX * 4 + 8];
  t.kind = IR_TOK_ERROR; /* not EOF, which describes itself as "end of file" */
  ir_lex_describe(&t, q, sizeof q);
  return error_token(t, fmt, q);
}

static IrToken lex_name(IrLexer *lx, IrToken t, IrTokKind kind) {
  const char *start = ++lx->p; /* after the sigil */
  while (lx->p < lx->end && is_name_char(*lx->p)) lx->p++;
  t.len = (size_t)(lx->p - t.text);
  if (lx->p == start)
    return error_token(t, "expected a name after '%s'", kind == IR_TOK_GLOBAL ? "@" : "%");
  t.kind = kind;
  t.name = start;
  t.name_len = (size_t)(lx->p - start);
  return t;
}

static IrToken lex_ident(IrLexer *lx, IrToken t) {
  while (lx->p < lx->end && (is_alpha(*lx->p) || is_digit(*lx->p))) lx->p++;
  t.kind = IR_TOK_IDENT;
  t.len = (size_t)(lx->p - t.text);
  t.name = t.text;
  t.name_len = t.len;
  return t;
}

/* Length of a float's fraction and exponent after the leading digits, or 0
 * if the number is an integer: "1.5e3" -> ".5e3". A '.' needs a digit after
 * it and an 'e' needs digits, so "2e" is the int 2 followed by a name. */
static size_t float_tail(const char *p, const char *end) {
  const char *q = p;
  if (q + 1 < end && *q == '.' && is_digit(q[1])) {
    q++;
    while (q < end && is_digit(*q)) q++;
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    const char *e = q + 1;
    if (e < end && (*e == '+' || *e == '-')) e++;
    if (e < end && is_digit(*e)) {
      while (e < end && is_digit(*e)) e++;
      q = e;
    }
  }
  return (size_t)(q - p);
}

static IrToken lex_float(IrToken t) {
  char small[64];
  char *buf = t.len < sizeof small ? small : malloc(t.len + 1);
  if (!buf) {
    fprintf(stderr, "kiln: out of memory\n");
    abort();
  }
  memcpy(buf, t.text, t.len);
  buf[t.len] = 0;
  errno = 0;
  t.fval = strtod(buf, NULL);
  bool overflow = errno == ERANGE && (t.fval > 1.0 || t.fval < -1.0);
  if (buf != small) free(buf);
  t.kind = IR_TOK_FLOAT;
  if (overflow) return error_quoting(t, "float literal %s is out of range");
  return t;
}

/* Integers keep their magnitude; up to 2^63 is allowed so that "-" and
 * 9223372036854775808 make INT64_MIN. The parser checks the signed range. */
static IrToken lex_number(IrLexer *lx, IrToken t) {
  uint64_t v = 0;
  bool overflow = false;
  while (lx->p < lx->end && is_digit(*lx->p)) {
    uint64_t d = (uint64_t)(*lx->p++ - '0');
    if (v > (UINT64_C(1) << 63) / 10 || v * 10 + d > (UINT64_C(1) << 63)) overflow = true;
    else v = v * 10 + d;
  }
  size_t tail = float_tail(lx->p, lx->end);
  lx->p += tail;
  t.len = (size_t)(lx->p - t.text);
  if (tail) return lex_float(t);
  t.kind = IR_TOK_INT;
  t.ival = v;
  if (overflow) return error_quoting(t, "integer literal %s is out of range");
  return t;
}

/* A string ends at the next unescaped '"' on the same line. Escapes: \" \\
 * \n \t \xNN (not \x00); raw control bytes must be escaped. */
static IrToken lex_string(IrLexer *lx, IrToken t) {
  lx->p++;
  while (lx->p < lx->end && *lx->p != '"') {
    unsigned char c = (unsigned char)*lx->p;
    if (c == '\n' || (c == '\\' && lx->p + 1 >= lx->end)) break;
    if (c < 0x20) {
      t.text = lx->p;
      t.len = 1;
      t.col = (int)(lx->p - lx->line_start) + 1;
      lx->p++;
      return error_quoting(t, "unexpected character %s in string");
    }
    if (c != '\\') {
      lx->p++;
      continue;
    }
    char e = lx->p[1];
    if (e == '"' || e == '\\' || e == 'n' || e == 't') {
      lx->p += 2;
    } else if (e == 'x' && lx->p + 3 < lx->end && is_hex(lx->p[2]) && is_hex(lx->p[3]) &&
               !(lx->p[2] == '0' && lx->p[3] == '0')) {
      lx->p += 4;
    } else {
      t.text = lx->p;
      t.len = 2;
      t.col = (int)(lx->p - lx->line_start) + 1;
      lx->p += 2;
      return error_quoting(t, "invalid escape %s in string");
    }
  }
  if (lx->p >= lx->end || *lx->p != '"') {
    t.len = (size_t)(lx->p - t.text);
    return error_token(t, "%s", "unterminated string");
  }
  lx->p++;
  t.kind = IR_TOK_STRING;
  t.len = (size_t)(lx->p - t.text);
  return t;
}

static IrToken lex_punct(IrLexer *lx, IrToken t) {
  static const struct {
    const char *s;
    IrTokKind kind;
  } puncts[] = {
      {"->", IR_TOK_ARROW},   {"<=", IR_TOK_LE},       {"{", IR_TOK_LBRACE}, {"}", IR_TOK_RBRACE},
      {"(", IR_TOK_LPAREN},   {")", IR_TOK_RPAREN},    {"[", IR_TOK_LBRACKET},
      {"]", IR_TOK_RBRACKET}, {",", IR_TOK_COMMA},     {":", IR_TOK_COLON},  {"=", IR_TOK_EQUAL},
      {"*", IR_TOK_STAR},     {"+", IR_TOK_PLUS},      {"-", IR_TOK_MINUS},
  };
  size_t room = (size_t)(lx->end - lx->p);
  for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++) {
    size_t n = strlen(puncts[i].s);
    if (n <= room && memcmp(lx->p, puncts[i].s, n) == 0) {
      lx->p += n;
      t.kind = puncts[i].kind;
      t.len = n;
      return t;
    }
  }
  lx->p++;
  t.len = 1;
  return error_quoting(t, "unexpected character %s");
}

IrToken ir_lex_next(IrLexer *lx) {
  skip_space_and_comments(lx);
  IrToken t;
  t.kind = IR_TOK_EOF;
  t.text = lx->p;
  t.len = 0;
  t.name = NULL;
  t.name_len = 0;
  t.line = lx->line;
  t.col = (int)(lx->p - lx->line_start) + 1;
  t.ival = 0;
  t.fval = 0;
  t.msg[0] = 0; /* not the whole buffer: this runs for every token */
  if (lx->p >= lx->end) return t; /* IR_TOK_EOF */
  char c = *lx->p;
  if (c == '@') return lex_name(lx, t, IR_TOK_GLOBAL);
  if (c == '%') return lex_name(lx, t, IR_TOK_LOCAL);
  if (is_alpha(c)) return lex_ident(lx, t);
  if (is_digit(c)) return lex_number(lx, t);
  if (c == '"') return lex_string(lx, t);
  return lex_punct(lx, t);
}

void ir_lex_describe(const IrToken *t, char *buf, size_t size) {
  if (t->kind == IR_TOK_EOF) {
    snprintf(buf, size, "end of file");
    return;
  }
  size_t n = 0;
  bool cut = t->len > DESCRIBE_MAX;
  size_t shown = cut ? DESCRIBE_MAX : t->len;
  if (size < 16) {
    if (size) buf[0] = 0;
    return;
  }
  buf[n++] = '\'';
  for (size_t i = 0; i < shown && n + 12 < size; i++) {
    unsigned char c = (unsigned char)t->text[i];
    if (c < 0x20 || c >= 0x7f)
      n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
    else
      buf[n++] = (char)c;
  }
  if (cut && n + 5 < size) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n++] = '\'';
  buf[n] = 0;
}

static int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

size_t ir_lex_unescape(const IrToken *t, char *out) {
  size_t n = 0;
  for (size_t i = 1; i + 1 < t->len; i++) {
    char c = t->text[i];
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    char e = t->text[++i];
    if (e == 'n') out[n++] = '\n';
    else if (e == 't') out[n++] = '\t';
    else if (e == 'x') {
      out[n++] = (char)(hex_value(t->text[i + 1]) * 16 + hex_value(t->text[i + 2]));
      i += 2;
    } else out[n++] = e;
  }
  return n;
}
