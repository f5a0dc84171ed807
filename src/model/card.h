/* card.h - model cards (models/<name>.json, embedded at build time): a model family's shapes, RoPE layout and
 * scaling, trained context, and GemFilter's default filter layer and budget. Cards are data; gen-model
 * builds random models at their shapes and the engine asks for a model's defaults by matching its shape. */
#ifndef GC_MODEL_CARD_H
#define GC_MODEL_CARD_H

#include <stddef.h>

#include "model/model.h"
#include "util/json.h"

typedef struct gc_model_card {
    char name[64];          /* "llama-3.1-8b-instruct" */
    char family[32];        /* "llama", "mistral", "phi3" */
    char rope_scaling[16];  /* "none", "llama3", or a type the loader does not implement ("longrope") */
    gc_hparams hp;          /* shapes, eps, theta, layout, llama3 scaling, tied, bias, bos/eos */
    int ctx_trained;        /* the context the model was trained for */
    int filter_layer;       /* GemFilter's r, or -1 when the card has none (use gc_card_filter_layer) */
    int budget;             /* GemFilter's k, or -1 */
} gc_model_card;

/* The cards compiled into the library, terminated by {NULL, NULL, 0}. */
extern const gc_json_source gc_card_sources[];

/* Loads a card by name ("tinyllama-1.1b", from the embedded set) or from a .json path. */
gc_status gc_model_card_load(const char *name_or_path, gc_model_card *out, gc_error *err);

/* Parses card JSON of len bytes; file is for messages. */
gc_status gc_model_card_parse(const char *json, size_t len, const char *file, gc_model_card *out, gc_error *err);

/* The embedded card whose arch and shapes (layers, width, heads, kv heads, head_dim, ffn, vocab) equal
 * hp's; GC_ERR_NOT_FOUND when none does. */
gc_status gc_model_card_match(const gc_hparams *hp, gc_model_card *out, gc_error *err);

/* GemFilter's filter layer: the card's, else round(0.4 * n_layers) (METHODS.md). card may be NULL. */
int gc_card_filter_layer(const gc_model_card *card, int n_layers);

#endif
