/* gemfilter.c - GemFilter's selection ("Discovering the Gems in Early Layers", 2024; METHODS.md gemfilter).
 *
 * Pass 1 runs the engine's filter pass to layer r (post-RoPE K of every token, Q of the last), then on the
 * device: the raw head-summed score, the 5-wide zero-padded mean, and the top-k in document order. Only the
 * k indices are read back. Pass 2 (regenerating on the gathered ids at fresh positions) is the ordinary
 * prefill, run by the caller on the ids this selection keeps.
 *
 * One departure, for chat prompts only: when the prompt ends with the model's chat reply header
 * (args.query_back > 0: "<|im_end|>\n<|im_start|>assistant\n" for ChatML), the query is that of the user's
 * last token, and the header's rows are always kept. The header's last token says little about what the
 * question asks: on SmolLM2-135M at layer 21 its top-1024 kept 14 and 17 of a needle's 25 tokens where the
 * user's last token kept all 25 (README, Quality). A raw prompt (the paper's setting) is scored as before. */
#include <float.h>
#include <stdlib.h>

#include "methods/method.h"

gc_status gc_gemfilter_select(const gc_method_args *a, gc_selection *sel, gc_error *err) {
    sel->kept = NULL;
    sel->n_kept = 0;
    if (a->budget <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "gemfilter: budget must be positive (got %d)", a->budget);
    if (a->n <= a->budget)
        return GC_OK; /* nothing to drop: exactly the full-attention path */
    if (a->query_back < 0 || a->query_back >= a->budget)
        return gc_fail(err, GC_ERR_INVALID_ARG, "gemfilter: %d rows after the query do not fit a budget of %d",
                       a->query_back, a->budget);
    const gc_hparams *hp = gc_dmodel_hparams(a->m);
    gc_runtime *rt = gc_ops_runtime(a->ops);
    int n = a->n, k = a->budget;
    gc_buffer kbuf = {0}, qbuf = {0}, scores = {0}, pooled = {0}, idx = {0};
    gc_topk_scratch *ts = NULL;
    gc_status st =
        gc_filter_pass(a->ops, a->m, a->ids, n, a->filter_layer, n - 1 - a->query_back, a->n_ubatch, a->progress, &kbuf,
                       &qbuf, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)n * 4, "gemfilter scores", &scores, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)n * 4, "gemfilter pooled scores", &pooled, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)k * 4, "gemfilter indices", &idx, err);
    if (st == GC_OK)
        st = gc_topk_scratch_create(a->ops, n, k, &ts, err);
    if (st == GC_OK)
        st = gc_op_gemfilter_score(a->ops, &qbuf, 0, &kbuf, 0, &scores, 0, n, hp->n_heads, hp->n_kv_heads,
                                   hp->head_dim, err);
    if (st == GC_OK)
        st = gc_op_pool_avg5(a->ops, &scores, 0, &pooled, 0, n, err);
    if (st == GC_OK && a->query_back > 0) { /* the reply header's rows rank first: one write of them all */
        float *top = malloc((size_t)a->query_back * sizeof *top);
        for (int i = 0; top && i < a->query_back; i++)
            top[i] = FLT_MAX;
        st = top ? gc_buffer_write(rt, &pooled, (size_t)(n - a->query_back) * 4, top, (size_t)a->query_back * 4, err)
                 : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
        free(top);
    }
    if (st == GC_OK)
        st = gc_op_topk_indices(a->ops, ts, &pooled, 0, &idx, 0, n, k, err);
    if (st == GC_OK) {
        sel->kept = malloc((size_t)k * sizeof *sel->kept);
        st = sel->kept ? gc_buffer_read(rt, &idx, 0, sel->kept, (size_t)k * 4, err)
                       : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
        sel->n_kept = k;
    }
    if (st != GC_OK) {
        free(sel->kept);
        sel->kept = NULL;
        sel->n_kept = 0;
        gc_error_prefix(err, "gemfilter");
    }
    gc_topk_scratch_free(ts);
    gc_buffer_free(rt, &kbuf);
    gc_buffer_free(rt, &qbuf);
    gc_buffer_free(rt, &scores);
    gc_buffer_free(rt, &pooled);
    gc_buffer_free(rt, &idx);
    return st;
}
