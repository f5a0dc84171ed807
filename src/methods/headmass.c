/* headmass.c - SnapKV, H2O and H2O streaming (METHODS.md, snapkv and h2o): per layer and KV head, rank the
 * prompt's keys by the softmax attention mass they receive, keep the top (B - w) of the keys before the last
 * w plus those w, and gather them in place. The three differ in which query rows count, the pooling and when
 * they evict:
 *   snapkv      rows n - w .. n - 1 (the observation window), avg-5 (default) or max-7 pooling, w = --window;
 *               once, after the prefill
 *   h2o         every row (column sums of the whole causal softmax), no pooling, w = 32 (GemFilter's port);
 *               once, after the prefill
 *   h2o-stream  every row, prompt and generated; B = heavy + recent, w = recent; after the prefill and then at
 *               every decode step that takes the cache over B, the non-recent row with the least mass goes
 * The mass is accumulated while the model runs, from each layer's queries (the engine's after-layer hook),
 * chunk by chunk: nothing n x n exists. Selection is GQA-native: one set per KV head, the group's query heads
 * summed. (The reference repeats KV to every query head and so stores H/G times more.) Rows keep their
 * post-RoPE keys, so positions stay the original ones; decoding appends at n, n + 1, ... */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods/method.h"

#define H2O_RECENT 32 /* GemFilter's H2O port keeps the last 32 prompt tokens */
#define SNAPKV_WINDOW 32
#define H2O_STREAM_DEFAULT 1024 /* heavy and recent rows each, the H2O paper's streaming setting */

typedef struct headmass {
    int n, budget, window;   /* prompt rows; rows kept per head; of which the last `window` always */
    int i_from;              /* first query row whose attention counts */
    int pooling;             /* -1 none, else gemcl_pooling */
    bool stream;             /* h2o-stream: keep accumulating and evict while decoding */
    int max_new;
    int n_layers, cap;       /* cap: mass columns per head (n, or for streaming max(n, B) + 1) */
    gc_buffer *mass;         /* per layer f32 (n_kv_heads, cap): attention mass per cache row */
    gc_buffer mass_tmp;      /* streaming: f32 (n_kv_heads, cap), zero beyond column B (gather target) */
    gc_buffer lse;           /* f32 (n_ub, n_heads): per-row log-sum-exp of the current chunk */
    gc_buffer idx;           /* streaming: int32 (n_kv_heads, max(B, cap - 1)) rows kept */
} headmass;

static gc_status accumulate(void *user, gc_seq *seq, int layer, const gc_buffer *q, int row0, int n, gc_error *err) {
    headmass *h = user;
    const gc_hparams *hp = gc_seq_hparams(seq);
    gc_ops *ops = gc_seq_ops(seq);
    if (row0 + n <= h->i_from || row0 + n > h->cap)
        return GC_OK;
    gc_attn_rows r = {row0, n, h->i_from, hp->n_heads, hp->n_kv_heads, hp->head_dim, 1.0f / sqrtf((float)hp->head_dim)};
    gc_status st = gc_op_attn_lse(ops, &r, q, 0, gc_seq_keys(seq, layer), &h->lse, err);
    if (st == GC_OK)
        st = gc_op_attn_colsum(ops, &r, q, 0, gc_seq_keys(seq, layer), &h->lse, &h->mass[layer], h->cap, err);
    return st;
}

void gc_headmass_finish(void *state, gc_seq *seq) {
    headmass *h = state;
    if (!h)
        return;
    gc_runtime *rt = gc_ops_runtime(gc_seq_ops(seq));
    gc_seq_set_layer_hook(seq, (gc_layer_hook){0});
    for (int l = 0; h->mass && l < h->n_layers; l++)
        gc_buffer_free(rt, &h->mass[l]);
    free(h->mass);
    gc_buffer_free(rt, &h->mass_tmp);
    gc_buffer_free(rt, &h->lse);
    gc_buffer_free(rt, &h->idx);
    free(h);
}

static gc_status alloc_zeroed(gc_runtime *rt, size_t bytes, const float *zeros, const char *what, gc_buffer *buf,
                              gc_error *err) {
    gc_status st = gc_buffer_alloc(rt, bytes, what, buf, err);
    return st == GC_OK ? gc_buffer_write(rt, buf, 0, zeros, bytes, err) : st;
}

static gc_status headmass_buffers(gc_runtime *rt, const gc_hparams *hp, int n_ub, headmass *h, gc_error *err) {
    size_t mass_bytes = (size_t)hp->n_kv_heads * h->cap * 4;
    float *zeros = calloc((size_t)hp->n_kv_heads * h->cap, sizeof *zeros);
    if (!zeros)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    gc_status st = gc_buffer_alloc(rt, (size_t)n_ub * hp->n_heads * 4, "attention lse", &h->lse, err);
    for (int l = 0; st == GC_OK && l < hp->n_layers; l++)
        st = alloc_zeroed(rt, mass_bytes, zeros, "attention mass", &h->mass[l], err);
    if (st == GC_OK && h->stream)
        st = alloc_zeroed(rt, mass_bytes, zeros, "attention mass (gather)", &h->mass_tmp, err);
    if (st == GC_OK && h->stream)
        st = gc_buffer_alloc(rt, (size_t)hp->n_kv_heads * h->cap * 4, "kept rows per head", &h->idx, err);
    free(zeros);
    return st;
}

/* State for ranking by the mass of rows i_from..; NULL state (full attention) when n <= budget and nothing
 * is evicted later. */
static gc_status headmass_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, int budget, int window,
                                int pooling, int i_from, bool stream, void **state, gc_error *err) {
    *state = NULL;
    if (budget <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "budget must be positive (got %d)", budget);
    if (a->n <= budget && !stream)
        return GC_OK; /* nothing to drop: exactly the full-attention path */
    const gc_hparams *hp = gc_dmodel_hparams(a->m);
    headmass *h = calloc(1, sizeof *h);
    if (!h || !(h->mass = calloc((size_t)hp->n_layers, sizeof *h->mass))) {
        free(h);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    h->n = a->n, h->budget = budget, h->window = window < budget ? window : budget;
    h->i_from = i_from, h->pooling = pooling, h->stream = stream, h->max_new = kv->max_new;
    h->n_layers = hp->n_layers;
    h->cap = stream ? (a->n > budget ? a->n : budget) + 1 : a->n;
    gc_status st = headmass_buffers(gc_ops_runtime(a->ops), hp, gc_seq_n_ubatch(seq), h, err);
    if (st != GC_OK) {
        gc_headmass_finish(h, seq);
        return st;
    }
    gc_seq_set_layer_hook(seq, (gc_layer_hook){accumulate, h});
    *state = h;
    return GC_OK;
}

gc_status gc_snapkv_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err) {
    int w = kv->params && kv->params->window > 0 ? kv->params->window : SNAPKV_WINDOW;
    int pooling = kv->params ? (int)kv->params->pooling : GEMCL_POOLING_AVG5;
    if (pooling != GEMCL_POOLING_AVG5 && pooling != GEMCL_POOLING_MAX7)
        return gc_fail(err, GC_ERR_INVALID_ARG, "snapkv: unknown pooling %d", pooling);
    int i_from = a->n - (w < a->budget ? w : a->budget);
    gc_status st = headmass_start(a, kv, seq, a->budget, w, pooling, i_from, false, state, err);
    return st == GC_OK ? st : gc_error_prefix(err, "snapkv");
}

gc_status gc_h2o_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err) {
    gc_status st = headmass_start(a, kv, seq, a->budget, H2O_RECENT, -1, 0, false, state, err);
    return st == GC_OK ? st : gc_error_prefix(err, "h2o");
}

gc_status gc_h2o_stream_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err) {
    const gemcl_method_params *p = kv->params;
    /* no budget asked for: the paper's 1024 + 1024; else the budget split in half */
    int budget = p && p->budget > 0 ? p->budget : 2 * H2O_STREAM_DEFAULT;
    int heavy = p && p->heavy_budget > 0 ? p->heavy_budget : budget / 2;
    int recent = p && p->recent_budget > 0 ? p->recent_budget : budget - heavy;
    gc_status st = recent < 1 || heavy < 0
                       ? gc_fail(err, GC_ERR_INVALID_ARG, "heavy %d + recent %d: recent must be >= 1", heavy, recent)
                       : headmass_start(a, kv, seq, heavy + recent, recent, -1, 0, true, state, err);
    return st == GC_OK ? st : gc_error_prefix(err, "h2o-stream");
}

/* idx (G, B) = per head: the top (B - w) of the pooled mass of keys 0 .. n - w - 1, ascending, then n - w .. n - 1. */
static gc_status select_layer(gc_ops *ops, const headmass *h, int layer, int n_kv_heads, gc_topk_scratch *ts,
                              gc_buffer *pooled, gc_buffer *idx, gc_error *err) {
    int cand = h->n - h->window, top = h->budget - h->window;
    gc_status st = GC_OK;
    for (int g = 0; st == GC_OK && g < n_kv_heads; g++) {
        const gc_buffer *ranked = &h->mass[layer];
        size_t off = (size_t)g * h->cap;
        if (h->pooling == GEMCL_POOLING_AVG5)
            st = gc_op_pool_avg5(ops, &h->mass[layer], off, pooled, 0, cand, err);
        else if (h->pooling == GEMCL_POOLING_MAX7)
            st = gc_op_pool_max7(ops, &h->mass[layer], off, pooled, 0, cand, err);
        if (h->pooling >= 0)
            ranked = pooled, off = 0;
        if (st == GC_OK)
            st = gc_op_topk_indices(ops, ts, ranked, off, idx, (size_t)g * h->budget, cand, top, err);
    }
    return st;
}

/* Streaming: the mass follows its rows (same per-head idx as the KV), through the zero-tailed mass_tmp. */
static gc_status gather_mass(gc_seq *seq, headmass *h, int layer, const gc_buffer *idx, int idx_stride, int n_keep,
                             gc_error *err) {
    int G = gc_seq_hparams(seq)->n_kv_heads;
    gc_rows_layout per_head = {0, 1, h->cap};
    gc_status st = gc_op_gather_rows(gc_seq_ops(seq), &h->mass[layer], per_head, &h->mass_tmp, per_head, idx, 0,
                                     idx_stride, n_keep, G, 1, err);
    return st == GC_OK ? gc_op_copy_f32(gc_seq_ops(seq), &h->mass_tmp, 0, &h->mass[layer], 0, (size_t)G * h->cap, err)
                       : st;
}

/* Keeps per layer and head the top (B - w) rows before the window plus the window; reports them. */
static gc_status compress_prompt(headmass *h, gc_seq *seq, gc_kept_report *kept, gc_error *err) {
    const gc_hparams *hp = gc_seq_hparams(seq);
    gc_ops *ops = gc_seq_ops(seq);
    gc_runtime *rt = gc_ops_runtime(ops);
    int G = hp->n_kv_heads, B = h->budget, cand = h->n - h->window, top = B - h->window;
    size_t per_layer = (size_t)G * B;
    kept->heads = malloc((size_t)h->n_layers * per_layer * sizeof *kept->heads);
    if (!kept->heads)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    kept->n_layers = h->n_layers, kept->n_kv_heads = G, kept->per_head = B;
    int32_t *host = kept->heads; /* layer 0's slot doubles as staging for the window rows */
    for (int g = 0; g < G; g++)
        for (int t = 0; t < h->window; t++)
            host[(size_t)g * B + top + t] = cand + t;
    gc_buffer pooled = {0}, idx = {0};
    gc_topk_scratch *ts = NULL;
    gc_status st = gc_buffer_alloc(rt, (size_t)(cand > 0 ? cand : 1) * 4, "pooled mass", &pooled, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, per_layer * 4, "kept rows per head", &idx, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, &idx, 0, host, per_layer * 4, err);
    if (st == GC_OK)
        st = gc_topk_scratch_create(ops, cand > 0 ? cand : 1, top > 0 ? top : 1, &ts, err);
    for (int l = 0; st == GC_OK && l < h->n_layers; l++) {
        st = select_layer(ops, h, l, G, ts, &pooled, &idx, err);
        if (st == GC_OK && h->stream)
            st = gather_mass(seq, h, l, &idx, B, B, err);
        if (st == GC_OK)
            st = gc_seq_compact_layer(seq, l, &idx, B, B, err);
        if (st == GC_OK)
            st = gc_buffer_read(rt, &idx, 0, kept->heads + (size_t)l * per_layer, per_layer * 4, err);
    }
    gc_topk_scratch_free(ts);
    gc_buffer_free(rt, &pooled);
    gc_buffer_free(rt, &idx);
    return st;
}

gc_status gc_headmass_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err) {
    headmass *h = state;
    if (!h)
        return GC_OK;
    if (!h->stream)
        gc_seq_set_layer_hook(seq, (gc_layer_hook){0}); /* one-shot: decoding adds no mass */
    if (h->n <= h->budget)
        return GC_OK;
    gc_status st = compress_prompt(h, seq, kept, err);
    if (st == GC_OK) { /* give the dropped rows back: B rows plus room for what decoding appends */
        int want = h->stream ? h->budget + 1 : h->budget + h->max_new;
        st = gc_seq_resize(seq, want < gc_seq_n_ctx(seq) ? want : gc_seq_n_ctx(seq), err);
    }
    return st;
}

/* h2o-stream, before each decode step: over budget, every layer's heads drop their lightest non-recent row. */
gc_status gc_h2o_stream_per_decode_step(void *state, gc_seq *seq, gc_error *err) {
    headmass *h = state;
    int rows = gc_seq_n_past(seq), G = gc_seq_hparams(seq)->n_kv_heads;
    if (!h || rows <= h->budget)
        return GC_OK;
    for (int l = 0; l < h->n_layers; l++) {
        gc_status st =
            gc_op_evict_lowest(gc_seq_ops(seq), &h->mass[l], h->cap, &h->idx, rows, rows - h->window, G, err);
        if (st == GC_OK)
            st = gather_mass(seq, h, l, &h->idx, rows - 1, rows - 1, err);
        if (st == GC_OK)
            st = gc_seq_compact_layer(seq, l, &h->idx, rows - 1, rows - 1, err);
        if (st != GC_OK)
            return gc_error_prefix(err, "h2o-stream, layer %d", l);
    }
    return GC_OK;
}
