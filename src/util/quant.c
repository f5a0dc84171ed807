/* quant.c - ggml's block formats on the host: the reference dequantisation every device loader
 * (cl/common.cl) must equal bit for bit, and the quantizers that write them (second half of the file).
 *
 * Layouts (little-endian; f16 scales; a row is a sequence of whole blocks):
 *   q8_0   32 elements: d, int8 q[32]                        y = d * q
 *   q4_0   32: d, qs[16] (elements j and j + 16 in the low and high nibble of qs[j])   y = d * (q - 8)
 *   q4_1   32: d, m, qs[16]                                   y = d * q + m
 *   q5_0   32: d, qh (32 fifth bits, u32), qs[16]             y = d * (q - 16)
 *   q5_1   32: d, m, qh, qs[16]                               y = d * q + m
 *   iq4_nl 32: d, qs[16]                                      y = d * iq4nl_values[q]
 *   q2_k  256: scales[16] (low nibble scale, high nibble min, per 16), qs[64] (2 bits), d, dmin
 *   q3_k  256: hmask[32] (third bits), qs[64] (low 2 bits), scales[12] (16 six-bit scales - 32), d
 *   q4_k  256: d, dmin, scales[12] (8 six-bit scales and mins, per 32), qs[128]
 *   q5_k  256: d, dmin, scales[12], qh[32] (fifth bits), qs[128]
 *   q6_k  256: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (per 16), d     y = d * sc * (q - 32)
 * Each product is written as ggml writes it, one rounding per operation in the order shown (no fused
 * multiply-add: C11 in ISO mode does not contract). */
#include "util/quant.h"

#include <math.h>
#include <string.h>

#include "util/types.h"

const int8_t gc_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return gc_f16_to_f32(h);
}

static void dequant_q8_0(const uint8_t *b, float *y) {
    const float d = f16_at(b);
    for (int j = 0; j < 32; j++)
        y[j] = d * (float)(int8_t)b[2 + j];
}

static void dequant_q4_0(const uint8_t *b, float *y) {
    const float d = f16_at(b);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b[2 + j] & 0x0f) - 8);
        y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
    }
}

static void dequant_q4_1(const uint8_t *b, float *y) {
    const float d = f16_at(b), m = f16_at(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(b[4 + j] & 0x0f) + m;
        y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
    }
}

/* q5_0 / q5_1: the fifth bit of element j is bit j of qh. */
static void dequant_q5(const uint8_t *b, float *y, bool has_min) {
    const float d = f16_at(b), m = has_min ? f16_at(b + 2) : 0.0f;
    const uint8_t *p = b + (has_min ? 4 : 2), *qs = p + 4;
    uint32_t qh;
    memcpy(&qh, p, 4);
    const int offset = has_min ? 0 : 16;
    for (int j = 0; j < 16; j++) {
        const int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        const int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        if (has_min) {
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        } else {
            y[j] = d * (float)(lo - offset);
            y[j + 16] = d * (float)(hi - offset);
        }
    }
}

static void dequant_iq4_nl(const uint8_t *b, float *y) {
    const float d = f16_at(b);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)gc_iq4nl_values[b[2 + j] & 0x0f];
        y[j + 16] = d * (float)gc_iq4nl_values[b[2 + j] >> 4];
    }
}

static void dequant_q2_k(const uint8_t *b, float *y) {
    const uint8_t *scales = b, *qs = b + 16;
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    for (int half = 0; half < 2; half++) {       /* 128 elements from 32 bytes of qs */
        const uint8_t *q = qs + 32 * half;
        for (int shift = 0; shift < 8; shift += 2) { /* 4 groups of 32: two sub-blocks of 16 each */
            for (int s = 0; s < 2; s++) {
                const uint8_t sc = scales[8 * half + shift + s];
                const float dl = d * (float)(sc & 0x0f), ml = dmin * (float)(sc >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * (float)((q[16 * s + l] >> shift) & 3) - ml;
            }
        }
    }
}

void gc_q3_k_scales(const uint8_t *packed, int8_t scales[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (packed[j] & 0x0f) : (packed[j - 8] >> 4);
        const int hi = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        scales[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

static void dequant_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hmask = b, *qs = b + 32;
    const float d = f16_at(b + 108);
    int8_t scales[16];
    gc_q3_k_scales(b + 96, scales);
    int is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; half++) {
        const uint8_t *q = qs + 32 * half;
        for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
            for (int s = 0; s < 2; s++) {
                const float dl = d * (float)scales[is++];
                for (int l = 0; l < 16; l++) {
                    const int v = ((q[16 * s + l] >> shift) & 3) - ((hmask[16 * s + l] & m) ? 0 : 4);
                    *y++ = dl * (float)v;
                }
            }
        }
    }
}

void gc_k4_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/* q4_k and q5_k: 4 groups of 64 elements; each group's first 32 take the low nibbles of 32 qs bytes, the
 * next 32 the high nibbles; q5_k's fifth bits are bit 2g (first half) and 2g + 1 of qh[l]. */
static void dequant_q45_k(const uint8_t *b, float *y, bool five) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
    for (int g = 0; g < 4; g++) {
        const uint8_t *q = qs + 32 * g;
        for (int h = 0; h < 2; h++) {
            uint8_t sc, m;
            gc_k4_scale_min(scales, 2 * g + h, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                int v = h ? q[l] >> 4 : q[l] & 0x0f;
                if (five && (qh[l] >> (2 * g + h) & 1))
                    v += 16;
                *y++ = dl * (float)v - ml;
            }
        }
    }
}

static void dequant_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = f16_at(b + 208);
    for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

void gc_dequantize_block(gc_dtype t, const void *block, float *y) {
    const uint8_t *b = block;
    switch (t) {
    case GC_DTYPE_Q8_0: dequant_q8_0(b, y); return;
    case GC_DTYPE_Q4_0: dequant_q4_0(b, y); return;
    case GC_DTYPE_Q4_1: dequant_q4_1(b, y); return;
    case GC_DTYPE_Q5_0: dequant_q5(b, y, false); return;
    case GC_DTYPE_Q5_1: dequant_q5(b, y, true); return;
    case GC_DTYPE_IQ4_NL: dequant_iq4_nl(b, y); return;
    case GC_DTYPE_Q2_K: dequant_q2_k(b, y); return;
    case GC_DTYPE_Q3_K: dequant_q3_k(b, y); return;
    case GC_DTYPE_Q4_K: dequant_q45_k(b, y, false); return;
    case GC_DTYPE_Q5_K: dequant_q45_k(b, y, true); return;
    case GC_DTYPE_Q6_K: dequant_q6_k(b, y); return;
    default: return; /* not a block type: callers dispatch those */
    }
}


/* ---- quantisation ------------------------------------------------------------------------------------
 * ggml's reference algorithms (ggml-quants.c, quantize_row_*_ref, without an importance matrix): the same
 * layouts and the same kind of search, written for this file. Two choices differ on purpose: every index
 * (but q8_0's, kept byte-identical to ggml) is computed against the scale as stored (f16-rounded), so it is
 * the nearest point of the grid the reader sees; and every f16 scale is clamped to the f16 range, so values
 * beyond what a type can hold saturate instead of turning into inf or NaN. The searches accumulate in double so huge inputs cannot overflow. */

/* Round half to even (ggml's nearest_int), clamped to [lo, hi] first so huge or NaN values are safe. */
static int round_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo)) /* also NaN */
        return lo;
    if (v >= (float)hi)
        return hi;
    return (int)lrintf(v);
}

/* Stores v as f16 at p, clamped to the largest finite f16; returns the stored value. */
static float store_f16(uint8_t *p, float v) {
    const float f16_max = 65504.0f;
    const uint16_t h = gc_f32_to_f16(fminf(fmaxf(v, -f16_max), f16_max));
    memcpy(p, &h, 2);
    return gc_f16_to_f32(h);
}

/* The value of largest magnitude (its sign kept); *amax receives the magnitude. */
static float signed_max(const float *x, int n, float *amax) {
    float a = 0.0f, m = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) {
            a = fabsf(x[i]);
            m = x[i];
        }
    *amax = a;
    return m;
}

/* 32-blocks: element j's low 4 bits in the low nibble of qs[j], element j + 16's in the high nibble. */
static void pack_nibbles(const uint8_t L[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((L[j] & 0x0f) | (L[j + 16] & 0x0f) << 4);
}

/* q5_0 / q5_1: element j's fifth bit is bit j of the little-endian u32 qh. */
static void pack_fifth_bits(const uint8_t L[32], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++)
        h |= (uint32_t)((L[j] >> 4) & 1) << j;
    memcpy(qh, &h, 4);
}

/* q8_0: scale max|x| / 127, round half away from zero, indices against the unrounded scale: byte for
 * byte ggml's quantize_row_q8_0_ref (within f16 range), as gemcl's q8_0 always was. */
static void quant_q8_0(const float *x, uint8_t *b) {
    float amax;
    signed_max(x, 32, &amax);
    const float d = fminf(amax / 127.0f, 65504.0f), id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b, d);
    for (int i = 0; i < 32; i++)
        b[2 + i] = (uint8_t)(int8_t)roundf(fminf(fmaxf(x[i] * id, -127.0f), 127.0f));
}

/* q4_0 / q5_0: d = (the value of largest magnitude) / -2^(bits-1), so that value lands on the grid's
 * lone extra negative step (-8 or -16) and the whole range is used. */
static void quant_sym32(const float *x, uint8_t *b, int bits) {
    const int half = 1 << (bits - 1);
    float amax;
    const float max = signed_max(x, 32, &amax);
    const float d = store_f16(b, max / (float)-half), id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t L[32];
    for (int i = 0; i < 32; i++)
        L[i] = (uint8_t)round_clamp(x[i] * id + (float)half, 0, 2 * half - 1);
    if (bits == 5)
        pack_fifth_bits(L, b + 2);
    pack_nibbles(L, b + (bits == 5 ? 6 : 2));
}

/* q4_1 / q5_1: the block's min and max map to the grid's ends, y = d * q + m. */
static void quant_asym32(const float *x, uint8_t *b, int bits) {
    const int nmax = (1 << bits) - 1;
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    const float d = store_f16(b, (hi - lo) / (float)nmax), m = store_f16(b + 2, lo);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t L[32];
    for (int i = 0; i < 32; i++)
        L[i] = (uint8_t)round_clamp((x[i] - m) * id, 0, nmax);
    if (bits == 5)
        pack_fifth_bits(L, b + 4);
    pack_nibbles(L, b + (bits == 5 ? 8 : 4));
}

/* The iq4_nl grid index nearest v (the grid is sorted: compare against the midpoints). */
static int iq4nl_index(float v) {
    int lo = 0;
    for (int step = 8; step > 0; step /= 2)
        if (v * 2.0f >= (float)(gc_iq4nl_values[lo + step - 1] + gc_iq4nl_values[lo + step]))
            lo += step;
    return lo;
}

/* iq4_nl: the grid is asymmetric (-127 .. 113), so ggml tries scales that put the largest value near
 * either end (15 steps each) and keeps the least-squares scale of the best assignment, weighted by x^2
 * (quantize_row_iq4_nl_impl without an importance matrix). */
static void quant_iq4_nl(const float *x, uint8_t *b) {
    float amax;
    const float max = signed_max(x, 32, &amax);
    uint8_t L[32] = {0}, trial[32];
    double best = 0.0;
    float d = 0.0f;
    for (int sign = -1; amax >= 1e-15f && sign <= 1; sign += 2)
        for (int t = -7; t <= 7; t++) {
            const float id = (float)sign * (127.0f + (float)t) / max;
            double sqx = 0.0, sq2 = 0.0;
            for (int i = 0; i < 32; i++) {
                trial[i] = (uint8_t)iq4nl_index(x[i] * id);
                const double w = (double)x[i] * x[i], q = gc_iq4nl_values[trial[i]];
                sqx += w * q * x[i];
                sq2 += w * q * q;
            }
            if (sq2 > 0.0 && sqx * sqx > best * sq2) {
                best = sqx * sqx / sq2;
                d = (float)(sqx / sq2);
                memcpy(L, trial, sizeof L);
            }
        }
    const float dh = store_f16(b, d), id = dh != 0.0f ? 1.0f / dh : 0.0f;
    for (int i = 0; i < 32 && dh != 0.0f; i++) /* re-pick against the stored scale */
        L[i] = (uint8_t)iq4nl_index(x[i] * id);
    pack_nibbles(L, b + 2);
}

/* ---- K-quants: 256-element super-blocks of 16 or 32-element sub-blocks, each with its own scale (and
 * min), the sub-block scales themselves quantized against one or two f16 super-scales. ---- */

/* How fit_scale_min searches (ggml's make_qkx2_quants arguments): nstep + 1 trial scales
 * (nmax + rmin + rdelta * s) / (max - min); mad: minimise absolute rather than squared error. */
typedef struct min_search {
    float rmin, rdelta;
    int nstep;
    bool mad;
} min_search;

static double weighted_error(int n, const float *x, const float *w, const uint8_t *L, double scale, double min,
                             bool mad) {
    double e = 0.0;
    for (int i = 0; i < n; i++) {
        const double diff = scale * L[i] + min - x[i];
        e += w[i] * (mad ? fabs(diff) : diff * diff);
    }
    return e;
}

/* x ~ scale * L + min with L in 0..nmax and min <= 0: starting from the block's range, each trial scale
 * assigns L and solves the weighted least-squares (scale, min) for it; the fit of least error wins.
 * Returns scale; *neg_min receives -min (>= 0). At most 32 values. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, float *neg_min, min_search p) {
    float lo = x[0], hi = x[0];
    double sw = 0.0, sx = 0.0;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
        sw += w[i];
        sx += (double)w[i] * x[i];
    }
    lo = fminf(lo, 0.0f);
    *neg_min = -lo;
    if (!(hi > lo))
        return 0.0f;
    uint8_t L[32];
    double scale = (hi - lo) / nmax, min = lo;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)round_clamp((x[i] - lo) / (float)scale, 0, nmax);
    double best = weighted_error(n, x, w, L, scale, min, p.mad);
    for (int s = 0; s <= p.nstep; s++) {
        const float iscale = ((float)nmax + p.rmin + p.rdelta * (float)s) / (hi - lo);
        double sl = 0.0, sl2 = 0.0, sxl = 0.0;
        for (int i = 0; i < n; i++) {
            L[i] = (uint8_t)round_clamp(iscale * (x[i] - lo), 0, nmax);
            sl += (double)w[i] * L[i];
            sl2 += (double)w[i] * L[i] * L[i];
            sxl += (double)w[i] * L[i] * x[i];
        }
        const double D = sw * sl2 - sl * sl;
        if (!(D > 0.0))
            continue;
        double this_scale = (sw * sxl - sx * sl) / D, this_min = (sl2 * sx - sl * sxl) / D;
        if (this_min > 0.0) { /* a positive offset is not representable: refit through zero */
            this_min = 0.0;
            this_scale = sxl / sl2;
        }
        const double e = weighted_error(n, x, w, L, this_scale, this_min, p.mad);
        if (e < best) {
            best = e;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = (float)-min;
    return (float)scale;
}

/* x ~ scale * L with L in -nmax .. nmax-1, weighted by x^2: 19 trial scales around -nmax / (the value of
 * largest magnitude), each giving L and its least-squares scale; the best fit wins (ggml's
 * make_qx_quants, rmse type 1). The scale's sign maps that value to -nmax, the side with the extra step. */
static float fit_scale_sym(int n, int nmax, const float *x) {
    float amax;
    const float max = signed_max(x, n, &amax);
    if (amax < 1e-15f)
        return 0.0f;
    double best = -1.0, scale = 0.0;
    for (int t = -9; t <= 9; t++) {
        const float iscale = -((float)nmax + 0.1f * (float)t) / max;
        double slx = 0.0, sl2 = 0.0;
        for (int i = 0; i < n; i++) {
            const double w = (double)x[i] * x[i], l = round_clamp(iscale * x[i], -nmax, nmax - 1);
            slx += w * x[i] * l;
            sl2 += w * l * l;
        }
        if (sl2 > 0.0 && slx * slx > best * sl2) {
            scale = slx / sl2;
            best = scale * slx;
        }
    }
    return (float)scale;
}

/* Sub-block scales or mins (>= 0) as 0..nmax against one f16 super-scale stored at p (max / nmax);
 * returns the stored super-scale. */
static float quant_scales_unsigned(const float *v, int n, int nmax, uint8_t *q, uint8_t *p) {
    float vmax = 0.0f;
    for (int i = 0; i < n; i++)
        vmax = fmaxf(vmax, v[i]);
    const float d = store_f16(p, vmax / (float)nmax), iv = vmax > 0.0f ? (float)nmax / vmax : 0.0f;
    for (int i = 0; i < n; i++)
        q[i] = (uint8_t)round_clamp(v[i] * iv, 0, nmax);
    return d;
}

/* Signed sub-block scales as lo..hi (lo = -hi - 1) against one f16 super-scale at p, the scale of largest
 * magnitude mapping to lo; returns the stored super-scale. */
static float quant_scales_signed(const float *v, int n, int lo, int8_t *q, uint8_t *p) {
    float amax;
    const float max = signed_max(v, n, &amax);
    const float iv = amax > 0.0f ? (float)lo / max : 0.0f;
    const float d = store_f16(p, amax > 0.0f ? 1.0f / iv : 0.0f);
    for (int i = 0; i < n; i++)
        q[i] = (int8_t)round_clamp(v[i] * iv, lo, -lo - 1);
    return d;
}

/* Final indices of n values against a sub-block's stored scale d and min dm (y = d * L - dm), L 0..nmax. */
static void requant_asym(const float *x, int n, float d, float dm, int nmax, uint8_t *L) {
    for (int i = 0; i < n; i++)
        L[i] = d != 0.0f ? (uint8_t)round_clamp((x[i] + dm) / d, 0, nmax) : 0;
}

/* The same for symmetric sub-blocks (y = d * (L - half)), L 0 .. 2 * half - 1. */
static void requant_sym(const float *x, int n, float d, int half, uint8_t *L) {
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)(d != 0.0f ? round_clamp(x[i] / d, -half, half - 1) + half : half);
}

/* q2_k / q3_k low bits: in each half of 128, byte l holds elements l, l + 32, l + 64, l + 96 (2 bits each). */
static void pack_2bit(const uint8_t L[256], uint8_t qs[64]) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *e = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(e[0] | e[32] << 2 | e[64] << 4 | e[96] << 6);
        }
}

/* q2_k: 16 sub-blocks of 16, scale and min (4 bits each) per sub-block, absolute-error search weighted
 * by |x| (quantize_row_q2_K_ref). */
static void quant_q2_k(const float *x, uint8_t *b) {
    const min_search search = {-0.5f, 0.1f, 15, true};
    float sc[16], mn[16], w[16];
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++)
            w[l] = fabsf(x[16 * j + l]);
        sc[j] = fit_scale_min(16, 3, x + 16 * j, w, &mn[j], search);
    }
    uint8_t qsc[16], qmn[16], L[256];
    const float d = quant_scales_unsigned(sc, 16, 15, qsc, b + 80), dmin = quant_scales_unsigned(mn, 16, 15, qmn, b + 82);
    for (int j = 0; j < 16; j++) {
        b[j] = (uint8_t)(qsc[j] | qmn[j] << 4);
        requant_asym(x + 16 * j, 16, d * (float)qsc[j], dmin * (float)qmn[j], 3, L + 16 * j);
    }
    pack_2bit(L, b + 16);
}

/* q3_k: 16 symmetric sub-blocks of 16 (L -4..3), 6-bit signed scales (quantize_row_q3_K_ref's layout;
 * the sub-block fit is make_qx_quants, as ggml's importance-matrix path uses). */
static void quant_q3_k(const float *x, uint8_t *b) {
    float sc[16];
    for (int j = 0; j < 16; j++)
        sc[j] = fit_scale_sym(16, 4, x + 16 * j);
    int8_t q[16];
    const float d = quant_scales_signed(sc, 16, -32, q, b + 108);
    uint8_t *packed = b + 96, L[256];
    memset(packed, 0, 12);
    for (int j = 0; j < 16; j++) { /* low 4 bits: nibbles of bytes 0..7; high 2 bits: bytes 8..11 */
        const int l = q[j] + 32;
        packed[j % 8] |= (uint8_t)((l & 0x0f) << (j < 8 ? 0 : 4));
        packed[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        requant_sym(x + 16 * j, 16, d * (float)q[j], 4, L + 16 * j);
    }
    memset(b, 0, 32); /* hmask: element e's third bit is bit e / 32 of byte e % 32 */
    for (int e = 0; e < 256; e++)
        if (L[e] > 3) {
            b[e % 32] |= (uint8_t)(1u << (e / 32));
            L[e] -= 4;
        }
    pack_2bit(L, b + 32);
}

/* q4_k / q5_k: 8 sub-blocks of 32 with 6-bit scales and mins; squared error weighted by rms + |x|
 * (quantize_row_q4_K_ref / q5_K_ref, with their search steps). */
static void quant_q45_k(const float *x, uint8_t *b, bool five) {
    const int nmax = five ? 31 : 15;
    const min_search search = five ? (min_search){-0.5f, 0.1f, 15, false} : (min_search){-1.0f, 0.1f, 20, false};
    float sc[8], mn[8], w[32];
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        for (int l = 0; l < 32; l++)
            w[l] = sqrtf(sum_x2 / 32.0f) + fabsf(xs[l]);
        sc[j] = fit_scale_min(32, nmax, xs, w, &mn[j], search);
    }
    uint8_t qsc[8], qmn[8], L[256], *packed = b + 4;
    const float d = quant_scales_unsigned(sc, 8, 63, qsc, b), dmin = quant_scales_unsigned(mn, 8, 63, qmn, b + 2);
    for (int j = 0; j < 8; j++) { /* the layout gc_k4_scale_min reads */
        if (j < 4) {
            packed[j] = qsc[j];
            packed[j + 4] = qmn[j];
        } else {
            packed[j + 4] = (uint8_t)((qsc[j] & 0x0f) | (qmn[j] & 0x0f) << 4);
            packed[j - 4] |= (uint8_t)((qsc[j] >> 4) << 6);
            packed[j] |= (uint8_t)((qmn[j] >> 4) << 6);
        }
        requant_asym(x + 32 * j, 32, d * (float)qsc[j], dmin * (float)qmn[j], nmax, L + 32 * j);
    }
    uint8_t *qh = b + 16, *qs = b + (five ? 48 : 16);
    if (five)
        memset(qh, 0, 32);
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) {
            const uint8_t lo = L[64 * g + l], hi = L[64 * g + 32 + l];
            qs[32 * g + l] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            if (five)
                qh[l] |= (uint8_t)((lo >> 4) << (2 * g) | (hi >> 4) << (2 * g + 1));
        }
}

/* q6_k: 16 symmetric sub-blocks of 16 (L -32..31), int8 scales (quantize_row_q6_K_ref). */
static void quant_q6_k(const float *x, uint8_t *b) {
    float sc[16];
    for (int j = 0; j < 16; j++)
        sc[j] = fit_scale_sym(16, 32, x + 16 * j);
    int8_t q[16];
    const float d = quant_scales_signed(sc, 16, -128, q, b + 208);
    uint8_t L[256];
    for (int j = 0; j < 16; j++) {
        b[192 + j] = (uint8_t)q[j];
        requant_sym(x + 16 * j, 16, d * (float)q[j], 32, L + 16 * j);
    }
    for (int h = 0; h < 2; h++) { /* low nibbles in ql, high 2 bits in qh, as dequant_q6_k reads them */
        uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const uint8_t *e = L + 128 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((e[l] & 0x0f) | (e[l + 64] & 0x0f) << 4);
            ql[l + 32] = (uint8_t)((e[l + 32] & 0x0f) | (e[l + 96] & 0x0f) << 4);
            qh[l] = (uint8_t)(e[l] >> 4 | (e[l + 32] >> 4) << 2 | (e[l + 64] >> 4) << 4 | (e[l + 96] >> 4) << 6);
        }
    }
}

void gc_quantize_block(gc_dtype t, const float *x, void *block) {
    uint8_t *b = block;
    switch (t) {
    case GC_DTYPE_Q8_0: quant_q8_0(x, b); return;
    case GC_DTYPE_Q4_0: quant_sym32(x, b, 4); return;
    case GC_DTYPE_Q5_0: quant_sym32(x, b, 5); return;
    case GC_DTYPE_Q4_1: quant_asym32(x, b, 4); return;
    case GC_DTYPE_Q5_1: quant_asym32(x, b, 5); return;
    case GC_DTYPE_IQ4_NL: quant_iq4_nl(x, b); return;
    case GC_DTYPE_Q2_K: quant_q2_k(x, b); return;
    case GC_DTYPE_Q3_K: quant_q3_k(x, b); return;
    case GC_DTYPE_Q4_K: quant_q45_k(x, b, false); return;
    case GC_DTYPE_Q5_K: quant_q45_k(x, b, true); return;
    case GC_DTYPE_Q6_K: quant_q6_k(x, b); return;
    default: return; /* not a block type: gc_row_from_f32 handles those */
    }
}
