/* common.cl - helpers prepended to every program (ops.c builds cl/common.cl followed by cl/<family>.cl).
 *
 * Weight rows are addressed as bytes (row = base + r * row_bytes) so one kernel body serves every dtype:
 *   ld1_<t>(row, i)  element i of the row as f32
 *   ld8_<t>(row, i)  elements i .. i+7 as float8 (i a multiple of 8)
 *   ld16_<t>(row, i) elements i .. i+15 as float16 (i a multiple of 16)
 *   ld32_<t>(row, i, &lo, &hi) elements i .. i+31 as a scale times two float16 (i a multiple of 32)
 * for t in f32, f16 (storage only, vload_half), bf16 (upper half of an f32) and q8_0 (ggml blocks of 32:
 * {half scale; char q[32]}, 34 bytes). GC_FOR_EACH_DTYPE(X) instantiates X(t) for each of them. */

/* Full unrolling of loops over register arrays (usable inside macros): without it PoCL's LLVM keeps such
 * arrays in memory. */
#define GC_UNROLL _Pragma("unroll")

#define GC_FOR_EACH_DTYPE(X) X(f32) X(f16) X(bf16) X(q8_0)
#define GC_Q8_0_BLOCK 32
#define GC_Q8_0_BYTES 34

typedef __global const uchar *gc_row;

inline float ld1_f32(gc_row row, uint i) { return ((__global const float *)row)[i]; }
inline float ld1_f16(gc_row row, uint i) { return vload_half(i, (__global const half *)row); }
inline float ld1_bf16(gc_row row, uint i) { return as_float((uint)((__global const ushort *)row)[i] << 16); }
/* The f16 scale at the start of a q8_0 block, read as part of a half4 (the block's 34 bytes hold it): PoCL
 * converts half vectors in hardware (F16C) and a scalar half with a dozen integer instructions. */
inline float gc_q8_0_scale(gc_row block) { return vload_half4(0, (__global const half *)block).x; }

inline float ld1_q8_0(gc_row row, uint i) {
    gc_row b = row + (i / GC_Q8_0_BLOCK) * GC_Q8_0_BYTES;
    return gc_q8_0_scale(b) * (float)((__global const char *)(b + 2))[i % GC_Q8_0_BLOCK];
}

inline float8 ld8_f32(gc_row row, uint i) { return vload8(0, (__global const float *)row + i); }
inline float8 ld8_f16(gc_row row, uint i) { return vload_half8(0, (__global const half *)row + i); }
inline float8 ld8_bf16(gc_row row, uint i) {
    return as_float8(convert_uint8(vload8(0, (__global const ushort *)row + i)) << 16);
}
inline float8 ld8_q8_0(gc_row row, uint i) {
    gc_row b = row + (i / GC_Q8_0_BLOCK) * GC_Q8_0_BYTES;
    const float d = gc_q8_0_scale(b);
    return convert_float8(vload8(0, (__global const char *)(b + 2) + i % GC_Q8_0_BLOCK)) * d;
}

inline float16 ld16_f32(gc_row row, uint i) { return vload16(0, (__global const float *)row + i); }
inline float16 ld16_f16(gc_row row, uint i) { return vload_half16(0, (__global const half *)row + i); }
inline float16 ld16_bf16(gc_row row, uint i) {
    return as_float16(convert_uint16(vload16(0, (__global const ushort *)row + i)) << 16);
}
inline float16 ld16_q8_0(gc_row row, uint i) {
    gc_row b = row + (i / GC_Q8_0_BLOCK) * GC_Q8_0_BYTES;
    const float d = gc_q8_0_scale(b);
    return convert_float16(vload16(0, (__global const char *)(b + 2) + i % GC_Q8_0_BLOCK)) * d;
}

/* ld32_<t>(row, i, lo, hi): elements i .. i+31 (i a multiple of 32) are scale * lo[e] and scale * hi[e]; returns
 * scale (1 but for q8_0, whose block of 32 shares it, so a dot product scales a block's sum once). */
inline float ld32_f32(gc_row row, uint i, float16 *lo, float16 *hi) {
    *lo = ld16_f32(row, i), *hi = ld16_f32(row, i + 16);
    return 1.0f;
}
inline float ld32_f16(gc_row row, uint i, float16 *lo, float16 *hi) {
    *lo = ld16_f16(row, i), *hi = ld16_f16(row, i + 16);
    return 1.0f;
}
inline float ld32_bf16(gc_row row, uint i, float16 *lo, float16 *hi) {
    *lo = ld16_bf16(row, i), *hi = ld16_bf16(row, i + 16);
    return 1.0f;
}
inline float ld32_q8_0(gc_row row, uint i, float16 *lo, float16 *hi) {
    gc_row b = row + (i / GC_Q8_0_BLOCK) * GC_Q8_0_BYTES;
    *lo = convert_float16(vload16(0, (__global const char *)(b + 2)));
    *hi = convert_float16(vload16(1, (__global const char *)(b + 2)));
    return gc_q8_0_scale(b);
}

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
