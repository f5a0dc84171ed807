#include "util/types.h"

#include <math.h>
#include <string.h>

const char *gc_dtype_name(gc_dtype t) {
    switch (t) {
    case GC_DTYPE_F32: return "f32";
    case GC_DTYPE_F16: return "f16";
    case GC_DTYPE_BF16: return "bf16";
    case GC_DTYPE_Q8_0: return "q8_0";
    }
    return "unknown";
}

size_t gc_dtype_row_bytes(gc_dtype t, int64_t n) {
    switch (t) {
    case GC_DTYPE_F32: return (size_t)n * 4;
    case GC_DTYPE_F16:
    case GC_DTYPE_BF16: return (size_t)n * 2;
    case GC_DTYPE_Q8_0: return (size_t)(n / 32) * 34;
    }
    return 0;
}

float gc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t gc_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, which is the correct rounding */
    return (uint16_t)half;
}

float gc_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t gc_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void gc_row_to_f32(gc_dtype t, const void *src, int64_t n, float *dst) {
    const unsigned char *p = src;
    switch (t) {
    case GC_DTYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        return;
    case GC_DTYPE_F16:
    case GC_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t == GC_DTYPE_F16 ? gc_f16_to_f32(h) : gc_bf16_to_f32(h);
        }
        return;
    case GC_DTYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) {
            uint16_t h;
            memcpy(&h, p + 34 * b, 2);
            float d = gc_f16_to_f32(h);
            const int8_t *q = (const int8_t *)(p + 34 * b + 2);
            for (int i = 0; i < 32; i++)
                dst[32 * b + i] = d * (float)q[i];
        }
        return;
    }
}

void gc_row_from_f32(gc_dtype t, const float *src, int64_t n, void *dst) {
    unsigned char *p = dst;
    switch (t) {
    case GC_DTYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        return;
    case GC_DTYPE_F16:
    case GC_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = t == GC_DTYPE_F16 ? gc_f32_to_f16(src[i]) : gc_f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return;
    case GC_DTYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) {
            const float *x = src + 32 * b;
            float amax = 0.0f;
            for (int i = 0; i < 32; i++)
                amax = fmaxf(amax, fabsf(x[i]));
            float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            uint16_t h = gc_f32_to_f16(d);
            memcpy(p + 34 * b, &h, 2);
            int8_t *q = (int8_t *)(p + 34 * b + 2);
            for (int i = 0; i < 32; i++)
                q[i] = (int8_t)roundf(x[i] * id);
        }
        return;
    }
}
