/* kvcompress.c - host wrappers for cl/kvcompress.cl. */
#include "ops/kvcompress.h"

#include "ops/ops_internal.h"

static gc_status rows_check(const gc_attn_rows *r, const gc_buffer *q, size_t q_off, const gc_buffer *k, const char *op,
                            gc_error *err) {
    if (r->q_row0 < 0 || r->nq < 0 || r->n_heads <= 0 || r->n_kv_heads <= 0 || r->n_heads % r->n_kv_heads != 0 ||
        r->head_dim <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: bad shape q_row0 = %d, nq = %d, heads %d/%d, head_dim %d", op,
                       r->q_row0, r->nq, r->n_heads, r->n_kv_heads, r->head_dim);
    gc_status st = gc_ops_check_range(q, q_off, (size_t)r->nq * r->n_heads * r->head_dim, 4, op, "q", err);
    if (st == GC_OK)
        st = gc_ops_check_range(k, 0, ((size_t)r->q_row0 + r->nq) * r->n_kv_heads * r->head_dim, 4, op, "k", err);
    return st;
}

gc_status gc_op_attn_lse(gc_ops *ops, const gc_attn_rows *r, const gc_buffer *q, size_t q_off, const gc_buffer *k,
                         gc_buffer *lse, gc_error *err) {
    const char *op = "attn_lse";
    gc_status st = rows_check(r, q, q_off, k, op, err);
    if (st == GC_OK)
        st = gc_ops_check_range(lse, 0, (size_t)r->nq * r->n_heads, 4, op, "lse", err);
    cl_kernel kr;
    if (st == GC_OK && r->nq > 0)
        st = gc_ops_kernel(ops, "kvcompress", NULL, "attn_lse_f32_f32", &kr, err);
    if (st != GC_OK || r->nq == 0)
        return st;
    cl_ulong qo = q_off;
    cl_uint r0 = (cl_uint)r->q_row0, from = (cl_uint)(r->i_from > 0 ? r->i_from : 0), nq = (cl_uint)r->nq;
    cl_uint nh = (cl_uint)r->n_heads, nkv = (cl_uint)r->n_kv_heads, hd = (cl_uint)r->head_dim;
    gc_karg args[] = {GC_KMEM(q), GC_KARG(qo), GC_KMEM(k),  GC_KMEM(lse), GC_KARG(r0),      GC_KARG(from),
                      GC_KARG(nq), GC_KARG(nh), GC_KARG(nkv), GC_KARG(hd), GC_KARG(r->scale)};
    st = gc_ops_set_args(kr, args, 11, op, err);
    size_t global[2] = {(size_t)r->nq, (size_t)r->n_heads};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, kr, global, NULL, op, err);
}

gc_status gc_op_attn_colsum(gc_ops *ops, const gc_attn_rows *r, const gc_buffer *q, size_t q_off, const gc_buffer *k,
                            const gc_buffer *lse, gc_buffer *s, int s_stride, gc_error *err) {
    const char *op = "attn_colsum";
    int n_keys = r->q_row0 + r->nq;
    gc_status st = rows_check(r, q, q_off, k, op, err);
    if (st == GC_OK && s_stride < n_keys)
        st = gc_fail(err, GC_ERR_INVALID_ARG, "%s: s_stride %d < %d keys", op, s_stride, n_keys);
    if (st == GC_OK)
        st = gc_ops_check_range(lse, 0, (size_t)r->nq * r->n_heads, 4, op, "lse", err);
    if (st == GC_OK)
        st = gc_ops_check_range(s, 0, (size_t)r->n_kv_heads * s_stride, 4, op, "s", err);
    cl_kernel kr;
    if (st == GC_OK && r->nq > 0)
        st = gc_ops_kernel(ops, "kvcompress", NULL, "attn_colsum_f32_f32", &kr, err);
    if (st != GC_OK || r->nq == 0)
        return st;
    cl_ulong qo = q_off;
    cl_uint ss = (cl_uint)s_stride, r0 = (cl_uint)r->q_row0, from = (cl_uint)(r->i_from > 0 ? r->i_from : 0);
    cl_uint nq = (cl_uint)r->nq, nh = (cl_uint)r->n_heads, nkv = (cl_uint)r->n_kv_heads, hd = (cl_uint)r->head_dim;
    gc_karg args[] = {GC_KMEM(q),  GC_KARG(qo),   GC_KMEM(k),  GC_KMEM(lse), GC_KMEM(s),  GC_KARG(ss),     GC_KARG(r0),
                      GC_KARG(from), GC_KARG(nq), GC_KARG(nh), GC_KARG(nkv), GC_KARG(hd), GC_KARG(r->scale)};
    st = gc_ops_set_args(kr, args, 13, op, err);
    size_t global[2] = {(size_t)n_keys, (size_t)r->n_kv_heads};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, kr, global, NULL, op, err);
}

gc_status gc_op_pool_max7(gc_ops *ops, const gc_buffer *s, size_t s_off, gc_buffer *p, size_t p_off, int n,
                          gc_error *err) {
    const char *op = "pool_max7";
    if (n < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: n = %d", op, n);
    gc_status st = gc_ops_check_range(s, s_off, (size_t)n, 4, op, "s", err);
    if (st == GC_OK)
        st = gc_ops_check_range(p, p_off, (size_t)n, 4, op, "p", err);
    cl_kernel kr;
    if (st == GC_OK && n > 0)
        st = gc_ops_kernel(ops, "kvcompress", NULL, "pool_max7_f32_f32", &kr, err);
    if (st != GC_OK || n == 0)
        return st;
    cl_ulong so = s_off, po = p_off;
    cl_uint nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(s), GC_KARG(so), GC_KMEM(p), GC_KARG(po), GC_KARG(nn)};
    st = gc_ops_set_args(kr, args, 5, op, err);
    return st != GC_OK ? st : gc_ops_launch_1d(ops, kr, (size_t)n, 0, op, err);
}

gc_status gc_op_gather_rows(gc_ops *ops, const gc_buffer *src, gc_rows_layout sl, gc_buffer *dst, gc_rows_layout dl,
                            const gc_buffer *idx, size_t idx_off, int idx_head_stride, int n_keep, int n_heads,
                            int width, gc_error *err) {
    const char *op = "gather_rows";
    if (n_keep < 0 || n_heads <= 0 || width <= 0 || idx_head_stride < 0 ||
        (idx_head_stride > 0 && idx_head_stride < n_keep) || sl.row_stride < 0 || sl.head_stride < 0 ||
        dl.row_stride < 0 || dl.head_stride < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: bad shape n_keep = %d, heads %d, width %d, stride %d", op, n_keep,
                       n_heads, width, idx_head_stride);
    size_t n_idx = idx_head_stride ? (size_t)(n_heads - 1) * idx_head_stride + n_keep : (size_t)n_keep;
    size_t dst_span = n_keep ? (size_t)(n_keep - 1) * dl.row_stride + (size_t)(n_heads - 1) * dl.head_stride + width : 0;
    gc_status st = gc_ops_check_range(dst, dl.off, dst_span, 4, op, "dst", err);
    if (st == GC_OK)
        st = gc_ops_check_range(idx, idx_off, n_idx, 4, op, "idx", err);
    cl_kernel kr;
    if (st == GC_OK && n_keep > 0)
        st = gc_ops_kernel(ops, "kvcompress", NULL, "gather_rows_f32_f32", &kr, err);
    if (st != GC_OK || n_keep == 0)
        return st;
    cl_ulong so = sl.off, dof = dl.off, io = idx_off;
    cl_uint srs = (cl_uint)sl.row_stride, shs = (cl_uint)sl.head_stride, drs = (cl_uint)dl.row_stride;
    cl_uint dhs = (cl_uint)dl.head_stride, stride = (cl_uint)idx_head_stride, nk = (cl_uint)n_keep;
    cl_uint nh = (cl_uint)n_heads, w = (cl_uint)width;
    gc_karg args[] = {GC_KMEM(src), GC_KARG(so),  GC_KARG(srs),    GC_KARG(shs), GC_KMEM(dst),
                      GC_KARG(dof), GC_KARG(drs), GC_KARG(dhs),    GC_KMEM(idx), GC_KARG(io),
                      GC_KARG(stride), GC_KARG(nk), GC_KARG(nh),   GC_KARG(w)};
    st = gc_ops_set_args(kr, args, 14, op, err);
    size_t global[2] = {(size_t)n_heads * width, (size_t)n_keep};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, kr, global, NULL, op, err);
}

gc_status gc_op_kv_gather(gc_ops *ops, const gc_buffer *src, gc_buffer *dst, const gc_buffer *idx, int idx_head_stride,
                          int n_keep, int n_kv_heads, int head_dim, gc_error *err) {
    gc_rows_layout kv = {0, n_kv_heads * head_dim, head_dim};
    return gc_op_gather_rows(ops, src, kv, dst, kv, idx, 0, idx_head_stride, n_keep, n_kv_heads, head_dim, err);
}

gc_status gc_op_evict_lowest(gc_ops *ops, const gc_buffer *s, int s_head_stride, gc_buffer *idx, int rows,
                             int candidates, int n_heads, gc_error *err) {
    const char *op = "evict_lowest";
    if (rows < 2 || candidates < 1 || candidates > rows || n_heads <= 0 || s_head_stride < rows)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: bad shape rows = %d, candidates = %d, heads %d, stride %d", op,
                       rows, candidates, n_heads, s_head_stride);
    gc_status st = gc_ops_check_range(s, 0, (size_t)n_heads * s_head_stride, 4, op, "s", err);
    if (st == GC_OK)
        st = gc_ops_check_range(idx, 0, (size_t)n_heads * (rows - 1), 4, op, "idx", err);
    cl_kernel kr;
    if (st == GC_OK)
        st = gc_ops_kernel(ops, "kvcompress", NULL, "evict_lowest_f32_i32", &kr, err);
    if (st != GC_OK)
        return st;
    cl_uint hs = (cl_uint)s_head_stride, r = (cl_uint)rows, c = (cl_uint)candidates, nh = (cl_uint)n_heads;
    gc_karg args[] = {GC_KMEM(s), GC_KARG(hs), GC_KMEM(idx), GC_KARG(r), GC_KARG(c), GC_KARG(nh)};
    st = gc_ops_set_args(kr, args, 6, op, err);
    return st != GC_OK ? st : gc_ops_launch_1d(ops, kr, (size_t)n_heads, 0, op, err);
}
