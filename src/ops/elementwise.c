/* elementwise.c - host wrappers for cl/elementwise.cl. */
#include "ops/ops.h"

gemcl_status gc_op_add_f32(gc_ops *ops, const gc_buffer *a, size_t a_off, const gc_buffer *b, size_t b_off,
                           gc_buffer *out, size_t out_off, size_t n, gc_error *err) {
    cl_kernel k;
    gemcl_status st = gc_ops_kernel(ops, "elementwise", NULL, "add_f32_f32", &k, err);
    if (st != GEMCL_OK)
        return st;
    cl_ulong ao = a_off, bo = b_off, oo = out_off;
    cl_uint nn = (cl_uint)n;
    clSetKernelArg(k, 0, sizeof(cl_mem), &a->mem);
    clSetKernelArg(k, 1, sizeof ao, &ao);
    clSetKernelArg(k, 2, sizeof(cl_mem), &b->mem);
    clSetKernelArg(k, 3, sizeof bo, &bo);
    clSetKernelArg(k, 4, sizeof(cl_mem), &out->mem);
    clSetKernelArg(k, 5, sizeof oo, &oo);
    clSetKernelArg(k, 6, sizeof nn, &nn);
    return gc_ops_launch_1d(ops, k, n, 64, "add_f32_f32", err);
}
