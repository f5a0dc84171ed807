/* tune_bench.h - the workloads gemcl_device_tune times candidate profiles on (src/tune.c): fixed device
 * buffers holding deterministic random inputs, one pass of ops over them, and the outputs read back for the
 * check against the built-in profile's. */
#ifndef GC_TUNE_BENCH_H
#define GC_TUNE_BENCH_H

#include "ops/ops_internal.h"

#define TUNE_MAX_SHAPES 4

/* Weight shapes (rows, cols) of y (n, rows) = x (n, cols) W^T. */
typedef struct tune_shapes {
    int n_shapes;
    int rows[TUNE_MAX_SHAPES], cols[TUNE_MAX_SHAPES];
} tune_shapes;

typedef struct tune_bench {
    gc_runtime *rt;
    bool attention;                 /* attention (prefill, then decode steps); else matmul over every (copy, shape) */
    int n;                          /* rows of x, or query rows */
    tune_shapes shapes;             /* matmul */
    int n_copies;                   /* matmul: distinct copies of each weight, run back to back */
    gc_dweight *weights;            /* matmul: (n_copies, n_shapes) */
    int heads, kv_heads, head_dim;  /* attention */
    int n_decode;                   /* attention: decode steps after the prefill, step i over keys 0 .. i */
    gc_buffer x;                    /* matmul: f32 (n, max cols); attention: q, f32 (n, heads, head_dim) */
    gc_buffer kv;                   /* attention: f32 (n, kv_heads, head_dim), the K cache and the V cache */
    gc_buffer out[TUNE_MAX_SHAPES]; /* matmul: f32 (n, rows[s]) per shape; attention: out[0] like q, out[1] f32
                                       (n_decode, heads, head_dim) the decode steps' */
    size_t out_elems;               /* floats over all outputs: what tune_bench_read returns */
} tune_bench;

/* A matmul workload in dtype: x (n, cols), every shape's weight in n_copies distinct buffers, so that the
 * weights of one pass total at least min_bytes (1 copy when 0). Free with tune_bench_free, also on error. */
gc_status tune_bench_matmul(gc_runtime *rt, gc_dtype dtype, int n, const tune_shapes *shapes, size_t min_bytes,
                            tune_bench *b, gc_error *err);

/* An attention workload: causal prefill of n queries with no cached rows before them, then n_decode (<= n)
 * single-query steps, step i (query row i) over cache rows 0 .. i, as a short prompt's decode runs them. */
gc_status tune_bench_attention(gc_runtime *rt, int n, int n_decode, int heads, int kv_heads, int head_dim,
                               tune_bench *b, gc_error *err);

void tune_bench_free(tune_bench *b);

/* Enqueues one pass with ops (whose profile decides the kernels) and waits for it. */
gc_status tune_bench_pass(tune_bench *b, gc_ops *ops, gc_error *err);

/* Reads every output into host[0 .. b->out_elems - 1]. */
gc_status tune_bench_read(const tune_bench *b, float *host, gc_error *err);

#endif
