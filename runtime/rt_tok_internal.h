/* rt_tok_internal.h: what the tokenizer's files share and nobody else sees.
 *
 * rt_tok_load.c   checks the blob, the accessors
 * rt_tokenizer.c  encode: added tokens, normalizer, then per pre-token BPE
 * rt_tok_split.c  the pre-tokenizer: split patterns, ByteLevel, Metaspace
 * rt_tok_bpe.c    BPE merges by rank
 * rt_tok_decode.c decode and the streaming decoder
 */
#ifndef KILN_RT_TOK_INTERNAL_H
#define KILN_RT_TOK_INTERNAL_H

#include "rt_tokenizer.h"

/* An added token matched in normalized text: its normalized spelling,
 * made at load time. */
typedef struct {
  uint32_t added; /* index into RtTokenizer.added */
  uint8_t *text;
  size_t len;
} RtTokNormAdded;

struct RtTokenizer {
  RtTokHeader h;
  const uint32_t *tok_offs;   /* [n_tokens + 1] */
  const uint8_t *tok_bytes;
  const uint32_t *piece_offs; /* [n_tokens + 1] */
  const uint8_t *piece_bytes;
  const uint8_t *tok_flags;   /* [n_tokens] */
  const uint32_t *vocab_hash; /* [vocab_slots] */
  const RtTokMerge *merges;   /* [merge_slots] */
  const uint32_t *byte_ids;   /* [256] */
  const RtTokAdded *added;    /* [n_added] */
  const RtTokTrieNode *nodes; /* [n_trie_nodes] */
  const RtTokTrieEdge *edges; /* [n_trie_edges] */
  const RtTokOp *ops;         /* [n_norm_ops + n_pre_ops] */
  const uint8_t *strings;
  const uint32_t *special;    /* [n_prefix + n_suffix] */
  RtTokNormAdded *norm_added; /* malloc'd */
  size_t n_norm_added;
};

/* A bytes string of the blob's STRINGS section. */
static inline const uint8_t *rt_tok_string(const RtTokenizer *t, uint32_t off) {
  return t->strings + off;
}

void rt_tok_ids_push(RtTokIds *out, int32_t id);

/* ---- normalizer (rt_tokenizer.c) ---- */

/* Applies the normalizer ops to s[0..n), appending to out. */
void rt_tok_normalize(const RtTokenizer *t, const uint8_t *s, size_t n, RtBytes *out);

/* ---- pre-tokenizer (rt_tok_split.c) ---- */

typedef struct {
  size_t off, len; /* in RtTokPre.text */
} RtTokSpan;

typedef struct {
  RtTokSpan *span;
  size_t n, cap;
} RtTokSpans;

/* Working memory of the pre-tokenizer, reused from call to call. */
typedef struct {
  RtBytes text;          /* every piece's bytes */
  RtTokSpans cur, next;  /* the pieces before and after a step */
  uint32_t *cp;          /* one piece decoded: code points, */
  uint8_t *cls;          /* their RtUClass, */
  size_t *boff;          /* and byte offsets (n + 1) */
  size_t cp_cap;
  RtTokSpans seg;        /* a split's matches and gaps (len, off) ... */
  uint8_t *seg_delim;    /* ... and which are delimiters */
  size_t seg_cap;
} RtTokPre;

/* Splits s[0..n) into pre-tokens (w->cur, in w->text). `first`: s is the
 * start of the text (Metaspace's "first" prepend scheme). */
void rt_tok_pretokenize(const RtTokenizer *t, const uint8_t *s, size_t n, bool first,
                        RtTokPre *w);
void rt_tok_pre_free(RtTokPre *w);
/* The end (a code point index) of the match of `pattern` that starts at
 * cp[i], or i when none starts there. cls[k] is rt_uclass(cp[k]). */
size_t rt_tok_pattern_match(int pattern, const uint32_t *cp, const uint8_t *cls, size_t n,
                            size_t i);

/* ---- BPE (rt_tok_bpe.c) ---- */

typedef struct {
  int32_t id;          /* -1: a character outside the vocabulary */
  int32_t prev, next;  /* neighbours in the word, -1 at the ends */
  uint32_t off, len;   /* bytes of the word; len 0: merged away */
} RtTokSymbol;

typedef struct {
  uint32_t rank, pos; /* pos: the left symbol */
  int32_t left, right;
} RtTokPair;

typedef struct {
  RtTokSymbol *sym;
  size_t sym_cap;
  RtTokPair *heap;
  size_t heap_n, heap_cap;
} RtTokBpe;

/* Appends the ids of one pre-token word[0..n). */
void rt_tok_bpe(const RtTokenizer *t, const uint8_t *word, size_t n, RtTokBpe *w,
                RtTokIds *out);
void rt_tok_bpe_free(RtTokBpe *w);

#endif
