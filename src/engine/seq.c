/* seq.c - one sequence: its per-layer KV cache (allocated lazily, grown, resized, compacted in place), its
 * prefill scratch, and what plan.h lets a method read and change. The math that fills it is forward.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"
#include "ops/kvcompress.h"

gc_status gc_seq_create(gc_ops *ops, const gc_dmodel *m, const gc_seq_params *params, gc_seq **out, gc_error *err) {
    *out = NULL;
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_hparams *hp = &m->hp;
    gc_seq_params p = params ? *params : (gc_seq_params){0};
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : hp->ctx_train;
    int n_ub = p.n_ubatch > 0 ? p.n_ubatch : 512;
    if (n_ctx <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "context size must be positive (got %d)", n_ctx);
    if (n_ub > n_ctx)
        n_ub = n_ctx;
    gc_seq *seq = calloc(1, sizeof *seq);
    if (seq) {
        seq->k_cache = calloc((size_t)hp->n_layers, sizeof *seq->k_cache);
        seq->v_cache = calloc((size_t)hp->n_layers, sizeof *seq->v_cache);
        seq->host_tok = calloc((size_t)n_ub * 2, sizeof *seq->host_tok);
        seq->kv_len = calloc((size_t)hp->n_layers, sizeof *seq->kv_len);
    }
    if (!seq || !seq->k_cache || !seq->v_cache || !seq->host_tok || !seq->kv_len) {
        if (seq)
            free(seq->k_cache), free(seq->v_cache), free(seq->host_tok), free(seq->kv_len);
        free(seq);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory creating a sequence");
    }
    seq->ops = ops;
    seq->m = m;
    seq->n_ctx = n_ctx;
    gc_status st = gc_scratch_alloc(rt, hp, n_ub, true, &seq->s, err);
    if (st != GC_OK) {
        gc_seq_free(seq);
        return st;
    }
    *out = seq;
    return GC_OK;
}

void gc_seq_free(gc_seq *seq) {
    if (!seq)
        return;
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_runtime_finish(rt);
    for (int l = 0; l < seq->m->hp.n_layers; l++) {
        gc_buffer_free(rt, &seq->k_cache[l]);
        gc_buffer_free(rt, &seq->v_cache[l]);
    }
    gc_scratch_free(rt, &seq->s);
    free(seq->k_cache);
    free(seq->v_cache);
    free(seq->host_tok);
    free(seq->kv_len);
    free(seq);
}

void gc_seq_reset(gc_seq *seq) {
    seq->n_past = 0;
    seq->next_pos = 0;
    memset(seq->kv_len, 0, (size_t)seq->m->hp.n_layers * sizeof *seq->kv_len);
}

void gc_seq_truncate(gc_seq *seq, int rows) {
    seq->n_past = seq->next_pos = rows;
    for (int l = 0; l < seq->m->hp.n_layers; l++)
        seq->kv_len[l] = rows;
}

void gc_seq_release(gc_seq *seq) {
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_runtime_finish(rt);
    for (int l = 0; l < seq->m->hp.n_layers; l++) {
        gc_buffer_free(rt, &seq->k_cache[l]);
        gc_buffer_free(rt, &seq->v_cache[l]);
    }
    seq->kv_rows = 0;
    gc_seq_reset(seq);
}

/* Key rows layer l does not store (pod-tf's distant keys). */
static int key_shift(const gc_seq *seq, int l) {
    return seq->shared_logits && seq->shared_logits[l] ? seq->shared_logits[l]->k_shift : 0;
}

size_t gc_seq_kv_bytes(const gc_seq *seq) {
    size_t rows = 0; /* K rows + V rows */
    for (int l = 0; l < seq->m->hp.n_layers; l++)
        rows += 2 * (size_t)seq->kv_len[l] - (size_t)key_shift(seq, l);
    return rows * (size_t)gc_kv_dim(&seq->m->hp) * 4;
}

/* Replaces one layer's cache buffer by one of `bytes` holding the same first `keep` bytes. */
static gc_status resize_buffer(gc_seq *seq, gc_buffer *buf, size_t bytes, size_t keep, const char *what,
                               gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_buffer bigger;
    GC_TRY(gc_buffer_alloc(rt, bytes, what, &bigger, err));
    if (keep > 0) {
        cl_int rc = clEnqueueCopyBuffer(rt->queue, buf->mem, bigger.mem, 0, 0, keep, 0, NULL, NULL);
        if (rc != CL_SUCCESS) {
            gc_buffer_free(rt, &bigger);
            return gc_cl_fail(err, rc, "%s: copying the cached rows", what);
        }
    }
    gc_buffer_free(rt, buf);
    *buf = bigger;
    return GC_OK;
}

gc_status gc_seq_resize(gc_seq *seq, int rows, gc_error *err) {
    if (rows > seq->n_ctx)
        return gc_fail(err, GC_ERR_CONTEXT_FULL, "%d tokens do not fit the context of %d", rows, seq->n_ctx);
    if (rows < seq->n_past)
        return gc_fail(err, GC_ERR_INVALID_ARG, "cannot shrink the cache to %d rows below the %d cached", rows,
                       seq->n_past);
    const gc_hparams *hp = &seq->m->hp;
    size_t row_bytes = (size_t)gc_kv_dim(hp) * 4;
    for (int l = 0; l < hp->n_layers; l++) {
        char what[64];
        size_t keep = (size_t)seq->kv_len[l] * row_bytes, shift = (size_t)key_shift(seq, l) * row_bytes;
        snprintf(what, sizeof what, "layer %d K cache", l);
        GC_TRY(resize_buffer(seq, &seq->k_cache[l], (size_t)rows * row_bytes - shift, keep - shift, what, err));
        snprintf(what, sizeof what, "layer %d V cache", l);
        GC_TRY(resize_buffer(seq, &seq->v_cache[l], (size_t)rows * row_bytes, keep, what, err));
    }
    seq->kv_rows = rows;
    return GC_OK;
}

gc_status gc_seq_reserve(gc_seq *seq, int rows, gc_error *err) {
    if (rows > seq->n_ctx)
        return gc_fail(err, GC_ERR_CONTEXT_FULL, "%d tokens do not fit the context of %d", rows, seq->n_ctx);
    return rows <= seq->kv_rows ? GC_OK : gc_seq_resize(seq, rows, err);
}

/* Gathers rows of layer's K (and V when with_values) into rows 0..n_keep-1 of the same buffers. */
static gc_status compact_rows(gc_seq *seq, int layer, const gc_buffer *idx, int idx_head_stride, int n_keep,
                              bool with_values, gc_error *err) {
    const gc_hparams *hp = &seq->m->hp;
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    size_t elems = (size_t)n_keep * gc_kv_dim(hp);
    gc_buffer tmp = {0};
    gc_status st = n_keep ? gc_buffer_alloc(rt, elems * 4, "KV compaction", &tmp, err) : GC_OK;
    gc_buffer *caches[2] = {&seq->k_cache[layer], &seq->v_cache[layer]};
    for (int c = 0; c < (with_values ? 2 : 1) && st == GC_OK && n_keep; c++) {
        st = gc_op_kv_gather(seq->ops, caches[c], &tmp, idx, idx_head_stride, n_keep, hp->n_kv_heads, hp->head_dim,
                             err);
        if (st == GC_OK)
            st = gc_op_copy_f32(seq->ops, &tmp, 0, caches[c], 0, elems, err);
    }
    gc_buffer_free(rt, &tmp); /* deferred by OpenCL until the copies ran */
    return st != GC_OK ? gc_error_prefix(err, "layer %d", layer) : GC_OK;
}

gc_status gc_seq_compact_layer(gc_seq *seq, int layer, const gc_buffer *idx, int idx_head_stride, int n_keep,
                               gc_error *err) {
    const gc_hparams *hp = &seq->m->hp;
    if (layer < 0 || layer >= hp->n_layers || n_keep < 0 || n_keep > seq->kv_len[layer] || key_shift(seq, layer))
        return gc_fail(err, GC_ERR_INVALID_ARG, "compacting layer %d to %d rows", layer, n_keep);
    GC_TRY(compact_rows(seq, layer, idx, idx_head_stride, n_keep, true, err));
    seq->kv_len[layer] = n_keep;
    gc_seq_update_n_past(seq);
    return GC_OK;
}

gc_status gc_seq_compact_keys(gc_seq *seq, int layer, const gc_buffer *idx, int n_keep, gc_error *err) {
    if (layer < 0 || layer >= seq->m->hp.n_layers || n_keep < 0 || n_keep > seq->kv_len[layer])
        return gc_fail(err, GC_ERR_INVALID_ARG, "compacting layer %d's keys to %d rows", layer, n_keep);
    return compact_rows(seq, layer, idx, 0, n_keep, false, err);
}

gc_status gc_seq_ensure_rows(gc_seq *seq, int rows, gc_error *err) {
    if (rows <= seq->kv_rows)
        return GC_OK;
    int want = seq->kv_rows * 2 > rows ? seq->kv_rows * 2 : rows;
    return gc_seq_reserve(seq, want < seq->n_ctx ? want : seq->n_ctx, err);
}

void gc_seq_update_n_past(gc_seq *seq) {
    seq->n_past = 0;
    for (int l = 0; l < seq->m->hp.n_layers; l++)
        seq->n_past = seq->kv_len[l] > seq->n_past ? seq->kv_len[l] : seq->n_past;
}

gc_status gc_seq_rotate_keys(gc_seq *seq, int layer, int row0, int n, const gc_buffer *delta, gc_error *err) {
    const gc_hparams *hp = &seq->m->hp;
    if (layer < 0 || layer >= hp->n_layers || row0 < 0 || n < 0 || row0 + n > seq->kv_len[layer])
        return gc_fail(err, GC_ERR_INVALID_ARG, "rotating rows %d..%d of layer %d", row0, row0 + n - 1, layer);
    return gc_op_rope(seq->ops, &seq->k_cache[layer], (size_t)row0 * gc_kv_dim(hp), delta, 0, &seq->m->inv_freq, n,
                      hp->n_kv_heads, hp->head_dim, hp->rope_layout, err);
}

/* ---- what plan.h gives methods ---------------------------------------------------------------------- */

const gc_hparams *gc_dmodel_hparams(const gc_dmodel *m) { return &m->hp; }
gc_ops *gc_seq_ops(const gc_seq *seq) { return seq->ops; }
const gc_hparams *gc_seq_hparams(const gc_seq *seq) { return &seq->m->hp; }
int gc_seq_n_past(const gc_seq *seq) { return seq->n_past; }
int gc_seq_n_ctx(const gc_seq *seq) { return seq->n_ctx; }
int gc_seq_kv_rows(const gc_seq *seq) { return seq->kv_rows; }
int gc_seq_n_ubatch(const gc_seq *seq) { return seq->s.n_ub; }
gc_buffer *gc_seq_keys(gc_seq *seq, int layer) { return &seq->k_cache[layer]; }
void gc_seq_set_next_pos(gc_seq *seq, int pos) { seq->next_pos = pos; }
void gc_seq_set_layer_hook(gc_seq *seq, gc_layer_hook hook) { seq->after_layer = hook; }
void gc_seq_set_shared_logits(gc_seq *seq, const gc_shared_logits *const *table) { seq->shared_logits = table; }
