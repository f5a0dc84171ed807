/* rope.c - host wrapper for cl/rope.cl. */
#include "ops/ops_internal.h"

gc_status gc_op_rope(gc_ops *ops, gc_buffer *x, size_t x_off, const gc_buffer *pos, size_t pos_off,
                     const gc_buffer *inv_freq, int n, int n_heads, int head_dim, gc_rope_layout layout,
                     gc_error *err) {
    const char *op = "rope";
    if (n < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 ||
        (layout != GC_ROPE_ADJACENT && layout != GC_ROPE_HALF))
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: bad shape n = %d, n_heads = %d, head_dim = %d, layout %d", op, n,
                       n_heads, head_dim, (int)layout);
    GC_TRY(gc_ops_check_range(x, x_off, (size_t)n * n_heads * head_dim, sizeof(float), op, "x", err));
    GC_TRY(gc_ops_check_range(pos, pos_off, (size_t)n, sizeof(int32_t), op, "positions", err));
    GC_TRY(gc_ops_check_range(inv_freq, 0, (size_t)head_dim / 2, sizeof(float), op, "inv_freq", err));
    if (n == 0)
        return GC_OK;
    cl_kernel k;
    GC_TRY(gc_ops_kernel(ops, "rope", NULL, "rope_f32_f32", &k, err));
    cl_ulong xo = x_off, po = pos_off;
    cl_uint nh = (cl_uint)n_heads, hd = (cl_uint)head_dim, lay = (cl_uint)layout, nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(x),  GC_KARG(xo), GC_KMEM(pos), GC_KARG(po), GC_KMEM(inv_freq),
                      GC_KARG(nh), GC_KARG(hd), GC_KARG(lay), GC_KARG(nn)};
    GC_TRY(gc_ops_set_args(k, args, 9, op, err));
    size_t pairs = (size_t)head_dim / 2;
    size_t global[2] = {pairs, (size_t)n}, local[2] = {pairs < 64 ? pairs : 64, 1};
    return gc_ops_launch_2d(ops, k, global, local, op, err);
}
