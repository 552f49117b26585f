/* rt_unicode.c: UTF-8, character classes and NFC for the tokenizer. */
#include "rt_unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_unicode_data.inc"

/* ---- growable bytes ---------------------------------------------------- */

void rt_bytes_reserve(RtBytes *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra) cap *= 2;
  uint8_t *data = realloc(b->data, cap);
  if (!data) {
    fprintf(stderr, "kiln: out of memory\n");
    abort();
  }
  b->data = data;
  b->cap = cap;
}

void rt_bytes_append(RtBytes *b, const void *p, size_t n) {
  if (n == 0) return;
  rt_bytes_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void rt_bytes_push(RtBytes *b, uint8_t byte) { rt_bytes_append(b, &byte, 1); }

/* ---- UTF-8 ------------------------------------------------------------- */

/* The range the second byte of a sequence led by `lead` must fall in
 * (Table 3-7 of the Unicode standard); later bytes are 0x80..0xBF. */
static void second_byte_range(uint8_t lead, uint8_t *lo, uint8_t *hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead == 0xE0) *lo = 0xA0;
  else if (lead == 0xED) *hi = 0x9F;
  else if (lead == 0xF0) *lo = 0x90;
  else if (lead == 0xF4) *hi = 0x8F;
}

int rt_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07;
  else return -1; /* a continuation byte, C0, C1 or F5..FF */
  uint8_t lo, hi;
  second_byte_range(c, &lo, &hi);
  for (int k = 1; k < len; k++) {
    if ((size_t)k >= n) return 0;
    uint8_t b = s[k];
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return -k;
    v = v << 6 | (b & 0x3F);
  }
  *cp = v;
  return len;
}

int rt_utf8_encode(uint32_t cp, uint8_t out[4]) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | cp >> 12);
    out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | cp >> 18);
  out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

bool rt_utf8_valid(const uint8_t *s, size_t n) {
  uint32_t cp;
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int r = rt_utf8_next(s + i, n - i, &cp);
    if (r <= 0) return false;
    i += (size_t)r;
  }
  return true;
}

void rt_utf8_sanitize(const uint8_t *s, size_t n, RtBytes *out) {
  static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
  uint32_t cp;
  size_t done = 0; /* s[done..i) is well-formed and not yet copied */
  for (size_t i = 0; i < n;) {
    int r = s[i] < 0x80 ? 1 : rt_utf8_next(s + i, n - i, &cp);
    if (r > 0) {
      i += (size_t)r;
      continue;
    }
    rt_bytes_append(out, s + done, i - done);
    rt_bytes_append(out, fffd, 3);
    i += r < 0 ? (size_t)-r : n - i; /* an incomplete tail is one U+FFFD */
    done = i;
  }
  rt_bytes_append(out, s + done, n - done);
}

/* ---- character classes ------------------------------------------------- */

/* The value of the last entry (start << 8 | value) with start <= cp. */
static uint32_t range_lookup(const uint32_t *ranges, size_t count, uint32_t cp) {
  size_t lo = 0, hi = count; /* ranges[0] starts at 0 */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (ranges[mid] >> 8 <= cp) lo = mid;
    else hi = mid;
  }
  return ranges[lo] & 0xFF;
}

RtUClass rt_uclass(uint32_t cp) {
  if (cp < 0x80) { /* the common case, without the search */
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return cp >= 'a' ? RT_UC_LL : RT_UC_LU;
    if (cp >= '0' && cp <= '9') return RT_UC_N;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return RT_UC_SPACE;
    return RT_UC_OTHER;
  }
  return (RtUClass)range_lookup(rt_class_ranges, sizeof rt_class_ranges / sizeof *rt_class_ranges,
                                cp);
}

const char *rt_unicode_version(void) { return RT_UNICODE_VERSION; }

/* ---- NFC ---------------------------------------------------------------- */

/* Hangul syllables decompose and compose by arithmetic (Unicode 3.12). */
enum {
  HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
  HANGUL_LCOUNT = 19, HANGUL_VCOUNT = 21, HANGUL_TCOUNT = 28,
  HANGUL_NCOUNT = HANGUL_VCOUNT * HANGUL_TCOUNT, HANGUL_SCOUNT = HANGUL_LCOUNT * HANGUL_NCOUNT,
};

/* An order-preserving stand-in for the canonical combining class. */
static uint32_t ccc(uint32_t cp) {
  if (cp < 0x300) return 0;
  return range_lookup(rt_ccc_ranges, sizeof rt_ccc_ranges / sizeof *rt_ccc_ranges, cp);
}

/* Code points growable array. */
typedef struct {
  uint32_t *cp;
  size_t len, cap;
} CpBuf;

static void cp_push(CpBuf *b, uint32_t cp) {
  if (b->len == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 64;
    b->cp = realloc(b->cp, b->cap * sizeof *b->cp);
    if (!b->cp) {
      fprintf(stderr, "kiln: out of memory\n");
      abort();
    }
  }
  b->cp[b->len++] = cp;
}

/* Appends the full canonical decomposition of cp. */
static void decompose(uint32_t cp, CpBuf *out) {
  if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SCOUNT) {
    uint32_t s = cp - HANGUL_S;
    cp_push(out, HANGUL_L + s / HANGUL_NCOUNT);
    cp_push(out, HANGUL_V + s % HANGUL_NCOUNT / HANGUL_TCOUNT);
    if (s % HANGUL_TCOUNT) cp_push(out, HANGUL_T + s % HANGUL_TCOUNT);
    return;
  }
  size_t lo = 0, hi = sizeof rt_decomp_cp / sizeof *rt_decomp_cp;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rt_decomp_cp[mid] < cp) lo = mid + 1;
    else hi = mid;
  }
  if (lo < sizeof rt_decomp_cp / sizeof *rt_decomp_cp && rt_decomp_cp[lo] == cp) {
    for (uint32_t k = rt_decomp_off[lo]; k < rt_decomp_off[lo + 1]; k++)
      cp_push(out, rt_decomp_data[k]);
    return;
  }
  cp_push(out, cp);
}

/* Canonical ordering: a stable sort of each run of non-starters by class. */
static void canonical_order(CpBuf *b) {
  for (size_t i = 1; i < b->len; i++) {
    uint32_t c = b->cp[i], cc = ccc(c);
    if (cc == 0) continue;
    size_t j = i;
    while (j > 0 && ccc(b->cp[j - 1]) > cc) {
      b->cp[j] = b->cp[j - 1];
      j--;
    }
    b->cp[j] = c;
  }
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V &&
      b < HANGUL_V + HANGUL_VCOUNT)
    return HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
  if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 &&
      b > HANGUL_T && b < HANGUL_T + HANGUL_TCOUNT)
    return a + (b - HANGUL_T);
  size_t lo = 0, hi = sizeof rt_comp_first / sizeof *rt_comp_first;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rt_comp_first[mid] < a || (rt_comp_first[mid] == a && rt_comp_second[mid] < b))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < sizeof rt_comp_first / sizeof *rt_comp_first && rt_comp_first[lo] == a &&
      rt_comp_second[lo] == b)
    return rt_comp_result[lo];
  return 0;
}

/* Canonical composition in place: each character joins the last starter
 * when nothing between them blocks it (a starter, or a mark of the same or
 * a higher class). */
static void compose(CpBuf *b) {
  size_t out = 0;
  long starter = -1;
  for (size_t i = 0; i < b->len; i++) {
    uint32_t c = b->cp[i], cc = ccc(c);
    if (starter >= 0) {
      bool adjacent = out == (size_t)starter + 1;
      uint32_t last = adjacent ? 0 : ccc(b->cp[out - 1]);
      if (adjacent || (last != 0 && last < cc)) {
        uint32_t composite = compose_pair(b->cp[starter], c);
        if (composite) {
          b->cp[starter] = composite;
          continue;
        }
      }
    }
    if (cc == 0) starter = (long)out;
    b->cp[out++] = c;
  }
  b->len = out;
}

void rt_nfc(const uint8_t *s, size_t n, RtBytes *out) {
  /* Nothing below U+0300 (lead bytes below 0xCC) decomposes or combines
   * with what precedes it, so such text is already NFC. */
  size_t k = 0;
  while (k < n && s[k] < 0xCC) k++;
  if (k == n) {
    rt_bytes_append(out, s, n);
    return;
  }
  CpBuf b = {0};
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int r = rt_utf8_next(s + i, n - i, &cp);
    if (r <= 0) { /* callers pass well-formed text; be safe anyway */
      cp = RT_REPLACEMENT_CHAR;
      r = r < 0 ? -r : (int)(n - i);
    }
    decompose(cp, &b);
    i += (size_t)r;
  }
  canonical_order(&b);
  compose(&b);
  for (size_t i = 0; i < b.len; i++) {
    uint8_t buf[4];
    rt_bytes_append(out, buf, (size_t)rt_utf8_encode(b.cp[i], buf));
  }
  free(b.cp);
}
