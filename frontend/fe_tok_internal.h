/* fe_tok_internal.h: what the tokenizer reader (fe_tokenizer.c, the model
 * and added tokens; fe_tokenizer_steps.c, normalizer, pre-tokenizer,
 * post-processor and decoder) hands the packer (fe_tokenizer_pack.c).
 * Frontend-internal. */
#ifndef KILN_FE_TOK_INTERNAL_H
#define KILN_FE_TOK_INTERNAL_H

#include "fe_json.h"
#include "fe_tokenizer.h"
#include "rt_tokenizer.h"

/* Bounds on lists a tokenizer.json holds; more is an error, not a crash. */
#define FE_TOK_MAX_OPS 64    /* normalizer plus pre-tokenizer steps */
#define FE_TOK_MAX_DEC 32    /* decoder steps */
#define FE_TOK_MAX_SPECIAL 16 /* post-processor ids */
#define FE_TOK_MAX_ID (INT32_MAX - 1)

/* A decoder step, as the packer runs it on each token. */
typedef enum {
  FE_DEC_BYTE_LEVEL,    /* byte-level characters back to bytes (not for added tokens) */
  FE_DEC_REPLACE,       /* from -> to */
  FE_DEC_BYTE_FALLBACK, /* "<0xHH>" -> the byte */
  FE_DEC_METASPACE,     /* from (the replacement) -> " " */
  FE_DEC_STRIP,         /* up to start leading and stop trailing `ch` */
} FeDecKind;

typedef struct {
  FeDecKind kind;
  const char *from, *to;
  uint32_t ch, start, stop;
} FeDecStep;

typedef struct {
  const char *content; /* in the cJSON tree */
  uint32_t id, flags;  /* RT_TOK_A_* */
} FeTokAdded;

typedef struct {
  FeJson j;
  IrArena arena;

  /* the model: ids 0 .. n_vocab - 1, NULL spellings are holes */
  uint32_t n_vocab;
  const char **vocab;    /* [n_vocab], as the file spells them (byte-level: "Ġthe") */
  uint32_t n_merges;
  uint32_t *merges;      /* [3 * n_merges]: left, right, result; rank = index */
  uint32_t unk_id;       /* or RT_TOK_EMPTY */
  uint32_t flags;        /* RT_TOK_F_* */
  uint32_t vocab_slots;  /* the lookup table by the file's spelling */
  uint32_t *vocab_hash;
  uint32_t *vocab_offs;  /* [n_vocab + 1] into vocab_bytes */
  uint8_t *vocab_bytes;

  FeTokAdded *added;
  uint32_t n_added;

  RtTokOp ops[FE_TOK_MAX_OPS];
  uint32_t n_norm_ops, n_pre_ops;
  RtBytes strings;       /* the ops' strings; added contents are appended by the packer */

  uint32_t special[FE_TOK_MAX_SPECIAL];
  uint32_t n_prefix, n_suffix;

  FeDecStep dec[FE_TOK_MAX_DEC];
  uint32_t n_dec;
  uint32_t decode_flags, decode_strip, decode_strip_char;
} FeTok;

/* ---- fe_tokenizer.c ---- */

/* Checks that v is a string of well-formed UTF-8; path names it. */
bool fe_tok_string(FeTok *t, const cJSON *v, const char *path, const char **out);
/* The code point of a one-character string, or false. */
bool fe_tok_one_char(const char *s, uint32_t *cp);
/* Adds s to t->strings; *off and *len locate it. */
void fe_tok_add_string(FeTok *t, const char *s, uint32_t *off, uint32_t *len);
/* The id of a token of the model vocabulary, by the file's spelling, or -1. */
int32_t fe_tok_vocab_id(const FeTok *t, const char *s);

/* ---- fe_tokenizer_steps.c ---- */

bool fe_tok_read_normalizer(FeTok *t, const cJSON *v, const char *path);
bool fe_tok_read_pre_tokenizer(FeTok *t, const cJSON *v, const char *path);
/* Needs the vocabulary read (special ids are checked against it). */
bool fe_tok_read_post_processor(FeTok *t, const cJSON *v, const char *path, uint32_t n_tokens);
bool fe_tok_read_decoder(FeTok *t, const cJSON *v, const char *path);

/* ---- fe_tokenizer_pack.c ---- */

bool fe_tok_pack(FeTok *t, uint8_t **blob, size_t *bytes);
/* byte-level's character for byte b ('A' -> 'A', ' ' -> 'Ġ') and back (-1
 * for a character that stands for no byte). */
int fe_tok_byte_of_char(uint32_t cp);

#endif
