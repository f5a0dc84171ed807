#include "util/types.h"

#include "util/quant.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* One row per gc_dtype, in enum order. */
static const struct dtype_info {
    const char *name;
    int block;
    size_t block_bytes;
} dtypes[GC_DTYPE_COUNT] = {
    {"f32", 1, 4},      {"f16", 1, 2},     {"bf16", 1, 2},    {"q8_0", 32, 34},  {"q4_0", 32, 18},
    {"q4_1", 32, 20},   {"q5_0", 32, 22},  {"q5_1", 32, 24},  {"q2_k", 256, 84}, {"q3_k", 256, 110},
    {"q4_k", 256, 144}, {"q5_k", 256, 176}, {"q6_k", 256, 210}, {"iq4_nl", 32, 18},
};

static const struct dtype_info *info(gc_dtype t) {
    return (unsigned)t < GC_DTYPE_COUNT ? &dtypes[t] : NULL;
}

const char *gc_dtype_name(gc_dtype t) {
    return info(t) ? info(t)->name : "unknown";
}

bool gc_dtype_from_name(const char *name, gc_dtype *out) {
    for (int t = 0; name && t < GC_DTYPE_COUNT; t++)
        if (strcasecmp(name, dtypes[t].name) == 0) {
            *out = (gc_dtype)t;
            return true;
        }
    return false;
}

int gc_dtype_block(gc_dtype t) {
    return info(t) ? info(t)->block : 1;
}

size_t gc_dtype_block_bytes(gc_dtype t) {
    return info(t) ? info(t)->block_bytes : 0;
}

bool gc_dtype_is_quantized(gc_dtype t) {
    return gc_dtype_block(t) > 1;
}

size_t gc_dtype_row_bytes(gc_dtype t, int64_t n) {
    return info(t) ? (size_t)(n / info(t)->block) * info(t)->block_bytes : 0;
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
    default:
        for (int64_t b = 0; b < n / gc_dtype_block(t); b++)
            gc_dequantize_block(t, p + gc_dtype_block_bytes(t) * (size_t)b, dst + gc_dtype_block(t) * b);
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
    default:
        for (int64_t b = 0; b < n / gc_dtype_block(t); b++)
            gc_quantize_block(t, src + gc_dtype_block(t) * b, p + gc_dtype_block_bytes(t) * (size_t)b);
        return;
    }
}
