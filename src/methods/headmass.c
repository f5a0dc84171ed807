/* headmass.c - SnapKV and one-shot H2O (METHODS.md, snapkv and h2o): per layer and KV head, rank the prompt's
 * keys by the softmax attention mass they receive, keep the top (B - w) of the keys before the last w plus
 * those w, and gather them in place. The two differ only in which query rows count and in the pooling:
 *   snapkv  rows n - w .. n - 1 (the observation window), avg-5 (default) or max-7 pooling, w = --window
 *   h2o     every row (column sums of the whole causal softmax), no pooling, w = 32 (GemFilter's port)
 * The mass is accumulated while the prefill runs, from each layer's queries (the engine's after-layer hook),
 * chunk by chunk: nothing n x n exists. Selection is GQA-native: one set per KV head, the group's query heads
 * summed. (The reference repeats KV to every query head and so stores H/G times more.) Rows keep their
 * post-RoPE keys, so positions stay the original ones; decoding appends at n, n + 1, ... */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/method.h"
#include "ops/kvcompress.h"
#include "ops/select.h"

#define H2O_RECENT 32 /* GemFilter's H2O port keeps the last 32 prompt tokens */
#define SNAPKV_WINDOW 32

typedef struct headmass {
    int n, budget, window;   /* prompt rows; rows kept per head; of which the last `window` always */
    int i_from;              /* first query row whose attention counts */
    int pooling;             /* -1 none, else gemcl_pooling */
    int max_new;
    int n_layers, n_ub;
    gc_buffer *mass;         /* per layer f32 (n_kv_heads, n): attention mass per key */
    gc_buffer lse;           /* f32 (n_ub, n_heads): per-row log-sum-exp of the current chunk */
} headmass;

static gemcl_status accumulate(void *user, gc_seq *seq, int layer, const gc_buffer *q, int row0, int n,
                               gc_error *err) {
    headmass *h = user;
    const gc_hparams *hp = &seq->m->hp;
    if (row0 + n <= h->i_from || row0 + n > h->n)
        return GEMCL_OK;
    gc_attn_rows r = {row0, n, h->i_from, hp->n_heads, hp->n_kv_heads, hp->head_dim, 1.0f / sqrtf((float)hp->head_dim)};
    gemcl_status st = gc_op_attn_lse(seq->ops, &r, q, 0, &seq->k_cache[layer], &h->lse, err);
    if (st == GEMCL_OK)
        st = gc_op_attn_colsum(seq->ops, &r, q, 0, &seq->k_cache[layer], &h->lse, &h->mass[layer], h->n, err);
    return st;
}

void gc_headmass_finish(void *state, gc_seq *seq) {
    headmass *h = state;
    if (!h)
        return;
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    seq->after_layer = (gc_layer_hook){0};
    for (int l = 0; h->mass && l < h->n_layers; l++)
        gc_buffer_free(rt, &h->mass[l]);
    free(h->mass);
    gc_buffer_free(rt, &h->lse);
    free(h);
}

/* State for ranking by the mass of rows i_from.. ; NULL state (full attention) when n <= budget. */
static gemcl_status headmass_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, int window, int pooling, int i_from,
                                   void **state, gc_error *err) {
    *state = NULL;
    if (a->budget <= 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "budget must be positive (got %d)", a->budget);
    if (a->n <= a->budget)
        return GEMCL_OK; /* nothing to drop: exactly the full-attention path */
    const gc_hparams *hp = &a->m->hp;
    gc_runtime *rt = gc_ops_runtime(a->ops);
    headmass *h = calloc(1, sizeof *h);
    if (!h || !(h->mass = calloc((size_t)hp->n_layers, sizeof *h->mass))) {
        free(h);
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    h->n = a->n, h->budget = a->budget, h->window = window < a->budget ? window : a->budget;
    h->i_from = i_from, h->pooling = pooling, h->max_new = kv->max_new, h->n_layers = hp->n_layers;
    h->n_ub = seq->s.n_ub;
    size_t mass_bytes = (size_t)hp->n_kv_heads * a->n * 4;
    float *zeros = calloc((size_t)hp->n_kv_heads * a->n, sizeof *zeros);
    gemcl_status st = zeros ? gc_buffer_alloc(rt, (size_t)h->n_ub * hp->n_heads * 4, "attention lse", &h->lse, err)
                            : gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int l = 0; st == GEMCL_OK && l < hp->n_layers; l++) {
        st = gc_buffer_alloc(rt, mass_bytes, "attention mass", &h->mass[l], err);
        if (st == GEMCL_OK)
            st = gc_buffer_write(rt, &h->mass[l], 0, zeros, mass_bytes, err);
    }
    free(zeros);
    if (st != GEMCL_OK) {
        gc_headmass_finish(h, seq);
        return st;
    }
    seq->after_layer = (gc_layer_hook){accumulate, h};
    *state = h;
    return GEMCL_OK;
}

gemcl_status gc_snapkv_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state,
                       gc_error *err) {
    int w = kv->params && kv->params->window > 0 ? kv->params->window : SNAPKV_WINDOW;
    int pooling = kv->params ? (int)kv->params->pooling : GEMCL_POOLING_AVG5;
    if (pooling != GEMCL_POOLING_AVG5 && pooling != GEMCL_POOLING_MAX7)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "snapkv: unknown pooling %d", pooling);
    gemcl_status st = headmass_start(a, kv, seq, w, pooling, a->n - (w < a->budget ? w : a->budget), state, err);
    return st == GEMCL_OK ? st : gc_error_prefix(err, "snapkv");
}

gemcl_status gc_h2o_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state,
                       gc_error *err) {
    gemcl_status st = headmass_start(a, kv, seq, H2O_RECENT, -1, 0, state, err);
    return st == GEMCL_OK ? st : gc_error_prefix(err, "h2o");
}

/* idx (G, B) = per head: the top (B - w) of the pooled mass of keys 0 .. n - w - 1, ascending, then n - w .. n - 1. */
static gemcl_status select_layer(gc_ops *ops, const headmass *h, int layer, int n_kv_heads, gc_topk_scratch *ts,
                                 gc_buffer *pooled, gc_buffer *idx, gc_error *err) {
    int cand = h->n - h->window, top = h->budget - h->window;
    gemcl_status st = GEMCL_OK;
    for (int g = 0; st == GEMCL_OK && g < n_kv_heads; g++) {
        const gc_buffer *ranked = &h->mass[layer];
        size_t off = (size_t)g * h->n;
        if (h->pooling == GEMCL_POOLING_AVG5)
            st = gc_op_pool_avg5(ops, &h->mass[layer], off, pooled, 0, cand, err);
        else if (h->pooling == GEMCL_POOLING_MAX7)
            st = gc_op_pool_max7(ops, &h->mass[layer], off, pooled, 0, cand, err);
        if (h->pooling >= 0)
            ranked = pooled, off = 0;
        if (st == GEMCL_OK)
            st = gc_op_topk_indices(ops, ts, ranked, off, idx, (size_t)g * h->budget, cand, top, err);
    }
    return st;
}

gemcl_status gc_headmass_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err) {
    headmass *h = state;
    if (!h)
        return GEMCL_OK;
    seq->after_layer = (gc_layer_hook){0}; /* one-shot: decoding adds no mass */
    const gc_hparams *hp = &seq->m->hp;
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    int G = hp->n_kv_heads, B = h->budget, cand = h->n - h->window, top = B - h->window;
    size_t per_layer = (size_t)G * B;
    kept->heads = malloc((size_t)h->n_layers * per_layer * sizeof *kept->heads);
    if (!kept->heads)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    kept->n_layers = h->n_layers, kept->n_kv_heads = G, kept->per_head = B;
    int32_t *host = kept->heads; /* layer 0's slot doubles as staging for the window rows */
    for (int g = 0; g < G; g++)
        for (int t = 0; t < h->window; t++)
            host[(size_t)g * B + top + t] = cand + t;
    gc_buffer pooled = {0}, idx = {0};
    gc_topk_scratch *ts = NULL;
    gemcl_status st = gc_buffer_alloc(rt, (size_t)(cand > 0 ? cand : 1) * 4, "pooled mass", &pooled, err);
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, per_layer * 4, "kept rows per head", &idx, err);
    if (st == GEMCL_OK)
        st = gc_buffer_write(rt, &idx, 0, host, per_layer * 4, err);
    if (st == GEMCL_OK)
        st = gc_topk_scratch_create(seq->ops, cand > 0 ? cand : 1, top > 0 ? top : 1, &ts, err);
    for (int l = 0; st == GEMCL_OK && l < h->n_layers; l++) {
        st = select_layer(seq->ops, h, l, G, ts, &pooled, &idx, err);
        if (st == GEMCL_OK)
            st = gc_seq_compact_layer(seq, l, &idx, B, B, err);
        if (st == GEMCL_OK)
            st = gc_buffer_read(rt, &idx, 0, kept->heads + (size_t)l * per_layer, per_layer * 4, err);
    }
    gc_topk_scratch_free(ts);
    gc_buffer_free(rt, &pooled);
    gc_buffer_free(rt, &idx);
    if (st == GEMCL_OK) { /* give the dropped rows back: B rows plus room for the tokens to come */
        int rows = B + h->max_new < seq->n_ctx ? B + h->max_new : seq->n_ctx;
        st = gc_seq_resize(seq, rows, err);
    }
    return st;
}
