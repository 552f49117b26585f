/* fuzz_tokenizer.c: libFuzzer target for the tokenizer, on the tiny
 * tokenizers of tests/data/tokenizers. The first byte picks what the rest
 * is:
 *
 *   0..4  text to encode with bytelevel, gpt2, gpt4o, qwen or spm. Every id
 *         must be in the vocabulary; decoding them must succeed, give
 *         well-formed UTF-8, and equal the streaming decoder's output
 *         token by token. The byte-level ones are lossless: decode(encode(s))
 *         is s (U+FFFD for bad bytes; NFC'd for qwen).
 *   5     ids to decode (2 bytes each, some outside the vocabulary): no
 *         crash, and decode equals the stream.
 *   6     a tokenizer.json: it packs, or fails with a message.
 *   7     byte flips of a packed blob: it loads (then encode and decode
 *         must work), or is refused with a message.
 *
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang-19 -DKILN_FUZZ=ON -DKILN_SANITIZE=ON
 *   build-fuzz/tests/fuzz_tokenizer -max_total_time=60 tests/fuzz/corpus/fuzz_tokenizer
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe_tokenizer.h"
#include "rt_tokenizer.h"

enum { N_TOK = 5 };
static const char *const names[N_TOK] = {"bytelevel.json", "gpt2.json", "gpt4o.json", "qwen.json",
                                         "spm.json"};
static uint8_t *blobs[N_TOK];
static size_t blob_bytes[N_TOK];
static RtTokenizer *toks[N_TOK];

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_tokenizer: %s\n%s\n", what, detail ? detail : "");
  abort();
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail("cannot read", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  fclose(f);
  return buf;
}

/* The tokenizers sit next to this source: ../data/tokenizers. */
static void load_all(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", __FILE__);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  for (int i = 0; i < N_TOK; i++) {
    char path[1200];
    snprintf(path, sizeof path, "%s/../data/tokenizers/%s", dir, names[i]);
    size_t len;
    char *json = read_file(path, &len);
    IrDiag d = {0};
    if (!fe_tokenizer_pack(json, len, names[i], &blobs[i], &blob_bytes[i], &d)) fail("pack", d.msg);
    free(json);
    char err[256];
    toks[i] = rt_tok_load(blobs[i], blob_bytes[i], err, sizeof err);
    if (!toks[i]) fail("load", err);
  }
}

/* Decodes ids whole and token by token; both must agree. Returns the
 * text (malloc'd) or NULL when an id is refused. */
static char *decode_both(const RtTokenizer *t, const int32_t *ids, size_t n, size_t *len) {
  char err[256];
  char *whole = rt_tok_decode(t, ids, n, false, len, err, sizeof err);
  RtTokStream s;
  rt_tok_stream_init(&s, t, false);
  RtBytes streamed = {0};
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) {
    ok = rt_tok_stream_push(&s, ids[i], err, sizeof err);
    if (ok) rt_bytes_append(&streamed, s.out.data, s.out.len);
  }
  if (ok) {
    rt_tok_stream_finish(&s);
    rt_bytes_append(&streamed, s.out.data, s.out.len);
  }
  rt_tok_stream_free(&s);
  if (ok != (whole != NULL)) fail("decode and the stream disagree on failing", err);
  if (whole && (streamed.len != *len || (*len && memcmp(streamed.data, whole, *len) != 0)))
    fail("decode and the stream give different text", whole);
  if (whole && !rt_utf8_valid((const uint8_t *)whole, *len)) fail("decoded text is not UTF-8", NULL);
  free(streamed.data);
  return whole;
}

static void encode_case(int which, const uint8_t *data, size_t size) {
  const RtTokenizer *t = toks[which];
  RtTokIds ids = {0};
  rt_tok_encode(t, (const char *)data, size, which == 0, &ids);
  for (size_t i = 0; i < ids.n; i++)
    if (ids.ids[i] < 0 || ids.ids[i] >= rt_tok_vocab_size(t)) fail("an id outside the vocabulary", NULL);
  size_t len;
  char *text = decode_both(t, ids.ids, ids.n, &len);
  if (!text) fail("the ids of an encoding do not decode", names[which]);
  if (which <= 3) { /* byte-level: lossless */
    RtBytes want = {0}, clean = {0};
    rt_utf8_sanitize(data, size, &clean);
    if (which == 3) rt_nfc(clean.data, clean.len, &want);
    else rt_bytes_append(&want, clean.data, clean.len);
    size_t skip = which == 0 ? strlen("<|bos|>") : 0; /* encoded with BOS */
    if (len != want.len + skip || (want.len && memcmp(text + skip, want.data, want.len) != 0))
      fail("decode(encode(s)) != s", names[which]);
    free(want.data);
    free(clean.data);
  }
  free(text);
  free(ids.ids);
}

static void decode_case(const uint8_t *data, size_t size) {
  size_t n = size / 2;
  int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
  for (int w = 0; w < N_TOK; w++) {
    int32_t vocab = rt_tok_vocab_size(toks[w]);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)((data[2 * i] << 8 | data[2 * i + 1]) % (vocab + 4)) - 2;
    size_t len;
    free(decode_both(toks[w], ids, n, &len));
  }
  free(ids);
}

static void json_case(const uint8_t *data, size_t size) {
  uint8_t *blob = NULL;
  size_t bytes;
  IrDiag d = {0};
  if (!fe_tokenizer_pack((const char *)data, size, "fuzz.json", &blob, &bytes, &d)) {
    if (!d.failed || !d.msg[0]) fail("packing failed without a message", NULL);
    return;
  }
  char err[256];
  RtTokenizer *t = rt_tok_load(blob, bytes, err, sizeof err);
  if (!t) fail("a packed tokenizer does not load", err);
  RtTokIds ids = {0};
  rt_tok_encode(t, "Hello world 123 \xC3\xA9\n", 18, true, &ids);
  size_t len;
  free(decode_both(t, ids.ids, ids.n, &len));
  free(ids.ids);
  rt_tok_free(t);
  free(blob);
}

/* Flips bytes of a blob at the offsets (3 bytes each: 2 offset, 1 xor). */
static void blob_case(const uint8_t *data, size_t size) {
  int which = size ? data[0] % N_TOK : 0;
  uint8_t *copy = malloc(blob_bytes[which]);
  memcpy(copy, blobs[which], blob_bytes[which]);
  for (size_t i = 1; i + 2 < size; i += 3) {
    size_t off = ((size_t)data[i] << 8 | data[i + 1]) % blob_bytes[which];
    copy[off] ^= data[i + 2];
  }
  char err[256] = "";
  RtTokenizer *t = rt_tok_load(copy, blob_bytes[which], err, sizeof err);
  if (!t) {
    if (!err[0]) fail("a blob was refused without a message", NULL);
  } else {
    RtTokIds ids = {0};
    rt_tok_encode(t, "a<|bos|> hello the lower \xE4\xBD\xA0 12345 <s>\xFF", 39, true, &ids);
    size_t len;
    char *text = rt_tok_decode(t, ids.ids, ids.n, false, &len, err, sizeof err);
    free(text);
    free(ids.ids);
    rt_tok_free(t);
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!toks[0]) load_all();
  if (size == 0) return 0;
  int mode = data[0] % 8;
  data++, size--;
  if (mode < N_TOK) encode_case(mode, data, size);
  else if (mode == 5) decode_case(data, size);
  else if (mode == 6) json_case(data, size);
  else blob_case(data, size);
  return 0;
}
