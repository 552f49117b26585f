/* fe_tokenizer.c: reads tokenizer.json: the BPE model (vocabulary,
 * merges, unk, byte fallback) and the added tokens; the other parts are
 * read by fe_tokenizer_steps.c, and fe_tokenizer_pack.c writes the blob.
 * Errors name the file and the JSON path:
 *
 *   tokenizer.json: error: at $.model.merges[7]: token "qz" is not in the vocabulary
 */
#include <stdlib.h>
#include <string.h>

#include "fe_tok_internal.h"

/* ---- helpers shared with the other fe_tokenizer files ---------------------- */

bool fe_tok_string(FeTok *t, const cJSON *v, const char *path, const char **out) {
  if (!cJSON_IsString(v))
    return fe_json_error(&t->j, path, "expected a string, found %s", fe_json_kind(v));
  if (!rt_utf8_valid((const uint8_t *)v->valuestring, strlen(v->valuestring)))
    return fe_json_error(&t->j, path, "the string is not valid UTF-8");
  *out = v->valuestring;
  return true;
}

bool fe_tok_one_char(const char *s, uint32_t *cp) {
  size_t n = strlen(s);
  return n > 0 && rt_utf8_next((const uint8_t *)s, n, cp) == (int)n;
}

void fe_tok_add_string(FeTok *t, const char *s, uint32_t *off, uint32_t *len) {
  *off = (uint32_t)t->strings.len;
  *len = (uint32_t)strlen(s);
  rt_bytes_append(&t->strings, s, *len);
}

int32_t fe_tok_vocab_id(const FeTok *t, const char *s) {
  return rt_tok_vocab_lookup(t->vocab_hash, t->vocab_slots, t->vocab_offs, t->vocab_bytes,
                             (const uint8_t *)s, strlen(s));
}

/* ---- the vocabulary ------------------------------------------------------ */

static uint32_t pow2_at_least(uint64_t n) {
  uint32_t p = 1;
  while (p < n && p < (1u << 31)) p *= 2;
  return p;
}

/* Reads every (token, id) pair into t->vocab[id]. */
static bool read_vocab_ids(FeTok *t, const cJSON *vocab, const char *path) {
  int64_t max_id = -1;
  for (const cJSON *e = vocab->child; e; e = e->next) {
    char p[FE_JSON_PATH_MAX];
    fe_json_path(p, path, e->string);
    int64_t id;
    if (!fe_json_int_value(&t->j, e, p, 0, FE_TOK_MAX_ID, &id)) return false;
    if (id > max_id) max_id = id;
  }
  t->n_vocab = (uint32_t)(max_id + 1);
  t->vocab = ir_arena_alloc(&t->arena, (t->n_vocab + 1) * sizeof *t->vocab);
  for (const cJSON *e = vocab->child; e; e = e->next) {
    uint32_t id = (uint32_t)e->valuedouble;
    if (!rt_utf8_valid((const uint8_t *)e->string, strlen(e->string)))
      return fe_json_error(&t->j, path, "the token with id %u is not valid UTF-8", id);
    if (t->vocab[id]) {
      char a[96], b[96];
      fe_json_quote(a, sizeof a, t->vocab[id]);
      fe_json_quote(b, sizeof b, e->string);
      return fe_json_error(&t->j, path, "tokens %s and %s both have id %u", a, b, id);
    }
    t->vocab[id] = e->string;
  }
  return true;
}

/* The lookup table by spelling; a spelling given twice is an error. */
static bool index_vocab(FeTok *t, const char *path) {
  t->vocab_offs = ir_arena_alloc(&t->arena, ((size_t)t->n_vocab + 1) * sizeof *t->vocab_offs);
  RtBytes bytes = {0};
  for (uint32_t id = 0; id < t->n_vocab; id++) {
    t->vocab_offs[id] = (uint32_t)bytes.len;
    if (t->vocab[id]) rt_bytes_append(&bytes, t->vocab[id], strlen(t->vocab[id]));
  }
  t->vocab_offs[t->n_vocab] = (uint32_t)bytes.len;
  t->vocab_bytes = ir_arena_alloc(&t->arena, bytes.len + 1);
  if (bytes.len) memcpy(t->vocab_bytes, bytes.data, bytes.len);
  free(bytes.data);
  t->vocab_slots = pow2_at_least(2 * (uint64_t)t->n_vocab);
  t->vocab_hash = ir_arena_alloc(&t->arena, (size_t)t->vocab_slots * sizeof *t->vocab_hash);
  memset(t->vocab_hash, 0xFF, (size_t)t->vocab_slots * sizeof *t->vocab_hash);
  uint32_t mask = t->vocab_slots - 1;
  for (uint32_t id = 0; id < t->n_vocab; id++) {
    const char *s = t->vocab[id];
    if (!s) continue;
    if (fe_tok_vocab_id(t, s) >= 0) {
      char q[96];
      fe_json_quote(q, sizeof q, s);
      return fe_json_error(&t->j, path, "token %s appears twice", q);
    }
    uint32_t i = rt_tok_hash((const uint8_t *)s, strlen(s)) & mask;
    while (t->vocab_hash[i] != RT_TOK_EMPTY) i = (i + 1) & mask;
    t->vocab_hash[i] = id;
  }
  return true;
}

/* ---- merges -------------------------------------------------------------- */

/* "a b" -> a, b (one space), or ["a", "b"]. The strings are copied into
 * the arena. */
static bool merge_parts(FeTok *t, const cJSON *m, const char *path, const char **a,
                        const char **b) {
  if (cJSON_IsString(m)) {
    const char *s = m->valuestring, *sp = strchr(s, ' ');
    if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
      char q[96];
      fe_json_quote(q, sizeof q, s);
      return fe_json_error(&t->j, path, "expected two tokens separated by one space, found %s", q);
    }
    *a = ir_arena_strndup(&t->arena, s, (size_t)(sp - s));
    *b = sp + 1;
    return true;
  }
  if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
      cJSON_IsString(m->child->next)) {
    *a = m->child->valuestring;
    *b = m->child->next->valuestring;
    return true;
  }
  return fe_json_error(&t->j, path, "expected \"A B\" or [\"A\", \"B\"], found %s",
                       fe_json_kind(m));
}

/* The id of a merge's token, or an error naming it. */
static bool merge_token(FeTok *t, const char *s, const char *path, const char *what,
                        uint32_t *id) {
  int32_t i = fe_tok_vocab_id(t, s);
  if (i < 0) {
    char q[96];
    fe_json_quote(q, sizeof q, s);
    return fe_json_error(&t->j, path, "%stoken %s is not in the vocabulary", what, q);
  }
  *id = (uint32_t)i;
  return true;
}

static bool read_merges(FeTok *t, const cJSON *merges, const char *path) {
  int n = cJSON_GetArraySize(merges);
  t->n_merges = (uint32_t)n;
  t->merges = ir_arena_alloc(&t->arena, 3 * (size_t)(n ? n : 1) * sizeof *t->merges);
  int k = 0;
  for (const cJSON *m = merges->child; m; m = m->next, k++) {
    char p[FE_JSON_PATH_MAX];
    fe_json_path_index(p, path, k);
    const char *a = NULL, *b = NULL;
    if (!merge_parts(t, m, p, &a, &b)) return false;
    uint32_t *row = &t->merges[3 * k];
    if (!merge_token(t, a, p, "", &row[0]) || !merge_token(t, b, p, "", &row[1])) return false;
    char *ab = ir_arena_printf(&t->arena, "%s%s", a, b);
    if (!merge_token(t, ab, p, "the merged ", &row[2])) return false;
  }
  return true;
}

/* ---- the model ----------------------------------------------------------- */

static bool read_flag(FeTok *t, const cJSON *model, const char *key, uint32_t flag) {
  bool on = false;
  if (!fe_json_bool(&t->j, model, "$.model", key, FE_OPTIONAL, &on)) return false;
  if (on) t->flags |= flag;
  return true;
}

/* Options kiln does not implement must have their neutral value. */
static bool check_neutral(FeTok *t, const cJSON *model) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
  if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
    return fe_json_error(&t->j, "$.model.dropout", "BPE dropout is not supported (expected null)");
  static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix", NULL};
  for (int i = 0; affixes[i]; i++) {
    v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring[0] == '\0')) {
      char p[FE_JSON_PATH_MAX];
      fe_json_path(p, "$.model", affixes[i]);
      return fe_json_error(&t->j, p, "%s is not supported (expected null or \"\")", affixes[i]);
    }
  }
  return true;
}

static bool read_model(FeTok *t, const cJSON *root) {
  const cJSON *model, *vocab, *merges;
  if (!fe_json_obj(&t->j, root, "$", "model", FE_REQUIRED, &model)) return false;
  bool ok;
  const cJSON *type = fe_json_field(&t->j, model, "$.model", "type", FE_REQUIRED, "\"BPE\"", &ok);
  if (!type) return false;
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0) {
    char q[96] = "";
    if (cJSON_IsString(type)) fe_json_quote(q, sizeof q, type->valuestring);
    return fe_json_error(&t->j, "$.model.type", "model type %s is not supported; kiln supports \"BPE\"",
                         cJSON_IsString(type) ? q : fe_json_kind(type));
  }
  if (!check_neutral(t, model)) return false;
  if (!fe_json_obj(&t->j, model, "$.model", "vocab", FE_REQUIRED, &vocab)) return false;
  if (!read_vocab_ids(t, vocab, "$.model.vocab") || !index_vocab(t, "$.model.vocab")) return false;
  merges = fe_json_field(&t->j, model, "$.model", "merges", FE_REQUIRED, "an array", &ok);
  if (!merges) return false;
  if (!cJSON_IsArray(merges))
    return fe_json_error(&t->j, "$.model.merges", "expected an array, found %s", fe_json_kind(merges));
  if (!read_merges(t, merges, "$.model.merges")) return false;
  if (!read_flag(t, model, "byte_fallback", RT_TOK_F_BYTE_FALLBACK) ||
      !read_flag(t, model, "fuse_unk", RT_TOK_F_FUSE_UNK) ||
      !read_flag(t, model, "ignore_merges", RT_TOK_F_IGNORE_MERGES))
    return false;
  const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
  t->unk_id = RT_TOK_EMPTY;
  if (unk && !cJSON_IsNull(unk)) {
    const char *s;
    if (!fe_tok_string(t, unk, "$.model.unk_token", &s) ||
        !merge_token(t, s, "$.model.unk_token", "the unk ", &t->unk_id))
      return false;
  }
  return true;
}

/* ---- added tokens --------------------------------------------------------- */

static bool read_added_flag(FeTok *t, const cJSON *a, const char *path, const char *key,
                            bool dflt, uint32_t flag, uint32_t *flags) {
  bool on = dflt;
  if (!fe_json_bool(&t->j, a, path, key, FE_OPTIONAL, &on)) return false;
  if (on) *flags |= flag;
  return true;
}

static bool read_added_token(FeTok *t, const cJSON *a, const char *path, FeTokAdded *out) {
  int64_t id;
  const cJSON *content;
  bool ok;
  if (!cJSON_IsObject(a)) return fe_json_error(&t->j, path, "expected an object, found %s", fe_json_kind(a));
  if (!fe_json_int(&t->j, a, path, "id", FE_REQUIRED, 0, FE_TOK_MAX_ID, &id)) return false;
  content = fe_json_field(&t->j, a, path, "content", FE_REQUIRED, "a string", &ok);
  char p[FE_JSON_PATH_MAX];
  fe_json_path(p, path, "content");
  if (!content || !fe_tok_string(t, content, p, &out->content)) return false;
  if (!out->content[0]) return fe_json_error(&t->j, p, "an added token cannot be empty");
  out->id = (uint32_t)id;
  out->flags = 0;
  bool special = false;
  if (!fe_json_bool(&t->j, a, path, "special", FE_OPTIONAL, &special)) return false;
  if (special) out->flags |= RT_TOK_A_SPECIAL;
  return read_added_flag(t, a, path, "normalized", !special, RT_TOK_A_NORMALIZED, &out->flags) &&
         read_added_flag(t, a, path, "lstrip", false, RT_TOK_A_LSTRIP, &out->flags) &&
         read_added_flag(t, a, path, "rstrip", false, RT_TOK_A_RSTRIP, &out->flags) &&
         read_added_flag(t, a, path, "single_word", false, RT_TOK_A_SINGLE_WORD, &out->flags);
}

static bool read_added(FeTok *t, const cJSON *root) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
  if (!list || cJSON_IsNull(list)) return true;
  if (!cJSON_IsArray(list))
    return fe_json_error(&t->j, "$.added_tokens", "expected an array, found %s", fe_json_kind(list));
  int n = cJSON_GetArraySize(list), k = 0;
  t->added = ir_arena_alloc(&t->arena, (size_t)(n ? n : 1) * sizeof *t->added);
  for (const cJSON *a = list->child; a; a = a->next, k++) {
    char p[FE_JSON_PATH_MAX];
    fe_json_path_index(p, "$.added_tokens", k);
    if (!read_added_token(t, a, p, &t->added[k])) return false;
    /* An added token of the model's vocabulary keeps its id's spelling
     * for BPE; only its decoding follows the content. */
  }
  t->n_added = (uint32_t)n;
  return true;
}

/* ---- the whole file ------------------------------------------------------- */

/* cJSON ends strings at a NUL, so "\u0000" in the file would cut a token
 * short without a word: refuse it. */
static bool check_no_nul_escape(FeTok *t, const char *json, size_t len) {
  for (size_t i = 0; i + 6 <= len; i++) {
    if (json[i] != '\\' || memcmp(json + i + 1, "u0000", 5) != 0) continue;
    size_t k = i; /* an escaped backslash before it makes it plain text */
    while (k > 0 && json[k - 1] == '\\') k--;
    if ((i - k) % 2 == 0)
      return ir_error_at(t->j.d, t->j.file, "a string holds \\u0000 (NUL), which kiln cannot read");
  }
  return true;
}

/* The number of ids: past the vocabulary and every added token. */
static uint32_t count_tokens(const FeTok *t) {
  uint32_t n = t->n_vocab;
  for (uint32_t i = 0; i < t->n_added; i++)
    if (t->added[i].id + 1 > n) n = t->added[i].id + 1;
  return n;
}

static bool read_steps(FeTok *t, const cJSON *root) {
  static const char *const keys[] = {"normalizer", "pre_tokenizer", "post_processor", "decoder"};
  const cJSON *v[4];
  for (int i = 0; i < 4; i++) {
    v[i] = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
    if (v[i] && cJSON_IsNull(v[i])) v[i] = NULL;
  }
  return fe_tok_read_normalizer(t, v[0], "$.normalizer") &&
         fe_tok_read_pre_tokenizer(t, v[1], "$.pre_tokenizer") &&
         fe_tok_read_post_processor(t, v[2], "$.post_processor", count_tokens(t)) &&
         fe_tok_read_decoder(t, v[3], "$.decoder");
}

bool fe_tokenizer_pack(const char *json, size_t len, const char *file, uint8_t **blob,
                       size_t *bytes, IrDiag *d) {
  FeTok *t = calloc(1, sizeof *t);
  if (!t) return ir_error_at(d, file, "out of memory");
  t->j = (FeJson){file, d};
  cJSON *root = NULL;
  bool ok = check_no_nul_escape(t, json, len) && (root = fe_json_parse(&t->j, json, len));
  if (ok && !cJSON_IsObject(root))
    ok = fe_json_error(&t->j, "$", "expected an object, found %s", fe_json_kind(root));
  ok = ok && read_model(t, root) && read_added(t, root) && read_steps(t, root) &&
       fe_tok_pack(t, blob, bytes);
  cJSON_Delete(root);
  free(t->strings.data);
  ir_arena_free(&t->arena);
  free(t);
  return ok;
}
