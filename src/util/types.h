/* types.h - value types shared by every layer: weight dtypes and the RoPE layout. */
#ifndef GC_UTIL_TYPES_H
#define GC_UTIL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weight element types. The quantized ones are ggml's block formats, byte for byte as GGUF stores them: a
 * row of n elements is n / block blocks of block_bytes each (layouts in util/quant.c, which is their
 * reference). */
typedef enum gc_dtype {
    GC_DTYPE_F32 = 0,
    GC_DTYPE_F16 = 1,
    GC_DTYPE_BF16 = 2,
    GC_DTYPE_Q8_0 = 3,   /* 32: {f16 d; int8 q[32]} = 34 bytes */
    GC_DTYPE_Q4_0 = 4,   /* 32: {f16 d; u8 qs[16]} = 18 */
    GC_DTYPE_Q4_1 = 5,   /* 32: {f16 d, m; u8 qs[16]} = 20 */
    GC_DTYPE_Q5_0 = 6,   /* 32: {f16 d; u8 qh[4]; u8 qs[16]} = 22 */
    GC_DTYPE_Q5_1 = 7,   /* 32: {f16 d, m; u8 qh[4]; u8 qs[16]} = 24 */
    GC_DTYPE_Q2_K = 8,   /* 256: {u8 scales[16]; u8 qs[64]; f16 d, dmin} = 84 */
    GC_DTYPE_Q3_K = 9,   /* 256: {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d} = 110 */
    GC_DTYPE_Q4_K = 10,  /* 256: {f16 d, dmin; u8 scales[12]; u8 qs[128]} = 144 */
    GC_DTYPE_Q5_K = 11,  /* 256: {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]} = 176 */
    GC_DTYPE_Q6_K = 12,  /* 256: {u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d} = 210 */
    GC_DTYPE_IQ4_NL = 13, /* 32: {f16 d; u8 qs[16]} = 18, 4-bit indices into a fixed non-linear table */
} gc_dtype;

#define GC_DTYPE_COUNT 14

/* "f32", "f16", "bf16", "q8_0", "q4_0", ..., "q6_k", "iq4_nl"; "unknown" for anything else. */
const char *gc_dtype_name(gc_dtype t);

/* The dtype named name (as gc_dtype_name spells it, case-insensitive); false when none is. */
bool gc_dtype_from_name(const char *name, gc_dtype *out);

/* Elements per block (1 for f32/f16/bf16, 32 or 256 for the quantized types) and bytes per block. */
int gc_dtype_block(gc_dtype t);
size_t gc_dtype_block_bytes(gc_dtype t);

/* True for the block-quantized types. */
bool gc_dtype_is_quantized(gc_dtype t);

/* Bytes of a row of n elements (n must be a multiple of gc_dtype_block(t)). */
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

/* Converts n f32 values to dtype t at dst (gc_dtype_row_bytes(t, n) bytes). The block types quantize each
 * block with gc_quantize_block (util/quant.h; ggml's algorithms); n must be a multiple of gc_dtype_block(t). */
void gc_row_from_f32(gc_dtype t, const float *src, int64_t n, void *dst);

#endif
