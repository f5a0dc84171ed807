/* matmul.cl - y = x W^T for weights of any dtype (W: (rows, cols) row-major, rows of row_bytes bytes).
 *
 * Entry points for the weight dtype t of the program (-DGC_WTYPE=t; any dtype of common.cl, whose loaders
 * read it; weights stay in their file layout, a quantized block is dequantised in registers or, for GEMM,
 * into the local-memory tile):
 *   gemv_<t>_f32(w0, w1, w2, row_bytes, x, x_off, y0, y1, y2, y_off0, y_off1, y_off2, b0, b1, b2,
 *                rows0, rows1, rows2, cols, n, flags, pos, pos_off, inv_freq, head_dim, layout)
 *     For small n (decode): up to three weights wo: (rows_o, cols) sharing x: f32 (n, cols), each into its
 *     yo: f32 (n, rows_o); unused outputs have rows_o = 0. flags add per output the bias bo: f32 (rows_o)
 *     (GC_MM_BIAS0 << o) and RoPE at positions pos: int32 (n) with inv_freq: f32 (head_dim / 2) (GC_MM_ROPE0
 *     << o), and for all y += instead of y = (GC_MM_ACCUMULATE). With GC_MM_GLU, y0 = silu(x W0^T) * (x W1^T)
 *     (W0, W1 (rows0, cols)). One launch for a layer's q, k and v with their RoPE, or its gate and up.
 *     Launch: 3-D, local (GEMV_LS, GEMV_RPG, 1), global (GEMV_LS, >= row pairs, ceil(n / GEMV_NB)):
 *     each work-item computes a pair of output rows (GEMV_LS work-items share a pair, each summing a strided
 *     part, then a local sum) for GEMV_NB rows of x.
 *   gemm_<t>_f32(w, row_bytes, x, x_off, y, y_off, rows, cols, n, flags)
 *     y = x W^T (+= with GC_MM_ACCUMULATE) for larger n. A work-group stages a GEMM_KB-column tile of GEMM_BN
 *     W rows in local memory, transposed and converted to f32; each work-item then accumulates a GEMM_TM x 16
 *     block of y as outer products (x scalar broadcast times a float16 row of the tile), so PoCL gets
 *     explicit 16-wide FMAs.
 *     Launch: 2-D, local (GEMM_WN, GEMM_WM), global (ceil(rows / GEMM_BN) * GEMM_WN,
 *     ceil(n / (GEMM_TM * GEMM_WM)) * GEMM_WM).
 *   bias_add_f32_f32(y, y_off, bias, rows, n)
 *     y: f32 (n, rows) += bias: f32 (rows). Launch: 2-D, global (>= rows, n).
 * GEMV walks whole blocks (gc_group), GEMM tiles load groups of 16 (ld16); ragged edges use ld1.
 * Fast path: with GEMV_F16 (profile gemv_f16_math) and cl_khr_fp16, f16 GEMV blocks multiply in half
 * (gemv_block_f16); GEMM and every other dtype stay in f32. */

#ifndef GEMV_LS
#define GEMV_LS 1 // work-items per row pair (power of two)
#endif
#ifndef GEMV_RPG
#define GEMV_RPG 16 // row pairs (work-items along rows) per GEMV work-group
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
#define GEMM_KB 64 // columns per W tile in local memory (a multiple of 32; loaded in groups of 16)
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

/* acc[b] += W block blk . x row xr[b] from column c, for b < GEMV_NB. The block's groups are unrolled
 * (gc_group with constant gi), so its scales decode once and the quants go straight into fma(q, s, -m). */
#define GEMV_BLOCK(T)                                                                                       \
    inline void gemv_block_##T(gc_row blk, __global const float *const *xr, uint c, float16 *acc) {         \
        GC_UNROLL for (uint gi = 0; gi < GC_BLOCK_##T / 16; gi++) {                                         \
            float16 q;                                                                                      \
            const float2 sm = gc_group_##T(blk, gi, &q);                                                    \
            const float16 w = fma(q, (float16)sm.x, (float16)-sm.y);                                        \
            GC_UNROLL for (uint b = 0; b < GEMV_NB; b++)                                                    \
                acc[b] = fma(w, vload16(0, xr[b] + c + 16 * gi), acc[b]);                                   \
        }                                                                                                   \
    }

#ifndef GEMV_F16
#define GEMV_F16 0 // 1: f16 weights multiply in half arithmetic (only with GC_HAS_FP16; the host sets it per profile)
#endif
#if GEMV_F16 && GC_HAS_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
/* The fp16 fast path of gemv_block_f16 (the program's dtype is f16 when the host sets GEMV_F16): the block's
 * 32 products are formed and summed in half, x rounded to half, and only the block's sum joins the float
 * accumulator. Half rounding thus touches 32 terms at a time and never the running sum, so the error stays
 * that of one half-precision product (2^-11 relative) per block instead of growing with cols; x must stay
 * within half's range (65504). It saves converting W to float, which pays where half arithmetic is native. */
inline void gemv_block_f16(gc_row blk, __global const float *const *xr, uint c, float16 *acc) {
    half16 part[GEMV_NB];
    GC_UNROLL for (uint b = 0; b < GEMV_NB; b++)
        part[b] = 0.0h;
    GC_UNROLL for (uint gi = 0; gi < GC_BLOCK_f16 / 16; gi++) {
        const half16 w = vload16(gi, (__global const half *)blk);
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++)
            part[b] = fma(w, convert_half16(vload16(0, xr[b] + c + 16 * gi)), part[b]);
    }
    GC_UNROLL for (uint b = 0; b < GEMV_NB; b++)
        acc[b] += convert_float16(part[b]);
}
#define GEMV_BLOCK_OF_DTYPE(T) /* gemv_block_f16 above */
#else
#define GEMV_BLOCK_OF_DTYPE(T) GEMV_BLOCK(T)
#endif

/* s[b] = W row wr . x row (i0 + b) for b < GEMV_NB (rows past n repeat the last), each summed over the
 * GEMV_LS work-items of the row (lane lid), which take whole blocks in turn (gemv_block).
 * Every work-item of a group calls it equally often. */
#define GEMV_DOTS(T)                                                                                        \
    inline void gemv_dots_##T(gc_row wr, __global const float *x, uint i0, uint n, uint cols, uint lid,    \
                              __local float *scratch, float *s) {                                          \
        const uint blocks = cols / GC_BLOCK_##T;                                                            \
        __global const float *xr[GEMV_NB];                                                                  \
        float16 acc[GEMV_NB];                                                                               \
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                      \
            xr[b] = x + (ulong)min(i0 + b, n - 1) * cols;                                                   \
            acc[b] = 0.0f;                                                                                  \
        }                                                                                                   \
        for (uint k = lid; k < blocks; k += GEMV_LS)                                                        \
            gemv_block_##T(wr + k * GC_BYTES_##T, xr, k * GC_BLOCK_##T, acc);                               \
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                      \
            float t = gc_hsum16(acc[b]);                                                                    \
            for (uint k = blocks * GC_BLOCK_##T + lid; k < cols; k += GEMV_LS) /* float types' ragged end */ \
                t += ld1_##T(wr, k) * xr[b][k];                                                             \
            s[b] = gemv_lane_sum(t, scratch, lid);                                                          \
        }                                                                                                   \
    }

/* Each work-item computes a pair of output rows for GEMV_NB rows of x: with GC_MM_GLU row j of W0 and of W1;
 * otherwise pair j of the outputs' pairs, ceil(rows_o / 2) per output o, in output order. Epilogue per
 * row: + bias, RoPE, silu-gate, += y, as flags say. */
#define GEMV(T)                                                                                             \
    __kernel __attribute__((reqd_work_group_size(GEMV_LS, GEMV_RPG, 1))) void gemv_##T##_f32(               \
        __global const uchar *w0, __global const uchar *w1, __global const uchar *w2, const ulong row_bytes, \
        __global const float *x, const ulong x_off, __global float *y0, __global float *y1,                 \
        __global float *y2, const ulong y_off0, const ulong y_off1, const ulong y_off2,                     \
        __global const float *b0, __global const float *b1, __global const float *b2, const uint rows0,     \
        const uint rows1, const uint rows2, const uint cols, const uint n, const uint flags,                \
        __global const int *pos, const ulong pos_off, __global const float *inv_freq, const uint head_dim,  \
        const uint layout) {                                                                                \
        __local float scratch[GEMV_RPG][GEMV_LS];                                                           \
        const bool glu = flags & GC_MM_GLU;                                                                 \
        const uint p0 = (rows0 + 1) / 2, p1 = (rows1 + 1) / 2;                                              \
        const uint pairs = glu ? rows0 : p0 + p1 + (rows2 + 1) / 2;                                         \
        const uint lid = get_local_id(0), g = get_global_id(1), j = min(g, pairs - 1);                      \
        const uint o = glu || j < p0 ? 0 : j < p0 + p1 ? 1 : 2;                                             \
        const uint jo = glu ? j : j - (o == 0 ? 0 : o == 1 ? p0 : p0 + p1);                                 \
        const uint rows = o == 0 ? rows0 : o == 1 ? rows1 : rows2, i0 = get_global_id(2) * GEMV_NB;         \
        const bool rope = flags & (GC_MM_ROPE0 << o);                                                       \
        const uint2 ab = glu ? (uint2)(j) : gc_gemv_pair_rows(jo, rows, rope, head_dim, layout);               \
        __global const uchar *w = o == 0 ? w0 : o == 1 ? w1 : w2;                                           \
        float sa[GEMV_NB], sb[GEMV_NB];                                                                     \
        gemv_dots_##T(w + ab.x * row_bytes, x + x_off, i0, n, cols, lid, scratch[get_local_id(1)], sa);     \
        gemv_dots_##T((glu ? w1 : w) + ab.y * row_bytes, x + x_off, i0, n, cols, lid,                      \
                      scratch[get_local_id(1)], sb);                                                        \
        if (lid != 0 || g >= pairs)                                                                         \
            return;                                                                                         \
        __global float *y = o == 0 ? y0 + y_off0 : o == 1 ? y1 + y_off1 : y2 + y_off2;                      \
        __global const float *bias = o == 0 ? b0 : o == 1 ? b1 : b2;                                        \
        const bool has_bias = flags & (GC_MM_BIAS0 << o), acc = flags & GC_MM_ACCUMULATE;                   \
        for (uint b = 0; b < GEMV_NB && i0 + b < n; b++) {                                                  \
            __global float *yr = y + (ulong)(i0 + b) * rows;                                                \
            float va = sa[b] + (has_bias ? bias[ab.x] : 0.0f), vb = sb[b] + (has_bias ? bias[ab.y] : 0.0f); \
            if (glu) {                                                                                      \
                yr[j] = gc_silu(sa[b]) * sb[b] + (acc ? yr[j] : 0.0f);                                      \
                continue;                                                                                   \
            }                                                                                               \
            if (rope) {                                                                                     \
                const float2 v = gc_gemv_rope(va, vb, pos[pos_off + i0 + b], inv_freq, jo, head_dim);      \
                va = v.x, vb = v.y;                                                                         \
            }                                                                                               \
            if (ab.y != ab.x)                                                                               \
                yr[ab.y] = vb + (acc ? yr[ab.y] : 0.0f);                                                    \
            yr[ab.x] = va + (acc ? yr[ab.x] : 0.0f);                                                        \
        }                                                                                                   \
    }

/* Copies W rows [r0, r0 + GEMM_BN) x cols [k0, k0 + GEMM_KB) transposed into wt[kk][j] (zeros outside W),
 * shared by the GEMM_WN x GEMM_WM work-items of the group (work-item t takes rows t, t + group size, ...). */
#define GEMM_LOAD_TILE(T)                                                                                   \
    inline void gemm_tile_##T(__global const uchar *w, ulong row_bytes, uint rows, uint cols, uint r0,      \
                              uint k0, __local float (*wt)[GEMM_BN], uint t) {                              \
        for (uint j = t; j < GEMM_BN; j += GEMM_WN * GEMM_WM) {                                             \
            gc_row wr = w + min(r0 + j, rows - 1) * row_bytes;                                              \
            const bool row_ok = r0 + j < rows;                                                              \
            for (uint kk = 0; kk < GEMM_KB; kk += 16) { /* whole groups of 16 (all of a block row) by ld16 */ \
                if (row_ok && k0 + kk + 16 <= cols) {                                                       \
                    float v[16];                                                                            \
                    vstore16(ld16_##T(wr, k0 + kk), 0, v);                                                  \
                    for (uint e = 0; e < 16; e++)                                                           \
                        wt[kk + e][j] = v[e];                                                               \
                } else {                                                                                    \
                    for (uint e = 0; e < 16; e++)                                                           \
                        wt[kk + e][j] = row_ok && k0 + kk + e < cols ? ld1_##T(wr, k0 + kk + e) : 0.0f;     \
                }                                                                                           \
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
        const uint2 tc = gc_gemm_group(); /* (W row tile, x row chunk) */                                 \
        const uint r0 = tc.x * GEMM_BN, j0 = r0 + wx * 16, i0 = (tc.y * GEMM_WM + wy) * GEMM_TM;            \
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
            const uint kn = i0 < n ? min((uint)GEMM_KB, cols - k0) : 0; /* idle past n */                  \
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
                vstore16(acc[i] + (flags & GC_MM_ACCUMULATE ? vload16(0, yr + j0) : 0.0f), 0, yr + j0);     \
            } else {                                                                                        \
                float v[16];                                                                                \
                vstore16(acc[i], 0, v);                                                                     \
                for (uint e = 0; e < 16 && j0 + e < rows; e++)                                              \
                    yr[j0 + e] = v[e] + (flags & GC_MM_ACCUMULATE ? yr[j0 + e] : 0.0f);                     \
            }                                                                                               \
        }                                                                                                   \
    }

#ifdef GC_WTYPE
GC_INSTANTIATE(GEMV_BLOCK_OF_DTYPE, GC_WTYPE)
GC_INSTANTIATE(GEMV_DOTS, GC_WTYPE)
GC_INSTANTIATE(GEMV, GC_WTYPE)
GC_INSTANTIATE(GEMM, GC_WTYPE)
#endif

__kernel void bias_add_f32_f32(__global float *y, const ulong y_off, __global const float *bias, const uint rows,
                               const uint n) {
    const uint r = get_global_id(0), i = get_global_id(1);
    if (r < rows && i < n)
        y[y_off + (ulong)i * rows + r] += bias[r];
}
