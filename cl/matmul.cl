/* matmul.cl - y = x W^T for weights of any dtype (W: (rows, cols) row-major, rows of row_bytes bytes).
 *
 * Entry points, one per weight dtype t in f32, f16, bf16, q8_0 (loads from common.cl):
 *   gemv_<t>_f32(w0, w1, w2, row_bytes, x, x_off, y0, y1, y2, y_off0, y_off1, y_off2, b0, b1, b2,
 *                rows0, rows1, rows2, cols, n, flags)
 *     For small n (decode): up to three weights wo: (rows_o, cols) sharing x: f32 (n, cols), each into its
 *     yo: f32 (n, rows_o) (+ bias bo: f32 (rows_o) when flags has GEMV_BIAS0 << o; += when flags has
 *     GEMV_ACCUMULATE); unused outputs have rows_o = 0. One launch for a layer's q, k and v.
 *     Launch: 3-D, local (GEMV_LS, GEMV_RPG, 1), global (GEMV_LS, >= rows0 + rows1 + rows2,
 *     ceil(n / GEMV_NB)): GEMV_LS work-items per output row each sum a strided part of it for GEMV_NB rows
 *     of x, then a local sum.
 *   gemv_glu_<t>_f32(wg, wu, row_bytes, x, x_off, y, y_off, rows, cols, n)
 *     y: f32 (n, rows) = silu(x Wg^T) * (x Wu^T), Wg and Wu (rows, cols); the gemv launch for rows.
 *   gemm_<t>_f32(w, row_bytes, x, x_off, y, y_off, rows, cols, n, flags)
 *     y = x W^T (+= with GEMV_ACCUMULATE) for larger n. A work-group stages a GEMM_KB-column tile of GEMM_BN
 *     W rows in local memory, transposed and converted to f32; each work-item then accumulates a GEMM_TM x 16
 *     block of y as outer products (x scalar broadcast times a float16 row of the tile), so PoCL gets
 *     explicit 16-wide FMAs.
 *     Launch: 2-D, local (GEMM_WN, GEMM_WM), global (ceil(rows / GEMM_BN) * GEMM_WN,
 *     ceil(n / (GEMM_TM * GEMM_WM)) * GEMM_WM).
 *   bias_add_f32_f32(y, y_off, bias, rows, n)
 *     y: f32 (n, rows) += bias: f32 (rows). Launch: 2-D, global (>= rows, n).
 * Full 16-column steps use ld16; ragged edges use ld1. */

#ifndef GEMV_LS
#define GEMV_LS 1 // work-items per output row (power of two)
#endif
#ifndef GEMV_RPG
#define GEMV_RPG 16 // output rows per GEMV work-group
#endif
#ifndef GEMV_NB
#define GEMV_NB 1 // rows of x per GEMV work-item (a W row is read once for all of them)
#endif
#ifndef GEMM_TM
#define GEMM_TM 8 // rows of x per GEMM work-item (each work-item computes GEMM_TM x 16 outputs)
#endif
#ifndef GEMM_WN
#define GEMM_WN 4 // work-items of a GEMM group along W rows: the group covers GEMM_BN = 16 * GEMM_WN rows
#endif
#ifndef GEMM_WM
#define GEMM_WM 8 // work-items of a GEMM group along x rows: the group covers GEMM_TM * GEMM_WM rows
#endif
#ifndef GEMM_KB
#define GEMM_KB 64 // columns per W tile in local memory (a multiple of 32 keeps q8_0 blocks whole)
#endif
#define GEMM_BN (16 * GEMM_WN)

/* Sum over the GEMV_LS work-items of one output row (no barrier at all when a row has one work-item: PoCL
 * then keeps the work-item loop free of context saves). */
inline float gemv_lane_sum(float s, __local float *scratch, uint lid) {
#if GEMV_LS > 1
    return gc_group_sum(s, scratch, lid, GEMV_LS);
#else
    (void)scratch, (void)lid;
    return s;
#endif
}

/* s[b] = W row wr . x row (i0 + b) for b < GEMV_NB (rows past n repeat the last), each summed over the
 * GEMV_LS work-items of the row (lane lid). Every work-item of a group calls it equally often. */
#define GEMV_DOTS(T)                                                                                        \
    inline void gemv_dots_##T(gc_row wr, __global const float *x, uint i0, uint n, uint cols, uint lid,    \
                              __local float *scratch, float *s) {                                          \
        const uint cols16 = cols & ~15u;                                                                    \
        __global const float *xr[GEMV_NB];                                                                  \
        float16 acc[GEMV_NB];                                                                               \
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                      \
            xr[b] = x + (ulong)min(i0 + b, n - 1) * cols;                                                   \
            acc[b] = 0.0f;                                                                                  \
        }                                                                                                   \
        for (uint k = lid * 16; k < cols16; k += GEMV_LS * 16) {                                            \
            const float16 wv = ld16_##T(wr, k);                                                             \
            GC_UNROLL for (uint b = 0; b < GEMV_NB; b++)                                                    \
                acc[b] = fma(wv, vload16(0, xr[b] + k), acc[b]);                                            \
        }                                                                                                   \
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                      \
            float t = gc_hsum16(acc[b]);                                                                    \
            for (uint k = cols16 + lid; k < cols; k += GEMV_LS)                                             \
                t += ld1_##T(wr, k) * xr[b][k];                                                             \
            s[b] = gemv_lane_sum(t, scratch, lid);                                                          \
        }                                                                                                   \
    }

#define GEMV_ACCUMULATE 1u /* flags (GEMV and GEMM): y += instead of y = */
#define GEMV_BIAS0 2u      /* flags: output o adds its bias (GEMV_BIAS0 << o) */

/* Up to three weights sharing x: global row g runs over rows0 + rows1 + rows2 and picks its weight. */
#define GEMV(T)                                                                                             \
    __kernel __attribute__((reqd_work_group_size(GEMV_LS, GEMV_RPG, 1))) void gemv_##T##_f32(               \
        __global const uchar *w0, __global const uchar *w1, __global const uchar *w2, const ulong row_bytes, \
        __global const float *x, const ulong x_off, __global float *y0, __global float *y1,                 \
        __global float *y2, const ulong y_off0, const ulong y_off1, const ulong y_off2,                     \
        __global const float *b0, __global const float *b1, __global const float *b2, const uint rows0,     \
        const uint rows1, const uint rows2, const uint cols, const uint n, const uint flags) {              \
        __local float scratch[GEMV_RPG][GEMV_LS];                                                           \
        const uint lid = get_local_id(0), g = get_global_id(1), total = rows0 + rows1 + rows2;              \
        const uint gc = min(g, total - 1), o = gc < rows0 ? 0 : gc < rows0 + rows1 ? 1 : 2;                 \
        const uint r = gc - (o == 0 ? 0 : o == 1 ? rows0 : rows0 + rows1);                                  \
        const uint rows = o == 0 ? rows0 : o == 1 ? rows1 : rows2, i0 = get_global_id(2) * GEMV_NB;         \
        __global const uchar *w = o == 0 ? w0 : o == 1 ? w1 : w2;                                           \
        float s[GEMV_NB];                                                                                   \
        gemv_dots_##T(w + r * row_bytes, x + x_off, i0, n, cols, lid, scratch[get_local_id(1)], s);         \
        if (lid != 0 || g >= total)                                                                         \
            return;                                                                                         \
        __global float *y = o == 0 ? y0 + y_off0 : o == 1 ? y1 + y_off1 : y2 + y_off2;                      \
        const float bias = flags & (GEMV_BIAS0 << o) ? (o == 0 ? b0 : o == 1 ? b1 : b2)[r] : 0.0f;           \
        for (uint b = 0; b < GEMV_NB && i0 + b < n; b++) {                                                  \
            __global float *out = y + (ulong)(i0 + b) * rows + r;                                           \
            *out = s[b] + bias + (flags & GEMV_ACCUMULATE ? *out : 0.0f);                                   \
        }                                                                                                   \
    }

/* y = silu(x Wg^T) * (x Wu^T): a work-item computes row r of both products. */
#define GEMV_GLU(T)                                                                                         \
    __kernel __attribute__((reqd_work_group_size(GEMV_LS, GEMV_RPG, 1))) void gemv_glu_##T##_f32(           \
        __global const uchar *wg, __global const uchar *wu, const ulong row_bytes, __global const float *x, \
        const ulong x_off, __global float *y, const ulong y_off, const uint rows, const uint cols,          \
        const uint n) {                                                                                     \
        __local float scratch[GEMV_RPG][GEMV_LS];                                                           \
        const uint lid = get_local_id(0), r = min((uint)get_global_id(1), rows - 1);                        \
        const uint i0 = get_global_id(2) * GEMV_NB;                                                         \
        float sg[GEMV_NB], su[GEMV_NB];                                                                     \
        gemv_dots_##T(wg + r * row_bytes, x + x_off, i0, n, cols, lid, scratch[get_local_id(1)], sg);       \
        gemv_dots_##T(wu + r * row_bytes, x + x_off, i0, n, cols, lid, scratch[get_local_id(1)], su);       \
        if (lid != 0 || get_global_id(1) >= rows)                                                           \
            return;                                                                                         \
        for (uint b = 0; b < GEMV_NB && i0 + b < n; b++)                                                    \
            y[y_off + (ulong)(i0 + b) * rows + r] = gc_silu(sg[b]) * su[b];                                 \
    }

/* Copies W rows [r0, r0 + GEMM_BN) x cols [k0, k0 + GEMM_KB) transposed into wt[kk][j] (zeros outside W),
 * shared by the GEMM_WN x GEMM_WM work-items of the group (work-item t takes rows t, t + group size, ...). */
#define GEMM_LOAD_TILE(T)                                                                                   \
    inline void gemm_tile_##T(__global const uchar *w, ulong row_bytes, uint rows, uint cols, uint r0,      \
                              uint k0, __local float (*wt)[GEMM_BN], uint t) {                              \
        for (uint j = t; j < GEMM_BN; j += GEMM_WN * GEMM_WM) {                                             \
            gc_row wr = w + min(r0 + j, rows - 1) * row_bytes;                                              \
            const bool row_ok = r0 + j < rows;                                                              \
            if (row_ok && k0 + GEMM_KB <= cols) {                                                           \
                for (uint kk = 0; kk < GEMM_KB; kk += 16) {                                                 \
                    float v[16];                                                                            \
                    vstore16(ld16_##T(wr, k0 + kk), 0, v);                                                  \
                    for (uint e = 0; e < 16; e++)                                                           \
                        wt[kk + e][j] = v[e];                                                               \
                }                                                                                           \
            } else {                                                                                        \
                for (uint kk = 0; kk < GEMM_KB; kk++)                                                       \
                    wt[kk][j] = row_ok && k0 + kk < cols ? ld1_##T(wr, k0 + kk) : 0.0f;                     \
            }                                                                                               \
        }                                                                                                   \
    }

#define GEMM(T)                                                                                             \
    GEMM_LOAD_TILE(T)                                                                                       \
    __kernel __attribute__((reqd_work_group_size(GEMM_WN, GEMM_WM, 1))) void gemm_##T##_f32(               \
        __global const uchar *w, const ulong row_bytes, __global const float *x, const ulong x_off,         \
        __global float *y, const ulong y_off, const uint rows, const uint cols, const uint n,               \
        const uint flags) {                                                                                 \
        __local float wt[GEMM_KB][GEMM_BN];                                                                 \
        const uint wx = get_local_id(0), wy = get_local_id(1), t = wy * GEMM_WN + wx;                       \
        const uint r0 = get_group_id(0) * GEMM_BN, j0 = r0 + wx * 16;                                       \
        const uint i0 = (get_group_id(1) * GEMM_WM + wy) * GEMM_TM;                                         \
        __global const float *xr[GEMM_TM];                                                                  \
        float16 acc[GEMM_TM];                                                                               \
        GC_UNROLL for (uint i = 0; i < GEMM_TM; i++) {                                                      \
            xr[i] = x + x_off + (ulong)min(i0 + i, n - 1) * cols;                                           \
            acc[i] = 0.0f;                                                                                  \
        }                                                                                                   \
        for (uint k0 = 0; k0 < cols; k0 += GEMM_KB) {                                                       \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
            gemm_tile_##T(w, row_bytes, rows, cols, r0, k0, wt, t);                                         \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
            const uint kn = min((uint)GEMM_KB, cols - k0);                                                  \
            float16 a[GEMM_TM]; /* not live across barriers, so PoCL keeps it in registers */               \
            GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                                    \
                a[i] = acc[i];                                                                              \
            for (uint kk = 0; kk < kn; kk++) {                                                              \
                const float16 wv = vload16(0, &wt[kk][wx * 16]);                                            \
                GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                                \
                    a[i] = fma((float16)(xr[i][k0 + kk]), wv, a[i]);                                        \
            }                                                                                               \
            GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                                    \
                acc[i] = a[i];                                                                              \
        }                                                                                                   \
        for (uint i = 0; i < GEMM_TM && i0 + i < n; i++) {                                                  \
            __global float *yr = y + y_off + (ulong)(i0 + i) * rows;                                        \
            if (j0 + 16 <= rows) {                                                                          \
                vstore16(acc[i] + (flags & GEMV_ACCUMULATE ? vload16(0, yr + j0) : 0.0f), 0, yr + j0);      \
            } else {                                                                                        \
                float v[16];                                                                                \
                vstore16(acc[i], 0, v);                                                                     \
                for (uint e = 0; e < 16 && j0 + e < rows; e++)                                              \
                    yr[j0 + e] = v[e] + (flags & GEMV_ACCUMULATE ? yr[j0 + e] : 0.0f);                      \
            }                                                                                               \
        }                                                                                                   \
    }

GC_FOR_EACH_DTYPE(GEMV_DOTS)
GC_FOR_EACH_DTYPE(GEMV)
GC_FOR_EACH_DTYPE(GEMV_GLU)
GC_FOR_EACH_DTYPE(GEMM)

__kernel void bias_add_f32_f32(__global float *y, const ulong y_off, __global const float *bias, const uint rows,
                               const uint n) {
    const uint r = get_global_id(0), i = get_global_id(1);
    if (r < rows && i < n)
        y[y_off + (ulong)i * rows + r] += bias[r];
}
