/* fe_tokenizer_steps.c: the normalizer, pre-tokenizer, post-processor and
 * decoder of tokenizer.json, each a "type" and its fields, nested in
 * Sequences. Each becomes blob ops (RtTokOp), post-processor ids, or
 * decoder steps the packer runs on every token. A type or option the
 * runtime does not implement is an error naming it. */
#include <stdio.h>
#include <string.h>

#include "fe_tok_internal.h"

/* The patterns the runtime implements, as tokenizer.json spells them. */
static const struct {
  const char *regex;
  uint32_t pattern;
} known_patterns[] = {
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
     RT_TOK_PAT_GPT2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
     "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     RT_TOK_PAT_LLAMA3},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
     "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     RT_TOK_PAT_LLAMA3},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
     "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     RT_TOK_PAT_QWEN2},
    {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
     "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
     "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     RT_TOK_PAT_GPT4O},
};

/* ---- shared --------------------------------------------------------------- */

/* The "type" of a step, one of `types`. */
static bool step_type(FeTok *t, const cJSON *v, const char *path, const char *const *types,
                      int *out) {
  if (!cJSON_IsObject(v)) return fe_json_error(&t->j, path, "expected an object, found %s", fe_json_kind(v));
  return fe_json_enum(&t->j, v, path, "type", FE_REQUIRED, types, out);
}

/* The array v[key], each item with its path, to `read`. */
typedef bool (*ItemFn)(FeTok *t, const cJSON *item, const char *path, void *ctx);
static bool each_item(FeTok *t, const cJSON *v, const char *path, const char *key, ItemFn read,
                      void *ctx) {
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, key);
  bool ok;
  const cJSON *list = fe_json_field(&t->j, v, path, key, FE_REQUIRED, "an array", &ok);
  if (!list) return false;
  if (!cJSON_IsArray(list)) return fe_json_error(&t->j, p, "expected an array, found %s", fe_json_kind(list));
  int k = 0;
  for (const cJSON *item = list->child; item; item = item->next, k++) {
    char ip[FE_JSON_PATH_MAX];
    fe_json_path_index(ip, p, k);
    if (!read(t, item, ip, ctx)) return false;
  }
  return true;
}

/* A required string field, UTF-8 checked. */
static bool str_field(FeTok *t, const cJSON *v, const char *path, const char *key,
                      const char **out) {
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, key);
  bool ok;
  const cJSON *s = fe_json_field(&t->j, v, path, key, FE_REQUIRED, "a string", &ok);
  return s && fe_tok_string(t, s, p, out);
}

/* A one-character string field (Metaspace's replacement, Strip's content). */
static bool char_field(FeTok *t, const cJSON *v, const char *path, const char *key,
                       const char **s, uint32_t *cp) {
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, key);
  if (!str_field(t, v, path, key, s)) return false;
  if (!fe_tok_one_char(*s, cp)) return fe_json_error(&t->j, p, "expected a single character");
  return true;
}

/* A Replace's pattern: {"String": s} (a Regex is not supported). */
static bool string_pattern(FeTok *t, const cJSON *v, const char *path, const char **out) {
  const cJSON *pat;
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, "pattern");
  if (!fe_json_obj(&t->j, v, path, "pattern", FE_REQUIRED, &pat)) return false;
  if (cJSON_GetObjectItemCaseSensitive(pat, "Regex"))
    return fe_json_error(&t->j, p, "a Regex pattern is not supported here (only {\"String\": ...})");
  if (!str_field(t, pat, p, "String", out)) return false;
  if (!**out) return fe_json_error(&t->j, p, "the pattern is empty");
  return true;
}

static bool add_op(FeTok *t, const char *path, RtTokOp op, bool normalizer) {
  if (t->n_norm_ops + t->n_pre_ops >= FE_TOK_MAX_OPS)
    return fe_json_error(&t->j, path, "more than %d normalizer and pre-tokenizer steps", FE_TOK_MAX_OPS);
  t->ops[t->n_norm_ops + t->n_pre_ops] = op;
  if (normalizer) t->n_norm_ops++;
  else t->n_pre_ops++;
  return true;
}

/* ---- normalizer ------------------------------------------------------------ */

static bool normalizer_item(FeTok *t, const cJSON *v, const char *path, void *ctx) {
  return fe_tok_read_normalizer(t, v, path);
}

bool fe_tok_read_normalizer(FeTok *t, const cJSON *v, const char *path) {
  static const char *const types[] = {"Sequence", "Prepend", "Replace", "NFC", NULL};
  if (!v) return true;
  int type;
  if (!step_type(t, v, path, types, &type)) return false;
  RtTokOp op = {0};
  const char *s, *to;
  switch (type) {
  case 0: return each_item(t, v, path, "normalizers", normalizer_item, NULL);
  case 1:
    if (!str_field(t, v, path, "prepend", &s)) return false;
    op.kind = RT_TOK_NORM_PREPEND;
    fe_tok_add_string(t, s, &op.a, &op.b);
    break;
  case 2:
    if (!string_pattern(t, v, path, &s) || !str_field(t, v, path, "content", &to)) return false;
    op.kind = RT_TOK_NORM_REPLACE;
    fe_tok_add_string(t, s, &op.a, &op.b);
    fe_tok_add_string(t, to, &op.c, &op.d);
    break;
  default: op.kind = RT_TOK_NORM_NFC;
  }
  return add_op(t, path, op, true);
}

/* ---- pre-tokenizer ----------------------------------------------------------- */

/* "\"...\"" with escapes, up to `limit` bytes of s. */
static void quote_long(char *buf, size_t size, const char *s) {
  size_t n = 0;
  buf[n++] = '"';
  for (; *s && n + 8 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
    else if (c < 0x20) n += (size_t)snprintf(buf + n, size - n, "\\u%04x", c);
    else buf[n++] = (char)c;
  }
  snprintf(buf + n, size - n, *s ? "...\"" : "\"");
}

static bool split_regex(FeTok *t, const cJSON *pat, const char *path, uint32_t *pattern) {
  const char *re;
  if (!str_field(t, pat, path, "Regex", &re)) return false;
  for (size_t i = 0; i < sizeof known_patterns / sizeof *known_patterns; i++) {
    if (strcmp(re, known_patterns[i].regex) == 0) {
      *pattern = known_patterns[i].pattern;
      return true;
    }
  }
  char q[420];
  quote_long(q, sizeof q, re);
  return fe_json_error(&t->j, path,
                       "unsupported split pattern %s; kiln implements the patterns of GPT-2, "
                       "Llama 3, Qwen 2 and GPT-4o",
                       q);
}

static bool read_split(FeTok *t, const cJSON *v, const char *path) {
  static const char *const behaviors[] = {"Removed", "Isolated", "MergedWithPrevious",
                                          "MergedWithNext", "Contiguous", NULL};
  const cJSON *pat;
  int behavior;
  bool invert = false;
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, "pattern");
  if (!fe_json_obj(&t->j, v, path, "pattern", FE_REQUIRED, &pat) ||
      !fe_json_enum(&t->j, v, path, "behavior", FE_REQUIRED, behaviors, &behavior) ||
      !fe_json_bool(&t->j, v, path, "invert", FE_OPTIONAL, &invert))
    return false;
  RtTokOp op = {0};
  if (cJSON_GetObjectItemCaseSensitive(pat, "Regex")) {
    op.kind = RT_TOK_PRE_SPLIT;
    if (!split_regex(t, pat, p, &op.a)) return false;
    op.b = (uint32_t)behavior;
    op.c = invert;
  } else {
    const char *s;
    if (!str_field(t, pat, p, "String", &s)) return false;
    if (!*s) return fe_json_error(&t->j, p, "the pattern is empty");
    op.kind = RT_TOK_PRE_SPLIT_STRING;
    fe_tok_add_string(t, s, &op.a, &op.b);
    op.c = (uint32_t)behavior;
    op.d = invert;
  }
  return add_op(t, path, op, false);
}

/* Metaspace's prepend_scheme, or the older add_prefix_space. */
static bool prepend_scheme(FeTok *t, const cJSON *v, const char *path, uint32_t *scheme) {
  static const char *const schemes[] = {"always", "first", "never", NULL};
  int s = RT_TOK_PREPEND_ALWAYS;
  bool add = true;
  if (cJSON_GetObjectItemCaseSensitive(v, "prepend_scheme")) {
    if (!fe_json_enum(&t->j, v, path, "prepend_scheme", FE_OPTIONAL, schemes, &s)) return false;
  } else {
    if (!fe_json_bool(&t->j, v, path, "add_prefix_space", FE_OPTIONAL, &add)) return false;
    s = add ? RT_TOK_PREPEND_ALWAYS : RT_TOK_PREPEND_NEVER;
  }
  *scheme = (uint32_t)s;
  return true;
}

static bool read_metaspace(FeTok *t, const cJSON *v, const char *path) {
  const char *rep = "\xE2\x96\x81"; /* ▁ */
  uint32_t cp;
  bool split = true;
  RtTokOp op = {.kind = RT_TOK_PRE_METASPACE};
  if (cJSON_GetObjectItemCaseSensitive(v, "replacement") &&
      !char_field(t, v, path, "replacement", &rep, &cp))
    return false;
  if (!prepend_scheme(t, v, path, &op.c) ||
      !fe_json_bool(&t->j, v, path, "split", FE_OPTIONAL, &split))
    return false;
  fe_tok_add_string(t, rep, &op.a, &op.b);
  op.d = split;
  return add_op(t, path, op, false);
}

static bool read_byte_level(FeTok *t, const cJSON *v, const char *path) {
  bool prefix = true, regex = true;
  if (!fe_json_bool(&t->j, v, path, "add_prefix_space", FE_OPTIONAL, &prefix) ||
      !fe_json_bool(&t->j, v, path, "use_regex", FE_OPTIONAL, &regex))
    return false;
  if (t->flags & RT_TOK_F_BYTE_LEVEL)
    return fe_json_error(&t->j, path, "a second ByteLevel pre-tokenizer");
  t->flags |= RT_TOK_F_BYTE_LEVEL;
  return add_op(t, path, (RtTokOp){RT_TOK_PRE_BYTE_LEVEL, prefix, regex, 0, 0}, false);
}

static bool pre_item(FeTok *t, const cJSON *v, const char *path, void *ctx) {
  static const char *const types[] = {"Sequence", "Split", "ByteLevel", "Metaspace", NULL};
  int type;
  if (!step_type(t, v, path, types, &type)) return false;
  /* The runtime splits raw bytes: nothing may come after ByteLevel. */
  if (t->flags & RT_TOK_F_BYTE_LEVEL)
    return fe_json_error(&t->j, path, "a pre-tokenizer after ByteLevel is not supported "
                                      "(ByteLevel must come last)");
  switch (type) {
  case 0: return each_item(t, v, path, "pretokenizers", pre_item, NULL);
  case 1: return read_split(t, v, path);
  case 2: return read_byte_level(t, v, path);
  default: return read_metaspace(t, v, path);
  }
}

bool fe_tok_read_pre_tokenizer(FeTok *t, const cJSON *v, const char *path) {
  return !v || pre_item(t, v, path, NULL);
}

/* ---- post-processor ----------------------------------------------------------- */

typedef struct {
  uint32_t prefix[FE_TOK_MAX_SPECIAL], suffix[FE_TOK_MAX_SPECIAL];
  uint32_t n_prefix, n_suffix;
  uint32_t n_tokens;
} Post;

static bool post_add(FeTok *t, Post *post, bool after, uint32_t id, const char *path) {
  if (id >= post->n_tokens)
    return fe_json_error(&t->j, path, "id %u is outside the vocabulary (%u tokens)", id, post->n_tokens);
  if (post->n_prefix + post->n_suffix >= FE_TOK_MAX_SPECIAL)
    return fe_json_error(&t->j, path, "more than %d special tokens", FE_TOK_MAX_SPECIAL);
  if (after) post->suffix[post->n_suffix++] = id;
  else post->prefix[post->n_prefix++] = id;
  return true;
}

/* {"SpecialToken": {"id": "<s>"}}: the ids special_tokens gives "<s>". */
static bool template_special(FeTok *t, const cJSON *item, const cJSON *specials, const char *path,
                             bool after, Post *post) {
  const char *name;
  if (!str_field(t, item, path, "id", &name)) return false;
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(specials, name);
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, "$.post_processor.special_tokens", name);
  if (!cJSON_IsObject(sp)) return fe_json_error(&t->j, p, "missing; the template uses it");
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
  char ip[FE_JSON_PATH_MAX];
  fe_json_path(ip, p, "ids");
  if (!cJSON_IsArray(ids)) return fe_json_error(&t->j, ip, "expected an array of ids");
  int k = 0;
  for (const cJSON *e = ids->child; e; e = e->next, k++) {
    char ep[FE_JSON_PATH_MAX];
    fe_json_path_index(ep, ip, k);
    int64_t id;
    if (!fe_json_int_value(&t->j, e, ep, 0, FE_TOK_MAX_ID, &id) ||
        !post_add(t, post, after, (uint32_t)id, ep))
      return false;
  }
  return true;
}

static bool read_template(FeTok *t, const cJSON *v, const char *path, Post *post) {
  const cJSON *single, *specials;
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, "single");
  bool ok;
  if (!(single = fe_json_field(&t->j, v, path, "single", FE_REQUIRED, "an array", &ok)) ||
      !fe_json_obj(&t->j, v, path, "special_tokens", FE_REQUIRED, &specials))
    return false;
  if (!cJSON_IsArray(single)) return fe_json_error(&t->j, p, "expected an array, found %s", fe_json_kind(single));
  bool seen_a = false;
  int k = 0;
  for (const cJSON *item = single->child; item; item = item->next, k++) {
    char ip[FE_JSON_PATH_MAX], sp[FE_JSON_PATH_MAX];
    fe_json_path_index(ip, p, k);
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(item, "Sequence");
    if (cJSON_IsObject(special)) {
      fe_json_path(sp, ip, "SpecialToken");
      if (!template_special(t, special, specials, sp, seen_a, post)) return false;
    } else if (cJSON_IsObject(seq)) {
      const char *id;
      fe_json_path(sp, ip, "Sequence");
      if (!str_field(t, seq, sp, "id", &id)) return false;
      if (strcmp(id, "A") != 0 || seen_a)
        return fe_json_error(&t->j, sp, "expected the sequence \"A\" once in the single template");
      seen_a = true;
    } else {
      return fe_json_error(&t->j, ip, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  if (!seen_a) return fe_json_error(&t->j, p, "the template has no sequence \"A\"");
  return true;
}

/* Roberta/BertProcessing: "cls": ["<s>", 0], "sep": ["</s>", 2]. */
static bool read_cls_sep(FeTok *t, const cJSON *v, const char *path, Post *post) {
  static const char *const keys[] = {"cls", "sep"};
  for (int i = 0; i < 2; i++) {
    char p[FE_JSON_PATH_MAX];
    fe_json_path(p, path, keys[i]);
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(v, keys[i]);
    int64_t id;
    if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2)
      return fe_json_error(&t->j, p, "expected [\"TOKEN\", ID]");
    if (!fe_json_int_value(&t->j, pair->child->next, p, 0, FE_TOK_MAX_ID, &id) ||
        !post_add(t, post, i == 1, (uint32_t)id, p))
      return false;
  }
  return true;
}

static bool read_post(FeTok *t, const cJSON *v, const char *path, Post *post);

/* Each processor of a Sequence wraps what the ones before it made. */
static bool post_item(FeTok *t, const cJSON *v, const char *path, void *ctx) {
  Post *outer = ctx, inner = {.n_tokens = outer->n_tokens};
  if (!read_post(t, v, path, &inner)) return false;
  if (outer->n_prefix + outer->n_suffix + inner.n_prefix + inner.n_suffix > FE_TOK_MAX_SPECIAL)
    return fe_json_error(&t->j, path, "more than %d special tokens", FE_TOK_MAX_SPECIAL);
  memmove(outer->prefix + inner.n_prefix, outer->prefix, outer->n_prefix * sizeof *outer->prefix);
  memcpy(outer->prefix, inner.prefix, inner.n_prefix * sizeof *inner.prefix);
  memcpy(outer->suffix + outer->n_suffix, inner.suffix, inner.n_suffix * sizeof *inner.suffix);
  outer->n_prefix += inner.n_prefix;
  outer->n_suffix += inner.n_suffix;
  return true;
}

static bool read_post(FeTok *t, const cJSON *v, const char *path, Post *post) {
  static const char *const types[] = {"TemplateProcessing", "ByteLevel", "RobertaProcessing",
                                      "BertProcessing", "Sequence", NULL};
  int type;
  if (!step_type(t, v, path, types, &type)) return false;
  switch (type) {
  case 0: return read_template(t, v, path, post);
  case 1: return true; /* only trims offsets */
  case 2:
  case 3: return read_cls_sep(t, v, path, post);
  default: return each_item(t, v, path, "processors", post_item, post);
  }
}

bool fe_tok_read_post_processor(FeTok *t, const cJSON *v, const char *path, uint32_t n_tokens) {
  Post post = {.n_tokens = n_tokens};
  if (v && !read_post(t, v, path, &post)) return false;
  memcpy(t->special, post.prefix, post.n_prefix * sizeof *post.prefix);
  memcpy(t->special + post.n_prefix, post.suffix, post.n_suffix * sizeof *post.suffix);
  t->n_prefix = post.n_prefix;
  t->n_suffix = post.n_suffix;
  return true;
}

/* ---- decoder -------------------------------------------------------------------- */

/* Where the chain stands: after Fuse, the text is one string, so only
 * steps that act alike on the pieces may follow. */
typedef struct {
  bool fused, stripped;
} Chain;

static bool add_dec(FeTok *t, const char *path, FeDecStep step) {
  if (t->n_dec >= FE_TOK_MAX_DEC)
    return fe_json_error(&t->j, path, "more than %d decoder steps", FE_TOK_MAX_DEC);
  t->dec[t->n_dec++] = step;
  return true;
}

static bool read_strip(FeTok *t, const cJSON *v, const char *path, Chain *c) {
  const char *s;
  uint32_t cp;
  int64_t start = 0, stop = 0;
  if (!char_field(t, v, path, "content", &s, &cp) ||
      !fe_json_int(&t->j, v, path, "start", FE_OPTIONAL, 0, 1 << 20, &start) ||
      !fe_json_int(&t->j, v, path, "stop", FE_OPTIONAL, 0, 1 << 20, &stop))
    return false;
  if (!c->fused) return add_dec(t, path, (FeDecStep){FE_DEC_STRIP, 0, 0, cp, (uint32_t)start, (uint32_t)stop});
  if (stop > 0)
    return fe_json_error(&t->j, path, "Strip with stop > 0 after Fuse is not supported (a stream "
                                      "cannot know its end)");
  t->decode_strip = (uint32_t)start;
  t->decode_strip_char = cp;
  c->stripped = true;
  return true;
}

static bool read_dec_metaspace(FeTok *t, const cJSON *v, const char *path) {
  const char *rep = "\xE2\x96\x81";
  uint32_t cp, scheme;
  if (cJSON_GetObjectItemCaseSensitive(v, "replacement") &&
      !char_field(t, v, path, "replacement", &rep, &cp))
    return false;
  if (!prepend_scheme(t, v, path, &scheme)) return false;
  if (scheme != RT_TOK_PREPEND_NEVER) t->decode_flags |= RT_TOK_D_FIRST_NO_SPACE;
  return add_dec(t, path, (FeDecStep){FE_DEC_METASPACE, rep, " ", 0, 0, 0});
}

static bool dec_item(FeTok *t, const cJSON *v, const char *path, void *ctx) {
  static const char *const types[] = {"Sequence", "ByteLevel", "Replace", "ByteFallback", "Fuse",
                                      "Strip", "Metaspace", NULL};
  Chain *c = ctx;
  int type;
  if (!step_type(t, v, path, types, &type)) return false;
  if (c->stripped && type != 0)
    return fe_json_error(&t->j, path, "%s after Fuse and Strip is not supported", types[type]);
  if (c->fused && type != 0 && type != 2 && type != 4 && type != 5)
    return fe_json_error(&t->j, path, "%s after Fuse is not supported", types[type]);
  const char *from, *to;
  switch (type) {
  case 0: return each_item(t, v, path, "decoders", dec_item, c);
  case 1: return add_dec(t, path, (FeDecStep){.kind = FE_DEC_BYTE_LEVEL});
  case 2: {
    uint32_t cp;
    if (!string_pattern(t, v, path, &from) || !str_field(t, v, path, "content", &to)) return false;
    if (c->fused && !fe_tok_one_char(from, &cp))
      return fe_json_error(&t->j, path, "Replace of more than one character after Fuse is not supported");
    return add_dec(t, path, (FeDecStep){FE_DEC_REPLACE, from, to, 0, 0, 0});
  }
  case 3: return add_dec(t, path, (FeDecStep){.kind = FE_DEC_BYTE_FALLBACK});
  case 4: c->fused = true; return true;
  case 5: return read_strip(t, v, path, c);
  default: return read_dec_metaspace(t, v, path);
  }
}

bool fe_tok_read_decoder(FeTok *t, const cJSON *v, const char *path) {
  if (!v) {
    t->decode_flags |= RT_TOK_D_JOIN_SPACE; /* tokenizers joins tokens with spaces */
    return true;
  }
  Chain c = {false, false};
  return dec_item(t, v, path, &c);
}
