/* api_internal.h - the objects behind the public handles, shared by the API's source files. */
#ifndef GC_API_INTERNAL_H
#define GC_API_INTERNAL_H

#include "engine/engine.h"
#include "gemcl.h"
#include "model/model.h"

struct gemcl_model {
    gc_runtime *rt;
    gc_ops *ops;
    gc_model_file *file;
    gc_dmodel *dm;
    int filter_layer, filter_layer_from_card, budget; /* GemFilter defaults for this model */
};

struct gemcl_context {
    gemcl_model *model;
    gc_seq *seq;
    int n_ubatch;
    gc_error err;
};

/* What gc_generate starts from: text to tokenize, or token ids (when ids is not NULL; copied). */
typedef struct gc_prompt {
    const char *text;
    size_t text_len;
    const int32_t *ids;            /* (n_ids) */
    int n_ids;
} gc_prompt;

/* The body of gemcl_generate (text) and gemcl_generate_ids (ids). ignore_eos: end-of-text ids do not stop
 * decoding, so exactly max_tokens are generated unless the context fills or a callback stops it. */
gemcl_status gc_generate(gemcl_context *c, const gc_prompt *prompt, const gemcl_generate_params *params,
                         bool ignore_eos, gemcl_result *r);

#endif
