/* promptdistill.c - PromptDistill (METHODS.md, promptdistill): one pass; at each selection layer r_i, after
 * the layer ran over the current rows, score them with the last row's post-RoPE query, keep the top k_i plus
 * the last row, and carry their HIDDEN STATES forward at their ORIGINAL positions (gaps allowed). The engine's
 * layer-major prefill (gc_seq_prefill_staged) runs the layers; this file only chooses rows.
 *
 * Score: the paper's s[j] = mean over heads of q . k[j] / sqrt(d) is GemFilter's raw head sum times the
 * positive constant 1 / (H sqrt(d)); setting s[last] = 0, the 5-wide zero-padded mean and the top-k are all
 * unchanged by that factor, so the device reuses GemFilter's score, pool and top-k ops as they are.
 * tt (KV truncation): 0 keeps every layer's rows; 1 truncates layers <= r_1 to the first selection; -1
 * truncates every layer <= r_i after each selection (those layers then hold exactly the current rows, so one
 * index list serves them all). Decoding continues at position n (the last token is always kept). */
#include <stdlib.h>

#include "methods/method.h"

typedef struct promptdistill {
    int n_stages, stage, tt, max_new;
    int layers[GEMCL_MAX_STAGES], budgets[GEMCL_MAX_STAGES];
    gc_topk_scratch *ts;
    gc_buffer scores, pooled; /* f32 (n) */
    gc_buffer idx;            /* int32 (n): kept rows of the current stage, the last row after the top k */
    int32_t *kept;            /* (n_kept) original positions after the last stage that dropped rows */
    int n_kept;
} promptdistill;

void gc_promptdistill_finish(void *state, gc_seq *seq) {
    promptdistill *p = state;
    if (!p)
        return;
    gc_runtime *rt = gc_ops_runtime(gc_seq_ops(seq));
    gc_topk_scratch_free(p->ts);
    gc_buffer_free(rt, &p->scores);
    gc_buffer_free(rt, &p->pooled);
    gc_buffer_free(rt, &p->idx);
    free(p->kept);
    free(p);
}

/* Stages from the options: the lists, else one stage at the resolved filter layer and budget. */
static gc_status read_stages(const gc_method_args *a, const gemcl_method_params *o, promptdistill *p, gc_error *err) {
    int L = gc_dmodel_hparams(a->m)->n_layers;
    p->n_stages = o && o->n_stages > 0 ? o->n_stages : 1;
    if (p->n_stages > GEMCL_MAX_STAGES)
        return gc_fail(err, GC_ERR_INVALID_ARG, "at most %d stages (got %d)", GEMCL_MAX_STAGES, p->n_stages);
    for (int i = 0; i < p->n_stages; i++) {
        p->layers[i] = o && o->n_stages > 0 ? o->select_layers[i] : a->filter_layer;
        p->budgets[i] = o && o->n_stages > 0 ? o->stage_budgets[i] : a->budget;
        if (p->layers[i] < 0 || p->layers[i] >= L || (i > 0 && p->layers[i] <= p->layers[i - 1]))
            return gc_fail(err, GC_ERR_INVALID_ARG, "selection layers must ascend within 0..%d (stage %d: %d)", L - 1,
                           i, p->layers[i]);
        if (p->budgets[i] <= 0)
            return gc_fail(err, GC_ERR_INVALID_ARG, "stage %d: budget must be positive (got %d)", i, p->budgets[i]);
    }
    p->tt = o ? o->tt : 0;
    if (p->tt < -1 || p->tt > 1)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tt must be 0, 1 or -1 (got %d)", p->tt);
    return GC_OK;
}

gc_status gc_promptdistill_start(const gc_method_args *a, const gc_kv_args *kv, gc_seq *seq, void **state,
                                 gc_error *err) {
    *state = NULL;
    promptdistill *p = calloc(1, sizeof *p);
    if (!p)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    gc_runtime *rt = gc_ops_runtime(a->ops);
    p->max_new = kv->max_new;
    int top = 1;
    gc_status st = read_stages(a, kv->params, p, err);
    for (int i = 0; i < p->n_stages; i++)
        top = p->budgets[i] > top ? p->budgets[i] : top;
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)a->n * 4, "promptdistill scores", &p->scores, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)a->n * 4, "promptdistill pooled scores", &p->pooled, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)a->n * 4, "promptdistill kept rows", &p->idx, err);
    if (st == GC_OK)
        st = gc_topk_scratch_create(a->ops, a->n, top < a->n ? top : a->n, &p->ts, err);
    if (st != GC_OK) {
        gc_promptdistill_finish(p, seq);
        return gc_error_prefix(err, "promptdistill");
    }
    *state = p;
    return GC_OK;
}

/* idx[0..k] = the top k of the pooled scores of rows 0..n-2 (s[n-1] zeroed before pooling), then n - 1. */
static gc_status select_stage(promptdistill *p, gc_seq *seq, const gc_stage_view *v, int k, gc_error *err) {
    const gc_hparams *hp = gc_seq_hparams(seq);
    gc_ops *ops = gc_seq_ops(seq);
    gc_runtime *rt = gc_ops_runtime(ops);
    int n = v->n_rows;
    int32_t last = n - 1;
    const float zero = 0.0f;
    gc_status st = gc_op_gemfilter_score(ops, v->q, v->q_last_off, gc_seq_keys(seq, v->layer), 0, &p->scores, 0, n,
                                         hp->n_heads, hp->n_kv_heads, hp->head_dim, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, &p->scores, (size_t)last * 4, &zero, 4, err);
    if (st == GC_OK)
        st = gc_op_pool_avg5(ops, &p->scores, 0, &p->pooled, 0, n, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, &p->idx, (size_t)k * 4, &last, 4, err);
    if (st == GC_OK)
        st = gc_op_topk_indices(ops, p->ts, &p->pooled, 0, &p->idx, 0, n - 1, k, err);
    return st;
}

gc_status gc_promptdistill_select_rows(void *state, gc_seq *seq, const gc_stage_view *v, int32_t **keep, int *n_keep,
                                       gc_error *err) {
    promptdistill *p = state;
    *keep = NULL;
    if (p->stage >= p->n_stages || v->layer != p->layers[p->stage])
        return GC_OK;
    int k = p->budgets[p->stage++], n = v->n_rows;
    if (n <= k + 1)
        return GC_OK; /* nothing to drop */
    gc_status st = select_stage(p, seq, v, k, err);
    int32_t *rows = st == GC_OK ? malloc((size_t)(k + 1) * sizeof *rows) : NULL;
    int32_t *kept = rows ? realloc(p->kept, (size_t)(k + 1) * sizeof *kept) : NULL;
    if (st == GC_OK && (!rows || !kept)) {
        free(rows);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (st == GC_OK) {
        p->kept = kept;
        st = gc_buffer_read(gc_ops_runtime(gc_seq_ops(seq)), &p->idx, 0, rows, (size_t)(k + 1) * 4, err);
    }
    bool truncate = p->tt == -1 || (p->tt == 1 && p->stage == 1);
    for (int l = 0; truncate && st == GC_OK && l <= v->layer; l++)
        st = gc_seq_compact_layer(seq, l, &p->idx, 0, k + 1, err);
    if (st != GC_OK) {
        free(rows);
        return gc_error_prefix(err, "promptdistill, layer %d", v->layer);
    }
    for (int r = 0; r <= k; r++)
        p->kept[r] = v->positions[rows[r]];
    p->n_kept = k + 1;
    *keep = rows;
    *n_keep = k + 1;
    return GC_OK;
}

gc_status gc_promptdistill_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err) {
    promptdistill *p = state;
    if (p->kept) {
        kept->tokens = p->kept, kept->n_tokens = p->n_kept;
        p->kept = NULL;
    }
    int rows = gc_seq_n_past(seq) + p->max_new, n_ctx = gc_seq_n_ctx(seq);
    rows = rows < n_ctx ? rows : n_ctx;
    return rows < gc_seq_kv_rows(seq) ? gc_seq_resize(seq, rows, err) : GC_OK;
}
