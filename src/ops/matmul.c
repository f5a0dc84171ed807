/* matmul.c - host wrapper for cl/matmul.cl and CLBlast: y = x W^T (+ bias), alone, fused or accumulated.
 *
 * Dispatch (per the device profile, profile.h): n <= gemv_max_n -> our GEMV kernels (never GEMM with n = 1),
 * which take up to three weights sharing x with their biases, RoPE and accumulation in one launch, and the
 * gate/up pair of a GLU in one launch; otherwise one product per weight: f32 weights go to CLBlast SGEMM when the profile says
 * so, and everything else to our register-blocked GEMM kernel, which converts f16/bf16 and dequantises block
 * types into its local-memory tile. Quantized weights stay in their file layout on the device. Block-quantized
 * weights go to matmul_q8.c instead (x quantized to 8 bits first, as llama.cpp) unless the ops run in f32. */
#include <clblast_c.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

gc_status gc_matmul_kernel(gc_ops *ops, const char *family, const char *entry, gc_dtype dtype, int nb, cl_kernel *k,
                           gc_error *err) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    char options[256];
    /* only f16 programs get GEMV_F16, so the other dtypes' cached programs keep their options */
    bool f16_math = p->gemv_f16_math && dtype == GC_DTYPE_F16;
    /* likewise Q8_INT_DOT=0 only for the q8 path's programs, and only where the device has the feature */
    bool no_int_dot = !p->q8_int_dot && strcmp(family, "matmul_q8") == 0 && (gc_ops_runtime(ops)->fast_paths & GC_FAST_INT_DOT);
    snprintf(options, sizeof options,
             "-DGC_WTYPE=%s -DGEMV_LS=%d -DGEMV_RPG=%d -DGEMV_NB=%d -DGEMM_TM=%d -DGEMM_WN=%d -DGEMM_WM=%d "
             "-DGEMM_KB=%d%s%s%s",
             gc_dtype_name(dtype), p->gemv_local, p->gemv_rows, nb, p->gemm_tm, p->gemm_wn, p->gemm_wm, p->gemm_kb,
             f16_math ? " -DGEMV_F16=1" : "", no_int_dot ? " -DQ8_INT_DOT=0" : "",
             strcmp(family, "matmul_q8") == 0 && gc_matmul_q8_int_gemm(ops) ? " -DQ8_GEMM_INT=1" : "");
    return gc_ops_kernel(ops, family, options, entry, k, err);
}

/* The matmul program's kernel entry (gemv or gemm) for dtype. */
static gc_status matmul_entry(gc_ops *ops, const char *kind, gc_dtype dtype, int nb, cl_kernel *k, char *entry,
                              size_t entry_len, gc_error *err) {
    snprintf(entry, entry_len, "%s_%s_f32", kind, gc_dtype_name(dtype));
    return gc_matmul_kernel(ops, "matmul", entry, dtype, nb, k, err);
}

/* Rows of x per GEMV work-item: decode reads each W row once; small batches share it. */
int gc_gemv_nb(const gc_ops_profile *p, int n) {
    return n == 1 ? 1 : p->gemv_rows_x;
}

/* One gemv launch: outs[0..n_outs-1] (sharing cols and dtype), or with GC_MM_GLU in flags the gate outs[0]
 * and up outs[1] into outs[0].y. */
static gc_status gemv(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out *outs, int n_outs,
                      const gc_matmul_rope *rope, cl_uint flags, int n, gc_error *err) {
    char entry[32];
    cl_kernel k;
    cl_ulong xo = x_off;
    GC_TRY(matmul_entry(ops, "gemv", outs[0].w->dtype, gc_gemv_nb(gc_ops_get_profile(ops), n), &k, entry,
                        sizeof entry, err));
    return gc_gemv_run(ops, k, entry, GC_KMEM(x), GC_KARG(xo), x->mem, outs, n_outs, rope, flags, n, err);
}

gc_status gc_gemv_run(gc_ops *ops, cl_kernel k, const char *entry, gc_karg x0, gc_karg x1, cl_mem any,
                      const gc_matmul_out *outs, int n_outs, const gc_matmul_rope *rope, cl_uint flags, int n,
                      gc_error *err) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    cl_mem w[GC_MATMUL_MAX_OUTS], y[GC_MATMUL_MAX_OUTS], b[GC_MATMUL_MAX_OUTS];
    cl_ulong y_off[GC_MATMUL_MAX_OUTS];
    cl_uint rows[GC_MATMUL_MAX_OUTS];
    size_t pairs = 0;
    for (int o = 0; o < GC_MATMUL_MAX_OUTS; o++) {
        const gc_matmul_out *out = &outs[o < n_outs ? o : 0];
        w[o] = out->w->buf.mem;
        y[o] = out->y->mem;
        y_off[o] = out->y_off;
        b[o] = out->bias ? out->bias->mem : any;
        rows[o] = o < n_outs ? (cl_uint)out->w->rows : 0u;
        flags |= (o < n_outs && out->bias ? GC_MM_BIAS0 << o : 0u) | (o < n_outs && out->rope ? GC_MM_ROPE0 << o : 0u);
        pairs += (rows[o] + 1) / 2;
    }
    if (flags & GC_MM_GLU)
        pairs = rows[0];
    cl_mem pos = rope ? rope->pos->mem : any, inv_freq = rope ? rope->inv_freq->mem : any;
    cl_ulong row_bytes = gc_dtype_row_bytes(outs[0].w->dtype, outs[0].w->cols), pos_off = rope ? rope->pos_off : 0;
    cl_uint cols = (cl_uint)outs[0].w->cols, nn = (cl_uint)n, hd = rope ? (cl_uint)rope->head_dim : 2u,
            layout = rope ? (cl_uint)rope->layout : 0u;
    gc_karg args[] = {GC_KARG(w[0]),     GC_KARG(w[1]),     GC_KARG(w[2]),     GC_KARG(row_bytes), x0,
                      x1,                GC_KARG(y[0]),     GC_KARG(y[1]),     GC_KARG(y[2]),      GC_KARG(y_off[0]),
                      GC_KARG(y_off[1]), GC_KARG(y_off[2]), GC_KARG(b[0]),     GC_KARG(b[1]),      GC_KARG(b[2]),
                      GC_KARG(rows[0]),  GC_KARG(rows[1]),  GC_KARG(rows[2]),  GC_KARG(cols),      GC_KARG(nn),
                      GC_KARG(flags),    GC_KARG(pos),      GC_KARG(pos_off),  GC_KARG(inv_freq),  GC_KARG(hd),
                      GC_KARG(layout)};
    GC_TRY(gc_ops_set_args(k, args, (int)(sizeof args / sizeof args[0]), entry, err));
    int nb = gc_gemv_nb(p, n);
    size_t global[3] = {(size_t)p->gemv_local, pairs, ((size_t)n + nb - 1) / nb};
    size_t local[3] = {(size_t)p->gemv_local, (size_t)p->gemv_rows, 1};
    return gc_ops_launch_nd(ops, k, 3, global, local, entry, err);
}

gc_status gc_matmul_rope_after(gc_ops *ops, const gc_matmul_out *out, const gc_matmul_rope *rope, int n,
                               gc_error *err) {
    if (!out->rope)
        return GC_OK;
    return gc_op_rope(ops, out->y, out->y_off, rope->pos, rope->pos_off, rope->inv_freq, n,
                      out->w->rows / rope->head_dim, rope->head_dim, rope->layout, err);
}

/* y (n, rows) = x (n, cols) W^T (+= y) through our GEMM kernel. */
static gc_status gemm_own(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_dweight *w, gc_buffer *y,
                          size_t y_off, bool accumulate, int n, gc_error *err) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    char entry[32];
    cl_kernel k;
    GC_TRY(matmul_entry(ops, "gemm", w->dtype, 1, &k, entry, sizeof entry, err));
    cl_ulong row_bytes = gc_dtype_row_bytes(w->dtype, w->cols), xo = x_off, yo = y_off;
    cl_uint rows = (cl_uint)w->rows, cols = (cl_uint)w->cols, nn = (cl_uint)n;
    cl_uint flags = accumulate ? GC_MM_ACCUMULATE : 0u;
    gc_karg args[] = {GC_KMEM(&w->buf), GC_KARG(row_bytes), GC_KMEM(x),    GC_KARG(xo), GC_KMEM(y),
                      GC_KARG(yo),      GC_KARG(rows),      GC_KARG(cols), GC_KARG(nn), GC_KARG(flags)};
    GC_TRY(gc_ops_set_args(k, args, 10, entry, err));
    size_t bn = 16 * (size_t)p->gemm_wn, bm = (size_t)p->gemm_tm * p->gemm_wm;
    size_t global[2] = {((size_t)rows + bn - 1) / bn * p->gemm_wn, ((size_t)n + bm - 1) / bm * p->gemm_wm};
    size_t local[2] = {(size_t)p->gemm_wn, (size_t)p->gemm_wm};
    return gc_ops_launch_2d(ops, k, global, local, entry, err);
}

/* y (n, rows) = x (n, cols) W^T (+= y) through CLBlast, row-major with W transposed. */
static gc_status gemm_clblast(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_dweight *w, gc_buffer *y,
                              size_t y_off, bool accumulate, int n, gc_error *err) {
    cl_command_queue queue = gc_ops_runtime(ops)->queue;
    gc_ops_note_launch(ops);
    CLBlastStatusCode rc = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, (size_t)n,
                                        (size_t)w->rows, (size_t)w->cols, 1.0f, x->mem, x_off, (size_t)w->cols,
                                        w->buf.mem, 0, (size_t)w->cols, accumulate ? 1.0f : 0.0f, y->mem, y_off,
                                        (size_t)w->rows, &queue, gc_trace_slot(gc_ops_runtime(ops), "CLBlastSgemm"));
    if (rc != CLBlastSuccess)
        return gc_fail(err, GC_ERR_DEVICE, "matmul: CLBlastSgemm (%d x %d x %d) failed with status %d", n, w->rows,
                       w->cols, (int)rc);
    return GC_OK;
}

static gc_status bias_add(gc_ops *ops, gc_buffer *y, size_t y_off, const gc_buffer *bias, int rows, int n,
                          gc_error *err) {
    cl_kernel k;
    GC_TRY(gc_ops_kernel(ops, "matmul", NULL, "bias_add_f32_f32", &k, err));
    cl_ulong yo = y_off;
    cl_uint r = (cl_uint)rows, nn = (cl_uint)n;
    gc_karg args[] = {GC_KMEM(y), GC_KARG(yo), GC_KMEM(bias), GC_KARG(r), GC_KARG(nn)};
    GC_TRY(gc_ops_set_args(k, args, 5, "bias_add", err));
    size_t global[2] = {(size_t)rows, (size_t)n}, local[2] = {rows >= 64 ? 64 : 1, 1};
    return gc_ops_launch_2d(ops, k, global, local, "bias_add", err);
}

/* One output as a GEMM (n > gemv_max_n). */
static gc_status gemm_one(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out *out, bool accumulate,
                          int n, gc_error *err) {
    const gc_dweight *w = out->w;
    if (w->dtype == GC_DTYPE_F32 && gc_ops_get_profile(ops)->gemm_f32_clblast)
        GC_TRY(gemm_clblast(ops, x, x_off, w, out->y, out->y_off, accumulate, n, err));
    else
        GC_TRY(gemm_own(ops, x, x_off, w, out->y, out->y_off, accumulate, n, err));
    return out->bias ? bias_add(ops, out->y, out->y_off, out->bias, w->rows, n, err) : GC_OK;
}

static gc_status check_out(const gc_matmul_out *out, int n, int cols, const char *op, gc_error *err) {
    GC_TRY(gc_ops_check_weight(out->w, op, err));
    if (out->w->cols != cols)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: fused weights differ in columns (%d, %d)", op, out->w->cols, cols);
    GC_TRY(gc_ops_check_range(out->y, out->y_off, (size_t)n * out->w->rows, sizeof(float), op, "y", err));
    return out->bias ? gc_ops_check_range(out->bias, 0, (size_t)out->w->rows, sizeof(float), op, "bias", err) : GC_OK;
}

static gc_status check_rope(const gc_matmul_out *out, const gc_matmul_rope *rope, bool accumulate, int n,
                            const char *op, gc_error *err) {
    if (!out->rope)
        return GC_OK;
    if (!rope || accumulate || rope->head_dim <= 0 || rope->head_dim % 2 || out->w->rows % rope->head_dim ||
        (rope->layout != GC_ROPE_ADJACENT && rope->layout != GC_ROPE_HALF))
        return gc_fail(err, GC_ERR_INVALID_ARG,
                       "%s: RoPE on %d rows needs positions, an even head size that "
                       "divides them and no accumulation",
                       op, out->w->rows);
    GC_TRY(gc_ops_check_range(rope->pos, rope->pos_off, (size_t)n, sizeof(int32_t), op, "positions", err));
    return gc_ops_check_range(rope->inv_freq, 0, (size_t)rope->head_dim / 2, sizeof(float), op, "inv_freq", err);
}

gc_status gc_op_matmul_multi(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out *outs, int n_outs,
                             const gc_matmul_rope *rope, bool accumulate, int n, gc_error *err) {
    const char *op = "matmul";
    if (n < 0 || n_outs < 1 || n_outs > GC_MATMUL_MAX_OUTS || !outs)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: n = %d with %d outputs", op, n, n_outs);
    GC_TRY(gc_ops_check_weight(outs[0].w, op, err));
    for (int o = 0; o < n_outs; o++) {
        GC_TRY(check_out(&outs[o], n, outs[0].w->cols, op, err));
        GC_TRY(check_rope(&outs[o], rope, accumulate, n, op, err));
    }
    GC_TRY(gc_ops_check_range(x, x_off, (size_t)n * outs[0].w->cols, sizeof(float), op, "x", err));
    if (n == 0)
        return GC_OK;
    if (gc_matmul_q8_applies(ops, outs, n_outs))
        return gc_matmul_q8_multi(ops, x, x_off, outs, n_outs, rope, accumulate, n, err);
    if (n <= gc_ops_get_profile(ops)->gemv_max_n) {
        /* one launch per run of outputs of one dtype (a quantization mix gives a layer's v more bits) */
        for (int o = 0, k; o < n_outs; o += k) {
            for (k = 1; o + k < n_outs && outs[o + k].w->dtype == outs[o].w->dtype; k++)
                ;
            GC_TRY(gemv(ops, x, x_off, outs + o, k, rope, accumulate ? GC_MM_ACCUMULATE : 0u, n, err));
        }
        return GC_OK;
    }
    for (int o = 0; o < n_outs; o++) {
        const gc_matmul_out *out = &outs[o];
        GC_TRY(gemm_one(ops, x, x_off, out, accumulate, n, err));
        GC_TRY(gc_matmul_rope_after(ops, out, rope, n, err));
    }
    return GC_OK;
}

gc_status gc_op_matmul(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_dweight *w, const gc_buffer *bias,
                       gc_buffer *y, size_t y_off, int n, gc_error *err) {
    gc_matmul_out out = {w, bias, y, y_off, false};
    return gc_op_matmul_multi(ops, x, x_off, &out, 1, NULL, false, n, err);
}

gc_status gc_op_matmul_glu(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_dweight *w_gate,
                           const gc_dweight *w_up, gc_buffer *y, size_t y_off, gc_buffer *tmp, size_t tmp_off, int n,
                           gc_error *err) {
    const char *op = "matmul glu";
    if (n < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: n = %d is negative", op, n);
    gc_matmul_out gate_up[2] = {{w_gate, NULL, y, y_off, false}, {w_up, NULL, tmp, tmp_off, false}};
    GC_TRY(gc_ops_check_weight(w_gate, op, err));
    GC_TRY(check_out(&gate_up[0], n, w_gate->cols, op, err));
    GC_TRY(check_out(&gate_up[1], n, w_gate->cols, op, err));
    if (w_up->rows != w_gate->rows)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: gate has %d rows, up %d", op, w_gate->rows, w_up->rows);
    GC_TRY(gc_ops_check_range(x, x_off, (size_t)n * w_gate->cols, sizeof(float), op, "x", err));
    if (n == 0)
        return GC_OK;
    if (gc_matmul_q8_applies(ops, gate_up, 2))
        return gc_matmul_q8_glu(ops, x, x_off, gate_up, n, err);
    if (n <= gc_ops_get_profile(ops)->gemv_max_n && w_gate->dtype == w_up->dtype)
        return gemv(ops, x, x_off, gate_up, 2, NULL, GC_MM_GLU, n, err);
    if (n <= gc_ops_get_profile(ops)->gemv_max_n) { /* gate and up of different types: two launches */
        GC_TRY(gemv(ops, x, x_off, &gate_up[0], 1, NULL, 0u, n, err));
        GC_TRY(gemv(ops, x, x_off, &gate_up[1], 1, NULL, 0u, n, err));
        return gc_op_swiglu(ops, y, y_off, tmp, tmp_off, y, y_off, (size_t)n * w_gate->rows, err);
    }
    GC_TRY(gemm_one(ops, x, x_off, &gate_up[0], false, n, err));
    GC_TRY(gemm_one(ops, x, x_off, &gate_up[1], false, n, err));
    return gc_op_swiglu(ops, y, y_off, tmp, tmp_off, y, y_off, (size_t)n * w_gate->rows, err);
}
