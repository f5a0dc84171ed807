/* tune_bench.c - the tuner's workloads (see tune_bench.h). */
#include "tune_bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Deterministic values in [-1, 1): the same inputs for every candidate, so their outputs can be compared. */
static void fill_random(float *x, size_t n, uint64_t seed) {
    uint64_t s = 0x9E3779B97F4A7C15ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* A device buffer of n random f32 values. */
static gc_status upload_random(gc_runtime *rt, size_t n, uint64_t seed, const char *what, gc_buffer *buf,
                               gc_error *err) {
    float *host = malloc(n * sizeof *host);
    if (!host)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "tune: out of host memory for %s", what);
    fill_random(host, n, seed);
    gc_status st = gc_buffer_alloc(rt, n * sizeof *host, what, buf, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, buf, 0, host, n * sizeof *host, err);
    free(host);
    return st;
}

/* Random weights (rows, cols) converted to dtype on the host, uploaded into n_copies buffers w[c * stride]. */
static gc_status upload_weight(gc_runtime *rt, gc_dtype dtype, int rows, int cols, uint64_t seed, int n_copies,
                               gc_dweight *w, int stride, gc_error *err) {
    size_t row_bytes = gc_dtype_row_bytes(dtype, cols), bytes = row_bytes * (size_t)rows;
    float *row = malloc((size_t)cols * sizeof *row);
    unsigned char *host = malloc(bytes);
    gc_status st = row && host ? GC_OK : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "tune: out of host memory");
    for (int r = 0; st == GC_OK && r < rows; r++) {
        fill_random(row, (size_t)cols, seed * 1000003u + (uint64_t)r);
        gc_row_from_f32(dtype, row, cols, host + (size_t)r * row_bytes);
    }
    for (int c = 0; st == GC_OK && c < n_copies; c++) {
        gc_dweight *d = &w[c * stride];
        *d = (gc_dweight){.dtype = dtype, .rows = rows, .cols = cols};
        st = gc_buffer_alloc(rt, bytes, "tune weight", &d->buf, err);
        if (st == GC_OK)
            st = gc_buffer_write(rt, &d->buf, 0, host, bytes, err);
    }
    free(row);
    free(host);
    return st;
}

gc_status tune_bench_matmul(gc_runtime *rt, gc_dtype dtype, int n, const tune_shapes *shapes, size_t min_bytes,
                            tune_bench *b, gc_error *err) {
    memset(b, 0, sizeof *b);
    b->rt = rt;
    b->n = n;
    b->shapes = *shapes;
    size_t pass_bytes = 0;
    int max_cols = 0;
    for (int s = 0; s < shapes->n_shapes; s++) {
        pass_bytes += gc_dtype_row_bytes(dtype, shapes->cols[s]) * (size_t)shapes->rows[s];
        max_cols = shapes->cols[s] > max_cols ? shapes->cols[s] : max_cols;
    }
    b->n_copies = min_bytes > pass_bytes ? (int)((min_bytes + pass_bytes - 1) / pass_bytes) : 1;
    b->weights = calloc((size_t)b->n_copies * shapes->n_shapes, sizeof *b->weights);
    if (!b->weights)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "tune: out of host memory");
    gc_status st = upload_random(rt, (size_t)n * max_cols, 1, "tune x", &b->x, err);
    for (int s = 0; st == GC_OK && s < shapes->n_shapes; s++) {
        st = upload_weight(rt, dtype, shapes->rows[s], shapes->cols[s], 2 + (uint64_t)s, b->n_copies, &b->weights[s],
                           shapes->n_shapes, err);
        if (st == GC_OK)
            st = gc_buffer_alloc(rt, (size_t)n * shapes->rows[s] * sizeof(float), "tune y", &b->out[s], err);
        b->out_elems += (size_t)n * shapes->rows[s];
    }
    return st;
}

gc_status tune_bench_attention(gc_runtime *rt, int n, int n_decode, int heads, int kv_heads, int head_dim,
                               tune_bench *b, gc_error *err) {
    *b = (tune_bench){.rt = rt, .attention = true, .n = n, .heads = heads, .kv_heads = kv_heads, .head_dim = head_dim,
                      .n_decode = n_decode < n ? n_decode : n};
    size_t q_elems = (size_t)n * heads * head_dim, step_elems = (size_t)heads * head_dim;
    b->out_elems = q_elems + (size_t)b->n_decode * step_elems;
    gc_status st = upload_random(rt, q_elems, 1, "tune q", &b->x, err);
    if (st == GC_OK)
        st = upload_random(rt, (size_t)n * kv_heads * head_dim, 2, "tune kv", &b->kv, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, q_elems * sizeof(float), "tune attention out", &b->out[0], err);
    if (st == GC_OK && b->n_decode > 0)
        st = gc_buffer_alloc(rt, b->n_decode * step_elems * sizeof(float), "tune decode out", &b->out[1], err);
    return st;
}

/* The prefill, then the decode steps. */
static gc_status attention_pass(tune_bench *b, gc_ops *ops, gc_error *err) {
    float scale = 1.0f / sqrtf((float)b->head_dim);
    size_t step = (size_t)b->heads * b->head_dim;
    gc_status st = gc_op_attention(ops, &b->x, 0, &b->kv, &b->kv, &b->out[0], 0, b->n, 0, b->heads, b->kv_heads,
                                   b->head_dim, scale, err);
    for (int i = 0; st == GC_OK && i < b->n_decode; i++)
        st = gc_op_attention(ops, &b->x, i * step, &b->kv, &b->kv, &b->out[1], i * step, 1, i, b->heads, b->kv_heads,
                             b->head_dim, scale, err);
    return st;
}

void tune_bench_free(tune_bench *b) {
    for (int i = 0; b->weights && i < b->n_copies * b->shapes.n_shapes; i++)
        gc_buffer_free(b->rt, &b->weights[i].buf);
    free(b->weights);
    gc_buffer_free(b->rt, &b->x);
    gc_buffer_free(b->rt, &b->kv);
    for (int s = 0; s < TUNE_MAX_SHAPES; s++)
        gc_buffer_free(b->rt, &b->out[s]);
    memset(b, 0, sizeof *b);
}

gc_status tune_bench_pass(tune_bench *b, gc_ops *ops, gc_error *err) {
    gc_status st = b->attention ? attention_pass(b, ops, err) : GC_OK;
    for (int c = 0; !b->attention && st == GC_OK && c < b->n_copies; c++)
        for (int s = 0; st == GC_OK && s < b->shapes.n_shapes; s++)
            st = gc_op_matmul(ops, &b->x, 0, &b->weights[c * b->shapes.n_shapes + s], NULL, &b->out[s], 0,
                              b->n, err);
    cl_int rc = clFinish(b->rt->queue); /* also after a failed enqueue: nothing may stay in flight */
    if (st == GC_OK && rc != CL_SUCCESS)
        st = gc_cl_fail(err, rc, "tune: waiting for a pass");
    return st;
}

gc_status tune_bench_read(const tune_bench *b, float *host, gc_error *err) {
    gc_status st = GC_OK;
    size_t at = 0;
    for (int s = 0; st == GC_OK && s < TUNE_MAX_SHAPES && b->out[s].mem; s++) {
        st = gc_buffer_read(b->rt, &b->out[s], 0, host + at, b->out[s].bytes, err);
        at += b->out[s].bytes / sizeof(float);
    }
    return st;
}
