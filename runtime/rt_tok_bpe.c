/* rt_tok_bpe.c: byte-pair encoding of one word.
 *
 * The word starts as one symbol per character (per byte for byte-level
 * models). Then, while some neighbouring pair has a merge, the pair with
 * the lowest rank is merged, the leftmost among equal ranks:
 *
 *   "lower" with merges (l o) 0, (lo w) 1, (e r) 2:
 *   l o w e r -> lo w e r -> low e r -> low er
 *
 * Pairs wait in a binary heap keyed by (rank, position); a merge changes
 * only its two neighbouring pairs, which are pushed anew, and stale
 * entries are recognized when popped (the ids at the position differ).
 * So a word of n characters costs O(n log n), not O(n^2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_tok_internal.h"

static void oom(void) {
  fprintf(stderr, "kiln: out of memory\n");
  abort();
}

/* The merge of (left, right), or NULL. */
static const RtTokMerge *find_merge(const RtTokenizer *t, int32_t left, int32_t right) {
  uint32_t mask = t->h.merge_slots - 1;
  uint32_t i = rt_tok_pair_hash((uint32_t)left, (uint32_t)right) & mask;
  for (uint32_t probe = 0; probe < t->h.merge_slots; probe++, i = (i + 1) & mask) {
    const RtTokMerge *m = &t->merges[i];
    if (m->left == RT_TOK_EMPTY) return NULL;
    if (m->left == (uint32_t)left && m->right == (uint32_t)right) return m;
  }
  return NULL;
}

/* ---- the heap of candidate pairs ----------------------------------------- */

static bool before(const RtTokPair *a, const RtTokPair *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(RtTokBpe *w, RtTokPair p) {
  if (w->heap_n == w->heap_cap) {
    w->heap_cap = w->heap_cap ? 2 * w->heap_cap : 64;
    w->heap = realloc(w->heap, w->heap_cap * sizeof *w->heap);
    if (!w->heap) oom();
  }
  size_t i = w->heap_n++;
  while (i > 0 && before(&p, &w->heap[(i - 1) / 2])) {
    w->heap[i] = w->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  w->heap[i] = p;
}

static RtTokPair heap_pop(RtTokBpe *w) {
  RtTokPair top = w->heap[0], last = w->heap[--w->heap_n];
  size_t i = 0, n = w->heap_n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c])) c++;
    if (!before(&w->heap[c], &last)) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (n) w->heap[i] = last;
  return top;
}

/* Pushes the pair that starts at symbol k, if it has a merge. */
static void add_pair(const RtTokenizer *t, RtTokBpe *w, int32_t k) {
  if (k < 0) return;
  const RtTokSymbol *a = &w->sym[k];
  if (a->next < 0) return;
  const RtTokSymbol *b = &w->sym[a->next];
  if (a->id < 0 || b->id < 0) return;
  const RtTokMerge *m = find_merge(t, a->id, b->id);
  if (m) heap_push(w, (RtTokPair){m->rank, (uint32_t)k, a->id, b->id});
}

/* ---- the word ----------------------------------------------------------- */

/* One symbol per character (byte); unknown characters get id -1. */
static size_t initial_symbols(const RtTokenizer *t, const uint8_t *word, size_t n, RtTokBpe *w) {
  if (w->sym_cap < n) {
    w->sym = realloc(w->sym, n * sizeof *w->sym);
    if (!w->sym) oom();
    w->sym_cap = n;
  }
  bool bytes = t->h.flags & RT_TOK_F_BYTE_LEVEL;
  size_t count = 0;
  for (size_t i = 0; i < n;) {
    size_t len = 1;
    int32_t id;
    if (bytes) {
      id = t->byte_ids[word[i]] == RT_TOK_EMPTY ? -1 : (int32_t)t->byte_ids[word[i]];
    } else {
      uint32_t cp;
      int r = rt_utf8_next(word + i, n - i, &cp);
      len = r > 0 ? (size_t)r : 1; /* words are well-formed; stay safe anyway */
      if (len > n - i) len = n - i;
      id = rt_tok_vocab_lookup(t->vocab_hash, t->h.vocab_slots, t->tok_offs, t->tok_bytes,
                               word + i, len);
    }
    w->sym[count] = (RtTokSymbol){id, (int32_t)count - 1, (int32_t)count + 1, (uint32_t)i,
                                  (uint32_t)len};
    count++;
    i += len;
  }
  w->sym[count - 1].next = -1;
  return count;
}

static void merge_all(const RtTokenizer *t, RtTokBpe *w, size_t count) {
  w->heap_n = 0;
  for (size_t k = 0; k + 1 < count; k++) add_pair(t, w, (int32_t)k);
  while (w->heap_n) {
    RtTokPair p = heap_pop(w);
    RtTokSymbol *a = &w->sym[p.pos];
    if (a->len == 0 || a->id != p.left || a->next < 0) continue; /* stale */
    RtTokSymbol *b = &w->sym[a->next];
    if (b->id != p.right) continue;
    const RtTokMerge *m = find_merge(t, p.left, p.right); /* found when pushed */
    if (!m) continue;
    a->id = (int32_t)m->result;
    a->len += b->len;
    a->next = b->next;
    if (b->next >= 0) w->sym[b->next].prev = (int32_t)p.pos;
    b->len = 0;
    add_pair(t, w, a->prev);
    add_pair(t, w, (int32_t)p.pos);
  }
}

/* An unknown character: its <0xXX> byte tokens when the model has them
 * all, else unk (once for a run with fuse_unk), else nothing. */
static void emit_unknown(const RtTokenizer *t, const uint8_t *bytes, size_t len, bool *last_unk,
                         RtTokIds *out) {
  if (t->h.flags & RT_TOK_F_BYTE_FALLBACK) {
    bool all = true;
    for (size_t i = 0; i < len; i++) all = all && t->byte_ids[bytes[i]] != RT_TOK_EMPTY;
    if (all) {
      for (size_t i = 0; i < len; i++) rt_tok_ids_push(out, (int32_t)t->byte_ids[bytes[i]]);
      *last_unk = false;
      return;
    }
  }
  if (t->h.unk_id == RT_TOK_EMPTY) return;
  if (!(*last_unk && (t->h.flags & RT_TOK_F_FUSE_UNK))) rt_tok_ids_push(out, (int32_t)t->h.unk_id);
  *last_unk = true;
}

/* Symbols are indexed by int32_t and offsets are 32-bit: longer words
 * (a gigabyte without a break, when there is no pre-tokenizer) are cut
 * at a character boundary and encoded part by part. */
#define MAX_WORD (1u << 30)

void rt_tok_bpe(const RtTokenizer *t, const uint8_t *word, size_t n, RtTokBpe *w,
                RtTokIds *out) {
  if (n == 0) return;
  if (n > MAX_WORD) {
    size_t cut = MAX_WORD;
    while (cut > 1 && (word[cut] & 0xC0) == 0x80) cut--;
    rt_tok_bpe(t, word, cut, w, out);
    rt_tok_bpe(t, word + cut, n - cut, w, out);
    return;
  }
  if (t->h.flags & RT_TOK_F_IGNORE_MERGES) {
    int32_t id = rt_tok_vocab_lookup(t->vocab_hash, t->h.vocab_slots, t->tok_offs, t->tok_bytes,
                                     word, n);
    if (id >= 0) {
      rt_tok_ids_push(out, id);
      return;
    }
  }
  size_t count = initial_symbols(t, word, n, w);
  merge_all(t, w, count);
  bool last_unk = false;
  for (int32_t k = 0; k >= 0; k = w->sym[k].next) {
    const RtTokSymbol *s = &w->sym[k];
    if (s->id >= 0) {
      rt_tok_ids_push(out, s->id);
      last_unk = false;
    } else {
      emit_unknown(t, word + s->off, s->len, &last_unk, out);
    }
  }
}

void rt_tok_bpe_free(RtTokBpe *w) {
  free(w->sym);
  free(w->heap);
  memset(w, 0, sizeof *w);
}
