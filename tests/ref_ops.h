/* ref_ops.h - plain C reference implementations of gemcl's ops, written for clarity (llama2.c style), and
 * host-side weight encoding for every dtype. */
#ifndef GEMCL_TEST_REF_OPS_H
#define GEMCL_TEST_REF_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "util/types.h"

/* A weight encoded in a dtype plus its dequantised f32 values (what the device should compute with). */
typedef struct ref_weight {
    void *data;     /* (rows, cols) encoded, gc_dtype_row_bytes(dtype, cols) per row */
    size_t bytes;
    float *dequant; /* (rows, cols) */
} ref_weight;

/* Encodes w (rows, cols) in dtype (q8_0: per block of 32, scale = max|x| / 127, as ggml). */
ref_weight ref_weight_make(const float *w, int rows, int cols, gc_dtype dtype);
void ref_weight_free(ref_weight *rw);

/* A (rows, cols) weight of block type dtype made of random blocks (cols a multiple of the block): random
 * quant and scale bytes, with every f16 field (d, dmin, m) finite and of moderate size (0.001 <= |x| < 0.05,
 * either sign), so dequantisation meets no inf, nan or subnormal; dequant is gc_row_to_f32 of it. */
ref_weight ref_weight_random(int rows, int cols, gc_dtype dtype, unsigned seed);

void ref_rmsnorm(float *out, const float *x, const float *w, int dim, float eps);

/* x (n, n_heads, head_dim) rotated in place. */
void ref_rope(float *x, const int32_t *pos, const float *inv_freq, int n, int n_heads, int head_dim,
              gc_rope_layout layout);

/* y (n, rows) = x (n, cols) W^T, W (rows, cols); bias (rows) or NULL. */
void ref_matmul(float *y, const float *x, const float *w, const float *bias, int n, int rows, int cols);

/* out (n, n_heads, hd) = causal GQA attention of q (n, n_heads, hd) over k, v (n_past + n, n_kv, hd). */
void ref_attention(float *out, const float *q, const float *k, const float *v, int n, int n_past, int n_heads,
                   int n_kv, int hd, float scale);

/* One row of x quantized to the 8-bit activation blocks that ggml-cpu's vec_dot of weight type wtype takes,
 * in ggml's terms: Q8_0 (q4_0, q5_0, q8_0, iq4_nl) and Q8_1 (q4_1, q5_1) blocks of 32 hold f16 d and qs,
 * Q8_1 also f16 s = d * sum(qs); Q8_K (k-quants) blocks of 256 hold f32 d, qs and the sums of qs per 16. */
typedef struct ref_q8_row {
    int block;       /* 32 or 256 */
    int8_t *qs;      /* (cols) */
    float *d;        /* (cols / block): the f16 value for Q8_0 / Q8_1, the float for Q8_K */
    float *s;        /* (cols / block): Q8_1's f16 s, else 0 */
    int *bsums;      /* (cols / 16): Q8_K's sums of qs per 16, else 0 */
} ref_q8_row;

/* x (cols, whole blocks) quantized as quantize_row_q8_0 / q8_1 of ggml-cpu's x86 AVX2 path (id = 127 /
 * amax, round half to even) and quantize_row_q8_K_ref; *row is freed by ref_q8_row_free. */
void ref_quantize_q8_row(gc_dtype wtype, const float *x, int cols, ref_q8_row *row);
void ref_q8_row_free(ref_q8_row *row);

/* y (n, rows) = x (n, cols) W^T as ggml-cpu computes it for a block-quantized W (rw of dtype wtype): each x
 * row quantized by ref_quantize_q8_row, then per activation block d_x * sum(w q_x) over the dequantised
 * weights w (= ggml's d_w d_x sum(q_w q_x) - d_x sum_g m_g bsum_g, evaluated in double), with Q8_1's min term
 * m_w * s_x taken from the block's f16 s; bias (rows) or NULL. */
void ref_matmul_q8(float *y, const float *x, const ref_weight *rw, gc_dtype wtype, const float *bias, int n,
                   int rows, int cols);

/* Lowest index of the largest value. */
int ref_argmax(const float *x, int n);

/* -log softmax(logits)[target], in double precision. */
double ref_nll(const float *logits, int n_vocab, int target);

/* The sampling rule of gc_op_sample (see cl/sample.cl). */
int ref_sample(const float *logits, int n, float temperature, int top_k, float top_p, float u);

#endif
