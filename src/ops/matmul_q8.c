/* matmul_q8.c - host wrapper for cl/matmul_q8.cl: the products of gc_op_matmul_multi and gc_op_matmul_glu
 * for block-quantized weights with x first quantized to the weight type's 8-bit activation blocks, as
 * llama.cpp's CPU backend multiplies (matmul.c dispatches here unless the ops run activations in f32).
 *
 * x is quantized once per call into two op scratch buffers (quants and per-group scales) and again only when
 * a later output's weight type needs another activation type. Small n runs the GEMV kernel (up to three
 * outputs of one dtype per launch, bias, accumulation and the GLU gate fused); larger n the GEMM kernel, one
 * launch per output. RoPE is fused into the GEMV's epilogue; after a GEMM it runs on the outputs (gc_op_rope). */
#include <stdio.h>

#include "ops/ops_internal.h"

/* The activation types of cl/matmul_q8.cl (ggml's vec_dot_type of each weight type). */
typedef enum q8_kind { Q8_KIND_0 = 0, Q8_KIND_1 = 1, Q8_KIND_K = 2, Q8_KIND_NONE = 3 } q8_kind;

static q8_kind act_kind(gc_dtype t) {
    switch (t) {
    case GC_DTYPE_Q4_1:
    case GC_DTYPE_Q5_1: return Q8_KIND_1;
    case GC_DTYPE_Q2_K:
    case GC_DTYPE_Q3_K:
    case GC_DTYPE_Q4_K:
    case GC_DTYPE_Q5_K:
    case GC_DTYPE_Q6_K: return Q8_KIND_K;
    default: return Q8_KIND_0;
    }
}

bool gc_matmul_q8_applies(gc_ops *ops, const gc_matmul_out *outs, int n_outs) {
    if (gc_ops_act_f32(ops))
        return false;
    for (int o = 0; o < n_outs; o++)
        if (!gc_dtype_is_quantized(outs[o].w->dtype))
            return false;
    return true;
}

bool gc_matmul_q8_int_gemm(gc_ops *ops) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    const unsigned fast = gc_ops_runtime(ops)->fast_paths;
    if (p->gemm_q8_int == 2)
        return true;
    /* on Intel's CPU runtime (no x86 builtins, integer dot products off) the integer tile ran 0.27-0.35x the f32
       one; on PoCL's x86 path 1.2-1.4x (README, Real models: "The integer GEMM tile") */
    return p->gemm_q8_int == 1 && ((fast & GC_FAST_X86) || ((fast & GC_FAST_INT_DOT) && p->q8_int_dot));
}

/* x quantized for one activation type: xq f32 (n, cols), xi int8 (n, cols), xs float2 (n, cols / 16). */
typedef struct q8_act {
    gc_buffer *xq, *xi, *xs;
    q8_kind kind;
} q8_act;

gc_status gc_op_quantize_q8(gc_ops *ops, const gc_buffer *x, size_t x_off, gc_dtype wtype, gc_buffer *xq, gc_buffer *xi,
                            gc_buffer *xs, int cols, int n, gc_error *err) {
    const char *op = "quantize_q8";
    if (!gc_dtype_is_quantized(wtype) || cols <= 0 || n < 0 || cols % gc_dtype_block(wtype) != 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: %d columns of activations for a %s weight", op, cols,
                       gc_dtype_name(wtype));
    GC_TRY(gc_ops_check_range(x, x_off, (size_t)n * cols, sizeof(float), op, "x", err));
    GC_TRY(gc_ops_check_range(xq, 0, (size_t)n * cols, sizeof(float), op, "scaled quants", err));
    GC_TRY(gc_ops_check_range(xi, 0, (size_t)n * cols, 1, op, "quants", err));
    GC_TRY(gc_ops_check_range(xs, 0, (size_t)n * (cols / 16), 2 * sizeof(float), op, "scales", err));
    if (n == 0)
        return GC_OK;
    cl_kernel k;
    GC_TRY(gc_ops_kernel(ops, "matmul_q8", NULL, "quantize_q8_f32", &k, err));
    const q8_kind kind = act_kind(wtype);
    cl_ulong xo = x_off;
    cl_uint c = (cl_uint)cols, nn = (cl_uint)n, kd = (cl_uint)kind;
    gc_karg args[] = {GC_KMEM(x),  GC_KARG(xo), GC_KMEM(xq), GC_KMEM(xi),
                      GC_KMEM(xs), GC_KARG(c),  GC_KARG(nn), GC_KARG(kd)};
    GC_TRY(gc_ops_set_args(k, args, 8, op, err));
    size_t global[2] = {(size_t)cols / (kind == Q8_KIND_K ? 256 : 32), (size_t)n};
    return gc_ops_launch_2d(ops, k, global, NULL, op, err);
}

gc_status gc_op_q8_dot_path(gc_ops *ops, gc_dtype wtype, const char **path, gc_error *err) {
    static const char *const names[] = {"portable", "int_dot", "x86"};
    const char *op = "q8_dot_path";
    if (!gc_dtype_is_quantized(wtype))
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: %s is not a block type", op, gc_dtype_name(wtype));
    cl_kernel k;
    GC_TRY(gc_matmul_kernel(ops, "matmul_q8", "q8_dot_path", wtype, 1, &k, err));
    gc_buffer *out;
    GC_TRY(gc_ops_scratch(ops, GC_SCRATCH_Q8_QUANTS, sizeof(cl_int), &out, err));
    gc_karg args[] = {GC_KMEM(out)};
    GC_TRY(gc_ops_set_args(k, args, 1, op, err));
    size_t global[2] = {1, 1};
    GC_TRY(gc_ops_launch_2d(ops, k, global, NULL, op, err));
    cl_int v = -1;
    GC_TRY(gc_buffer_read(gc_ops_runtime(ops), out, 0, &v, sizeof v, err));
    if (v < 0 || v > 2)
        return gc_fail(err, GC_ERR_DEVICE, "%s: the kernel answered %d", op, (int)v);
    *path = names[v];
    return GC_OK;
}

/* The op scratch buffers for n rows of cols quantized (a reallocation counts as a launch: see gc_q8_note). */
static gc_status act_scratch(gc_ops *ops, int cols, int n, q8_act *act, gc_error *err) {
    GC_TRY(gc_ops_scratch(ops, GC_SCRATCH_Q8_SCALED, (size_t)n * cols * sizeof(float), &act->xq, err));
    GC_TRY(gc_ops_scratch(ops, GC_SCRATCH_Q8_QUANTS, (size_t)n * cols, &act->xi, err));
    return gc_ops_scratch(ops, GC_SCRATCH_Q8_SCALES, (size_t)n * (cols / 16) * 2 * sizeof(float), &act->xs, err);
}

/* x quantized for wtype into the op scratch buffers, unless act already holds it for wtype's activation type or
 * a fused producer just wrote it there (gc_op_rmsnorm_for). */
static gc_status quantize(gc_ops *ops, const gc_buffer *x, size_t x_off, int cols, int n, gc_dtype wtype, q8_act *act,
                          gc_error *err) {
    if (act->kind == act_kind(wtype))
        return GC_OK;
    GC_TRY(act_scratch(ops, cols, n, act, err));
    if (!gc_ops_q8_note_take(ops, (gc_q8_note){x, x_off, n, cols, (int)act_kind(wtype), 0}))
        GC_TRY(gc_op_quantize_q8(ops, x, x_off, wtype, act->xq, act->xi, act->xs, cols, n, err));
    act->kind = act_kind(wtype);
    return GC_OK;
}

gc_status gc_op_rmsnorm_for(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_buffer *w, gc_buffer *out,
                            size_t out_off, int n, int dim, float eps, const gc_dweight *next, gc_error *err) {
    const char *op = "rmsnorm";
    const gc_matmul_out next_out = {next, NULL, NULL, 0, false};
    if (!next || next->cols != dim || !gc_matmul_q8_applies(ops, &next_out, 1) || n == 0)
        return gc_op_rmsnorm(ops, x, x_off, w, out, out_off, n, dim, eps, err);
    GC_TRY(gc_rmsnorm_check(x, x_off, w, out, out_off, n, dim, op, err));
    q8_act act;
    GC_TRY(act_scratch(ops, dim, n, &act, err));
    size_t local = (size_t)gc_ops_get_profile(ops)->norm_local;
    char options[32];
    snprintf(options, sizeof options, "-DRMS_LS=%zu", local);
    cl_kernel k;
    GC_TRY(gc_ops_kernel(ops, "matmul_q8", options, "rmsnorm_q8_f32", &k, err));
    const q8_kind kind = act_kind(next->dtype);
    cl_ulong xo = x_off, oo = out_off;
    cl_uint d = (cl_uint)dim, kd = (cl_uint)kind;
    gc_karg args[] = {GC_KMEM(x),      GC_KARG(xo),     GC_KMEM(w), GC_KMEM(out), GC_KARG(oo), GC_KMEM(act.xq),
                      GC_KMEM(act.xi), GC_KMEM(act.xs), GC_KARG(d), GC_KARG(eps), GC_KARG(kd)};
    GC_TRY(gc_ops_set_args(k, args, 11, op, err));
    GC_TRY(gc_ops_launch_1d(ops, k, (size_t)n * local, local, op, err));
    gc_ops_q8_note_set(ops, (gc_q8_note){out, out_off, n, dim, (int)kind, 0});
    return GC_OK;
}

/* The kernel `kind`_q8_<dtype> (gemv or gemm) of the matmul_q8 program. */
static gc_status q8_entry(gc_ops *ops, const char *kind, gc_dtype dtype, int nb, cl_kernel *k, char *entry,
                          size_t entry_len, gc_error *err) {
    snprintf(entry, entry_len, "%s_q8_%s", kind, gc_dtype_name(dtype));
    return gc_matmul_kernel(ops, "matmul_q8", entry, dtype, nb, k, err);
}

/* One GEMV launch over outs[0..n_outs-1] (one dtype; those with rope set rotated by rope), or with GC_MM_GLU
 * gate outs[0] and up outs[1]. */
static gc_status gemv(gc_ops *ops, const q8_act *act, const gc_matmul_out *outs, int n_outs,
                      const gc_matmul_rope *rope, cl_uint flags, int n, gc_error *err) {
    char entry[32];
    cl_kernel k;
    GC_TRY(q8_entry(ops, "gemv", outs[0].w->dtype, gc_gemv_nb(gc_ops_get_profile(ops), n), &k, entry, sizeof entry,
                    err));
    return gc_gemv_run(ops, k, entry, GC_KMEM(act->xi), GC_KMEM(act->xs), act->xs->mem, outs, n_outs, rope, flags,
                       n, err);
}

/* One output through the GEMM kernel. */
static gc_status gemm(gc_ops *ops, const q8_act *act, const gc_matmul_out *out, bool accumulate, int n, gc_error *err) {
    const gc_ops_profile *p = gc_ops_get_profile(ops);
    const gc_dweight *w = out->w;
    char entry[32];
    cl_kernel k;
    GC_TRY(q8_entry(ops, "gemm", w->dtype, 1, &k, entry, sizeof entry, err));
    cl_ulong row_bytes = gc_dtype_row_bytes(w->dtype, w->cols), yo = out->y_off;
    cl_mem bias = out->bias ? out->bias->mem : act->xs->mem;
    cl_uint rows = (cl_uint)w->rows, cols = (cl_uint)w->cols, nn = (cl_uint)n;
    cl_uint flags = (accumulate ? GC_MM_ACCUMULATE : 0u) | (out->bias ? GC_MM_BIAS0 : 0u);
    const bool int_tile = gc_matmul_q8_int_gemm(ops);
    gc_karg args[] = {GC_KMEM(&w->buf), GC_KARG(row_bytes), int_tile ? GC_KMEM(act->xi) : GC_KMEM(act->xq),
                      GC_KMEM(act->xs),
                      GC_KMEM(out->y),  GC_KARG(yo),        GC_KARG(bias),    GC_KARG(rows),
                      GC_KARG(cols),    GC_KARG(nn),        GC_KARG(flags)};
    GC_TRY(gc_ops_set_args(k, args, 11, entry, err));
    size_t bn = (int_tile ? 8 : 16) * (size_t)p->gemm_wn, bm = (size_t)p->gemm_tm * p->gemm_wm;
    size_t global[2] = {((size_t)w->rows + bn - 1) / bn * p->gemm_wn, ((size_t)n + bm - 1) / bm * p->gemm_wm};
    size_t local[2] = {(size_t)p->gemm_wn, (size_t)p->gemm_wm};
    return gc_ops_launch_2d(ops, k, global, local, entry, err);
}

/* outs[0..n_outs-1] of one dtype: one GEMV launch for small n (RoPE fused), else one GEMM per output and
 * gc_op_rope on those with rope set. */
static gc_status products(gc_ops *ops, const q8_act *act, const gc_matmul_out *outs, int n_outs,
                          const gc_matmul_rope *rope, bool accumulate, int n, gc_error *err) {
    if (n <= gc_ops_get_profile(ops)->gemv_max_n)
        return gemv(ops, act, outs, n_outs, rope, accumulate ? GC_MM_ACCUMULATE : 0u, n, err);
    for (int o = 0; o < n_outs; o++) {
        GC_TRY(gemm(ops, act, &outs[o], accumulate, n, err));
        GC_TRY(gc_matmul_rope_after(ops, &outs[o], rope, n, err));
    }
    return GC_OK;
}

gc_status gc_matmul_q8_multi(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out *outs, int n_outs,
                             const gc_matmul_rope *rope, bool accumulate, int n, gc_error *err) {
    q8_act act = {NULL, NULL, NULL, Q8_KIND_NONE};
    const int cols = outs[0].w->cols;
    for (int o = 0, k; o < n_outs; o += k) { /* runs of one dtype (a quantization mix gives v more bits) */
        for (k = 1; o + k < n_outs && outs[o + k].w->dtype == outs[o].w->dtype; k++)
            ;
        GC_TRY(quantize(ops, x, x_off, cols, n, outs[o].w->dtype, &act, err));
        GC_TRY(products(ops, &act, outs + o, k, rope, accumulate, n, err));
    }
    return GC_OK;
}

gc_status gc_matmul_q8_glu(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out gate_up[2], int n,
                           gc_error *err) {
    q8_act act = {NULL, NULL, NULL, Q8_KIND_NONE};
    const gc_dweight *gate = gate_up[0].w, *up = gate_up[1].w;
    GC_TRY(quantize(ops, x, x_off, gate->cols, n, gate->dtype, &act, err));
    if (n <= gc_ops_get_profile(ops)->gemv_max_n && gate->dtype == up->dtype)
        return gemv(ops, &act, gate_up, 2, NULL, GC_MM_GLU, n, err);
    GC_TRY(products(ops, &act, &gate_up[0], 1, NULL, false, n, err));
    GC_TRY(quantize(ops, x, x_off, up->cols, n, up->dtype, &act, err));
    GC_TRY(products(ops, &act, &gate_up[1], 1, NULL, false, n, err));
    return gc_op_swiglu(ops, gate_up[0].y, gate_up[0].y_off, gate_up[1].y, gate_up[1].y_off, gate_up[0].y,
                        gate_up[0].y_off, (size_t)n * gate->rows, err);
}
