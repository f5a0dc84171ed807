/* common.cl - helpers prepended to every program (ops.c builds cl/common.cl followed by cl/<family>.cl).
 *
 * Weight rows are addressed as bytes (row = base + r * row_bytes) so one kernel body serves every dtype t:
 * f32, f16 (storage only, vload_half), bf16 (upper half of an f32) and every ggml block type of util/types.h
 * (q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl; layouts in src/util/quant.c). Each
 * dtype is described once:
 *   GC_BLOCK_<t>, GC_BYTES_<t>      elements and bytes of a block (32 elements for the float types)
 *   gc_group_<t>(block, gi, &q) -> (s, m)
 *                                   group gi (0 .. GC_BLOCK_<t> / 16 - 1) of a block: its 16 elements are
 *                                   y = s * q - m, q integer-valued for block types; s and m are computed
 *                                   with the very operations util/quant.c uses (q4_k's s = d * sc and
 *                                   m = dmin * min; q4_1's m is minus the block's min, since a - (-b) rounds
 *                                   as a + b). A K-quant's scales cover 16 (q2_k, q3_k, q6_k) or 32 elements
 *                                   (q4_k, q5_k), so a group never straddles two. Block types derive it from
 *                                   their integer form gc_iq_<t> / gc_dm_<t> (below), which the 8-bit
 *                                   activation GEMV of matmul_q8.cl reads directly.
 * and read through
 *   ld1_<t>(row, i)                 element i of the row as f32
 *   ld16_<t>(row, i)                elements i .. i+15 as float16 (i a multiple of 16): s * q, rounded, then
 *                                   - m, so it equals gc_row_to_f32 bit for bit
 * A dot product instead walks whole blocks and calls gc_group with constant gi in an unrolled loop, so a
 * block's scales decode once into registers and the quants feed fma(q, s, -m) directly: no dequantised copy.
 *
 * Programs that read weights are built per weight dtype with -DGC_WTYPE=<t> (ops build them on demand and
 * key their cache by the options), so a model compiles only the dtypes it has: GC_INSTANTIATE(X, GC_WTYPE)
 * instantiates X for it. */

/* Full unrolling of loops over register arrays (usable inside macros): without it PoCL's LLVM keeps such
 * arrays in memory. */
#define GC_UNROLL _Pragma("unroll")

/* X(T) with T macro-expanded first (X pastes T into names, which would otherwise take it literally). */
#define GC_INSTANTIATE(X, T) X(T)

typedef __global const uchar *gc_row;

/* ---- float types ---------------------------------------------------------------------------------------- */

/* "Blocks" of 32 for the float types: a dot product then takes two groups per step, as it did before block
 * types came; the rest of a row that is not a multiple of 32 goes through ld1. */
#define GC_BLOCK_f32 32
#define GC_BYTES_f32 128
#define GC_BLOCK_f16 32
#define GC_BYTES_f16 64
#define GC_BLOCK_bf16 32
#define GC_BYTES_bf16 64

inline float ld1_f32(gc_row row, uint i) { return ((__global const float *)row)[i]; }
inline float ld1_f16(gc_row row, uint i) { return vload_half(i, (__global const half *)row); }
inline float ld1_bf16(gc_row row, uint i) { return as_float((uint)((__global const ushort *)row)[i] << 16); }

inline float2 gc_group_f32(gc_row b, uint gi, float16 *q) {
    *q = vload16(gi, (__global const float *)b);
    return (float2)(1.0f, 0.0f);
}
inline float2 gc_group_f16(gc_row b, uint gi, float16 *q) {
    *q = vload_half16(gi, (__global const half *)b);
    return (float2)(1.0f, 0.0f);
}
inline float2 gc_group_bf16(gc_row b, uint gi, float16 *q) {
    *q = as_float16(convert_uint16(vload16(gi, (__global const ushort *)b)) << 16);
    return (float2)(1.0f, 0.0f);
}

/* ---- block types ---------------------------------------------------------------------------------------- */

/* The four f16 values at p (2-byte aligned, all four inside the block) as f32: PoCL converts a half4 with one
 * F16C instruction, but a half or a half2 with some fifteen integer instructions (a third of a q4_1 block's
 * GEMV work), so scales are read as lanes of a half4 wherever they sit in the block. */
inline float4 gc_half4(gc_row p) { return vload_half4(0, (__global const half *)p); }

/* The 16 bytes at p (any alignment) in one load: PoCL's vload16 of bytes reads them one at a time, which LLVM
 * merges into 2-byte loads at best (eight inserts per block); a packed struct's member is one unaligned load. */
typedef struct __attribute__((packed)) gc_bytes16 {
    uchar16 v;
} gc_bytes16;
inline uchar16 gc_load16(gc_row p) { return ((__global const gc_bytes16 *)p)->v; }

/* (p[e] >> shift) & mask for the 16 bytes at p. Quants whose bits lie in two places are put together in
 * bytes. */
inline uchar16 gc_bits8(gc_row p, uint shift, uint mask) { return (gc_load16(p) >> (uchar)shift) & (uchar)mask; }

/* All ones in lane e where bit e of the 16 bits (h[2 pair] | h[2 pair + 1] << 8) is set, else 0: each byte
 * spread over 8 lanes by one byte shuffle, its other bits set, compared with all ones (ggml's
 * bytes_from_bits_32; AVX2 has no per-lane byte shifts). */
inline char16 gc_bit_mask16(uchar16 h, uint pair) {
    const uchar16 spread = pair ? shuffle(h, (uchar16)(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3))
                                : shuffle(h, (uchar16)(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    const uchar16 others = (uchar16)(0xfe, 0xfd, 0xfb, 0xf7, 0xef, 0xdf, 0xbf, 0x7f, 0xfe, 0xfd, 0xfb, 0xf7, 0xef,
                                     0xdf, 0xbf, 0x7f);
    return (spread | others) == (uchar16)0xff;
}

/* Every block type is decoded once, in integer form (the GEMV of matmul_q8.cl multiplies these quants with 8-bit
 * activations in integers; gc_group_<t> below derives the float form from it):
 *   gc_iq_<t>(block, gi, &q) -> int2 (sc, mn)   group gi's 16 quants as integers q and its integer scale and
 *                                              min multipliers
 *   gc_dm_<t>(block) -> float2 (d, dmin)        the block's float factors: s = d * sc and m = dmin * mn
 *   GC_MIN_<t>                                  1 where m can be nonzero (q4_1, q5_1, q2_k, q4_k, q5_k)
 *   GC_PAIRED_<t>                               1 where groups 2i and 2i + 1 share sc and mn (the blocks of
 *                                              32, q4_k, q5_k): their integer products add before scaling
 * Legacy blocks of 32 hold groups 0 and 1; element 16 gi + e of a nibble block is nibble gi of qs[e]. */
#define GC_BLOCK_q8_0 32
#define GC_BYTES_q8_0 34
#define GC_PAIRED_q8_0 1
#define GC_MIN_q8_0 0
inline int2 gc_iq_q8_0(gc_row b, uint gi, char16 *q) {
    *q = as_char16(gc_load16(b + 2 + 16 * gi));
    return (int2)(1, 0);
}
inline float2 gc_dm_q8_0(gc_row b) { return (float2)(gc_half4(b).x, 0.0f); }
#define GC_BLOCK_q4_0 32
#define GC_BYTES_q4_0 18
#define GC_PAIRED_q4_0 1
#define GC_MIN_q4_0 0
inline int2 gc_iq_q4_0(gc_row b, uint gi, char16 *q) {
    *q = as_char16(gc_bits8(b + 2, 4 * gi, 15)) - (char)8;
    return (int2)(1, 0);
}
inline float2 gc_dm_q4_0(gc_row b) { return (float2)(gc_half4(b).x, 0.0f); }
/* q4_1's m is minus the block's min (dmin = -min, mn = 1), since a - (-b) rounds as a + b. */
#define GC_BLOCK_q4_1 32
#define GC_BYTES_q4_1 20
#define GC_PAIRED_q4_1 1
#define GC_MIN_q4_1 1
inline int2 gc_iq_q4_1(gc_row b, uint gi, char16 *q) {
    *q = as_char16(gc_bits8(b + 4, 4 * gi, 15));
    return (int2)(1, 1);
}
inline float2 gc_dm_q4_1(gc_row b) {
    const float2 dm = gc_half4(b).xy;
    return (float2)(dm.x, -dm.y);
}
/* q5_0 / q5_1 (has_min): the fifth bit of element j of a block is bit j of the little-endian u32 qh. */
inline int2 gc_iq_q5(gc_row b, uint gi, char16 *q, bool has_min) {
    gc_row qh = b + (has_min ? 4 : 2);
    const uchar16 h = gc_load16(qh); /* a vector, so that its bytes spread by one byte shuffle (a scalar
                                        load would go through integer registers, byte by byte) */
    const char16 nib = as_char16(gc_bits8(qh + 4, 4 * gi, 15)), set = gc_bit_mask16(h, gi);
    /* q5_0's q - 16 is the nibble with the high four bits all set where the fifth bit is clear */
    *q = has_min ? nib | (set & (char)16) : nib | (~set & (char)0xf0);
    return (int2)(1, has_min ? 1 : 0);
}
#define GC_BLOCK_q5_0 32
#define GC_BYTES_q5_0 22
#define GC_PAIRED_q5_0 1
#define GC_MIN_q5_0 0
inline int2 gc_iq_q5_0(gc_row b, uint gi, char16 *q) { return gc_iq_q5(b, gi, q, false); }
inline float2 gc_dm_q5_0(gc_row b) { return (float2)(gc_half4(b).x, 0.0f); }
#define GC_BLOCK_q5_1 32
#define GC_BYTES_q5_1 24
#define GC_PAIRED_q5_1 1
#define GC_MIN_q5_1 1
inline int2 gc_iq_q5_1(gc_row b, uint gi, char16 *q) { return gc_iq_q5(b, gi, q, true); }
inline float2 gc_dm_q5_1(gc_row b) { return gc_dm_q4_1(b); }
#define GC_BLOCK_iq4_nl 32
#define GC_BYTES_iq4_nl 18
#define GC_PAIRED_iq4_nl 1
#define GC_MIN_iq4_nl 0
inline int2 gc_iq_iq4_nl(gc_row b, uint gi, char16 *q) {
    const char16 grid = (char16)(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
    *q = shuffle(grid, gc_bits8(b + 2, 4 * gi, 15));
    return (int2)(1, 0);
}
inline float2 gc_dm_iq4_nl(gc_row b) { return (float2)(gc_half4(b).x, 0.0f); }

/* K-quants: superblocks of 256 = 16 groups (util/quant.c's loops unrolled): q2_k/q3_k group gi is (half
 * gi / 8, shift 2 * (gi % 8 / 2), sub-block gi % 2) with scale gi; q4_k/q5_k group gi is nibble gi / 2 % 2 of
 * qs[32 * (gi / 4) + 16 * (gi % 2) ..] with scale and min gi / 2; q6_k group gi is quarter gi % 8 / 2 of the
 * 128 (side) gi / 8, l = 16 * (gi % 2) .., with scale 8 * side + gi % 2 + 2 * quarter. */
#define GC_BLOCK_q2_k 256
#define GC_BYTES_q2_k 84
#define GC_PAIRED_q2_k 0
#define GC_MIN_q2_k 1
inline int2 gc_iq_q2_k(gc_row b, uint gi, char16 *q) {
    const int sc = b[gi];
    *q = as_char16(gc_bits8(b + 16 + 32 * (gi / 8) + 16 * (gi % 2), 2 * (gi % 8 / 2), 3));
    return (int2)(sc & 15, sc >> 4);
}
inline float2 gc_dm_q2_k(gc_row b) { return gc_half4(b + 76).zw; /* d, dmin: the last 4 bytes */ }
#define GC_BLOCK_q3_k 256
#define GC_BYTES_q3_k 110
#define GC_PAIRED_q3_k 0
#define GC_MIN_q3_k 0
inline int2 gc_iq_q3_k(gc_row b, uint gi, char16 *q) {
    gc_row packed = b + 96;
    const uint lo = gi < 8 ? packed[gi] & 15 : packed[gi - 8] >> 4, hi = (packed[8 + gi % 4] >> (2 * (gi / 4))) & 3;
    *q = as_char16(gc_bits8(b + 32 + 32 * (gi / 8) + 16 * (gi % 2), 2 * (gi % 8 / 2), 3) |
                   gc_bits8(b + 16 * (gi % 2), gi / 2, 1) << (uchar)2) - (char)4; /* third bit set: no -4 */
    return (int2)((int)(lo | hi << 4) - 32, 0);
}
inline float2 gc_dm_q3_k(gc_row b) { return (float2)(gc_half4(b + 102).w, 0.0f); }
/* Scale and min j (0..7) of q4_k / q5_k, 6 bits each in 12 bytes (gc_k4_scale_min in util/quant.c). */
inline uint2 gc_k4_scale_min(gc_row s, uint j) {
    if (j < 4)
        return (uint2)(s[j] & 63, s[j + 4] & 63);
    return (uint2)((s[j + 4] & 15) | (s[j - 4] >> 6) << 4, (s[j + 4] >> 4) | (s[j] >> 6) << 4);
}
/* q4_k, and q5_k (five) with fifth bits: bit j = gi / 2 of qh[16 * (gi % 2) + e]. */
inline int2 gc_iq_q45_k(gc_row b, uint gi, char16 *q, bool five) {
    const uint j = gi / 2;
    const uchar16 nib = gc_bits8(b + (five ? 48 : 16) + 32 * (gi / 4) + 16 * (gi % 2), 4 * (j % 2), 15);
    *q = as_char16(five ? nib | gc_bits8(b + 16 + 16 * (gi % 2), j, 1) << (uchar)4 : nib);
    return as_int2(gc_k4_scale_min(b + 4, j));
}
#define GC_BLOCK_q4_k 256
#define GC_BYTES_q4_k 144
#define GC_PAIRED_q4_k 1
#define GC_MIN_q4_k 1
inline int2 gc_iq_q4_k(gc_row b, uint gi, char16 *q) { return gc_iq_q45_k(b, gi, q, false); }
inline float2 gc_dm_q4_k(gc_row b) { return gc_half4(b).xy; }
#define GC_BLOCK_q5_k 256
#define GC_BYTES_q5_k 176
#define GC_PAIRED_q5_k 1
#define GC_MIN_q5_k 1
inline int2 gc_iq_q5_k(gc_row b, uint gi, char16 *q) { return gc_iq_q45_k(b, gi, q, true); }
inline float2 gc_dm_q5_k(gc_row b) { return gc_half4(b).xy; }
#define GC_BLOCK_q6_k 256
#define GC_BYTES_q6_k 210
#define GC_PAIRED_q6_k 0
#define GC_MIN_q6_k 0
inline int2 gc_iq_q6_k(gc_row b, uint gi, char16 *q) {
    const uint side = gi / 8, quarter = gi % 8 / 2, part = gi % 2;
    *q = as_char16(gc_bits8(b + 64 * side + 32 * (quarter % 2) + 16 * part, 4 * (quarter / 2), 15) |
                   gc_bits8(b + 128 + 32 * side + 16 * part, 2 * quarter, 3) << (uchar)4) - (char)32;
    return (int2)(((__global const char *)b)[192 + 8 * side + part + 2 * quarter], 0);
}
inline float2 gc_dm_q6_k(gc_row b) { return (float2)(gc_half4(b + 202).w, 0.0f); }

/* The float form of a group from the integer one: s = d * sc and m = dmin * mn, the very operations
 * util/quant.c uses (an integer converted to float and one product; sc = 1 and mn = 0 give d and 0 exactly). */
#define GC_GROUP_FROM_INT(T)                                                                                \
    inline float2 gc_group_##T(gc_row b, uint gi, float16 *q) {                                             \
        char16 qi;                                                                                          \
        const int2 sm = gc_iq_##T(b, gi, &qi);                                                              \
        const float2 dm = gc_dm_##T(b);                                                                     \
        *q = convert_float16(qi);                                                                           \
        return (float2)(dm.x * (float)sm.x, dm.y * (float)sm.y);                                            \
    }
GC_GROUP_FROM_INT(q8_0)
GC_GROUP_FROM_INT(q4_0)
GC_GROUP_FROM_INT(q4_1)
GC_GROUP_FROM_INT(q5_0)
GC_GROUP_FROM_INT(q5_1)
GC_GROUP_FROM_INT(iq4_nl)
GC_GROUP_FROM_INT(q2_k)
GC_GROUP_FROM_INT(q3_k)
GC_GROUP_FROM_INT(q4_k)
GC_GROUP_FROM_INT(q5_k)
GC_GROUP_FROM_INT(q6_k)

/* ---- loaders -------------------------------------------------------------------------------------------- */

/* ld16 for every dtype from its group decoder: s * q rounds, then - m, as util/quant.c does (no contraction
 * into an fma); for the float types s = 1 and m = 0 fold away. */
#define GC_LD16(T)                                                                                          \
    inline float16 ld16_##T(gc_row row, uint i) {                                                           \
        _Pragma("OPENCL FP_CONTRACT OFF")                                                                   \
        float16 q;                                                                                          \
        const float2 sm = gc_group_##T(row + i / GC_BLOCK_##T * GC_BYTES_##T, i % GC_BLOCK_##T / 16, &q);    \
        return q * sm.x - sm.y;                                                                             \
    }
/* ld1 of a block type (ragged edges only, which block rows never have) picks from ld16. */
#define GC_LD1_FROM_16(T)                                                                                   \
    inline float ld1_##T(gc_row row, uint i) {                                                              \
        float v[16];                                                                                        \
        vstore16(ld16_##T(row, i & ~15u), 0, v);                                                            \
        return v[i % 16];                                                                                   \
    }
#define GC_BLOCK_LOADERS(T) GC_LD16(T) GC_LD1_FROM_16(T)
GC_LD16(f32)
GC_LD16(f16)
GC_LD16(bf16)
GC_BLOCK_LOADERS(q8_0)
GC_BLOCK_LOADERS(q4_0)
GC_BLOCK_LOADERS(q4_1)
GC_BLOCK_LOADERS(q5_0)
GC_BLOCK_LOADERS(q5_1)
GC_BLOCK_LOADERS(q2_k)
GC_BLOCK_LOADERS(q3_k)
GC_BLOCK_LOADERS(q4_k)
GC_BLOCK_LOADERS(q5_k)
GC_BLOCK_LOADERS(q6_k)
GC_BLOCK_LOADERS(iq4_nl)

/* ---- reductions and shared math ------------------------------------------------------------------------ */

inline float gc_hsum8(float8 v) {
    float4 s = v.lo + v.hi;
    return (s.x + s.y) + (s.z + s.w);
}

inline float gc_hsum16(float16 v) { return gc_hsum8(v.lo + v.hi); }

/* silu(g) = g / (1 + exp(-g)), as llama2.c computes it (swiglu and the fused GLU GEMV). */
inline float gc_silu(const float g) { return g * (1.0f / (1.0f + exp(-g))); }

/* RoPE (rope.cl and the GEMV epilogue): pair p < head_dim / 2 of a head is elements (2p, 2p + 1) for layout 0
 * (ADJACENT) and (p, p + head_dim / 2) for layout 1 (HALF); it turns by angle pos * inv_freq[p]. */
inline uint2 gc_rope_pair(const uint p, const uint head_dim, const uint layout) {
    return layout == 0 ? (uint2)(2 * p, 2 * p + 1) : (uint2)(p, p + head_dim / 2);
}
inline float gc_rope_sincos(const int pos, const float inv_freq, float *cos_out) {
    return sincos((float)pos * inv_freq, cos_out);
}
inline float2 gc_rope_turn(const float x0, const float x1, const float c, const float s) {
    return (float2)(x0 * c - x1 * s, x0 * s + x1 * c);
}

/* The flags of matmul.cl's and matmul_q8.cl's GEMV and GEMM kernels (src/ops/ops_internal.h has the same). */
#define GC_MM_ACCUMULATE 1u /* y += instead of y = */
#define GC_MM_GLU 2u        /* GEMV: y0 = silu(x W0^T) * (x W1^T) (rows0 == rows1; output 1 unused) */
#define GC_MM_BIAS0 4u      /* output o adds its bias (GC_MM_BIAS0 << o) */
#define GC_MM_ROPE0 32u     /* GEMV: output o's rows are heads of head_dim, rotated by position (GC_MM_ROPE0 << o) */

/* The (W row tile, x row chunk) a GEMM work-group of matmul.cl / matmul_q8.cl takes (launch: W tiles along
 * dimension 0, x chunks along 1). Groups are handed out in linear order (dimension 0 fastest), and CPU runtimes
 * split that order into contiguous runs per thread: taken as laid out, one thread would get every group of the
 * first x chunk, and a partly filled last chunk (n not a multiple of the chunk) would leave the other thread
 * idle. Renumbered so that consecutive groups walk the x chunks of one W tile, every run holds all chunks. */
inline uint2 gc_gemm_group(void) {
    const uint chunks = get_num_groups(1), g = get_group_id(0) + get_num_groups(0) * get_group_id(1);
    return (uint2)(g / chunks, g % chunks);
}

/* Rows a, b of a GEMV output that work-item pair j computes (matmul.cl, matmul_q8.cl): a RoPE pair of one
 * head when the output is roped, else two neighbours (b = a when rows is odd and j the last pair). */
inline uint2 gc_gemv_pair_rows(uint j, uint rows, bool rope, uint head_dim, uint layout) {
    if (rope)
        return (uint2)(j / (head_dim / 2) * head_dim) + gc_rope_pair(j % (head_dim / 2), head_dim, layout);
    return (uint2)(2 * j, min(2 * j + 1, rows - 1));
}

/* Values a, b of GEMV pair j of a roped output, turned for position pos (the GEMVs' epilogue). */
inline float2 gc_gemv_rope(float a, float b, int pos, __global const float *inv_freq, uint j, uint head_dim) {
    float c;
    const float s = gc_rope_sincos(pos, inv_freq[j % (head_dim / 2)], &c);
    return gc_rope_turn(a, b, c, s);
}

/* Sum of v over a work-group of n work-items (n a power of two), returned to every work-item. scratch holds
 * n values; it is free again on return. One definition per element type: gc_group_sum (float) and
 * gc_group_sum_u (uint). */
#define GC_DEFINE_GROUP_SUM(name, T)                                       \
    inline T name(T v, __local T *scratch, uint lid, uint n) {             \
        scratch[lid] = v;                                                  \
        barrier(CLK_LOCAL_MEM_FENCE);                                      \
        for (uint s = n / 2; s > 0; s /= 2) {                              \
            if (lid < s)                                                   \
                scratch[lid] += scratch[lid + s];                          \
            barrier(CLK_LOCAL_MEM_FENCE);                                  \
        }                                                                  \
        const T total = scratch[0];                                        \
        barrier(CLK_LOCAL_MEM_FENCE);                                      \
        return total;                                                      \
    }
GC_DEFINE_GROUP_SUM(gc_group_sum, float)
GC_DEFINE_GROUP_SUM(gc_group_sum_u, uint)

/* RMS normalisation's factor 1 / sqrt(sum(x^2) / dim + eps) of row xr (dim floats) over a work-group of n
 * work-items, each summing x[j]^2 over j = lid, lid + n, ... before gc_group_sum: norm.cl's rmsnorm and the
 * fused rmsnorm_q8_f32 of matmul_q8.cl both take it from here, so their outputs agree bit for bit. */
inline float gc_rms_factor(__global const float *xr, uint dim, float eps, __local float *scratch, uint lid, uint n) {
    float ss = 0.0f;
    for (uint j = lid; j < dim; j += n)
        ss += xr[j] * xr[j];
    ss = gc_group_sum(ss, scratch, lid, n);
    return 1.0f / sqrt(ss / (float)dim + eps);
}

/* Subgroup builtins (sub_group_reduce_add, sub_group_scan_exclusive_add, ...) come with OpenCL C 3.x's
 * __opencl_c_subgroups feature, cl_khr_subgroups or cl_intel_subgroups (Intel's CPU runtime reports the first
 * and the last); the runtime sets GC_HAS_SUBGROUPS only when the device has one of them. */
#if GC_HAS_SUBGROUPS && defined(cl_khr_subgroups)
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif
#if GC_HAS_SUBGROUPS && defined(cl_intel_subgroups)
#pragma OPENCL EXTENSION cl_intel_subgroups : enable
#endif

/* Sum of v over the whole (1-D) work-group of n work-items, returned to every work-item; scratch holds n values
 * and is free again on return. Without subgroups n must be a power of two (norm and sample pass their
 * constant work-group size; the top-k kernels, which run any size, call it only with subgroups). With subgroups
 * each subgroup sums in registers and only one partial per subgroup passes through local memory, with two
 * barriers instead of 2 + log2(n), and none when the group is a single subgroup; any subgroup size works (a
 * last, partial subgroup too), and every work-item adds the partials in the same order, so all get the same
 * float. Without subgroups: gc_group_sum's tree, the very code the kernels ran before (a constant n lets PoCL
 * unroll its barrier loop). */
#define GC_DEFINE_WG_SUM(name, T, tree)                                    \
    inline T name(T v, __local T *scratch, uint n) {                       \
        GC_WG_SUM_BODY(T, tree)                                            \
    }
#if GC_HAS_SUBGROUPS
#define GC_WG_SUM_BODY(T, tree)                                            \
    (void)n;                                                               \
    const T part = sub_group_reduce_add(v);                                \
    const uint n_sg = get_num_sub_groups();                                \
    if (n_sg == 1)                                                         \
        return part;                                                       \
    if (get_sub_group_local_id() == 0)                                     \
        scratch[get_sub_group_id()] = part;                                \
    barrier(CLK_LOCAL_MEM_FENCE);                                          \
    T total = 0;                                                           \
    for (uint s = 0; s < n_sg; s++)                                        \
        total += scratch[s];                                               \
    barrier(CLK_LOCAL_MEM_FENCE);                                          \
    return total;
#else
#define GC_WG_SUM_BODY(T, tree) return tree(v, scratch, get_local_id(0), n);
#endif
GC_DEFINE_WG_SUM(gc_wg_sum, float, gc_group_sum)
GC_DEFINE_WG_SUM(gc_wg_sum_u, uint, gc_group_sum_u)

#if GC_HAS_SUBGROUPS
/* Exclusive prefix sum of v over the whole (1-D) work-group in local-id order (subgroups are consecutive
 * local ids); scratch holds one value per subgroup. Always passes a barrier, so local writes made before the
 * call are visible after it. Integers only: the result is exact, the same as any other scan's. */
inline uint gc_wg_scan_exclusive_u(uint v, __local uint *scratch) {
    const uint before = sub_group_scan_exclusive_add(v), sg = get_sub_group_id();
    if (get_sub_group_local_id() == get_sub_group_size() - 1)
        scratch[sg] = before + v; /* the subgroup's total */
    barrier(CLK_LOCAL_MEM_FENCE);
    uint base = 0;
    for (uint s = 0; s < sg; s++)
        base += scratch[s];
    barrier(CLK_LOCAL_MEM_FENCE);
    return base + before;
}
#endif

/* An unsigned key that orders like the float: larger float, larger key. NaN -> 0 (below -inf) and -0.0 -> +0.0,
 * so keys compare as C compares the floats. gc_key_float inverts it (for every float but NaN and -0.0). */
inline uint gc_float_key(const float v) {
    if (isnan(v))
        return 0u;
    uint u = as_uint(v);
    if (u == 0x80000000u)
        u = 0u;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline float gc_key_float(const uint key) { return as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key); }
