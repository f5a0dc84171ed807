/* bench_ops.c - speed of the matmul and attention paths (built with the tests, never run by them; tests never
 * assert on time). Prints GFLOP/s of our GEMM, CLBlast SGEMM and OpenBLAS cblas_sgemm (when built with it) at
 * TinyLlama prefill shapes, and GB/s of the GEMV kernels at decode shapes. Medians of TRIALS runs.
 * BENCH_ONLY=attn instead prints causal prefill attention GFLOP/s (4 * n * n / 2 * heads * head_dim flops)
 * of the block-of-rows kernel and of the one-row-per-work-item kernel (profile attn_rows = 0) next to our
 * f32 GEMM at the TinyLlama shape n x 2048 x 2048.
 *
 * usage: bench_ops [n] [trials]          (n = prompt rows, default 512; trials default 5)
 * environment: GEMCL_DEVICE picks the device; GEMM_TM/GEMM_TN/GEMV_LS override the profile's tunables;
 * BENCH_ONLY = gemm, gemv or attn; ATT_NS = attention lengths (default "1024,4096,8192"), ATT_OLD_MAX_N =
 * longest n timed with the one-row kernel (default 1024; it is ~100x slower); ATT_HD = only that head size;
 * ATT_BR/ATT_BC/ATT_LWG override the attention tunables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops_internal.h"
#ifdef GEMCL_HAVE_OPENBLAS
#include <cblas.h>
#endif

static int trials = 5;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const gc_error *err) {
    fprintf(stderr, "bench_ops: %s\n", err->msg);
    exit(1);
}

static gc_buffer device_buffer(gc_runtime *rt, size_t bytes, unsigned seed) {
    gc_buffer b;
    gc_error err;
    unsigned char *host = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) /* small finite values for every dtype: bytes of 0x00..0x3f */
        host[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 26);
    if (gc_buffer_alloc(rt, bytes, "bench", &b, &err) != GEMCL_OK || gc_buffer_write(rt, &b, 0, host, bytes, &err))
        die(&err);
    free(host);
    return b;
}

/* Median seconds of one matmul on the device (after a warm-up run). */
static double time_matmul(gc_ops *ops, const gc_buffer *x, const gc_dweight *w, gc_buffer *y, int n) {
    gc_error err;
    double t[16];
    for (int r = -1; r < trials; r++) {
        double t0 = now_s();
        if (gc_op_matmul(ops, x, 0, w, NULL, y, 0, n, &err) != GEMCL_OK)
            die(&err);
        clFinish(gc_ops_runtime(ops)->queue);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    qsort(t, (size_t)trials, sizeof t[0], cmp_double);
    return t[trials / 2];
}

#ifdef GEMCL_HAVE_OPENBLAS
static double time_openblas(int n, int rows, int cols) {
    float *x = malloc((size_t)n * cols * 4), *w = malloc((size_t)rows * cols * 4), *y = malloc((size_t)n * rows * 4);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        w[i] = (float)(i % 7);
    for (size_t i = 0; i < (size_t)n * cols; i++)
        x[i] = (float)(i % 5);
    double t[16];
    for (int r = -1; r < trials; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f, x, cols, w, cols, 0.0f, y, rows);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    free(x), free(w), free(y);
    qsort(t, (size_t)trials, sizeof t[0], cmp_double);
    return t[trials / 2];
}
#endif

#ifdef GEMCL_HAVE_OPENBLAS
static double time_openblas_gemv(int rows, int cols) {
    float *x = malloc((size_t)cols * 4), *w = malloc((size_t)rows * cols * 4), *y = malloc((size_t)rows * 4);
    for (size_t i = 0; i < (size_t)rows * cols; i++) /* touched pages: calloc'd zero pages would all hit cache */
        w[i] = (float)(i % 7), x[i % cols] = 1.0f;
    double t[16];
    for (int r = -1; r < trials; r++) {
        double t0 = now_s();
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, x, 1, 0.0f, y, 1);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    free(x), free(w), free(y);
    qsort(t, (size_t)trials, sizeof t[0], cmp_double);
    return t[trials / 2];
}
#endif

static void bench_gemm(gc_ops *ops, int n, int rows, int cols) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer x = device_buffer(rt, (size_t)n * cols * 4, 1), y = device_buffer(rt, (size_t)n * rows * 4, 2);
    double flop = 2.0 * n * rows * cols, blas = 0.0;
#ifdef GEMCL_HAVE_OPENBLAS
    blas = flop / time_openblas(n, rows, cols) * 1e-9;
#endif
    printf("gemm n %4d rows %5d cols %5d | openblas %6.1f |", n, rows, cols, blas);
    gc_ops_profile saved = *gc_ops_get_profile(ops), p = saved;
    for (int t = GC_DTYPE_F32; t <= GC_DTYPE_Q8_0; t++) {
        gc_dweight w = {device_buffer(rt, gc_dtype_row_bytes((gc_dtype)t, cols) * rows, 3), (gc_dtype)t, rows, cols};
        for (int clblast = 0; clblast <= (t == GC_DTYPE_F32); clblast++) {
            p.gemm_f32_clblast = clblast;
            gc_ops_set_profile(ops, &p);
            double gf = flop / time_matmul(ops, &x, &w, &y, n) * 1e-9;
            printf(" %s%s %6.1f (%.2fx) |", clblast ? "clblast " : "", gc_dtype_name((gc_dtype)t), gf,
                   blas > 0 ? gf / blas : 0.0);
            fflush(stdout);
        }
        gc_buffer_free(rt, &w.buf);
    }
    gc_ops_set_profile(ops, &saved);
    printf("\n");
    gc_buffer_free(rt, &x), gc_buffer_free(rt, &y);
}

static void bench_gemv(gc_ops *ops, int rows, int cols) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer x = device_buffer(rt, (size_t)cols * 4, 1), y = device_buffer(rt, (size_t)rows * 4, 2);
    printf("gemv rows %5d cols %5d |", rows, cols);
#ifdef GEMCL_HAVE_OPENBLAS
    printf(" openblas f32 %5.1f GB/s |", 4.0 * rows * cols / time_openblas_gemv(rows, cols) * 1e-9);
#endif
    for (int t = GC_DTYPE_F32; t <= GC_DTYPE_Q8_0; t++) {
        size_t bytes = gc_dtype_row_bytes((gc_dtype)t, cols) * rows;
        gc_dweight w = {device_buffer(rt, bytes, 3), (gc_dtype)t, rows, cols};
        double s = time_matmul(ops, &x, &w, &y, 1);
        printf(" %s %5.1f GB/s %6.3f ms |", gc_dtype_name((gc_dtype)t), bytes / s * 1e-9, s * 1e3);
        gc_buffer_free(rt, &w.buf);
    }
    printf("\n");
    gc_buffer_free(rt, &x), gc_buffer_free(rt, &y);
}

static void env_override(const char *name, int *value) {
    const char *v = getenv(name);
    if (v && *v)
        *value = atoi(v);
}

/* Median seconds of one prefill attention of n rows (no cache before them) on the device. */
static double time_attention(gc_ops *ops, const gc_buffer *q, const gc_buffer *kv, gc_buffer *out, int n, int n_heads,
                             int n_kv_heads, int head_dim) {
    gc_error err;
    double t[16];
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int r = -1; r < trials; r++) {
        double t0 = now_s();
        if (gc_op_attention(ops, q, 0, kv, kv, out, 0, n, 0, n_heads, n_kv_heads, head_dim, scale, &err) != GEMCL_OK)
            die(&err);
        clFinish(gc_ops_runtime(ops)->queue);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    qsort(t, (size_t)trials, sizeof t[0], cmp_double);
    return t[trials / 2];
}

/* One line per n: GFLOP/s of the profile's prefill attention and of the one-row kernel (when n <= old_max_n). */
static void bench_attention(gc_ops *ops, const char *what, int n_heads, int n_kv_heads, int head_dim, const int *ns,
                            int n_ns, int old_max_n) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_ops_profile saved = *gc_ops_get_profile(ops), old = saved;
    old.attn_rows = 0;
    for (int i = 0; i < n_ns; i++) {
        int n = ns[i];
        size_t q_bytes = (size_t)n * n_heads * head_dim * 4, kv_bytes = (size_t)n * n_kv_heads * head_dim * 4;
        gc_buffer q = device_buffer(rt, q_bytes, 1), kv = device_buffer(rt, kv_bytes, 2);
        gc_buffer out = device_buffer(rt, q_bytes, 3);
        double flop = 4.0 * n * n / 2 * n_heads * head_dim;
        double s = time_attention(ops, &q, &kv, &out, n, n_heads, n_kv_heads, head_dim);
        printf("attention %-10s hd %3d heads %2d/%d n %5d | rows %6.2f GFLOP/s %8.1f ms |", what, head_dim, n_heads,
               n_kv_heads, n, flop / s * 1e-9, s * 1e3);
        if (n <= old_max_n) {
            gc_ops_set_profile(ops, &old);
            s = time_attention(ops, &q, &kv, &out, n, n_heads, n_kv_heads, head_dim);
            gc_ops_set_profile(ops, &saved);
            printf(" one-row %6.2f GFLOP/s %8.1f ms |", flop / s * 1e-9, s * 1e3);
        }
        printf("\n");
        fflush(stdout);
        gc_buffer_free(rt, &q), gc_buffer_free(rt, &kv), gc_buffer_free(rt, &out);
    }
}

static void bench_attention_all(gc_ops *ops, int n) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer x = device_buffer(rt, (size_t)n * 2048 * 4, 1), y = device_buffer(rt, (size_t)n * 2048 * 4, 2);
    gc_dweight w = {device_buffer(rt, (size_t)2048 * 2048 * 4, 3), GC_DTYPE_F32, 2048, 2048};
    printf("gemm f32 n %d rows 2048 cols 2048 | %6.1f GFLOP/s\n", n,
           2.0 * n * 2048 * 2048 / time_matmul(ops, &x, &w, &y, n) * 1e-9);
    gc_buffer_free(rt, &x), gc_buffer_free(rt, &y), gc_buffer_free(rt, &w.buf);
    int ns[8], n_ns = 0, old_max_n = 1024;
    const char *list = getenv("ATT_NS");
    char *end;
    for (const char *c = list && *list ? list : "1024,4096,8192"; *c && n_ns < 8; c = *end ? end + 1 : end)
        ns[n_ns++] = (int)strtol(c, &end, 10);
    const char *om = getenv("ATT_OLD_MAX_N");
    if (om && *om)
        old_max_n = atoi(om);
    const struct {
        const char *name;
        int n_heads, n_kv_heads, head_dim;
    } models[] = {
        {"stories260K", 8, 4, 8}, {"SmolLM2", 9, 3, 64}, {"TinyLlama", 32, 4, 64}, {"Llama-3-8B", 32, 8, 128}};
    int only_hd = 0;
    env_override("ATT_HD", &only_hd);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++)
        if (!only_hd || models[m].head_dim == only_hd)
            bench_attention(ops, models[m].name, models[m].n_heads, models[m].n_kv_heads, models[m].head_dim, ns, n_ns,
                            old_max_n);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512;
    trials = argc > 2 ? atoi(argv[2]) : 5;
    trials = trials < 1 ? 1 : trials > 16 ? 16 : trials;
    gc_runtime_params params = gc_runtime_default_params();
    gc_runtime *rt;
    gc_ops *ops;
    gc_error err;
    if (gc_runtime_create(&params, &rt, &err) != GEMCL_OK || gc_ops_create(rt, &ops, &err) != GEMCL_OK)
        die(&err);
    gc_ops_profile p = *gc_ops_get_profile(ops);
    env_override("GEMM_TM", &p.gemm_tm);
    env_override("GEMM_WN", &p.gemm_wn);
    env_override("GEMM_WM", &p.gemm_wm);
    env_override("GEMM_KB", &p.gemm_kb);
    env_override("GEMV_LS", &p.gemv_local);
    env_override("GEMV_RPG", &p.gemv_rows);
    env_override("GEMV_NB", &p.gemv_rows_x);
    env_override("ATT_BR", &p.attn_rows);
    env_override("ATT_BC", &p.attn_keys);
    env_override("ATT_LWG", &p.attn_local_wg);
    gc_ops_set_profile(ops, &p);
    printf("device %s, profile %s, GEMM_TM %d WN %d WM %d KB %d, GEMV_LS %d RPG %d NB %d; GFLOP/s (ratio to "
           "OpenBLAS), median of %d\n",
           rt->dev.info.name, p.name, p.gemm_tm, p.gemm_wn, p.gemm_wm, p.gemm_kb, p.gemv_local, p.gemv_rows,
           p.gemv_rows_x, trials);
    const int shapes[][2] = {{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}};
    const char *only = getenv("BENCH_ONLY"); /* "gemm", "gemv" or "attn" */
    if (only && !strcmp(only, "attn")) {
        printf("attention: ATT_BR %d ATT_BC %d ATT_LWG %d\n", p.attn_rows, p.attn_keys, p.attn_local_wg);
        bench_attention_all(ops, n);
        only = "none";
    }
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && (!only || !strcmp(only, "gemm")); s++)
        bench_gemm(ops, n, shapes[s][0], shapes[s][1]);
    if (!only || !strcmp(only, "gemv"))
        for (size_t s = 2; s < 4; s++)
            bench_gemv(ops, shapes[s][0], shapes[s][1]);
    gc_ops_free(ops);
    gc_runtime_free(rt);
    return 0;
}
