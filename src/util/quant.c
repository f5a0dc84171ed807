/* quant.c - ggml's block formats on the host: the reference dequantisation every device loader
 * (cl/common.cl) must equal bit for bit.
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

/* q8_0: scale max|x| / 127, round to nearest (ggml's quantize_row_q8_0_ref). */
static void quant_q8_0(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = gc_f32_to_f16(d);
    memcpy(b, &h, 2);
    for (int i = 0; i < 32; i++)
        b[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
}

void gc_quantize_block(gc_dtype t, const float *x, void *block) {
    switch (t) {
    case GC_DTYPE_Q8_0: quant_q8_0(x, block); return;
    default: return;
    }
}
