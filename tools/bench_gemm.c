/* bench_gemm.c - `gemcl bench --vs-blas`: the model's prefill GEMM shapes (n = ubatch) through OpenBLAS
 * cblas_sgemm on the host and through the engine's matmul on the device, in the same run.
 *
 * This is the one part of the bench that uses internal headers (api_internal.h, ops/ops.h): it times
 * gc_op_matmul directly on the model's own device weights, which the public API does not expose. OpenBLAS is
 * a reference for the bench only; it is linked into the CLI, never into the library. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "bench.h"
#include "cli.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static float *random_floats(size_t n, uint32_t seed) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; x && i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.04f;
    }
    return x;
}

/* Host GFLOP/s of y (n, rows) = x (n, cols) W^T, repetitions runs after one warm-up. */
static int time_host(int n, int rows, int cols, int repetitions, bench_stats *out) {
    float *x = random_floats((size_t)n * cols, 1), *w = random_floats((size_t)rows * cols, 2);
    float *y = malloc((size_t)n * rows * sizeof *y);
    double gflops[256];
    if (!x || !w || !y) {
        free(x), free(w), free(y);
        return cli_error("bench: out of host memory for a %d x %d x %d GEMM", n, rows, cols);
    }
    for (int r = -1; r < repetitions; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f, x, cols, w, cols, 0.0f, y, rows);
        double s = now_s() - t0;
        if (r >= 0)
            gflops[r] = 2.0 * n * rows * cols / s / 1e9;
    }
    free(x), free(w), free(y);
    *out = bench_stats_of(gflops, repetitions);
    return 0;
}

/* Device GFLOP/s of the same product with the model's weight w (any dtype), through gc_op_matmul. */
static int time_device(gemcl_model *model, const gc_dweight *w, int n, int repetitions, bench_stats *out) {
    gc_runtime *rt = model->rt;
    gc_buffer x = {0}, y = {0};
    gc_error err;
    gc_error_clear(&err);
    float *host_x = random_floats((size_t)n * w->cols, 3);
    double gflops[256];
    gemcl_status st = host_x ? gc_buffer_alloc(rt, (size_t)n * w->cols * sizeof(float), "bench x", &x, &err)
                             : gc_fail(&err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, (size_t)n * w->rows * sizeof(float), "bench y", &y, &err);
    if (st == GEMCL_OK)
        st = gc_buffer_write(rt, &x, 0, host_x, x.bytes, &err);
    for (int r = -1; st == GEMCL_OK && r < repetitions; r++) {
        double t0 = now_s();
        st = gc_op_matmul(model->ops, &x, 0, w, NULL, &y, 0, n, &err);
        cl_int cl = st == GEMCL_OK ? clFinish(rt->queue) : CL_SUCCESS;
        if (cl != CL_SUCCESS)
            st = gc_cl_fail(&err, cl, "bench: clFinish after matmul");
        if (r >= 0)
            gflops[r] = 2.0 * n * w->rows * w->cols / (now_s() - t0) / 1e9;
    }
    free(host_x);
    gc_buffer_free(rt, &x);
    gc_buffer_free(rt, &y);
    if (st != GEMCL_OK)
        return cli_error("bench: %s", err.msg);
    *out = bench_stats_of(gflops, repetitions);
    return 0;
}

int bench_vs_blas(gemcl_model *model, const bench_opts *o, bench_report *rep) {
    /* layer 0's matrices stand for every layer (same shapes); the LM head runs on one row in prefill */
    const gc_dlayer *l = &model->dm->layers[0];
    const struct { const char *name; const gc_dweight *w; } mats[] = {
        {"wq", &l->wq}, {"wk", &l->wk}, {"wv", &l->wv}, {"wo", &l->wo},
        {"w_gate", &l->w_gate}, {"w_up", &l->w_up}, {"w_down", &l->w_down},
    };
    int n = rep->n_ubatch;
    rep->gemms = calloc(sizeof mats / sizeof mats[0], sizeof *rep->gemms);
    if (!rep->gemms)
        return cli_error("bench: out of host memory");
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        const gc_dweight *w = mats[i].w;
        bench_gemm *same = NULL;
        for (int j = 0; j < rep->n_gemms; j++)
            if (rep->gemms[j].rows == w->rows && rep->gemms[j].cols == w->cols)
                same = &rep->gemms[j];
        if (same) { /* one measurement per shape: "wk,wv" */
            size_t len = strlen(same->name);
            snprintf(same->name + len, sizeof same->name - len, ",%s", mats[i].name);
            same->count++;
            continue;
        }
        bench_gemm *g = &rep->gemms[rep->n_gemms++];
        snprintf(g->name, sizeof g->name, "%s", mats[i].name);
        g->n = n, g->rows = w->rows, g->cols = w->cols, g->count = 1;
        fprintf(stderr, "bench: GEMM %d x %d x %d: OpenBLAS (host) and %s matmul (device)\n", n, w->rows, w->cols,
                gc_dtype_name(w->dtype));
        if (time_host(n, w->rows, w->cols, o->repetitions, &g->host_gflops) ||
            time_device(model, w, n, o->repetitions, &g->device_gflops))
            return 1;
    }
    return 0;
}
