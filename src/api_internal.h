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

/* The prompt as token ids, for gemcl_generate_tokens: used as given (no tokenization, no BOS added). */
typedef struct gc_prompt_ids {
    const int32_t *ids;
    int n;
} gc_prompt_ids;

/* gemcl_generate's body: the prompt is given (ids, when given != NULL) or tokenized from prompt/len. */
gemcl_status gc_generate(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                         const gemcl_generate_params *params, gemcl_result *r);

#endif
