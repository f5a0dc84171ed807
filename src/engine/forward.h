/* forward.h - the engine's internals shared by its files: the model's math (forward.c) used by the sequence
 * (seq.c), the layer-major driver (layer_major.c) and the request driver (request.c). Not for methods. */
#ifndef GC_FORWARD_H
#define GC_FORWARD_H

#include "engine/engine.h"

static inline int gc_q_dim(const gc_hparams *hp) { return hp->n_heads * hp->head_dim; }
static inline int gc_kv_dim(const gc_hparams *hp) { return hp->n_kv_heads * hp->head_dim; }

/* Rows of the chunk that starts at row c0 of n, chunks of ub rows: the one piece of chunk arithmetic. */
static inline int gc_chunk_rows(int n, int c0, int ub) { return n - c0 < ub ? n - c0 : ub; }

/* GC_ERR_INVALID_ARG naming the first of the n ids outside the model's vocabulary. */
gc_status gc_check_ids(const gc_hparams *hp, const int32_t *ids, int n, gc_error *err);

/* Asks the progress callback (may be NULL) whether to go on; GC_ABORTED when it says stop. */
gc_status gc_check_progress(const gc_progress *p, int64_t done, int64_t total, gc_error *err);

/* Scratch for chunks of n_ub rows; with_logits adds the vocab-sized logits and the sampled-id buffers. */
gc_status gc_scratch_alloc(gc_runtime *rt, const gc_hparams *hp, int n_ub, bool with_logits, gc_scratch *s,
                           gc_error *err);
void gc_scratch_free(gc_runtime *rt, gc_scratch *s);

/* Where a layer reads its positions and writes its K/V. */
typedef struct gc_layer_io {
    gc_buffer *x;            /* f32 (n, n_embd) residual stream at element x_off, updated in place */
    size_t x_off;
    const gc_buffer *pos;    /* int32 positions of the n rows, at pos_off */
    size_t pos_off;
    gc_buffer *k, *v;        /* f32 (rows, kv_dim): this layer's keys and values */
    int kv_row0;             /* the n rows' K/V go to rows kv_row0..; attention sees rows 0..kv_row0+i */
    const gc_shared_logits *shared; /* pod-tf: distant logits from another layer, K rows shifted; or NULL */
} gc_layer_io;

/* One transformer layer (llama2.c forward(), one layer) over n rows; their post-RoPE queries stay in s->q. */
gc_status gc_layer_forward(gc_ops *ops, const gc_dmodel *m, int l, gc_scratch *s, const gc_layer_io *io, int n,
                           gc_error *err);

/* The start of layer l over n rows without the rest of it (GemFilter's layer r): RMSNorm, K of every row into
 * k_out f32 (n, kv_dim) and Q of row q_row (0 <= q_row < n) into q_out f32 (q_dim), both post-RoPE. x: per
 * chunk f32 (ub, n_embd) residual rows; ids_pos int32 (2, n) ids then positions. */
gc_status gc_layer_keys_query(gc_ops *ops, const gc_dmodel *m, int l, gc_scratch *s, gc_buffer *x, int n, int q_row,
                              const gc_buffer *ids_pos, gc_buffer *k_out, gc_buffer *q_out, gc_error *err);

/* Final norm and LM head on the row of x at element x_off, then the sampled id into the scratch and back to
 * the host (the step's one synchronisation); the logits too when logits is not NULL. */
gc_status gc_finish_step(gc_seq *seq, const gc_buffer *x, size_t x_off, gc_sampling *smp, int32_t *next_id,
                         float *logits, gc_error *err);

/* Grows the cache geometrically to hold rows rows, so a long generation reallocates O(log n) times. */
gc_status gc_seq_ensure_rows(gc_seq *seq, int rows, gc_error *err);

/* n_past = the longest layer's row count (after a method changed some layers'). */
void gc_seq_update_n_past(gc_seq *seq);

#endif
