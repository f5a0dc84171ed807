/* matmul.cl - y = x W^T for weights of any dtype (W: (rows, cols) row-major, rows of row_bytes bytes).
 *
 * Entry points, one per weight dtype t in f32, f16, bf16, q8_0 (loads from common.cl):
 *   gemv_<t>_f32(w, row_bytes, x, x_off, y, y_off, rows, cols, n)
 *     w: (rows, cols); x: f32 (n, cols); y: f32 (n, rows). For small n (decode).
 *     Launch: 2-D, local (GEMV_LS, 1), global (rows * GEMV_LS, ceil(n / GEMV_NB)): one work-group per output
 *     row and block of GEMV_NB rows of x; each work-item sums a strided part of the row, then a local sum.
 *   gemm_<t>_f32(w, row_bytes, x, x_off, y, y_off, rows, cols, n)
 *     same arguments. Register-blocked: each work-item computes a GEMM_TM x GEMM_TN block of y (GEMM_TM rows
 *     of x against GEMM_TN rows of W) with float8 accumulators along cols, converting W on load.
 *     Launch: 2-D, global (ceil(n / GEMM_TM), ceil(rows / GEMM_TN)); consecutive work-items share W rows.
 *   bias_add_f32_f32(y, y_off, bias, rows, n)
 *     y: f32 (n, rows) += bias: f32 (rows). Launch: 2-D, global (>= rows, n).
 * The inner loops step 8 columns at a time (ld8); the cols % 8 tail uses ld1. */

#ifndef GEMV_LS
#define GEMV_LS 1 // work-items per output row (power of two)
#endif
#ifndef GEMV_NB
#define GEMV_NB 4 // rows of x per GEMV work-group (W row read once for all of them)
#endif
#ifndef GEMM_TM
#define GEMM_TM 4 // rows of x per GEMM work-item
#endif
#ifndef GEMM_TN
#define GEMM_TN 4 // rows of W per GEMM work-item
#endif

#define GEMV(T)                                                                                             \
    __kernel __attribute__((reqd_work_group_size(GEMV_LS, 1, 1))) void gemv_##T##_f32(                      \
        __global const uchar *w, const ulong row_bytes, __global const float *x, const ulong x_off,         \
        __global float *y, const ulong y_off, const uint rows, const uint cols, const uint n) {             \
        __local float scratch[GEMV_LS];                                                                     \
        const uint r = get_group_id(0), lid = get_local_id(0), i0 = get_group_id(1) * GEMV_NB;              \
        const uint nb = min((uint)GEMV_NB, n - i0), cols8 = cols & ~7u;                                     \
        gc_row wr = w + r * row_bytes;                                                                      \
        __global const float *xb = x + x_off + (ulong)i0 * cols;                                            \
        float8 acc[GEMV_NB];                                                                                \
        for (uint b = 0; b < GEMV_NB; b++)                                                                  \
            acc[b] = 0.0f;                                                                                  \
        for (uint k = lid * 8; k < cols8; k += GEMV_LS * 8) {                                               \
            const float8 wv = ld8_##T(wr, k);                                                               \
            for (uint b = 0; b < GEMV_NB; b++)                                                              \
                if (b < nb)                                                                                 \
                    acc[b] = mad(wv, vload8(0, xb + b * cols + k), acc[b]);                                 \
        }                                                                                                   \
        for (uint b = 0; b < nb; b++) {                                                                     \
            float s = gc_hsum8(acc[b]);                                                                     \
            for (uint k = cols8 + lid; k < cols; k += GEMV_LS)                                              \
                s += ld1_##T(wr, k) * xb[b * cols + k];                                                     \
            s = gc_group_sum(s, scratch, lid, GEMV_LS);                                                     \
            if (lid == 0)                                                                                   \
                y[y_off + (ulong)(i0 + b) * rows + r] = s;                                                  \
        }                                                                                                   \
    }

#define GEMM(T)                                                                                             \
    __kernel void gemm_##T##_f32(__global const uchar *w, const ulong row_bytes, __global const float *x,   \
                                 const ulong x_off, __global float *y, const ulong y_off, const uint rows,  \
                                 const uint cols, const uint n) {                                           \
        const uint i0 = get_global_id(0) * GEMM_TM, r0 = get_global_id(1) * GEMM_TN, cols8 = cols & ~7u;    \
        if (i0 >= n || r0 >= rows)                                                                          \
            return;                                                                                         \
        gc_row wr[GEMM_TN];                                                                                 \
        __global const float *xr[GEMM_TM];                                                                  \
        for (uint j = 0; j < GEMM_TN; j++)                                                                  \
            wr[j] = w + min(r0 + j, rows - 1) * row_bytes;                                                  \
        for (uint i = 0; i < GEMM_TM; i++)                                                                  \
            xr[i] = x + x_off + (ulong)min(i0 + i, n - 1) * cols;                                           \
        float8 acc[GEMM_TM][GEMM_TN];                                                                       \
        for (uint i = 0; i < GEMM_TM; i++)                                                                  \
            for (uint j = 0; j < GEMM_TN; j++)                                                              \
                acc[i][j] = 0.0f;                                                                           \
        for (uint k = 0; k < cols8; k += 8) {                                                               \
            float8 xv[GEMM_TM];                                                                             \
            for (uint i = 0; i < GEMM_TM; i++)                                                              \
                xv[i] = vload8(0, xr[i] + k);                                                               \
            for (uint j = 0; j < GEMM_TN; j++) {                                                            \
                const float8 wv = ld8_##T(wr[j], k);                                                        \
                for (uint i = 0; i < GEMM_TM; i++)                                                          \
                    acc[i][j] = mad(xv[i], wv, acc[i][j]);                                                  \
            }                                                                                               \
        }                                                                                                   \
        for (uint i = 0; i < GEMM_TM && i0 + i < n; i++)                                                    \
            for (uint j = 0; j < GEMM_TN && r0 + j < rows; j++) {                                           \
                float s = gc_hsum8(acc[i][j]);                                                              \
                for (uint k = cols8; k < cols; k++)                                                         \
                    s += xr[i][k] * ld1_##T(wr[j], k);                                                      \
                y[y_off + (ulong)(i0 + i) * rows + r0 + j] = s;                                             \
            }                                                                                               \
    }

GC_FOR_EACH_DTYPE(GEMV)
GC_FOR_EACH_DTYPE(GEMM)

__kernel void bias_add_f32_f32(__global float *y, const ulong y_off, __global const float *bias, const uint rows,
                               const uint n) {
    const uint r = get_global_id(0), i = get_global_id(1);
    if (r < rows && i < n)
        y[y_off + (ulong)i * rows + r] += bias[r];
}
