/* method.c - the registry: each gemcl_method value's plan, indexed by the value itself. */
#include <string.h>

#include "methods/method.h"

static const gc_method methods[GEMCL_METHOD_COUNT_] = {
    /* name, before_prefill, start, select_rows, after_prefill, per_decode_step, finish */
    [GEMCL_METHOD_FULL] = {"full", NULL, NULL, NULL, NULL, NULL, NULL},
    [GEMCL_METHOD_GEMFILTER] = {"gemfilter", gc_gemfilter_select, NULL, NULL, NULL, NULL, NULL},
    [GEMCL_METHOD_SNAPKV] = {"snapkv", NULL, gc_snapkv_start, NULL, gc_headmass_after_prefill, NULL,
                             gc_headmass_finish},
    [GEMCL_METHOD_H2O] = {"h2o", NULL, gc_h2o_start, NULL, gc_headmass_after_prefill, NULL, gc_headmass_finish},
    [GEMCL_METHOD_H2O_STREAM] = {"h2o-stream", NULL, gc_h2o_stream_start, NULL, gc_headmass_after_prefill,
                                 gc_h2o_stream_per_decode_step, gc_headmass_finish},
    [GEMCL_METHOD_POD_TF] = {"pod-tf", NULL, gc_pod_start, NULL, gc_pod_after_prefill, NULL, gc_pod_finish},
    [GEMCL_METHOD_STREAMINGLLM] = {"streamingllm", NULL, gc_streaming_start, NULL, gc_streaming_after_prefill,
                                   gc_streaming_per_decode_step, gc_streaming_finish},
    [GEMCL_METHOD_PROMPTDISTILL] = {"promptdistill", NULL, gc_promptdistill_start, gc_promptdistill_select_rows,
                                    gc_promptdistill_after_prefill, NULL, gc_promptdistill_finish},
    [GEMCL_METHOD_STRIDE] = {"stride", gc_stride_select, NULL, NULL, NULL, NULL, NULL},
};

const gc_method *gc_method_of(gemcl_method method) {
    return method >= 0 && method < GEMCL_METHOD_COUNT_ && methods[method].name ? &methods[method] : NULL;
}

const gc_method *gc_method_find(const char *name) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].name && strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}
