/* target.c: the target description (target.h): presets, parsing an LLVM
 * feature string, the host's cache sizes, and the tiles derived from them.
 *
 *   KTarget t;
 *   ktarget_preset("x86-64-avx512", &t, &d);   // t.panel == 32, t.mr == 12
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"

#define KIB (INT64_C(1) << 10)
#define MIB (INT64_C(1) << 20)

/* ---- presets ------------------------------------------------------------- */

/* The basic facts; ktarget_derive fills the rest. */
static const KTarget presets[] = {
    {.name = "x86-64-avx512", .vector_bits = 512, .vector_regs = 32, .fma = true, .f16c = true,
     .l1d_bytes = 48 * KIB, .l2_bytes = 1 * MIB, .l3_bytes = 4 * MIB},
    {.name = "x86-64-avx2", .vector_bits = 256, .vector_regs = 16, .fma = true, .f16c = true,
     .l1d_bytes = 32 * KIB, .l2_bytes = 512 * KIB, .l3_bytes = 2 * MIB},
    {.name = "aarch64-neon", .vector_bits = 128, .vector_regs = 32, .fma = true, .f16c = false,
     .l1d_bytes = 64 * KIB, .l2_bytes = 1 * MIB, .l3_bytes = 2 * MIB},
    {.name = "generic", .vector_bits = 128, .vector_regs = 16, .fma = false, .f16c = false,
     .l1d_bytes = 32 * KIB, .l2_bytes = 512 * KIB, .l3_bytes = 2 * MIB},
};
enum { NPRESETS = sizeof presets / sizeof presets[0] };

const char *ktarget_names(void) { return "x86-64-avx512, x86-64-avx2, aarch64-neon, generic"; }

static const KTarget *find_preset(const char *name) {
  for (int i = 0; i < NPRESETS; i++)
    if (strcmp(presets[i].name, name) == 0) return &presets[i];
  return NULL;
}

bool ktarget_preset(const char *name, KTarget *out, IrDiag *d) {
  const KTarget *p = name ? find_preset(name) : NULL;
  if (!p)
    return ir_error(d, (IrLoc){0}, "unknown target description '%s'; expected one of: %s",
                    name ? name : "", ktarget_names());
  *out = *p;
  ktarget_derive(out);
  return true;
}

/* ---- derived tiles --------------------------------------------------------- */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The largest power of two <= v (v >= 1). */
static int64_t pow2_floor(int64_t v) {
  int64_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

/* Worked example, AVX-512 (32 regs, 16 lanes): panel 32 = 2 vectors, so a
 * micro-kernel row holds 2 accumulators; 2 B vectors + 1 broadcast leave
 * 29 registers, 14 rows, capped at 12. kc = 24K / (32 * 4) = 192;
 * mc = 512K / (192 * 4) = 682, down to a multiple of mr: 672. */
void ktarget_derive(KTarget *t) {
  int bits = t->vector_bits >= 32 ? t->vector_bits : 128;
  t->f32_lanes = bits / 32;
  t->panel = 2 * t->f32_lanes;
  int vecs = t->panel / t->f32_lanes;
  int mr = (t->vector_regs - vecs - 1) / vecs;
  t->mr = (int)clamp64(mr, 1, 12);
  int64_t l1 = t->l1d_bytes > 0 ? t->l1d_bytes : 32 * KIB;
  int64_t l2 = t->l2_bytes > 0 ? t->l2_bytes : 512 * KIB;
  int64_t kc = l1 / 2 / (t->panel * 4);
  t->kc = clamp64(kc / 16 * 16, 16, 1024);
  int64_t mc = l2 / 2 / (t->kc * 4) / t->mr * t->mr;
  t->mc = mc < t->mr ? t->mr : mc;
  t->attn_block_q = l2 >= 1 * MIB ? 64 : 32;
  /* K and V rows of a 64-wide head in f32 take 512 bytes a position; the
   * tile of both fits L1. */
  t->attn_block_kv = clamp64(pow2_floor(l1 / 512), 64, 256);
  t->attn_split_chunk = 256;
}

const KTarget *ktarget_default(void) {
  /* x86-64-avx2 with ktarget_derive's numbers written out, so the default
   * needs no initialization (test_target checks that the two agree). */
  static const KTarget def = {
      .name = "x86-64-avx2", .vector_bits = 256, .vector_regs = 16, .fma = true, .f16c = true,
      .l1d_bytes = 32 * KIB, .l2_bytes = 512 * KIB, .l3_bytes = 2 * MIB, .f32_lanes = 8,
      .panel = 16, .mr = 6, .kc = 256, .mc = 252, .attn_block_q = 32, .attn_block_kv = 64,
      .attn_split_chunk = 256};
  return &def;
}

/* ---- features and the host --------------------------------------------------- */

/* Whether `features` ("+avx2,-avx512f,+fma") enables `name`; the last
 * mention wins, as in LLVM. */
static bool has_feature(const char *features, const char *name) {
  bool on = false;
  size_t n = strlen(name);
  for (const char *p = features; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n + 1 && (p[0] == '+' || p[0] == '-') && memcmp(p + 1, name, n) == 0)
      on = p[0] == '+';
    p = end ? end + 1 : p + len;
  }
  return on;
}

/* Every item of a feature string is +NAME or -NAME. */
static bool check_features(const char *features, IrDiag *d) {
  for (const char *p = features; p && *p;) {
    const char *end = strchr(p, ',');
    int len = end ? (int)(end - p) : (int)strlen(p);
    if (len < 2 || (p[0] != '+' && p[0] != '-'))
      return ir_error(d, (IrLoc){0}, "target features: '%.*s' is not +NAME or -NAME", len, p);
    p = end ? end + 1 : p + len;
  }
  return true;
}

static bool is_aarch64(const char *triple) {
  return triple && (strncmp(triple, "aarch64", 7) == 0 || strncmp(triple, "arm64", 5) == 0);
}

/* The preset closest to what the features enable. */
static const KTarget *preset_for(const char *triple, const char *f) {
  if (is_aarch64(triple)) return find_preset("aarch64-neon");
  if (triple && strncmp(triple, "x86_64", 6) != 0 && strncmp(triple, "x86-64", 6) != 0)
    return find_preset("generic");
  if (has_feature(f, "avx512f")) return find_preset("x86-64-avx512");
  if (has_feature(f, "avx2") || has_feature(f, "fma")) return find_preset("x86-64-avx2");
  return find_preset("generic");
}

/* An integer from a sysfs file, "48K" and "1024K" read as bytes; -1 if absent. */
static int64_t read_sysfs_size(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char buf[64] = "";
  char *ok = fgets(buf, sizeof buf, f);
  fclose(f);
  if (!ok) return -1;
  char *end;
  long long v = strtoll(buf, &end, 10);
  if (end == buf || v < 0) return -1;
  if (*end == 'K') v *= KIB;
  else if (*end == 'M') v *= MIB;
  return v;
}

/* CPUs listed in a sysfs cpu list such as "0-3,8,10-11" (6 here). */
static int64_t count_cpu_list(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  char buf[256] = "";
  char *ok = fgets(buf, sizeof buf, f);
  fclose(f);
  int64_t n = 0;
  for (char *p = buf; ok && *p && *p != '\n';) {
    char *end;
    long a = strtol(p, &end, 10), b = a;
    if (end == p) break;
    if (*end == '-') b = strtol(end + 1, &end, 10);
    n += b >= a ? b - a + 1 : 1;
    p = *end == ',' ? end + 1 : end;
    if (*end != ',') break;
  }
  return n > 0 ? n : 1;
}

/* The data or unified cache of `level` of cpu0 from sysfs, per core (a
 * shared cache divided among the CPUs that share it); -1 if not found. */
static int64_t sysfs_cache(int level) {
  for (int i = 0; i < 8; i++) {
    char path[128], type[32] = "";
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    if (read_sysfs_size(path) != level) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    FILE *f = fopen(path, "r");
    if (f) {
      if (!fgets(type, sizeof type, f)) type[0] = 0;
      fclose(f);
    }
    if (strncmp(type, "Instruction", 11) == 0) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    int64_t size = read_sysfs_size(path);
    if (size <= 0) return -1;
    if (level < 3) return size;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", i);
    return size / count_cpu_list(path);
  }
  return -1;
}

/* sysconf where the C library knows the sizes, else sysfs; keeps the
 * preset's value for a level neither can tell. */
static void host_caches(KTarget *t) {
  int64_t l1 = -1, l2 = -1, l3 = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
  l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  if (l1 <= 0) l1 = sysfs_cache(1);
  if (l2 <= 0) l2 = sysfs_cache(2);
  l3 = sysfs_cache(3); /* per core: sysconf gives the whole shared L3 */
  if (l1 > 0) t->l1d_bytes = l1;
  if (l2 > 0) t->l2_bytes = l2;
  if (l3 > 0) t->l3_bytes = l3;
}

bool ktarget_from_features(const char *triple, const char *features, bool host, KTarget *out,
                           IrDiag *d) {
  if (!check_features(features, d)) return false;
  *out = *preset_for(triple, features);
  if (!is_aarch64(triple) && strcmp(out->name, "generic") != 0) {
    out->fma = has_feature(features, "fma") || has_feature(features, "avx512f");
    out->f16c = has_feature(features, "f16c") || has_feature(features, "avx512f");
  }
  if (host) host_caches(out);
  ktarget_derive(out);
  return true;
}

/* ---- description ------------------------------------------------------------ */

/* 49152 -> "48K", 1048576 -> "1M", 1000 -> "1000". */
static void print_size(IrBuf *b, int64_t v) {
  if (v > 0 && v % MIB == 0) ir_buf_printf(b, "%lldM", (long long)(v / MIB));
  else if (v > 0 && v % KIB == 0) ir_buf_printf(b, "%lldK", (long long)(v / KIB));
  else ir_buf_printf(b, "%lld", (long long)v);
}

void ktarget_describe(IrBuf *b, const KTarget *t) {
  ir_buf_printf(b, "%s: %d-bit vectors x%d%s%s, L1 ", t->name ? t->name : "?", t->vector_bits,
                t->vector_regs, t->fma ? ", fma" : "", t->f16c ? ", f16c" : "");
  print_size(b, t->l1d_bytes);
  ir_buf_printf(b, " L2 ");
  print_size(b, t->l2_bytes);
  ir_buf_printf(b, " L3 ");
  print_size(b, t->l3_bytes);
  ir_buf_printf(b,
                ", panel %d, mr %d, kc %lld, mc %lld, attention %lldx%lld, split chunk %lld",
                t->panel, t->mr, (long long)t->kc, (long long)t->mc,
                (long long)t->attn_block_q, (long long)t->attn_block_kv,
                (long long)t->attn_split_chunk);
}
