/* bench_gemm.c - `gemcl bench --vs-blas`: the model's prefill GEMM shapes (n = ubatch) through OpenBLAS
 * cblas_sgemm on the host and through the engine's matmul on the device, in the same run.
 *
 * The device side is timed by the library (gemcl_model_time_matmul, on the model's own weights). OpenBLAS is
 * a reference for the bench only; it is linked into the CLI, never into the library. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "gemcl.h"
#include "bench.h"
#include "cli.h"


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
        double t0 = gemcl_time_us() / 1e6;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f, x, cols, w, cols, 0.0f, y, rows);
        double s = (gemcl_time_us() / 1e6) - t0;
        if (r >= 0)
            gflops[r] = 2.0 * n * rows * cols / s / 1e9;
    }
    free(x), free(w), free(y);
    *out = bench_stats_of(gflops, repetitions);
    return 0;
}

/* Device GFLOP/s of the same product with the model's own weight (any dtype), timed by the library. */
static int time_device(gemcl_model *model, const char *weight, int n, int repetitions, gemcl_matmul_shape *shape,
                       bench_stats *out) {
    double ms[256], gflops[256];
    char err[1024];
    if (gemcl_model_time_matmul(model, weight, n, repetitions, shape, ms, err, sizeof err) != GEMCL_OK)
        return cli_error("bench: %s", err);
    for (int r = 0; r < repetitions; r++)
        gflops[r] = 2.0 * n * shape->rows * shape->cols / (ms[r] / 1e3) / 1e9;
    *out = bench_stats_of(gflops, repetitions);
    return 0;
}

int bench_vs_blas(gemcl_model *model, const bench_opts *o, bench_report *rep) {
    /* layer 0's matrices stand for every layer (same shapes); the LM head runs on one row in prefill */
    const char *mats[] = {"wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"};
    int n = rep->n_ubatch;
    rep->gemms = calloc(sizeof mats / sizeof mats[0], sizeof *rep->gemms);
    if (!rep->gemms)
        return cli_error("bench: out of host memory");
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        gemcl_matmul_shape shape;
        bench_stats device;
        /* a one-repetition probe gives the shape, so shapes seen before are only named */
        if (time_device(model, mats[i], n, 1, &shape, &device))
            return 1;
        bench_gemm *same = NULL;
        for (int j = 0; j < rep->n_gemms; j++)
            if (rep->gemms[j].rows == shape.rows && rep->gemms[j].cols == shape.cols)
                same = &rep->gemms[j];
        if (same) { /* one measurement per shape: "wk,wv" */
            size_t len = strlen(same->name);
            snprintf(same->name + len, sizeof same->name - len, ",%s", mats[i]);
            same->count++;
            continue;
        }
        bench_gemm *g = &rep->gemms[rep->n_gemms++];
        snprintf(g->name, sizeof g->name, "%s", mats[i]);
        g->n = n, g->rows = shape.rows, g->cols = shape.cols, g->count = 1;
        fprintf(stderr, "bench: GEMM %d x %d x %d: OpenBLAS (host) and %s matmul (device)\n", n, shape.rows,
                shape.cols, shape.dtype);
        if (time_host(n, shape.rows, shape.cols, o->repetitions, &g->host_gflops) ||
            time_device(model, mats[i], n, o->repetitions, &shape, &g->device_gflops))
            return 1;
    }
    return 0;
}
