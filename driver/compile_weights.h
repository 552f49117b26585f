/* compile_weights.h: the weight blob of a compiled model.
 *
 * The blob's data area holds every parameter at the offset the kernel
 * plan gave it (passes/kernel.h, KBUF_WEIGHT), in the parameter's declared
 * dtype, little-endian, zeros in the alignment gaps. Values come from the
 * checkpoint (converted when its dtype differs: F16/BF16/F32 among
 * themselves, integers among themselves) or from a .kir parameter's inline
 * initializer. NAME.kw is the 64-byte header of runtime/kiln_abi.h followed
 * by the data area.
 *
 *   uint8_t *data = calloc(1, plan->weights_bytes);
 *   if (!cw_pack(plan, weights, data, NULL, NULL, &d)) ...
 *   uint64_t sum = kiln_hash64(data, plan->weights_bytes, KILN_HASH_SEED);
 */
#ifndef KILN_COMPILE_WEIGHTS_H
#define KILN_COMPILE_WEIGHTS_H

#include "fe.h"
#include "kernel.h"

/* Called after each parameter with the bytes packed so far. */
typedef void (*CwProgressFn)(void *user, uint64_t done_bytes);

/* Fills data[0 .. plan->weights_bytes), which must be zeroed. w may be
 * NULL when every parameter has an inline initializer. Errors name the
 * parameter or the tensor: "model.safetensors: error: tensor 'wq' holds
 * 12 elements; parameter @wq : f32[4, 4] needs 16". */
bool cw_pack(const KernelPlan *plan, const FeWeights *w, uint8_t *data, CwProgressFn progress,
             void *user, IrDiag *d);

/* The 64-byte header of NAME.kw (kiln_abi.h). */
void cw_header(uint8_t out[64], uint64_t model_hash, uint64_t data_bytes, uint64_t checksum);

/* IEEE binary32 -> binary16 and -> bfloat16, rounding to nearest even
 * (NaN stays NaN, overflow goes to infinity). */
uint16_t cw_f32_to_f16(float f);
uint16_t cw_f32_to_bf16(float f);

#endif
