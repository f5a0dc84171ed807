/* elementwise.c - host wrappers for cl/elementwise.cl. */
#include "ops/ops_internal.h"

/* out = f(a, b) for the two-input kernels; b may be NULL for one-input kernels (copy). */
static gc_status binary_op(gc_ops *ops, const char *entry, const gc_buffer *a, size_t a_off, const gc_buffer *b,
                           size_t b_off, gc_buffer *out, size_t out_off, size_t n, gc_error *err) {
    if (n > UINT32_MAX)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: n = %zu is too large", entry, n);
    gc_status st = gc_ops_check_range(a, a_off, n, sizeof(float), entry, "input", err);
    if (st == GC_OK && b)
        st = gc_ops_check_range(b, b_off, n, sizeof(float), entry, "second input", err);
    if (st == GC_OK)
        st = gc_ops_check_range(out, out_off, n, sizeof(float), entry, "output", err);
    cl_kernel k;
    if (st == GC_OK)
        st = gc_ops_kernel(ops, "elementwise", NULL, entry, &k, err);
    if (st != GC_OK)
        return st;
    cl_ulong ao = a_off, bo = b_off, oo = out_off;
    cl_uint nn = (cl_uint)n;
    if (b) { /* GC_KMEM(b) takes &b->mem, so it must not be formed for a NULL b (UBSan) */
        gc_karg two[] = {GC_KMEM(a), GC_KARG(ao), GC_KMEM(b), GC_KARG(bo), GC_KMEM(out), GC_KARG(oo), GC_KARG(nn)};
        st = gc_ops_set_args(k, two, 7, entry, err);
    } else {
        gc_karg one[] = {GC_KMEM(a), GC_KARG(ao), GC_KMEM(out), GC_KARG(oo), GC_KARG(nn)};
        st = gc_ops_set_args(k, one, 5, entry, err);
    }
    return st != GC_OK ? st : gc_ops_launch_1d(ops, k, n, 64, entry, err);
}

gc_status gc_op_add_f32(gc_ops *ops, const gc_buffer *a, size_t a_off, const gc_buffer *b, size_t b_off, gc_buffer *out,
                        size_t out_off, size_t n, gc_error *err) {
    return binary_op(ops, "add_f32_f32", a, a_off, b, b_off, out, out_off, n, err);
}

gc_status gc_op_swiglu(gc_ops *ops, const gc_buffer *gate, size_t gate_off, const gc_buffer *up, size_t up_off,
                       gc_buffer *out, size_t out_off, size_t n, gc_error *err) {
    return binary_op(ops, "swiglu_f32_f32", gate, gate_off, up, up_off, out, out_off, n, err);
}

gc_status gc_op_copy_f32(gc_ops *ops, const gc_buffer *src, size_t src_off, gc_buffer *dst, size_t dst_off, size_t n,
                         gc_error *err) {
    return binary_op(ops, "copy_f32_f32", src, src_off, NULL, 0, dst, dst_off, n, err);
}
