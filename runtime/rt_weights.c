/* rt_weights.c: the weight blob, mapped from NAME.kw or embedded.
 *
 * The file is a 64-byte header and the data area (kiln_abi.h). It is
 * mapped read-only and never copied: the data area starts at offset 64 of
 * a page-aligned mapping, so it is 64-byte aligned as model code expects.
 * Each check names the file and what it found against what was expected,
 * in this order: readable, big enough, magic, format version, model hash,
 * size, checksum. So a weight file of another model is reported as such,
 * not as a checksum error.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_internal.h"

typedef unsigned long long ull;

/* The header's fields, decoded from little-endian bytes. */
typedef struct {
  char magic[8];
  uint32_t format_version;
  uint64_t model_hash, data_bytes, checksum;
} RtWeightsHeader;

static uint64_t read_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static RtWeightsHeader decode_header(const uint8_t *h) {
  RtWeightsHeader hd;
  memcpy(hd.magic, h, 8);
  hd.format_version = (uint32_t)read_le(h + 8, 4);
  hd.model_hash = read_le(h + 16, 8);
  hd.data_bytes = read_le(h + 24, 8);
  hd.checksum = read_le(h + 32, 8);
  return hd;
}

/* Everything the header says, against the executable and the file size. */
static int check_header(const RtWeightsHeader *hd, const KilnModelDesc *desc, const char *path,
                        uint64_t file_bytes, char *err, size_t n) {
  if (memcmp(hd->magic, KILN_WEIGHTS_MAGIC, 8) != 0)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_FORMAT,
                   "weights file '%s' is not a kiln weights file (bad magic; expected \"%s\")",
                   path, KILN_WEIGHTS_MAGIC);
  if (hd->format_version != KILN_WEIGHTS_VERSION)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_FORMAT,
                   "weights file '%s' has format version %u; this runtime reads version %u",
                   path, hd->format_version, KILN_WEIGHTS_VERSION);
  if (hd->model_hash != desc->model_hash)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_MODEL,
                   "weights file '%s' was built for another model (hash 0x%016llx, this "
                   "executable expects 0x%016llx)",
                   path, (ull)hd->model_hash, (ull)desc->model_hash);
  if (hd->data_bytes != desc->weights_bytes)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_FORMAT,
                   "weights file '%s' announces %llu data bytes; this model expects %llu", path,
                   (ull)hd->data_bytes, (ull)desc->weights_bytes);
  if (file_bytes - KILN_WEIGHTS_HEADER_BYTES != hd->data_bytes)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_FORMAT,
                   "weights file '%s' has %llu bytes; its header announces %d + %llu (the file "
                   "is truncated or has trailing bytes)",
                   path, (ull)file_bytes, KILN_WEIGHTS_HEADER_BYTES, (ull)hd->data_bytes);
  return KILN_OK;
}

/* The data against the executable's checksum. path NULL: embedded. */
static int check_checksum(const char *path, const uint8_t *data, uint64_t bytes,
                          uint64_t expected, char *err, size_t n) {
  uint64_t sum = kiln_hash64(data, bytes, KILN_HASH_SEED);
  if (sum == expected) return KILN_OK;
  if (!path)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_CORRUPT,
                   "the embedded weights are corrupt: checksum 0x%016llx, expected 0x%016llx",
                   (ull)sum, (ull)expected);
  return rt_fail(err, n, KILN_ERR_WEIGHTS_CORRUPT,
                 "weights file '%s' is corrupt: checksum 0x%016llx, expected 0x%016llx", path,
                 (ull)sum, (ull)expected);
}

static int map_file(RtWeights *w, const char *path, char *err, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_IO, "cannot open weights file '%s': %s", path,
                   strerror(errno));
  struct stat st;
  int status = KILN_OK;
  if (fstat(fd, &st) != 0)
    status = rt_fail(err, n, KILN_ERR_WEIGHTS_IO, "cannot read weights file '%s': %s", path,
                     strerror(errno));
  else if (!S_ISREG(st.st_mode))
    status = rt_fail(err, n, KILN_ERR_WEIGHTS_IO, "weights file '%s' is not a regular file",
                     path);
  else if ((uint64_t)st.st_size < KILN_WEIGHTS_HEADER_BYTES)
    status = rt_fail(err, n, KILN_ERR_WEIGHTS_FORMAT,
                     "weights file '%s' has %llu bytes, too few for the %d-byte header", path,
                     (ull)st.st_size, KILN_WEIGHTS_HEADER_BYTES);
  if (status == KILN_OK) {
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
      status = rt_fail(err, n, KILN_ERR_WEIGHTS_IO, "cannot map weights file '%s': %s", path,
                       strerror(errno));
    else
      w->map = map, w->map_bytes = (size_t)st.st_size;
  }
  close(fd);
  return status;
}

int rt_weights_open(RtWeights *w, const KilnModelDesc *desc, const char *path, char *err,
                    size_t n) {
  memset(w, 0, sizeof *w);
  int status = map_file(w, path, err, n);
  if (status != KILN_OK) return status;
  const uint8_t *base = w->map;
  RtWeightsHeader hd = decode_header(base);
  status = check_header(&hd, desc, path, w->map_bytes, err, n);
  const uint8_t *data = base + KILN_WEIGHTS_HEADER_BYTES;
  if (status == KILN_OK && hd.checksum != desc->weights_checksum)
    status = rt_fail(err, n, KILN_ERR_WEIGHTS_CORRUPT,
                     "weights file '%s' records checksum 0x%016llx; this model expects 0x%016llx",
                     path, (ull)hd.checksum, (ull)desc->weights_checksum);
  if (status == KILN_OK)
    status = check_checksum(path, data, hd.data_bytes, desc->weights_checksum, err, n);
  if (status != KILN_OK) {
    rt_weights_close(w);
    return status;
  }
  w->data = data;
  w->bytes = hd.data_bytes;
  return KILN_OK;
}

int rt_weights_embedded(RtWeights *w, const KilnModelDesc *desc, char *err, size_t n) {
  memset(w, 0, sizeof *w);
  if (!desc->embedded_weights)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_IO,
                   "this model has no embedded weights; give the path of its weights file");
  if ((uintptr_t)desc->embedded_weights % 64 != 0)
    return rt_fail(err, n, KILN_ERR_WEIGHTS_FORMAT,
                   "the embedded weights are not 64-byte aligned");
  int status = check_checksum(NULL, desc->embedded_weights,
                              desc->weights_bytes, desc->weights_checksum, err, n);
  if (status != KILN_OK) return status;
  w->data = desc->embedded_weights;
  w->bytes = desc->weights_bytes;
  return KILN_OK;
}

void rt_weights_close(RtWeights *w) {
  if (w->map) munmap(w->map, w->map_bytes);
  memset(w, 0, sizeof *w);
}
