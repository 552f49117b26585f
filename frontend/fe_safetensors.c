/* fe_safetensors.c: reading weights from safetensors files.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes
 * of JSON, then the data area:
 *
 *   {"model.norm.weight": {"dtype": "F32", "shape": [64],
 *                          "data_offsets": [0, 256]}, "__metadata__": {...}}
 *
 * data_offsets are [begin, end) relative to the start of the data area.
 * Sharded checkpoints add model.safetensors.index.json, whose "weight_map"
 * says which shard holds each tensor. Files are mapped read-only; tensors
 * point into the mapping. Validation is strict, because the header comes
 * from outside: every length, range and name is checked before use, and
 * each error names the file and the tensor. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fe.h"

/* A header larger than this is not a checkpoint (real ones are below 1 MB
 * even for hundreds of tensors). */
#define FE_ST_MAX_HEADER 100000000ull
/* Offsets and dims must be exact in cJSON's doubles: at most 2^53. */
#define FE_ST_MAX_INT 9007199254740992.0

typedef struct {
  const char *name; /* basename, for messages */
  void *map;
  size_t size;
} FeShard;

struct FeWeights {
  IrArena arena;    /* names */
  const char *name; /* what was opened: "model.safetensors" or the index */
  FeShard *shards;
  int nshards;
  FeTensor *tensors; /* sorted by name once loading is done */
  int ntensors, cap;
};

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "kiln: out of memory (%zu bytes)\n", n);
    abort();
  }
  return q;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s && s[1] ? s + 1 : path;
}

/* ---- dtypes ---------------------------------------------------------- */

/* Every safetensors dtype; kiln reads the supported ones. */
static const struct {
  const char *name;
  bool supported;
  IrDType dtype;
  bool is_unsigned;
} st_dtypes[] = {
    {"F32", true, IR_F32, false},      {"F16", true, IR_F16, false},
    {"BF16", true, IR_BF16, false},    {"I8", true, IR_I8, false},
    {"U8", true, IR_I8, true},         {"I32", true, IR_I32, false},
    {"I64", true, IR_I64, false},      {"F64", false, IR_F32, false},
    {"I16", false, IR_F32, false},     {"U16", false, IR_F32, false},
    {"U32", false, IR_F32, false},     {"U64", false, IR_F32, false},
    {"BOOL", false, IR_F32, false},    {"F8_E4M3", false, IR_F32, false},
    {"F8_E5M2", false, IR_F32, false},
};
enum { ST_NDTYPES = sizeof st_dtypes / sizeof st_dtypes[0] };

static int st_dtype_index(const char *s) {
  for (int i = 0; i < ST_NDTYPES; i++)
    if (strcmp(st_dtypes[i].name, s) == 0) return i;
  return -1;
}

/* The safetensors name of a tensor's dtype: "BF16", "U8". */
static const char *st_dtype_name(const FeTensor *t) {
  for (int i = 0; i < ST_NDTYPES; i++)
    if (st_dtypes[i].supported && st_dtypes[i].dtype == t->dtype &&
        st_dtypes[i].is_unsigned == t->is_unsigned)
      return st_dtypes[i].name;
  return "?";
}

static int st_dtype_bytes(const FeTensor *t) { return ir_dtype_bits(t->dtype) / 8; }

/* "F32[2, 64]" into buf. */
static const char *describe(const FeTensor *t, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s[", st_dtype_name(t));
  for (int i = 0; i < t->rank && k > 0 && (size_t)k < n; i++)
    k += snprintf(buf + k, n - (size_t)k, "%s%" PRId64, i ? ", " : "", t->shape[i]);
  if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
  return buf;
}

/* ---- one file: map, header, tensors ---------------------------------- */

static bool map_file(const char *path, FeShard *sh, IrDiag *d) {
  sh->name = base_name(path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ir_error_at(d, path, "cannot open: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ir_error_at(d, path, "not a regular file");
  }
  sh->size = (size_t)st.st_size;
  if (sh->size > 0) {
    void *p = mmap(NULL, sh->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      close(fd);
      return ir_error_at(d, path, "cannot map %zu bytes: %s", sh->size, strerror(errno));
    }
    sh->map = p;
  }
  close(fd);
  return true;
}

static uint64_t read_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static bool json_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return false;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= FE_ST_MAX_INT) || v != (double)(uint64_t)v) return false;
  *out = (uint64_t)v;
  return true;
}

static FeTensor *push_tensor(FeWeights *w) {
  if (w->ntensors == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 64;
    w->tensors = xrealloc(w->tensors, sizeof(FeTensor) * (size_t)w->cap);
  }
  FeTensor *t = &w->tensors[w->ntensors++];
  memset(t, 0, sizeof *t);
  return t;
}

static bool read_dtype(const cJSON *e, FeTensor *t, const char *file, IrDiag *d) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  if (!cJSON_IsString(j))
    return ir_error_at(d, file, "tensor '%s': \"dtype\" must be a string", t->name);
  int i = st_dtype_index(j->valuestring);
  if (i < 0)
    return ir_error_at(d, file, "tensor '%s': unknown dtype '%.32s'", t->name, j->valuestring);
  if (!st_dtypes[i].supported)
    return ir_error_at(d, file,
                       "tensor '%s': dtype %s is not supported (kiln reads F32, F16, BF16, I8, "
                       "U8, I32 and I64)",
                       t->name, st_dtypes[i].name);
  t->dtype = st_dtypes[i].dtype;
  t->is_unsigned = st_dtypes[i].is_unsigned;
  return true;
}

static bool read_shape(const cJSON *e, FeTensor *t, const char *file, IrDiag *d) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, "shape");
  int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
  if (n < 0 || n > IR_MAX_RANK)
    return ir_error_at(d, file, "tensor '%s': \"shape\" must be an array of at most %d dims",
                       t->name, IR_MAX_RANK);
  t->rank = n;
  int i = 0;
  for (const cJSON *dim = j->child; dim; dim = dim->next, i++) {
    uint64_t v;
    if (!json_uint(dim, &v))
      return ir_error_at(d, file, "tensor '%s': shape[%d] must be a non-negative integer", t->name,
                         i);
    t->shape[i] = (int64_t)v;
  }
  return true;
}

/* Reads data_offsets and checks them against the shape, the dtype and the
 * data area [0, data_size). */
static bool read_range(const cJSON *e, FeTensor *t, const unsigned char *data, size_t data_size,
                       const char *file, IrDiag *d) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  uint64_t begin, end;
  if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 2 || !json_uint(j->child, &begin) ||
      !json_uint(j->child->next, &end) || begin > end)
    return ir_error_at(d, file,
                       "tensor '%s': \"data_offsets\" must be [begin, end] with 0 <= begin <= end",
                       t->name);
  uint64_t want = (uint64_t)st_dtype_bytes(t);
  bool overflow = false;
  for (int i = 0; i < t->rank; i++)
    overflow |= __builtin_mul_overflow(want, (uint64_t)t->shape[i], &want);
  char buf[160];
  if (overflow || end - begin != want) {
    if (overflow)
      return ir_error_at(d, file, "tensor '%s': %s has more bytes than fit in 64 bits", t->name,
                         describe(t, buf, sizeof buf));
    return ir_error_at(d, file,
                       "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") hold %" PRIu64
                       " bytes, expected %" PRIu64 " for %s",
                       t->name, begin, end, end - begin, want, describe(t, buf, sizeof buf));
  }
  if (end > data_size)
    return ir_error_at(d, file,
                       "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                       ") run past the end of the data area (%zu bytes)",
                       t->name, begin, end, data_size);
  t->data = data + begin;
  t->nbytes = (size_t)want;
  return true;
}

static bool read_entry(FeWeights *w, const cJSON *e, const unsigned char *data, size_t data_size,
                       const FeShard *sh, IrDiag *d) {
  FeTensor *t = push_tensor(w);
  t->name = ir_arena_strdup(&w->arena, e->string);
  t->file = sh->name;
  if (!cJSON_IsObject(e))
    return ir_error_at(d, sh->name,
                       "tensor '%s': expected an object with \"dtype\", \"shape\" and "
                       "\"data_offsets\"",
                       t->name);
  return read_dtype(e, t, sh->name, d) && read_shape(e, t, sh->name, d) &&
         read_range(e, t, data, data_size, sh->name, d);
}

typedef struct {
  size_t begin;
  const FeTensor *t;
} FeRange;

static int by_begin(const void *a, const void *b) {
  size_t x = ((const FeRange *)a)->begin, y = ((const FeRange *)b)->begin;
  return x < y ? -1 : x > y;
}

/* Data ranges of tensors [first, w->ntensors) must not overlap. Sorted by
 * start, each range must begin at or after the furthest end so far. */
static bool check_overlap(const FeWeights *w, int first, const unsigned char *data,
                          const char *file, IrDiag *d) {
  int n = w->ntensors - first;
  FeRange *r = xrealloc(NULL, sizeof(FeRange) * (size_t)n);
  for (int i = 0; i < n; i++) {
    r[i].t = &w->tensors[first + i];
    r[i].begin = (size_t)((const unsigned char *)r[i].t->data - data);
  }
  qsort(r, (size_t)n, sizeof(FeRange), by_begin);
  const FeRange *far = NULL; /* the range reaching furthest so far */
  bool ok = true;
  for (int i = 0; i < n && ok; i++) {
    if (r[i].t->nbytes == 0) continue;
    size_t far_end = far ? far->begin + far->t->nbytes : 0;
    if (far && r[i].begin < far_end)
      ok = ir_error_at(d, file, "tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) overlap", far->t->name,
                       far->begin, far_end, r[i].t->name, r[i].begin, r[i].begin + r[i].t->nbytes);
    else if (!far || r[i].begin + r[i].t->nbytes > far_end)
      far = &r[i];
  }
  free(r);
  return ok;
}

/* Writers pad the header to an alignment with spaces (some with NULs). */
static bool is_padding(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != 0) return false;
  return true;
}

/* Parses the JSON header of shard sh (bytes [8, 8 + hlen)). */
static cJSON *parse_header(const FeShard *sh, uint64_t hlen, IrDiag *d) {
  char *text = xrealloc(NULL, (size_t)hlen + 1);
  memcpy(text, (const char *)sh->map + 8, (size_t)hlen);
  text[hlen] = 0;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, false);
  if (!root) {
    ir_error_at(d, sh->name, "header is not valid JSON (at byte %zu of the header)",
                end ? (size_t)(end - text) : (size_t)0);
  } else if (!cJSON_IsObject(root)) {
    ir_error_at(d, sh->name, "header is not a JSON object");
  } else if (!is_padding(end, (size_t)(text + hlen - end))) {
    ir_error_at(d, sh->name, "header has bytes after the JSON object (at byte %zu of the header)",
                (size_t)(end - text));
  } else {
    free(text);
    return root;
  }
  cJSON_Delete(root);
  free(text);
  return NULL;
}

static bool read_shard(FeWeights *w, const FeShard *sh, IrDiag *d) {
  if (sh->size < 8)
    return ir_error_at(d, sh->name,
                       "file is %zu bytes, too short for the 8-byte header length (truncated?)",
                       sh->size);
  const unsigned char *p = sh->map;
  uint64_t hlen = read_le64(p);
  if (hlen > FE_ST_MAX_HEADER)
    return ir_error_at(d, sh->name, "header length %" PRIu64 " exceeds the bound of %llu bytes",
                       hlen, FE_ST_MAX_HEADER);
  if (hlen > sh->size)
    return ir_error_at(d, sh->name, "header length %" PRIu64 " exceeds the file size %zu", hlen,
                       sh->size);
  if (hlen > sh->size - 8)
    return ir_error_at(d, sh->name,
                       "header length %" PRIu64
                       " runs past the end of the file (%zu bytes, "
                       "the header starts at byte 8)",
                       hlen, sh->size);
  cJSON *root = parse_header(sh, hlen, d);
  if (!root) return false;
  const unsigned char *data = p + 8 + hlen;
  size_t data_size = sh->size - 8 - (size_t)hlen;
  int first = w->ntensors;
  bool ok = true;
  for (const cJSON *e = root->child; e && ok; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0) {
      if (!cJSON_IsObject(e)) ok = ir_error_at(d, sh->name, "\"__metadata__\" must be an object");
      continue;
    }
    ok = read_entry(w, e, data, data_size, sh, d);
  }
  cJSON_Delete(root);
  return ok && check_overlap(w, first, data, sh->name, d);
}

/* ---- the set of tensors ---------------------------------------------- */

static int by_name(const void *a, const void *b) {
  return strcmp(((const FeTensor *)a)->name, ((const FeTensor *)b)->name);
}

/* Sorts by name and rejects a name that appears twice (in one header, or
 * in two shards). */
static bool sort_and_check_unique(FeWeights *w, IrDiag *d) {
  if (w->ntensors > 1) qsort(w->tensors, (size_t)w->ntensors, sizeof(FeTensor), by_name);
  for (int i = 1; i < w->ntensors; i++) {
    const FeTensor *a = &w->tensors[i - 1], *b = &w->tensors[i];
    if (strcmp(a->name, b->name) != 0) continue;
    if (strcmp(a->file, b->file) == 0)
      return ir_error_at(d, a->file, "tensor '%s' appears twice in the header", a->name);
    return ir_error_at(d, w->name, "tensor '%s' appears in two shards, '%s' and '%s'", a->name,
                       a->file, b->file);
  }
  return true;
}

static FeShard *add_shard(FeWeights *w) {
  w->shards = xrealloc(w->shards, sizeof(FeShard) * (size_t)(w->nshards + 1));
  FeShard *sh = &w->shards[w->nshards++];
  memset(sh, 0, sizeof *sh);
  return sh;
}

static bool open_single(FeWeights *w, const char *path, IrDiag *d) {
  FeShard *sh = add_shard(w);
  if (!map_file(path, sh, d)) return false;
  sh->name = ir_arena_strdup(&w->arena, sh->name);
  return read_shard(w, sh, d);
}

/* ---- sharded checkpoints --------------------------------------------- */

static char *read_text(const char *path, size_t *len, IrDiag *d) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    ir_error_at(d, path, "cannot open: %s", strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  size_t n = 0, cap = 0, got;
  do {
    if (cap - n < 65536) buf = xrealloc(buf, cap = cap * 2 + 65536);
    got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
  } while (got > 0);
  bool err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    ir_error_at(d, path, "read error");
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* "dir/model.safetensors.index.json" + "shard" -> "dir/shard". */
static char *sibling(IrArena *a, const char *path, const char *name) {
  const char *s = strrchr(path, '/');
  if (!s) return ir_arena_strdup(a, name);
  return ir_arena_printf(a, "%.*s/%s", (int)(s - path), path, name);
}

/* A shard name must be a plain file name next to the index. */
static bool shard_name_ok(const char *s) {
  return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int find_shard(const FeWeights *w, const char *name) {
  for (int i = 0; i < w->nshards; i++)
    if (strcmp(w->shards[i].name, name) == 0) return i;
  return -1;
}

/* Opens every shard the weight map names, once each, in order of first
 * mention. */
static bool open_shards(FeWeights *w, const char *index_path, const cJSON *map, IrDiag *d) {
  for (const cJSON *e = map->child; e; e = e->next) {
    if (!cJSON_IsString(e) || !shard_name_ok(e->valuestring))
      return ir_error_at(d, w->name,
                         "at $.weight_map.%s: expected the file name of a shard, next to the "
                         "index",
                         e->string);
    if (find_shard(w, e->valuestring) >= 0) continue;
    char *path = sibling(&w->arena, index_path, e->valuestring);
    struct stat st;
    if (stat(path, &st) != 0)
      return ir_error_at(d, w->name,
                         "weight_map names shard '%s' (for tensor '%s'), which does not exist",
                         e->valuestring, e->string);
    FeShard *sh = add_shard(w);
    if (!map_file(path, sh, d)) return false;
    sh->name = ir_arena_strdup(&w->arena, e->valuestring);
    if (!read_shard(w, sh, d)) return false;
  }
  return true;
}

static bool check_weight_map(const FeWeights *w, const cJSON *map, IrDiag *d) {
  for (const cJSON *e = map->child; e; e = e->next) {
    const FeTensor *t = fe_weights_find(w, e->string);
    if (!t || strcmp(t->file, e->valuestring) != 0)
      return ir_error_at(d, w->name, "weight_map puts tensor '%s' in '%s', which does not hold it",
                         e->string, e->valuestring);
  }
  return true;
}

static bool open_index(FeWeights *w, const char *path, IrDiag *d) {
  size_t len;
  char *text = read_text(path, &len, d);
  if (!text) return false;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
  const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
  bool ok = false;
  if (!root)
    ir_error_at(d, w->name, "not valid JSON (at byte %zu)", end ? (size_t)(end - text) : 0);
  else if (!cJSON_IsObject(map))
    ir_error_at(d, w->name, "at $.weight_map: expected an object mapping tensor names to shards");
  else
    ok = open_shards(w, path, map, d) && sort_and_check_unique(w, d) && check_weight_map(w, map, d);
  cJSON_Delete(root);
  free(text);
  return ok;
}

/* ---- the API ----------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static bool open_path(FeWeights *w, const char *path, IrDiag *d) {
  struct stat st;
  if (stat(path, &st) != 0) return ir_error_at(d, path, "cannot open: %s", strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    char *single = ir_arena_printf(&w->arena, "%s/model.safetensors", path);
    char *index = ir_arena_printf(&w->arena, "%s/model.safetensors.index.json", path);
    if (file_exists(single)) return open_path(w, single, d);
    if (file_exists(index)) return open_path(w, index, d);
    return ir_error_at(d, path, "no model.safetensors or model.safetensors.index.json here");
  }
  w->name = ir_arena_strdup(&w->arena, base_name(path));
  if (has_suffix(path, ".json")) return open_index(w, path, d);
  return open_single(w, path, d) && sort_and_check_unique(w, d);
}

FeWeights *fe_weights_open(const char *path, IrDiag *d) {
  FeWeights *w = xrealloc(NULL, sizeof *w);
  memset(w, 0, sizeof *w);
  if (!open_path(w, path, d)) {
    fe_weights_close(w);
    return NULL;
  }
  return w;
}

void fe_weights_close(FeWeights *w) {
  if (!w) return;
  for (int i = 0; i < w->nshards; i++)
    if (w->shards[i].map) munmap(w->shards[i].map, w->shards[i].size);
  free(w->shards);
  free(w->tensors);
  ir_arena_free(&w->arena);
  free(w);
}

const char *fe_weights_name(const FeWeights *w) { return w->name ? w->name : "weights"; }
int fe_weights_count(const FeWeights *w) { return w->ntensors; }

const FeTensor *fe_weights_at(const FeWeights *w, int i) {
  return i >= 0 && i < w->ntensors ? &w->tensors[i] : NULL;
}

const FeTensor *fe_weights_find(const FeWeights *w, const char *name) {
  if (!w || w->ntensors == 0) return NULL;
  FeTensor key = {.name = name};
  return bsearch(&key, w->tensors, (size_t)w->ntensors, sizeof(FeTensor), by_name);
}

const char *fe_tensor_describe(const FeTensor *t, char *buf, size_t n) {
  return describe(t, buf, n);
}
