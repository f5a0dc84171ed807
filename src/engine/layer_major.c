/* layer_major.c - the layer-major driver: every row passes layer l before any enters l + 1, so a per-layer
 * callback sees the whole prompt at each layer. Two passes use it:
 *   gc_seq_prefill_staged   all layers into a sequence's cache; after each layer the callback (PromptDistill's
 *                           select_rows) may drop rows, whose hidden states then stop at that layer
 *   gc_filter_pass          GemFilter: stops at layer r after its K and one row's Q; no sequence, one layer's K/V
 *                           at a time, so the prompt may be longer than any context
 * The residual stream lives in chunks of ub rows, one buffer each, so no buffer exceeds ub rows. */
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"

typedef struct layer_major {
    gc_ops *ops;
    const gc_dmodel *m;
    gc_scratch *s;           /* the layer body's scratch; its n_ub is the chunk */
    int n;                   /* rows at the start (the prompt) */
    int cur;                 /* rows still running */
    gc_buffer *x;            /* per chunk f32 (n_ub, n_embd): the residual stream of the current rows */
    int n_chunks;
    gc_buffer ids_pos;       /* int32 (2, n): ids, then the current rows' original positions */
    gc_buffer idx;           /* int32 (n): kept rows' offsets inside their old chunk (only with a callback) */
    int32_t *pos;            /* (n) host copy of the current positions */
    const char *what;        /* error prefix before "layer %d" */
} layer_major;

static void chunks_free(gc_runtime *rt, gc_buffer *x, int n_chunks) {
    for (int c = 0; x && c < n_chunks; c++)
        gc_buffer_free(rt, &x[c]);
    free(x);
}

static void lm_free(layer_major *lm) {
    gc_runtime *rt = gc_ops_runtime(lm->ops);
    chunks_free(rt, lm->x, lm->n_chunks);
    gc_buffer_free(rt, &lm->ids_pos);
    gc_buffer_free(rt, &lm->idx);
    free(lm->pos);
}

/* Residual chunks for rows rows: no buffer holds more than n_ub rows. */
static gc_status chunks_alloc(const layer_major *lm, int rows, gc_buffer **x, int *n_chunks, gc_error *err) {
    int ub = lm->s->n_ub;
    *n_chunks = (rows + ub - 1) / ub;
    *x = calloc((size_t)*n_chunks, sizeof **x);
    if (!*x)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int c = 0; c < *n_chunks; c++)
        GC_TRY(gc_buffer_alloc(gc_ops_runtime(lm->ops), (size_t)ub * lm->m->hp.n_embd * 4, "layer-major residual chunk",
                               &(*x)[c], err));
    return GC_OK;
}

/* Uploads ids and positions 0..n-1 and embeds them into fresh residual chunks. */
static gc_status lm_start(layer_major *lm, const int32_t *ids, bool with_idx, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(lm->ops);
    int n = lm->n, ub = lm->s->n_ub;
    lm->cur = n;
    if (!(lm->pos = malloc((size_t)n * sizeof *lm->pos)))
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++)
        lm->pos[i] = i;
    GC_TRY(chunks_alloc(lm, n, &lm->x, &lm->n_chunks, err));
    GC_TRY(gc_buffer_alloc(rt, (size_t)n * 2 * 4, "layer-major ids+positions", &lm->ids_pos, err));
    if (with_idx)
        GC_TRY(gc_buffer_alloc(rt, (size_t)n * 4, "layer-major kept rows", &lm->idx, err));
    GC_TRY(gc_buffer_write(rt, &lm->ids_pos, 0, ids, (size_t)n * 4, err));
    GC_TRY(gc_buffer_write(rt, &lm->ids_pos, (size_t)n * 4, lm->pos, (size_t)n * 4, err));
    for (int c0 = 0; c0 < n; c0 += ub)
        GC_TRY(gc_op_embed(lm->ops, &lm->m->tok_embd, &lm->ids_pos, (size_t)c0, &lm->x[c0 / ub], 0,
                           gc_chunk_rows(n, c0, ub), err));
    return GC_OK;
}

/* Gathers residual rows keep[0..n_keep-1] into fresh chunks: one gather per run of rows that share both their
 * old and their new chunk. */
static gc_status gather_chunks(layer_major *lm, const int32_t *keep, int n_keep, gc_buffer *x_new, gc_error *err) {
    int ub = lm->s->n_ub, d = lm->m->hp.n_embd;
    int32_t *local = malloc((size_t)n_keep * sizeof *local);
    if (!local)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int r = 0; r < n_keep; r++)
        local[r] = keep[r] % ub;
    gc_status s = gc_buffer_write(gc_ops_runtime(lm->ops), &lm->idx, 0, local, (size_t)n_keep * 4, err);
    free(local);
    for (int r0 = 0, r1; s == GC_OK && r0 < n_keep; r0 = r1) {
        int from = keep[r0] / ub, to = r0 / ub;
        for (r1 = r0 + 1; r1 < n_keep && keep[r1] / ub == from && r1 / ub == to; r1++)
            ;
        gc_rows_layout src = {0, d, 0}, dst = {(size_t)(r0 % ub) * d, d, 0};
        s = gc_op_gather_rows(lm->ops, &lm->x[from], src, &x_new[to], dst, &lm->idx, (size_t)r0, 0, r1 - r0, 1, d,
                              err);
    }
    return s;
}

/* Carries rows keep[0..n_keep-1] of the current rows forward: residual rows and positions. */
static gc_status lm_keep(layer_major *lm, const int32_t *keep, int n_keep, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(lm->ops);
    gc_buffer *x_new = NULL;
    int n_new = 0;
    gc_status s = chunks_alloc(lm, n_keep, &x_new, &n_new, err);
    if (s == GC_OK)
        s = gather_chunks(lm, keep, n_keep, x_new, err);
    chunks_free(rt, lm->x, lm->n_chunks); /* deferred by OpenCL until the gathers ran */
    lm->x = x_new, lm->n_chunks = n_new;
    if (s != GC_OK)
        return s;
    for (int r = 0; r < n_keep; r++)
        lm->pos[r] = lm->pos[keep[r]];
    lm->cur = n_keep;
    return gc_buffer_write(rt, &lm->ids_pos, (size_t)lm->n * 4, lm->pos, (size_t)n_keep * 4, err);
}

/* Layer l over the current rows, chunk by chunk, writing K/V rows 0..cur-1 of k and v. */
static gc_status lm_layer(layer_major *lm, int l, gc_buffer *k, gc_buffer *v, gc_error *err) {
    int ub = lm->s->n_ub;
    for (int c0 = 0; c0 < lm->cur; c0 += ub) {
        gc_layer_io io = {&lm->x[c0 / ub], 0, &lm->ids_pos, (size_t)lm->n + c0, k, v, c0, NULL};
        if (gc_layer_forward(lm->ops, lm->m, l, lm->s, &io, gc_chunk_rows(lm->cur, c0, ub), err) != GC_OK)
            return gc_error_prefix(err, "%slayer %d", lm->what, l);
    }
    return GC_OK;
}

/* The driver: layers 0..n_layers-1 over every current row, K/V into seq's cache (or into k and v, reused by
 * every layer, when seq is NULL); after each layer the callback (may be NULL) may drop rows. Progress counts
 * rows over total_layers layers. */
static gc_status lm_run(layer_major *lm, int n_layers, gc_seq *seq, gc_buffer *k, gc_buffer *v,
                        const gc_stage_hook *hook, const gc_progress *progress, int total_layers, gc_error *err) {
    const gc_hparams *hp = &lm->m->hp;
    int ub = lm->s->n_ub;
    for (int l = 0; l < n_layers; l++) {
        GC_TRY(lm_layer(lm, l, seq ? &seq->k_cache[l] : k, seq ? &seq->v_cache[l] : v, err));
        if (seq)
            seq->kv_len[l] = lm->cur;
        if (hook && hook->fn) {
            int last_nc = gc_chunk_rows(lm->cur, (lm->cur - 1) / ub * ub, ub);
            gc_stage_view view = {l, lm->cur, &lm->s->q, (size_t)(last_nc - 1) * hp->n_heads * hp->head_dim, lm->pos};
            int32_t *keep = NULL;
            int n_keep = 0;
            GC_TRY(hook->fn(hook->user, seq, &view, &keep, &n_keep, err));
            gc_status s = keep ? lm_keep(lm, keep, n_keep, err) : GC_OK;
            free(keep);
            GC_TRY(s);
        }
        GC_TRY(gc_check_progress(progress, (int64_t)(l + 1) * lm->n, (int64_t)total_layers * lm->n, err));
    }
    return GC_OK;
}

/* ---- staged prefill (PromptDistill) ------------------------------------------------------------------ */

static gc_status staged_run(gc_seq *seq, layer_major *lm, const int32_t *ids, const gc_stage_hook *hook,
                            gc_sampling *smp, int32_t *next_id, float *logits, gc_error *err) {
    const gc_hparams *hp = &seq->m->hp;
    GC_TRY(lm_start(lm, ids, true, err));
    GC_TRY(lm_run(lm, hp->n_layers, seq, NULL, NULL, hook, &seq->progress, hp->n_layers, err));
    gc_seq_update_n_past(seq);
    int last = lm->cur - 1, ub = seq->s.n_ub;
    seq->next_pos = lm->pos[last] + 1;
    return gc_finish_step(seq, &lm->x[last / ub], (size_t)(last % ub) * hp->n_embd, smp, next_id, logits, err);
}

gc_status gc_seq_prefill_staged(gc_seq *seq, const int32_t *ids, int n, const gc_stage_hook *hook, gc_sampling *smp,
                                int32_t *next_id, float *logits, gc_error *err) {
    if (n <= 0 || seq->n_past != 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "staged prefill of %d tokens needs an empty sequence (%d cached)", n,
                       seq->n_past);
    GC_TRY(gc_check_ids(&seq->m->hp, ids, n, err));
    GC_TRY(gc_seq_reserve(seq, n, err));
    layer_major lm = {seq->ops, seq->m, &seq->s, n, n, NULL, 0, {0}, {0}, NULL, ""};
    gc_status s = staged_run(seq, &lm, ids, hook, smp, next_id, logits, err);
    lm_free(&lm);
    if (s != GC_OK)
        gc_seq_reset(seq);
    return s;
}

/* ---- GemFilter's filter pass ------------------------------------------------------------------------ */

/* Layers 0..r-1 with one K/V pair for all of them, then layer r's K and row q_row's Q. */
static gc_status filter_run(layer_major *lm, const int32_t *ids, int r, int q_row, const gc_progress *progress,
                            gc_buffer *k_out, gc_buffer *q_out, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(lm->ops);
    const gc_hparams *hp = &lm->m->hp;
    size_t kv_bytes = (size_t)lm->n * (size_t)gc_kv_dim(hp) * 4;
    gc_buffer v = {0}; /* f32 (n, kv_dim): the current layer's values */
    GC_TRY(lm_start(lm, ids, false, err));
    GC_TRY(gc_buffer_alloc(rt, kv_bytes, "filter K", k_out, err));
    gc_status st = gc_buffer_alloc(rt, kv_bytes, "filter V", &v, err);
    if (st == GC_OK)
        st = lm_run(lm, r, NULL, k_out, &v, NULL, progress, r + 1, err);
    gc_buffer_free(rt, &v); /* layer r needs no values */
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)gc_q_dim(hp) * 4, "filter query", q_out, err);
    if (st == GC_OK)
        st = gc_layer_keys_query(lm->ops, lm->m, r, lm->s, lm->x, lm->n, q_row, &lm->ids_pos, k_out, q_out, err);
    return st;
}

gc_status gc_filter_pass(gc_ops *ops, const gc_dmodel *m, const int32_t *ids, int n, int filter_layer, int q_row,
                         int n_ubatch, const gc_progress *progress, gc_buffer *k_out, gc_buffer *q_out, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_hparams *hp = &m->hp;
    memset(k_out, 0, sizeof *k_out);
    memset(q_out, 0, sizeof *q_out);
    if (filter_layer < 0 || filter_layer >= hp->n_layers)
        return gc_fail(err, GC_ERR_INVALID_ARG, "filter layer %d is outside the model's layers 0..%d", filter_layer,
                       hp->n_layers - 1);
    if (n <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "filter pass over %d tokens", n);
    if (q_row < 0 || q_row >= n)
        return gc_fail(err, GC_ERR_INVALID_ARG, "filter pass query row %d is outside the %d tokens", q_row, n);
    GC_TRY(gc_check_ids(hp, ids, n, err));
    int ub = n_ubatch > 0 ? n_ubatch : 512;
    gc_scratch s;
    gc_status st = gc_scratch_alloc(rt, hp, ub < n ? ub : n, false, &s, err);
    layer_major lm = {ops, m, &s, n, n, NULL, 0, {0}, {0}, NULL, "filter pass, "};
    if (st == GC_OK)
        st = filter_run(&lm, ids, filter_layer, q_row, progress, k_out, q_out, err);
    /* Releasing buffers that queued kernels still use is safe: OpenCL defers the deletion until they finish. */
    lm_free(&lm);
    gc_scratch_free(rt, &s);
    if (st != GC_OK) {
        gc_buffer_free(rt, k_out);
        gc_buffer_free(rt, q_out);
    }
    return st;
}
