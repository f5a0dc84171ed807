/* safetensors.h - the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data, offsets
 * relative to byte 8 + N. */
#ifndef GC_MODEL_SAFETENSORS_H
#define GC_MODEL_SAFETENSORS_H

#include <stdio.h>

#include "model/model_internal.h"

/* Maps path into m and appends every tensor it holds to m's file-level list, after checking the header
 * length, each dtype, shape and data range against the file, and that no two ranges overlap. */
gc_status gc_safetensors_read(gc_model_file *m, const char *path, gc_error *err);

/* The same over bytes already mapped (map must outlive m). */
gc_status gc_safetensors_parse(gc_model_file *m, const char *path, const gc_mapped_file *map, gc_error *err);

/* "F32", "F16", "BF16" (NULL for dtypes safetensors cannot hold here, i.e. q8_0). */
const char *gc_safetensors_dtype_name(gc_dtype t);

/* Writes the header for n tensors (name, dtype, shape; data ignored) laid out back to back, in order, to f.
 * The caller then writes exactly each tensor's bytes in the same order. */
gc_status gc_safetensors_write_header(FILE *f, const char *path, const gc_tensor *tensors, int n, gc_error *err);

#endif
