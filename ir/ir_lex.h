/* ir_lex.h: tokens of the IR text form (internal to ir_parse.c).
 *
 * The lexer never fails: a malformed token comes back as IR_TOK_ERROR with
 * a message, and the parser reports it when it reaches that token, so the
 * first error in reading order is the one the user sees.
 *
 *   IrLexer lx;
 *   ir_lex_init(&lx, "%x = add(%a, %b)", 16);
 *   IrToken t = ir_lex_next(&lx);   // IR_TOK_LOCAL "x" at 1:1
 */
#ifndef KILN_IR_LEX_H
#define KILN_IR_LEX_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  IR_TOK_EOF,
  IR_TOK_ERROR,  /* msg says what is wrong */
  IR_TOK_IDENT,  /* module, sym, f32, add, T, inf, ... */
  IR_TOK_GLOBAL, /* @name: name/name_len exclude the '@' */
  IR_TOK_LOCAL,  /* %name: name/name_len exclude the '%' */
  IR_TOK_INT,    /* 42: magnitude in ival (at most 2^63; the sign is a '-' token) */
  IR_TOK_FLOAT,  /* 1.5, 1e-05: value in fval */
  IR_TOK_STRING, /* "half": text includes the quotes; ir_lex_unescape decodes */
  IR_TOK_LBRACE,
  IR_TOK_RBRACE,
  IR_TOK_LPAREN,
  IR_TOK_RPAREN,
  IR_TOK_LBRACKET,
  IR_TOK_RBRACKET,
  IR_TOK_COMMA,
  IR_TOK_COLON,
  IR_TOK_EQUAL,
  IR_TOK_STAR,
  IR_TOK_PLUS,
  IR_TOK_MINUS,
  IR_TOK_ARROW, /* -> */
  IR_TOK_LE,    /* <= */
} IrTokKind;

typedef struct {
  IrTokKind kind;
  const char *text; /* the token's source bytes (not NUL-terminated) */
  size_t len;
  const char *name; /* IDENT, GLOBAL, LOCAL: the name without sigil */
  size_t name_len;
  int line, col;    /* 1-based */
  uint64_t ival;    /* INT */
  double fval;      /* FLOAT */
  char msg[256];    /* ERROR */
} IrToken;

typedef struct {
  const char *p, *end;
  const char *line_start;
  int line;
} IrLexer;

void ir_lex_init(IrLexer *lx, const char *text, size_t len);
IrToken ir_lex_next(IrLexer *lx);

/* Writes "end of file" or the token quoted, with unprintable bytes as \xNN
 * and long tokens cut: 'foo', '}', '\x00'. */
void ir_lex_describe(const IrToken *t, char *buf, size_t size);

/* Decodes a STRING token into out (room for t->len bytes); returns the
 * decoded length. The lexer has already checked the escapes. */
size_t ir_lex_unescape(const IrToken *t, char *out);

#endif
