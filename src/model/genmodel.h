/* genmodel.h - deterministic random models at a card's shapes (gemcl gen-model), for speed and memory
 * measurements at real sizes when real weights are not available. */
#ifndef GC_MODEL_GENMODEL_H
#define GC_MODEL_GENMODEL_H

#include <stdint.h>

#include "model/card.h"

/* Writes an HF directory out (config.json + model.safetensors) with the card's shapes: matrices and
 * biases ~ N(0, 0.02) (a sum of four uniforms from a fixed xorshift64* stream seeded per tensor from
 * seed, so output depends only on card, seed and dtype), norms = 1. Streams to disk in row chunks.
 * When tokenizer_path is not NULL the file is copied into out under its own name; otherwise the model has
 * no tokenizer and callers work with token ids. */
gc_status gc_gen_model(const gc_model_card *card, uint64_t seed, gc_dtype dtype, const char *tokenizer_path,
                       const char *out, gc_error *err);

#endif
