/* test_ops.c - every op kernel against a plain C reference (tests/ref_ops.c) by normalised squared error,
 * over odd and power-of-two sizes, plus bounds checks of the wrappers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/ops.h"
#include "ops/ops_internal.h"
#include "ref_ops.h"

#define NMSE_EXACT 1e-7 /* elementwise ops */
#define NMSE_F32 1e-5   /* matmul (against the dequantised weights) and attention: summation order only */
#define NMSE_Q8 1e-6    /* matmul with 8-bit activations against ggml's integer formulas in double: float sums */
#define NMSE_Q8_VS_F32 1e-4 /* ... against the exact f32 product: 8-bit rounding of x (about 1.5e-5 here) */

typedef struct fixture {
    gc_runtime *rt;
    gc_ops *ops;
    gc_error err;
    bool q8; /* quantized weights multiply 8-bit activations (llama.cpp's way) rather than f32 ones */
} fixture;

/* Ops on the test device; matmuls of quantized weights in exact f32 unless q8. */
static fixture fx_open_path(bool q8) {
    fixture f = {.rt = test_runtime(), .q8 = q8};
    ck_assert_msg(gc_ops_create(f.rt, &f.ops, &f.err) == GC_OK, "%s", f.err.msg);
    gc_ops_set_act_f32(f.ops, !q8);
    return f;
}

static fixture fx_open(void) {
    return fx_open_path(false);
}

static void fx_close(fixture *f) {
    gc_ops_free(f->ops);
    ck_assert_int_eq(f->rt->bytes_current, 0);
    gc_runtime_free(f->rt);
}

/* The ops of a fast path and of its portable twin (the same device with GEMCL_PORTABLE-style `portable`);
 * false, after a SKIP line and with nothing open, when the device does not compile fast_path (PoCL has
 * neither fp16 arithmetic nor subgroups). */
static bool fx_open_twins(unsigned fast_path, const char *portable, const char *what, fixture *fast,
                          fixture *twin) {
    *fast = fx_open();
    if (test_skip_without_fast_path(fast->rt, fast_path, what)) {
        fx_close(fast);
        return false;
    }
    *twin = (fixture){.rt = test_runtime_portable(portable)};
    ck_assert_msg(gc_ops_create(twin->rt, &twin->ops, &twin->err) == GC_OK, "%s", twin->err.msg);
    gc_ops_set_act_f32(twin->ops, true);
    ck_assert_uint_eq(twin->rt->fast_paths & fast_path, 0);
    return true;
}

/* A device copy of bytes host bytes; the test frees it with gc_buffer_free. */
static gc_buffer upload(fixture *f, const void *data, size_t bytes) {
    gc_buffer b;
    ck_assert_msg(gc_buffer_alloc(f->rt, bytes, "test", &b, &f->err) == GC_OK, "%s", f->err.msg);
    ck_assert_msg(gc_buffer_write(f->rt, &b, 0, data, bytes, &f->err) == GC_OK, "%s", f->err.msg);
    return b;
}

static gc_buffer upload_f32(fixture *f, const float *x, size_t n) {
    return upload(f, x, n * sizeof(float));
}

static float *random_f32(size_t n, unsigned seed) {
    float *x = malloc(n * sizeof *x);
    test_fill_random(x, n, seed);
    return x;
}

/* A random (rows, cols) weight in dtype: float types encode random values in [-1, 1), block types are
 * random blocks (ref_weight_random). */
static ref_weight random_weight(gc_dtype dtype, int rows, int cols, unsigned seed) {
    if (gc_dtype_is_quantized(dtype))
        return ref_weight_random(rows, cols, dtype, seed);
    float *w = random_f32((size_t)rows * cols, seed);
    ref_weight rw = ref_weight_make(w, rows, cols, dtype);
    free(w);
    return rw;
}

/* The column counts a test uses for dtype: whole blocks (32 or 256) for block types. */
static int cols_for(gc_dtype dtype, int cols) {
    int block = gc_dtype_block(dtype);
    return cols % block == 0 ? cols : block;
}

/* Finishes the queue, reads n floats back and returns them (caller frees). */
static float *download_f32(fixture *f, const gc_buffer *b, size_t off, size_t n) {
    float *out = malloc(n * sizeof *out);
    ck_assert_msg(gc_buffer_read(f->rt, b, off * sizeof(float), out, n * sizeof(float), &f->err) == GC_OK, "%s",
                  f->err.msg);
    return out;
}

static void expect_ok(fixture *f, gc_status st) {
    ck_assert_msg(st == GC_OK, "%s", f->err.msg);
}

static void expect_close(const float *got, const float *want, size_t n, double tol, const char *what) {
    double e = test_nmse(got, want, n);
    ck_assert_msg(e <= tol, "%s: nmse %.3g > %.3g", what, e, tol);
}

/* ---- embed ---------------------------------------------------------------------------------------------- */

/* The device's dequantisation is the host's, bit for bit: out = table[ids] equals gc_row_to_f32 of the rows
 * (random blocks for the block types; odd dims for the float types exercise the kernel's ragged edge). */
START_TEST(embed_equals_host_dequantisation_bit_for_bit_for_every_dtype) {
    fixture f = fx_open();
    const int vocab = 37, dims[] = {64, 96, 160, 37, 512};
    int32_t ids[] = {5, 0, 36, 5, 17, 2, 33};
    const int n = 7;
    gc_buffer dids = upload(&f, ids, sizeof ids);
    for (int t = 0; t < GC_DTYPE_COUNT; t++)
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
            int dim = dims[di];
            if (dim % gc_dtype_block((gc_dtype)t) != 0)
                continue;
            ref_weight rw = random_weight((gc_dtype)t, vocab, dim, 11u + di);
            gc_dweight w = {upload(&f, rw.data, rw.bytes), (gc_dtype)t, vocab, dim};
            gc_buffer out;
            expect_ok(&f, gc_buffer_alloc(f.rt, (size_t)(n + 1) * dim * sizeof(float), "out", &out, &f.err));
            expect_ok(&f, gc_op_embed(f.ops, &w, &dids, 0, &out, (size_t)dim, n, &f.err));
            float *got = download_f32(&f, &out, (size_t)dim, (size_t)n * dim);
            float *want = malloc((size_t)n * dim * sizeof *want);
            for (int i = 0; i < n; i++)
                memcpy(want + (size_t)i * dim, rw.dequant + (size_t)ids[i] * dim, dim * sizeof(float));
            size_t bad = 0;
            while (bad < (size_t)n * dim && memcmp(&got[bad], &want[bad], sizeof(float)) == 0)
                bad++;
            ck_assert_msg(bad == (size_t)n * dim, "embed %s dim %d: element %zu is %a, the host's %a",
                          gc_dtype_name((gc_dtype)t), dim, bad, (double)got[bad], (double)want[bad]);
            free(got), free(want), ref_weight_free(&rw);
            gc_buffer_free(f.rt, &w.buf), gc_buffer_free(f.rt, &out);
        }
    gc_buffer_free(f.rt, &dids);
    fx_close(&f);
}
END_TEST

/* ---- rmsnorm, swiglu, copy ------------------------------------------------------------------------------ */

START_TEST(rmsnorm_matches_llama2c_on_odd_and_pow2_sizes) {
    fixture f = fx_open();
    const int shapes[][2] = {{1, 64}, {3, 288}, {5, 2048}, {2, 7}, {4, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], dim = shapes[s][1];
        float *x = random_f32((size_t)n * dim, 3u + s), *w = random_f32((size_t)dim, 5u + s);
        float *want = malloc((size_t)n * dim * sizeof *want);
        for (int i = 0; i < n; i++)
            ref_rmsnorm(want + (size_t)i * dim, x + (size_t)i * dim, w, dim, 1e-5f);
        gc_buffer dx = upload_f32(&f, x, (size_t)n * dim), dw = upload_f32(&f, w, (size_t)dim);
        expect_ok(&f, gc_op_rmsnorm(f.ops, &dx, 0, &dw, &dx, 0, n, dim, 1e-5f, &f.err)); /* in place */
        float *got = download_f32(&f, &dx, 0, (size_t)n * dim);
        expect_close(got, want, (size_t)n * dim, NMSE_EXACT, "rmsnorm");
        free(x), free(w), free(want), free(got);
        gc_buffer_free(f.rt, &dx), gc_buffer_free(f.rt, &dw);
    }
    fx_close(&f);
}
END_TEST

START_TEST(swiglu_and_copy_match_reference) {
    fixture f = fx_open();
    const size_t sizes[] = {1, 7, 64, 5632, 1001};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *g = random_f32(n, 21u + s), *u = random_f32(n, 31u + s), *want = malloc(n * sizeof *want);
        for (size_t i = 0; i < n; i++)
            g[i] *= 4.0f; /* a wider range than [-1, 1) */
        for (size_t i = 0; i < n; i++)
            want[i] = g[i] * (1.0f / (1.0f + expf(-g[i]))) * u[i];
        gc_buffer dg = upload_f32(&f, g, n), du = upload_f32(&f, u, n), dc;
        expect_ok(&f, gc_buffer_alloc(f.rt, (n + 3) * sizeof(float), "copy", &dc, &f.err));
        expect_ok(&f, gc_op_copy_f32(f.ops, &du, 0, &dc, 3, n, &f.err));
        expect_ok(&f, gc_op_swiglu(f.ops, &dg, 0, &du, 0, &dg, 0, n, &f.err));
        float *got = download_f32(&f, &dg, 0, n), *copied = download_f32(&f, &dc, 3, n);
        expect_close(got, want, n, NMSE_EXACT, "swiglu");
        ck_assert_int_eq(memcmp(copied, u, n * sizeof(float)), 0);
        free(g), free(u), free(want), free(got), free(copied);
        gc_buffer_free(f.rt, &dg), gc_buffer_free(f.rt, &du), gc_buffer_free(f.rt, &dc);
    }
    fx_close(&f);
}
END_TEST

/* ---- rope ----------------------------------------------------------------------------------------------- */

START_TEST(rope_both_layouts_with_gapped_positions) {
    fixture f = fx_open();
    const int n = 5, n_heads = 3, dims[] = {8, 64, 96};
    int32_t pos[] = {0, 1, 7, 100, 4095};
    gc_buffer dpos = upload(&f, pos, sizeof pos);
    for (int layout = GC_ROPE_ADJACENT; layout <= GC_ROPE_HALF; layout++)
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            int hd = dims[d];
            size_t total = (size_t)n * n_heads * hd;
            float *x = random_f32(total, 41u + d), *inv = malloc(hd / 2 * sizeof *inv);
            for (int p = 0; p < hd / 2; p++)
                inv[p] = 1.0f / powf(10000.0f, (float)(2 * p) / (float)hd);
            float *want = malloc(total * sizeof *want);
            memcpy(want, x, total * sizeof *want);
            ref_rope(want, pos, inv, n, n_heads, hd, (gc_rope_layout)layout);
            gc_buffer dx = upload_f32(&f, x, total), dinv = upload_f32(&f, inv, (size_t)hd / 2);
            expect_ok(&f, gc_op_rope(f.ops, &dx, 0, &dpos, 0, &dinv, n, n_heads, hd, (gc_rope_layout)layout,
                                     &f.err));
            float *got = download_f32(&f, &dx, 0, total);
            expect_close(got, want, total, NMSE_EXACT, layout ? "rope half" : "rope adjacent");
            free(x), free(inv), free(want), free(got);
            gc_buffer_free(f.rt, &dx), gc_buffer_free(f.rt, &dinv);
        }
    gc_buffer_free(f.rt, &dpos);
    fx_close(&f);
}
END_TEST


/* ---- matmul --------------------------------------------------------------------------------------------- */

/* y = x W^T (+ bias) as the fixture's path computes it: ggml's integer formulas over 8-bit activations for
 * block types on the q8 path, else the dequantised weights times x. */
static void ref_product(const fixture *f, float *y, const float *x, const ref_weight *rw, gc_dtype dtype,
                        const float *bias, int n, int rows, int cols) {
    if (f->q8 && gc_dtype_is_quantized(dtype))
        ref_matmul_q8(y, x, rw, dtype, bias, n, rows, cols);
    else
        ref_matmul(y, x, rw->dequant, bias, n, rows, cols);
}

static double matmul_tol(const fixture *f, gc_dtype dtype) {
    return f->q8 && gc_dtype_is_quantized(dtype) ? NMSE_Q8 : NMSE_F32;
}

/* y = x W^T (+ bias) on f's device for x (n, cols) and the weight rw in dtype; the caller frees y. */
static float *device_matmul(fixture *f, const float *x, const ref_weight *rw, gc_dtype dtype, const float *bias,
                            int n, int rows, int cols) {
    gc_dweight w = {upload(f, rw->data, rw->bytes), dtype, rows, cols};
    gc_buffer dx = upload_f32(f, x, (size_t)n * cols), db = upload_f32(f, bias ? bias : x, bias ? (size_t)rows : 1);
    gc_buffer dy;
    expect_ok(f, gc_buffer_alloc(f->rt, ((size_t)n * rows + 5) * sizeof(float), "y", &dy, &f->err));
    expect_ok(f, gc_op_matmul(f->ops, &dx, 0, &w, bias ? &db : NULL, &dy, 5, n, &f->err));
    float *got = download_f32(f, &dy, 5, (size_t)n * rows);
    gc_buffer_free(f->rt, &w.buf), gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &db), gc_buffer_free(f->rt, &dy);
    return got;
}

/* One matmul of x (n, cols) by a random (rows, cols) weight in dtype against the dequantised reference. */
static void check_matmul(fixture *f, gc_dtype dtype, int n, int rows, int cols, bool with_bias) {
    float *x = random_f32((size_t)n * cols, 61u + n);
    float *bias = random_f32((size_t)rows, 71u), *want = malloc((size_t)n * rows * sizeof *want);
    ref_weight rw = random_weight(dtype, rows, cols, 51u + rows);
    ref_product(f, want, x, &rw, dtype, with_bias ? bias : NULL, n, rows, cols);
    float *got = device_matmul(f, x, &rw, dtype, with_bias ? bias : NULL, n, rows, cols);
    char what[96];
    snprintf(what, sizeof what, "matmul %s n %d rows %d cols %d (%s)", gc_dtype_name(dtype), n, rows, cols,
             gc_ops_get_profile(f->ops)->gemm_f32_clblast ? "clblast" : "own");
    expect_close(got, want, (size_t)n * rows, matmul_tol(f, dtype), what);
    free(x), free(bias), free(want), free(got), ref_weight_free(&rw);
}

/* Odd row counts, n on both sides of gemv_max_n (GEMV and GEMM), column counts that leave a partial GEMM
 * tile; shapes whose columns are not whole blocks of dtype are skipped. */
static void check_matmul_all_shapes(fixture *f, gc_dtype dtype) {
    const int max_n = gc_ops_get_profile(f->ops)->gemv_max_n;
    const int ns[] = {1, 2, max_n, max_n + 1, 64, 129};
    const int shapes[][2] = {{37, 96}, {64, 256}, {33, 75}, {128, 64}, {33, 512}, {19, 160}};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            if (shapes[s][1] % gc_dtype_block(dtype) != 0)
                continue;
            check_matmul(f, dtype, ns[i], shapes[s][0], shapes[s][1], s == 0 || s == 4);
        }
}

START_TEST(matmul_every_dtype_matches_dequantised_reference) {
    fixture f = fx_open();
    for (int t = 0; t < GC_DTYPE_COUNT; t++)
        check_matmul_all_shapes(&f, (gc_dtype)t);
    fx_close(&f);
}
END_TEST

START_TEST(matmul_f32_through_clblast_and_wide_gemv_match_reference) {
    fixture f = fx_open();
    gc_ops_profile p = *gc_ops_get_profile(f.ops);
    p.gemm_f32_clblast = !p.gemm_f32_clblast;
    p.gemv_local = 8;
    p.gemv_rows = 2;
    p.gemv_rows_x = 3;
    gc_ops_set_profile(f.ops, &p);
    check_matmul_all_shapes(&f, GC_DTYPE_F32);
    check_matmul_all_shapes(&f, GC_DTYPE_F16);
    check_matmul_all_shapes(&f, GC_DTYPE_Q4_K); /* several work-items per row stride over whole blocks */
    fx_close(&f);
}
END_TEST

/* f16 GEMV in half arithmetic (profile gemv_f16_math) against the f32 twin and the f32 reference, within the
 * matmul tolerance, over odd row counts, column counts of one to many blocks plus a ragged end, decode and
 * small batches (GEMV_NB > 1), and one and several work-items per row. */
START_TEST(f16_gemv_in_half_arithmetic_matches_its_portable_twin) {
    fixture fast, twin;
    if (!fx_open_twins(GC_FAST_FP16, "fp16", "f16 GEMV in half vs f32", &fast, &twin))
        return;
    gc_ops_profile p = *gc_ops_get_profile(fast.ops);
    p.gemv_f16_math = true;
    const int ns[] = {1, 3, p.gemv_max_n}, locals[] = {1, 4};
    const int shapes[][2] = {{37, 96}, {64, 256}, {33, 75}, {19, 2080}, {5, 33}};
    for (size_t l = 0; l < sizeof locals / sizeof locals[0]; l++) {
        p.gemv_local = locals[l];
        gc_ops_set_profile(fast.ops, &p), gc_ops_set_profile(twin.ops, &p);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int n = ns[i], rows = shapes[s][0], cols = shapes[s][1];
                float *x = random_f32((size_t)n * cols, 91u + s), *want = malloc((size_t)n * rows * sizeof *want);
                ref_weight rw = random_weight(GC_DTYPE_F16, rows, cols, 97u + s);
                ref_matmul(want, x, rw.dequant, NULL, n, rows, cols);
                float *a = device_matmul(&fast, x, &rw, GC_DTYPE_F16, NULL, n, rows, cols);
                float *b = device_matmul(&twin, x, &rw, GC_DTYPE_F16, NULL, n, rows, cols);
                char what[96];
                snprintf(what, sizeof what, "f16 gemv n %d rows %d cols %d local %d", n, rows, cols, locals[l]);
                expect_close(a, want, (size_t)n * rows, NMSE_F32, what);
                expect_close(b, want, (size_t)n * rows, NMSE_F32, what);
                expect_close(a, b, (size_t)n * rows, NMSE_F32, what);
                free(x), free(want), free(a), free(b), ref_weight_free(&rw);
            }
    }
    fx_close(&twin), fx_close(&fast);
}
END_TEST

/* ---- fused matmul forms (decode runs them as one GEMV launch; prefill as separate products) ------------- */

static float *rope_freqs(int hd) {
    float *inv = malloc((size_t)hd / 2 * sizeof *inv);
    for (int p = 0; p < hd / 2; p++)
        inv[p] = 1.0f / powf(10000.0f, (float)(2 * p) / (float)hd);
    return inv;
}

/* q (4 heads), k (2 heads) and v (37 rows: an odd last pair) of one x with biases, q and k roped at gapped
 * positions, against ref_matmul + ref_rope; for n on the GEMV and on the GEMM side of gemv_max_n. */
static void check_matmul_qkv(fixture *f, gc_dtype dtype, int n, gc_rope_layout layout) {
    const int hd = 16, cols = cols_for(dtype, 96), rows[3] = {4 * hd, 2 * hd, 37};
    int32_t pos[20];
    for (int i = 0; i < n; i++)
        pos[i] = 3 + 7 * i * i;
    float *x = random_f32((size_t)n * cols, 5u + n), *inv = rope_freqs(hd);
    gc_buffer dx = upload_f32(f, x, (size_t)n * cols), dpos = upload(f, pos, (size_t)n * 4);
    gc_buffer dinv = upload_f32(f, inv, (size_t)hd / 2), db[3], dy[3];
    gc_dweight w[3];
    ref_weight rw[3];
    gc_matmul_out outs[3];
    float *want[3], *bias[3];
    for (int o = 0; o < 3; o++) {
        rw[o] = random_weight(dtype, rows[o], cols, 11u + o);
        bias[o] = random_f32((size_t)rows[o], 21u + o);
        want[o] = malloc((size_t)n * rows[o] * sizeof(float));
        ref_product(f, want[o], x, &rw[o], dtype, bias[o], n, rows[o], cols);
        if (o < 2)
            ref_rope(want[o], pos, inv, n, rows[o] / hd, hd, layout);
        w[o] = (gc_dweight){upload(f, rw[o].data, rw[o].bytes), dtype, rows[o], cols};
        db[o] = upload_f32(f, bias[o], (size_t)rows[o]);
        expect_ok(f, gc_buffer_alloc(f->rt, ((size_t)n * rows[o] + 3) * sizeof(float), "y", &dy[o], &f->err));
        outs[o] = (gc_matmul_out){&w[o], &db[o], &dy[o], 3, o < 2};
    }
    gc_matmul_rope rope = {&dpos, 0, &dinv, hd, layout};
    expect_ok(f, gc_op_matmul_multi(f->ops, &dx, 0, outs, 3, &rope, false, n, &f->err));
    for (int o = 0; o < 3; o++) {
        float *got = download_f32(f, &dy[o], 3, (size_t)n * rows[o]);
        char what[96];
        snprintf(what, sizeof what, "fused qkv output %d, %s n %d layout %d", o, gc_dtype_name(dtype), n, (int)layout);
        expect_close(got, want[o], (size_t)n * rows[o], matmul_tol(f, dtype), what);
        free(got), free(want[o]), free(bias[o]), ref_weight_free(&rw[o]);
        gc_buffer_free(f->rt, &w[o].buf), gc_buffer_free(f->rt, &db[o]), gc_buffer_free(f->rt, &dy[o]);
    }
    free(x), free(inv);
    gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &dpos), gc_buffer_free(f->rt, &dinv);
}

START_TEST(matmul_multi_ropes_and_biases_like_separate_ops) {
    fixture f = fx_open();
    const int ns[] = {1, 3, 20};
    const gc_dtype dtypes[] = {GC_DTYPE_F32, GC_DTYPE_F16, GC_DTYPE_Q8_0, GC_DTYPE_Q4_1, GC_DTYPE_Q4_K};
    for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++)
        for (size_t i = 0; i < 3; i++)
            for (int layout = GC_ROPE_ADJACENT; layout <= GC_ROPE_HALF; layout++)
                check_matmul_qkv(&f, dtypes[t], ns[i], (gc_rope_layout)layout);
    fx_close(&f);
}
END_TEST

/* y (n, 37) holds values; y += x W^T must add to them, through GEMV, our GEMM and CLBlast. */
static void check_matmul_accumulate(fixture *f, gc_dtype dtype, int n) {
    const int rows = 37, cols = cols_for(dtype, 64);
    float *x = random_f32((size_t)n * cols, 32u + n);
    float *y0 = random_f32((size_t)n * rows, 33u), *want = malloc((size_t)n * rows * sizeof *want);
    ref_weight rw = random_weight(dtype, rows, cols, 31u);
    ref_product(f, want, x, &rw, dtype, NULL, n, rows, cols);
    for (int i = 0; i < n * rows; i++)
        want[i] += y0[i];
    gc_dweight w = {upload(f, rw.data, rw.bytes), dtype, rows, cols};
    gc_buffer dx = upload_f32(f, x, (size_t)n * cols), dy = upload_f32(f, y0, (size_t)n * rows);
    gc_matmul_out out = {&w, NULL, &dy, 0, false};
    expect_ok(f, gc_op_matmul_multi(f->ops, &dx, 0, &out, 1, NULL, true, n, &f->err));
    float *got = download_f32(f, &dy, 0, (size_t)n * rows);
    char what[96];
    snprintf(what, sizeof what, "matmul += %s n %d (%s)", gc_dtype_name(dtype), n,
             gc_ops_get_profile(f->ops)->gemm_f32_clblast ? "clblast" : "own");
    expect_close(got, want, (size_t)n * rows, matmul_tol(f, dtype), what);
    free(x), free(y0), free(want), free(got), ref_weight_free(&rw);
    gc_buffer_free(f->rt, &w.buf), gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &dy);
}

/* y = silu(x Wg^T) * (x Wu^T) with an odd row count. */
static void check_matmul_glu(fixture *f, gc_dtype dtype, int n) {
    const int rows = 37, cols = cols_for(dtype, 64);
    float *x = random_f32((size_t)n * cols, 36u + n), *g = malloc((size_t)n * rows * sizeof *g);
    float *u = malloc((size_t)n * rows * sizeof *u);
    ref_weight rg = random_weight(dtype, rows, cols, 34u), ru = random_weight(dtype, rows, cols, 35u);
    ref_product(f, g, x, &rg, dtype, NULL, n, rows, cols);
    ref_product(f, u, x, &ru, dtype, NULL, n, rows, cols);
    for (int i = 0; i < n * rows; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    gc_dweight dg = {upload(f, rg.data, rg.bytes), dtype, rows, cols}, du = {upload(f, ru.data, ru.bytes), dtype, rows, cols};
    gc_buffer dx = upload_f32(f, x, (size_t)n * cols), dy, dtmp;
    expect_ok(f, gc_buffer_alloc(f->rt, (size_t)n * rows * sizeof(float), "y", &dy, &f->err));
    expect_ok(f, gc_buffer_alloc(f->rt, (size_t)n * rows * sizeof(float), "tmp", &dtmp, &f->err));
    expect_ok(f, gc_op_matmul_glu(f->ops, &dx, 0, &dg, &du, &dy, 0, &dtmp, 0, n, &f->err));
    float *got = download_f32(f, &dy, 0, (size_t)n * rows);
    char what[64];
    snprintf(what, sizeof what, "matmul glu %s n %d", gc_dtype_name(dtype), n);
    expect_close(got, g, (size_t)n * rows, matmul_tol(f, dtype), what);
    free(x), free(g), free(u), free(got), ref_weight_free(&rg), ref_weight_free(&ru);
    gc_buffer_free(f->rt, &dg.buf), gc_buffer_free(f->rt, &du.buf), gc_buffer_free(f->rt, &dx);
    gc_buffer_free(f->rt, &dy), gc_buffer_free(f->rt, &dtmp);
}

START_TEST(matmul_accumulates_and_gates_like_separate_ops) {
    fixture f = fx_open();
    const int ns[] = {1, 3, 20};
    const gc_dtype dtypes[] = {GC_DTYPE_F32, GC_DTYPE_F16, GC_DTYPE_BF16, GC_DTYPE_Q8_0, GC_DTYPE_Q4_1, GC_DTYPE_Q4_K};
    for (int clblast = 0; clblast < 2; clblast++) {
        gc_ops_profile p = *gc_ops_get_profile(f.ops);
        p.gemm_f32_clblast = clblast;
        gc_ops_set_profile(f.ops, &p);
        for (size_t i = 0; i < 3; i++)
            for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++) {
                if (clblast && dtypes[t] != GC_DTYPE_F32)
                    continue;
                check_matmul_accumulate(&f, dtypes[t], ns[i]);
                check_matmul_glu(&f, dtypes[t], ns[i]);
            }
    }
    fx_close(&f);
}
END_TEST

/* ---- matmul with 8-bit activations (llama.cpp's way) ---------------------------------------------------- */

/* The device quantizes x as ggml-cpu does, bit for bit: each quant, each quant times the f16 (Q8_0, Q8_1) or
 * f32 (Q8_K) scale d, d itself, Q8_1's f16 s (halved per group) and Q8_K's d * bsum per group; on random
 * rows, a zero block, exact halves (which round to even), a magnitude tie of both signs (the first wins in
 * Q8_K) and large values. */
START_TEST(activation_quantization_equals_ggml_quantizers_bit_for_bit) {
    fixture f = fx_open_path(true);
    const int n = 4, cols = 512, groups = cols / 16;
    float *x = random_f32((size_t)n * cols, 81u);
    for (int j = 0; j < 32; j++) {
        x[cols + j] = 0.0f;
        x[cols + 32 + j] = j == 0 ? 127.0f : (float)(j - 16) + 0.5f; /* x * (127 / amax) = k + 1/2 */
    }
    x[2 * cols] = -2.0f, x[2 * cols + 100] = 2.0f;
    for (int j = 0; j < cols; j++)
        x[3 * cols + j] *= 3000.0f;
    const gc_dtype wtypes[] = {GC_DTYPE_Q8_0, GC_DTYPE_Q4_1, GC_DTYPE_Q4_K};
    gc_buffer dx = upload_f32(&f, x, (size_t)n * cols), dq, di, ds;
    expect_ok(&f, gc_buffer_alloc(f.rt, (size_t)n * cols * sizeof(float), "xq", &dq, &f.err));
    expect_ok(&f, gc_buffer_alloc(f.rt, (size_t)n * cols, "xi", &di, &f.err));
    expect_ok(&f, gc_buffer_alloc(f.rt, (size_t)n * groups * 2 * sizeof(float), "xs", &ds, &f.err));
    float *xq = malloc((size_t)n * cols * sizeof(float));
    int8_t *xi = malloc((size_t)n * cols);
    float *xs = malloc((size_t)n * groups * 2 * sizeof(float));
    for (size_t t = 0; t < sizeof wtypes / sizeof wtypes[0]; t++) {
        expect_ok(&f, gc_op_quantize_q8(f.ops, &dx, 0, wtypes[t], &dq, &di, &ds, cols, n, &f.err));
        expect_ok(&f, gc_buffer_read(f.rt, &di, 0, xi, (size_t)n * cols, &f.err));
        expect_ok(&f, gc_buffer_read(f.rt, &dq, 0, xq, (size_t)n * cols * sizeof(float), &f.err));
        expect_ok(&f, gc_buffer_read(f.rt, &ds, 0, xs, (size_t)n * groups * 2 * sizeof(float), &f.err));
        for (int i = 0; i < n; i++) {
            ref_q8_row r;
            ref_quantize_q8_row(wtypes[t], x + (size_t)i * cols, cols, &r);
            for (int j = 0; j < cols; j++) {
                const float want = r.d[j / r.block] * (float)r.qs[j];
                ck_assert_msg(xi[(size_t)i * cols + j] == r.qs[j], "%s row %d: quant %d is %d, ggml's %d",
                              gc_dtype_name(wtypes[t]), i, j, xi[(size_t)i * cols + j], r.qs[j]);
                ck_assert_msg(memcmp(&xq[(size_t)i * cols + j], &want, 4) == 0, "%s row %d: value %d is %a, ggml's %a",
                              gc_dtype_name(wtypes[t]), i, j, (double)xq[(size_t)i * cols + j], (double)want);
            }
            for (int g = 0; g < groups; g++) {
                const int b = g * 16 / r.block;
                const float d = r.d[b], tw = r.block == 256 ? r.d[b] * (float)r.bsums[g] : r.s[b] * 0.5f;
                const float *got = xs + ((size_t)i * groups + g) * 2;
                ck_assert_msg(memcmp(&got[0], &d, 4) == 0 && memcmp(&got[1], &tw, 4) == 0,
                              "%s row %d group %d: scales (%a, %a), ggml's (%a, %a)", gc_dtype_name(wtypes[t]), i, g,
                              (double)got[0], (double)got[1], (double)d, (double)tw);
            }
            ref_q8_row_free(&r);
        }
    }
    free(x), free(xq), free(xi), free(xs);
    gc_buffer_free(f.rt, &dx), gc_buffer_free(f.rt, &dq), gc_buffer_free(f.rt, &di), gc_buffer_free(f.rt, &ds);
    fx_close(&f);
}
END_TEST

/* Every block type, GEMV and GEMM, odd rows, against ggml's integer dot formulas evaluated in double. */
START_TEST(matmul_q8_every_block_type_matches_ggml_integer_dot_products) {
    fixture f = fx_open_path(true);
    for (int t = 0; t < GC_DTYPE_COUNT; t++)
        if (gc_dtype_is_quantized((gc_dtype)t))
            check_matmul_all_shapes(&f, (gc_dtype)t);
    gc_ops_profile p = *gc_ops_get_profile(f.ops); /* several work-items per row stride over whole blocks */
    p.gemv_local = 8;
    p.gemv_rows = 2;
    p.gemv_rows_x = 3;
    const bool int_tile = gc_matmul_q8_int_gemm(f.ops);
    p.gemm_q8_int = int_tile ? 0 : 2; /* and the GEMM tile this device does not choose (f32 or integer) */
    gc_ops_set_profile(f.ops, &p);
    ck_assert(gc_matmul_q8_int_gemm(f.ops) != int_tile);
    check_matmul_all_shapes(&f, GC_DTYPE_Q4_1);
    check_matmul_all_shapes(&f, GC_DTYPE_Q6_K);
    check_matmul_all_shapes(&f, GC_DTYPE_Q5_0);
    fx_close(&f);
}
END_TEST

/* A fast integer dot product of the q8 GEMV (fast_path, compiled as dot_path: "int_dot" = dot(char4, char4) of
 * cl_khr_integer_dot_product, "x86" = AVX2's maddubs/madd) against its portable twin (16-bit products) on the
 * same device, for block type t: all sum the integer products exactly into the same lanes and scale them alike,
 * so the outputs are bit-identical; n on both sides of gemv_max_n (several x rows per work-item below it; above
 * it the GEMM's integer tile, which the portable twin is made to run too), odd row counts, one and several
 * blocks per row.
 * The kernel is asked which path it compiled, so a fast path that fell back cannot pass. */
static void check_q8_twin(gc_dtype t, unsigned fast_path, const char *dot_path) {
    ck_assert(gc_dtype_is_quantized(t));
    fixture fast = fx_open_path(true);
    char what[64];
    snprintf(what, sizeof what, "matmul_q8 %s dot products", dot_path);
    if (test_skip_without_fast_path(fast.rt, fast_path, what)) {
        fx_close(&fast);
        return;
    }
    gc_ops_profile p = *gc_ops_get_profile(fast.ops);
    p.q8_int_dot = true; /* the CPU profile leaves it off where it loses; the path itself is tested here */
    gc_ops_set_profile(fast.ops, &p);
    const char *path = NULL;
    expect_ok(&fast, gc_op_q8_dot_path(fast.ops, t, &path, &fast.err));
    if (strcmp(path, dot_path) != 0) {
        test_skip("%s: the device has the feature, yet the kernel compiled the %s path", what, path);
        fx_close(&fast);
        return;
    }
    fixture port = {.rt = test_runtime_portable(dot_path), .q8 = true};
    expect_ok(&port, gc_ops_create(port.rt, &port.ops, &port.err));
    gc_ops_set_act_f32(port.ops, false);
    gc_ops_profile pp = *gc_ops_get_profile(port.ops);
    pp.gemm_q8_int = 2; /* the integer GEMM tile with 16-bit products, which it would not choose by itself */
    gc_ops_set_profile(port.ops, &pp);
    ck_assert(gc_matmul_q8_int_gemm(fast.ops) && gc_matmul_q8_int_gemm(port.ops));
    ck_assert(!(port.rt->fast_paths & fast_path));
    expect_ok(&port, gc_op_q8_dot_path(port.ops, t, &path, &port.err));
    ck_assert_str_eq(path, "portable");
    const int max_n = gc_ops_get_profile(fast.ops)->gemv_max_n;
    const int ns[] = {1, 3, max_n, max_n + 1}, shapes[][2] = {{37, 512}, {19, 256}, {33, 96}};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int n = ns[i], rows = shapes[s][0], cols = shapes[s][1];
            if (cols % gc_dtype_block(t) != 0)
                continue;
            float *x = random_f32((size_t)n * cols, 91u + n), *bias = random_f32((size_t)rows, 93u);
            ref_weight rw = random_weight(t, rows, cols, 95u + rows);
            float *a = device_matmul(&fast, x, &rw, t, bias, n, rows, cols);
            float *b = device_matmul(&port, x, &rw, t, bias, n, rows, cols);
            for (int e = 0; e < n * rows; e++)
                ck_assert_msg(memcmp(&a[e], &b[e], sizeof a[e]) == 0,
                              "%s n %d rows %d cols %d: output %d is %a with %s dot products, %a without",
                              gc_dtype_name(t), n, rows, cols, e, (double)a[e], dot_path, (double)b[e]);
            free(x), free(bias), free(a), free(b), ref_weight_free(&rw);
        }
    fx_close(&port);
    fx_close(&fast);
}

/* Loop tests over the block types (Q8_0 ..): each builds its kernels twice. */
START_TEST(matmul_q8_int_dot_equals_portable_twin_bit_for_bit) {
    check_q8_twin((gc_dtype)_i, GC_FAST_INT_DOT, "int_dot");
}
END_TEST

START_TEST(matmul_q8_x86_equals_portable_twin_bit_for_bit) {
    check_q8_twin((gc_dtype)_i, GC_FAST_X86, "x86");
}
END_TEST

/* The fused forms on the q8 path: q, k, v with biases and RoPE (one of each activation type), y +=, GLU. */
START_TEST(matmul_q8_fused_forms_match_separate_ops) {
    fixture f = fx_open_path(true);
    const int ns[] = {1, 3, 20};
    const gc_dtype dtypes[] = {GC_DTYPE_Q8_0, GC_DTYPE_Q4_1, GC_DTYPE_Q4_K, GC_DTYPE_Q5_0, GC_DTYPE_Q6_K};
    for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++)
        for (size_t i = 0; i < 3; i++) {
            check_matmul_qkv(&f, dtypes[t], ns[i], (gc_rope_layout)(i % 2));
            check_matmul_accumulate(&f, dtypes[t], ns[i]);
            check_matmul_glu(&f, dtypes[t], ns[i]);
        }
    fx_close(&f);
}
END_TEST

/* rmsnorm(x) into out, then y = out W^T, either as two ops or with gc_op_rmsnorm_for (one launch fewer); returns
 * y (n, rows) and writes out's rows to *normed (caller frees both). between, when set, runs rmsnorm of x2 into out
 * after the fused launch: a kernel in between must make the matmul quantize out again. */
static float *norm_then_matmul(fixture *f, bool fused, const float *x, const float *x2, const float *nw,
                               const ref_weight *rw, gc_dtype dtype, int n, int rows, int dim, float **normed,
                               unsigned long *launches) {
    gc_dweight w = {upload(f, rw->data, rw->bytes), dtype, rows, dim};
    gc_buffer dx = upload_f32(f, x, (size_t)n * dim), dx2 = upload_f32(f, x2 ? x2 : x, (size_t)n * dim);
    gc_buffer dw = upload_f32(f, nw, (size_t)dim), out, dy;
    expect_ok(f, gc_buffer_alloc(f->rt, ((size_t)n * dim + 3) * sizeof(float), "out", &out, &f->err));
    expect_ok(f, gc_buffer_alloc(f->rt, (size_t)n * rows * sizeof(float), "y", &dy, &f->err));
    const unsigned long before = gc_ops_launch_count(f->ops);
    if (fused)
        expect_ok(f, gc_op_rmsnorm_for(f->ops, &dx, 0, &dw, &out, 3, n, dim, 1e-5f, &w, &f->err));
    else
        expect_ok(f, gc_op_rmsnorm(f->ops, &dx, 0, &dw, &out, 3, n, dim, 1e-5f, &f->err));
    if (x2)
        expect_ok(f, gc_op_rmsnorm(f->ops, &dx2, 0, &dw, &out, 3, n, dim, 1e-5f, &f->err));
    expect_ok(f, gc_op_matmul(f->ops, &out, 3, &w, NULL, &dy, 0, n, &f->err));
    *launches = gc_ops_launch_count(f->ops) - before;
    *normed = download_f32(f, &out, 3, (size_t)n * dim);
    float *y = download_f32(f, &dy, 0, (size_t)n * rows);
    gc_buffer_free(f->rt, &w.buf), gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &dx2);
    gc_buffer_free(f->rt, &dw), gc_buffer_free(f->rt, &out), gc_buffer_free(f->rt, &dy);
    return y;
}

/* gc_op_rmsnorm_for leaves out's quantization for the next weight in its own launch: out and the product equal
 * those of rmsnorm then matmul bit for bit, one launch fewer, for each activation type and for the GEMV and
 * GEMM sizes; a kernel that rewrites out in between makes the matmul quantize again (the note is dropped). */
START_TEST(rmsnorm_for_a_quantized_weight_equals_rmsnorm_then_matmul) {
    fixture f = fx_open_path(true);
    const gc_dtype dtypes[] = {GC_DTYPE_Q8_0, GC_DTYPE_Q4_1, GC_DTYPE_Q4_K};
    const int ns[] = {1, 3, 20}, rows = 37, dim = 512;
    float *nw = random_f32((size_t)dim, 5u);
    for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            const int n = ns[i];
            float *x = random_f32((size_t)n * dim, 7u + (unsigned)n), *x2 = random_f32((size_t)n * dim, 9u);
            ref_weight rw = random_weight(dtypes[t], rows, dim, 11u);
            float *out_a, *out_b, *out_c, *out_d;
            unsigned long la, lb, lc, ld;
            float *ya = norm_then_matmul(&f, false, x, NULL, nw, &rw, dtypes[t], n, rows, dim, &out_a, &la);
            float *yb = norm_then_matmul(&f, true, x, NULL, nw, &rw, dtypes[t], n, rows, dim, &out_b, &lb);
            float *yc = norm_then_matmul(&f, true, x, x2, nw, &rw, dtypes[t], n, rows, dim, &out_c, &lc);
            float *yd = norm_then_matmul(&f, false, x2, NULL, nw, &rw, dtypes[t], n, rows, dim, &out_d, &ld);
            ck_assert_msg(memcmp(out_a, out_b, (size_t)n * dim * sizeof(float)) == 0, "%s n %d: normed rows differ",
                          gc_dtype_name(dtypes[t]), n);
            ck_assert_msg(memcmp(ya, yb, (size_t)n * rows * sizeof(float)) == 0, "%s n %d: products differ",
                          gc_dtype_name(dtypes[t]), n);
            ck_assert_msg(lb + 1 == la, "%s n %d: %lu launches fused, %lu apart", gc_dtype_name(dtypes[t]), n, lb, la);
            ck_assert_msg(memcmp(yc, yd, (size_t)n * rows * sizeof(float)) == 0,
                          "%s n %d: the matmul used a quantization a later kernel had made stale",
                          gc_dtype_name(dtypes[t]), n);
            ck_assert_msg(memcmp(ya, yd, (size_t)n * rows * sizeof(float)) != 0, "x and x2 gave the same product");
            free(x), free(x2), ref_weight_free(&rw);
            free(ya), free(yb), free(yc), free(yd), free(out_a), free(out_b), free(out_c), free(out_d);
        }
    free(nw);
    fx_close(&f);
}
END_TEST

/* The q8 path differs from the exact f32 product only by the 8-bit rounding of x: close to it, yet not equal. */
START_TEST(matmul_q8_stays_within_activation_rounding_of_f32_product) {
    fixture f = fx_open_path(true);
    const int rows = 37, cols = 512, ns[] = {1, 20};
    for (int t = 0; t < GC_DTYPE_COUNT; t++) {
        if (!gc_dtype_is_quantized((gc_dtype)t))
            continue;
        for (int k = 0; k < 2; k++) {
            const int n = ns[k];
            float *x = random_f32((size_t)n * cols, 91u + t), *want = malloc((size_t)n * rows * sizeof *want);
            ref_weight rw = random_weight((gc_dtype)t, rows, cols, 92u + t);
            ref_matmul(want, x, rw.dequant, NULL, n, rows, cols);
            gc_dweight w = {upload(&f, rw.data, rw.bytes), (gc_dtype)t, rows, cols};
            gc_buffer dx = upload_f32(&f, x, (size_t)n * cols), dy;
            expect_ok(&f, gc_buffer_alloc(f.rt, (size_t)n * rows * sizeof(float), "y", &dy, &f.err));
            expect_ok(&f, gc_op_matmul(f.ops, &dx, 0, &w, NULL, &dy, 0, n, &f.err));
            float *got = download_f32(&f, &dy, 0, (size_t)n * rows);
            const double e = test_nmse(got, want, (size_t)n * rows);
            ck_assert_msg(e <= NMSE_Q8_VS_F32 && e > 1e-9, "%s n %d: nmse %.3g against the f32 product",
                          gc_dtype_name((gc_dtype)t), n, e);
            free(x), free(want), free(got), ref_weight_free(&rw);
            gc_buffer_free(f.rt, &w.buf), gc_buffer_free(f.rt, &dx), gc_buffer_free(f.rt, &dy);
        }
    }
    fx_close(&f);
}
END_TEST

START_TEST(fused_matmul_refuses_mismatched_weights_and_rope_without_positions) {
    fixture f = fx_open();
    float x[256] = {0};
    gc_buffer b = upload_f32(&f, x, 256);
    gc_dweight w8 = {b, GC_DTYPE_F32, 4, 8}, w16 = {b, GC_DTYPE_F32, 4, 16}, w5 = {b, GC_DTYPE_F32, 5, 8};
    gc_matmul_out outs[2] = {{&w8, NULL, &b, 0, false}, {&w16, NULL, &b, 0, false}};
    ck_assert_int_eq(gc_op_matmul_multi(f.ops, &b, 0, outs, 2, NULL, false, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "differ in columns"));
    ck_assert_int_eq(gc_op_matmul_multi(f.ops, &b, 0, outs, 4, NULL, false, 1, &f.err), GC_ERR_INVALID_ARG);
    gc_matmul_out roped = {&w8, NULL, &b, 0, true};
    ck_assert_int_eq(gc_op_matmul_multi(f.ops, &b, 0, &roped, 1, NULL, false, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "RoPE"));
    gc_matmul_rope rope = {&b, 0, &b, 3, GC_ROPE_HALF}; /* odd head size */
    ck_assert_int_eq(gc_op_matmul_multi(f.ops, &b, 0, &roped, 1, &rope, false, 1, &f.err), GC_ERR_INVALID_ARG);
    rope.head_dim = 4;
    ck_assert_int_eq(gc_op_matmul_multi(f.ops, &b, 0, &roped, 1, &rope, true, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_matmul_glu(f.ops, &b, 0, &w8, &w5, &b, 0, &b, 0, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "matmul glu"));
    gc_buffer_free(f.rt, &b);
    fx_close(&f);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------------------------ */

/* Attention of n new queries after n_past cached rows against the reference; k/v hold n_past + n rows
 * (plus one unused row, which must not be read). */
static void check_attention(fixture *f, int n, int n_past, int n_heads, int n_kv, int hd) {
    size_t q_elems = (size_t)n * n_heads * hd, kv_elems = (size_t)(n_past + n + 1) * n_kv * hd;
    float *q = random_f32(q_elems, 81u + n), *k = random_f32(kv_elems, 91u + hd), *v = random_f32(kv_elems, 7u);
    for (size_t i = 0; i < q_elems; i++)
        q[i] *= 3.0f; /* peakier softmax */
    float scale = 1.0f / sqrtf((float)hd), *want = malloc(q_elems * sizeof *want);
    ref_attention(want, q, k, v, n, n_past, n_heads, n_kv, hd, scale);
    gc_buffer dq = upload_f32(f, q, q_elems), dk = upload_f32(f, k, kv_elems), dv = upload_f32(f, v, kv_elems), dout;
    expect_ok(f, gc_buffer_alloc(f->rt, (q_elems + 2) * sizeof(float), "out", &dout, &f->err));
    expect_ok(f, gc_op_attention(f->ops, &dq, 0, &dk, &dv, &dout, 2, n, n_past, n_heads, n_kv, hd, scale, &f->err));
    float *got = download_f32(f, &dout, 2, q_elems);
    char what[96];
    snprintf(what, sizeof what, "attention n %d n_past %d heads %d/%d hd %d", n, n_past, n_heads, n_kv, hd);
    expect_close(got, want, q_elems, NMSE_F32, what);
    free(q), free(k), free(v), free(want), free(got);
    gc_buffer_free(f->rt, &dq), gc_buffer_free(f->rt, &dk), gc_buffer_free(f->rt, &dv), gc_buffer_free(f->rt, &dout);
}

START_TEST(attention_matches_reference_for_gqa_ratios_and_head_dims) {
    fixture f = fx_open();
    const int ratios[] = {1, 2, 4, 8}, dims[] = {8, 64, 96, 128}, ns[] = {1, 5, 33, 200}, pasts[] = {0, 17};
    for (size_t d = 0; d < 4; d++)
        for (size_t r = 0; r < 4; r++)
            for (size_t i = 0; i < 4; i++)
                for (size_t p = 0; p < 2; p++)
                    if (ns[i] < 200 || r == d) /* the long cases once per head size */
                        check_attention(&f, ns[i], pasts[p], 8, 8 / ratios[r], dims[d]);
    fx_close(&f);
}
END_TEST

/* With the source layer equal to this one (q_src = q, k_src = k, nothing shifted), pod-tf's shared attention
 * is plain attention whatever the sinks and recent window. */
static void check_shared_equals_plain(fixture *f, int n, int n_past, int hd) {
    const int n_heads = 4, n_kv = 2;
    size_t q_elems = (size_t)n * n_heads * hd, kv_elems = (size_t)(n_past + n) * n_kv * hd;
    float *q = random_f32(q_elems, 3u), *k = random_f32(kv_elems, 5u), *v = random_f32(kv_elems, 9u);
    float scale = 1.0f / sqrtf((float)hd), *want = malloc(q_elems * sizeof *want);
    ref_attention(want, q, k, v, n, n_past, n_heads, n_kv, hd, scale);
    gc_buffer dq = upload_f32(f, q, q_elems), dk = upload_f32(f, k, kv_elems), dv = upload_f32(f, v, kv_elems), dout;
    expect_ok(f, gc_buffer_alloc(f->rt, q_elems * sizeof(float), "out", &dout, &f->err));
    gc_shared_logits sh = {.q_src = &dq, .k_src = &dk, .sinks = 3, .recent = 4, .k_shift = 0};
    expect_ok(f, gc_op_attention_shared(f->ops, &dq, 0, &dk, &dv, &sh, &dout, 0, n, n_past, n_heads, n_kv, hd, scale,
                                        &f->err));
    float *got = download_f32(f, &dout, 0, q_elems);
    expect_close(got, want, q_elems, NMSE_F32, "shared attention with source = this layer");
    free(q), free(k), free(v), free(want), free(got);
    gc_buffer_free(f->rt, &dq), gc_buffer_free(f->rt, &dk), gc_buffer_free(f->rt, &dv), gc_buffer_free(f->rt, &dout);
}

START_TEST(shared_attention_with_itself_as_source_is_plain_attention) {
    fixture f = fx_open();
    check_shared_equals_plain(&f, 5, 17, 64);
    check_shared_equals_plain(&f, 33, 0, 96);
    check_shared_equals_plain(&f, 1, 40, 8);
    fx_close(&f);
}
END_TEST

START_TEST(decode_attention_splits_long_contexts) {
    fixture f = fx_open();
    check_attention(&f, 1, 3000, 4, 1, 64);   /* many splits */
    check_attention(&f, 2, 700, 8, 2, 128);
    check_attention(&f, 1, 0, 2, 2, 16);      /* a single key */
    fx_close(&f);
}
END_TEST

/* Every prefill kernel shape the profile can ask for: one row per work-item, blocks of 2..16 rows, key tiles
 * of 8..32, K/V tiles in local memory (work-groups of 1, 4 and 64), on lengths that are not multiples of a
 * block, blocks spanning the causal diagonal after a cache (n_past > 0), GQA groups larger than a block. */
START_TEST(attention_row_blocks_match_reference_for_every_tunable) {
    const int configs[][3] = {/* attn_rows, attn_keys, attn_local_wg */
                              {0, 16, 0},  {2, 8, 0},   {4, 16, 0},  {8, 32, 0},
                              {16, 16, 0}, {16, 16, 4}, {4, 16, 64}, {8, 8, 1}};
    const int shapes[][5] = {/* n, n_past, n_heads, n_kv_heads, head_dim */
                             {37, 0, 8, 4, 8},  {37, 21, 8, 8, 64}, {19, 17, 8, 1, 96}, {45, 5, 32, 1, 128},
                             {3, 40, 8, 2, 64}, {33, 0, 9, 3, 64},  {70, 3, 4, 2, 8},   {21, 9, 4, 2, 256}};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        fixture f = fx_open(); /* a fresh ops per profile: programs are cached per option string */
        gc_ops_profile p = *gc_ops_get_profile(f.ops);
        p.attn_rows = configs[c][0], p.attn_keys = configs[c][1], p.attn_local_wg = configs[c][2];
        gc_ops_set_profile(f.ops, &p);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_attention(&f, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4]);
        fx_close(&f);
    }
}
END_TEST

/* ---- argmax and sample ---------------------------------------------------------------------------------- */

/* Runs argmax (temperature < 0) or sample on logits x (n) and returns the id. */
static int device_pick(fixture *f, const float *x, int n, float temperature, int top_k, float top_p, float u) {
    gc_buffer dx = upload_f32(f, x, (size_t)n), dout;
    expect_ok(f, gc_buffer_alloc(f->rt, 2 * sizeof(int32_t), "id", &dout, &f->err));
    if (temperature < 0.0f)
        expect_ok(f, gc_op_argmax(f->ops, &dx, 0, &dout, 1, n, &f->err));
    else
        expect_ok(f, gc_op_sample(f->ops, &dx, 0, &dout, 1, n, temperature, top_k, top_p, u, &f->err));
    int32_t id[2];
    expect_ok(f, gc_buffer_read(f->rt, &dout, 0, id, sizeof id, &f->err));
    gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &dout);
    return id[1];
}

START_TEST(argmax_returns_lowest_index_of_ties) {
    fixture f = fx_open();
    const int sizes[] = {1, 7, 64, 1000, 32000, 262144};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        float *x = random_f32((size_t)n, 101u + s);
        ck_assert_int_eq(device_pick(&f, x, n, -1.0f, 0, 1.0f, 0.0f), ref_argmax(x, n));
        x[n - 1] = 2.0f; /* a tie between a late and an early index */
        x[n / 3] = 2.0f;
        ck_assert_int_eq(device_pick(&f, x, n, -1.0f, 0, 1.0f, 0.0f), n / 3);
        free(x);
    }
    fx_close(&f);
}
END_TEST

START_TEST(sample_follows_the_reference_rule) {
    fixture f = fx_open();
    const int n = 5003;
    float *x = random_f32((size_t)n, 7u);
    for (int i = 0; i < n; i++)
        x[i] *= 6.0f;
    x[17] = x[4000] = 6.5f; /* tied maxima */
    ck_assert_int_eq(device_pick(&f, x, n, 0.0f, 40, 0.9f, 0.5f), 17); /* temperature 0: argmax */
    ck_assert_int_eq(device_pick(&f, x, n, 1.0f, 1, 1.0f, 0.9f), 17);  /* top_k 1: argmax */
    const float temps[] = {0.5f, 1.0f, 1.3f}, top_ps[] = {1.0f, 0.9f, 0.5f, 0.05f}, us[] = {0.0f, 0.13f, 0.5f, 0.77f, 0.999f};
    const int top_ks[] = {0, 2, 40, 5003};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++)
                for (int d = 0; d < 5; d++) {
                    int want = ref_sample(x, n, temps[a], top_ks[b], top_ps[c], us[d]);
                    int got = device_pick(&f, x, n, temps[a], top_ks[b], top_ps[c], us[d]);
                    ck_assert_msg(got == want, "T %g top_k %d top_p %g u %g: got %d, want %d", (double)temps[a],
                                  top_ks[b], (double)top_ps[c], (double)us[d], got, want);
                }
    free(x);
    fx_close(&f);
}
END_TEST

/* Sampling with subgroup sums in its bisections picks what the local-memory twin picks, and what the
 * reference rule picks, for work-groups of one to many subgroups; argmax (unchanged) is checked alongside. */
START_TEST(sample_with_subgroups_picks_what_its_portable_twin_picks) {
    fixture fast, twin;
    if (!fx_open_twins(GC_FAST_SUBGROUPS, "subgroups", "sample subgroups vs portable", &fast, &twin))
        return;
    const int n = 3001, locals[] = {4, 64, 256};
    float *x = random_f32((size_t)n, 23u);
    for (int i = 0; i < n; i++)
        x[i] *= 5.0f;
    x[11] = x[2900] = 5.5f; /* tied maxima */
    const float temps[] = {0.7f, 1.2f}, top_ps[] = {1.0f, 0.8f, 0.1f}, us[] = {0.0f, 0.31f, 0.97f};
    const int top_ks[] = {0, 3, 50};
    for (size_t l = 0; l < sizeof locals / sizeof locals[0]; l++) {
        gc_ops_profile p = *gc_ops_get_profile(fast.ops);
        p.reduce_local = locals[l];
        gc_ops_set_profile(fast.ops, &p), gc_ops_set_profile(twin.ops, &p);
        ck_assert_int_eq(device_pick(&fast, x, n, -1.0f, 0, 1.0f, 0.0f), 11);
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 3; c++)
                    for (int d = 0; d < 3; d++) {
                        int want = ref_sample(x, n, temps[a], top_ks[b], top_ps[c], us[d]);
                        int got = device_pick(&fast, x, n, temps[a], top_ks[b], top_ps[c], us[d]);
                        int got_twin = device_pick(&twin, x, n, temps[a], top_ks[b], top_ps[c], us[d]);
                        ck_assert_msg(got == want && got_twin == want,
                                      "local %d T %g top_k %d top_p %g u %g: subgroups %d, portable %d, want %d",
                                      locals[l], (double)temps[a], top_ks[b], (double)top_ps[c], (double)us[d], got,
                                      got_twin, want);
                    }
    }
    free(x);
    fx_close(&twin), fx_close(&fast);
}
END_TEST

/* ---- nll ------------------------------------------------------------------------------------------------ */

/* The device's -log softmax at the target of n_rows rows of random logits in [-spread, spread) against the
 * double-precision reference, for targets at each row's maximum, its minimum and elsewhere; logits, targets
 * and output all start at an offset. Targets outside the vocabulary give NaN. */
static void check_nll(fixture *f, int n_rows, int n_vocab, float spread) {
    const size_t pad = 3, total = (size_t)n_rows * n_vocab;
    float *x = random_f32(pad + total, 13u + (unsigned)n_vocab), *want = malloc((size_t)n_rows * sizeof *want);
    int32_t *t = malloc((pad + (size_t)n_rows) * sizeof *t);
    for (size_t i = 0; i < pad + total; i++)
        x[i] *= spread;
    for (int r = 0; r < n_rows; r++) {
        const float *row = x + pad + (size_t)r * n_vocab;
        int lowest = 0;
        for (int i = 1; i < n_vocab; i++)
            lowest = row[i] < row[lowest] ? i : lowest;
        int kind = r % 4, other = (int)((r * 7919u + 1u) % (unsigned)n_vocab);
        t[pad + r] = kind == 0 ? ref_argmax(row, n_vocab) : kind == 1 ? lowest : kind == 2 ? other : -1;
        if (kind == 3 && r % 8 == 7)
            t[pad + r] = n_vocab; /* one past the last id */
        want[r] = kind == 3 ? NAN : (float)ref_nll(row, n_vocab, t[pad + r]);
    }
    gc_buffer dx = upload_f32(f, x, pad + total), dt = upload(f, t, (pad + (size_t)n_rows) * sizeof *t), dout;
    expect_ok(f, gc_buffer_alloc(f->rt, (pad + (size_t)n_rows) * sizeof(float), "nll", &dout, &f->err));
    expect_ok(f, gc_op_nll(f->ops, &dx, pad, &dt, pad, &dout, pad, n_rows, n_vocab, &f->err));
    float *got = download_f32(f, &dout, pad, (size_t)n_rows);
    for (int r = 0; r < n_rows; r++) {
        if (isnan(want[r]))
            ck_assert_msg(isnan(got[r]), "nll vocab %d row %d target %d: got %g, want NaN", n_vocab, r, t[pad + r],
                          (double)got[r]);
        else
            ck_assert_msg(fabsf(got[r] - want[r]) <= 1e-4f, "nll vocab %d spread %g row %d target %d: got %.7g, want %.7g",
                          n_vocab, (double)spread, r, t[pad + r], (double)got[r], (double)want[r]);
    }
    free(x), free(want), free(t), free(got);
    gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &dt), gc_buffer_free(f->rt, &dout);
}

START_TEST(nll_matches_double_reference_at_max_min_and_odd_vocab_sizes) {
    fixture f = fx_open();
    const int shapes[][2] = {{1, 1}, {5, 7}, {9, 1001}, {66, 513}, {4, 49152}, {8, 151936}, {3, 32003}};
    const float spreads[] = {1.0f, 30.0f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t p = 0; p < 2; p++)
            check_nll(&f, shapes[s][0], shapes[s][1], spreads[p]);
    fx_close(&f);
}
END_TEST

/* ---- bounds ---------------------------------------------------------------------------------------------- */

START_TEST(out_of_range_arguments_are_refused_naming_the_op) {
    fixture f = fx_open();
    float x[16] = {0};
    gc_buffer b = upload_f32(&f, x, 16);
    ck_assert_int_eq(gc_op_swiglu(f.ops, &b, 0, &b, 8, &b, 0, 9, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "swiglu"));
    ck_assert_int_eq(gc_op_rmsnorm(f.ops, &b, 0, &b, &b, 0, 2, 9, 1e-5f, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "rmsnorm"));
    gc_dweight w = {b, GC_DTYPE_F32, 4, 5}; /* 20 elements in a buffer of 16 */
    ck_assert_int_eq(gc_op_embed(f.ops, &w, &b, 0, &b, 0, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "embed"));
    ck_assert_int_eq(gc_op_matmul(f.ops, &b, 0, &w, NULL, &b, 0, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "matmul"));
    gc_dweight q8 = {b, GC_DTYPE_Q8_0, 1, 16}; /* block types need whole blocks: 32 for q8_0, 256 for q4_k */
    ck_assert_int_eq(gc_op_matmul(f.ops, &b, 0, &q8, NULL, &b, 0, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "q8_0 weight has 16 columns, not a multiple of its block of 32"));
    gc_dweight q4k = {b, GC_DTYPE_Q4_K, 1, 288};
    ck_assert_int_eq(gc_op_embed(f.ops, &q4k, &b, 0, &b, 0, 1, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_str_eq(f.err.msg, "embed: q4_k weight has 288 columns, not a multiple of its block of 256");
    ck_assert_int_eq(gc_op_rope(f.ops, &b, 0, &b, 0, &b, 2, 1, 9, GC_ROPE_HALF, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "rope"));
    /* 3 query heads over 2 kv heads is not GQA; head_dim 6 is not a multiple of 4; k rows past the buffer */
    ck_assert_int_eq(gc_op_attention(f.ops, &b, 0, &b, &b, &b, 0, 1, 0, 3, 2, 4, 1.0f, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "attention"));
    ck_assert_int_eq(gc_op_attention(f.ops, &b, 0, &b, &b, &b, 0, 1, 0, 1, 1, 6, 1.0f, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_attention(f.ops, &b, 0, &b, &b, &b, 0, 1, 4, 1, 1, 4, 1.0f, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_argmax(f.ops, &b, 0, &b, 0, 17, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "argmax"));
    ck_assert_int_eq(gc_op_sample(f.ops, &b, 0, &b, 0, 16, 1.0f, 0, 1.5f, 0.5f, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_sample(f.ops, &b, 0, &b, 0, 16, 1.0f, 0, 1.0f, 1.0f, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(f.err.msg, "sample"));
    ck_assert_int_eq(gc_op_copy_f32(f.ops, &b, 10, &b, 0, 7, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_nll(f.ops, &b, 0, &b, 0, &b, 0, 2, 9, &f.err), GC_ERR_INVALID_ARG); /* 18 logits */
    ck_assert_ptr_nonnull(strstr(f.err.msg, "nll"));
    ck_assert_int_eq(gc_op_nll(f.ops, &b, 0, &b, 10, &b, 0, 7, 1, &f.err), GC_ERR_INVALID_ARG); /* targets */
    gc_buffer_free(f.rt, &b);
    fx_close(&f);
}
END_TEST

Suite *suite_ops(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, embed_equals_host_dequantisation_bit_for_bit_for_every_dtype);
    tcase_add_test(tc, rmsnorm_matches_llama2c_on_odd_and_pow2_sizes);
    tcase_add_test(tc, swiglu_and_copy_match_reference);
    tcase_add_test(tc, rope_both_layouts_with_gapped_positions);
    tcase_add_test(tc, matmul_every_dtype_matches_dequantised_reference);
    tcase_add_test(tc, matmul_f32_through_clblast_and_wide_gemv_match_reference);
    tcase_add_test(tc, f16_gemv_in_half_arithmetic_matches_its_portable_twin);
    tcase_add_test(tc, matmul_multi_ropes_and_biases_like_separate_ops);
    tcase_add_test(tc, matmul_accumulates_and_gates_like_separate_ops);
    tcase_add_test(tc, activation_quantization_equals_ggml_quantizers_bit_for_bit);
    tcase_add_test(tc, matmul_q8_every_block_type_matches_ggml_integer_dot_products);
    tcase_add_test(tc, matmul_q8_fused_forms_match_separate_ops);
    tcase_add_test(tc, rmsnorm_for_a_quantized_weight_equals_rmsnorm_then_matmul);
    tcase_add_test(tc, matmul_q8_stays_within_activation_rounding_of_f32_product);
    tcase_add_test(tc, fused_matmul_refuses_mismatched_weights_and_rope_without_positions);
    tcase_add_test(tc, attention_matches_reference_for_gqa_ratios_and_head_dims);
    tcase_add_test(tc, decode_attention_splits_long_contexts);
    tcase_add_test(tc, shared_attention_with_itself_as_source_is_plain_attention);
    tcase_add_test(tc, attention_row_blocks_match_reference_for_every_tunable);
    tcase_add_test(tc, argmax_returns_lowest_index_of_ties);
    tcase_add_test(tc, sample_follows_the_reference_rule);
    tcase_add_test(tc, sample_with_subgroups_picks_what_its_portable_twin_picks);
    tcase_add_test(tc, nll_matches_double_reference_at_max_min_and_odd_vocab_sizes);
    tcase_add_test(tc, out_of_range_arguments_are_refused_naming_the_op);
    suite_add_tcase(s, tc);
    /* Fast paths against their portable twins, a case of its own so CK_RUN_CASE=fast_paths runs them alone
     * on a device that has them (and skips them elsewhere). */
    TCase *fast = tcase_create("fast_paths");
    tcase_set_timeout(fast, TEST_TIMEOUT_S);
    tcase_add_loop_test(fast, matmul_q8_int_dot_equals_portable_twin_bit_for_bit, GC_DTYPE_Q8_0,
                        GC_DTYPE_COUNT);
    tcase_add_loop_test(fast, matmul_q8_x86_equals_portable_twin_bit_for_bit, GC_DTYPE_Q8_0, GC_DTYPE_COUNT);
    suite_add_tcase(s, fast);
    return s;
}
