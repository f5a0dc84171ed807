/* norm.c - host wrapper for cl/norm.cl. */
#include <stdio.h>

#include "ops/ops_internal.h"

gc_status gc_rmsnorm_check(const gc_buffer *x, size_t x_off, const gc_buffer *w, const gc_buffer *out, size_t out_off,
                           int n, int dim, const char *op, gc_error *err) {
    if (n < 0 || dim <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: bad shape n = %d, dim = %d", op, n, dim);
    size_t total = (size_t)n * dim;
    GC_TRY(gc_ops_check_range(x, x_off, total, sizeof(float), op, "x", err));
    GC_TRY(gc_ops_check_range(w, 0, (size_t)dim, sizeof(float), op, "weight", err));
    return gc_ops_check_range(out, out_off, total, sizeof(float), op, "output", err);
}

gc_status gc_op_rmsnorm(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_buffer *w, gc_buffer *out,
                        size_t out_off, int n, int dim, float eps, gc_error *err) {
    const char *op = "rmsnorm";
    GC_TRY(gc_rmsnorm_check(x, x_off, w, out, out_off, n, dim, op, err));
    size_t local = (size_t)gc_ops_get_profile(ops)->norm_local;
    char options[32];
    snprintf(options, sizeof options, "-DRMS_LS=%zu", local);
    cl_kernel k;
    GC_TRY(gc_ops_kernel(ops, "norm", options, "rmsnorm_f32_f32", &k, err));
    cl_ulong xo = x_off, oo = out_off;
    cl_uint d = (cl_uint)dim;
    gc_karg args[] = {GC_KMEM(x), GC_KARG(xo), GC_KMEM(w), GC_KMEM(out), GC_KARG(oo), GC_KARG(d), GC_KARG(eps)};
    GC_TRY(gc_ops_set_args(k, args, 7, op, err));
    return gc_ops_launch_1d(ops, k, (size_t)n * local, local, op, err);
}
