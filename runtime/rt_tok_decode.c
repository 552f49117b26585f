/* rt_tok_decode.c: ids back to text.
 *
 * Each id's piece (what the decoder chain makes of it: "▁Hello" ->
 * " Hello", "<0xE4>" -> byte 0xE4, "Ġthe" -> " the") was worked out when
 * the blob was packed. What is left here is what depends on the position
 * in the stream: the first token's rules, Strip at the start of the text,
 * and UTF-8: a character whose bytes come from several tokens is held
 * back until complete, and bytes that cannot form one become U+FFFD (as a
 * JavaScript TextDecoder would read them):
 *
 *   <0xE4> -> ""   <0xB8> -> ""   <0x80> -> "一"   "▁a" -> " a"
 *   <0xE4> -> ""   "▁a" -> "\uFFFD a"
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_tok_internal.h"

static bool decode_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool decode_error(char *err, size_t err_size, const char *fmt, ...) {
  if (!err || !err_size) return false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_size, fmt, ap);
  va_end(ap);
  return false;
}

void rt_tok_stream_init(RtTokStream *s, const RtTokenizer *t, bool skip_special) {
  memset(s, 0, sizeof *s);
  s->tok = t;
  s->skip_special = skip_special;
  s->strip_left = t->h.decode_strip;
}

void rt_tok_stream_free(RtTokStream *s) {
  free(s->out.data);
  memset(s, 0, sizeof *s);
}

/* One complete character (or U+FFFD) to the output, unless the decoder
 * still strips leading copies of its strip character. */
static void emit_char(RtTokStream *s, const uint8_t *bytes, size_t len, uint32_t cp) {
  if (s->strip_left) {
    if (cp == s->tok->h.decode_strip_char) {
      s->strip_left--;
      return;
    }
    s->strip_left = 0;
  }
  rt_bytes_append(&s->out, bytes, len);
}

static void emit_replacement(RtTokStream *s) {
  static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
  emit_char(s, fffd, 3, RT_REPLACEMENT_CHAR);
}

/* Feeds bytes through the UTF-8 assembler. */
static void emit_bytes(RtTokStream *s, const uint8_t *p, size_t n) {
  uint32_t cp;
  /* First complete the character held back, one byte at a time: it was a
   * well-formed prefix, so a failure can only be at the byte just added,
   * which then starts afresh below. */
  while (s->n_pending && n) {
    s->pending[s->n_pending++] = *p;
    int r = rt_utf8_next(s->pending, s->n_pending, &cp);
    if (r == 0) {
      p++, n--;
      continue;
    }
    if (r > 0) {
      emit_char(s, s->pending, (size_t)r, cp);
      p++, n--;
    } else {
      emit_replacement(s);
    }
    s->n_pending = 0;
  }
  for (size_t i = 0; i < n;) {
    int r = rt_utf8_next(p + i, n - i, &cp);
    if (r > 0) {
      emit_char(s, p + i, (size_t)r, cp);
      i += (size_t)r;
    } else if (r < 0) {
      emit_replacement(s);
      i += (size_t)-r;
    } else { /* the start of a character: wait for the rest */
      memcpy(s->pending, p + i, n - i);
      s->n_pending = n - i;
      break;
    }
  }
}

bool rt_tok_stream_push(RtTokStream *s, int32_t id, char *err, size_t err_size) {
  const RtTokenizer *t = s->tok;
  s->out.len = 0;
  if (id < 0 || (uint32_t)id >= t->h.n_tokens)
    return decode_error(err, err_size, "token id %d is outside the vocabulary (ids 0 to %u)", id,
                        t->h.n_tokens - 1);
  uint8_t flags = t->tok_flags[id];
  if (!(flags & RT_TOK_T_USED))
    return decode_error(err, err_size, "token id %d has no token in the vocabulary", id);
  if (s->skip_special && (flags & RT_TOK_T_SPECIAL)) return true;
  const uint8_t *piece = t->piece_bytes + t->piece_offs[id];
  size_t len = t->piece_offs[id + 1] - t->piece_offs[id];
  if ((t->h.decode_flags & RT_TOK_D_JOIN_SPACE) && s->started) emit_bytes(s, (const uint8_t *)" ", 1);
  if ((t->h.decode_flags & RT_TOK_D_FIRST_NO_SPACE) && !s->started && len && piece[0] == ' ')
    piece++, len--;
  s->started = true;
  emit_bytes(s, piece, len);
  return true;
}

void rt_tok_stream_finish(RtTokStream *s) {
  s->out.len = 0;
  if (s->n_pending) emit_replacement(s); /* a character cut short */
  s->n_pending = 0;
}

char *rt_tok_decode(const RtTokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                    size_t *len, char *err, size_t err_size) {
  RtTokStream s;
  rt_tok_stream_init(&s, t, skip_special);
  RtBytes text = {0};
  for (size_t i = 0; i < n; i++) {
    if (!rt_tok_stream_push(&s, ids[i], err, err_size)) {
      rt_tok_stream_free(&s);
      free(text.data);
      return NULL;
    }
    rt_bytes_append(&text, s.out.data, s.out.len);
  }
  rt_tok_stream_finish(&s);
  rt_bytes_append(&text, s.out.data, s.out.len);
  rt_bytes_push(&text, 0);
  rt_tok_stream_free(&s);
  *len = text.len - 1;
  return (char *)text.data;
}
