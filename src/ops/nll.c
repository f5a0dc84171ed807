/* nll.c - host wrapper for cl/nll.cl: per-row negative log-likelihood of a target id under softmax. */
#include <stdio.h>

#include "ops/ops_internal.h"

gc_status gc_op_nll(gc_ops *ops, const gc_buffer *logits, size_t logits_off, const gc_buffer *targets,
                    size_t targets_off, gc_buffer *out, size_t out_off, int n_rows, int n_vocab, gc_error *err) {
    const char *op = "nll";
    if (n_rows < 0 || n_vocab <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: bad shape n_rows = %d, n_vocab = %d", op, n_rows, n_vocab);
    gc_status st = gc_ops_check_range(logits, logits_off, (size_t)n_rows * n_vocab, sizeof(float), op, "logits", err);
    if (st == GC_OK)
        st = gc_ops_check_range(targets, targets_off, (size_t)n_rows, sizeof(int32_t), op, "targets", err);
    if (st == GC_OK)
        st = gc_ops_check_range(out, out_off, (size_t)n_rows, sizeof(float), op, "output", err);
    size_t local = (size_t)gc_ops_get_profile(ops)->reduce_local;
    char options[32];
    snprintf(options, sizeof options, "-DNLL_LS=%zu", local);
    cl_kernel k;
    if (st == GC_OK)
        st = gc_ops_kernel(ops, "nll", options, "nll_f32_f32", &k, err);
    if (st != GC_OK)
        return st;
    cl_ulong lo = logits_off, to = targets_off, oo = out_off;
    cl_uint nv = (cl_uint)n_vocab;
    gc_karg args[] = {GC_KMEM(logits), GC_KARG(lo), GC_KMEM(targets), GC_KARG(to), GC_KMEM(out), GC_KARG(oo),
                      GC_KARG(nv)};
    st = gc_ops_set_args(k, args, 7, op, err);
    return st != GC_OK ? st : gc_ops_launch_1d(ops, k, (size_t)n_rows * local, local, op, err);
}
