/* kiln_abi.h: the contract between generated model code and the runtime.
 *
 * `kiln compile` emits, per model, an object that defines one symbol:
 *
 *   const KilnModelDesc kiln_model;   (name configurable: --symbol=NAME)
 *
 * describing the model and pointing at its entry points. The runtime
 * (libkilnrt, runtime/) owns everything else: the weight blob (mmapped
 * or embedded), the activation arena, the KV-cache state, the thread pool,
 * sampling and the generate loop. Generated code does the math: every
 * matmul, norm, attention and activation. It allocates nothing and keeps
 * no globals; it reads weights, reads and writes the arena and the state,
 * and asks the runtime to run its kernels in parallel.
 *
 * Determinism: an entry splits each kernel's parallel axis into fixed
 * chunks whose size depends only on the shapes, never on the thread count;
 * the runtime may run chunks on any thread in any order. So logits are
 * bit-identical for any number of threads.
 *
 * This header is included by the runtime and by the C code of anyone who
 * links a kiln object; it depends on nothing but <stdint.h>/<stddef.h>.
 */
#ifndef KILN_ABI_H
#define KILN_ABI_H

#include <stddef.h>
#include <stdint.h>

#define KILN_ABI_VERSION 2u
#define KILN_WEIGHTS_MAGIC "KILNWTS1"
/* The weight file's format version: independent of the ABI (version 2
 * added the CUDA kernels to the model description, not to the file). */
#define KILN_WEIGHTS_VERSION 1u

/* One chunk of a kernel: iterations [begin, end) of its parallel axis. */
typedef void (*KilnKernelFn)(const void *args, int64_t begin, int64_t end);

/* What generated code gets from the runtime on every call. */
typedef struct KilnExec {
  const uint8_t *weights; /* the weight blob's data area, 64-byte aligned */
  uint8_t *arena;         /* activations, arena_bytes, 64-byte aligned */
  uint8_t *state;         /* KV cache, state_bytes, 64-byte aligned, persists */
  /* Runs fn(args, c*chunk, min(n, (c+1)*chunk)) for every chunk c of
   * [0, n), in parallel, and returns when all are done. */
  void (*parallel_for)(struct KilnExec *ex, KilnKernelFn fn, const void *args, int64_t n,
                       int64_t chunk);
  void *pool;             /* the runtime's, opaque to generated code */
} KilnExec;

/* An entry point: prefill(tokens[T]) at positions [P, P+T), or decode
 * (T = 1). Writes vocab floats (the last position's logits) to `logits`,
 * or T*vocab with all_logits. Returns 0, or a nonzero KilnStatus. */
typedef int (*KilnEntryFn)(KilnExec *ex, const int32_t *tokens, int64_t T, int64_t P,
                           float *logits);

typedef enum {
  KILN_OK = 0,
  KILN_ERR_ARGS = 1,     /* T or P outside the compiled bounds */
  KILN_ERR_TOKEN = 2,    /* a token id outside [0, vocab) */
  KILN_ERR_CONTEXT = 3,  /* P + T exceeds max_context */
} KilnStatus;

/* ---- CUDA kernels (kiln compile --device=cuda) ----------------------------
 *
 * A model compiled for CUDA carries, beside its CPU code, the CUDA
 * kernels of the same kernel plan (codegen/cuda, docs/cuda.md): a CUBIN
 * for one architecture and the PTX it came from, which the driver JITs on
 * newer GPUs, and for each entry the kernels to launch, in order, on one
 * stream. The weight blob, arena and KV cache have the same layout and
 * sizes as the CPU's (the plan is shared). Every kernel takes
 *
 *   (const uint8_t *weights, uint8_t *arena, uint8_t *state,
 *    const int32_t *tokens, float *logits, KilnCudaSyms syms,
 *    KilnCudaOffsets offs)
 *
 * device pointers, the symbol values and the launch's buffer offsets by
 * value. A kernel reaches its i-th buffer at a base pointer plus
 * offs.o[i] (the launch's offsets[i]), so one function serves every
 * launch whose kernels differ only in where their buffers are (the
 * layers of a model). A grid dimension is
 * ceil(f[0] * ... * f[n-1] / div) with each factor an affine dim over the
 * symbols; a launch whose grid has a zero dimension is skipped. The
 * logits come back as rows * vocab floats (rows = T with all_logits,
 * else 1). */
#define KILN_CUDA_MAX_SYMS 8
#define KILN_CUDA_MAX_FACTORS 10
#define KILN_CUDA_MAX_OFFSETS 16 /* buffer offsets a kernel takes */

typedef struct {
  long long s[KILN_CUDA_MAX_SYMS];
} KilnCudaSyms;

typedef struct {
  unsigned long long o[KILN_CUDA_MAX_OFFSETS];
} KilnCudaOffsets;

/* c + sum_s k[s] * syms.s[s] */
typedef struct {
  int64_t c;
  int64_t k[KILN_CUDA_MAX_SYMS];
} KilnCudaDim;

typedef struct {
  int32_t n;
  KilnCudaDim f[KILN_CUDA_MAX_FACTORS];
  int64_t div; /* >= 1 */
} KilnCudaExtent;

typedef struct {
  const char *name;       /* "kiln_k7": the kernel's function in the image (shared by launches) */
  int32_t block;          /* threads per block (x only) */
  int32_t smem_bytes;     /* static shared memory (for reports; the image has it) */
  KilnCudaExtent grid[3]; /* x, y, z */
  int32_t noffsets;       /* offsets in use, <= KILN_CUDA_MAX_OFFSETS; the rest are 0 */
  uint64_t offsets[KILN_CUDA_MAX_OFFSETS]; /* the kernel's KilnCudaOffsets: byte offsets of
                                              its buffers in the weights, arena or state */
} KilnCudaLaunch;

typedef struct {
  const KilnCudaLaunch *launches;
  int32_t n;
} KilnCudaEntry;

typedef struct KilnCudaDesc {
  const char *gpu_arch;       /* "sm_90": what the CUBIN runs on */
  const uint8_t *cubin;       /* ELF image for gpu_arch */
  uint64_t cubin_bytes;
  const char *ptx;            /* NUL-terminated PTX (compute_NN of gpu_arch) */
  uint64_t ptx_bytes;         /* strlen(ptx) */
  KilnCudaEntry prefill, decode;
  int32_t nsyms;              /* symbols in use, <= KILN_CUDA_MAX_SYMS */
  int32_t sym_t, sym_p;       /* the indexes of T and P in KilnCudaSyms, -1: none */
} KilnCudaDesc;

typedef struct {
  uint32_t abi_version;       /* KILN_ABI_VERSION */
  const char *kiln_version;   /* "0.1.0" of the compiler that made it */
  uint64_t model_hash;        /* kiln_hash64 of the optimized IR text and the weight checksum */
  const char *model_name;
  int64_t vocab, max_context, max_tokens; /* bounds of V, P+T and T */
  int64_t bos_id, eos_id;     /* -1 if none */
  uint64_t arena_bytes;       /* activation arena needed at the bounds */
  uint64_t state_bytes;       /* KV cache */
  uint64_t weights_bytes;     /* size of the blob's data area */
  uint64_t weights_checksum;  /* kiln_hash64 of the data area */
  const uint8_t *embedded_weights; /* data area inside the executable, or NULL */
  const uint8_t *tokenizer;   /* packed tokenizer (runtime/rt_tokenizer), or NULL */
  uint64_t tokenizer_bytes;
  KilnEntryFn prefill;
  KilnEntryFn decode;
  int all_logits;             /* prefill writes T*vocab logits */
  const KilnCudaDesc *cuda;   /* the CUDA kernels (--device=cuda), or NULL: CPU only */
} KilnModelDesc;

/* The weight file NAME.kw: a 64-byte header, then the data area at offset
 * 64 (so it is 64-byte aligned when mmapped).
 *   0  char[8]  magic KILN_WEIGHTS_MAGIC
 *   8  u32      format version (KILN_WEIGHTS_VERSION)
 *   12 u32      reserved (0)
 *   16 u64      model_hash    (must equal the executable's)
 *   24 u64      data bytes
 *   32 u64      checksum of the data area (kiln_hash64)
 *   40 char[24] reserved (0)
 */
#define KILN_WEIGHTS_HEADER_BYTES 64

/* kiln_hash64: FNV-1a 64 over little-endian 64-bit words (a zero-padded
 * last word), so checksumming gigabytes of weights at start-up runs at
 * memory speed rather than a byte at a time. The compiler and the runtime
 * share this one definition. */
static inline uint64_t kiln_hash64(const void *data, uint64_t n, uint64_t h) {
  const uint8_t *p = (const uint8_t *)data;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                 (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                 (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
    h = (h ^ w) * 0x100000001b3ull;
  }
  if (n) {
    uint64_t w = 0;
    for (uint64_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    h = (h ^ w) * 0x100000001b3ull;
  }
  return h;
}
#define KILN_HASH_SEED 0xcbf29ce484222325ull

#endif
