/* target.h: what the optimizing passes know about the machine.
 *
 * Tiles, panel widths and vector widths are derived here from a few facts
 * about the target (vector width, vector registers, FMA, cache sizes)
 * rather than scattered as constants through the passes and the backends.
 * The driver builds the KTarget for the machine it compiles for (the host
 * by default; --target/--cpu/--features otherwise) and hands it to the
 * pass manager (PassOptions.target) and to the backends.
 *
 * Named presets make IR tests independent of the build machine:
 *   kiln opt --target-desc=x86-64-avx512 --pass=pack-weights in.kir
 */
#ifndef KILN_TARGET_H
#define KILN_TARGET_H

#include "ir.h"

typedef struct KTarget {
  const char *name;        /* "x86-64-avx512", "x86-64-avx2", "aarch64-neon", "generic" */
  int vector_bits;         /* widest usable vector register: 512, 256, 128 */
  int vector_regs;         /* architectural vector registers: 32, 16 */
  bool fma;                /* fused multiply-add in vector form */
  bool f16c;               /* hardware f16 <-> f32 conversion */
  int64_t l1d_bytes, l2_bytes, l3_bytes; /* per core (l3: shared, per core share) */
  /* Derived by ktarget_derive(); the passes and backends read these. */
  int f32_lanes;           /* vector_bits / 32 */
  int panel;               /* matmul weight panel width: columns of N a micro-kernel row covers */
  int mr;                  /* rows of A in the register-blocked micro-kernel */
  int64_t kc;              /* K block so a panel slice stays in L1 */
  int64_t mc;              /* rows of A per block so that block stays in L2 */
  int64_t attn_block_q;    /* FlashAttention query rows per tile */
  int64_t attn_block_kv;   /* FlashAttention key/value rows per tile */
  int64_t attn_split_chunk;/* split-KV decode: positions per chunk */
} KTarget;

/* A preset by name (see ktarget_names()), derived fields filled. */
bool ktarget_preset(const char *name, KTarget *out, IrDiag *d);
/* "x86-64-avx512, x86-64-avx2, ..." for --help and errors. */
const char *ktarget_names(void);
/* From an LLVM triple and feature string ("+avx512f,+fma,..."), with
 * cache sizes of the host when `host` (sysfs/sysconf), else the preset's. */
bool ktarget_from_features(const char *triple, const char *features, bool host, KTarget *out,
                           IrDiag *d);
/* Fills the derived fields from the basic ones. */
void ktarget_derive(KTarget *t);
/* x86-64 with AVX2 and FMA: what passes use when none was given. */
const KTarget *ktarget_default(void);
/* One line: "x86-64-avx512: 512-bit vectors x32, fma, L1 48K L2 1M, panel 32, mr 8, ..." */
void ktarget_describe(IrBuf *b, const KTarget *t);

#endif
