/* fe_tokenizer.h: tokenizer.json (Hugging Face tokenizers) in, a packed
 * tokenizer blob (runtime/rt_tokenizer.h) out.
 *
 *   uint8_t *blob; size_t bytes;
 *   if (!fe_tokenizer_pack(json, len, "tokenizer.json", &blob, &bytes, &d))
 *     // tokenizer.json: error: at $.model.type: model type "Unigram" is not
 *     // supported; kiln supports "BPE"
 *   ... rt_tok_load(blob, bytes, err, sizeof err) ...
 *   free(blob);
 *
 * Everything the runtime would otherwise parse is decided here: the
 * vocabulary goes into hash tables, merges get their ranks, added tokens a
 * trie, the split pattern is recognized and named, and the decoder chain
 * is run on every token ahead of time. What the blob cannot express is an
 * error that names the place in the file, never a silent difference.
 */
#ifndef KILN_FE_TOKENIZER_H
#define KILN_FE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* Reads json[0..len) (file names it in messages) and packs it. On
 * success *blob is malloc'd (the caller frees it), 8-byte aligned, and
 * *bytes long. */
bool fe_tokenizer_pack(const char *json, size_t len, const char *file, uint8_t **blob,
                       size_t *bytes, IrDiag *d);

#endif
