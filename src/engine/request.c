/* request.c - one request's lifecycle over a plan: resolve, select and gather, prefill, after_prefill, decode
 * with the per-step hook, finish (request.h). The engine's loops stay as they are; the plan's hooks are the
 * only things that differ between methods. */

#include "engine/forward.h"
#include "engine/request.h"
#include "util/clock.h"

gc_status gc_request_resolve(gc_request *rq, const gc_request_defaults *d, gc_error *err) {
    gc_method_args *a = &rq->args;
    int n_layers = gc_dmodel_hparams(a->m)->n_layers;
    if (a->filter_layer < 0) {
        a->filter_layer = d->filter_layer;
        rq->layer_defaulted = !d->filter_layer_from_card;
    }
    if (a->budget <= 0)
        a->budget = d->budget;
    if (a->filter_layer >= n_layers)
        return gc_fail(err, GC_ERR_INVALID_ARG, "filter layer %d is outside the model's layers 0..%d", a->filter_layer,
                       n_layers - 1);
    return GC_OK;
}

gc_status gc_request_select(gc_request *rq, int32_t *ids, gc_error *err) {
    rq->n_kept = rq->args.n;
    if (rq->reuse > 0 || !rq->method->before_prefill)
        return GC_OK;
    double t0 = gc_now_ms();
    GC_TRY(rq->method->before_prefill(&rq->args, &rq->sel, err));
    rq->filter_ms = gc_now_ms() - t0;
    if (rq->sel.kept) {
        for (int i = 0; i < rq->sel.n_kept; i++)
            ids[i] = ids[rq->sel.kept[i]]; /* kept is ascending, so the gather can run in place */
        rq->n_kept = rq->sel.n_kept;
    }
    return GC_OK;
}

/* The prefill the plan asks for: layer-major when it chooses rows between layers, else chunked. */
static gc_status prefill(gc_seq *seq, gc_request *rq, const int32_t *ids, int n, gc_error *err) {
    if (rq->method->select_rows) {
        gc_stage_hook stages = {rq->method->select_rows, rq->state};
        return gc_seq_prefill_staged(seq, ids, n, &stages, &rq->smp, &rq->next, NULL, err);
    }
    return gc_seq_prefill(seq, ids, NULL, n, &rq->smp, &rq->next, NULL, err);
}

gc_status gc_request_prefill(gc_seq *seq, gc_request *rq, gc_error *err) {
    const gc_method *method = rq->method;
    if (rq->reuse == 0)
        gc_seq_reset(seq);
    const int32_t *ids = rq->args.ids + rq->reuse;
    int n = rq->n_kept - rq->reuse, max_new = rq->max_tokens > 0 ? rq->max_tokens : 0;
    int want_rows = seq->n_past + n + max_new;
    GC_TRY(gc_seq_reserve(seq, want_rows < seq->n_ctx ? want_rows : seq->n_ctx, err));
    if (method->start) {
        rq->kv.max_new = max_new;
        GC_TRY(method->start(&rq->args, &rq->kv, seq, &rq->state, err));
        rq->started = true;
    }
    double t0 = gc_now_ms();
    GC_TRY(prefill(seq, rq, ids, n, err));
    if (method->after_prefill)
        GC_TRY(method->after_prefill(rq->state, seq, &rq->kept, err));
    rq->prefill_ms = gc_now_ms() - t0;
    rq->kv_bytes = gc_seq_kv_bytes(seq);
    return GC_OK;
}

gc_status gc_request_decode(gc_seq *seq, gc_request *rq, const gc_token_sink *sink, gc_error *err) {
    double t0 = gc_now_ms();
    gc_status st = GC_OK;
    for (int t = 0; t < rq->max_tokens; t++) {
        bool stop = false;
        if ((st = sink->fn(sink->user, rq->next, &stop, err)) != GC_OK || stop || t + 1 == rq->max_tokens)
            break;
        if (rq->method->per_decode_step && (st = rq->method->per_decode_step(rq->state, seq, err)) != GC_OK)
            break;
        if (seq->n_past >= seq->n_ctx)
            break;
        if ((st = gc_seq_decode(seq, rq->next, &rq->smp, &rq->next, NULL, err)) != GC_OK)
            break;
        rq->n_fed++;
    }
    rq->decode_ms = gc_now_ms() - t0;
    return st;
}

void gc_request_finish(gc_seq *seq, gc_request *rq) {
    if (rq->started && rq->method->finish)
        rq->method->finish(rq->state, seq);
    rq->started = false;
    rq->state = NULL;
}
