/* generate_tokens.c - gemcl_generate_tokens: gemcl_generate on a prompt given as token ids. */
#include <string.h>

#include "api_edge.h"
#include "api_internal.h"

gemcl_status gemcl_generate_tokens(gemcl_context *c, const int32_t *ids, int n_ids,
                                   const gemcl_generate_params *params, gemcl_result *r) {
    if (!c || !r || (!ids && n_ids) || n_ids < 0)
        return GEMCL_ERR_INVALID_ARG;
    memset(r, 0, sizeof *r);
    gc_error_clear(&c->err);
    int vocab = c->model->file->hp.vocab_size;
    if (n_ids == 0)
        return gc_status_public(gc_fail(&c->err, GC_ERR_INVALID_ARG, "the prompt has no token ids"));
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return gc_status_public(gc_fail(&c->err, GC_ERR_INVALID_ARG,
                                            "prompt token %d is id %d, outside the vocabulary 0..%d", i, (int)ids[i],
                                            vocab - 1));
    gc_prompt_ids given = {ids, n_ids};
    return gc_status_public(gc_generate(c, NULL, 0, &given, params, r));
}
