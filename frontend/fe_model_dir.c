/* fe_model_dir.c: a model on disk -> FeModelDir.
 *
 * MODEL is either
 *   - a directory: config.json (Hugging Face or kiln graph JSON), weights in
 *     model.safetensors or model.safetensors.index.json with its shards,
 *     tokenizer.json when present; a path to such a config.json counts as
 *     its directory;
 *   - any other JSON file (a kiln graph, samples/tiny-llama.json): weights
 *     in the file next to it with .safetensors for .json
 *     (samples/tiny-llama.safetensors), tokenizer.json from its directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fe_json.h"

/* Configs are small; anything larger is not one. */
#define FE_CONFIG_MAX_BYTES (16u << 20)

static char *xstrdup(const char *s) {
  char *r = strdup(s);
  if (!r) abort(); /* out of memory */
  return r;
}

/* "dir" + "/" + "name", malloc'd. */
static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *r = malloc(n);
  if (!r) abort(); /* out of memory */
  snprintf(r, n, "%s/%s", dir, name);
  return r;
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* path if it names a file, else NULL; frees path then. */
static char *if_file(char *path) {
  if (is_file(path)) return path;
  free(path);
  return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The directory part of a file path: "a/b.json" -> "a", "b.json" -> ".". */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return xstrdup(".");
  if (slash == path) return xstrdup("/");
  char *r = strndup(path, (size_t)(slash - path));
  if (!r) abort(); /* out of memory */
  return r;
}

/* Reads a whole file, NUL-terminated; the caller frees. */
static char *read_config(const char *path, size_t *len, IrDiag *d) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    ir_error_at(d, path, "cannot read the model's config: %s",
                f ? "not a regular file" : strerror(errno));
    if (f) fclose(f);
    return NULL;
  }
  if (st.st_size > FE_CONFIG_MAX_BYTES) {
    fclose(f);
    ir_error_at(d, path, "expected a config of at most %u bytes, found %lld bytes",
                FE_CONFIG_MAX_BYTES, (long long)st.st_size);
    return NULL;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) abort(); /* out of memory */
  size_t n = fread(buf, 1, (size_t)st.st_size, f);
  bool err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    ir_error_at(d, path, "cannot read the model's config: read error");
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Fills dir, weights_path and tokenizer_path and returns the config's
 * path (malloc'd), or NULL when path names nothing usable. */
static char *locate(const char *path, FeModelDir *md, IrDiag *d) {
  struct stat st;
  if (stat(path, &st) != 0) {
    ir_error_at(d, path, "cannot open the model: %s; expected a model directory or a JSON file",
                strerror(errno));
    return NULL;
  }
  bool is_dir = S_ISDIR(st.st_mode);
  md->dir = is_dir ? xstrdup(path) : dir_of(path);
  md->tokenizer_path = if_file(join(md->dir, "tokenizer.json"));
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  if (is_dir || strcmp(base, "config.json") == 0) {
    md->weights_path = if_file(join(md->dir, "model.safetensors"));
    if (!md->weights_path)
      md->weights_path = if_file(join(md->dir, "model.safetensors.index.json"));
    return is_dir ? join(md->dir, "config.json") : xstrdup(path);
  }
  size_t stem = ends_with(path, ".json") ? strlen(path) - 5 : strlen(path);
  char *weights = malloc(stem + sizeof ".safetensors");
  if (!weights) abort(); /* out of memory */
  snprintf(weights, stem + sizeof ".safetensors", "%.*s.safetensors", (int)stem, path);
  md->weights_path = if_file(weights);
  return xstrdup(path);
}

static bool open_weights(FeModelDir *md, IrDiag *d) {
  if (!md->weights_path)
    return ir_error_at(d, md->dir, "no weights: expected model.safetensors or "
                                   "model.safetensors.index.json (or NAME.safetensors next to "
                                   "NAME.json)");
  md->weights = fe_weights_open(md->weights_path, d);
  return md->weights != NULL;
}

bool fe_open_model_dir(const char *path, bool load_weights, FeModelDir *out, IrDiag *d) {
  memset(out, 0, sizeof *out);
  char *config = locate(path, out, d), *text = NULL;
  size_t len = 0;
  bool ok = config && (text = read_config(config, &len, d)) != NULL &&
            fe_read_config(text, len, config, &out->arena, &out->model, d) &&
            (!load_weights || open_weights(out, d));
  free(text);
  free(config);
  if (!ok) fe_close_model_dir(out);
  return ok;
}

void fe_close_model_dir(FeModelDir *md) {
  fe_weights_close(md->weights);
  free(md->dir);
  free(md->weights_path);
  free(md->tokenizer_path);
  ir_arena_free(&md->arena);
  memset(md, 0, sizeof *md);
}
