/* types.h - value types shared by every layer: weight dtypes and the RoPE layout. */
#ifndef GC_UTIL_TYPES_H
#define GC_UTIL_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum gc_dtype {
    GC_DTYPE_F32 = 0,
    GC_DTYPE_F16 = 1,
    GC_DTYPE_BF16 = 2,
    GC_DTYPE_Q8_0 = 3, /* ggml Q8_0: blocks of 32 along a row, each {f16 scale; int8 q[32]} = 34 bytes */
} gc_dtype;

/* "f32", "f16", "bf16", "q8_0". */
const char *gc_dtype_name(gc_dtype t);

/* Bytes of a row of n elements (n must be a multiple of 32 for Q8_0). */
size_t gc_dtype_row_bytes(gc_dtype t, int64_t n);

typedef enum gc_rope_layout {
    GC_ROPE_ADJACENT = 0, /* rotate pairs (2i, 2i+1): llama2.c, GGUF llama */
    GC_ROPE_HALF = 1,     /* rotate pairs (i, i + d/2): HF checkpoints */
} gc_rope_layout;

/* Scalar conversions (round-to-nearest-even for the narrowing ones). */
float gc_f16_to_f32(uint16_t h);
uint16_t gc_f32_to_f16(float f);
float gc_bf16_to_f32(uint16_t h);
uint16_t gc_f32_to_bf16(float f);

/* Converts a row of n elements of dtype t at src to f32 (dst has n floats). */
void gc_row_to_f32(gc_dtype t, const void *src, int64_t n, float *dst);

/* Converts n f32 values to dtype t at dst (gc_dtype_row_bytes(t, n) bytes). Q8_0 quantises each block of
 * 32 with scale max|x| / 127 and round-to-nearest, as ggml does; n must be a multiple of 32. */
void gc_row_from_f32(gc_dtype t, const float *src, int64_t n, void *dst);

#endif
