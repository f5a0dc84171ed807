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

#endif
