/* cmd_tokenize.c: `kiln tokenize`: runs a tokenizer without a model, so
 * that tokenization can be checked on its own.
 *
 *   kiln tokenize --tokenizer tokenizer.json "Hello world"     ids, one per line
 *   kiln tokenize --tokenizer tokenizer.json --decode 1,15043  the text
 *   kiln tokenize --tokenizer tokenizer.json -- "-starts with a dash"
 *   kiln tokenize --tokenizer tokenizer.json --batch lines.txt many at once
 *
 * The tokenizer is packed in memory exactly as `kiln compile` packs it
 * into an artifact, and run by the runtime's own code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fe_tokenizer.h"
#include "rt_tokenizer.h"

static void help(void) {
  printf(
      "usage: kiln tokenize --tokenizer PATH [--add-special] [--show] [--] TEXT\n"
      "       kiln tokenize --tokenizer PATH --decode IDS [--skip-special]\n"
      "       kiln tokenize --tokenizer PATH --batch FILE [--add-special]\n"
      "       kiln tokenize --tokenizer PATH --decode-batch FILE [--skip-special]\n"
      "       kiln tokenize --tokenizer PATH --pack OUT\n\n"
      "Encodes TEXT ('-' reads stdin, byte for byte) and prints its ids, one per line.\n\n"
      "  --tokenizer PATH     a tokenizer.json, or a blob written by --pack\n"
      "  --add-special        add the post-processor's special tokens (BOS/EOS); by\n"
      "                       default none are added (special tokens written in the\n"
      "                       text are recognized either way)\n"
      "  --show               print each id with its piece, quoted (bytes that are\n"
      "                       not UTF-8 as \\xHH)\n"
      "  --decode IDS         print the text of IDS (\"1,2,3\" or \"1 2 3\")\n"
      "  --skip-special       leave special tokens out of the decoded text\n"
      "  --batch FILE         encode each line of FILE: a JSON string (\"a\\tb\"), or\n"
      "                       hex:HEX for raw bytes; print a line of ids (space\n"
      "                       separated) per line\n"
      "  --decode-batch FILE  decode each line of ids of FILE; print a JSON string per line\n"
      "  --pack OUT           write the packed tokenizer (the blob artifacts embed)\n"
      "  --                   the end of the options: TEXT may start with '-'\n"
      "  --help, --version\n\n"
      "Text that is not valid UTF-8 is read with each bad sequence as U+FFFD.\n");
}

typedef struct {
  const char *tokenizer, *text, *decode, *batch, *decode_batch, *pack;
  bool add_special, skip_special, show;
} TokArgs;

/* Reads the flags into o; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, TokArgs *o) {
  CliArgs a = cli_args(argc, argv, "tokenize");
  bool options = true;
  while (cli_next(&a)) {
    const char *v;
    if (options && cli_flag(&a, "--")) options = false;
    else if (options && cli_flag(&a, "--help")) return help(), 0;
    else if (options && cli_flag(&a, "--version")) return cli_version();
    else if (options && cli_value(&a, "--tokenizer", &v)) o->tokenizer = v;
    else if (options && cli_value(&a, "--decode", &v)) o->decode = v;
    else if (options && cli_value(&a, "--batch", &v)) o->batch = v;
    else if (options && cli_value(&a, "--decode-batch", &v)) o->decode_batch = v;
    else if (options && cli_value(&a, "--pack", &v)) o->pack = v;
    else if (options && cli_flag(&a, "--add-special")) o->add_special = true;
    else if (options && cli_flag(&a, "--skip-special")) o->skip_special = true;
    else if (options && cli_flag(&a, "--show")) o->show = true;
    else if (options && cli_is_option(&a)) return cli_unknown(&a);
    else if (o->text) return cli_usage_error("tokenize", "more than one TEXT; quote the text");
    else o->text = a.arg;
  }
  if (a.failed) return 1;
  if (!o->tokenizer) return cli_usage_error("tokenize", "--tokenizer PATH is required");
  int modes = !!o->text + !!o->decode + !!o->batch + !!o->decode_batch + !!o->pack;
  if (modes != 1)
    return cli_usage_error("tokenize", "give one of TEXT, --decode, --batch, --decode-batch, "
                                       "--pack; see 'kiln tokenize --help'");
  return -1;
}

/* ---- output -------------------------------------------------------------- */

/* s as a JSON string: quotes, backslashes and control characters
 * escaped; with raw_bytes, bytes that are not UTF-8 (a piece may be part
 * of a character) as \xHH, which JSON does not have. */
static void print_quoted(const uint8_t *s, size_t n, bool raw_bytes) {
  putchar('"');
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    uint32_t cp;
    int r = c < 0x80 ? 1 : rt_utf8_next(s + i, n - i, &cp);
    if (r <= 0 && raw_bytes) printf("\\x%02X", c);
    else if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c == '\t') fputs("\\t", stdout);
    else if (c == '\r') fputs("\\r", stdout);
    else if (c < 0x20 || c == 0x7F) printf("\\u%04x", c);
    else fwrite(s + i, 1, r > 0 ? (size_t)r : 1, stdout);
    i += r > 0 ? (size_t)r : 1;
  }
  putchar('"');
}

static void print_ids(const RtTokenizer *t, const RtTokIds *ids, bool show) {
  for (size_t i = 0; i < ids->n; i++) {
    printf("%d", ids->ids[i]);
    if (show) {
      size_t len;
      const uint8_t *piece = rt_tok_piece(t, ids->ids[i], &len);
      putchar('\t');
      print_quoted(piece, len, true);
    }
    putchar('\n');
  }
}

/* ---- input --------------------------------------------------------------- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

/* The 4 hex digits at s, or -1. */
static long hex4(const char *s) {
  long v = 0;
  for (int k = 0; k < 4; k++) {
    int d = hex_value(s[k]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

static void append_cp(RtBytes *out, uint32_t cp) {
  uint8_t buf[4];
  rt_bytes_append(out, buf, (size_t)rt_utf8_encode(cp, buf));
}

/* A \u escape at s (after the backslash); lone surrogates read as U+FFFD,
 * as JavaScript's TextEncoder writes them. Returns the characters used. */
static int unicode_escape(const char *s, RtBytes *out) {
  long u = hex4(s + 1);
  if (u < 0) return -1;
  if (u >= 0xD800 && u <= 0xDBFF && s[5] == '\\' && s[6] == 'u') {
    long lo = hex4(s + 7);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      append_cp(out, 0x10000 + (uint32_t)((u - 0xD800) << 10 | (lo - 0xDC00)));
      return 11;
    }
  }
  append_cp(out, u >= 0xD800 && u <= 0xDFFF ? RT_REPLACEMENT_CHAR : (uint32_t)u);
  return 5;
}

/* A JSON string literal (the whole line) into out; false if malformed. */
static bool parse_json_string(const char *s, RtBytes *out) {
  if (*s++ != '"') return false;
  for (; *s != '"'; s++) {
    if (!*s) return false;
    if (*s != '\\') {
      rt_bytes_push(out, (uint8_t)*s);
      continue;
    }
    const char *esc = strchr("\"\\/bfnrt", s[1]);
    if (s[1] && esc) {
      rt_bytes_push(out, (uint8_t)"\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"]);
      s++;
    } else if (s[1] == 'u') {
      int used = unicode_escape(s + 1, out);
      if (used < 0) return false;
      s += used;
    } else {
      return false;
    }
  }
  return s[1] == '\0';
}

/* "hex:e4b8" -> bytes. */
static bool parse_hex(const char *s, RtBytes *out) {
  for (; s[0] && s[1]; s += 2) {
    int hi = hex_value(s[0]), lo = hex_value(s[1]);
    if (hi < 0 || lo < 0) return false;
    rt_bytes_push(out, (uint8_t)(hi * 16 + lo));
  }
  return s[0] == '\0';
}

/* "1,2, 3" or "1 2 3" -> ids. */
static bool parse_ids(const char *s, RtTokIds *out) {
  while (*s) {
    while (*s == ' ' || *s == ',' || *s == '\t') s++;
    if (!*s) break;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < INT32_MIN || v > INT32_MAX) return false;
    if (out->n == out->cap) {
      out->cap = out->cap ? 2 * out->cap : 64;
      out->ids = realloc(out->ids, out->cap * sizeof *out->ids);
      if (!out->ids) abort();
    }
    out->ids[out->n++] = (int32_t)v;
    s = end;
  }
  return true;
}

/* ---- the tokenizer ------------------------------------------------------- */

/* tokenizer.json (packed here) or a blob from --pack. *blob is the memory
 * to free after the tokenizer. */
static RtTokenizer *load_tokenizer(const char *path, uint8_t **blob, size_t *bytes) {
  IrDiag d = {0};
  size_t len;
  char *text = cli_read_file(path, &len, &d);
  if (!text) return cli_fail("tokenize", &d), NULL;
  if (len >= 8 && memcmp(text, RT_TOK_MAGIC, 8) == 0) { /* malloc'd, so 8-byte aligned */
    *blob = (uint8_t *)text;
    *bytes = len;
  } else {
    bool ok = fe_tokenizer_pack(text, len, path, blob, bytes, &d);
    free(text);
    if (!ok) return cli_fail("tokenize", &d), NULL;
  }
  char err[512];
  RtTokenizer *t = rt_tok_load(*blob, *bytes, err, sizeof err);
  if (!t) {
    fprintf(stderr, "%s: error: %s\n", path, err);
    free(*blob);
  }
  return t;
}

/* ---- the modes ----------------------------------------------------------- */

static int encode_text(const RtTokenizer *t, const TokArgs *o) {
  RtTokIds ids = {0};
  if (strcmp(o->text, "-") == 0) {
    IrDiag d = {0};
    size_t len;
    char *in = cli_read_file("-", &len, &d);
    if (!in) return cli_fail("tokenize", &d);
    rt_tok_encode(t, in, len, o->add_special, &ids);
    free(in);
  } else {
    rt_tok_encode(t, o->text, strlen(o->text), o->add_special, &ids);
  }
  print_ids(t, &ids, o->show);
  free(ids.ids);
  return 0;
}

static int decode_ids(const RtTokenizer *t, const char *list, bool skip_special) {
  RtTokIds ids = {0};
  if (!parse_ids(list, &ids)) {
    free(ids.ids);
    return cli_usage_error("tokenize", "--decode expects ids like 1,2,3");
  }
  char err[256];
  size_t len;
  char *text = rt_tok_decode(t, ids.ids, ids.n, skip_special, &len, err, sizeof err);
  free(ids.ids);
  if (!text) return cli_usage_error("tokenize", "%s", err);
  fwrite(text, 1, len, stdout);
  putchar('\n');
  free(text);
  return 0;
}

/* Calls line_fn on each line of path (without its newline). */
typedef int (*LineFn)(const RtTokenizer *t, const TokArgs *o, char *line, const char *where);
static int each_line(const RtTokenizer *t, const TokArgs *o, const char *path, LineFn line_fn) {
  IrDiag d = {0};
  size_t len;
  char *text = cli_read_file(path, &len, &d);
  if (!text) return cli_fail("tokenize", &d);
  int status = 0, line_no = 1;
  for (char *line = text; status == 0 && line < text + len; line_no++) {
    char *nl = memchr(line, '\n', (size_t)(text + len - line));
    char *end = nl ? nl : text + len;
    *end = '\0';
    char where[600];
    snprintf(where, sizeof where, "%s:%d", path, line_no);
    status = line_fn(t, o, line, where);
    line = end + 1;
  }
  free(text);
  return status;
}

static int batch_encode_line(const RtTokenizer *t, const TokArgs *o, char *line,
                             const char *where) {
  RtBytes in = {0};
  bool ok = strncmp(line, "hex:", 4) == 0 ? parse_hex(line + 4, &in) : parse_json_string(line, &in);
  if (!ok) {
    free(in.data);
    fprintf(stderr, "%s: error: expected a JSON string or hex:BYTES\n", where);
    return 1;
  }
  RtTokIds ids = {0};
  rt_tok_encode(t, (const char *)in.data, in.len, o->add_special, &ids);
  for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", ids.ids[i]);
  putchar('\n');
  free(ids.ids);
  free(in.data);
  return 0;
}

static int batch_decode_line(const RtTokenizer *t, const TokArgs *o, char *line,
                             const char *where) {
  RtTokIds ids = {0};
  char err[256];
  size_t len;
  char *text = NULL;
  if (parse_ids(line, &ids))
    text = rt_tok_decode(t, ids.ids, ids.n, o->skip_special, &len, err, sizeof err);
  else
    snprintf(err, sizeof err, "expected ids separated by spaces or commas");
  free(ids.ids);
  if (!text) {
    fprintf(stderr, "%s: error: %s\n", where, err);
    return 1;
  }
  print_quoted((const uint8_t *)text, len, false);
  putchar('\n');
  free(text);
  return 0;
}

static int pack(const uint8_t *blob, size_t bytes, const char *out) {
  IrDiag d = {0};
  return cli_write_file(out, blob, bytes, &d) ? 0 : cli_fail("tokenize", &d);
}

int cmd_tokenize(int argc, char **argv) {
  TokArgs o = {0};
  int status = parse_flags(argc, argv, &o);
  if (status >= 0) return status;
  uint8_t *blob;
  size_t bytes;
  RtTokenizer *t = load_tokenizer(o.tokenizer, &blob, &bytes);
  if (!t) return 1;
  if (o.text) status = encode_text(t, &o);
  else if (o.decode) status = decode_ids(t, o.decode, o.skip_special);
  else if (o.batch) status = each_line(t, &o, o.batch, batch_encode_line);
  else if (o.decode_batch) status = each_line(t, &o, o.decode_batch, batch_decode_line);
  else status = pack(blob, bytes, o.pack);
  rt_tok_free(t);
  free(blob);
  if (fflush(stdout) != 0) return cli_usage_error("tokenize", "cannot write the output");
  return status;
}
