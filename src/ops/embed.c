/* embed.c - host wrapper for cl/embed.cl. */
#include <stdio.h>

#include "ops/ops_internal.h"

gc_status gc_op_embed(gc_ops *ops, const gc_dweight *table, const gc_buffer *ids, size_t ids_off, gc_buffer *out,
                      size_t out_off, int n, gc_error *err) {
    const char *op = "embed";
    if (n < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: n = %d is negative", op, n);
    gc_status st = gc_ops_check_weight(table, op, err);
    if (st == GC_OK)
        st = gc_ops_check_range(ids, ids_off, (size_t)n, sizeof(int32_t), op, "ids", err);
    if (st == GC_OK)
        st = gc_ops_check_range(out, out_off, (size_t)n * table->cols, sizeof(float), op, "output", err);
    char entry[32], options[32]; /* a program per table dtype */
    snprintf(entry, sizeof entry, "embed_%s_f32", gc_dtype_name(table->dtype));
    snprintf(options, sizeof options, "-DGC_WTYPE=%s", gc_dtype_name(table->dtype));
    cl_kernel k;
    if (st == GC_OK)
        st = gc_ops_kernel(ops, "embed", options, entry, &k, err);
    if (st != GC_OK)
        return st;
    cl_ulong row_bytes = gc_dtype_row_bytes(table->dtype, table->cols), io = ids_off, oo = out_off;
    cl_uint vocab = (cl_uint)table->rows, dim = (cl_uint)table->cols, nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(&table->buf), GC_KARG(row_bytes), GC_KARG(vocab), GC_KMEM(ids), GC_KARG(io),
                      GC_KMEM(out), GC_KARG(oo), GC_KARG(dim), GC_KARG(nn)};
    st = gc_ops_set_args(k, args, 9, entry, err);
    size_t groups = ((size_t)dim + 15) / 16; /* each work-item writes 16 elements */
    size_t global[2] = {groups, (size_t)n}, local[2] = {groups >= 16 ? 16 : 1, 1};
    return st != GC_OK ? st : gc_ops_launch_2d(ops, k, global, local, entry, err);
}
