/* fuzz_common.h - what the model-format fuzz targets share: touching every byte a loaded model exposes,
 * so a view that points outside the input is an AddressSanitizer report, not a silent pass. */
#ifndef GEMCL_FUZZ_COMMON_H
#define GEMCL_FUZZ_COMMON_H

#include "model/model.h"

static unsigned fuzz_touch_tensor(const gc_tensor *t) {
    const unsigned char *p = t->data;
    unsigned sum = 0;
    for (size_t i = 0; p && i < t->nbytes; i++)
        sum += p[i];
    return sum;
}

/* Reads every tensor of an opened model; the sum is returned so the reads are not optimised away. */
static unsigned fuzz_touch_model(const gc_model_file *m) {
    unsigned sum = fuzz_touch_tensor(&m->tok_embd) + fuzz_touch_tensor(&m->out_norm) + fuzz_touch_tensor(&m->lm_head);
    for (int l = 0; l < m->hp.n_layers; l++) {
        const gc_layer_weights *w = &m->layers[l];
        const gc_tensor *ts[] = {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->bq, &w->bk, &w->bv,
                                 &w->wo, &w->ffn_norm, &w->w_gate, &w->w_up, &w->w_down};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            sum += fuzz_touch_tensor(ts[i]);
    }
    int n;
    const gc_tensor *all = gc_model_file_tensors(m, &n);
    for (int i = 0; i < n; i++)
        sum += fuzz_touch_tensor(&all[i]);
    return sum;
}

#endif
