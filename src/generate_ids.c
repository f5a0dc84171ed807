/* generate_ids.c - gemcl_generate_ids: gemcl_generate from token ids, never stopped by end-of-text ids. */
#include <string.h>

#include "api_internal.h"

gemcl_status gemcl_generate_ids(gemcl_context *c, const int32_t *ids, int n_ids, const gemcl_generate_params *params,
                                gemcl_result *r) {
    if (!c || !r || !ids || n_ids <= 0)
        return GEMCL_ERR_INVALID_ARG;
    gc_error_clear(&c->err);
    int vocab = c->model->file->hp.vocab_size;
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            memset(r, 0, sizeof *r);
            return gc_fail(&c->err, GEMCL_ERR_INVALID_ARG,
                           "prompt id %d at position %d is outside the vocabulary (0..%d)", ids[i], i, vocab - 1);
        }
    gc_prompt prompt = {NULL, 0, ids, n_ids};
    return gc_generate(c, &prompt, params, true, r);
}
