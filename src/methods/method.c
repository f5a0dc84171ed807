#include <string.h>

#include "methods/method.h"

static const gc_method methods[] = {
    {"full", NULL, NULL, NULL, NULL, NULL},
    {"gemfilter", gc_gemfilter_select, NULL, NULL, NULL, NULL},
    {"snapkv", NULL, gc_snapkv_start, gc_headmass_after_prefill, NULL, gc_headmass_finish},
    {"h2o", NULL, gc_h2o_start, gc_headmass_after_prefill, NULL, gc_headmass_finish},
    {"streamingllm", NULL, gc_streaming_start, gc_streaming_after_prefill, gc_streaming_per_decode_step,
     gc_streaming_finish},
};

const gc_method *gc_method_find(const char *name) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}
