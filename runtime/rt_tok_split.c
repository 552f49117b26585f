/* rt_tok_split.c: the pre-tokenizer. Each step maps the list of pieces to
 * a new list: Split (by one of the known patterns or by a string),
 * ByteLevel (a prefix space, the GPT-2 split; its byte-to-character map
 * is not applied, since a byte-level blob spells tokens in raw bytes) and
 * Metaspace (' ' -> '▁', split before each '▁').
 *
 * The patterns are the regular expressions the tokenizers' files give,
 * written out by hand as the backtracking matcher (Oniguruma, or
 * JavaScript's RegExp with the u flag) runs them: the first alternative
 * that matches wins, quantifiers are greedy and give back characters when
 * what follows fails. \s is White_Space.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_tok_internal.h"

/* ---- the patterns ------------------------------------------------------- */

typedef struct {
  const uint32_t *cp;
  const uint8_t *cls;
  size_t n;
} Text;

static bool is_letter(const Text *x, size_t i) { return i < x->n && rt_uclass_is_letter(x->cls[i]); }
static bool is_number(const Text *x, size_t i) { return i < x->n && x->cls[i] == RT_UC_N; }
static bool is_space(const Text *x, size_t i) { return i < x->n && x->cls[i] == RT_UC_SPACE; }
static bool is_crlf(const Text *x, size_t i) {
  return i < x->n && (x->cp[i] == '\r' || x->cp[i] == '\n');
}
/* [^\s\p{L}\p{N}]: punctuation, symbols, marks, ... */
static bool is_other(const Text *x, size_t i) {
  return i < x->n && !is_space(x, i) && !is_letter(x, i) && !is_number(x, i);
}
/* [^\r\n\p{L}\p{N}] */
static bool is_prefix(const Text *x, size_t i) {
  return i < x->n && !is_crlf(x, i) && !is_letter(x, i) && !is_number(x, i);
}
/* GPT-4o's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}]. */
static bool is_upperish(const Text *x, size_t i) {
  if (i >= x->n) return false;
  uint8_t c = x->cls[i];
  return c == RT_UC_LU || c == RT_UC_LT || c == RT_UC_LM || c == RT_UC_LO || c == RT_UC_M;
}
static bool is_lowerish(const Text *x, size_t i) {
  if (i >= x->n) return false;
  uint8_t c = x->cls[i];
  return c == RT_UC_LL || c == RT_UC_LM || c == RT_UC_LO || c == RT_UC_M;
}
static bool is_crlf_slash(const Text *x, size_t i) {
  return is_crlf(x, i) || (i < x->n && x->cp[i] == '/');
}

/* The end of the run of characters from i that pass `is`. */
static size_t run(const Text *x, size_t i, bool (*is)(const Text *, size_t)) {
  while (is(x, i)) i++;
  return i;
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d at i (ASCII case-insensitive with `nocase`, as
 * (?i:...)): the end, or i. */
static size_t contraction(const Text *x, size_t i, bool nocase) {
  if (i + 1 >= x->n || x->cp[i] != '\'') return i;
  uint32_t a = nocase ? ascii_lower(x->cp[i + 1]) : x->cp[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if (i + 2 >= x->n) return i;
  uint32_t b = nocase ? ascii_lower(x->cp[i + 2]) : x->cp[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return i;
}

/* The three white-space alternatives the patterns end with:
 *   \s*[\r\n]+    (with_newline: not in GPT-2's) white space up to the
 *                 last line break of the run, that break included;
 *   \s+(?!\S)     the run but its last character, when a non-space
 *                 follows (that character then leads the next word);
 *   \s+           else the run. */
static size_t spaces(const Text *x, size_t i, bool with_newline) {
  size_t end = run(x, i, is_space);
  if (end == i) return i;
  if (with_newline)
    for (size_t k = end; k > i; k--)
      if (is_crlf(x, k - 1)) return k;
  if (end == x->n || end - 1 == i) return end;
  return end - 1;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const Text *x, size_t i) {
  size_t k = contraction(x, i, false);
  if (k > i) return k;
  size_t s = x->cp[i] == ' ' ? i + 1 : i; /* " ?": a space never is L, N or other */
  if (is_letter(x, s)) return run(x, s, is_letter);
  if (is_number(x, s)) return run(x, s, is_number);
  if (is_other(x, s)) return run(x, s, is_other);
  return spaces(x, i, false);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Llama 3 (max_digits 3) and Qwen 2 (1). */
static size_t match_llama3(const Text *x, size_t i, size_t max_digits) {
  size_t k = contraction(x, i, true);
  if (k > i) return k;
  if (is_prefix(x, i) && is_letter(x, i + 1)) return run(x, i + 1, is_letter);
  if (is_letter(x, i)) return run(x, i, is_letter);
  if (is_number(x, i)) {
    size_t e = i;
    while (e - i < max_digits && is_number(x, e)) e++;
    return e;
  }
  size_t s = x->cp[i] == ' ' && is_other(x, i + 1) ? i + 1 : i;
  if (is_other(x, s)) return run(x, run(x, s, is_other), is_crlf);
  return spaces(x, i, true);
}

/* [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ from s: the
 * first class gives back characters until the second can match; the end,
 * or s. */
static size_t lower_word(const Text *x, size_t s) {
  size_t u = run(x, s, is_upperish);
  for (size_t k = u + 1; k-- > s;)
    if (is_lowerish(x, k)) return run(x, k, is_lowerish);
  return s;
}

/* [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]* from s. */
static size_t upper_word(const Text *x, size_t s) {
  if (!is_upperish(x, s)) return s;
  return run(x, run(x, s, is_upperish), is_lowerish);
}

/* A word alternative of GPT-4o, with its optional prefix character and
 * contraction suffix: the end, or i. */
static size_t gpt4o_word(const Text *x, size_t i, size_t (*word)(const Text *, size_t)) {
  size_t e;
  if (is_prefix(x, i) && (e = word(x, i + 1)) > i + 1) return contraction(x, e, true);
  if ((e = word(x, i)) > i) return contraction(x, e, true);
  return i;
}

/* [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)?|
 * [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?|
 * \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_gpt4o(const Text *x, size_t i) {
  size_t e = gpt4o_word(x, i, lower_word);
  if (e > i) return e;
  if ((e = gpt4o_word(x, i, upper_word)) > i) return e;
  if (is_number(x, i)) {
    e = i;
    while (e - i < 3 && is_number(x, e)) e++;
    return e;
  }
  size_t s = x->cp[i] == ' ' && is_other(x, i + 1) ? i + 1 : i;
  if (is_other(x, s)) return run(x, run(x, s, is_other), is_crlf_slash);
  return spaces(x, i, true);
}

size_t rt_tok_pattern_match(int pattern, const uint32_t *cp, const uint8_t *cls, size_t n,
                            size_t i) {
  Text x = {cp, cls, n};
  if (i >= n) return i;
  switch (pattern) {
  case RT_TOK_PAT_GPT2: return match_gpt2(&x, i);
  case RT_TOK_PAT_LLAMA3: return match_llama3(&x, i, 3);
  case RT_TOK_PAT_QWEN2: return match_llama3(&x, i, 1);
  case RT_TOK_PAT_GPT4O: return match_gpt4o(&x, i);
  default: return i;
  }
}

/* ---- pieces ------------------------------------------------------------- */

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return p;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  p = realloc(p, c * elem);
  if (!p) {
    fprintf(stderr, "kiln: out of memory\n");
    abort();
  }
  *cap = c;
  return p;
}

static void spans_push(RtTokSpans *s, size_t off, size_t len) {
  s->span = grow(s->span, &s->cap, s->n + 1, sizeof *s->span);
  s->span[s->n++] = (RtTokSpan){off, len};
}

/* Segments of a split: consecutive (offset, length) covering a piece,
 * each a delimiter or not. */
static void seg_push(RtTokPre *w, size_t off, size_t len, bool delim) {
  if (len == 0) return;
  if (w->seg.n == w->seg_cap) {
    size_t cap = w->seg_cap ? 2 * w->seg_cap : 16;
    w->seg.span = realloc(w->seg.span, cap * sizeof *w->seg.span);
    w->seg_delim = realloc(w->seg_delim, cap);
    if (!w->seg.span || !w->seg_delim) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    w->seg_cap = cap;
  }
  w->seg.span[w->seg.n] = (RtTokSpan){off, len};
  w->seg_delim[w->seg.n++] = delim;
}

/* Turns the segments into pieces of w->next as `behavior` says (the
 * rules of tokenizers' SplitDelimiterBehavior). */
static void apply_behavior(RtTokPre *w, int behavior) {
  size_t first = w->next.n; /* pieces of this split start here */
  RtTokSpan *seg = w->seg.span;
  const uint8_t *delim = w->seg_delim;
  bool prev_delim = false;
  size_t pending = 0; /* MergedWithNext: a delimiter waiting for the next segment */
  bool have_pending = false;
  for (size_t k = 0; k < w->seg.n; k++) {
    bool d = delim[k];
    RtTokSpan *last = w->next.n > first ? &w->next.span[w->next.n - 1] : NULL;
    switch (behavior) {
    case RT_TOK_SPLIT_REMOVED:
      if (!d) spans_push(&w->next, seg[k].off, seg[k].len);
      break;
    case RT_TOK_SPLIT_MERGED_WITH_PREVIOUS:
      if (d && !prev_delim && last) last->len = seg[k].off + seg[k].len - last->off;
      else spans_push(&w->next, seg[k].off, seg[k].len);
      break;
    case RT_TOK_SPLIT_MERGED_WITH_NEXT:
      if (d && k + 1 < w->seg.n && !delim[k + 1]) {
        pending = seg[k].off;
        have_pending = true;
      } else if (have_pending) {
        spans_push(&w->next, pending, seg[k].off + seg[k].len - pending);
        have_pending = false;
      } else {
        spans_push(&w->next, seg[k].off, seg[k].len);
      }
      break;
    case RT_TOK_SPLIT_CONTIGUOUS:
      if (d == prev_delim && last) last->len = seg[k].off + seg[k].len - last->off;
      else spans_push(&w->next, seg[k].off, seg[k].len);
      break;
    default: /* RT_TOK_SPLIT_ISOLATED */
      spans_push(&w->next, seg[k].off, seg[k].len);
    }
    prev_delim = d;
  }
}

/* Decodes the piece at text[off..off+len) into w->cp, w->cls, w->boff;
 * returns the number of code points. The text is well-formed UTF-8. */
static size_t decode_piece(RtTokPre *w, size_t off, size_t len) {
  if (w->cp_cap < len + 1) {
    size_t cap = 2 * w->cp_cap > len + 1 ? 2 * w->cp_cap : len + 1;
    w->cp = realloc(w->cp, cap * sizeof *w->cp);
    w->cls = realloc(w->cls, cap);
    w->boff = realloc(w->boff, cap * sizeof *w->boff);
    if (!w->cp || !w->cls || !w->boff) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
    w->cp_cap = cap;
  }
  const uint8_t *s = w->text.data + off;
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    int r = rt_utf8_next(s + i, len - i, &cp);
    if (r <= 0) { /* cannot happen for sanitized text; stay safe */
      cp = RT_REPLACEMENT_CHAR;
      r = r < 0 ? -r : (int)(len - i);
    }
    w->cp[n] = cp;
    w->cls[n] = (uint8_t)rt_uclass(cp);
    w->boff[n++] = i;
    i += (size_t)r;
  }
  w->boff[n] = len;
  return n;
}

/* Split by a pattern: matches are delimiters (or, inverted, the gaps). */
static void split_pattern(RtTokPre *w, RtTokSpan sp, int pattern, int behavior, bool invert) {
  size_t n = decode_piece(w, sp.off, sp.len);
  w->seg.n = 0;
  size_t gap = 0;
  for (size_t i = 0; i < n;) {
    size_t e = rt_tok_pattern_match(pattern, w->cp, w->cls, n, i);
    if (e == i) {
      i++;
      continue;
    }
    seg_push(w, sp.off + w->boff[gap], w->boff[i] - w->boff[gap], invert);
    seg_push(w, sp.off + w->boff[i], w->boff[e] - w->boff[i], !invert);
    gap = i = e;
  }
  seg_push(w, sp.off + w->boff[gap], w->boff[n] - w->boff[gap], invert);
  apply_behavior(w, behavior);
}

/* Split at each occurrence of a string (from the left, not overlapping). */
static void split_string(RtTokPre *w, RtTokSpan sp, const uint8_t *delim, size_t dlen,
                         int behavior, bool invert) {
  const uint8_t *s = w->text.data + sp.off;
  w->seg.n = 0;
  size_t gap = 0;
  for (size_t i = 0; i + dlen <= sp.len;) {
    if (memcmp(s + i, delim, dlen) != 0) {
      i++;
      continue;
    }
    seg_push(w, sp.off + gap, i - gap, invert);
    seg_push(w, sp.off + i, dlen, !invert);
    gap = i += dlen;
  }
  seg_push(w, sp.off + gap, sp.len - gap, invert);
  apply_behavior(w, behavior);
}

/* Appends text[sp] to the text after `prefix`; returns the new span. */
static RtTokSpan with_prefix(RtTokPre *w, RtTokSpan sp, const uint8_t *prefix, size_t plen) {
  rt_bytes_reserve(&w->text, plen + sp.len); /* so text.data stays put below */
  size_t off = w->text.len;
  rt_bytes_append(&w->text, prefix, plen);
  rt_bytes_append(&w->text, w->text.data + sp.off, sp.len);
  return (RtTokSpan){off, plen + sp.len};
}

static void byte_level(RtTokPre *w, RtTokSpan sp, const RtTokOp *op) {
  if (op->a && (sp.len == 0 || w->text.data[sp.off] != ' '))
    sp = with_prefix(w, sp, (const uint8_t *)" ", 1);
  if (op->b) split_pattern(w, sp, RT_TOK_PAT_GPT2, RT_TOK_SPLIT_ISOLATED, false);
  else spans_push(&w->next, sp.off, sp.len);
}

/* ' ' becomes the replacement; it is prepended when the scheme says so;
 * with split, each piece starts at a replacement. */
static void metaspace(const RtTokenizer *t, RtTokPre *w, RtTokSpan sp, const RtTokOp *op,
                      bool first) {
  const uint8_t *rep = rt_tok_string(t, op->a);
  size_t rlen = op->b;
  rt_bytes_reserve(&w->text, rlen * (sp.len + 1));
  size_t off = w->text.len;
  const uint8_t *s = w->text.data + sp.off;
  bool starts = sp.len >= 1 && (s[0] == ' ' || (sp.len >= rlen && memcmp(s, rep, rlen) == 0));
  bool prepend = op->c == RT_TOK_PREPEND_ALWAYS || (op->c == RT_TOK_PREPEND_FIRST && first);
  if (prepend && !starts) rt_bytes_append(&w->text, rep, rlen);
  for (size_t i = 0; i < sp.len; i++) {
    if (s[i] == ' ') rt_bytes_append(&w->text, rep, rlen);
    else rt_bytes_push(&w->text, s[i]);
  }
  RtTokSpan out = {off, w->text.len - off};
  if (op->d) split_string(w, out, rep, rlen, RT_TOK_SPLIT_MERGED_WITH_NEXT, false);
  else spans_push(&w->next, out.off, out.len);
}

static void pre_step(const RtTokenizer *t, RtTokPre *w, RtTokSpan sp, const RtTokOp *op,
                     bool first) {
  switch (op->kind) {
  case RT_TOK_PRE_SPLIT: split_pattern(w, sp, (int)op->a, (int)op->b, op->c); break;
  case RT_TOK_PRE_SPLIT_STRING:
    split_string(w, sp, rt_tok_string(t, op->a), op->b, (int)op->c, op->d);
    break;
  case RT_TOK_PRE_BYTE_LEVEL: byte_level(w, sp, op); break;
  case RT_TOK_PRE_METASPACE: metaspace(t, w, sp, op, first); break;
  default: spans_push(&w->next, sp.off, sp.len); /* rt_tok_load admits no other kind */
  }
}

void rt_tok_pretokenize(const RtTokenizer *t, const uint8_t *s, size_t n, bool first,
                        RtTokPre *w) {
  w->text.len = 0;
  w->cur.n = 0;
  rt_bytes_append(&w->text, s, n);
  spans_push(&w->cur, 0, n);
  const RtTokOp *ops = t->ops + t->h.n_norm_ops;
  for (uint32_t k = 0; k < t->h.n_pre_ops; k++) {
    w->next.n = 0;
    for (size_t p = 0; p < w->cur.n; p++) pre_step(t, w, w->cur.span[p], &ops[k], first);
    RtTokSpans tmp = w->cur;
    w->cur = w->next;
    w->next = tmp;
  }
}

void rt_tok_pre_free(RtTokPre *w) {
  free(w->text.data);
  free(w->cur.span);
  free(w->next.span);
  free(w->cp);
  free(w->cls);
  free(w->boff);
  free(w->seg.span);
  free(w->seg_delim);
  memset(w, 0, sizeof *w);
}
