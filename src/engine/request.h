/* request.h - one request's lifecycle over a plan (plan.h), for the API layer: resolve the method's options,
 * select prompt tokens and gather them, prefill (chunked, or layer-major when the plan drops rows), compress
 * after the prefill, then decode with the plan's per-step hook. The API keeps the parameter checks, the
 * tokenisation, the prompt cache's bookkeeping and the text; the engine never sees text.
 *
 *   gc_request rq = {method, args, kv, reuse, smp, max_tokens};
 *   gc_request_resolve(&rq, &params->method, &defaults, err);   once per call
 *   gc_request_select(&rq, ids, err);                           ids gathered in place; rq.n_kept of them
 *   gc_request_prefill(seq, &rq, err);
 *   gc_request_decode(seq, &rq, &sink, err);                     sink gets each sampled token
 *   gc_request_finish(seq, &rq);                                 on every path, then free rq.sel / rq.kept
 */
#ifndef GC_REQUEST_H
#define GC_REQUEST_H

#include "engine/engine.h"

/* The model's defaults for the options a call leaves unset (the model card's, else GemFilter's rule). */
typedef struct gc_request_defaults {
    int filter_layer;
    bool filter_layer_from_card;
    int budget;
} gc_request_defaults;

/* Called with each sampled token in order; sets *stop to end the generation after it. */
typedef struct gc_token_sink {
    gc_status (*fn)(void *user, int32_t id, bool *stop, gc_error *err);
    void *user;
} gc_token_sink;

typedef struct gc_request {
    /* in */
    const gc_method *method;  /* the plan */
    gc_method_args args;      /* the prompt (ids, n) and the options (resolved by gc_request_resolve) */
    gc_kv_args kv;
    int reuse;                /* > 0: the cache already holds the prompt's first reuse ids (cache_prompt): no
                                 method runs and only the rest is prefilled */
    gc_sampling smp;
    int max_tokens;
    /* out */
    bool layer_defaulted;     /* the filter layer is GemFilter's rule, not the caller's or a card's */
    gc_selection sel;         /* what before_prefill kept; owned by the caller after gc_request_select */
    gc_kept_report kept;      /* what after_prefill reported; owned by the caller */
    int n_kept;               /* prompt ids the model is given: ids[0 .. n_kept - 1] after the gather */
    double filter_ms, prefill_ms, decode_ms;
    size_t kv_bytes;          /* gc_seq_kv_bytes after the prefill and the method's compression */
    int n_fed;                /* generated tokens fed back by decode steps (their KV is in the cache) */
    int32_t next;             /* the token sampled last */
    /* the plan's state between start and finish */
    void *state;
    bool started;
} gc_request;

/* Fills the unset filter layer (< 0) and budget (<= 0) from defaults and checks the layer against the model. */
gc_status gc_request_resolve(gc_request *rq, const gc_request_defaults *defaults, gc_error *err);

/* The plan's token-level selection (timed into filter_ms; none when reuse > 0): gathers the kept ids to the
 * front of ids (the request's prompt, writable) and sets n_kept. */
gc_status gc_request_select(gc_request *rq, int32_t *ids, gc_error *err);

/* Starts the plan, prefills ids[reuse .. n_kept - 1] after the cache's rows (reset first when reuse is 0),
 * samples the first token into next and lets the plan compress (timed into prefill_ms). */
gc_status gc_request_prefill(gc_seq *seq, gc_request *rq, gc_error *err);

/* Gives next to the sink, then runs the plan's per-step hook and a decode step, until max_tokens tokens, the
 * sink says stop or the context is full (timed into decode_ms). */
gc_status gc_request_decode(gc_seq *seq, gc_request *rq, const gc_token_sink *sink, gc_error *err);

/* Finishes the plan when it started (uninstalls its hooks, frees its state). */
void gc_request_finish(gc_seq *seq, gc_request *rq);

#endif
