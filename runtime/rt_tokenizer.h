/* rt_tokenizer.h: the tokenizer of a compiled model: text to token ids
 * and back, from a packed blob that `kiln compile` (frontend/
 * fe_tokenizer.c) makes out of the model's tokenizer.json.
 *
 *   char err[256];
 *   RtTokenizer *t = rt_tok_load(desc->tokenizer, desc->tokenizer_bytes, err, sizeof err);
 *   RtTokIds ids = {0};
 *   rt_tok_encode(t, "Hello world", 11, true, &ids);   // {1, 15043, 3186} with BOS
 *   size_t len;
 *   char *text = rt_tok_decode(t, ids.ids, ids.n, false, &len, err, sizeof err);
 *   free(text); free(ids.ids); rt_tok_free(t);
 *
 * Streaming (one token at a time, as a model generates):
 *
 *   RtTokStream s;
 *   rt_tok_stream_init(&s, t, true);
 *   for each token: if (!rt_tok_stream_push(&s, id, err, n)) fail;
 *                   fwrite(s.out.data, 1, s.out.len, stdout);
 *   rt_tok_stream_finish(&s); fwrite(...); rt_tok_stream_free(&s);
 *
 * What is supported (docs/tokenizer.md has the details): BPE models with
 * merge ranks, byte-level (GPT-2, Llama 3, Qwen, GPT-4o) or character
 * level with byte fallback (Llama 2, Mistral, Gemma); added and special
 * tokens, matched before anything else; the normalizers Prepend, Replace
 * and NFC; the pre-tokenizers Split (the GPT-2, Llama 3, Qwen 2 and
 * GPT-4o patterns, or a plain string), ByteLevel and Metaspace; template
 * post-processing (BOS/EOS); the decoders ByteLevel, Replace,
 * ByteFallback, Fuse, Strip and Metaspace.
 *
 * Text that is not well-formed UTF-8 is not an error: each ill-formed
 * subsequence counts as one U+FFFD, as a JavaScript TextDecoder reads it.
 * Decoded text is always well-formed UTF-8 (byte-fallback tokens that do
 * not form a character decode to U+FFFD).
 *
 * Nothing here prints, exits or keeps global state; a loaded tokenizer is
 * read-only, so threads may share it.
 */
#ifndef KILN_RT_TOKENIZER_H
#define KILN_RT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "rt_unicode.h"

/* ---- the API ------------------------------------------------------------ */

typedef struct RtTokenizer RtTokenizer;

/* Checks a packed blob (every offset, size and index in it) and wraps it;
 * the blob is not copied and must outlive the tokenizer. It must be
 * 8-byte aligned. NULL with the reason in err (err_size bytes, always
 * terminated): "tokenizer blob: version 2, this runtime reads version 1". */
RtTokenizer *rt_tok_load(const void *blob, size_t bytes, char *err, size_t err_size);
void rt_tok_free(RtTokenizer *t);

/* Ids are 0 .. rt_tok_vocab_size() - 1 (some may be unused). */
int32_t rt_tok_vocab_size(const RtTokenizer *t);
/* The special tokens the post-processor puts before and after the text
 * (BOS and EOS), n of them at *ids; n may be 0. */
const int32_t *rt_tok_prefix(const RtTokenizer *t, size_t *n);
const int32_t *rt_tok_suffix(const RtTokenizer *t, size_t *n);
/* An id's text as the decoder gives it (raw bytes, maybe part of a
 * character), or NULL when id has no token. */
const uint8_t *rt_tok_piece(const RtTokenizer *t, int32_t id, size_t *len);
/* The id of a token given by its exact text (the vocabulary's own
 * spelling, or an added token), or -1. */
int32_t rt_tok_find(const RtTokenizer *t, const char *token, size_t len);

/* A growable list of ids; {0} is empty; the owner frees ids. */
typedef struct {
  int32_t *ids;
  size_t n, cap;
} RtTokIds;

/* Appends the ids of text[0..len) to out. add_special applies the
 * post-processor (BOS/EOS); special tokens written in the text are
 * recognized either way. Never fails (out of memory aborts). */
void rt_tok_encode(const RtTokenizer *t, const char *text, size_t len, bool add_special,
                   RtTokIds *out);

/* Decodes ids[0..n) into well-formed UTF-8: malloc'd, NUL-terminated,
 * *len bytes. skip_special leaves special tokens out. NULL with the
 * reason in err for an id outside the vocabulary or without a token. */
char *rt_tok_decode(const RtTokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                    size_t *len, char *err, size_t err_size);

/* The streaming decoder: text comes out as soon as it is complete; bytes
 * of a character split across tokens wait for the rest. */
typedef struct {
  const RtTokenizer *tok;
  bool skip_special;
  bool started;        /* a token has been decoded (the first has its own rules) */
  uint32_t strip_left; /* leading characters the decoder still strips */
  uint8_t pending[4];  /* the start of a character, waiting for its rest */
  size_t n_pending;
  RtBytes out;         /* the text completed by the last push or finish */
} RtTokStream;

void rt_tok_stream_init(RtTokStream *s, const RtTokenizer *t, bool skip_special);
/* Decodes one token; s->out is then the text it completed (maybe none).
 * False with the reason in err for an id outside the vocabulary. */
bool rt_tok_stream_push(RtTokStream *s, int32_t id, char *err, size_t err_size);
/* Ends the stream: s->out is what was held back (a character cut short
 * becomes U+FFFD). */
void rt_tok_stream_finish(RtTokStream *s);
void rt_tok_stream_free(RtTokStream *s);

/* ---- the blob format (written by frontend/fe_tokenizer_pack.c) ---------- */

/* All numbers little-endian; the blob starts with RtTokHeader, and every
 * section starts at a multiple of 8 bytes. Strings are UTF-8 (token
 * bytes of a byte-level model are raw bytes), never NUL-terminated; an
 * id's string is bytes[offs[id] .. offs[id + 1]). Hash tables use linear
 * probing from rt_tok_hash(...) & (slots - 1). docs/tokenizer.md draws
 * the layout. */
#define RT_TOK_MAGIC "KILNTOK1"
#define RT_TOK_VERSION 1u
#define RT_TOK_EMPTY 0xFFFFFFFFu /* an empty hash slot, a missing index */

enum {
  RT_TOK_SEC_TOKEN_OFFS,  /* u32[n_tokens + 1]: the model's spelling of each id */
  RT_TOK_SEC_TOKEN_BYTES, /* u8[] */
  RT_TOK_SEC_PIECE_OFFS,  /* u32[n_tokens + 1]: what each id decodes to */
  RT_TOK_SEC_PIECE_BYTES, /* u8[] */
  RT_TOK_SEC_TOKEN_FLAGS, /* u8[n_tokens]: RT_TOK_T_* */
  RT_TOK_SEC_VOCAB_HASH,  /* u32[vocab_slots]: ids of the model vocabulary, by spelling */
  RT_TOK_SEC_MERGES,      /* RtTokMerge[merge_slots], by (left, right) */
  RT_TOK_SEC_BYTE_IDS,    /* u32[256]: the id of each byte's token (see flags), or EMPTY */
  RT_TOK_SEC_ADDED,       /* RtTokAdded[n_added] */
  RT_TOK_SEC_TRIE_NODES,  /* RtTokTrieNode[n_trie_nodes]: added tokens matched on raw text */
  RT_TOK_SEC_TRIE_EDGES,  /* RtTokTrieEdge[n_trie_edges] */
  RT_TOK_SEC_OPS,         /* RtTokOp[n_norm_ops + n_pre_ops]: normalizer, then pre-tokenizer */
  RT_TOK_SEC_STRINGS,     /* u8[]: strings of ops and added tokens */
  RT_TOK_SEC_SPECIAL,     /* u32[n_prefix + n_suffix]: post-processor ids */
  RT_TOK_SEC_COUNT
};

typedef struct {
  uint64_t offset, bytes; /* from the start of the blob */
} RtTokSection;

/* Model flags. */
#define RT_TOK_F_BYTE_LEVEL 1u    /* BPE starts from bytes (token spellings are raw bytes) */
#define RT_TOK_F_BYTE_FALLBACK 2u /* unknown characters become <0xXX> tokens (BYTE_IDS) */
#define RT_TOK_F_FUSE_UNK 4u      /* consecutive unknowns give one unk token */
#define RT_TOK_F_IGNORE_MERGES 8u /* a pre-token that is in the vocabulary is one token */

/* Decoder flags. */
#define RT_TOK_D_JOIN_SPACE 1u       /* no decoder: tokens joined by spaces */
#define RT_TOK_D_FIRST_NO_SPACE 2u   /* Metaspace: the first token loses a leading space */

/* Token flags. */
#define RT_TOK_T_USED 1u    /* the id has a token */
#define RT_TOK_T_ADDED 2u   /* an added token */
#define RT_TOK_T_SPECIAL 4u /* a special added token (skip_special leaves it out) */

typedef struct {
  char magic[8];              /* RT_TOK_MAGIC */
  uint32_t version;           /* RT_TOK_VERSION */
  uint32_t header_bytes;      /* sizeof(RtTokHeader) */
  uint32_t n_tokens;          /* ids 0 .. n_tokens - 1 */
  uint32_t flags;             /* RT_TOK_F_* */
  uint32_t unk_id;            /* or RT_TOK_EMPTY */
  uint32_t vocab_slots;       /* a power of two */
  uint32_t merge_slots;       /* a power of two */
  uint32_t n_merges;
  uint32_t n_added;
  uint32_t n_trie_nodes, n_trie_edges;
  uint32_t n_norm_ops, n_pre_ops;
  uint32_t n_prefix, n_suffix;
  uint32_t decode_flags;      /* RT_TOK_D_* */
  uint32_t decode_strip;      /* the decoded text loses up to this many leading ... */
  uint32_t decode_strip_char; /* ... copies of this code point (Strip after Fuse) */
  uint32_t reserved[6];
  RtTokSection sections[RT_TOK_SEC_COUNT];
} RtTokHeader;

typedef struct {
  uint32_t left, right; /* ids; left == EMPTY marks an empty slot */
  uint32_t rank;        /* lower merges first */
  uint32_t result;      /* the id of left + right */
} RtTokMerge;

/* Added-token flags. */
#define RT_TOK_A_SPECIAL 1u
#define RT_TOK_A_NORMALIZED 2u  /* matched in normalized text (not in the trie) */
#define RT_TOK_A_LSTRIP 4u      /* white space before it is dropped */
#define RT_TOK_A_RSTRIP 8u      /* white space after it is dropped */
#define RT_TOK_A_SINGLE_WORD 16u /* matches only between non-word characters */

typedef struct {
  uint32_t id;
  uint32_t flags;               /* RT_TOK_A_* */
  uint32_t content, content_len; /* in STRINGS */
} RtTokAdded;

/* A trie node: its edges are edges[first_edge .. first_edge + n_edges),
 * sorted by byte; added is the index of the added token spelled by the
 * path to the node, or EMPTY. Node 0 is the root; children come after
 * their parent. */
typedef struct {
  uint32_t first_edge, n_edges, added;
} RtTokTrieNode;

typedef struct {
  uint32_t child;
  uint8_t byte;
  uint8_t pad[3];
} RtTokTrieEdge;

/* Normalizer and pre-tokenizer steps, applied in order. A string is
 * (offset, length) in STRINGS. */
enum {
  RT_TOK_NORM_PREPEND = 1, /* a, b: the string, put before non-empty text */
  RT_TOK_NORM_REPLACE,     /* a, b: replace every occurrence of this, c, d: with this */
  RT_TOK_NORM_NFC,
  RT_TOK_PRE_SPLIT = 16,   /* a: RT_TOK_PAT_*, b: RT_TOK_SPLIT_*, c: invert */
  RT_TOK_PRE_SPLIT_STRING, /* a, b: the delimiter, c: RT_TOK_SPLIT_*, d: invert */
  RT_TOK_PRE_BYTE_LEVEL,   /* a: add_prefix_space, b: use_regex (the GPT-2 pattern) */
  RT_TOK_PRE_METASPACE,    /* a, b: replacement, c: RT_TOK_PREPEND_*, d: split */
};

/* The split patterns, each a hand-written matcher (rt_tok_split.c). */
enum {
  RT_TOK_PAT_GPT2 = 1, /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
  RT_TOK_PAT_LLAMA3,   /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|... */
  RT_TOK_PAT_QWEN2,    /* the same with \p{N} one digit at a time */
  RT_TOK_PAT_GPT4O,    /* cased words: [\p{Lu}...]*[\p{Ll}...]+(?i:'s|...)?|...|\p{N}{1,3}|... */
  RT_TOK_PAT_COUNT
};

/* What happens to the delimiters a split finds (tokenizers' names). */
enum {
  RT_TOK_SPLIT_REMOVED,
  RT_TOK_SPLIT_ISOLATED,
  RT_TOK_SPLIT_MERGED_WITH_PREVIOUS,
  RT_TOK_SPLIT_MERGED_WITH_NEXT,
  RT_TOK_SPLIT_CONTIGUOUS,
  RT_TOK_SPLIT_COUNT
};

/* Metaspace prepend schemes. */
enum { RT_TOK_PREPEND_ALWAYS, RT_TOK_PREPEND_FIRST, RT_TOK_PREPEND_NEVER };

typedef struct {
  uint32_t kind; /* RT_TOK_NORM_* or RT_TOK_PRE_* */
  uint32_t a, b, c, d;
} RtTokOp;

/* FNV-1a over bytes, the hash of the vocabulary table. */
static inline uint32_t rt_tok_hash(const uint8_t *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
  return (uint32_t)(h ^ h >> 32);
}

/* The hash of a merge pair. */
static inline uint32_t rt_tok_pair_hash(uint32_t left, uint32_t right) {
  uint64_t h = ((uint64_t)left << 32 | right) * 0x9E3779B97F4A7C15ull;
  return (uint32_t)(h >> 32);
}

/* The id spelled s[0..n) in a vocabulary hash table, or -1. At most
 * `slots` probes, so a full table cannot loop. */
static inline int32_t rt_tok_vocab_lookup(const uint32_t *table, uint32_t slots,
                                          const uint32_t *offs, const uint8_t *bytes,
                                          const uint8_t *s, size_t n) {
  uint32_t mask = slots - 1, i = rt_tok_hash(s, n) & mask;
  for (uint32_t probe = 0; probe < slots; probe++, i = (i + 1) & mask) {
    uint32_t id = table[i];
    if (id == RT_TOK_EMPTY) return -1;
    size_t len = offs[id + 1] - offs[id];
    if (len == n && (n == 0 || memcmp(bytes + offs[id], s, n) == 0)) return (int32_t)id;
  }
  return -1;
}

#endif
