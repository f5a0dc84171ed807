/* kvcompress.h - device ops of the KV-compression methods (docs/METHODS.md: snapkv, h2o, streamingllm,
 * promptdistill): the causal-softmax attention mass per key, SnapKV's max pooling, and a per-head gather of
 * KV rows. Enqueue only, like every op wrapper.
 *
 * Attention mass of a set of query rows, one chunk at a time (never n x n):
 *   gc_op_attn_lse(q, k -> lse); gc_op_attn_colsum(q, k, lse -> s +=)
 * s[g, j] then holds sum over the rows i >= max(j, i_from) seen so far and over the query heads of KV group g
 * of softmax_j(scale q[i, h] . k[j, g]), the quantity SnapKV (window rows) and H2O (all rows) rank keys by. */
#ifndef GC_OPS_KVCOMPRESS_H
#define GC_OPS_KVCOMPRESS_H

#include "ops/ops.h"

/* Shape of one attention-mass chunk: query rows q_row0 .. q_row0 + nq - 1 of the cache (their keys are cache
 * rows 0 .. q_row0 + nq - 1); only rows >= i_from count. */
typedef struct gc_attn_rows {
    int q_row0, nq, i_from;
    int n_heads, n_kv_heads, head_dim;
    float scale;
} gc_attn_rows;

/* lse[i, h] = log sum_{j <= q_row0 + i} exp(scale q[i, h] . k[j, g(h)]) for the counted rows. */
gc_status gc_op_attn_lse(gc_ops *ops, const gc_attn_rows *r, const gc_buffer *q,
                         size_t q_off,       /* f32 (nq, n_heads, head_dim), post-RoPE */
                         const gc_buffer *k, /* f32 (>= q_row0 + nq, n_kv_heads, head_dim) */
                         gc_buffer *lse,     /* f32 (nq, n_heads) */
                         gc_error *err);

/* s[g, j] += the chunk's causal softmax mass on key j, summed over the counted rows and group g's heads, for
 * j < q_row0 + nq. lse comes from gc_op_attn_lse on the same chunk. */
gc_status gc_op_attn_colsum(gc_ops *ops, const gc_attn_rows *r, const gc_buffer *q,
                            size_t q_off,               /* f32 (nq, n_heads, head_dim) */
                            const gc_buffer *k,         /* f32 (>= q_row0 + nq, n_kv_heads, head_dim) */
                            const gc_buffer *lse,       /* f32 (nq, n_heads) */
                            gc_buffer *s, int s_stride, /* f32 (n_kv_heads, s_stride), accumulated */
                            gc_error *err);

/* p[j] = max of s[j-3 .. j+3] over in-range terms (SnapKV's optional max pooling, kernel 7). p must not
 * overlap s. */
gc_status gc_op_pool_max7(gc_ops *ops, const gc_buffer *s, size_t s_off, /* f32 (n) */
                          gc_buffer *p, size_t p_off,                    /* f32 (n) */
                          int n, gc_error *err);

/* Where a gather reads or writes: element (row r, head g, e) is at off + r * row_stride + g * head_stride + e. */
typedef struct gc_rows_layout {
    size_t off;
    int row_stride, head_stride;
} gc_rows_layout;

/* dst(r, g, e) = src(idx[idx_off + g * idx_head_stride + r], g, e) for r < n_keep, g < n_heads, e < width;
 * idx_head_stride 0 = the same rows for every head. dst must not overlap src. */
gc_status gc_op_gather_rows(gc_ops *ops, const gc_buffer *src, gc_rows_layout src_layout, /* f32 */
                            gc_buffer *dst, gc_rows_layout dst_layout,                    /* f32 */
                            const gc_buffer *idx, size_t idx_off, /* int32 (n_heads, stride) or (n_keep) */
                            int idx_head_stride, int n_keep, int n_heads, int width, gc_error *err);

/* KV rows: dst[r, g, :] = src[idx[g * idx_head_stride + r], g, :] for r < n_keep (gc_op_gather_rows on the
 * cache layout). */
gc_status gc_op_kv_gather(gc_ops *ops, const gc_buffer *src, /* f32 (rows, n_kv_heads, head_dim) */
                          gc_buffer *dst,                    /* f32 (>= n_keep, n_kv_heads, head_dim) */
                          const gc_buffer *idx,              /* int32 (n_kv_heads, idx_head_stride) or (n_keep) */
                          int idx_head_stride, int n_keep, int n_kv_heads, int head_dim, gc_error *err);

/* H2O's streaming eviction: per head g, the row m < candidates with the lowest s[g, m] (lowest index on
 * ties) goes: idx[g, :] = 0 .. m - 1, m + 1 .. rows - 1 (rows - 1 entries, for gc_seq_compact_layer). */
gc_status gc_op_evict_lowest(gc_ops *ops, const gc_buffer *s, int s_head_stride, /* f32 (n_heads, stride) */
                             gc_buffer *idx,                                     /* int32 (n_heads, rows - 1) */
                             int rows, int candidates, int n_heads, gc_error *err);

#endif
