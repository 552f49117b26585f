/* rt_tok_load.c: checks a packed tokenizer blob and wraps it without
 * copying. Every offset, size and index is checked here, once, so that
 * encode and decode can trust the blob (a damaged one is refused, never a
 * crash). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_tok_internal.h"

_Static_assert(sizeof(RtTokHeader) == 328, "RtTokHeader is part of the blob format");
_Static_assert(sizeof(RtTokMerge) == 16, "RtTokMerge is part of the blob format");
_Static_assert(sizeof(RtTokAdded) == 16, "RtTokAdded is part of the blob format");
_Static_assert(sizeof(RtTokTrieNode) == 12, "RtTokTrieNode is part of the blob format");
_Static_assert(sizeof(RtTokTrieEdge) == 8, "RtTokTrieEdge is part of the blob format");
_Static_assert(sizeof(RtTokOp) == 20, "RtTokOp is part of the blob format");

static const char *const section_names[RT_TOK_SEC_COUNT] = {
    "token offsets", "token bytes", "piece offsets", "piece bytes", "token flags",
    "vocabulary hash", "merges", "byte ids", "added tokens", "trie nodes", "trie edges",
    "ops", "strings", "special ids"};

/* "tokenizer blob: MESSAGE" into err; returns false. */
static bool blob_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool blob_error(char *err, size_t err_size, const char *fmt, ...) {
  if (!err || !err_size) return false;
  int n = snprintf(err, err_size, "tokenizer blob: ");
  if (n < 0 || (size_t)n >= err_size) return false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
  va_end(ap);
  return false;
}

static bool little_endian(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

/* The size each section must have, from the header's counts. */
static uint64_t expected_bytes(const RtTokHeader *h, int sec) {
  uint64_t n = h->n_tokens;
  switch (sec) {
  case RT_TOK_SEC_TOKEN_OFFS:
  case RT_TOK_SEC_PIECE_OFFS: return 4 * (n + 1);
  case RT_TOK_SEC_TOKEN_FLAGS: return n;
  case RT_TOK_SEC_VOCAB_HASH: return 4 * (uint64_t)h->vocab_slots;
  case RT_TOK_SEC_MERGES: return sizeof(RtTokMerge) * (uint64_t)h->merge_slots;
  case RT_TOK_SEC_BYTE_IDS: return 4 * 256;
  case RT_TOK_SEC_ADDED: return sizeof(RtTokAdded) * (uint64_t)h->n_added;
  case RT_TOK_SEC_TRIE_NODES: return sizeof(RtTokTrieNode) * (uint64_t)h->n_trie_nodes;
  case RT_TOK_SEC_TRIE_EDGES: return sizeof(RtTokTrieEdge) * (uint64_t)h->n_trie_edges;
  case RT_TOK_SEC_OPS: return sizeof(RtTokOp) * ((uint64_t)h->n_norm_ops + h->n_pre_ops);
  case RT_TOK_SEC_SPECIAL: return 4 * ((uint64_t)h->n_prefix + h->n_suffix);
  default: return UINT64_MAX; /* byte sections: any size */
  }
}

static bool is_pow2(uint32_t x) { return x && !(x & (x - 1)); }

static bool check_header(const RtTokHeader *h, size_t bytes, char *err, size_t es) {
  if (memcmp(h->magic, RT_TOK_MAGIC, 8) != 0)
    return blob_error(err, es, "bad magic (not a packed tokenizer)");
  if (h->version != RT_TOK_VERSION)
    return blob_error(err, es, "version %u, this runtime reads version %u", h->version,
                      RT_TOK_VERSION);
  if (h->header_bytes != sizeof(RtTokHeader))
    return blob_error(err, es, "header of %u bytes, expected %zu", h->header_bytes,
                      sizeof(RtTokHeader));
  if (h->n_tokens == 0 || h->n_tokens > INT32_MAX)
    return blob_error(err, es, "%u tokens, expected 1 to %d", h->n_tokens, INT32_MAX);
  if (!is_pow2(h->vocab_slots) || !is_pow2(h->merge_slots))
    return blob_error(err, es, "hash table sizes %u and %u are not powers of two",
                      h->vocab_slots, h->merge_slots);
  if (h->n_trie_nodes == 0) return blob_error(err, es, "the added-token trie has no root");
  if (h->unk_id != RT_TOK_EMPTY && h->unk_id >= h->n_tokens)
    return blob_error(err, es, "unk id %u outside the vocabulary", h->unk_id);
  if (h->decode_strip_char >= 0x110000 ||
      (h->decode_strip_char >= 0xD800 && h->decode_strip_char < 0xE000))
    return blob_error(err, es, "strip character 0x%x is not a Unicode scalar value",
                      h->decode_strip_char);
  for (int s = 0; s < RT_TOK_SEC_COUNT; s++) {
    const RtTokSection *sec = &h->sections[s];
    if (sec->offset % 8 || sec->offset > bytes || sec->bytes > bytes - sec->offset)
      return blob_error(err, es, "section '%s' (offset %llu, %llu bytes) is outside the %zu-byte blob",
                        section_names[s], (unsigned long long)sec->offset,
                        (unsigned long long)sec->bytes, bytes);
    uint64_t want = expected_bytes(h, s);
    if (want != UINT64_MAX && sec->bytes != want)
      return blob_error(err, es, "section '%s' has %llu bytes, expected %llu", section_names[s],
                        (unsigned long long)sec->bytes, (unsigned long long)want);
  }
  return true;
}

/* offs[0..n] ascending, within `limit` bytes. */
static bool check_offsets(const uint32_t *offs, uint32_t n, uint64_t limit, const char *what,
                          char *err, size_t es) {
  for (uint32_t i = 0; i < n; i++)
    if (offs[i] > offs[i + 1])
      return blob_error(err, es, "%s of id %u run backwards", what, i);
  if (offs[0] > offs[n] || offs[n] > limit)
    return blob_error(err, es, "%s end at byte %u, past the %llu bytes there are", what, offs[n],
                      (unsigned long long)limit);
  return true;
}

static bool check_id(uint32_t id, uint32_t n) { return id != RT_TOK_EMPTY && id < n; }

static bool check_tables(const RtTokenizer *t, char *err, size_t es) {
  const RtTokHeader *h = &t->h;
  uint32_t n = h->n_tokens;
  for (uint32_t i = 0; i < h->vocab_slots; i++)
    if (t->vocab_hash[i] != RT_TOK_EMPTY && t->vocab_hash[i] >= n)
      return blob_error(err, es, "vocabulary slot %u holds id %u, outside the vocabulary", i,
                        t->vocab_hash[i]);
  for (uint32_t i = 0; i < h->merge_slots; i++) {
    const RtTokMerge *m = &t->merges[i];
    if (m->left == RT_TOK_EMPTY) continue;
    if (!check_id(m->left, n) || !check_id(m->right, n) || !check_id(m->result, n))
      return blob_error(err, es, "merge slot %u refers to ids outside the vocabulary", i);
  }
  for (int b = 0; b < 256; b++)
    if (t->byte_ids[b] != RT_TOK_EMPTY && t->byte_ids[b] >= n)
      return blob_error(err, es, "the token of byte 0x%02x is outside the vocabulary", b);
  for (uint32_t i = 0; i < h->n_prefix + h->n_suffix; i++)
    if (!check_id(t->special[i], n))
      return blob_error(err, es, "post-processor id %u is outside the vocabulary", t->special[i]);
  return true;
}

static bool check_string(uint32_t off, uint32_t len, uint64_t limit) {
  return off <= limit && len <= limit - off;
}

static bool check_added(const RtTokenizer *t, uint64_t strings_len, char *err, size_t es) {
  for (uint32_t i = 0; i < t->h.n_added; i++) {
    const RtTokAdded *a = &t->added[i];
    if (!check_id(a->id, t->h.n_tokens))
      return blob_error(err, es, "added token %u has id %u, outside the vocabulary", i, a->id);
    if (a->content_len == 0 || !check_string(a->content, a->content_len, strings_len))
      return blob_error(err, es, "added token %u has no content in the strings", i);
  }
  const RtTokHeader *h = &t->h;
  for (uint32_t i = 0; i < h->n_trie_nodes; i++) {
    const RtTokTrieNode *node = &t->nodes[i];
    if (node->first_edge > h->n_trie_edges || node->n_edges > h->n_trie_edges - node->first_edge)
      return blob_error(err, es, "trie node %u has edges outside the table", i);
    if (node->added != RT_TOK_EMPTY && node->added >= h->n_added)
      return blob_error(err, es, "trie node %u names added token %u of %u", i, node->added,
                        h->n_added);
    for (uint32_t e = node->first_edge; e < node->first_edge + node->n_edges; e++) {
      const RtTokTrieEdge *edge = &t->edges[e];
      if (edge->child <= i || edge->child >= h->n_trie_nodes)
        return blob_error(err, es, "trie node %u has a child %u out of order", i, edge->child);
      if (e > node->first_edge && edge->byte <= t->edges[e - 1].byte)
        return blob_error(err, es, "trie node %u has unsorted edges", i);
    }
  }
  return true;
}

static bool check_op(const RtTokOp *op, bool normalizer, uint64_t strings_len, uint32_t index,
                     char *err, size_t es) {
  bool ok;
  switch (op->kind) {
  case RT_TOK_NORM_PREPEND: ok = normalizer && check_string(op->a, op->b, strings_len); break;
  case RT_TOK_NORM_REPLACE:
    ok = normalizer && op->b > 0 && check_string(op->a, op->b, strings_len) &&
         check_string(op->c, op->d, strings_len);
    break;
  case RT_TOK_NORM_NFC: ok = normalizer; break;
  case RT_TOK_PRE_SPLIT:
    ok = !normalizer && op->a >= RT_TOK_PAT_GPT2 && op->a < RT_TOK_PAT_COUNT &&
         op->b < RT_TOK_SPLIT_COUNT;
    break;
  case RT_TOK_PRE_SPLIT_STRING:
    ok = !normalizer && op->b > 0 && check_string(op->a, op->b, strings_len) &&
         op->c < RT_TOK_SPLIT_COUNT;
    break;
  case RT_TOK_PRE_BYTE_LEVEL: ok = !normalizer; break;
  case RT_TOK_PRE_METASPACE:
    ok = !normalizer && op->b > 0 && check_string(op->a, op->b, strings_len) &&
         op->c <= RT_TOK_PREPEND_NEVER;
    break;
  default: ok = false;
  }
  if (!ok)
    return blob_error(err, es, "%s step %u (kind %u) is malformed",
                      normalizer ? "normalizer" : "pre-tokenizer", index, op->kind);
  return true;
}

static const void *section(const uint8_t *base, const RtTokHeader *h, int s) {
  return base + h->sections[s].offset;
}

/* Points t's arrays into the blob. */
static void wrap(RtTokenizer *t, const uint8_t *base) {
  const RtTokHeader *h = &t->h;
  t->tok_offs = section(base, h, RT_TOK_SEC_TOKEN_OFFS);
  t->tok_bytes = section(base, h, RT_TOK_SEC_TOKEN_BYTES);
  t->piece_offs = section(base, h, RT_TOK_SEC_PIECE_OFFS);
  t->piece_bytes = section(base, h, RT_TOK_SEC_PIECE_BYTES);
  t->tok_flags = section(base, h, RT_TOK_SEC_TOKEN_FLAGS);
  t->vocab_hash = section(base, h, RT_TOK_SEC_VOCAB_HASH);
  t->merges = section(base, h, RT_TOK_SEC_MERGES);
  t->byte_ids = section(base, h, RT_TOK_SEC_BYTE_IDS);
  t->added = section(base, h, RT_TOK_SEC_ADDED);
  t->nodes = section(base, h, RT_TOK_SEC_TRIE_NODES);
  t->edges = section(base, h, RT_TOK_SEC_TRIE_EDGES);
  t->ops = section(base, h, RT_TOK_SEC_OPS);
  t->strings = section(base, h, RT_TOK_SEC_STRINGS);
  t->special = section(base, h, RT_TOK_SEC_SPECIAL);
}

static bool check_all(const RtTokenizer *t, char *err, size_t es) {
  const RtTokHeader *h = &t->h;
  if (!check_offsets(t->tok_offs, h->n_tokens, h->sections[RT_TOK_SEC_TOKEN_BYTES].bytes,
                     "token spellings", err, es) ||
      !check_offsets(t->piece_offs, h->n_tokens, h->sections[RT_TOK_SEC_PIECE_BYTES].bytes,
                     "token pieces", err, es) ||
      !check_tables(t, err, es))
    return false;
  uint64_t strings_len = h->sections[RT_TOK_SEC_STRINGS].bytes;
  if (!check_added(t, strings_len, err, es)) return false;
  for (uint32_t i = 0; i < h->n_norm_ops + h->n_pre_ops; i++) {
    bool norm = i < h->n_norm_ops;
    if (!check_op(&t->ops[i], norm, strings_len, norm ? i : i - h->n_norm_ops, err, es))
      return false;
  }
  return true;
}

/* Added tokens that match in normalized text are normalized here, once. */
static void normalize_added(RtTokenizer *t) {
  size_t count = 0;
  for (uint32_t i = 0; i < t->h.n_added; i++)
    if (t->added[i].flags & RT_TOK_A_NORMALIZED) count++;
  if (!count) return;
  t->norm_added = calloc(count, sizeof *t->norm_added);
  if (!t->norm_added) {
    fprintf(stderr, "kiln: out of memory\n");
    abort();
  }
  for (uint32_t i = 0; i < t->h.n_added; i++) {
    const RtTokAdded *a = &t->added[i];
    if (!(a->flags & RT_TOK_A_NORMALIZED)) continue;
    RtBytes b = {0};
    rt_tok_normalize(t, rt_tok_string(t, a->content), a->content_len, &b);
    if (b.len == 0) { /* normalizes to nothing: it can never match */
      free(b.data);
      continue;
    }
    t->norm_added[t->n_norm_added++] = (RtTokNormAdded){i, b.data, b.len};
  }
}

RtTokenizer *rt_tok_load(const void *blob, size_t bytes, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!little_endian()) {
    blob_error(err, err_size, "this runtime reads little-endian blobs on little-endian hosts only");
    return NULL;
  }
  if (!blob || bytes < sizeof(RtTokHeader)) {
    blob_error(err, err_size, "%zu bytes, too short for the %zu-byte header", bytes,
               sizeof(RtTokHeader));
    return NULL;
  }
  if ((uintptr_t)blob % 8) {
    blob_error(err, err_size, "not 8-byte aligned");
    return NULL;
  }
  RtTokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    fprintf(stderr, "kiln: out of memory\n");
    abort();
  }
  memcpy(&t->h, blob, sizeof t->h);
  if (!check_header(&t->h, bytes, err, err_size)) {
    free(t);
    return NULL;
  }
  wrap(t, blob);
  if (!check_all(t, err, err_size)) {
    free(t);
    return NULL;
  }
  normalize_added(t);
  return t;
}

void rt_tok_free(RtTokenizer *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n_norm_added; i++) free(t->norm_added[i].text);
  free(t->norm_added);
  free(t);
}

/* ---- accessors ---------------------------------------------------------- */

int32_t rt_tok_vocab_size(const RtTokenizer *t) { return (int32_t)t->h.n_tokens; }

const int32_t *rt_tok_prefix(const RtTokenizer *t, size_t *n) {
  *n = t->h.n_prefix;
  return (const int32_t *)t->special;
}

const int32_t *rt_tok_suffix(const RtTokenizer *t, size_t *n) {
  *n = t->h.n_suffix;
  return (const int32_t *)t->special + t->h.n_prefix;
}

const uint8_t *rt_tok_piece(const RtTokenizer *t, int32_t id, size_t *len) {
  if (id < 0 || (uint32_t)id >= t->h.n_tokens || !(t->tok_flags[id] & RT_TOK_T_USED)) return NULL;
  *len = t->piece_offs[id + 1] - t->piece_offs[id];
  return t->piece_bytes + t->piece_offs[id];
}

int32_t rt_tok_find(const RtTokenizer *t, const char *token, size_t len) {
  for (uint32_t i = 0; i < t->h.n_added; i++) {
    const RtTokAdded *a = &t->added[i];
    if (a->content_len == len && memcmp(rt_tok_string(t, a->content), token, len) == 0)
      return (int32_t)a->id;
  }
  return rt_tok_vocab_lookup(t->vocab_hash, t->h.vocab_slots, t->tok_offs, t->tok_bytes,
                             (const uint8_t *)token, len);
}

void rt_tok_ids_push(RtTokIds *out, int32_t id) {
  if (out->n == out->cap) {
    out->cap = out->cap ? out->cap * 2 : 64;
    out->ids = realloc(out->ids, out->cap * sizeof *out->ids);
    if (!out->ids) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
  }
  out->ids[out->n++] = id;
}
