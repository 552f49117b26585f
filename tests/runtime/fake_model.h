/* fake_model.h: a hand-written stand-in for the code `kiln compile` emits.
 *
 * fake_model.c defines `const KilnModelDesc kiln_model` for a tiny
 * deterministic model (vocab 32, width 16, context 24, at most 8 tokens a
 * call) whose kernels run through ex->parallel_for in fixed chunks, read
 * their weights from ex->weights, their activations from ex->arena, and
 * keep a KV cache in ex->state, as generated code does. So the runtime's
 * tests exercise all of it without a compiler.
 */
#ifndef KILN_FAKE_MODEL_H
#define KILN_FAKE_MODEL_H

#include "kiln_abi.h"

#define FAKE_VOCAB 32
#define FAKE_DIM 16
#define FAKE_MAX_CONTEXT 24
#define FAKE_MAX_TOKENS 8
/* embed [VOCAB, DIM], mix [DIM, DIM], out [VOCAB, DIM], all f32. */
#define FAKE_WEIGHTS_BYTES ((2 * FAKE_VOCAB * FAKE_DIM + FAKE_DIM * FAKE_DIM) * 4)

extern const KilnModelDesc kiln_model;

/* The weights' data area: FAKE_WEIGHTS_BYTES bytes. */
void fake_model_fill_weights(uint8_t *data);
/* Writes a weights file (header + data) for a model of hash model_hash,
 * with a correct checksum. Returns 0, or -1 if the file cannot be written. */
int fake_model_write_weights(const char *path, uint64_t model_hash);

#endif
