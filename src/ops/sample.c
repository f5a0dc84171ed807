/* sample.c - host wrappers for cl/sample.cl: argmax and top-k/top-p sampling in one work-group. */
#include <math.h>
#include <stdio.h>

#include "ops/ops_internal.h"

static gc_status sample_kernel(gc_ops *ops, const char *entry, const gc_buffer *x, size_t x_off, const gc_buffer *out,
                               size_t out_off, int n, cl_kernel *k, gc_error *err) {
    if (n <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: n = %d must be positive", entry, n);
    gc_status st = gc_ops_check_range(x, x_off, (size_t)n, sizeof(float), entry, "logits", err);
    if (st == GC_OK)
        st = gc_ops_check_range(out, out_off, 1, sizeof(int32_t), entry, "output", err);
    char options[32];
    snprintf(options, sizeof options, "-DSAMPLE_LS=%d", gc_ops_get_profile(ops)->reduce_local);
    if (st == GC_OK)
        st = gc_ops_kernel(ops, "sample", options, entry, k, err);
    if (st != GC_OK)
        return st;
    cl_ulong xo = x_off, oo = out_off;
    cl_uint nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(x), GC_KARG(xo), GC_KMEM(out), GC_KARG(oo), GC_KARG(nn)};
    return gc_ops_set_args(*k, args, 5, entry, err);
}

static gc_status launch_one_group(gc_ops *ops, cl_kernel k, const char *what, gc_error *err) {
    size_t local = (size_t)gc_ops_get_profile(ops)->reduce_local;
    return gc_ops_launch_1d(ops, k, local, local, what, err);
}

gc_status gc_op_argmax(gc_ops *ops, const gc_buffer *x, size_t x_off, gc_buffer *out, size_t out_off, int n,
                       gc_error *err) {
    cl_kernel k;
    gc_status st = sample_kernel(ops, "argmax_f32_i32", x, x_off, out, out_off, n, &k, err);
    return st != GC_OK ? st : launch_one_group(ops, k, "argmax", err);
}

gc_status gc_op_sample(gc_ops *ops, const gc_buffer *logits, size_t logits_off, gc_buffer *out, size_t out_off, int n,
                       float temperature, int top_k, float top_p, float u, gc_error *err) {
    if (!isfinite(temperature) || top_k < 0 || !(top_p > 0.0f && top_p <= 1.0f) || !(u >= 0.0f && u < 1.0f))
        return gc_fail(err, GC_ERR_INVALID_ARG,
                       "sample: bad parameters temperature %g, top_k %d, top_p %g (0 < top_p <= 1), u %g "
                       "(0 <= u < 1)",
                       (double)temperature, top_k, (double)top_p, (double)u);
    if (temperature <= 0.0f || top_k == 1) /* greedy: step 1 of the rule in cl/sample.cl */
        return gc_op_argmax(ops, logits, logits_off, out, out_off, n, err);
    cl_kernel k;
    gc_buffer *weights = NULL;
    gc_status st = sample_kernel(ops, "sample_f32_i32", logits, logits_off, out, out_off, n, &k, err);
    if (st == GC_OK)
        st = gc_ops_scratch(ops, GC_SCRATCH_SAMPLE, (size_t)n * sizeof(float), &weights, err);
    if (st != GC_OK)
        return st;
    cl_int tk = top_k;
    gc_karg args[] = {GC_KMEM(weights), GC_KARG(temperature), GC_KARG(tk), GC_KARG(top_p), GC_KARG(u)};
    for (int i = 0; i < 5 && st == GC_OK; i++) /* after the 5 arguments sample_kernel set */
        if (clSetKernelArg(k, (cl_uint)(5 + i), args[i].size, args[i].value) != CL_SUCCESS)
            st = gc_fail(err, GC_ERR_DEVICE, "sample: setting argument %d", 5 + i);
    return st != GC_OK ? st : launch_one_group(ops, k, "sample", err);
}
