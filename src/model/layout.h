/* layout.h - the canonical list of a Llama-family model's tensors and their names in each output format,
 * so convert and gen-model write models one way. */
#ifndef GC_MODEL_LAYOUT_H
#define GC_MODEL_LAYOUT_H

#include "model/export.h"
#include "model/model.h"

#include <stdbool.h>

typedef enum gc_role {
    GC_ROLE_EMBD, GC_ROLE_OUT_NORM, GC_ROLE_LM_HEAD,
    GC_ROLE_ATTN_NORM, GC_ROLE_WQ, GC_ROLE_WK, GC_ROLE_WV, GC_ROLE_BQ, GC_ROLE_BK, GC_ROLE_BV, GC_ROLE_WO,
    GC_ROLE_FFN_NORM, GC_ROLE_GATE, GC_ROLE_UP, GC_ROLE_DOWN,
} gc_role;

/* The per-layer roles are [GC_ROLE_LAYER_FIRST, GC_ROLE_LAYER_END). */
#define GC_ROLE_LAYER_FIRST GC_ROLE_ATTN_NORM
#define GC_ROLE_LAYER_END (GC_ROLE_DOWN + 1)

static inline bool gc_role_is_bias(gc_role r) {
    return r == GC_ROLE_BQ || r == GC_ROLE_BK || r == GC_ROLE_BV;
}

typedef struct gc_planned_tensor {
    gc_tensor desc;   /* name, stored dtype, shape */
    gc_role role;
    int layer;        /* -1 for model-level tensors */
} gc_planned_tensor;

/* Lists the tensors a model with hp has (biases when hp->qkv_bias, lm_head unless tied) named for format,
 * matrices stored as `dtype` (through gc_layout_row_type), 1-D tensors as f32. Safetensors take f32, f16
 * and bf16 only.
 * *out is malloc'd (the caller frees it); *n receives the count. */
gc_status gc_layout_plan(const gc_hparams *hp, gc_export_format format, gc_dtype dtype, gc_planned_tensor **out, int *n,
                         gc_error *err);

/* The type a matrix with rows of row_len elements is stored as when `want` is asked for: want itself when
 * the row is whole blocks of it; else llama.cpp's fallback (q2_k, q3_k -> q4_0; q4_k -> q5_0; q5_k -> q5_1;
 * q6_k -> q8_0) when the row is whole 32-blocks; else f16. */
gc_dtype gc_layout_row_type(gc_dtype want, int64_t row_len);
/* A role's tensor name in format (per-layer names hold one %d for the layer number). */
const char *gc_layout_name(gc_role role, gc_export_format format);

/* Where m keeps a role's tensor (layer >= 0 for per-layer roles; m->layers must exist). */
gc_tensor *gc_layout_slot(gc_model_file *m, gc_role role, int layer);

/* The model's tensor for a role (NULL when absent). */
const gc_tensor *gc_layout_source(const gc_model_file *m, gc_role role, int layer);

/* The source row that lands in output row `row` when q/k rows are re-laid between RoPE layouts:
 * ADJACENT -> HALF moves rows (2i, 2i+1) of each head to (i, i + d/2) (the inverse of llama2.c export.py's
 * permute); HALF -> ADJACENT undoes it. Same layouts: row. */
int64_t gc_rope_source_row(int64_t row, int head_dim, gc_rope_layout from, gc_rope_layout to);

#endif
