/* fe_tokenizer_pack.c: writes the blob (runtime/rt_tokenizer.h) from what
 * fe_tokenizer.c read: token spellings (raw bytes for byte-level models),
 * the pieces every id decodes to (the decoder chain run here, once), the
 * vocabulary and merge hash tables, the byte tokens, the added tokens and
 * their trie, the ops and the post-processor ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe_tok_internal.h"

/* ---- byte-level characters ---------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 for U+0100 upwards in byte order (' ' is U+0120 'Ġ'). */
static bool printable_byte(uint32_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

int fe_tok_byte_of_char(uint32_t cp) {
  if (cp < 0x100) return printable_byte(cp) ? (int)cp : -1;
  uint32_t n = 0;
  for (uint32_t b = 0; b < 256; b++) {
    if (printable_byte(b)) continue;
    if (cp == 0x100 + n) return (int)b;
    n++;
  }
  return -1;
}

/* The bytes a byte-level spelling stands for; false when a character
 * stands for none (the token cannot come out of byte-level BPE). */
static bool byte_level_bytes(const char *s, RtBytes *out) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int r = rt_utf8_next((const uint8_t *)s + i, n - i, &cp);
    int b = r > 0 ? fe_tok_byte_of_char(cp) : -1;
    if (b < 0) return false;
    rt_bytes_push(out, (uint8_t)b);
    i += (size_t)r;
  }
  return true;
}

/* ---- pieces: the decoder chain on one token ---------------------------------- */

static void replace_all(const uint8_t *s, size_t n, const char *from, const char *to,
                        RtBytes *out) {
  size_t flen = strlen(from), i = 0, done = 0;
  while (flen && i + flen <= n) {
    if (memcmp(s + i, from, flen) == 0) {
      rt_bytes_append(out, s + done, i - done);
      rt_bytes_append(out, to, strlen(to));
      done = i += flen;
    } else {
      i++;
    }
  }
  rt_bytes_append(out, s + done, n - done);
}

static int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

/* "<0xE4>" -> the byte 0xE4. */
static void byte_fallback(const uint8_t *s, size_t n, RtBytes *out) {
  if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hex_digit(s[3]) >= 0 &&
      hex_digit(s[4]) >= 0) {
    rt_bytes_push(out, (uint8_t)(hex_digit(s[3]) * 16 + hex_digit(s[4])));
    return;
  }
  rt_bytes_append(out, s, n);
}

/* Strip: up to `start` leading and `stop` trailing copies of ch. */
static void strip(const uint8_t *s, size_t n, const FeDecStep *st, RtBytes *out) {
  uint8_t c[4];
  size_t clen = (size_t)rt_utf8_encode(st->ch, c), lo = 0, hi = n;
  for (uint32_t k = 0; k < st->start && hi - lo >= clen && memcmp(s + lo, c, clen) == 0; k++)
    lo += clen;
  for (uint32_t k = 0; k < st->stop && hi - lo >= clen && memcmp(s + hi - clen, c, clen) == 0; k++)
    hi -= clen;
  rt_bytes_append(out, s + lo, hi - lo);
}

static void dec_step(const FeDecStep *st, bool added, const uint8_t *s, size_t n, RtBytes *out) {
  switch (st->kind) {
  case FE_DEC_BYTE_LEVEL: {
    /* Added tokens stay as they are; so does a spelling with a character
     * that stands for no byte. */
    char *z = malloc(n + 1);
    if (!z) abort();
    memcpy(z, s, n);
    z[n] = '\0';
    size_t before = out->len;
    if (added || !byte_level_bytes(z, out)) {
      out->len = before;
      rt_bytes_append(out, s, n);
    }
    free(z);
    break;
  }
  case FE_DEC_REPLACE:
  case FE_DEC_METASPACE: replace_all(s, n, st->from, st->to, out); break;
  case FE_DEC_BYTE_FALLBACK: byte_fallback(s, n, out); break;
  case FE_DEC_STRIP: strip(s, n, st, out); break;
  }
}

/* Appends what id's spelling `src` decodes to. */
static void piece_of(const FeTok *t, const char *src, bool added, RtBytes *out) {
  RtBytes buf[2] = {{0}, {0}};
  const uint8_t *cur = (const uint8_t *)src;
  size_t n = strlen(src);
  for (uint32_t k = 0; k < t->n_dec; k++) {
    RtBytes *dst = &buf[k % 2];
    dst->len = 0;
    dec_step(&t->dec[k], added, cur, n, dst);
    cur = dst->data;
    n = dst->len;
  }
  rt_bytes_append(out, cur, n);
  free(buf[0].data);
  free(buf[1].data);
}

/* ---- per id --------------------------------------------------------------- */

typedef struct {
  uint32_t n;          /* tokens */
  RtBytes tok, piece;  /* spellings and pieces */
  uint32_t *tok_offs, *piece_offs;
  uint8_t *flags;
  uint8_t *hashed;     /* goes into the vocabulary table */
  const FeTokAdded **added_of; /* the added token with this id, or NULL */
} Ids;

static void collect_ids(const FeTok *t, Ids *x, IrArena *arena) {
  x->n = t->n_vocab;
  for (uint32_t i = 0; i < t->n_added; i++)
    if (t->added[i].id + 1 > x->n) x->n = t->added[i].id + 1;
  if (x->n == 0) x->n = 1; /* an empty vocabulary still has id 0, unused */
  x->tok_offs = ir_arena_alloc(arena, ((size_t)x->n + 1) * 4);
  x->piece_offs = ir_arena_alloc(arena, ((size_t)x->n + 1) * 4);
  x->flags = ir_arena_alloc(arena, x->n);
  x->hashed = ir_arena_alloc(arena, x->n);
  x->added_of = ir_arena_alloc(arena, (size_t)x->n * sizeof *x->added_of);
  for (uint32_t i = 0; i < t->n_added; i++) { /* the last one wins, as in tokenizers */
    const FeTokAdded *a = &t->added[i];
    x->added_of[a->id] = a;
    x->flags[a->id] = RT_TOK_T_USED | RT_TOK_T_ADDED;
    if (a->flags & RT_TOK_A_SPECIAL) x->flags[a->id] |= RT_TOK_T_SPECIAL;
  }
  bool bytes = t->flags & RT_TOK_F_BYTE_LEVEL;
  for (uint32_t id = 0; id < x->n; id++) {
    const char *model = id < t->n_vocab ? t->vocab[id] : NULL;
    const FeTokAdded *a = x->added_of[id];
    x->tok_offs[id] = (uint32_t)x->tok.len;
    x->piece_offs[id] = (uint32_t)x->piece.len;
    if (model) {
      x->flags[id] |= RT_TOK_T_USED;
      /* A byte-level spelling with a character that stands for no byte
       * keeps its text and stays out of the table: BPE cannot make it. */
      x->hashed[id] = !bytes || byte_level_bytes(model, &x->tok);
      if (!bytes || !x->hashed[id]) {
        x->tok.len = x->tok_offs[id];
        rt_bytes_append(&x->tok, model, strlen(model));
      }
    } else if (a) {
      rt_bytes_append(&x->tok, a->content, strlen(a->content));
    }
    if (model || a) piece_of(t, a ? a->content : model, a != NULL, &x->piece);
  }
  x->tok_offs[x->n] = (uint32_t)x->tok.len;
  x->piece_offs[x->n] = (uint32_t)x->piece.len;
}

static uint32_t pow2_at_least(uint64_t n) {
  uint32_t p = 1;
  while (p < n && p < (1u << 31)) p *= 2;
  return p;
}

static uint32_t *vocab_table(const Ids *x, uint32_t *slots, IrArena *arena) {
  uint32_t count = 0;
  for (uint32_t id = 0; id < x->n; id++) count += x->hashed[id];
  *slots = pow2_at_least(2 * (uint64_t)count);
  uint32_t *table = ir_arena_alloc(arena, (size_t)*slots * 4), mask = *slots - 1;
  memset(table, 0xFF, (size_t)*slots * 4);
  for (uint32_t id = 0; id < x->n; id++) {
    if (!x->hashed[id]) continue;
    uint32_t off = x->tok_offs[id], len = x->tok_offs[id + 1] - off;
    uint32_t i = rt_tok_hash(x->tok.data + off, len) & mask;
    while (table[i] != RT_TOK_EMPTY) i = (i + 1) & mask;
    table[i] = id;
  }
  return table;
}

/* A pair listed twice keeps its last rank, as tokenizers' HashMap does. */
static RtTokMerge *merge_table(const FeTok *t, uint32_t *slots, IrArena *arena) {
  *slots = pow2_at_least(2 * (uint64_t)t->n_merges);
  RtTokMerge *table = ir_arena_alloc(arena, (size_t)*slots * sizeof *table);
  memset(table, 0xFF, (size_t)*slots * sizeof *table);
  uint32_t mask = *slots - 1;
  for (uint32_t k = 0; k < t->n_merges; k++) {
    const uint32_t *m = &t->merges[3 * k];
    uint32_t i = rt_tok_pair_hash(m[0], m[1]) & mask;
    while (table[i].left != RT_TOK_EMPTY && !(table[i].left == m[0] && table[i].right == m[1]))
      i = (i + 1) & mask;
    table[i] = (RtTokMerge){m[0], m[1], k, m[2]};
  }
  return table;
}

/* Byte-level: the token of each single byte. Byte fallback: <0xXX>. */
static void byte_ids(const FeTok *t, const Ids *x, const uint32_t *table, uint32_t slots,
                     uint32_t out[256]) {
  for (int b = 0; b < 256; b++) {
    int32_t id = -1;
    if (t->flags & RT_TOK_F_BYTE_LEVEL) {
      uint8_t c = (uint8_t)b;
      id = rt_tok_vocab_lookup(table, slots, x->tok_offs, x->tok.data, &c, 1);
    } else if (t->flags & RT_TOK_F_BYTE_FALLBACK) {
      char name[8];
      snprintf(name, sizeof name, "<0x%02X>", b);
      id = rt_tok_vocab_lookup(table, slots, x->tok_offs, x->tok.data, (const uint8_t *)name, 6);
    }
    out[b] = id < 0 ? RT_TOK_EMPTY : (uint32_t)id;
  }
}

/* ---- added tokens and their trie ---------------------------------------------- */

typedef struct {
  uint32_t *child, *sibling, *added; /* first child, next sibling: RT_TOK_EMPTY ends */
  uint8_t *byte;
  uint32_t n, cap;
} Trie;

static uint32_t trie_node(Trie *tr, uint8_t byte) {
  if (tr->n == tr->cap) {
    tr->cap = tr->cap ? 2 * tr->cap : 256;
    tr->child = realloc(tr->child, tr->cap * 4);
    tr->sibling = realloc(tr->sibling, tr->cap * 4);
    tr->added = realloc(tr->added, tr->cap * 4);
    tr->byte = realloc(tr->byte, tr->cap);
    if (!tr->child || !tr->sibling || !tr->added || !tr->byte) abort();
  }
  tr->child[tr->n] = tr->sibling[tr->n] = tr->added[tr->n] = RT_TOK_EMPTY;
  tr->byte[tr->n] = byte;
  return tr->n++;
}

static void trie_insert(Trie *tr, const char *s, uint32_t index) {
  uint32_t node = 0;
  for (const uint8_t *p = (const uint8_t *)s; *p; p++) {
    uint32_t c = tr->child[node];
    while (c != RT_TOK_EMPTY && tr->byte[c] != *p) c = tr->sibling[c];
    if (c == RT_TOK_EMPTY) {
      c = trie_node(tr, *p);
      tr->sibling[c] = tr->child[node];
      tr->child[node] = c;
    }
    node = c;
  }
  tr->added[node] = index;
}

static int cmp_byte(const void *a, const void *b, void *tr) {
  const uint8_t *bytes = ((Trie *)tr)->byte;
  return (int)bytes[*(const uint32_t *)a] - (int)bytes[*(const uint32_t *)b];
}

/* Breadth first, so children come after their parent and each node's
 * edges are contiguous, sorted by byte. */
static void trie_flatten(Trie *tr, RtTokTrieNode *nodes, RtTokTrieEdge *edges) {
  uint32_t *order = malloc((size_t)tr->n * 4), *kids = malloc((size_t)tr->n * 4);
  if (!order || !kids) abort();
  uint32_t n_order = 1, n_edges = 0;
  order[0] = 0;
  for (uint32_t i = 0; i < n_order; i++) {
    uint32_t old = order[i], n_kids = 0;
    for (uint32_t c = tr->child[old]; c != RT_TOK_EMPTY; c = tr->sibling[c]) kids[n_kids++] = c;
    qsort_r(kids, n_kids, 4, cmp_byte, tr);
    nodes[i] = (RtTokTrieNode){n_edges, n_kids, tr->added[old]};
    for (uint32_t k = 0; k < n_kids; k++) {
      edges[n_edges++] = (RtTokTrieEdge){n_order, tr->byte[kids[k]], {0}};
      order[n_order++] = kids[k];
    }
  }
  free(order);
  free(kids);
}

/* ---- the blob ------------------------------------------------------------------ */

typedef struct {
  const void *data;
  uint64_t bytes;
} Section;

static uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static uint8_t *assemble(RtTokHeader *h, const Section *secs, size_t *bytes) {
  uint64_t total = align8(sizeof *h);
  for (int s = 0; s < RT_TOK_SEC_COUNT; s++) {
    h->sections[s] = (RtTokSection){total, secs[s].bytes};
    total = align8(total + secs[s].bytes);
  }
  uint8_t *blob = calloc(1, total);
  if (!blob) return NULL;
  memcpy(blob, h, sizeof *h);
  for (int s = 0; s < RT_TOK_SEC_COUNT; s++)
    if (secs[s].bytes) memcpy(blob + h->sections[s].offset, secs[s].data, secs[s].bytes);
  *bytes = total;
  return blob;
}

/* The runtime's own checks on what was just written: a failure here is a
 * bug in this file, reported rather than shipped. */
static bool self_check(FeTok *t, uint8_t **blob, size_t bytes) {
  char err[256];
  RtTokenizer *rt = rt_tok_load(*blob, bytes, err, sizeof err);
  if (rt) {
    rt_tok_free(rt);
    return true;
  }
  free(*blob);
  *blob = NULL;
  return ir_error_at(t->j.d, t->j.file, "internal error: the packed tokenizer does not load: %s", err);
}

bool fe_tok_pack(FeTok *t, uint8_t **blob, size_t *bytes) {
  IrArena *arena = &t->arena;
  Ids x = {0};
  collect_ids(t, &x, arena);
  RtTokHeader h = {.version = RT_TOK_VERSION, .header_bytes = sizeof h, .n_tokens = x.n};
  memcpy(h.magic, RT_TOK_MAGIC, 8);
  h.flags = t->flags;
  h.unk_id = t->unk_id;
  h.n_merges = t->n_merges;
  h.n_norm_ops = t->n_norm_ops;
  h.n_pre_ops = t->n_pre_ops;
  h.n_prefix = t->n_prefix;
  h.n_suffix = t->n_suffix;
  h.decode_flags = t->decode_flags;
  h.decode_strip = t->decode_strip;
  h.decode_strip_char = t->decode_strip_char;
  uint32_t *vocab = vocab_table(&x, &h.vocab_slots, arena);
  RtTokMerge *merges = merge_table(t, &h.merge_slots, arena);
  uint32_t bytes_ids[256];
  byte_ids(t, &x, vocab, h.vocab_slots, bytes_ids);

  RtTokAdded *added = ir_arena_alloc(arena, (t->n_added + 1) * sizeof *added);
  Trie tr = {0};
  trie_node(&tr, 0);
  for (uint32_t i = 0; i < t->n_added; i++) {
    const FeTokAdded *a = &t->added[i];
    added[i] = (RtTokAdded){a->id, a->flags, 0, 0};
    fe_tok_add_string(t, a->content, &added[i].content, &added[i].content_len);
    if (!(a->flags & RT_TOK_A_NORMALIZED)) trie_insert(&tr, a->content, i);
  }
  h.n_added = t->n_added;
  h.n_trie_nodes = tr.n;
  h.n_trie_edges = tr.n - 1;
  RtTokTrieNode *nodes = ir_arena_alloc(arena, (size_t)tr.n * sizeof *nodes);
  RtTokTrieEdge *edges = ir_arena_alloc(arena, (size_t)tr.n * sizeof *edges);
  trie_flatten(&tr, nodes, edges);
  free(tr.child), free(tr.sibling), free(tr.added), free(tr.byte);

  Section secs[RT_TOK_SEC_COUNT] = {
      [RT_TOK_SEC_TOKEN_OFFS] = {x.tok_offs, 4 * ((uint64_t)x.n + 1)},
      [RT_TOK_SEC_TOKEN_BYTES] = {x.tok.data, x.tok.len},
      [RT_TOK_SEC_PIECE_OFFS] = {x.piece_offs, 4 * ((uint64_t)x.n + 1)},
      [RT_TOK_SEC_PIECE_BYTES] = {x.piece.data, x.piece.len},
      [RT_TOK_SEC_TOKEN_FLAGS] = {x.flags, x.n},
      [RT_TOK_SEC_VOCAB_HASH] = {vocab, 4 * (uint64_t)h.vocab_slots},
      [RT_TOK_SEC_MERGES] = {merges, sizeof *merges * (uint64_t)h.merge_slots},
      [RT_TOK_SEC_BYTE_IDS] = {bytes_ids, sizeof bytes_ids},
      [RT_TOK_SEC_ADDED] = {added, sizeof *added * (uint64_t)t->n_added},
      [RT_TOK_SEC_TRIE_NODES] = {nodes, sizeof *nodes * (uint64_t)tr.n},
      [RT_TOK_SEC_TRIE_EDGES] = {edges, sizeof *edges * ((uint64_t)tr.n - 1)},
      [RT_TOK_SEC_OPS] = {t->ops, sizeof(RtTokOp) * ((uint64_t)t->n_norm_ops + t->n_pre_ops)},
      [RT_TOK_SEC_STRINGS] = {t->strings.data, t->strings.len},
      [RT_TOK_SEC_SPECIAL] = {t->special, 4 * ((uint64_t)t->n_prefix + t->n_suffix)},
  };
  *blob = assemble(&h, secs, bytes);
  free(x.tok.data);
  free(x.piece.data);
  if (!*blob) return ir_error_at(t->j.d, t->j.file, "out of memory packing the tokenizer");
  return self_check(t, blob, *bytes);
}
