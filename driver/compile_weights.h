/* compile_weights.h: the weight blob of a compiled model, from a
 * checkpoint.
 *
 * codegen/cg_weights.c lays the data area out as the kernel plan says
 * (every parameter at its offset, in its declared dtype, converted and
 * rounded as the interpreter binds it, zeros between). This file hands it
 * the checkpoint's tensors, reports progress, and writes the 64-byte
 * header of NAME.kw (runtime/kiln_abi.h).
 *
 *   uint8_t *data = malloc(plan->weights_bytes);
 *   if (!cw_pack(plan, weights, data, NULL, NULL, &d)) ...
 *   uint64_t sum = kiln_hash64(data, plan->weights_bytes, KILN_HASH_SEED);
 */
#ifndef KILN_COMPILE_WEIGHTS_H
#define KILN_COMPILE_WEIGHTS_H

#include "fe.h"
#include "kernel.h"

/* Called as parameters are packed with the bytes of the blob done. */
typedef void (*CwProgressFn)(void *user, uint64_t done_bytes);

/* Fills data[0 .. plan->weights_bytes) from the parameters' inline values
 * and the checkpoint w (NULL when every parameter has inline values).
 * Errors name the tensor or the parameter: "model.safetensors: error:
 * missing tensor: lm_head.weight". Needs LLVM's build (codegen). */
bool cw_pack(const KernelPlan *plan, const FeWeights *w, uint8_t *data, CwProgressFn progress,
             void *user, IrDiag *d);

/* The 64-byte header of NAME.kw (kiln_abi.h). */
void cw_header(uint8_t out[64], uint64_t model_hash, uint64_t data_bytes, uint64_t checksum);

#endif
