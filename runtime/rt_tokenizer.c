/* rt_tokenizer.c: encoding. The order is that of Hugging Face tokenizers:
 *
 *   1. added tokens are found in the raw text first and never split
 *      ("a<|eot_id|>b" -> "a", <|eot_id|>, "b");
 *   2. each text between them is normalized (Prepend, Replace, NFC),
 *      then searched again for added tokens that match normalized text;
 *   3. the pre-tokenizer cuts it into words (rt_tok_split.c);
 *   4. BPE turns each word into ids (rt_tok_bpe.c);
 *   5. the post-processor adds BOS/EOS when asked.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_tok_internal.h"

/* Working memory of one encode call. */
typedef struct {
  RtBytes norm; /* a normalized section */
  RtTokPre pre;
  RtTokBpe bpe;
} Enc;

/* ---- normalizer --------------------------------------------------------- */

/* Appends s with every non-overlapping occurrence of `from` (from the
 * left) replaced by `to`. */
static void replace_all(const uint8_t *s, size_t n, const uint8_t *from, size_t from_len,
                        const uint8_t *to, size_t to_len, RtBytes *out) {
  size_t i = 0, done = 0;
  while (i + from_len <= n) {
    if (s[i] == from[0] && memcmp(s + i, from, from_len) == 0) {
      rt_bytes_append(out, s + done, i - done);
      rt_bytes_append(out, to, to_len);
      i += from_len;
      done = i;
    } else {
      i++;
    }
  }
  rt_bytes_append(out, s + done, n - done);
}

static void normalize_step(const RtTokenizer *t, const RtTokOp *op, const uint8_t *s, size_t n,
                           RtBytes *out) {
  switch (op->kind) {
  case RT_TOK_NORM_PREPEND:
    if (n) rt_bytes_append(out, rt_tok_string(t, op->a), op->b);
    rt_bytes_append(out, s, n);
    break;
  case RT_TOK_NORM_REPLACE:
    replace_all(s, n, rt_tok_string(t, op->a), op->b, rt_tok_string(t, op->c), op->d, out);
    break;
  case RT_TOK_NORM_NFC: rt_nfc(s, n, out); break;
  default: rt_bytes_append(out, s, n); /* rt_tok_load admits no other kind */
  }
}

void rt_tok_normalize(const RtTokenizer *t, const uint8_t *s, size_t n, RtBytes *out) {
  RtBytes a = {0}, b = {0};
  const uint8_t *cur = s;
  size_t cur_len = n;
  for (uint32_t k = 0; k < t->h.n_norm_ops; k++) {
    RtBytes *dst = k % 2 ? &b : &a;
    dst->len = 0;
    normalize_step(t, &t->ops[k], cur, cur_len, dst);
    cur = dst->data;
    cur_len = dst->len;
  }
  rt_bytes_append(out, cur, cur_len);
  free(a.data);
  free(b.data);
}

/* ---- added tokens ------------------------------------------------------- */

static bool is_space_at(const uint8_t *s, size_t n, size_t i, size_t *len) {
  uint32_t cp;
  int r = rt_utf8_next(s + i, n - i, &cp);
  if (r <= 0 || rt_uclass(cp) != RT_UC_SPACE) return false;
  *len = (size_t)r;
  return true;
}

/* The end of s[start..end) without its trailing white space. */
static size_t trim_end(const uint8_t *s, size_t start, size_t end) {
  while (end > start) {
    size_t k = end - 1, len;
    while (k > start && (s[k] & 0xC0) == 0x80) k--; /* back to the lead byte */
    if (!is_space_at(s, end, k, &len)) break;
    end = k;
  }
  return end;
}

/* The start of s[start..end) without its leading white space. */
static size_t trim_start(const uint8_t *s, size_t start, size_t end) {
  size_t len;
  while (start < end && is_space_at(s, end, start, &len)) start += len;
  return start;
}

/* A letter, number or '_' at the end of s[0..i) / the start of s[i..n):
 * what single_word tokens may not touch. */
static bool word_char_at(const uint8_t *s, size_t n, size_t i) {
  uint32_t cp;
  int r = rt_utf8_next(s + i, n - i, &cp);
  if (r <= 0) return false;
  RtUClass c = rt_uclass(cp);
  return rt_uclass_is_letter(c) || c == RT_UC_N || c == RT_UC_M || cp == '_';
}

static bool word_char_before(const uint8_t *s, size_t i) {
  if (i == 0) return false;
  size_t k = i - 1;
  while (k > 0 && (s[k] & 0xC0) == 0x80) k--;
  return word_char_at(s, i, k);
}

static bool single_word_ok(const RtTokAdded *a, const uint8_t *s, size_t n, size_t start,
                           size_t end) {
  if (!(a->flags & RT_TOK_A_SINGLE_WORD)) return true;
  return !word_char_before(s, start) && !(end < n && word_char_at(s, n, end));
}

/* The longest added token (in the trie) that starts at s[i]: true with
 * its index and end. */
static bool match_trie(const RtTokenizer *t, const uint8_t *s, size_t n, size_t i,
                       uint32_t *added, size_t *end) {
  bool found = false;
  uint32_t node = 0;
  for (size_t j = i; j < n; j++) {
    const RtTokTrieNode *nd = &t->nodes[node];
    const RtTokTrieEdge *e = t->edges + nd->first_edge;
    size_t lo = 0, hi = nd->n_edges;
    while (lo < hi) { /* the edge for s[j] */
      size_t mid = lo + (hi - lo) / 2;
      if (e[mid].byte < s[j]) lo = mid + 1;
      else hi = mid;
    }
    if (lo == nd->n_edges || e[lo].byte != s[j]) break;
    node = e[lo].child;
    if (t->nodes[node].added != RT_TOK_EMPTY) {
      *added = t->nodes[node].added;
      *end = j + 1;
      found = true;
    }
  }
  return found && single_word_ok(&t->added[*added], s, n, i, *end);
}

/* The longest normalized added token that starts at s[i]. */
static bool match_normalized(const RtTokenizer *t, const uint8_t *s, size_t n, size_t i,
                             uint32_t *added, size_t *end) {
  size_t best = 0;
  for (size_t k = 0; k < t->n_norm_added; k++) {
    const RtTokNormAdded *a = &t->norm_added[k];
    if (a->len > best && a->len <= n - i && memcmp(s + i, a->text, a->len) == 0 &&
        single_word_ok(&t->added[a->added], s, n, i, i + a->len)) {
      best = a->len;
      *added = a->added;
    }
  }
  *end = i + best;
  return best > 0;
}

typedef bool (*MatchFn)(const RtTokenizer *t, const uint8_t *s, size_t n, size_t i,
                        uint32_t *added, size_t *end);
/* Encodes a text without added tokens in it; `first`: it starts the input. */
typedef void (*TextFn)(const RtTokenizer *t, const uint8_t *s, size_t n, bool first, Enc *e,
                       RtTokIds *out);

/* Cuts s at the added tokens `match` finds, leftmost-longest: the texts in
 * between go to `text`, the tokens' ids to out. lstrip/rstrip tokens eat
 * the white space next to them. */
static void split_added(const RtTokenizer *t, const uint8_t *s, size_t n, bool first,
                        MatchFn match, TextFn text, Enc *e, RtTokIds *out) {
  size_t start = 0;   /* of the text not yet encoded */
  bool rstrip = false; /* the last token eats white space after it */
  for (size_t i = 0; i < n;) {
    uint32_t a;
    size_t end;
    if (!match(t, s, n, i, &a, &end)) {
      i++;
      continue;
    }
    const RtTokAdded *tok = &t->added[a];
    size_t ts = rstrip ? trim_start(s, start, i) : start;
    size_t te = tok->flags & RT_TOK_A_LSTRIP ? trim_end(s, ts, i) : i;
    if (te > ts) text(t, s + ts, te - ts, first && ts == 0, e, out);
    rt_tok_ids_push(out, (int32_t)tok->id);
    rstrip = tok->flags & RT_TOK_A_RSTRIP;
    start = i = end;
  }
  size_t ts = rstrip ? trim_start(s, start, n) : start;
  if (n > ts) text(t, s + ts, n - ts, first && ts == 0, e, out);
}

/* ---- words -------------------------------------------------------------- */

/* Normalized text without added tokens: pre-tokenize, then BPE. */
static void encode_words(const RtTokenizer *t, const uint8_t *s, size_t n, bool first, Enc *e,
                         RtTokIds *out) {
  if (t->h.n_pre_ops == 0) {
    rt_tok_bpe(t, s, n, &e->bpe, out);
    return;
  }
  rt_tok_pretokenize(t, s, n, first, &e->pre);
  for (size_t k = 0; k < e->pre.cur.n; k++) {
    RtTokSpan sp = e->pre.cur.span[k];
    rt_tok_bpe(t, e->pre.text.data + sp.off, sp.len, &e->bpe, out);
  }
}

/* Raw text between added tokens: normalize, find normalized added tokens. */
static void encode_section(const RtTokenizer *t, const uint8_t *s, size_t n, bool first, Enc *e,
                           RtTokIds *out) {
  if (t->h.n_norm_ops) {
    e->norm.len = 0;
    rt_tok_normalize(t, s, n, &e->norm);
    /* e->norm is not touched again before the words are done with it */
    s = e->norm.data;
    n = e->norm.len;
  }
  if (n == 0) return;
  if (t->n_norm_added)
    split_added(t, s, n, first, match_normalized, encode_words, e, out);
  else
    encode_words(t, s, n, first, e, out);
}

void rt_tok_encode(const RtTokenizer *t, const char *text, size_t len, bool add_special,
                   RtTokIds *out) {
  const uint8_t *s = (const uint8_t *)text;
  RtBytes clean = {0};
  if (!rt_utf8_valid(s, len)) { /* each ill-formed subsequence reads as U+FFFD */
    rt_utf8_sanitize(s, len, &clean);
    s = clean.data;
    len = clean.len;
  }
  if (add_special)
    for (uint32_t i = 0; i < t->h.n_prefix; i++) rt_tok_ids_push(out, (int32_t)t->special[i]);
  Enc e = {0};
  split_added(t, s, len, true, match_trie, encode_section, &e, out);
  if (add_special)
    for (uint32_t i = 0; i < t->h.n_suffix; i++)
      rt_tok_ids_push(out, (int32_t)t->special[t->h.n_prefix + i]);
  free(e.norm.data);
  rt_tok_pre_free(&e.pre);
  rt_tok_bpe_free(&e.bpe);
  free(clean.data);
}
