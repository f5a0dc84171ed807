/* matmul.c - host wrapper for cl/matmul.cl and CLBlast: y = x W^T (+ bias).
 *
 * Dispatch (per the device profile, profile.h): n <= gemv_max_n -> our GEMV kernels (never GEMM with n = 1);
 * otherwise f32 weights go to CLBlast SGEMM when the profile says so, and everything else to our
 * register-blocked GEMM kernel, which converts f16/bf16/q8_0 on load. */
#include <clblast_c.h>
#include <stdio.h>

#include "ops/ops_internal.h"

/* -D options of the matmul program from the profile; nb rows of x per GEMV work-item. */
static void matmul_options(const gc_ops_profile *p, int nb, char *out, size_t len) {
    snprintf(out, len, "-DGEMV_LS=%d -DGEMV_RPG=%d -DGEMV_NB=%d -DGEMM_TM=%d -DGEMM_WN=%d -DGEMM_WM=%d -DGEMM_KB=%d",
             p->gemv_local, p->gemv_rows, nb, p->gemm_tm, p->gemm_wn, p->gemm_wm, p->gemm_kb);
}

/* Runs gemv_<t>_f32 (gemv) or gemm_<t>_f32 over the whole product. */
static gemcl_status matmul_kernel(gc_ops *ops, bool gemv, const gc_buffer *x, size_t x_off,
                                  const gc_dweight *w, gc_buffer *y, size_t y_off, int n, gc_error *err) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    char options[160], entry[32];
    int nb = n == 1 ? 1 : p->gemv_rows_x; /* decode reads each W row once; small batches share it */
    matmul_options(p, nb, options, sizeof options);
    snprintf(entry, sizeof entry, "%s_%s_f32", gemv ? "gemv" : "gemm", gc_dtype_name(w->dtype));
    cl_kernel k;
    gemcl_status st = gc_ops_kernel(ops, "matmul", options, entry, &k, err);
    if (st != GEMCL_OK)
        return st;
    cl_ulong row_bytes = gc_dtype_row_bytes(w->dtype, w->cols), xo = x_off, yo = y_off;
    cl_uint rows = (cl_uint)w->rows, cols = (cl_uint)w->cols, nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(&w->buf), GC_KARG(row_bytes), GC_KMEM(x),    GC_KARG(xo),  GC_KMEM(y),
                      GC_KARG(yo),      GC_KARG(rows),      GC_KARG(cols), GC_KARG(nn)};
    st = gc_ops_set_args(k, args, 9, entry, err);
    if (st != GEMCL_OK)
        return st;
    if (gemv) {
        size_t global[3] = {(size_t)p->gemv_local, rows, ((size_t)n + nb - 1) / nb};
        size_t local[3] = {(size_t)p->gemv_local, (size_t)p->gemv_rows, 1};
        return gc_ops_launch_nd(ops, k, 3, global, local, entry, err);
    }
    size_t bn = 16 * (size_t)p->gemm_wn, bm = (size_t)p->gemm_tm * p->gemm_wm;
    size_t global[2] = {((size_t)rows + bn - 1) / bn * p->gemm_wn, ((size_t)n + bm - 1) / bm * p->gemm_wm};
    size_t local[2] = {(size_t)p->gemm_wn, (size_t)p->gemm_wm};
    return gc_ops_launch_2d(ops, k, global, local, entry, err);
}

/* y (n, rows) = x (n, cols) W^T through CLBlast, row-major with W transposed. */
static gemcl_status matmul_clblast(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_dweight *w,
                                   gc_buffer *y, size_t y_off, int n, gc_error *err) {
    cl_command_queue queue = gc_ops_runtime(ops)->queue;
    CLBlastStatusCode rc = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes,
                                        (size_t)n, (size_t)w->rows, (size_t)w->cols, 1.0f, x->mem, x_off,
                                        (size_t)w->cols, w->buf.mem, 0, (size_t)w->cols, 0.0f, y->mem, y_off,
                                        (size_t)w->rows, &queue, gc_trace_slot(gc_ops_runtime(ops), "CLBlastSgemm"));
    if (rc != CLBlastSuccess)
        return gc_fail(err, GEMCL_ERR_DEVICE, "matmul: CLBlastSgemm (%d x %d x %d) failed with status %d", n,
                       w->rows, w->cols, (int)rc);
    return GEMCL_OK;
}

static gemcl_status bias_add(gc_ops *ops, gc_buffer *y, size_t y_off, const gc_buffer *bias, int rows, int n,
                             gc_error *err) {
    cl_kernel k;
    gemcl_status st = gc_ops_kernel(ops, "matmul", NULL, "bias_add_f32_f32", &k, err);
    if (st != GEMCL_OK)
        return st;
    cl_ulong yo = y_off;
    cl_uint r = (cl_uint)rows, nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(y), GC_KARG(yo), GC_KMEM(bias), GC_KARG(r), GC_KARG(nn)};
    st = gc_ops_set_args(k, args, 5, "bias_add", err);
    size_t global[2] = {(size_t)rows, (size_t)n}, local[2] = {rows >= 64 ? 64 : 1, 1};
    return st != GEMCL_OK ? st : gc_ops_launch_2d(ops, k, global, local, "bias_add", err);
}

static gemcl_status matmul_check(const gc_buffer *x, size_t x_off, const gc_dweight *w, const gc_buffer *bias,
                                 const gc_buffer *y, size_t y_off, int n, gc_error *err) {
    const char *op = "matmul";
    if (n < 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "%s: n = %d is negative", op, n);
    gemcl_status st = gc_ops_check_weight(w, op, err);
    if (st == GEMCL_OK)
        st = gc_ops_check_range(x, x_off, (size_t)n * w->cols, sizeof(float), op, "x", err);
    if (st == GEMCL_OK)
        st = gc_ops_check_range(y, y_off, (size_t)n * w->rows, sizeof(float), op, "y", err);
    if (st == GEMCL_OK && bias)
        st = gc_ops_check_range(bias, 0, (size_t)w->rows, sizeof(float), op, "bias", err);
    return st;
}

gemcl_status gc_op_matmul(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_dweight *w,
                          const gc_buffer *bias, gc_buffer *y, size_t y_off, int n, gc_error *err) {
    gemcl_status st = matmul_check(x, x_off, w, bias, y, y_off, n, err);
    if (st != GEMCL_OK || n == 0)
        return st;
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    if (n <= p->gemv_max_n)
        st = matmul_kernel(ops, true, x, x_off, w, y, y_off, n, err);
    else if (w->dtype == GC_DTYPE_F32 && p->gemm_f32_clblast)
        st = matmul_clblast(ops, x, x_off, w, y, y_off, n, err);
    else
        st = matmul_kernel(ops, false, x, x_off, w, y, y_off, n, err);
    if (st == GEMCL_OK && bias)
        st = bias_add(ops, y, y_off, bias, w->rows, n, err);
    return st;
}
