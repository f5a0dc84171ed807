/* export.h - writes model files (safetensors or GGUF) tensor by tensor from an f32 source, converting to
 * each tensor's dtype on the way (block types on several threads), in chunks of whole rows so a multi-GB
 * model never sits in memory.
 * Used by `gemcl convert`, `gemcl quantize` and `gemcl gen-model`. */
#ifndef GC_MODEL_EXPORT_H
#define GC_MODEL_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/model.h"

/* Produces elements [first, first + n) (whole rows, row-major) of output tensor index as f32. */
typedef gc_status (*gc_export_fill)(void *ctx, int index, int64_t first, float *out, size_t n, gc_error *err);

typedef enum gc_export_format {
    GC_EXPORT_SAFETENSORS = 0,
    GC_EXPORT_GGUF = 1,
} gc_export_format;

/* Writes the n tensors (name, dtype = the stored dtype, shape; data ignored) to path through a temporary
 * file and rename(). For GGUF, meta carries the metadata already added; the tensor infos are added here. */
gc_status gc_export_write(const char *path, gc_export_format format, gc_gguf_writer *meta, const gc_tensor *tensors,
                          int n, gc_export_fill fill, void *ctx, gc_error *err);

/* Decodes elements [first, first + n) of t to f32 through gc_row_to_f32 (block types: whole blocks). The
 * codec itself is util/types.h's (gc_row_to_f32, gc_row_from_f32, over util/quant.c's blocks): the writer
 * encodes through gc_row_from_f32 directly. */
void gc_decode_f32(const gc_tensor *t, int64_t first, size_t n, float *dst);

#endif
