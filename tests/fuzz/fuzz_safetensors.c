/* fuzz_safetensors.c: libFuzzer target for the safetensors reader.
 *
 * Any bytes, as a .safetensors file (or, when they start with '{', as a
 * model.safetensors.index.json next to one valid shard): fe_weights_open
 * must not crash, hang or leak. When it fails, it says why, naming the
 * file. When it succeeds, every tensor is consistent: byte count = numel x
 * dtype size, every byte readable, names sorted, unique and found by
 * fe_weights_find.
 *
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang-19 -DKILN_FUZZ=ON -DKILN_SANITIZE=ON
 *   build-fuzz/tests/fuzz_safetensors -max_total_time=60 tests/fuzz/corpus/fuzz_safetensors
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fe.h"

static char dir[64];

static void fail(const char *what, const char *msg) {
  fprintf(stderr, "fuzz_safetensors: %s\n", what);
  if (msg) fprintf(stderr, "%s\n", msg);
  abort();
}

static void write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size)) fail("cannot write the input", path);
  fclose(f);
}

/* s.safetensors: one F32 tensor "a" of 2 elements. */
static void write_shard(void) {
  static const char header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  unsigned char buf[8 + sizeof header + 8] = {0};
  buf[0] = (unsigned char)(sizeof header - 1);
  memcpy(buf + 8, header, sizeof header - 1);
  char path[128];
  snprintf(path, sizeof path, "%s/s.safetensors", dir);
  write_file(path, buf, 8 + sizeof header - 1 + 8);
}

static void cleanup(void) {
  static const char *const files[] = {"s.safetensors", "x.safetensors", "x.index.json"};
  char path[128];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

static void setup(void) {
  if (dir[0]) return;
  /* /dev/shm when there is one: a file per input is cheap in memory. */
  struct stat st;
  const char *root = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/kiln_fuzz_st_%d", root, (int)getpid());
  mkdir(dir, 0700);
  write_shard();
  atexit(cleanup);
}

static void check_tensors(const FeWeights *w) {
  unsigned sum = 0;
  for (int i = 0; i < fe_weights_count(w); i++) {
    const FeTensor *t = fe_weights_at(w, i);
    uint64_t n = (uint64_t)ir_dtype_bits(t->dtype) / 8;
    for (int k = 0; k < t->rank; k++) n *= (uint64_t)t->shape[k];
    if (n != t->nbytes) fail("byte count differs from the shape", t->name);
    for (size_t k = 0; k < t->nbytes; k++) sum += ((const unsigned char *)t->data)[k];
    if (fe_weights_find(w, t->name) != t) fail("fe_weights_find misses a tensor", t->name);
    if (i > 0 && strcmp(fe_weights_at(w, i - 1)->name, t->name) >= 0)
      fail("names not sorted and unique", t->name);
    char buf[160];
    fe_tensor_describe(t, buf, sizeof buf);
  }
  if (sum == 0xdeadbeef) fprintf(stderr, "%u\n", sum); /* keep the reads */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  bool index = size > 0 && data[0] == '{';
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, index ? "x.index.json" : "x.safetensors");
  write_file(path, data, size);
  IrDiag d = {0};
  FeWeights *w = fe_weights_open(path, &d);
  if (!w) {
    if (!d.failed || !d.msg[0]) fail("fe_weights_open failed without a message", NULL);
    if (!strstr(d.msg, ".safetensors") && !strstr(d.msg, ".json"))
      fail("the message names no file", d.msg);
    return 0;
  }
  check_tensors(w);
  fe_weights_close(w);
  return 0;
}
