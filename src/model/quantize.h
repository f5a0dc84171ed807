/* quantize.h - gemcl quantize: any model gemcl loads -> a GGUF whose matrices are block-quantized, either
 * all to one type or to one of llama.cpp's per-tensor mixes (Q4_K_M and friends), through the same GGUF
 * writer as convert (gc_gguf_write_model). */
#ifndef GC_MODEL_QUANTIZE_H
#define GC_MODEL_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/layout.h"
#include "model/model.h"

/* ggml's GGML_QNT_VERSION, written as general.quantization_version beside quantized tensors. */
#define GC_GGML_QUANT_VERSION 2

/* The llama.cpp mixes: which tensors get more bits than the scheme's base type (rules in quantize.c). */
typedef enum gc_quant_mix {
    GC_MIX_PURE = 0, /* every matrix the base type */
    GC_MIX_Q2_K,
    GC_MIX_Q3_K_S,
    GC_MIX_Q3_K_M,
    GC_MIX_Q3_K_L,
    GC_MIX_Q4_K_S,
    GC_MIX_Q4_K_M,
    GC_MIX_Q5_K_S,
    GC_MIX_Q5_K_M,
} gc_quant_mix;

typedef struct gc_quant_scheme {
    const char *name; /* canonical spelling: a dtype name ("q4_k") or a mix ("Q4_K_M") */
    gc_dtype base;    /* the type of every matrix no rule singles out */
    gc_quant_mix mix;
    uint32_t ftype; /* llama.cpp's LLAMA_FTYPE_* value, for general.file_type */
} gc_quant_scheme;

/* The scheme named name (case-insensitive): a mix name (Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M), else a
 * dtype name (f32, f16, bf16, q8_0 .. iq4_nl: every matrix that type). Q2_K is llama.cpp's mix; pure
 * forces every matrix to the base type (llama-quantize --pure), which is how an all-q2_k file is made.
 * False for an unknown name. */
bool gc_quant_scheme_find(const char *name, bool pure, gc_quant_scheme *out);

/* Every name gc_quant_scheme_find accepts, space-separated, into buf (for messages and --help). */
void gc_quant_scheme_names(char *buf, size_t len);

/* llama.cpp's LLAMA_FTYPE_* for a file whose matrices are mostly t (K types: their _M mix). */
uint32_t gc_llama_ftype(gc_dtype t);

/* The type scheme s gives the matrix of role in layer (-1: model-level) of a model with hp, whose rows
 * are row_len long (after gc_layout_row_type's fallback for rows that are not whole blocks). */
gc_dtype gc_quant_tensor_type(const gc_quant_scheme *s, const gc_hparams *hp, gc_role role, int layer, int64_t row_len);

/* Writes src to out as GGUF with its matrices quantized by s (1-D tensors stay f32). A source whose
 * matrices are already block-quantized is refused (GC_ERR_UNSUPPORTED, naming a tensor) unless
 * allow_requantize: requantizing compounds the error. Nothing is left at out on failure. */
gc_status gc_model_quantize(const gc_model_file *src, const char *out, const gc_quant_scheme *s, bool allow_requantize,
                            gc_error *err);

#endif
