/* test_tokenizer.c: the tokenizer on the tiny tokenizer.json files of
 * tests/data/tokenizers (made by make_tiny.py; the expected ids were
 * worked out by hand from their merges and agree with
 * @huggingface/tokenizers): exact ids, decoding and streaming across
 * split UTF-8, byte fallback, the split patterns, UTF-8 and NFC, and the
 * message of every bad input. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fe_tokenizer.h"
#include "rt_tok_internal.h"
#include "rt_tokenizer.h"

#define DIR KILN_TEST_DATA "/tokenizers/"

typedef struct {
  RtTokenizer *t;
  uint8_t *blob;
} Tok;

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

/* Packs DIR/name; on failure d holds the message. */
static bool pack(const char *name, uint8_t **blob, size_t *bytes, IrDiag *d) {
  char path[512];
  snprintf(path, sizeof path, DIR "%s", name);
  size_t len;
  char *json = read_file(path, &len);
  if (!json) return ir_error_at(d, path, "cannot read");
  bool ok = fe_tokenizer_pack(json, len, name, blob, bytes, d);
  free(json);
  return ok;
}

static Tok load(const char *name) {
  Tok k = {0};
  size_t bytes;
  IrDiag d = {0};
  if (!pack(name, &k.blob, &bytes, &d)) {
    fprintf(stderr, "%s\n", d.msg);
    exit(1);
  }
  char err[256];
  k.t = rt_tok_load(k.blob, bytes, err, sizeof err);
  if (!k.t) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  return k;
}

static void unload(Tok k) {
  rt_tok_free(k.t);
  free(k.blob);
}

/* Encodes text (len bytes, -1: strlen) and compares with want[0..n). */
static bool encodes_to(const RtTokenizer *t, const char *text, long len, bool special,
                       const int32_t *want, size_t n) {
  RtTokIds ids = {0};
  rt_tok_encode(t, text, len < 0 ? strlen(text) : (size_t)len, special, &ids);
  bool ok = ids.n == n && (n == 0 || memcmp(ids.ids, want, n * sizeof *want) == 0);
  if (!ok) {
    fprintf(stderr, "  \"%s\" ->", text);
    for (size_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", ids.ids[i]);
    fprintf(stderr, "\n");
  }
  free(ids.ids);
  return ok;
}
#define ENC(t, text, ...)                                                          \
  CHECK(encodes_to(t, text, -1, false, (const int32_t[]){__VA_ARGS__},             \
                   sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))
#define ENC_SPECIAL(t, text, ...)                                                  \
  CHECK(encodes_to(t, text, -1, true, (const int32_t[]){__VA_ARGS__},              \
                   sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))

/* Decodes ids and compares with want. */
static bool decodes_to(const RtTokenizer *t, const int32_t *ids, size_t n, bool skip,
                       const char *want) {
  char err[128];
  size_t len;
  char *text = rt_tok_decode(t, ids, n, skip, &len, err, sizeof err);
  bool ok = text && len == strlen(want) && strcmp(text, want) == 0;
  if (!ok) fprintf(stderr, "  decoded \"%s\", want \"%s\"\n", text ? text : err, want);
  free(text);
  return ok;
}
#define DEC(t, want, ...)                                                          \
  CHECK(decodes_to(t, (const int32_t[]){__VA_ARGS__},                              \
                   sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t), false, want))

/* decode(encode(s)) == s */
static bool round_trips(const RtTokenizer *t, const char *s) {
  RtTokIds ids = {0};
  rt_tok_encode(t, s, strlen(s), false, &ids);
  bool ok = decodes_to(t, ids.ids, ids.n, false, s);
  free(ids.ids);
  return ok;
}

/* ---- models ------------------------------------------------------------ */

static void test_byte_level(void) {
  Tok k = load("bytelevel.json");
  RtTokenizer *t = k.t;
  CHECK(rt_tok_vocab_size(t) == 269);
  ENC(t, "hello the lower", 259, 261, 32, 265); /* " lower": Ġ stays alone */
  ENC(t, "lll", 257, 108);                      /* equal ranks: the leftmost first */
  ENC(t, "\xC3\xA9", 195, 169);                 /* é: two byte tokens */
  ENC(t, "<|bos|>hi<|eot|>", 266, 104, 105, 267);
  ENC(t, "a<tool>b", 97, 268, 98);              /* a non-special added token */
  ENC(t, "<|bos", 60, 124, 98, 111, 115);       /* a prefix of one is text */
  ENC_SPECIAL(t, "hello", 266, 259);
  ENC(t, "\xFF", 239, 191, 189);                /* a bad byte reads as U+FFFD */
  CHECK(encodes_to(t, "a\0b", 3, false, (const int32_t[]){97, 0, 98}, 3));
  RtTokIds none = {0};
  rt_tok_encode(t, "", 0, false, &none);
  CHECK(none.n == 0);
  DEC(t, "hello the lower", 259, 261, 32, 265);
  DEC(t, "<|bos|>hi", 266, 104, 105);
  CHECK(decodes_to(t, (const int32_t[]){266, 104, 105}, 3, true, "hi"));
  DEC(t, "\xEF\xBF\xBD ", 195, 32);              /* half a character, then a space */
  DEC(t, "\xEF\xBF\xBD", 195);                   /* cut short at the end */
  const char *texts[] = {"Hello, World! 123", "  spaces  \n\n tabs\t\t", "caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD",
                         "\xF0\x9F\x98\x80 emoji", "I'M  don't\r\n", "<|bos|><tool><|eot|>"};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) CHECK(round_trips(t, texts[i]));
  size_t n;
  const int32_t *prefix = rt_tok_prefix(t, &n);
  CHECK(n == 1 && prefix[0] == 266);
  rt_tok_suffix(t, &n);
  CHECK(n == 0);
  CHECK(rt_tok_find(t, "<|eot|>", 7) == 267);
  CHECK(rt_tok_find(t, " the", 4) == 261); /* byte-level spellings are raw bytes */
  CHECK(rt_tok_find(t, "nope", 4) == -1);
  unload(k);
}

static void test_sentencepiece(void) {
  Tok k = load("spm.json");
  RtTokenizer *t = k.t;
  ENC(t, "hello world", 268, 276);
  ENC(t, "h\xC3\xA9llo", 264, 198, 172, 265, 263); /* é falls back to <0xC3><0xA9> */
  ENC(t, "a", 259, 100);                           /* ▁ then <0x61> */
  ENC(t, "hello<s>world", 268, 1, 276);            /* Prepend applies after <s> too */
  ENC(t, " hello", 259, 268);
  ENC_SPECIAL(t, "hello", 1, 268);
  ENC(t, "<s>", 1);
  DEC(t, "hello world", 268, 276);                 /* Strip drops the first space */
  DEC(t, "h\xC3\xA9llo", 264, 198, 172, 265, 263);
  DEC(t, "<s> hello", 1, 268);
  CHECK(decodes_to(t, (const int32_t[]){1, 268}, 2, true, "hello"));
  DEC(t, "\xEF\xBF\xBD h", 198, 264);              /* <0xC3> then "▁h" */
  CHECK(round_trips(t, "hello world  and  more"));
  CHECK(round_trips(t, " leading space"));
  CHECK(round_trips(t, "\xE4\xBD\xA0\xE5\xA5\xBD\n\t"));
  unload(k);
}

static void test_metaspace(void) {
  Tok k = load("metaspace.json");
  RtTokenizer *t = k.t;
  ENC(t, "a b", 4, 5);
  ENC(t, "axxb", 4, 0, 3);   /* x is unknown: one <unk> for both (fuse_unk) */
  ENC(t, "ab ab", 4, 3, 4, 3);
  ENC(t, " a", 4);           /* already starts with ▁: nothing prepended */
  ENC(t, "xx yy", 1, 0, 1, 0);
  DEC(t, "a b", 4, 5);       /* the first token loses its space */
  DEC(t, "<unk> <unk>", 0, 1, 0);
  unload(k);
}

static void test_gpt2(void) {
  Tok k = load("gpt2.json");
  ENC(k.t, "Hello world's  end\n", 72, 101, 257, 111, 32, 119, 111, 114, 108, 100, 39, 115, 32, 32,
      101, 110, 100, 10);
  ENC(k.t, "the lower", 116, 256, 32, 265);
  unload(k);
}

/* ---- split patterns ------------------------------------------------------ */

/* The pieces `pattern` cuts utf8 into, joined with '|'. */
static char *pieces(int pattern, const char *utf8) {
  static char out[1024];
  uint32_t cp[256];
  uint8_t cls[256];
  size_t boff[257], n = 0, len = strlen(utf8), o = 0;
  for (size_t i = 0; i < len;) {
    int r = rt_utf8_next((const uint8_t *)utf8 + i, len - i, &cp[n]);
    cls[n] = (uint8_t)rt_uclass(cp[n]);
    boff[n++] = i;
    i += (size_t)r;
  }
  boff[n] = len;
  for (size_t i = 0; i < n;) {
    size_t e = rt_tok_pattern_match(pattern, cp, cls, n, i);
    if (e == i) e = i + 1; /* a gap of one character */
    if (i) out[o++] = '|';
    memcpy(out + o, utf8 + boff[i], boff[e] - boff[i]);
    o += boff[e] - boff[i];
    i = e;
  }
  out[o] = '\0';
  return out;
}

static void test_patterns(void) {
  CHECK(strcmp(pieces(RT_TOK_PAT_GPT2, "Hello world's  end\n"), "Hello| world|'s| | end|\n") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_GPT2, "I'M x2 3.5"), "I|'|M| x|2| 3|.|5") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_LLAMA3, "I'M 12345 ok\n\n  x"), "I|'M| |123|45| ok|\n\n| | x") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_LLAMA3, "\tword ...\n\nnext"), "\tword| ...\n\n|next") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_LLAMA3, "a  \n \n b"), "a|  \n \n| b") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_QWEN2, "x12345"), "x|1|2|3|4|5") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_GPT4O, "HelloWorld's CAPS x\xCC\x81y"),
               "Hello|World's| CAPS| x\xCC\x81y") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_GPT4O, "*/\n\nx a/b"), "*/\n\n|x| a|/b") == 0);
  CHECK(strcmp(pieces(RT_TOK_PAT_GPT4O, "1234567"), "123|456|7") == 0);
}

/* ---- streaming ------------------------------------------------------------ */

/* Pushes ids one by one; `want` lists what each push (then finish) gives,
 * separated by '|'. */
static bool streams(const RtTokenizer *t, const int32_t *ids, size_t n, const char *want) {
  RtTokStream s;
  rt_tok_stream_init(&s, t, false);
  char got[256] = "";
  for (size_t i = 0; i <= n; i++) {
    if (i < n) {
      if (!rt_tok_stream_push(&s, ids[i], NULL, 0)) return false;
    } else {
      rt_tok_stream_finish(&s);
    }
    size_t len = strlen(got);
    if (s.out.len) memcpy(got + len, s.out.data, s.out.len);
    got[len + s.out.len] = '\0';
    if (i < n) strcat(got, "|");
  }
  rt_tok_stream_free(&s);
  if (strcmp(got, want) != 0) fprintf(stderr, "  streamed \"%s\", want \"%s\"\n", got, want);
  return strcmp(got, want) == 0;
}
#define STREAM(t, want, ...)                                                        \
  CHECK(streams(t, (const int32_t[]){__VA_ARGS__},                                   \
                sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t), want))

static void test_stream(void) {
  Tok spm = load("spm.json");
  /* "▁é": the space is stripped, é waits for its second byte */
  STREAM(spm.t, "||\xC3\xA9|", 259, 198, 172);
  /* 你 = E4 BD A0, one byte token at a time */
  STREAM(spm.t, "||\xE4\xBD\xA0|", 3 + 0xE4, 3 + 0xBD, 3 + 0xA0);
  /* a cut character followed by a word: U+FFFD, then the word */
  STREAM(spm.t, "|\xEF\xBF\xBD h|", 3 + 0xE4, 264);
  /* cut short at the end: finish gives U+FFFD */
  STREAM(spm.t, "hello||\xEF\xBF\xBD", 268, 3 + 0xE4);
  Tok bl = load("bytelevel.json");
  STREAM(bl.t, "|\xC3\xA9|", 195, 169);
  STREAM(bl.t, "\xEF\xBF\xBD|\xEF\xBF\xBD|", 0x80, 0xFF); /* bytes that start nothing */
  /* 😀 = F0 9F 98 80 across four tokens, then a bad lead */
  STREAM(bl.t, "|||\xF0\x9F\x98\x80|", 0xF0, 0x9F, 0x98, 0x80);
  char err[128];
  RtTokStream s;
  rt_tok_stream_init(&s, bl.t, false);
  CHECK(!rt_tok_stream_push(&s, 999, err, sizeof err));
  CHECK(strcmp(err, "token id 999 is outside the vocabulary (ids 0 to 268)") == 0);
  CHECK(!rt_tok_stream_push(&s, -1, err, sizeof err));
  CHECK(strcmp(err, "token id -1 is outside the vocabulary (ids 0 to 268)") == 0);
  rt_tok_stream_free(&s);
  size_t len;
  CHECK(rt_tok_decode(bl.t, (const int32_t[]){1, 2, 5000}, 3, false, &len, err, sizeof err) == NULL);
  CHECK(strcmp(err, "token id 5000 is outside the vocabulary (ids 0 to 268)") == 0);
  unload(spm);
  unload(bl);
}

/* ---- Unicode --------------------------------------------------------------- */

static bool sanitizes_to(const char *in, size_t n, const char *want) {
  RtBytes out = {0};
  rt_utf8_sanitize((const uint8_t *)in, n, &out);
  bool ok = out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
  free(out.data);
  return ok;
}

static bool nfc_is(const char *in, const char *want) {
  RtBytes out = {0};
  rt_nfc((const uint8_t *)in, strlen(in), &out);
  bool ok = out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
  free(out.data);
  return ok;
}

#define FFFD "\xEF\xBF\xBD"

static void test_unicode(void) {
  uint32_t cp;
  CHECK(rt_utf8_next((const uint8_t *)"\xE4\xBD\xA0", 3, &cp) == 3 && cp == 0x4F60);
  CHECK(rt_utf8_next((const uint8_t *)"\xE4\xBD", 2, &cp) == 0);  /* incomplete */
  CHECK(rt_utf8_next((const uint8_t *)"\xE4" "A", 2, &cp) == -1);
  CHECK(rt_utf8_next((const uint8_t *)"\xED\xA0\x80", 3, &cp) == -1); /* a surrogate */
  CHECK(sanitizes_to("a\xE4\xB8" "b", 4, "a" FFFD "b"));              /* one U+FFFD per subpart */
  CHECK(sanitizes_to("\xC0\xAF", 2, FFFD FFFD));                        /* overlong */
  CHECK(sanitizes_to("\xED\xA0\x80", 3, FFFD FFFD FFFD));
  CHECK(sanitizes_to("\xF0\x9F\x98", 3, FFFD));                         /* cut short */
  CHECK(sanitizes_to("ok", 2, "ok"));
  CHECK(rt_uclass('a') == RT_UC_LL && rt_uclass('Z') == RT_UC_LU && rt_uclass('7') == RT_UC_N);
  CHECK(rt_uclass(0x4F60) == RT_UC_LO && rt_uclass(0x01C5) == RT_UC_LT && rt_uclass(0x02B0) == RT_UC_LM);
  CHECK(rt_uclass(0x0301) == RT_UC_M && rt_uclass(0x00BD) == RT_UC_N && rt_uclass(0x0663) == RT_UC_N);
  CHECK(rt_uclass(0x3000) == RT_UC_SPACE && rt_uclass(0x0085) == RT_UC_SPACE);
  CHECK(rt_uclass(0xFEFF) == RT_UC_OTHER && rt_uclass(0x200B) == RT_UC_OTHER && rt_uclass('!') == RT_UC_OTHER);
  CHECK(nfc_is("cafe\xCC\x81", "caf\xC3\xA9"));                 /* e + acute -> é */
  CHECK(nfc_is("\xE2\x84\xAB", "\xC3\x85"));                    /* Angstrom sign -> Å */
  CHECK(nfc_is("s\xCC\x87\xCC\xA3", "\xE1\xB9\xA9"));            /* s, dot above, dot below -> ṩ */
  CHECK(nfc_is("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81")); /* jamo -> 각 */
  CHECK(nfc_is("a\xCC\x81\xCC\x81", "\xC3\xA1\xCC\x81"));        /* the second acute is blocked */
  CHECK(nfc_is("plain ascii", "plain ascii"));
  CHECK(strcmp(rt_unicode_version(), "") != 0);
}

/* ---- bad input ------------------------------------------------------------- */

static bool fails_with(const char *name, const char *want) {
  uint8_t *blob = NULL;
  size_t bytes;
  IrDiag d = {0};
  bool ok = pack(name, &blob, &bytes, &d);
  free(blob);
  if (ok) return fprintf(stderr, "  %s packed\n", name), false;
  if (strcmp(d.msg, want) != 0) fprintf(stderr, "  %s\n  want %s\n", d.msg, want);
  return strcmp(d.msg, want) == 0;
}

static void test_bad_json(void) {
  CHECK(fails_with("bad_model_type.json",
                   "bad_model_type.json: error: at $.model.type: model type \"Unigram\" is not "
                   "supported; kiln supports \"BPE\""));
  CHECK(fails_with("bad_missing_vocab.json",
                   "bad_missing_vocab.json: error: at $.model.vocab: missing; expected an object"));
  CHECK(fails_with("bad_merge_unknown.json",
                   "bad_merge_unknown.json: error: at $.model.merges[1]: token \"zz\" is not in the "
                   "vocabulary"));
  CHECK(fails_with("bad_merge_result.json",
                   "bad_merge_result.json: error: at $.model.merges[10]: the merged token \"he\" is "
                   "not in the vocabulary"));
  CHECK(fails_with("bad_merge_form.json",
                   "bad_merge_form.json: error: at $.model.merges[1]: expected two tokens separated "
                   "by one space, found \"l l l\""));
  CHECK(fails_with("bad_duplicate_id.json",
                   "bad_duplicate_id.json: error: at $.model.vocab: tokens \"<0x02>\" and \"zz\" "
                   "both have id 5"));
  CHECK(fails_with("bad_vocab_utf8.json",
                   "bad_vocab_utf8.json: error: at $.model.vocab: the token with id 276 is not "
                   "valid UTF-8"));
  CHECK(fails_with("bad_normalizer.json",
                   "bad_normalizer.json: error: at $.normalizer.type: expected one of \"Sequence\", "
                   "\"Prepend\", \"Replace\", \"NFC\", found \"NFKC\""));
  CHECK(fails_with("bad_pattern.json",
                   "bad_pattern.json: error: at $.pre_tokenizer.pattern: unsupported split pattern "
                   "\"\\\\d+|\\\\s+\"; kiln implements the patterns of GPT-2, Llama 3, Qwen 2 and "
                   "GPT-4o"));
  CHECK(fails_with("bad_decoder.json",
                   "bad_decoder.json: error: at $.decoder.type: expected one of \"Sequence\", "
                   "\"ByteLevel\", \"Replace\", \"ByteFallback\", \"Fuse\", \"Strip\", "
                   "\"Metaspace\", found \"WordPiece\""));
  CHECK(fails_with("bad_added_token.json",
                   "bad_added_token.json: error: at $.added_tokens[3].content: missing; expected a "
                   "string"));
}

static bool inline_fails_with(const char *json, const char *want) {
  uint8_t *blob = NULL;
  size_t bytes;
  IrDiag d = {0};
  bool ok = fe_tokenizer_pack(json, strlen(json), "t.json", &blob, &bytes, &d);
  free(blob);
  if (!ok && strcmp(d.msg, want) != 0) fprintf(stderr, "  %s\n  want %s\n", d.msg, want);
  return !ok && strcmp(d.msg, want) == 0;
}

static void test_bad_inline(void) {
  CHECK(inline_fails_with("[1]", "t.json: error: at $: expected an object, found an array"));
  CHECK(inline_fails_with("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\\u0000\": 0}, \"merges\": []}}",
                          "t.json: error: a string holds \\u0000 (NUL), which kiln cannot read"));
  CHECK(inline_fails_with("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, "
                          "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, "
                          "{\"type\": \"ByteFallback\"}]}}",
                          "t.json: error: at $.decoder.decoders[1]: ByteFallback after Fuse is not "
                          "supported"));
  CHECK(inline_fails_with("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"dropout\": 0.1}}",
                          "t.json: error: at $.model.dropout: BPE dropout is not supported (expected null)"));
  CHECK(inline_fails_with("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
                          "t.json: error: at $.model.vocab.a: expected an integer from 0 to "
                          "2147483646, found -1"));
  CHECK(inline_fails_with("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, "
                          "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                          "\"ByteLevel\"}, {\"type\": \"Metaspace\"}]}}",
                          "t.json: error: at $.pre_tokenizer.pretokenizers[1]: a pre-tokenizer after "
                          "ByteLevel is not supported (ByteLevel must come last)"));
  CHECK(inline_fails_with("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                          "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                          "[{\"SpecialToken\": {\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}], "
                          "\"special_tokens\": {\"<s>\": {\"ids\": [7]}}}}",
                          "t.json: error: at $.post_processor.special_tokens[\"<s>\"].ids[0]: id 7 is "
                          "outside the vocabulary (1 tokens)"));
  /* A minimal tokenizer packs: no merges, no steps, no added tokens. */
  const char *ok = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": []}}";
  uint8_t *blob;
  size_t bytes;
  IrDiag d = {0};
  CHECK(fe_tokenizer_pack(ok, strlen(ok), "t.json", &blob, &bytes, &d));
  char err[128];
  RtTokenizer *t = rt_tok_load(blob, bytes, err, sizeof err);
  CHECK(t != NULL);
  if (t) {
    ENC(t, "abba", 0, 1, 1, 0);
    ENC(t, "ac", 0); /* no unk token: unknown characters are dropped */
    DEC(t, "a b", 0, 1); /* no decoder: tokens joined by spaces */
    rt_tok_free(t);
  }
  free(blob);
}

/* A damaged blob is refused with a reason, never used. */
static bool blob_fails_with(const uint8_t *blob, size_t bytes, const char *want) {
  char err[256];
  RtTokenizer *t = rt_tok_load(blob, bytes, err, sizeof err);
  rt_tok_free(t);
  if (!t && strcmp(err, want) != 0) fprintf(stderr, "  %s\n  want %s\n", err, want);
  return !t && strcmp(err, want) == 0;
}

static void test_bad_blob(void) {
  uint8_t *blob;
  size_t bytes;
  IrDiag d = {0};
  CHECK(pack("spm.json", &blob, &bytes, &d));
  uint8_t *copy = malloc(bytes);
  RtTokHeader *h = (RtTokHeader *)copy;
#define RESET() memcpy(copy, blob, bytes)
  RESET();
  copy[0] = 'X';
  CHECK(blob_fails_with(copy, bytes, "tokenizer blob: bad magic (not a packed tokenizer)"));
  RESET();
  h->version = 2;
  CHECK(blob_fails_with(copy, bytes, "tokenizer blob: version 2, this runtime reads version 1"));
  RESET();
  CHECK(blob_fails_with(copy, 100, "tokenizer blob: 100 bytes, too short for the 328-byte header"));
  char want[200];
  snprintf(want, sizeof want,
           "tokenizer blob: section 'special ids' (offset %llu, 4 bytes) is outside the %zu-byte blob",
           (unsigned long long)h->sections[RT_TOK_SEC_SPECIAL].offset, bytes - 8);
  CHECK(blob_fails_with(copy, bytes - 8, want));
  RESET();
  h->merge_slots = 3;
  snprintf(want, sizeof want, "tokenizer blob: hash table sizes %u and 3 are not powers of two",
           h->vocab_slots);
  CHECK(blob_fails_with(copy, bytes, want));
  RESET();
  uint32_t *vocab = (uint32_t *)(copy + h->sections[RT_TOK_SEC_VOCAB_HASH].offset);
  for (uint32_t i = 0; i < h->vocab_slots; i++)
    if (vocab[i] != RT_TOK_EMPTY) {
      vocab[i] = 100000;
      break;
    }
  char err[256];
  CHECK(rt_tok_load(copy, bytes, err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "holds id 100000, outside the vocabulary");
  RESET();
  RtTokOp *ops = (RtTokOp *)(copy + h->sections[RT_TOK_SEC_OPS].offset);
  ops[0].kind = 99;
  CHECK(blob_fails_with(copy, bytes, "tokenizer blob: normalizer step 0 (kind 99) is malformed"));
  RESET();
  CHECK(blob_fails_with(copy + 4, bytes - 4, "tokenizer blob: not 8-byte aligned"));
  free(copy);
  free(blob);
}

int main(void) {
  test_byte_level();
  test_sentencepiece();
  test_metaspace();
  test_gpt2();
  test_patterns();
  test_stream();
  test_unicode();
  test_bad_json();
  test_bad_inline();
  test_bad_blob();
  return check_report();
}
