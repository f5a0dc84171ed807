/* streamingllm.c - StreamingLLM ("Efficient Streaming Language Models with Attention Sinks", 2023; METHODS.md
 * streamingllm): the cache holds the first S tokens (attention sinks, default 4) and the most recent
 * W = k - S. Positions are cache slots, as in the paper: slot i is rotated as position i.
 *
 * We keep post-RoPE keys and rotate by the delta when rows move (not pre-RoPE keys re-rotated each step):
 * RoPE composes, R(p + d) = R(d) R(p), so moving a row from slot p to slot p + d is one rope op with
 * position d on that row. After the prefill (positions 0..n-1) the window rows move from n - W + t to S + t,
 * all by d = k - n; each decode step with a full cache drops slot S, moves slots S+1..k-1 down by one
 * (d = -1) and feeds the new token at slot k - 1. Values carry no position and just move. The float rotation
 * is applied once per eviction, so after many steps a key carries the rounding of that many rotations
 * (relative error ~1e-7 each). */
#include <stdlib.h>

#include "methods/method.h"

#define STREAMING_SINKS 4

typedef struct streaming {
    int n, budget, sinks;
    gc_buffer keep_prefill;  /* int32 (k): slots 0..S-1 then n - W .. n - 1 */
    gc_buffer keep_step;     /* int32 (k - 1): 0..S-1 then S + 1 .. k - 1 */
    gc_buffer delta_prefill; /* int32 (W): k - n */
    gc_buffer delta_step;    /* int32 (W - 1): -1 */
} streaming;

void gc_streaming_finish(void *state, gc_seq *seq) {
    streaming *s = state;
    if (!s)
        return;
    gc_runtime *rt = gc_ops_runtime(gc_seq_ops(seq));
    gc_buffer_free(rt, &s->keep_prefill);
    gc_buffer_free(rt, &s->keep_step);
    gc_buffer_free(rt, &s->delta_prefill);
    gc_buffer_free(rt, &s->delta_step);
    free(s);
}

/* Uploads n int32 values f(i) = (i < split ? i : i + shift) or, when split < 0, the constant shift. */
static gc_status upload_rows(gc_runtime *rt, int n, int split, int shift, const char *what, gc_buffer *buf,
                             gc_error *err) {
    int32_t *host = malloc((size_t)(n > 0 ? n : 1) * sizeof *host);
    if (!host)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++)
        host[i] = split < 0 ? shift : i < split ? i : i + shift;
    gc_status st = gc_buffer_alloc(rt, (size_t)(n > 0 ? n : 1) * 4, what, buf, err);
    if (st == GC_OK && n > 0)
        st = gc_buffer_write(rt, buf, 0, host, (size_t)n * 4, err);
    free(host);
    return st;
}

gc_status gc_streaming_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err) {
    *state = NULL;
    int sinks = kv->params && kv->params->sink_tokens > 0 ? kv->params->sink_tokens : STREAMING_SINKS, k = a->budget;
    if (k <= sinks + 1)
        return gc_fail(err, GC_ERR_INVALID_ARG, "streamingllm: budget %d must exceed the %d sink tokens + 1", k, sinks);
    streaming *s = calloc(1, sizeof *s);
    if (!s)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    s->n = a->n, s->budget = k, s->sinks = sinks;
    gc_runtime *rt = gc_ops_runtime(a->ops);
    int w = k - sinks;
    gc_status st = upload_rows(rt, k, sinks, a->n - k, "streaming kept rows", &s->keep_prefill, err);
    if (st == GC_OK)
        st = upload_rows(rt, k - 1, sinks, 1, "streaming kept rows (step)", &s->keep_step, err);
    if (st == GC_OK)
        st = upload_rows(rt, w, -1, k - a->n, "streaming shift", &s->delta_prefill, err);
    if (st == GC_OK)
        st = upload_rows(rt, w - 1, -1, -1, "streaming shift (step)", &s->delta_step, err);
    if (st != GC_OK) {
        gc_streaming_finish(s, seq);
        return gc_error_prefix(err, "streamingllm");
    }
    *state = s;
    return GC_OK;
}

/* Every layer keeps rows keep[0..n_keep-1]; rows sinks.. of the result move by delta[] slots. */
static gc_status evict(const streaming *s, gc_seq *seq, const gc_buffer *keep, int n_keep, const gc_buffer *delta,
                       gc_error *err) {
    for (int l = 0; l < gc_seq_hparams(seq)->n_layers; l++) {
        gc_status st = gc_seq_compact_layer(seq, l, keep, 0, n_keep, err);
        if (st == GC_OK)
            st = gc_seq_rotate_keys(seq, l, s->sinks, n_keep - s->sinks, delta, err);
        if (st != GC_OK)
            return gc_error_prefix(err, "streamingllm");
    }
    gc_seq_set_next_pos(seq, gc_seq_n_past(seq)); /* positions are slots */
    return GC_OK;
}

gc_status gc_streaming_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err) {
    streaming *s = state;
    if (s->n <= s->budget)
        return GC_OK;
    kept->tokens = malloc((size_t)s->budget * sizeof *kept->tokens);
    if (!kept->tokens)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    kept->n_tokens = s->budget;
    for (int i = 0; i < s->budget; i++)
        kept->tokens[i] = i < s->sinks ? i : i + s->n - s->budget;
    gc_status st = evict(s, seq, &s->keep_prefill, s->budget, &s->delta_prefill, err);
    return st == GC_OK ? gc_seq_resize(seq, s->budget, err) : st; /* the cache never holds more than k rows */
}

gc_status gc_streaming_per_decode_step(void *state, gc_seq *seq, gc_error *err) {
    streaming *s = state;
    return gc_seq_n_past(seq) < s->budget ? GC_OK : evict(s, seq, &s->keep_step, s->budget - 1, &s->delta_step, err);
}
