/* select.h - GemFilter's token selection on the device (docs/METHODS.md, gemfilter steps 3-6): the
 * attention score of the last query against every key, the 5-wide smoothing, and the indices of the k
 * largest smoothed scores in document order.
 *
 * Like every op wrapper these only enqueue (no clFinish, no readback). A pipeline is
 *   gc_op_gemfilter_score(q, k -> s); gc_op_pool_avg5(s -> p); gc_op_topk_indices(p -> idx)
 * and only idx (min(k, n) int32) needs to cross to the host. */
#ifndef GC_OPS_SELECT_H
#define GC_OPS_SELECT_H

#include "ops/ops.h"

/* s[j] = sum over the H query heads of dot(q[h], k[j][h / (H/G)]), j < n: raw logits (no 1/sqrt(d), no
 * softmax), fp32, each group's queries summed first. q is the last token's post-RoPE query and k the layer's
 * post-RoPE keys (row stride G * d). Requires H % G == 0; G * d floats of local memory. */
gc_status gc_op_gemfilter_score(gc_ops *ops, const gc_buffer *q, size_t q_off, /* f32 (H, d) */
                                const gc_buffer *k, size_t k_off,              /* f32 (>= n, G, d) */
                                gc_buffer *s, size_t s_off,                    /* f32 (n) */
                                int n, int n_heads, int n_kv_heads, int head_dim, gc_error *err);

/* p[j] = (s[j-2] + s[j-1] + s[j] + s[j+1] + s[j+2]) / 5, out-of-range terms 0, always divided by 5.
 * p must not overlap s. */
gc_status gc_op_pool_avg5(gc_ops *ops, const gc_buffer *s, size_t s_off, /* f32 (n) */
                          gc_buffer *p, size_t p_off,                    /* f32 (n) */
                          int n, gc_error *err);

/* Device scratch for gc_op_topk_indices, owned by the caller and reused across calls (so the runtime's
 * byte accounting stays honest while commands are in flight). Its size depends only on max_n: a few
 * hundred bytes to 1 MiB. One top-k at a time may use it (calls on the same in-order queue are fine).
 * local_size and items_per_group are tunables, set by create from the device profile (topk_local,
 * topk_items); local_size is clamped to what each kernel accepts. */
typedef struct gc_topk_scratch {
    gc_runtime *rt;
    int max_n, max_k;
    int max_groups;         /* work-groups a pass may use: ceil(max_n / items_per_group), capped */
    size_t local_size;      /* work-items per group requested (any value >= 1) */
    int items_per_group;    /* elements a work-group aims to own; the group count follows from n */
    gc_buffer state;        /* u64 (3): radix-select prefix, remaining count, done flag */
    gc_buffer hist;         /* u32 (max_groups, 256): per-group histograms of one pass */
    gc_buffer counts;       /* u32 (max_groups): selected keys per group */
} gc_topk_scratch;

/* Allocates scratch for top-k over up to max_n values with k up to max_k (both >= 1); *out is NULL on
 * failure. The caller frees it with gc_topk_scratch_free(), which may come right after the last top-k was
 * enqueued: OpenCL defers the release until those commands finish, while the runtime's byte count drops at
 * once (so for that short while it under-reports by the scratch's size).
 *   gc_topk_scratch *ts;
 *   if (gc_topk_scratch_create(ops, n_prompt, 1024, &ts, &err) == GC_OK) { ...; gc_topk_scratch_free(ts); } */
gc_status gc_topk_scratch_create(gc_ops *ops, int max_n, int max_k, gc_topk_scratch **out, gc_error *err);
void gc_topk_scratch_free(gc_topk_scratch *scratch);

/* idx = the indices of the min(k, n) largest x[i], i < n, sorted ascending (document order). Ties: the
 * lower index wins; NaN ranks below -inf; -0.0 equals +0.0. n <= scratch->max_n, k <= scratch->max_k;
 * idx must not overlap x; n = 0 or k = 0 enqueues nothing. Multi-pass radix select with per-work-group histograms; nothing
 * crosses to the host. */
gc_status gc_op_topk_indices(gc_ops *ops, gc_topk_scratch *scratch, const gc_buffer *x, size_t x_off, /* f32 (n) */
                             gc_buffer *idx, size_t idx_off, /* int32 (min(k, n)) */
                             int n, int k, gc_error *err);

#endif
