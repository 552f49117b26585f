/* kiln_cuda_host.h: runs kiln's generated CUDA C on the CPU, to check the
 * kernels' values without a GPU.
 *
 *   cc -std=c11 -shared -fPIC -include kiln_cuda_host.h -x c model.cu -o model.so -lm
 *
 * How barriers work here: kiln writes every kernel as phases separated by
 * barriers (cg_cuda.h). On the GPU a phase is code for one thread. Here a
 * phase is a loop over all threads of the block, run one after the other;
 * the barrier between two phases is then simply the end of one loop and
 * the start of the next. This is exact (not a model of a race), needs no
 * OS threads or coroutines, and is deterministic. It relies on the
 * generator's rules: a value that lives across a barrier is KILN_PRIVATE
 * (one copy per thread here), loops around barriers are uniform across
 * the block, and no thread returns early. Warp-level primitives (mma.sync,
 * cp.async) are behind macros with a scalar version here (below).
 *
 * Blocks run one at a time in order, so __shared__ variables become
 * static ones. Everything is single-threaded: launch from one thread.
 */
#ifndef KILN_CUDA_HOST_H
#define KILN_CUDA_HOST_H

#define KILN_HOST_EMU 1

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  unsigned x, y, z;
} kiln_dim3;

static kiln_dim3 blockIdx, blockDim, gridDim;

#define KILN_MAX_THREADS 1024
#define KILN_EXTERN_C
#define KILN_FN static inline
#define KILN_RESTRICT restrict
#define KILN_THREADS_BEGIN for (unsigned tid = 0; tid < blockDim.x; tid++) {
#define KILN_THREADS_END }
#define KILN_SYNC
#define KILN_UNROLL
#define KILN_NO_UNROLL
#define KILN_PRIVATE(T, name, dims) static T name[KILN_MAX_THREADS] dims
#define KILN_P(name) name[tid]
#define __global__
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

typedef struct {
  long long s[8];
} KilnSyms;

typedef struct {
  unsigned long long o[16]; /* KILN_CUDA_MAX_OFFSETS */
} KilnOffs;

static inline float kiln_as_float(unsigned int u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline unsigned int kiln_as_uint(float f) {
  unsigned int u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* ---- scalar twins of the tensor-core and cp.async primitives ----
 * The fragment loaders (kiln_frag_*, in the prelude) are pure functions of
 * shared memory and the lane, and run unchanged here. An mma is collective:
 * lane L's outputs need every lane's registers, which the host (threads
 * run one after another) does not have. So the twin rebuilds the fragments
 * of all 32 lanes of the warp from the same shared memory with the same
 * loaders, assembles A (16 x 16) and B (16 x 8) by the PTX fragment layout,
 * checks that lane L's registers are the ones it rebuilt (else its outputs
 * become NaN, which the tests see), and adds lane L's four outputs. */
static inline unsigned short kiln_f32_to_bf16(float x);
static inline unsigned short kiln_f32_to_f16(float x);
static inline float kiln_h_to_f32(unsigned short h, int f16);
static inline void kiln_frag_a16(const unsigned short *p, int ld, unsigned int lane, unsigned int *a);
static inline void kiln_frag_a32(const float *p, int ld, unsigned int lane, int f16, unsigned int *hi,
                                 unsigned int *lo);
static inline void kiln_frag_b16(const unsigned short *p, int ld, unsigned int lane, unsigned int *b);

static inline unsigned int kiln_ld2h(const unsigned short *p) { return (unsigned int)p[0] | (unsigned int)p[1] << 16; }
static inline void kiln_ld2f(const float *p, float *x, float *y) {
  *x = p[0];
  *y = p[1];
}
static inline unsigned int kiln_pack_h2(float lo, float hi, int f16) {
  unsigned short l = f16 ? kiln_f32_to_f16(lo) : kiln_f32_to_bf16(lo);
  unsigned short h = f16 ? kiln_f32_to_f16(hi) : kiln_f32_to_bf16(hi);
  return (unsigned int)l | (unsigned int)h << 16;
}

/* asrc: what pa holds: 0 16-bit A, 1 f32 A (the hi part), 2 f32 A (the lo part). */
static void kiln_mma_host(int f16, float *d, const unsigned int *a, const unsigned int *b, int asrc, const void *pa,
                          int lda, const unsigned short *pb, int ldb, unsigned int lane) {
  float A[16][16], B[16][8];
  for (unsigned int l = 0; l < 32; l++) {
    unsigned int fa[4], fb[2], other[4];
    if (asrc == 0) kiln_frag_a16((const unsigned short *)pa, lda, l, fa);
    else if (asrc == 1) kiln_frag_a32((const float *)pa, lda, l, f16, fa, other);
    else kiln_frag_a32((const float *)pa, lda, l, f16, other, fa);
    kiln_frag_b16(pb, ldb, l, fb);
    if (l == lane && (memcmp(fa, a, sizeof fa) != 0 || memcmp(fb, b, sizeof fb) != 0)) {
      for (int i = 0; i < 4; i++) d[i] = kiln_as_float(0x7fc00000u);
      return;
    }
    const unsigned int g = l >> 2, t = (l & 3u) * 2;
    for (unsigned int i = 0; i < 4; i++)
      for (unsigned int h = 0; h < 2; h++)
        A[g + 8 * (i & 1)][t + 8 * (i >> 1) + h] = kiln_h_to_f32((unsigned short)(fa[i] >> (16 * h)), f16);
    for (unsigned int i = 0; i < 2; i++)
      for (unsigned int h = 0; h < 2; h++)
        B[t + 8 * i + h][g] = kiln_h_to_f32((unsigned short)(fb[i] >> (16 * h)), f16);
  }
  const unsigned int g = lane >> 2, t = (lane & 3u) * 2;
  for (unsigned int i = 0; i < 4; i++) { /* d[i] = D[g + 8 (i / 2)][t + i % 2] */
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += A[g + 8 * (i >> 1)][k] * B[k][t + (i & 1)];
    d[i] += s;
  }
}

#define KILN_MMA(f16, d, a, b, asrc, pa, lda, pb, ldb, lane) \
  kiln_mma_host(f16, d, a, b, asrc, pa, lda, pb, ldb, lane)
/* cp.async completes at once; commit and wait have nothing to wait for. */
#define KILN_CP_ASYNC16(dst, src) memcpy(dst, src, 16)
#define KILN_CP_COMMIT
#define KILN_CP_WAIT1

/* ---- twins of the attention kernel's warp primitives (cg_cuda_ops_attn_tc.c) ----
 * There the mma takes A from registers (a KILN_PRIVATE array, filled in an
 * earlier phase), and each row's max and sum are combined over the 4 lanes
 * of a quad (shuffles on the GPU). Here a thread's private copy lives at
 * name[tid], so the twins read the other lanes' copies: exact, provided
 * they were written before the current phase (lane L runs the whole phase
 * before lane L + 1 starts). A value written in the same phase would be
 * the other lanes' stale one, which the tests see as wrong values. */
static inline float kiln_max_keep_nan(float a, float b);
static inline void kiln_frag_b32(const float *p, int ld, unsigned int lane, int f16, unsigned int *hi,
                                 unsigned int *lo);
static inline void kiln_frag_b32t(const float *p, int ld, unsigned int lane, int f16, unsigned int *hi,
                                  unsigned int *lo);

/* The quad of lane tid (4 aligned lanes); the same order of operations as
 * the GPU's two xor shuffles, so every lane gets the same bits. */
#define KILN_QUAD_ARGS(name, idx) \
  name[tid & ~3u] idx, name[(tid & ~3u) | 1u] idx, name[(tid & ~3u) | 2u] idx, name[(tid & ~3u) | 3u] idx
static inline float kiln_quad_max_host(float a, float b, float c, float d) {
  return kiln_max_keep_nan(kiln_max_keep_nan(a, b), kiln_max_keep_nan(c, d));
}
static inline float kiln_quad_sum_host(float a, float b, float c, float d) { return (a + b) + (c + d); }
#define KILN_QUAD_MAX(name, idx) kiln_quad_max_host(KILN_QUAD_ARGS(name, idx))
#define KILN_QUAD_SUM(name, idx) kiln_quad_sum_host(KILN_QUAD_ARGS(name, idx))

/* lane's B registers rebuilt from their source: 0 16-bit n-major
 * (kiln_frag_b16), 1/2 the hi/lo half of f32 n-major (kiln_frag_b32),
 * 3/4 of f32 k-major (kiln_frag_b32t). */
static void kiln_frag_b_src(int bsrc, const void *p, int ld, unsigned int lane, int f16, unsigned int *b) {
  unsigned int other[2];
  if (bsrc == 0) kiln_frag_b16((const unsigned short *)p, ld, lane, b);
  else if (bsrc == 1) kiln_frag_b32((const float *)p, ld, lane, f16, b, other);
  else if (bsrc == 2) kiln_frag_b32((const float *)p, ld, lane, f16, other, b);
  else if (bsrc == 3) kiln_frag_b32t((const float *)p, ld, lane, f16, b, other);
  else kiln_frag_b32t((const float *)p, ld, lane, f16, other, b);
}

/* The mma with A from registers: lane l's are at a + (l - lane) * astride
 * (unsigned ints). Only the lanes that feed lane's outputs are read: row
 * g of A (and g + 8) sits in lanes 4g .. 4g+3, columns t and t + 1 of B
 * in lanes 4t .. 4t+3 and 4(t+1) .. 4(t+1)+3. lane's own B registers
 * must equal the rebuilt ones (else NaN, as in kiln_mma_host). */
static void kiln_mma_host_rb(int f16, float *d, const unsigned int *a, const unsigned int *b, int astride, int bsrc,
                             const void *pb, int ldb, unsigned int lane) {
  unsigned int fb[2];
  kiln_frag_b_src(bsrc, pb, ldb, lane, f16, fb);
  if (memcmp(fb, b, sizeof fb) != 0) {
    for (int i = 0; i < 4; i++) d[i] = kiln_as_float(0x7fc00000u);
    return;
  }
  const unsigned int g = lane >> 2, t = (lane & 3u) * 2;
  float A[2][16], B[16][2];
  for (unsigned int q = 0; q < 4; q++) { /* a[i] = A[g + 8 (i % 2)][2q + 8 (i / 2) + {0, 1}] */
    const unsigned int *fa = a + ((long)(4 * g + q) - (long)lane) * astride;
    for (unsigned int i = 0; i < 4; i++)
      for (unsigned int h = 0; h < 2; h++)
        A[i & 1][2 * q + 8 * (i >> 1) + h] = kiln_h_to_f32((unsigned short)(fa[i] >> (16 * h)), f16);
  }
  for (unsigned int c = 0; c < 2; c++) /* b[i] = B[2q + 8 i + {0, 1}][n] in lane 4n + q */
    for (unsigned int q = 0; q < 4; q++) {
      unsigned int f[2];
      kiln_frag_b_src(bsrc, pb, ldb, 4 * (t + c) + q, f16, f);
      for (unsigned int i = 0; i < 2; i++)
        for (unsigned int h = 0; h < 2; h++)
          B[2 * q + 8 * i + h][c] = kiln_h_to_f32((unsigned short)(f[i] >> (16 * h)), f16);
    }
  for (unsigned int i = 0; i < 4; i++) { /* d[i] = D[g + 8 (i / 2)][t + i % 2] */
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += A[i >> 1][k] * B[k][i & 1];
    d[i] += s;
  }
}

#define KILN_PSTRIDE(name) ((int)(sizeof name[0] / sizeof(unsigned int)))
#define KILN_MMA_RB(f16, d, a, b, astride, bsrc, pb, ldb, lane) \
  kiln_mma_host_rb(f16, d, a, b, astride, bsrc, pb, ldb, lane)

/* ---- twins of the decode matvec's primitives (cg_cuda_ops_matvec.c) ----
 * A 16-byte load is a memcpy, but one from an address that is not 16-byte
 * aligned (a fault on the GPU) gives all-ones bits, NaN in f32, bf16 and
 * f16, which the tests see. The warp sum reads the other lanes'
 * KILN_PRIVATE copies (written in an earlier phase, as for the quad sums)
 * and adds them in the order of the GPU's xor butterfly: lane l adds lane
 * l ^ o's value at each step o = 16, 8, .., 1, and since an f32 addition
 * is commutative every lane ends with the bits of this tree. */
typedef struct {
  unsigned int x, y, z, w;
} uint4;
static inline float kiln_f16_to_f32(unsigned short h);
static inline uint4 kiln_ld16_host(const void *p) {
  uint4 r;
  if ((uintptr_t)p % 16 != 0) memset(&r, 0xff, sizeof r);
  else memcpy(&r, p, sizeof r);
  return r;
}
#define kiln_ldw16(p) kiln_ld16_host(p)
#define kiln_lda16(p) kiln_ld16_host(p)
static inline float kiln_f16_hw(unsigned short h) { return kiln_f16_to_f32(h); }
/* lane0: lane 0's copy of the value; stride: floats between two lanes' copies */
static inline float kiln_warp_sum_host(const float *lane0, int stride) {
  float v[32];
  for (int l = 0; l < 32; l++) v[l] = lane0[l * stride];
  for (int o = 16; o > 0; o >>= 1)
    for (int l = 0; l < o; l++) v[l] = v[l] + v[l + o];
  return v[0];
}
#define KILN_WARP_SUM(name, idx) \
  kiln_warp_sum_host(&(name[tid & ~31u] idx), (int)(sizeof name[0] / sizeof(float)))

typedef void (*KilnEmuKernel)(const unsigned char *kw, unsigned char *ka, unsigned char *ks,
                              const int *ktok, float *kout, KilnSyms ksym, KilnOffs koff);

/* Runs kernel k over grid[0] x grid[1] x grid[2] blocks of `block` threads
 * with the launch's buffer offsets koff. */
void kiln_emu_launch(KilnEmuKernel k, const long long grid[3], unsigned block, const unsigned char *kw,
                     unsigned char *ka, unsigned char *ks, const int *ktok, float *kout,
                     KilnSyms ksym, KilnOffs koff);
void kiln_emu_launch(KilnEmuKernel k, const long long grid[3], unsigned block, const unsigned char *kw,
                     unsigned char *ka, unsigned char *ks, const int *ktok, float *kout,
                     KilnSyms ksym, KilnOffs koff) {
  gridDim = (kiln_dim3){(unsigned)grid[0], (unsigned)grid[1], (unsigned)grid[2]};
  blockDim = (kiln_dim3){block, 1, 1};
  for (unsigned z = 0; z < gridDim.z; z++)
    for (unsigned y = 0; y < gridDim.y; y++)
      for (unsigned x = 0; x < gridDim.x; x++) {
        blockIdx = (kiln_dim3){x, y, z};
        k(kw, ka, ks, ktok, kout, ksym, koff);
      }
}

#endif
