/* pod.c - pod-tf, the training-free reading of POD ("Compressing KV Cache for Long-Context LLM Inference with
 * Inter-Layer Attention Similarity"; METHODS.md, pod). The paper retrains the model (5B tokens); this is NOT
 * that model and is labelled pod-tf everywhere.
 *
 * Layers come in blocks of b. For a query at position i, keys j < S (sinks, 16) and the last R = k - S rows
 * up to i (4080 by default) are proximal; the others are distant. The block's first layer attends normally
 * and keeps every key; the other layers use their own logits for proximal keys and the first layer's logits
 * (its query of the same row against its keys) for distant keys, in one softmax, with their own values. So
 * they need no keys of distant rows: after the prefill each of them keeps K of rows [0, S) and the last R - 1
 * (what the next query sees), the saving measured by gc_seq_kv_bytes. While decoding nothing is evicted (the
 * rows that become distant keep their few keys: prefill-time saving, as the method's headline number). The
 * first layer's queries of the current chunk are saved by the after-layer hook for the rest of its block. */
#include <stdlib.h>

#include "methods/method.h"

#define POD_SINKS 16
#define POD_BUDGET 4096 /* 16 sinks + 4080 recent */
#define POD_BLOCK 2

typedef struct pod {
    int n, block, sinks, recent, max_new, n_layers;
    gc_shared_logits *shared;        /* (n_layers): used for the non-first layers of each block */
    const gc_shared_logits **table;  /* (n_layers): the table given to gc_seq_set_shared_logits; NULL = first layer */
    gc_buffer q_first;               /* f32 (n_ub, n_heads, head_dim): the block's first layer's queries */
    gc_buffer keep;                  /* int32 (S + R - 1): key rows the non-first layers keep after the prompt */
} pod;

void gc_pod_finish(void *state, gc_seq *seq) {
    pod *p = state;
    if (!p)
        return;
    gc_seq_set_layer_hook(seq, (gc_layer_hook){0});
    gc_seq_set_shared_logits(seq, NULL);
    gc_seq_release(seq); /* the key buffers of the sharing layers are short: the next request allocates afresh */
    gc_runtime *rt = gc_ops_runtime(gc_seq_ops(seq));
    gc_buffer_free(rt, &p->q_first);
    gc_buffer_free(rt, &p->keep);
    free(p->shared);
    free(p->table);
    free(p);
}

static gc_status save_first_queries(void *user, gc_seq *seq, int layer, const gc_buffer *q, int row0, int n,
                                    gc_error *err) {
    pod *p = user;
    (void)row0;
    if (layer % p->block != 0 || layer + 1 == p->n_layers)
        return GC_OK;
    const gc_hparams *hp = gc_seq_hparams(seq);
    return gc_op_copy_f32(gc_seq_ops(seq), q, 0, &p->q_first, 0, (size_t)n * hp->n_heads * hp->head_dim, err);
}

gc_status gc_pod_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err) {
    *state = NULL;
    const gemcl_method_params *o = kv->params;
    const gc_hparams *hp = gc_dmodel_hparams(a->m);
    int block = o && o->block_size > 0 ? o->block_size : POD_BLOCK;
    int sinks = o && o->sink_tokens > 0 ? o->sink_tokens : POD_SINKS;
    int budget = o && o->budget > 0 ? o->budget : POD_BUDGET;
    if (budget <= sinks)
        return gc_fail(err, GC_ERR_INVALID_ARG, "pod-tf: budget %d must exceed the %d sink tokens", budget, sinks);
    pod *p = calloc(1, sizeof *p);
    if (p) {
        p->shared = calloc((size_t)hp->n_layers, sizeof *p->shared);
        p->table = calloc((size_t)hp->n_layers, sizeof *p->table);
    }
    if (!p || !p->shared || !p->table) {
        if (p)
            free(p->shared), free(p->table);
        free(p);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    p->n = a->n, p->block = block, p->sinks = sinks, p->recent = budget - sinks, p->max_new = kv->max_new;
    p->n_layers = hp->n_layers;
    gc_status st =
        gc_buffer_alloc(gc_ops_runtime(a->ops), (size_t)gc_seq_n_ubatch(seq) * hp->n_heads * hp->head_dim * 4,
                        "pod-tf first-layer queries", &p->q_first, err);
    if (st != GC_OK) {
        gc_pod_finish(p, seq);
        return gc_error_prefix(err, "pod-tf");
    }
    for (int l = 0; l < hp->n_layers; l++) {
        if (l % block == 0)
            continue;
        int first = l - l % block;
        p->shared[l] = (gc_shared_logits){&p->q_first, gc_seq_keys(seq, first), sinks, p->recent, 0};
        p->table[l] = &p->shared[l];
    }
    gc_seq_set_shared_logits(seq, p->table);
    gc_seq_set_layer_hook(seq, (gc_layer_hook){save_first_queries, p});
    *state = p;
    return GC_OK;
}

/* The non-first layers drop the keys of rows distant to every query still to come. */
gc_status gc_pod_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err) {
    pod *p = state;
    (void)kept;
    int base = p->n + 1 - p->recent; /* the first row the next query (position n) sees as recent */
    if (base <= p->sinks)
        return GC_OK;
    gc_runtime *rt = gc_ops_runtime(gc_seq_ops(seq));
    int n_keep = p->sinks + p->n - base;
    int32_t *rows = malloc((size_t)n_keep * sizeof *rows);
    if (!rows)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int r = 0; r < n_keep; r++)
        rows[r] = r < p->sinks ? r : base + r - p->sinks;
    gc_status st = gc_buffer_alloc(rt, (size_t)n_keep * 4, "pod-tf kept keys", &p->keep, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, &p->keep, 0, rows, (size_t)n_keep * 4, err);
    free(rows);
    for (int l = 0; st == GC_OK && l < p->n_layers; l++) {
        if (!p->table[l])
            continue;
        st = gc_seq_compact_keys(seq, l, &p->keep, n_keep, err);
        p->shared[l].k_shift = base - p->sinks;
    }
    if (st == GC_OK) /* reallocate: the non-first layers' key buffers shrink by the dropped rows */
        st = gc_seq_resize(seq, gc_seq_kv_rows(seq), err);
    return st == GC_OK ? st : gc_error_prefix(err, "pod-tf");
}
