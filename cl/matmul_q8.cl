/* matmul_q8.cl - y = x W^T for block-quantized W as llama.cpp's CPU backend computes it: each row of x is
 * first quantized to 8 bits per value in blocks (the weight type's "vec_dot type"), then every weight group's
 * integer products with those quants are scaled by the weight's and the activation block's scales
 * (ggml_vec_dot_<type>_q8_<x>). llama.cpp is the reference gemcl is compared with, and this rounding of the
 * activations moves logits enough to flip near ties; matmul.cl keeps the exact f32 product.
 *
 * Activation types, by weight type (the kind argument / Q8_KIND_*):
 *   Q8_0 for q4_0, q5_0, q8_0, iq4_nl: blocks of 32, d = f16(amax / 127), q = rint(x * (127 / amax))
 *   Q8_1 for q4_1, q5_1: Q8_0's d and q, and s = f16(d * sum(q)), which the weight's min multiplies
 *   Q8_K for q2_k .. q6_k: blocks of 256, iscale = -127 / (the value of largest magnitude, the first one on
 *        ties), q = min(rint(iscale * x), 127), d = 1 / iscale kept as a float, and per 16 values the sum of q
 * Q8_0 and Q8_1 follow the x86 AVX/AVX2 quantize_row_q8_0 / q8_1 of ggml-cpu (127 / amax and round half to
 * even), which made the reference outputs; ggml's portable quantize_row_q8_0_ref multiplies by 1 / d and
 * rounds half away from zero instead, which differs only on exact ties. Q8_K is quantize_row_q8_K_ref.
 *
 * A quantized activation row is stored as
 *   xq: f32 (n, cols)           the quants times their block's d (exact for Q8_0 / Q8_1: an f16 times an
 *                               8-bit integer): the GEMM reads x as matmul.cl's does
 *   xi: char (n, cols)          the quants themselves: the GEMV multiplies them with the weight's integer
 *                               quants (common.cl's gc_iq_<t>) in integers and scales once per block, as
 *                               ggml's vec_dot does
 *   xs: float2 (n, cols / 16)   per group of 16 values (d, t): d the block's scale (the f16 value for Q8_0 and
 *                               Q8_1) and t what a weight group's min multiplies: s / 2 in each group of a
 *                               Q8_1 block (m s/2 + m s/2 = m s exactly), d * (sum of the group's q) for Q8_K,
 *                               0 for Q8_0 (its weight types have no min).
 * A weight block of common.cl (group gi: w = d sc q - dmin mn, q and the group's sc, mn integers) then adds
 * (d d_x) sum_g(sc sum(q qx)) - sum_g (dmin mn) t in the GEMV, the integer sum over the whole block (32 or
 * 256 values) as ggml sums it, and sum((s q) (d qx)) - m t with s = d sc, m = dmin mn in the GEMM: ggml's
 * per-type formulas d_w d_x sum(q qx) (- or + the min term) up to float rounding (s q is exact or nearly: an
 * f16 times small integers).
 *
 * Integer dot products: sum(q qx) of each 32 values (q8_dot32 below) runs as AVX2's maddubs and madd where the
 * kernel compiler is clang for x86 with its target builtins (GC_HAS_X86_SIMD=1: PoCL's CPU device), as four
 * dot(char4, char4) per 16 of cl_khr_integer_dot_product where the runtime compiled with GC_HAS_INT_DOT=1,
 * and otherwise as 16-bit products added in pairs. All are exact integer sums into the same lanes, so the
 * paths give bit-identical results (tests/test_ops.c compares each fast path with the portable one).
 *
 * Entry points:
 *   q8_dot_path(out): out[0] = which q8_dot32 was compiled (0 portable, 1 integer dot products, 2 x86).
 *   quantize_q8_f32(x, x_off, xq, xi, xs, cols, n, kind)
 *     x: f32 (n, cols) at x_off -> xq, xi, xs as above. Launch: 2-D, global (cols / block, n), block 32 or 256.
 *   rmsnorm_q8_f32(x, x_off, w, out, out_off, xq, xi, xs, dim, eps, kind)
 *     norm.cl's rmsnorm of x into out, and out quantized into xq, xi, xs as quantize_q8_f32 does. Launch: 1-D,
 *     one work-group of RMS_LS work-items per row.
 *   gemv_q8_<t>(w0, w1, w2, row_bytes, xi, xs, y0, y1, y2, y_off0, y_off1, y_off2, b0, b1, b2,
 *               rows0, rows1, rows2, cols, n, flags, pos, pos_off, inv_freq, head_dim, layout)
 *     For small n: up to three weights wo: (rows_o, cols) of dtype t sharing the quantized x, each into
 *     yo: f32 (n, rows_o) at y_off_o (rows_o = 0: unused), + bias bo: f32 (rows_o) where flags has
 *     GC_MM_BIAS0 << o, then rotated as rope.cl does (pos: int32 at pos_off, inv_freq: f32 (head_dim / 2),
 *     layout 0 adjacent, 1 half) where flags has GC_MM_ROPE0 << o, y += with GC_MM_ACCUMULATE; with GC_MM_GLU
 *     y0 = silu(x W0^T) * (x W1^T). Launch: 3-D, local (GEMV_LS, GEMV_RPG, 1), global (GEMV_LS, >= row
 *     pairs, ceil(n / GEMV_NB)); a work-item computes two output rows (two neighbours, a RoPE pair of one
 *     head for a roped output, or W0 and W1's row j for GLU) for GEMV_NB rows of x.
 *   gemm_q8_<t>(w, row_bytes, xq, xs, y, y_off, bias, rows, cols, n, flags)
 *     y = x W^T (+ bias with GC_MM_BIAS0, += with GC_MM_ACCUMULATE) for larger n. A work-group stages s q of a
 *     GEMM_KB-column tile of GEMM_BN W rows in local memory (transposed) and their groups' m beside it; each
 *     work-item accumulates a GEMM_TM x 16 block of y from xq and subtracts m t per group.
 *     Launch: as matmul.cl's gemm.
 *   With Q8_GEMM_INT=1 instead (the integer tile below; the host's profile gemm_q8_int chooses):
 *   gemm_q8_<t>(w, row_bytes, xi, xs, y, y_off, bias, rows, cols, n, flags)
 *     the same product from the quants xi, in integers per block as the GEMV; a work-item computes GEMM_TM x 8
 *     outputs, a group 8 GEMM_WN W rows. Launch: local (GEMM_WN, GEMM_WM), global (ceil(rows / (8 GEMM_WN))
 *     GEMM_WN, ceil(n / (GEMM_TM GEMM_WM)) GEMM_WM). */

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
#define GEMM_KB 64 // columns per W tile in local memory (a multiple of 32)
#endif
#define GEMM_BN (16 * GEMM_WN)

#define Q8_KIND_0 0u
#define Q8_KIND_1 1u
#define Q8_KIND_K 2u

/* v rounded to f16 (nearest even, as F16C's conversion in ggml-cpu) and back; through a ushort, since a
 * half variable needs cl_khr_fp16 while a half pointer does not. */
inline float q8_f16_round(float v) {
    ushort h;
    vstore_half_rte(v, 0, (half *)&h);
    return vload_half(0, (const half *)&h);
}

inline float q8_max16(float16 v) {
    float8 a = fmax(v.lo, v.hi);
    float4 b = fmax(a.lo, a.hi);
    return fmax(fmax(b.x, b.y), fmax(b.z, b.w));
}

/* Quants are rounded to integers (half to even) rather than to integer-valued floats: a small negative value
 * would round to -0.0, and d * -0.0 keeps a sign that ggml's d * 0 does not. */
inline int q8_isum16(int16 q) {
    int8 s8 = q.lo + q.hi;
    int4 s4 = s8.lo + s8.hi;
    return (s4.x + s4.y) + (s4.z + s4.w);
}

/* One block of 32 (Q8_0, Q8_1: groups 2 blk, 2 blk + 1 of the row). */
inline void q8_quantize_32(__global const float *xr, __global float *qr, __global char *ir, __global float2 *sr,
                           uint blk, bool with_sum) {
    const float16 v0 = vload16(2 * blk, xr), v1 = vload16(2 * blk + 1, xr);
    const float amax = q8_max16(fmax(fabs(v0), fabs(v1)));
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const int16 q0 = convert_int16_rte(v0 * id), q1 = convert_int16_rte(v1 * id);
    const float dh = q8_f16_round(d);
    vstore16(convert_char16(q0), 2 * blk, ir);
    vstore16(convert_char16(q1), 2 * blk + 1, ir);
    vstore16(convert_float16(q0) * dh, 2 * blk, qr);
    vstore16(convert_float16(q1) * dh, 2 * blk + 1, qr);
    const float t = with_sum ? q8_f16_round(d * (float)q8_isum16(q0 + q1)) * 0.5f : 0.0f;
    sr[2 * blk] = sr[2 * blk + 1] = (float2)(dh, t);
}

/* One block of 256 (Q8_K: groups 16 blk .. 16 blk + 15). */
inline void q8_quantize_256(__global const float *xr, __global float *qr, __global char *ir, __global float2 *sr,
                            uint blk) {
    __global const float *xb = xr + 256 * blk;
    float amax = 0.0f, max = 0.0f;
    for (uint j = 0; j < 256; j++)
        if (fabs(xb[j]) > amax) {
            amax = fabs(xb[j]);
            max = xb[j];
        }
    const float iscale = amax != 0.0f ? -127.0f / max : 0.0f, d = amax != 0.0f ? 1.0f / iscale : 0.0f;
    for (uint g = 0; g < 16; g++) {
        const int16 q = min(convert_int16_rte(vload16(16 * blk + g, xr) * iscale), 127);
        vstore16(convert_char16(q), 16 * blk + g, ir);
        vstore16(convert_float16(q) * d, 16 * blk + g, qr);
        sr[16 * blk + g] = (float2)(d, d * (float)q8_isum16(q));
    }
}

__kernel void quantize_q8_f32(__global const float *x, const ulong x_off, __global float *xq, __global char *xi,
                              __global float2 *xs, const uint cols, const uint n, const uint kind) {
    const uint blk = get_global_id(0), i = get_global_id(1);
    if (i >= n || blk >= cols / (kind == Q8_KIND_K ? 256 : 32))
        return;
    __global const float *xr = x + x_off + (ulong)i * cols;
    __global float *qr = xq + (ulong)i * cols;
    __global char *ir = xi + (ulong)i * cols;
    __global float2 *sr = xs + (ulong)i * (cols / 16);
    if (kind == Q8_KIND_K)
        q8_quantize_256(xr, qr, ir, sr, blk);
    else
        q8_quantize_32(xr, qr, ir, sr, blk, kind == Q8_KIND_1);
}

#ifndef RMS_LS
#define RMS_LS 64 // rmsnorm_q8_f32: work-items per row (power of two)
#endif

/* norm.cl's rmsnorm_f32_f32 (the same sum of squares over the same work-items, the same products) and then
 * quantize_q8_f32 of its output rows, in one launch: a work-item quantizes the blocks it wrote. */
__kernel __attribute__((reqd_work_group_size(RMS_LS, 1, 1))) void
rmsnorm_q8_f32(__global const float *x, const ulong x_off, __global const float *w, __global float *out,
               const ulong out_off, __global float *xq, __global char *xi, __global float2 *xs, const uint dim,
               const float eps, const uint kind) {
    __local float scratch[RMS_LS];
    const uint lid = get_local_id(0), block = kind == Q8_KIND_K ? 256 : 32;
    const ulong row = get_group_id(0);
    __global const float *xr = x + x_off + row * dim;
    __global float *yr = out + out_off + row * dim;
    const float inv = gc_rms_factor(xr, dim, eps, scratch, lid, RMS_LS);
    for (uint blk = lid; blk < dim / block; blk += RMS_LS) {
        for (uint j = blk * block; j < (blk + 1) * block; j++)
            yr[j] = w[j] * (inv * xr[j]);
        __global float *qr = xq + row * dim;
        __global char *ir = xi + row * dim;
        __global float2 *sr = xs + row * (dim / 16);
        if (kind == Q8_KIND_K)
            q8_quantize_256(yr, qr, ir, sr, blk);
        else
            q8_quantize_32(yr, qr, ir, sr, blk, kind == Q8_KIND_1);
    }
}

/* Sum over the GEMV_LS work-items of one output row (none needed for one). */
inline float q8_lane_sum(float s, __local float *scratch, uint lid) {
#if GEMV_LS > 1
    return gc_group_sum(s, scratch, lid, GEMV_LS);
#else
    (void)scratch, (void)lid;
    return s;
#endif
}

/* A block's integer dot product, by pairs of groups (32 values: weight quants q of groups gi, gi + 1 and the
 * activation quants x): q8_dot32 gives eight lanes, four per group, lane l of a group being sc * sum(q[e] x[e])
 * over e = l, l + 4, l + 8, l + 12 with the group's integer scale sc. The lanes add over the block in integers;
 * at the block's end q8_fold adds the two groups' lanes, and the four are scaled once by d d_x into float lanes,
 * summed at the very end. Every path below gives these very lanes, so their outputs are bit-identical
 * (tests/test_ops.c compares them). A product is at most 128 * 127 in magnitude, so the sum of two fits in 16
 * bits. (ggml's AVX2 lanes, four consecutive values each, were tried: greedy text agreed with llama.cpp's
 * reference on fewer prompts, 3 of 5 per model against 4 of 5 with these; README "Real models".) */
typedef int8 q8_acc;
inline int4 q8_fold(q8_acc v) { return v.lo + v.hi; }
inline float q8_hsum(float4 v) { return (v.x + v.y) + (v.z + v.w); }

#ifndef Q8_INT_DOT
#define Q8_INT_DOT 1 /* use integer dot products where the runtime found them; a profile turns them off where they lose */
#endif
#ifndef GC_HAS_X86_SIMD
#define GC_HAS_X86_SIMD 0
#endif
#if defined(__has_builtin)
#if __has_builtin(__builtin_ia32_pmaddubsw256) && __has_builtin(__builtin_ia32_pmaddwd256) &&              \
    __has_builtin(__builtin_ia32_psignb256) && __has_builtin(__builtin_ia32_pshufb256)
#define Q8_X86_BUILTINS 1
#endif
#endif
#if GC_HAS_X86_SIMD && defined(__AVX2__) && defined(Q8_X86_BUILTINS)
/* x86 with AVX2, where the kernel compiler is clang with its target builtins (PoCL's CPU device): ggml's
 * instruction sequence, which LLVM does not find from the portable code. A byte shuffle puts values l, l + 4,
 * l + 8, l + 12 of each group side by side; maddubs multiplies unsigned bytes by signed ones and adds pairs
 * into 16 bits (signed weight quants go in as |q| with x given q's sign, as ggml's mul_sum_i8_pairs does);
 * madd then multiplies the pairs by the scales and adds them into 32 bits. */
#define Q8_DOT_PATH 2
typedef char q8_char32 __attribute__((ext_vector_type(32)));
inline q8_acc q8_dot32(char16 q0, char16 q1, char16 x0, char16 x1, int s0, int s1, bool is_unsigned) {
    const q8_char32 lanes = (q8_char32)(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9,
                                        13, 2, 6, 10, 14, 3, 7, 11, 15);
    q8_char32 q = __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                          18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    q8_char32 x = __builtin_shufflevector(x0, x1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                          18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    q = __builtin_ia32_pshufb256(q, lanes);
    x = __builtin_ia32_pshufb256(x, lanes);
    if (!is_unsigned) {
        x = __builtin_ia32_psignb256(x, q);
        q = __builtin_ia32_psignb256(q, q);
    }
    const short16 pairs = __builtin_ia32_pmaddubsw256(q, x);
    return __builtin_ia32_pmaddwd256(pairs, (short16)((short8)(short)s0, (short8)(short)s1));
}
#elif GC_HAS_INT_DOT && Q8_INT_DOT && (defined(cl_khr_integer_dot_product) || defined(__opencl_c_integer_dot_product_input_4x8bit))
/* cl_khr_integer_dot_product: four dot(char4, char4) per group of the values regrouped by lane (one byte
 * shuffle each). */
#define Q8_DOT_PATH 1
inline int4 q8_lanes16(char16 a, char16 b) {
    const char16 at = a.s048c159d26ae37bf, bt = b.s048c159d26ae37bf;
    return (int4)(dot(at.s0123, bt.s0123), dot(at.s4567, bt.s4567), dot(at.s89ab, bt.s89ab),
                  dot(at.scdef, bt.scdef));
}
inline q8_acc q8_dot32(char16 q0, char16 q1, char16 x0, char16 x1, int s0, int s1, bool is_unsigned) {
    (void)is_unsigned;
    return (int8)(q8_lanes16(q0, x0) * s0, q8_lanes16(q1, x1) * s1);
}
#else
/* Portable: 16-bit products (x86 has 16-bit multiplies but no 8-bit ones), values e and e + 8 added in 16 bits,
 * then e and e + 4 in 32. */
#define Q8_DOT_PATH 0
inline int4 q8_lanes16(char16 q, char16 x) {
    const short16 p = convert_short16(q) * convert_short16(x);
    const short8 halves = p.lo + p.hi;
    return convert_int4(halves.lo) + convert_int4(halves.hi);
}
inline q8_acc q8_dot32(char16 q0, char16 q1, char16 x0, char16 x1, int s0, int s1, bool is_unsigned) {
    (void)is_unsigned;
    return (int8)(q8_lanes16(q0, x0) * s0, q8_lanes16(q1, x1) * s1);
}
#endif

/* q8_iq32_<t>(block, gi, &q0, &q1, &s0, &s1): groups gi and gi + 1 of a block as common.cl's gc_iq_<t> gives
 * them (the rows of q8_pair16 below). */
#define Q8_IQ32_FROM_GROUPS(T)                                                                              \
    inline void q8_iq32_##T(gc_row b, uint gi, char16 *q0, char16 *q1, int2 *s0, int2 *s1) {                \
        *s0 = gc_iq_##T(b, gi, q0);                                                                         \
        *s1 = gc_iq_##T(b, gi + 1, q1);                                                                     \
    }
Q8_IQ32_FROM_GROUPS(q8_0)
Q8_IQ32_FROM_GROUPS(q4_0)
Q8_IQ32_FROM_GROUPS(q4_1)
Q8_IQ32_FROM_GROUPS(q5_0)
Q8_IQ32_FROM_GROUPS(q5_1)
Q8_IQ32_FROM_GROUPS(iq4_nl)
Q8_IQ32_FROM_GROUPS(q2_k)
Q8_IQ32_FROM_GROUPS(q3_k)
Q8_IQ32_FROM_GROUPS(q4_k)
Q8_IQ32_FROM_GROUPS(q5_k)
Q8_IQ32_FROM_GROUPS(q6_k)

/* Rows a and b of a GEMV work-item, groups gi and gi + 1 of their blocks: q8_pair_<t>(a, b, gi, &p, s) with
 * s[0..3] = (sc, mn) of a gi, a gi + 1, b gi, b gi + 1 (integer scale and min multipliers); q8_dot_pair_<t>(p,
 * x0, x1, s, unsigned) -> their integer lanes (q8_iacc_<t>), added over the block's pairs; q8_scaled_<t>(acc,
 * lanes, d_a d_x, d_b d_x) -> acc + the folded lanes of a (0-3) and of b (4-7) times those factors. Every type
 * gives exactly the lanes of q8_fold(q8_dot32(..)) per row. Most types hold the two rows apart (q8_pair16).
 * On x86 the blocks of 32 hold group gi of both rows in one register (q8_pair32, row a in the low 16 bytes):
 * both rows' quants decode at once, one maddubs serves two rows and their lanes fold with one add. Measured
 * (tests/bench_ops.c, GEMV_HOT=1, one thread): q4_0, q4_1 1.15-1.4x, q5_0, q5_1 1.05-1.15x, q5_k, q6_k 1.2x,
 * q4_k 1.0x, iq4_nl 5x (its table lookup is one byte shuffle); q8_0, q2_k and q3_k lost 5-10% this way, so
 * they keep q8_pair16. */
typedef struct q8_pair16 {
    char16 a0, a1, b0, b1;
} q8_pair16;
#define Q8_PAIR_FROM_ROWS(T)                                                                                \
    typedef q8_pair16 q8_pair_t_##T;                                                                        \
    typedef int16 q8_iacc_##T; /* q8_dot32 of a, of b: folded once at the block's end */                    \
    inline void q8_pair_##T(gc_row a, gc_row b, uint gi, q8_pair16 *p, int2 *s) {                           \
        q8_iq32_##T(a, gi, &p->a0, &p->a1, &s[0], &s[1]);                                                   \
        q8_iq32_##T(b, gi, &p->b0, &p->b1, &s[2], &s[3]);                                                   \
    }                                                                                                       \
    inline int16 q8_dot_pair_##T(q8_pair16 p, char16 x0, char16 x1, const int2 *s, bool is_unsigned) {      \
        return (int16)(q8_dot32(p.a0, p.a1, x0, x1, s[0].x, s[1].x, is_unsigned),                           \
                       q8_dot32(p.b0, p.b1, x0, x1, s[2].x, s[3].x, is_unsigned));                          \
    }                                                                                                       \
    inline float8 q8_scaled_##T(float8 acc, int16 v, float sa, float sb) {                                  \
        return (float8)(fma(convert_float4(q8_fold(v.lo)), (float4)sa, acc.lo),                             \
                        fma(convert_float4(q8_fold(v.hi)), (float4)sb, acc.hi));                            \
    }
#if Q8_DOT_PATH == 2
typedef uchar q8_uchar32 __attribute__((ext_vector_type(32)));
typedef struct q8_pair32 {
    q8_char32 g0, g1; /* group gi of a | of b; group gi + 1 of a | of b */
} q8_pair32;
inline q8_char32 q8_cat16(char16 a, char16 b) {
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                   21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
}
inline int8 q8_dot_pair32(q8_pair32 p, char16 x0, char16 x1, const int2 *s, bool is_unsigned) {
    const q8_char32 lanes = (q8_char32)(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9,
                                        13, 2, 6, 10, 14, 3, 7, 11, 15);
    q8_char32 q0 = __builtin_ia32_pshufb256(p.g0, lanes), q1 = __builtin_ia32_pshufb256(p.g1, lanes);
    q8_char32 y0 = __builtin_ia32_pshufb256(q8_cat16(x0, x0), lanes);
    q8_char32 y1 = __builtin_ia32_pshufb256(q8_cat16(x1, x1), lanes);
    if (!is_unsigned) {
        y0 = __builtin_ia32_psignb256(y0, q0);
        y1 = __builtin_ia32_psignb256(y1, q1);
        q0 = __builtin_ia32_psignb256(q0, q0);
        q1 = __builtin_ia32_psignb256(q1, q1);
    }
    const short16 p0 = __builtin_ia32_pmaddubsw256(q0, y0), p1 = __builtin_ia32_pmaddubsw256(q1, y1);
    return __builtin_ia32_pmaddwd256(p0, (short16)((short8)(short)s[0].x, (short8)(short)s[2].x)) +
           __builtin_ia32_pmaddwd256(p1, (short16)((short8)(short)s[1].x, (short8)(short)s[3].x));
}
/* Both rows' 16 bytes at a + at and at b + at, row a in the low half. */
inline q8_uchar32 q8_bytes2(gc_row a, gc_row b, uint at) {
    return __builtin_astype(q8_cat16(as_char16(gc_load16(a + at)), as_char16(gc_load16(b + at))), q8_uchar32);
}
/* Both rows' 16 bytes of nibbles in one register: low nibbles are group 0, high ones group 1. */
inline void q8_nibbles2(gc_row a, gc_row b, q8_char32 *lo, q8_char32 *hi) {
    const q8_uchar32 r = q8_bytes2(a, b, 0);
    *lo = __builtin_astype(r & (uchar)15, q8_char32);
    *hi = __builtin_astype(r >> (uchar)4, q8_char32);
}
/* A block of 32 is one pair with scale 1 and min multiplier mn (0 or 1) for every group. */
inline void q8_unit_scales(int2 *s, int mn) {
    s[0] = s[1] = s[2] = s[3] = (int2)(1, mn);
}
inline void q8_pair_q4(gc_row a, gc_row b, bool has_min, q8_pair32 *p) {
    q8_nibbles2(a + (has_min ? 4 : 2), b + (has_min ? 4 : 2), &p->g0, &p->g1);
    if (!has_min) {
        p->g0 -= (char)8;
        p->g1 -= (char)8;
    }
}
/* iq4_nl's 16 levels are a byte table: one byte shuffle looks all 32 up */
inline void q8_pair_iq4(gc_row a, gc_row b, q8_pair32 *p) {
    const q8_char32 grid = (q8_char32)(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                       -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
    q8_nibbles2(a + 2, b + 2, &p->g0, &p->g1);
    p->g0 = __builtin_ia32_pshufb256(grid, p->g0);
    p->g1 = __builtin_ia32_pshufb256(grid, p->g1);
}
/* q5_0 / q5_1 (has_min): the nibbles and the fifth bits of both rows (qh, 4 bytes each) spread by one byte
 * shuffle per group to the bytes they belong to (gc_iq_q5 for one group of one row). */
inline void q8_pair_q5(gc_row a, gc_row b, bool has_min, q8_pair32 *p) {
    gc_row ha = a + (has_min ? 4 : 2), hb = b + (has_min ? 4 : 2);
    const uchar16 la = gc_load16(ha), lb = gc_load16(hb);
    q8_nibbles2(ha + 4, hb + 4, &p->g0, &p->g1);
    /* bits 0-15 of a, of b (group 0); bits 16-31 of a, of b (group 1) */
    const q8_uchar32 s0 = __builtin_shufflevector(la, lb, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 16, 16,
                                                  16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17);
    const q8_uchar32 s1 = __builtin_shufflevector(la, lb, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 18, 18,
                                                  18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19);
    const q8_uchar32 bit = (q8_uchar32)(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16,
                                        32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    const q8_char32 set0 = (s0 & bit) == bit, set1 = (s1 & bit) == bit;
    /* q5_0's q - 16 is the nibble with the high four bits all set where the fifth bit is clear */
    p->g0 |= has_min ? set0 & (char)16 : ~set0 & (char)0xf0;
    p->g1 |= has_min ? set1 & (char)16 : ~set1 & (char)0xf0;
}
/* q4_k / q5_k (five) groups gi, gi + 1 (one scale and min, gc_iq_q45_k) of both rows. */
inline void q8_pair_q45k(gc_row a, gc_row b, uint gi, bool five, q8_pair32 *p, int2 *s) {
    const uint j = gi / 2, at = (five ? 48 : 16) + 32 * (gi / 4);
    const uchar shift = 4 * (j % 2);
    q8_uchar32 n0 = (q8_bytes2(a, b, at) >> shift) & (uchar)15, n1 = (q8_bytes2(a, b, at + 16) >> shift) & (uchar)15;
    if (five) {
        n0 |= ((q8_bytes2(a, b, 16) >> (uchar)j) & (uchar)1) << (uchar)4;
        n1 |= ((q8_bytes2(a, b, 32) >> (uchar)j) & (uchar)1) << (uchar)4;
    }
    p->g0 = __builtin_astype(n0, q8_char32);
    p->g1 = __builtin_astype(n1, q8_char32);
    s[0] = s[1] = as_int2(gc_k4_scale_min(a + 4, j));
    s[2] = s[3] = as_int2(gc_k4_scale_min(b + 4, j));
}
/* q6_k groups gi, gi + 1 (parts 0 and 1 of one quarter, gc_iq_q6_k) of both rows. */
inline void q8_pair_q6k(gc_row a, gc_row b, uint gi, q8_pair32 *p, int2 *s) {
    const uint side = gi / 8, quarter = gi % 8 / 2, lo = 64 * side + 32 * (quarter % 2), hi = 128 + 32 * side;
    const uchar ls = 4 * (quarter / 2), hs = 2 * quarter;
    const q8_uchar32 u0 =
        ((q8_bytes2(a, b, lo) >> ls) & (uchar)15) | ((q8_bytes2(a, b, hi) >> hs) & (uchar)3) << (uchar)4;
    const q8_uchar32 u1 =
        ((q8_bytes2(a, b, lo + 16) >> ls) & (uchar)15) | ((q8_bytes2(a, b, hi + 16) >> hs) & (uchar)3) << (uchar)4;
    p->g0 = __builtin_astype(u0, q8_char32) - (char)32;
    p->g1 = __builtin_astype(u1, q8_char32) - (char)32;
    __global const char *sa = (__global const char *)a + 192 + 8 * side + 2 * quarter,
                        *sb = (__global const char *)b + 192 + 8 * side + 2 * quarter;
    s[0] = (int2)(sa[0], 0);
    s[1] = (int2)(sa[1], 0);
    s[2] = (int2)(sb[0], 0);
    s[3] = (int2)(sb[1], 0);
}
/* The q8_pair32 functions of type T, whose decode sets p and s from rows a, b and group gi. */
#define Q8_PAIR32(T, decode)                                                                                \
    typedef q8_pair32 q8_pair_t_##T;                                                                        \
    typedef int8 q8_iacc_##T; /* folded lanes of a | of b */                                                \
    inline void q8_pair_##T(gc_row a, gc_row b, uint gi, q8_pair32 *p, int2 *s) {                           \
        (void)gi; /* unused by the blocks of 32, which are one pair */                                      \
        decode;                                                                                             \
    }                                                                                                       \
    inline int8 q8_dot_pair_##T(q8_pair32 p, char16 x0, char16 x1, const int2 *s, bool is_unsigned) {       \
        return q8_dot_pair32(p, x0, x1, s, is_unsigned);                                                    \
    }                                                                                                       \
    inline float8 q8_scaled_##T(float8 acc, int8 v, float sa, float sb) {                                   \
        return fma(convert_float8(v), (float8)((float4)sa, (float4)sb), acc);                               \
    }
Q8_PAIR32(q4_0, (q8_pair_q4(a, b, false, p), q8_unit_scales(s, 0)))
Q8_PAIR32(q4_1, (q8_pair_q4(a, b, true, p), q8_unit_scales(s, 1)))
Q8_PAIR32(iq4_nl, (q8_pair_iq4(a, b, p), q8_unit_scales(s, 0)))
Q8_PAIR32(q5_0, (q8_pair_q5(a, b, false, p), q8_unit_scales(s, 0)))
Q8_PAIR32(q5_1, (q8_pair_q5(a, b, true, p), q8_unit_scales(s, 1)))
Q8_PAIR32(q4_k, q8_pair_q45k(a, b, gi, false, p, s))
Q8_PAIR32(q5_k, q8_pair_q45k(a, b, gi, true, p, s))
Q8_PAIR32(q6_k, q8_pair_q6k(a, b, gi, p, s))
#else
Q8_PAIR_FROM_ROWS(q4_0)
Q8_PAIR_FROM_ROWS(q4_1)
Q8_PAIR_FROM_ROWS(iq4_nl)
Q8_PAIR_FROM_ROWS(q5_0)
Q8_PAIR_FROM_ROWS(q5_1)
Q8_PAIR_FROM_ROWS(q4_k)
Q8_PAIR_FROM_ROWS(q5_k)
Q8_PAIR_FROM_ROWS(q6_k)
#endif
Q8_PAIR_FROM_ROWS(q8_0)
Q8_PAIR_FROM_ROWS(q2_k)
Q8_PAIR_FROM_ROWS(q3_k)

/* Software prefetch Q8_PF_DIST bytes ahead of each of a work-item's two rows, for blocks of 32 on x86 (PoCL's
 * clang). Decode's rows are short (SmolLM2's 576 columns of q4_1 are 360 bytes) and a work-item walks two at
 * once, so the hardware prefetcher hardly ever gets going; with this the SmolLM2 decode ran 1.1-1.2x and its
 * q8_0 output head ~2x (`gemcl run --profile`). Blocks of 256 keep to the hardware prefetcher: on q6_k rows
 * of 4608 columns software prefetch lost 20%. */
#ifndef Q8_PF_DIST
#define Q8_PF_DIST 2048
#endif
#if Q8_DOT_PATH == 2 && Q8_PF_DIST > 0
#define Q8_PREFETCH(p) __builtin_prefetch((p) + Q8_PF_DIST, 0, 3)
#else
#define Q8_PREFETCH(p) ((void)0)
#endif

/* Which q8_dot32 above this program compiled (0 portable, 1 integer dot products, 2 x86 AVX2): a fast path
 * that fell back without a word would pass its twin test, so the tests ask (gc_op_q8_dot_path). */
__kernel void q8_dot_path(__global int *out) { out[0] = Q8_DOT_PATH; }

/* s[r][b] = W row w[r] . quantized x row i0 + b for both rows r of a pair and b < GEMV_NB (rows past n repeat
 * the last), over the GEMV_LS work-items of the row, which take whole blocks in turn. The two W rows share
 * each load and widening of x (q8_pair_<t> above). Per block: the integer sum of sc sum(q qx) over its groups
 * (unrolled, so its scales decode once; groups that share sc in pairs), scaled once by d d_x into float lanes
 * (four per row); the min term per group (types with GC_MIN_<t> only). The lanes are summed once at the end. */
#define Q8_DOTS(T)                                                                                          \
    inline void q8_dots_##T(gc_row wa, gc_row wb, __global const char *xi, __global const float2 *xs, uint i0, \
                            uint n, uint cols, uint lid, __local float *scratch, float s[2][GEMV_NB]) {     \
        const uint blocks = cols / GC_BLOCK_##T, gpb = GC_BLOCK_##T / 16;                                   \
        __global const char16 *qr[GEMV_NB]; /* one vector load (vload16 of chars: byte by byte on PoCL) */  \
        __global const float2 *sr[GEMV_NB];                                                                 \
        float8 acc[GEMV_NB]; /* lanes 0-3 row a, 4-7 row b */                                               \
        float accm[2][GEMV_NB];                                                                             \
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                      \
            const ulong r = min(i0 + b, n - 1);                                                             \
            qr[b] = (__global const char16 *)(xi + r * cols); /* 16-byte aligned: cols % 32 == 0 */         \
            sr[b] = xs + r * (cols / 16);                                                                   \
            acc[b] = 0.0f;                                                                                  \
            accm[0][b] = accm[1][b] = 0.0f;                                                                 \
        }                                                                                                   \
        for (uint k = lid; k < blocks; k += GEMV_LS) {                                                      \
            const gc_row blk[2] = {wa + k * GC_BYTES_##T, wb + k * GC_BYTES_##T};                           \
            if (GC_BLOCK_##T == 32) {                                                                       \
                Q8_PREFETCH(blk[0]);                                                                        \
                Q8_PREFETCH(blk[1]);                                                                        \
            }                                                                                               \
            const float2 dm[2] = {gc_dm_##T(blk[0]), gc_dm_##T(blk[1])};                                    \
            q8_iacc_##T is[GEMV_NB];                                                                        \
            GC_UNROLL for (uint b = 0; b < GEMV_NB; b++)                                                    \
                is[b] = 0;                                                                                  \
            GC_UNROLL for (uint gi = 0; gi < GC_BLOCK_##T / 16; gi += 2) {                                  \
                q8_pair_t_##T p;                                                                            \
                int2 sm[4]; /* (sc, mn) of a gi, a gi + 1, b gi, b gi + 1 */                                \
                q8_pair_##T(blk[0], blk[1], gi, &p, sm);                                                    \
                const uint g = k * gpb + gi;                                                                \
                GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                              \
                    is[b] += q8_dot_pair_##T(p, qr[b][g], qr[b][g + 1], sm, GC_MIN_##T);                    \
                    if (GC_MIN_##T) {                                                                       \
                        accm[0][b] = fma(dm[0].y * (float)sm[0].y, sr[b][g].y, accm[0][b]);                 \
                        accm[0][b] = fma(dm[0].y * (float)sm[1].y, sr[b][g + 1].y, accm[0][b]);             \
                        accm[1][b] = fma(dm[1].y * (float)sm[2].y, sr[b][g].y, accm[1][b]);                 \
                        accm[1][b] = fma(dm[1].y * (float)sm[3].y, sr[b][g + 1].y, accm[1][b]);             \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
            GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                  \
                const float dx = sr[b][k * gpb].x;                                                          \
                acc[b] = q8_scaled_##T(acc[b], is[b], dm[0].x * dx, dm[1].x * dx);                          \
            }                                                                                               \
        }                                                                                                   \
        GC_UNROLL for (uint b = 0; b < GEMV_NB; b++) {                                                      \
            s[0][b] = q8_lane_sum(q8_hsum(acc[b].lo) - accm[0][b], scratch, lid);                           \
            s[1][b] = q8_lane_sum(q8_hsum(acc[b].hi) - accm[1][b], scratch, lid);                           \
        }                                                                                                   \
    }

#define GEMV_Q8(T)                                                                                          \
    __kernel __attribute__((reqd_work_group_size(GEMV_LS, GEMV_RPG, 1))) void gemv_q8_##T(                  \
        __global const uchar *w0, __global const uchar *w1, __global const uchar *w2, const ulong row_bytes, \
        __global const char *xi, __global const float2 *xs, __global float *y0, __global float *y1,         \
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
        const uint2 ab = glu ? (uint2)(j) : gc_gemv_pair_rows(jo, rows, rope, head_dim, layout);            \
        __global const uchar *w = o == 0 ? w0 : o == 1 ? w1 : w2;                                           \
        float sab[2][GEMV_NB];                                                                              \
        q8_dots_##T(w + ab.x * row_bytes, (glu ? w1 : w) + ab.y * row_bytes, xi, xs, i0, n, cols, lid,       \
                    scratch[get_local_id(1)], sab);                                                         \
        if (lid != 0 || g >= pairs)                                                                         \
            return;                                                                                         \
        __global float *y = o == 0 ? y0 + y_off0 : o == 1 ? y1 + y_off1 : y2 + y_off2;                      \
        __global const float *bias = o == 0 ? b0 : o == 1 ? b1 : b2;                                        \
        const bool has_bias = flags & (GC_MM_BIAS0 << o), acc = flags & GC_MM_ACCUMULATE;                   \
        for (uint b = 0; b < GEMV_NB && i0 + b < n; b++) {                                                  \
            __global float *yr = y + (ulong)(i0 + b) * rows;                                                \
            if (glu) {                                                                                      \
                yr[j] = gc_silu(sab[0][b]) * sab[1][b] + (acc ? yr[j] : 0.0f);                              \
                continue;                                                                                   \
            }                                                                                               \
            float va = sab[0][b] + (has_bias ? bias[ab.x] : 0.0f), vb = sab[1][b] + (has_bias ? bias[ab.y] : 0.0f); \
            if (rope) {                                                                                     \
                const float2 v = gc_gemv_rope(va, vb, pos[pos_off + i0 + b], inv_freq, jo, head_dim);      \
                va = v.x, vb = v.y;                                                                         \
            }                                                                                               \
            if (ab.y != ab.x)                                                                               \
                yr[ab.y] = vb + (acc ? yr[ab.y] : 0.0f);                                                    \
            yr[ab.x] = va + (acc ? yr[ab.x] : 0.0f);                                                        \
        }                                                                                                   \
    }

/* The GEMMs' epilogue for one row of x: outputs j0 .. j0 + N - 1 (those < rows) of y row yr = a (floatN), + bias
 * with GC_MM_BIAS0, + yr with GC_MM_ACCUMULATE; N at a time where all N are inside. */
#define Q8_GEMM_STORE(N, a, yr, j0, rows, bias, flags)                                                      \
    do {                                                                                                    \
        const bool add_ = (flags) & GC_MM_ACCUMULATE, bias_ = (flags) & GC_MM_BIAS0;                        \
        if ((j0) + N <= (rows)) { /* the same sums as the scalar tail */                                    \
            vstore##N((a) + (bias_ ? vload##N(0, (bias) + (j0)) : 0.0f) + (add_ ? vload##N(0, (yr) + (j0)) : 0.0f), \
                      0, (yr) + (j0));                                                                      \
        } else {                                                                                            \
            float v_[N];                                                                                    \
            vstore##N((a), 0, v_);                                                                          \
            for (uint e_ = 0; e_ < N && (j0) + e_ < (rows); e_++)                                           \
                (yr)[(j0) + e_] = v_[e_] + (bias_ ? (bias)[(j0) + e_] : 0.0f) + (add_ ? (yr)[(j0) + e_] : 0.0f); \
        }                                                                                                   \
    } while (0)

/* wt[kk][j] = s q and mt[kk / 16][j] = m of W rows [r0, r0 + GEMM_BN) x cols [k0, k0 + GEMM_KB) (zeros
 * outside W), shared by the work-items of the group (work-item t takes rows t, t + group size, ...). */
#define GEMM_Q8_TILE(T)                                                                                     \
    inline void q8_tile_##T(__global const uchar *w, ulong row_bytes, uint rows, uint cols, uint r0, uint k0, \
                            __local float (*wt)[GEMM_BN], __local float (*mt)[GEMM_BN], uint t) {           \
        for (uint j = t; j < GEMM_BN; j += GEMM_WN * GEMM_WM) {                                             \
            gc_row wr = w + min(r0 + j, rows - 1) * row_bytes;                                              \
            for (uint gg = 0; gg < GEMM_KB / 16; gg++) {                                                    \
                const uint c = k0 + 16 * gg;                                                                \
                float v[16];                                                                                \
                float m = 0.0f;                                                                             \
                if (r0 + j < rows && c < cols) {                                                            \
                    float16 q;                                                                              \
                    const float2 sm = gc_group_##T(wr + c / GC_BLOCK_##T * GC_BYTES_##T,                    \
                                                   c % GC_BLOCK_##T / 16, &q);                              \
                    vstore16(q * sm.x, 0, v);                                                               \
                    m = sm.y;                                                                               \
                } else {                                                                                    \
                    vstore16((float16)0.0f, 0, v);                                                          \
                }                                                                                           \
                for (uint e = 0; e < 16; e++)                                                               \
                    wt[16 * gg + e][j] = v[e];                                                              \
                mt[gg][j] = m;                                                                              \
            }                                                                                               \
        }                                                                                                   \
    }

#define GEMM_Q8(T)                                                                                          \
    GEMM_Q8_TILE(T)                                                                                         \
    __kernel __attribute__((reqd_work_group_size(GEMM_WN, GEMM_WM, 1))) void gemm_q8_##T(                   \
        __global const uchar *w, const ulong row_bytes, __global const float *xq, __global const float2 *xs, \
        __global float *y, const ulong y_off, __global const float *bias, const uint rows, const uint cols, \
        const uint n, const uint flags) {                                                                   \
        __local float wt[GEMM_KB][GEMM_BN];                                                                 \
        __local float mt[GEMM_KB / 16][GEMM_BN];                                                            \
        const uint wx = get_local_id(0), wy = get_local_id(1), t = wy * GEMM_WN + wx;                       \
        const uint2 tc = gc_gemm_group(); /* (W row tile, x row chunk) */                                 \
        const uint r0 = tc.x * GEMM_BN, j0 = r0 + wx * 16, i0 = (tc.y * GEMM_WM + wy) * GEMM_TM;            \
        __global const float *qr[GEMM_TM];                                                                  \
        __global const float2 *sr[GEMM_TM];                                                                 \
        float16 acc[GEMM_TM];                                                                               \
        GC_UNROLL for (uint i = 0; i < GEMM_TM; i++) {                                                      \
            const ulong r = min(i0 + i, n - 1);                                                             \
            qr[i] = xq + r * cols;                                                                          \
            sr[i] = xs + r * (cols / 16);                                                                   \
            acc[i] = 0.0f;                                                                                  \
        }                                                                                                   \
        for (uint k0 = 0; k0 < cols; k0 += GEMM_KB) {                                                       \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
            q8_tile_##T(w, row_bytes, rows, cols, r0, k0, wt, mt, t);                                       \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
            const uint gn = i0 < n ? min((uint)GEMM_KB, cols - k0) / 16 : 0; /* idle past n */             \
            float16 a[GEMM_TM]; /* not live across barriers, so PoCL keeps it in registers */               \
            GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                                    \
                a[i] = acc[i];                                                                              \
            for (uint gg = 0; gg < gn; gg++) {                                                              \
                const uint g = k0 / 16 + gg;                                                                \
                for (uint e = 0; e < 16; e++) {                                                             \
                    const float16 wv = vload16(0, &wt[16 * gg + e][wx * 16]);                               \
                    GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                            \
                        a[i] = fma((float16)(qr[i][16 * g + e]), wv, a[i]);                                 \
                }                                                                                           \
                if (GC_MIN_##T) { /* the others' m is 0: fma(-t, 0, a) = a */                              \
                    const float16 mv = vload16(0, &mt[gg][wx * 16]);                                        \
                    GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                            \
                        a[i] = fma((float16)(-sr[i][g].y), mv, a[i]);                                       \
                }                                                                                           \
            }                                                                                               \
            GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                                    \
                acc[i] = a[i];                                                                              \
        }                                                                                                   \
        for (uint i = 0; i < GEMM_TM && i0 + i < n; i++) {                                                  \
            __global float *yr = y + y_off + (ulong)(i0 + i) * rows;                                        \
            Q8_GEMM_STORE(16, acc[i], yr, j0, rows, bias, flags);                                           \
        }                                                                                                   \
    }

/* ---- integer GEMM tile (Q8_GEMM_INT=1) -------------------------------------------------------------------
 * The W tile holds the integer quants of GEMM_BN8 = 8 GEMM_WN rows, interleaved by four columns: for group gg
 * (16 columns) and step s (columns 4 s .. 4 s + 3), wq[gg][s][j] is row j's four quants as one int, so eight
 * rows' steps are one int8 and one 4-byte load of x meets all eight: q8_dot4x8 gives lane j = sc_j sum over
 * the four of q x (x86: maddubs and madd; cl_khr_integer_dot_product: dot(char4, char4); else 16-bit
 * products, all exact). A work-item adds these in integers over a block (32 or 256 values, all groups' sc
 * applied), then scales the block's eight lanes once by d_w d_x into float lanes, and subtracts the min
 * terms m t per group in float: ggml's vec_dot formula per output, as the GEMV computes it, so the activation
 * quants are multiplied as integers here too. */
#ifndef Q8_GEMM_INT
#define Q8_GEMM_INT 0
#endif
#define GEMM_BN8 (8 * GEMM_WN)

#if Q8_DOT_PATH == 2
/* |w| bytes (x86: maddubs takes an unsigned operand) */
inline int8 q8_abs4x8(int8 w) {
    const q8_char32 v = __builtin_astype(w, q8_char32);
    return __builtin_astype(__builtin_ia32_psignb256(v, v), int8);
}
inline int8 q8_dot4x8(int8 w, int8 wa, int x, int8 sc, bool is_unsigned) {
    q8_char32 xv = __builtin_astype((int8)x, q8_char32);
    q8_char32 wv = __builtin_astype(is_unsigned ? w : wa, q8_char32);
    if (!is_unsigned)
        xv = __builtin_ia32_psignb256(xv, __builtin_astype(w, q8_char32));
    const short16 pairs = __builtin_ia32_pmaddubsw256(wv, xv);
    return __builtin_ia32_pmaddwd256(pairs, as_short16(sc));
}
#elif Q8_DOT_PATH == 1
inline int8 q8_abs4x8(int8 w) { return w; }
inline int8 q8_dot4x8(int8 w, int8 wa, int x, int8 sc, bool is_unsigned) {
    (void)wa, (void)is_unsigned;
    const char4 xv = as_char4(x);
    const int8 lanes = (int8)(dot(as_char4(w.s0), xv), dot(as_char4(w.s1), xv), dot(as_char4(w.s2), xv),
                              dot(as_char4(w.s3), xv), dot(as_char4(w.s4), xv), dot(as_char4(w.s5), xv),
                              dot(as_char4(w.s6), xv), dot(as_char4(w.s7), xv));
    return lanes * convert_int8(as_short16(sc).even);
}
#else
inline int8 q8_abs4x8(int8 w) { return w; }
inline int4 q8_dot4x4(int4 w, short16 x) {
    const short16 p = convert_short16(as_char16(w)) * x;
    const short8 pairs = p.even + p.odd; /* at most 2 * 128 * 127: fits */
    return convert_int4(pairs.even) + convert_int4(pairs.odd);
}
inline int8 q8_dot4x8(int8 w, int8 wa, int x, int8 sc, bool is_unsigned) {
    (void)wa, (void)is_unsigned;
    const short16 xv = convert_short16(as_char16((int4)x));
    return (int8)(q8_dot4x4(w.lo, xv), q8_dot4x4(w.hi, xv)) * convert_int8(as_short16(sc).even);
}
#endif

/* The tile of W rows [r0, r0 + GEMM_BN8) x columns [k0, k0 + GEMM_KBI) (zeros outside W): wq as above,
 * wsc[gg][j] = (short2)(sc, sc) of row j's group gg, wm[gg][j] = its m, wd[gg][j] its block's d. */
#define GEMM_KBI(T) ((GEMM_KB + GC_BLOCK_##T - 1) / GC_BLOCK_##T * GC_BLOCK_##T)
#define GEMM_I8_TILE(T)                                                                                     \
    inline void q8_itile_##T(__global const uchar *w, ulong row_bytes, uint rows, uint cols, uint r0, uint k0, \
                             __local int (*wq)[4][GEMM_BN8], __local int (*wsc)[GEMM_BN8],                  \
                             __local float (*wm)[GEMM_BN8], __local float (*wd)[GEMM_BN8], uint t) {        \
        for (uint j = t; j < GEMM_BN8; j += GEMM_WN * GEMM_WM) {                                            \
            gc_row wr = w + min(r0 + j, rows - 1) * row_bytes;                                              \
            for (uint gg = 0; gg < GEMM_KBI(T) / 16; gg++) {                                                \
                const uint c = k0 + 16 * gg;                                                                \
                int4 q = 0;                                                                                 \
                int2 sm = 0;                                                                                \
                float2 dm = 0.0f;                                                                           \
                if (r0 + j < rows && c < cols) {                                                            \
                    char16 qc;                                                                              \
                    gc_row blk = wr + c / GC_BLOCK_##T * GC_BYTES_##T;                                      \
                    sm = gc_iq_##T(blk, c % GC_BLOCK_##T / 16, &qc);                                        \
                    dm = gc_dm_##T(blk);                                                                    \
                    q = as_int4(qc);                                                                        \
                }                                                                                           \
                wq[gg][0][j] = q.x, wq[gg][1][j] = q.y, wq[gg][2][j] = q.z, wq[gg][3][j] = q.w;             \
                wsc[gg][j] = as_int((short2)((short)sm.x));                                                 \
                wm[gg][j] = dm.y * (float)sm.y;                                                             \
                wd[gg][j] = dm.x;                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

#define GEMM_Q8_INT(T)                                                                                      \
    GEMM_I8_TILE(T)                                                                                         \
    __kernel __attribute__((reqd_work_group_size(GEMM_WN, GEMM_WM, 1))) void gemm_q8_##T(                   \
        __global const uchar *w, const ulong row_bytes, __global const char *xi, __global const float2 *xs, \
        __global float *y, const ulong y_off, __global const float *bias, const uint rows, const uint cols, \
        const uint n, const uint flags) {                                                                   \
        __local int wq[GEMM_KBI(T) / 16][4][GEMM_BN8];                                                      \
        __local int wsc[GEMM_KBI(T) / 16][GEMM_BN8];                                                        \
        __local float wm[GEMM_KBI(T) / 16][GEMM_BN8];                                                       \
        __local float wd[GEMM_KBI(T) / 16][GEMM_BN8];                                                       \
        const uint wx = get_local_id(0), wy = get_local_id(1), t = wy * GEMM_WN + wx;                       \
        const uint2 tc = gc_gemm_group(); /* (W row tile, x row chunk) */                                 \
        const uint r0 = tc.x * GEMM_BN8, j0 = r0 + wx * 8, i0 = (tc.y * GEMM_WM + wy) * GEMM_TM;            \
        const uint gpb = GC_BLOCK_##T / 16;                                                                 \
        __global const int *qr[GEMM_TM];                                                                    \
        __global const float2 *sr[GEMM_TM];                                                                 \
        float8 acc[GEMM_TM];                                                                                \
        GC_UNROLL for (uint i = 0; i < GEMM_TM; i++) {                                                      \
            const ulong r = min(i0 + i, n - 1);                                                             \
            qr[i] = (__global const int *)(xi + r * cols); /* 4-byte aligned: cols % 32 == 0 */             \
            sr[i] = xs + r * (cols / 16);                                                                   \
            acc[i] = 0.0f;                                                                                  \
        }                                                                                                   \
        for (uint k0 = 0; k0 < cols; k0 += GEMM_KBI(T)) {                                                   \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
            q8_itile_##T(w, row_bytes, rows, cols, r0, k0, wq, wsc, wm, wd, t);                             \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
            const uint gn = i0 < n ? min((uint)GEMM_KBI(T), cols - k0) / 16 : 0; /* idle past n */         \
            float8 a[GEMM_TM]; /* not live across barriers, so PoCL keeps it in registers */                \
            int8 is[GEMM_TM];                                                                               \
            GC_UNROLL for (uint i = 0; i < GEMM_TM; i++) {                                                  \
                a[i] = acc[i];                                                                              \
                is[i] = 0;                                                                                  \
            }                                                                                               \
            for (uint gg = 0; gg < gn; gg++) {                                                              \
                const uint g = k0 / 16 + gg;                                                                \
                const int8 sc = vload8(0, &wsc[gg][wx * 8]);                                                \
                GC_UNROLL for (uint s = 0; s < 4; s++) {                                                    \
                    const int8 wv = vload8(0, &wq[gg][s][wx * 8]), wa = q8_abs4x8(wv);                      \
                    GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                            \
                        is[i] += q8_dot4x8(wv, wa, qr[i][4 * g + s], sc, GC_MIN_##T);                       \
                }                                                                                           \
                if (GC_MIN_##T) {                                                                           \
                    const float8 mv = vload8(0, &wm[gg][wx * 8]);                                           \
                    GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                            \
                        a[i] = fma((float8)(-sr[i][g].y), mv, a[i]);                                        \
                }                                                                                           \
                if (gg % gpb == gpb - 1) { /* the block's end: scale its integer sums once */               \
                    const float8 dv = vload8(0, &wd[gg][wx * 8]);                                           \
                    GC_UNROLL for (uint i = 0; i < GEMM_TM; i++) {                                          \
                        a[i] = fma(convert_float8(is[i]), dv * sr[i][g].x, a[i]);                           \
                        is[i] = 0;                                                                          \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
            GC_UNROLL for (uint i = 0; i < GEMM_TM; i++)                                                    \
                acc[i] = a[i];                                                                              \
        }                                                                                                   \
        for (uint i = 0; i < GEMM_TM && i0 + i < n; i++) {                                                  \
            __global float *yr = y + y_off + (ulong)(i0 + i) * rows;                                        \
            Q8_GEMM_STORE(8, acc[i], yr, j0, rows, bias, flags);                                            \
        }                                                                                                   \
    }

#ifdef GC_WTYPE
GC_INSTANTIATE(Q8_DOTS, GC_WTYPE)
GC_INSTANTIATE(GEMV_Q8, GC_WTYPE)
#if Q8_GEMM_INT
GC_INSTANTIATE(GEMM_Q8_INT, GC_WTYPE)
#else
GC_INSTANTIATE(GEMM_Q8, GC_WTYPE)
#endif
#endif
