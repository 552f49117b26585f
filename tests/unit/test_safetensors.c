/* test_safetensors.c: the safetensors reader and weight binding.
 *
 * Writes small valid and corrupt files into a temporary directory and
 * checks that each valid one reads back exactly and each corrupt one gets
 * its exact error message (file, tensor, what was expected). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fe.h"
#include "interp.h"

static char dir[64];

static const char *in_dir(const char *name) {
  static char buf[4][256];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, 256, "%s/%s", dir, name);
  return b;
}

static void write_bytes(const char *name, const void *bytes, size_t n) {
  FILE *f = fopen(in_dir(name), "wb");
  if (!f || fwrite(bytes, 1, n, f) != n) {
    perror(name);
    exit(2);
  }
  fclose(f);
}

/* A safetensors file: the 8-byte length (hlen, normally strlen(header)),
 * the header, then n bytes of data. */
static void write_st_len(const char *name, uint64_t hlen, const char *header, const void *data,
                         size_t n) {
  size_t h = strlen(header);
  unsigned char *buf = calloc(1, 8 + h + n + 1);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(buf + 8, header, h);
  if (n) memcpy(buf + 8 + h, data, n);
  write_bytes(name, buf, 8 + h + n);
  free(buf);
}

static void write_st(const char *name, const char *header, const void *data, size_t n) {
  write_st_len(name, strlen(header), header, data, n);
}

static void write_text(const char *name, const char *text) {
  write_bytes(name, text, strlen(text));
}

/* Opens `name` in the temp dir; expects failure with exactly `want`. */
static void expect_error(const char *name, const char *want) {
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(in_dir(name), &d);
  CHECK(w == NULL);
  CHECK(d.failed);
  if (strcmp(d.msg, want) != 0) {
    check_failures++;
    fprintf(stderr, "open %s:\n  got  \"%s\"\n  want \"%s\"\n", name, d.msg, want);
  }
  check_count++;
  fe_weights_close(w);
}

/* ---- valid files ------------------------------------------------------- */

/* a: F32[2, 2] = 1, -2, 0.5, 3; b: BF16[3] = 1.5, -2, 0; c: F16[2] =
 * 65504 (the largest half), 2^-24 (the smallest subnormal). */
static const char *valid_header =
    "{\"__metadata__\": {\"format\": \"pt\"}, "
    "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
    "\"b\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [16, 22]}, "
    "\"c\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [22, 26]}}   ";

static void valid_data(unsigned char *data) {
  float a[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  memcpy(data, a, 16); /* the test host is little-endian, like the format */
  const unsigned char b[6] = {0xc0, 0x3f, 0x00, 0xc0, 0x00, 0x00};
  memcpy(data + 16, b, 6);
  const unsigned char c[4] = {0xff, 0x7b, 0x01, 0x00};
  memcpy(data + 22, c, 4);
}

static void test_valid_single(void) {
  unsigned char data[26];
  valid_data(data);
  write_st("model.safetensors", valid_header, data, sizeof data);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(in_dir("model.safetensors"), &d);
  CHECK(w != NULL);
  if (!w) {
    fprintf(stderr, "%s\n", d.msg);
    return;
  }
  CHECK(fe_weights_count(w) == 3);
  CHECK(strcmp(fe_weights_name(w), "model.safetensors") == 0);
  const FeTensor *a = fe_weights_find(w, "a"), *b = fe_weights_find(w, "b");
  CHECK(a && a->dtype == IR_F32 && a->rank == 2 && a->shape[0] == 2 && a->shape[1] == 2);
  CHECK(a && a->nbytes == 16 && memcmp(a->data, data, 16) == 0);
  CHECK(a && strcmp(a->file, "model.safetensors") == 0);
  CHECK(b && b->dtype == IR_BF16 && b->rank == 1 && b->shape[0] == 3 && b->nbytes == 6);
  CHECK(fe_weights_find(w, "__metadata__") == NULL);
  CHECK(fe_weights_find(w, "z") == NULL);
  char buf[64];
  CHECK(strcmp(fe_tensor_describe(a, buf, sizeof buf), "F32[2, 2]") == 0);
  /* sorted by name */
  CHECK(strcmp(fe_weights_at(w, 0)->name, "a") == 0 && strcmp(fe_weights_at(w, 2)->name, "c") == 0);
  CHECK(fe_weights_at(w, 3) == NULL);
  fe_weights_close(w);

  /* A directory means its model.safetensors. */
  w = fe_weights_open(dir, &d);
  CHECK(w && fe_weights_count(w) == 3);
  fe_weights_close(w);
}

/* Scalars, empty tensors (zero bytes may share an offset), U8, I8, I64,
 * and an empty header are all valid. */
static void test_valid_edge_cases(void) {
  unsigned char data[16] = {200, 0xfe, 7, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0};
  write_st("edge.safetensors",
           "{\"u\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
           "\"i\": {\"dtype\": \"I8\", \"shape\": [1], \"data_offsets\": [1, 2]},"
           "\"e\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [2, 2]},"
           "\"e2\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [2, 2]},"
           "\"l\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [2, 10]},"
           "\"s\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [10, 12]}}",
           data, sizeof data);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(in_dir("edge.safetensors"), &d);
  CHECK(w != NULL);
  if (!w) {
    fprintf(stderr, "%s\n", d.msg);
    return;
  }
  const FeTensor *u = fe_weights_find(w, "u"), *s = fe_weights_find(w, "s");
  CHECK(u && u->dtype == IR_I8 && u->is_unsigned);
  CHECK(s && s->rank == 0 && s->nbytes == 2);
  CHECK(fe_weights_find(w, "e") && fe_weights_find(w, "e")->nbytes == 0);
  char buf[64];
  CHECK(strcmp(fe_tensor_describe(u, buf, sizeof buf), "U8[1]") == 0);
  CHECK(strcmp(fe_tensor_describe(s, buf, sizeof buf), "BF16[]") == 0);
  fe_weights_close(w);

  write_st("empty.safetensors", "{}", NULL, 0);
  w = fe_weights_open(in_dir("empty.safetensors"), &d);
  CHECK(w && fe_weights_count(w) == 0 && fe_weights_find(w, "a") == NULL);
  fe_weights_close(w);
}

/* ---- corrupt files ----------------------------------------------------- */

static void test_truncated(void) {
  write_bytes("short.safetensors", "\x10\x00\x00\x00\x00", 5);
  expect_error("short.safetensors",
               "short.safetensors: error: file is 5 bytes, too short for the 8-byte header "
               "length (truncated?)");
  write_bytes("zero.safetensors", "", 0);
  expect_error("zero.safetensors",
               "zero.safetensors: error: file is 0 bytes, too short for the 8-byte header "
               "length (truncated?)");
  /* The header is whole but the data stops early. */
  unsigned char data[10] = {0};
  write_st("cut.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", data,
           sizeof data);
  expect_error("cut.safetensors",
               "cut.safetensors: error: tensor 'a': data_offsets [0, 16) run past the end of the "
               "data area (10 bytes)");
}

static void test_header_length(void) {
  /* 1234 bytes in all: 8 + 2 + 1224 */
  unsigned char pad[1224] = {0};
  write_st_len("long.safetensors", 9999999, "{}", pad, sizeof pad);
  expect_error("long.safetensors",
               "long.safetensors: error: header length 9999999 exceeds the file size 1234");
  /* 1234 bytes again: the length fits the file, not the file after it */
  write_st_len("pastend.safetensors", 1230, "{}", pad, sizeof pad);
  expect_error("pastend.safetensors",
               "pastend.safetensors: error: header length 1230 runs past the end of the file (1234 "
               "bytes, the header starts at byte 8)");
  write_st_len("huge.safetensors", 200000000, "{}", NULL, 0);
  expect_error("huge.safetensors",
               "huge.safetensors: error: header length 200000000 exceeds the bound of 100000000 "
               "bytes");
  write_st_len("max.safetensors", UINT64_MAX, "{}", NULL, 0);
  expect_error("max.safetensors",
               "max.safetensors: error: header length 18446744073709551615 exceeds the bound of "
               "100000000 bytes");
}

static void test_bad_json(void) {
  write_st("json.safetensors", "{\"a\" 1}", NULL, 0);
  expect_error("json.safetensors",
               "json.safetensors: error: header is not valid JSON (at byte 5 of the header)");
  write_st("array.safetensors", "[1, 2]", NULL, 0);
  expect_error("array.safetensors", "array.safetensors: error: header is not a JSON object");
  write_st("trail.safetensors", "{} x", NULL, 0);
  expect_error("trail.safetensors",
               "trail.safetensors: error: header has bytes after the JSON object (at byte 2 of "
               "the header)");
  write_st("entry.safetensors", "{\"a\": 3}", NULL, 0);
  expect_error("entry.safetensors",
               "entry.safetensors: error: tensor 'a': expected an object with \"dtype\", "
               "\"shape\" and \"data_offsets\"");
  write_st("meta.safetensors", "{\"__metadata__\": 3}", NULL, 0);
  expect_error("meta.safetensors", "meta.safetensors: error: \"__metadata__\" must be an object");
  write_st("twice.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]},"
           " \"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [4, 8]}}",
           "\0\0\0\0\0\0\0\0", 8);
  expect_error("twice.safetensors",
               "twice.safetensors: error: tensor 'a' appears twice in the header");
}

static void test_bad_fields(void) {
  write_st("dtype.safetensors",
           "{\"a\": {\"dtype\": \"F99\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "\0\0\0\0",
           4);
  expect_error("dtype.safetensors", "dtype.safetensors: error: tensor 'a': unknown dtype 'F99'");
  write_st("f64.safetensors",
           "{\"a\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}",
           "\0\0\0\0\0\0\0\0", 8);
  expect_error("f64.safetensors",
               "f64.safetensors: error: tensor 'a': dtype F64 is not supported (kiln reads F32, "
               "F16, BF16, I8, U8, I32 and I64)");
  write_st("nodtype.safetensors", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "\0\0\0\0",
           4);
  expect_error("nodtype.safetensors",
               "nodtype.safetensors: error: tensor 'a': \"dtype\" must be a string");
  write_st("shape.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 4]}}",
           "\0\0\0\0", 4);
  expect_error("shape.safetensors",
               "shape.safetensors: error: tensor 'a': shape[1] must be a non-negative integer");
  write_st(
      "rank.safetensors",
      "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}",
      "\0\0\0\0", 4);
  expect_error("rank.safetensors",
               "rank.safetensors: error: tensor 'a': \"shape\" must be an array of at most 8 dims");
  write_st("offs.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", "\0\0\0\0",
           4);
  expect_error("offs.safetensors",
               "offs.safetensors: error: tensor 'a': \"data_offsets\" must be [begin, end] with 0 "
               "<= begin <= end");
  write_st("offs2.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0.5, 4]}}", "\0\0\0\0",
           4);
  expect_error("offs2.safetensors",
               "offs2.safetensors: error: tensor 'a': \"data_offsets\" must be [begin, end] with 0 "
               "<= begin <= end");
  /* numel x 2 bytes overflows 64 bits */
  write_st("big.safetensors",
           "{\"a\": {\"dtype\": \"F16\", \"shape\": [4294967296, 4294967296], "
           "\"data_offsets\": [0, 4]}}",
           "\0\0\0\0", 4);
  expect_error("big.safetensors",
               "big.safetensors: error: tensor 'a': F16[4294967296, 4294967296] has more bytes "
               "than fit in 64 bits");
}

static void test_bad_ranges(void) {
  unsigned char data[256] = {0};
  write_st("range.safetensors",
           "{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [64], \"data_offsets\": [100, "
           "228]}}",
           data, sizeof data);
  expect_error("range.safetensors",
               "range.safetensors: error: tensor 'model.norm.weight': data_offsets [100, 228) hold "
               "128 bytes, expected 256 for F32[64]");
  write_st("outside.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [64], \"data_offsets\": [128, 384]}}", data,
           sizeof data);
  expect_error(
      "outside.safetensors",
      "outside.safetensors: error: tensor 'a': data_offsets [128, 384) run past the end of "
      "the data area (256 bytes)");
  write_st("overlap.safetensors",
           "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
           " \"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [16, 32]},"
           " \"b\": {\"dtype\": \"BF16\", \"shape\": [8], \"data_offsets\": [24, 40]}}",
           data, sizeof data);
  expect_error("overlap.safetensors",
               "overlap.safetensors: error: tensors 'a' [16, 32) and 'b' [24, 40) overlap");
  /* A tensor inside another one, after a third that ends before both. */
  write_st("inside.safetensors",
           "{\"big\": {\"dtype\": \"F32\", \"shape\": [16], \"data_offsets\": [0, 64]},"
           " \"small\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
           data, sizeof data);
  expect_error("inside.safetensors",
               "inside.safetensors: error: tensors 'big' [0, 64) and 'small' [8, 12) overlap");
}

static void test_paths(void) {
  IrDiag d = {0};
  char want[512];
  snprintf(want, sizeof want, "%s: error: cannot open: No such file or directory",
           in_dir("nothing.safetensors"));
  CHECK(fe_weights_open(in_dir("nothing.safetensors"), &d) == NULL);
  CHECK(strcmp(d.msg, want) == 0);
  mkdir(in_dir("emptydir"), 0700);
  d = (IrDiag){0};
  snprintf(want, sizeof want,
           "%s: error: no model.safetensors or model.safetensors.index.json here",
           in_dir("emptydir"));
  CHECK(fe_weights_open(in_dir("emptydir"), &d) == NULL);
  CHECK(strcmp(d.msg, want) == 0);
  rmdir(in_dir("emptydir"));
}

/* ---- sharded checkpoints ------------------------------------------------ */

static const char *shard1 =
    "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}";
static const char *shard2 =
    "{\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}";

static void test_sharded(void) {
  mkdir(in_dir("sh"), 0700);
  write_st("sh/s1.safetensors", shard1, "\0\0\x80\x3f", 4);
  write_st("sh/s2.safetensors", shard2, "\0\0\0\x40", 4);
  write_text("sh/model.safetensors.index.json",
             "{\"metadata\": {\"total_size\": 8}, \"weight_map\": "
             "{\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}");
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(in_dir("sh"), &d);
  CHECK(w != NULL);
  if (w) {
    CHECK(fe_weights_count(w) == 2);
    CHECK(strcmp(fe_weights_name(w), "model.safetensors.index.json") == 0);
    const FeTensor *b = fe_weights_find(w, "b");
    CHECK(b && strcmp(b->file, "s2.safetensors") == 0);
    float v = 0;
    if (b) memcpy(&v, b->data, 4);
    CHECK(v == 2.0f);
  } else {
    fprintf(stderr, "%s\n", d.msg);
  }
  fe_weights_close(w);

  write_text("sh/missing.index.json",
             "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s3.safetensors\"}}");
  expect_error("sh/missing.index.json",
               "missing.index.json: error: weight_map names shard 's3.safetensors' (for tensor "
               "'b'), which does not exist");
  write_st("sh/dup.safetensors", shard1, "\0\0\0\0", 4);
  write_text("sh/dup.index.json",
             "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"dup.safetensors\"}}");
  expect_error("sh/dup.index.json",
               "dup.index.json: error: tensor 'a' appears in two shards, 's1.safetensors' and "
               "'dup.safetensors'");
  write_text("sh/wrong.index.json",
             "{\"weight_map\": {\"a\": \"s2.safetensors\", \"b\": \"s2.safetensors\"}}");
  expect_error("sh/wrong.index.json",
               "wrong.index.json: error: weight_map puts tensor 'a' in 's2.safetensors', which "
               "does not hold it");
  write_text("sh/escape.index.json", "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}");
  expect_error("sh/escape.index.json",
               "escape.index.json: error: at $.weight_map.a: expected the file name of a shard, "
               "next to the index");
  write_text("sh/nomap.index.json", "{\"metadata\": {}}");
  expect_error("sh/nomap.index.json",
               "nomap.index.json: error: at $.weight_map: expected an object mapping tensor names "
               "to shards");
  write_text("sh/bad.index.json", "{\"weight_map\": ");
  expect_error("sh/bad.index.json", "bad.index.json: error: not valid JSON (at byte 14)");
  /* An error inside a shard names the shard. */
  write_st("sh/s4.safetensors",
           "{\"c\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", "\0", 1);
  write_text("sh/s4.index.json", "{\"weight_map\": {\"c\": \"s4.safetensors\"}}");
  expect_error("sh/s4.index.json", "s4.safetensors: error: tensor 'c': unknown dtype 'Q4'");
}

/* ---- checking and binding against a module ----------------------------- */

static const char *module_text =
    "module @m {\n"
    "  param @a : f32[2, 2]\n"
    "  param @b : bf16[3]\n"
    "  param @c : f16[2]\n"
    "  func @f(%x: f32[2, 2], %y: f32[3], %z: f32[2]) -> (f32[2, 2], bf16[3], f16[2]) {\n"
    "    %a = add(%x, @a) : f32[2, 2]\n"
    "    %yb = cast(%y) : bf16[3]\n"
    "    %b = add(%yb, @b) : bf16[3]\n"
    "    %zh = cast(%z) : f16[2]\n"
    "    %c = add(%zh, @c) : f16[2]\n"
    "    return %a, %b, %c\n"
    "  }\n"
    "}\n";

static IrModule *parse_module(const char *text) {
  IrDiag d = {0};
  IrModule *m = ir_parse(text, strlen(text), "test.kir", &d);
  if (!m || !ir_verify(m, &d)) {
    fprintf(stderr, "%s\n", d.msg);
    ir_module_free(m);
    return NULL;
  }
  return m;
}

static void expect_check(const IrModule *m, const char *file, const char *header,
                         const char *want) {
  unsigned char data[64] = {0};
  write_st(file, header, data, sizeof data);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(in_dir(file), &d);
  CHECK(w != NULL);
  if (!w) return;
  bool ok = fe_check_weights(m, w, &d);
  if (!want) {
    CHECK(ok);
    if (!ok) fprintf(stderr, "%s\n", d.msg);
  } else {
    CHECK(!ok);
    if (strcmp(d.msg, want) != 0) {
      check_failures++;
      fprintf(stderr, "check %s:\n  got  \"%s\"\n  want \"%s\"\n", file, d.msg, want);
    }
    check_count++;
  }
  fe_weights_close(w);
}

#define A_F32 "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}"
#define B_BF16 "\"b\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [16, 22]}"
#define C_F16 "\"c\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [22, 26]}"

static void test_check(const IrModule *m) {
  expect_check(m, "ok.safetensors", "{" A_F32 ", " B_BF16 ", " C_F16 "}", NULL);
  /* GPT-2's causal-mask buffers and rotary inv_freq are known extras. */
  expect_check(
      m, "buffers.safetensors",
      "{" A_F32 ", " B_BF16 ", " C_F16
      ", \"h.0.attn.bias\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [32, 36]}"
      ", \"h.0.attn.masked_bias\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [36, 40]}"
      ", \"model.layers.0.self_attn.rotary_emb.inv_freq\": {\"dtype\": \"F32\", \"shape\": [1], "
      "\"data_offsets\": [40, 44]}}",
      NULL);
  expect_check(
      m, "extra.safetensors",
      "{" A_F32 ", " B_BF16 ", " C_F16
      ", \"lm_head.weight\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [32, 36]}}",
      "extra.safetensors: error: unexpected tensor 'lm_head.weight' not used by the @m graph");
  expect_check(m, "miss1.safetensors", "{" A_F32 ", " C_F16 "}",
               "miss1.safetensors: error: missing tensor: b");
  expect_check(m, "miss3.safetensors", "{}", "miss3.safetensors: error: missing tensors: a, b, c");
  expect_check(m, "shape.safetensors",
               "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, " B_BF16
               ", " C_F16 "}",
               "shape.safetensors: error: tensor 'a' is F32[4], expected F32[2, 2]");
  expect_check(m, "dtype.safetensors",
               "{" A_F32
               ", \"b\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [16, 22]}, " C_F16
               "}",
               "dtype.safetensors: error: tensor 'b' is F16[3], expected BF16[3]");
}

static void test_missing_many(void) {
  const char *text =
      "module @big {\n"
      "  param @w0 : f32[1]\n  param @w1 : f32[1]\n  param @w2 : f32[1]\n  param @w3 : f32[1]\n"
      "  param @w4 : f32[1]\n  param @w5 : f32[1]\n  param @w6 : f32[1] = [1.0]\n"
      "  func @f(%x: f32[1]) -> f32[1] {\n"
      "    %a = add(%x, @w0) : f32[1]\n    %b = add(%a, @w1) : f32[1]\n"
      "    %c = add(%b, @w2) : f32[1]\n    %d = add(%c, @w3) : f32[1]\n"
      "    %e = add(%d, @w4) : f32[1]\n    %f = add(%e, @w5) : f32[1]\n"
      "    %g = add(%f, @w6) : f32[1]\n    return %g\n  }\n}\n";
  IrModule *m = parse_module(text);
  CHECK(m != NULL);
  if (!m) return;
  /* w6 has an inline initializer: not expected in the checkpoint. */
  expect_check(m, "many.safetensors",
               "{\"w2\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
               "many.safetensors: error: missing tensors: w0, w1, w3, w4 (and 1 more)");
  ir_module_free(m);
}

static void test_bind(const IrModule *m) {
  unsigned char data[26];
  valid_data(data);
  write_st("bind.safetensors", valid_header, data, sizeof data);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(in_dir("bind.safetensors"), &d);
  IrInterp *it = w ? ir_interp_new(m, &d) : NULL;
  CHECK(it != NULL);
  if (!it || !fe_bind_weights(it, m, w, &d)) {
    fprintf(stderr, "%s\n", d.msg);
    check_failures++;
    ir_interp_free(it);
    fe_weights_close(w);
    return;
  }
  IrTensor in[3] = {ir_tensor_new(IR_F32, 2, (int64_t[]){2, 2}),
                    ir_tensor_new(IR_F32, 1, (int64_t[]){3}),
                    ir_tensor_new(IR_F32, 1, (int64_t[]){2})};
  int64_t syms[IR_MAX_SYMS];
  ir_interp_syms_unset(syms);
  IrTensor *outs = NULL;
  int nout = 0;
  CHECK(ir_interp_call(it, "f", syms, in, 3, &outs, &nout, &d));
  if (nout == 3) {
    const float want_a[4] = {1.0f, -2.0f, 0.5f, 3.0f}, want_b[3] = {1.5f, -2.0f, 0.0f};
    for (int i = 0; i < 4; i++) CHECK(outs[0].f[i] == want_a[i]);
    for (int i = 0; i < 3; i++) CHECK(outs[1].f[i] == want_b[i]);
    CHECK(outs[2].f[0] == 65504.0f);
    CHECK(outs[2].f[1] == ldexpf(1.0f, -24));
  }
  ir_tensors_free(outs, nout);
  for (int i = 0; i < 3; i++) ir_tensor_free(&in[i]);
  ir_interp_free(it);
  fe_weights_close(w);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/kiln_st_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  test_valid_single();
  test_valid_edge_cases();
  test_truncated();
  test_header_length();
  test_bad_json();
  test_bad_fields();
  test_bad_ranges();
  test_paths();
  test_sharded();
  IrModule *m = parse_module(module_text);
  CHECK(m != NULL);
  if (m) {
    test_check(m);
    test_bind(m);
  }
  test_missing_many();
  ir_module_free(m);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_report();
}
