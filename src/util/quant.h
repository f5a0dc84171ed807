/* quant.h - ggml's block-quantized formats on the host (layouts in quant.c): the reference dequantisation,
 * the quantizers that write those layouts, and the pieces of them that other code shares. Row-level conversion goes through util/types.h
 * (gc_row_to_f32, gc_row_from_f32), which dispatches here for the block types. */
#ifndef GC_UTIL_QUANT_H
#define GC_UTIL_QUANT_H

#include <stdint.h>

#include "util/types.h"

/* The 16 values of iq4_nl's non-linear 4-bit grid. */
extern const int8_t gc_iq4nl_values[16];

/* Dequantizes one block of block type t (gc_dtype_block(t) elements into y), exactly as ggml does. */
void gc_dequantize_block(gc_dtype t, const void *block, float *y);

/* Quantizes one block of gc_dtype_block(t) finite values in x into block (gc_dtype_block_bytes(t) bytes),
 * writing every byte, with ggml's reference algorithms (see quant.c). Values beyond what the type's f16
 * scales reach saturate; the block never decodes to inf or NaN. Not a block type: nothing is written. */
void gc_quantize_block(gc_dtype t, const float *x, void *block);

/* q3_k: the 16 signed scales (-32 .. 31) packed as 6 bits each into 12 bytes. */
void gc_q3_k_scales(const uint8_t *packed, int8_t scales[16]);

/* q4_k / q5_k: scale and min j (0..7) of the 12 packed bytes (6 bits each). */
void gc_k4_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m);

#endif
