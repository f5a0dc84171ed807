/* attention.c - host wrapper for cl/attention.cl: blocks of rows per work-item for prefill (attention_rows),
 * split keys + combine for decode, one row per work-item when the profile asks for it. */
#include <stdio.h>

#include "ops/ops_internal.h"

#define ATTN_MAX_SPLITS 64

static gc_status attention_check(const gc_buffer *q, size_t q_off, const gc_buffer *k, const gc_buffer *v,
                                 const gc_buffer *out, size_t out_off, int n, int n_past, int n_heads, int n_kv_heads,
                                 int head_dim, gc_error *err) {
    const char *op = "attention";
    if (n < 0 || n_past < 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 ||
        head_dim < 4 || head_dim > 256 || head_dim % 4 != 0)
        return gc_fail(err, GC_ERR_INVALID_ARG,
                       "%s: bad shape n = %d, n_past = %d, n_heads = %d, n_kv_heads = %d, head_dim = %d "
                       "(head_dim must be a multiple of 4 up to 256)",
                       op, n, n_past, n_heads, n_kv_heads, head_dim);
    size_t q_elems = (size_t)n * n_heads * head_dim, kv_elems = ((size_t)n_past + n) * n_kv_heads * head_dim;
    gc_status st = gc_ops_check_range(q, q_off, q_elems, sizeof(float), op, "q", err);
    if (st == GC_OK)
        st = gc_ops_check_range(k, 0, kv_elems, sizeof(float), op, "k cache", err);
    if (st == GC_OK)
        st = gc_ops_check_range(v, 0, kv_elems, sizeof(float), op, "v cache", err);
    if (st == GC_OK)
        st = gc_ops_check_range(out, out_off, q_elems, sizeof(float), op, "output", err);
    return st;
}

/* Merges the n_splits partials in part into out. */
static gc_status attention_combine(gc_ops *ops, const char *options, const gc_buffer *part, gc_buffer *out,
                                   size_t out_off, int n, int n_heads, int n_splits, gc_error *err) {
    cl_kernel k;
    gc_status st = gc_ops_kernel(ops, "attention", options, "attention_combine_f32_f32", &k, err);
    if (st != GC_OK)
        return st;
    cl_ulong oo = out_off;
    cl_uint nn = (cl_uint)n, nh = (cl_uint)n_heads, ns = (cl_uint)n_splits;
    gc_karg args[] = {GC_KMEM(part), GC_KMEM(out), GC_KARG(oo), GC_KARG(nn), GC_KARG(nh), GC_KARG(ns)};
    st = gc_ops_set_args(k, args, 6, "attention_combine", err);
    size_t global[2] = {(size_t)n, (size_t)n_heads};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, k, global, NULL, "attention_combine", err);
}

/* How many key splits to use: several only when there are too few queries to fill the device. */
static int attention_splits(const gc_ops_profile *p, int n, int n_keys) {
    if (n > p->attn_split_max_n)
        return 1;
    int splits = (n_keys + p->attn_split_keys - 1) / p->attn_split_keys;
    return splits < 1 ? 1 : splits > ATTN_MAX_SPLITS ? ATTN_MAX_SPLITS : splits;
}

/* Prefill: blocks of p->attn_rows (query, head) rows of one kv head per work-item. */
static gc_status attention_rows(gc_ops *ops, const char *options, const gc_buffer *q, size_t q_off,
                                const gc_buffer *k_cache, const gc_buffer *v_cache, gc_buffer *out, size_t out_off,
                                int n, int n_past, int n_heads, int n_kv_heads, float scale, gc_error *err) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    cl_kernel k;
    gc_status st = gc_ops_kernel(ops, "attention", options, "attention_rows_f32_f32", &k, err);
    if (st != GC_OK)
        return st;
    cl_ulong qo = q_off, oo = out_off;
    cl_uint nn = (cl_uint)n, np = (cl_uint)n_past, nh = (cl_uint)n_heads, nkv = (cl_uint)n_kv_heads;
    gc_karg args[] = {GC_KMEM(q),  GC_KARG(qo), GC_KMEM(k_cache), GC_KMEM(v_cache), GC_KMEM(out),  GC_KARG(oo),
                      GC_KARG(nn), GC_KARG(np), GC_KARG(nh),      GC_KARG(nkv),     GC_KARG(scale)};
    st = gc_ops_set_args(k, args, 11, "attention_rows", err);
    size_t rows = (size_t)n * (n_heads / n_kv_heads), blocks = (rows + p->attn_rows - 1) / p->attn_rows;
    size_t global[2] = {blocks, (size_t)n_kv_heads}, local[2] = {p->attn_local_wg > 0 ? p->attn_local_wg : 1, 1};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, k, global, local, "attention_rows", err);
}

gc_status gc_op_attention(gc_ops *ops, const gc_buffer *q, size_t q_off, const gc_buffer *k_cache,
                          const gc_buffer *v_cache, gc_buffer *out, size_t out_off, int n, int n_past, int n_heads,
                          int n_kv_heads, int head_dim, float scale, gc_error *err) {
    gc_status st =
        attention_check(q, q_off, k_cache, v_cache, out, out_off, n, n_past, n_heads, n_kv_heads, head_dim, err);
    if (st != GC_OK || n == 0)
        return st;
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    if (p->attn_rows != 0 && p->attn_rows != 2 && p->attn_rows != 4 && p->attn_rows != 8 && p->attn_rows != 16)
        return gc_fail(err, GC_ERR_INVALID_ARG, "attention: profile rows per work-item %d is not 0, 2, 4, 8, 16",
                       p->attn_rows);
    int n_keys = n_past + n, n_splits = attention_splits(p, n, n_keys);
    int split_keys = (n_keys + n_splits - 1) / n_splits;
    char options[96];
    snprintf(options, sizeof options, "-DHEAD_DIM=%d -DATT_BR=%d -DATT_BC=%d -DATT_LOCAL_WG=%d", head_dim,
             p->attn_rows > 0 ? p->attn_rows : 16, p->attn_keys > 0 ? p->attn_keys : 16, p->attn_local_wg);
    if (n_splits == 1 && p->attn_rows > 0)
        return attention_rows(ops, options, q, q_off, k_cache, v_cache, out, out_off, n, n_past, n_heads, n_kv_heads,
                              scale, err);
    cl_kernel k;
    st = gc_ops_kernel(ops, "attention", options, "attention_f32_f32", &k, err);
    gc_buffer *part = (gc_buffer *)out; /* unused when n_splits == 1, but must be a valid buffer */
    if (st == GC_OK && n_splits > 1)
        st = gc_ops_scratch(ops, GC_SCRATCH_ATTENTION,
                            (size_t)n * n_heads * n_splits * (head_dim + 2) * sizeof(float), &part, err);
    if (st != GC_OK)
        return st;
    cl_ulong qo = q_off, oo = out_off;
    cl_uint nn = (cl_uint)n, np = (cl_uint)n_past, nh = (cl_uint)n_heads, nkv = (cl_uint)n_kv_heads;
    cl_uint sk = (cl_uint)split_keys, ns = (cl_uint)n_splits;
    gc_karg args[] = {GC_KMEM(q),   GC_KARG(qo), GC_KMEM(k_cache), GC_KMEM(v_cache), GC_KMEM(out),
                      GC_KARG(oo),  GC_KMEM(part), GC_KARG(nn),    GC_KARG(np),      GC_KARG(nh),
                      GC_KARG(nkv), GC_KARG(scale), GC_KARG(sk),   GC_KARG(ns)};
    st = gc_ops_set_args(k, args, 14, "attention", err);
    if (st == GC_OK) {
        size_t global[2] = {(size_t)n, (size_t)n_heads * n_splits};
        st = gc_ops_launch_2d(ops, k, global, NULL, "attention", err);
    }
    if (st == GC_OK && n_splits > 1)
        st = attention_combine(ops, options, part, out, out_off, n, n_heads, n_splits, err);
    return st;
}

gc_status gc_op_attention_shared(gc_ops *ops, const gc_buffer *q, size_t q_off, const gc_buffer *k_cache,
                                 const gc_buffer *v_cache, const gc_shared_logits *sh, gc_buffer *out, size_t out_off,
                                 int n, int n_past, int n_heads, int n_kv_heads, int head_dim, float scale,
                                 gc_error *err) {
    const char *op = "attention_shared";
    gc_status st =
        attention_check(q, q_off, sh->k_src, v_cache, out, out_off, n, n_past, n_heads, n_kv_heads, head_dim, err);
    if (st == GC_OK && (sh->sinks < 0 || sh->recent < 1 || sh->k_shift < 0))
        st = gc_fail(err, GC_ERR_INVALID_ARG, "%s: sinks %d, recent %d, k_shift %d", op, sh->sinks, sh->recent,
                     sh->k_shift);
    if (st == GC_OK)
        st = gc_ops_check_range(sh->q_src, q_off, (size_t)n * n_heads * head_dim, sizeof(float), op, "q_src", err);
    if (st == GC_OK && n_past + n > sh->k_shift) /* the newest key row this layer stores */
        st = gc_ops_check_range(k_cache, 0, (size_t)(n_past + n - sh->k_shift) * n_kv_heads * head_dim,
                                sizeof(float), op, "k cache", err);
    if (st != GC_OK || n == 0)
        return st;
    char options[48];
    snprintf(options, sizeof options, "-DHEAD_DIM=%d", head_dim);
    cl_kernel k;
    st = gc_ops_kernel(ops, "attention", options, "attention_shared_f32_f32", &k, err);
    if (st != GC_OK)
        return st;
    cl_ulong qo = q_off, oo = out_off;
    cl_uint nn = (cl_uint)n, np = (cl_uint)n_past, nh = (cl_uint)n_heads, nkv = (cl_uint)n_kv_heads;
    cl_uint sinks = (cl_uint)sh->sinks, recent = (cl_uint)sh->recent, shift = (cl_uint)sh->k_shift;
    gc_karg args[] = {GC_KMEM(q),  GC_KARG(qo), GC_KMEM(k_cache), GC_KMEM(v_cache), GC_KMEM(sh->q_src),
                      GC_KMEM(sh->k_src), GC_KMEM(out), GC_KARG(oo), GC_KARG(nn), GC_KARG(np), GC_KARG(nh),
                      GC_KARG(nkv), GC_KARG(scale), GC_KARG(sinks), GC_KARG(recent), GC_KARG(shift)};
    st = gc_ops_set_args(k, args, 16, op, err);
    size_t global[2] = {(size_t)n, (size_t)n_heads};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, k, global, NULL, op, err);
}
